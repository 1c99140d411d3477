from otter.test_files import test_case

OK_FORMAT = False

name = "ex03_1"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="bbox_from_cam(cams, threshold) gives one box per map; gt_known_loc(boxes, gt_boxes) scores them")
def test_gt_known_at_half(answer_1, sweeps):
    from camlib.exercises import expect
    at_half = sweeps['GAP']['gt_known_loc'][sweeps['GAP']['threshold'].index(0.5)]
    expect(answer_1, at_half, atol=1e-06)

