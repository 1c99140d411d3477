from otter.test_files import test_case

OK_FORMAT = False

name = "ex05_2"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="VGG16-GAP has stride 16 (four poolings, pool5 dropped); ResNet-18 has stride 32")
def test_cam_sides(cam_sides_448):
    from camlib.lab.exercises import expect_fingerprint
    assert cam_sides_448 is not ..., 'not answered yet: replace ... with your answer'
    expect_fingerprint(tuple(cam_sides_448) if isinstance(cam_sides_448, list) else cam_sides_448, '99d792653e70ec15', shape=(2,))

