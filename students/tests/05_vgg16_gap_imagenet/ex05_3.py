from otter.test_files import test_case

OK_FORMAT = False

name = "ex05_3"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="the flat argmax of a 14x14 map is row * 14 + column; each cell is 16 x 16 input pixels")
def test_hottest_box(hottest_box, cat_map):
    from camlib.exercises import expect
    from camlib.localize import bbox_from_cam
    block = bbox_from_cam(cat_map[None].cpu(), 1.0, image_size=224)[0]
    expect(hottest_box, block)

