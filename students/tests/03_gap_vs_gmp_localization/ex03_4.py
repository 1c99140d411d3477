from otter.test_files import test_case

OK_FORMAT = False

name = "ex03_4"
points = 2

@test_case(points=None, hidden=False, 
    failure_message="scale each map by its own min and max first; a hit needs only one box with IoU >= 0.5")
def test_box_accuracy(answer_4, gap_pred):
    from camlib.exercises import expect
    from camlib.localize import max_box_acc_v2
    protocol = max_box_acc_v2(gap_pred.cams, gap_pred.gt_boxes, cam_thresholds=[0.5], iou_thresholds=(0.5,))
    expect(answer_4, protocol.mean, atol=1e-06)

