from otter.test_files import test_case

OK_FORMAT = False

name = "ex03_4"
points = 2

@test_case(points=None, hidden=False, 
    failure_message="scale each map by its own min and max first; box every component; a hit needs only one box with IoU >= delta")
def test_box_accuracy_on_three_small_maps(box_accuracy, answer_4):
    import torch
    cams = torch.zeros(3, 8, 8)
    gt_boxes = torch.tensor([[2.0, 2.0, 4.0, 4.0], [6.0, 6.0, 8.0, 8.0], [1.0, 1.0, 3.0, 3.0]])
    cams[0] += 0.3
    cams[0, 2:4, 2:4], cams[0, 7, 0] = (1.0, -1.0)
    cams[1, 0:4, 0:4], cams[1, 6:8, 6:8] = (1.0, 0.9)
    cams[2, 1:3, 1:3] = 1.0
    hints = ["the map's minimum is -1: after min-max scaling, is the background of 0.3 above tau?", 'two components: the smaller one holds the object, and every component is boxed', "one blob exactly on the object's box: IoU 1"]
    for index, hint in enumerate(hints):
        got = box_accuracy(cams[index:index + 1], gt_boxes[index:index + 1], 0.5, 0.5)
        assert got is not None and got is not ..., 'not answered yet: box_accuracy returns nothing'
        assert float(got) == (0.0 if index == 0 else 1.0), f'small map {index}: got {got}; {hint}'
    assert answer_4 is not ..., 'not answered yet: answer_4 = box_accuracy(...) for the GAP network'
    assert 0 <= float(answer_4) <= 1, f'answer_4 is a share of canvases, between 0 and 1; got {answer_4}'

