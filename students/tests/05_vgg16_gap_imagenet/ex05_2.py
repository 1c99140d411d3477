from otter.test_files import test_case

OK_FORMAT = False

name = "ex05_2"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="VGG16-GAP has stride 16 (four poolings, pool5 dropped); ResNet-18 has stride 32")
def test_cam_sides(cam_sides_448, gap_net, resnet, device):
    import torch
    from camlib.cam import compute_cams
    from camlib.exercises import expect
    big = torch.zeros(1, 3, 448, 448, device=device)
    with torch.no_grad():
        sides = (compute_cams(gap_net, big, 'predicted', size=None).cams.shape[-1], compute_cams(resnet, big, 'predicted', size=None).cams.shape[-1])
    expect(tuple(cam_sides_448) if isinstance(cam_sides_448, list) else cam_sides_448, sides)

