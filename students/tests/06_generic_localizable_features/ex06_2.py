from otter.test_files import test_case

OK_FORMAT = False

name = "ex06_2"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="the centre of (x0, y0, x1, y1) is ((x0 + x1) / 2, (y0 + y1) / 2); inside means x0 <= cx <= x1 and y0 <= cy <= y1")
def test_centre_rate(answer_2, example_cams, test_canvases, canvas_settings):
    from camlib.exercises import expect
    from camlib.localize import bbox_from_cam
    boxes = bbox_from_cam(example_cams, canvas_settings.threshold)
    centre = (test_canvases.boxes[:, :2] + test_canvases.boxes[:, 2:]) / 2
    rate = float(((centre >= boxes[:, :2]).all(1) & (centre <= boxes[:, 2:]).all(1)).float().mean())
    expect(answer_2, rate, atol=1e-06)

