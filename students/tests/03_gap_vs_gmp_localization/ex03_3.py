from otter.test_files import test_case

OK_FORMAT = False

name = "ex03_3"
points = 2

@test_case(points=None, hidden=False, 
    failure_message="the max is exclusive: add 1 to the last row and column; labels start at 1, 0 is background")
def test_boxes_of_50_maps(my_box, gap_pred):
    import torch
    from camlib.localize import bbox_from_cam
    sample = gap_pred.cams[:50].cpu()
    mine = [my_box(cam, 0.2) for cam in sample]
    assert all((box is not None and box is not ... for box in mine)), 'not answered yet: my_box returns nothing'
    mine = torch.stack([torch.as_tensor(box, dtype=torch.float32).reshape(4) for box in mine])
    wrong = (mine != bbox_from_cam(sample, 0.2)).any(dim=1).nonzero().flatten().tolist()
    assert not wrong, f'{len(wrong)} of 50 boxes differ, the first is map {wrong[0]}: {mine[wrong[0]].tolist()}'

