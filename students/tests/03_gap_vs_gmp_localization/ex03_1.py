from otter.test_files import test_case

OK_FORMAT = False

name = "ex03_1"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="bbox_from_cam(cams, threshold) gives one box per map; gt_known_loc(boxes, gt_boxes) scores them")
def test_gt_known_at_half(answer_1, gap_pred):
    assert answer_1 is not ..., 'not answered yet: replace ... with your answer'
    n = len(gap_pred.gt_boxes)
    share = float(answer_1)
    assert 0 <= share <= 1, f'GT-known Loc is a share of canvases, between 0 and 1, got {share}'
    assert abs(share * n - round(share * n)) < 0.001, f'GT-known Loc is a share of the {n} canvases: a whole number of canvases divided by {n}'

