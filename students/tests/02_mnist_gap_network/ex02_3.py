from otter.test_files import test_case

OK_FORMAT = False

name = "ex02_3"
points = 2

@test_case(points=None, hidden=False, 
    failure_message="hook model.features with register_forward_hook, keep its output, call hook.remove(); then M = einsum of model.classifier.weight[classes] with the maps")
def test_cam_by_hand(cam_by_hand, model, images, labels):
    import torch
    from camlib.cam import class_activation_maps
    from camlib.exercises import expect
    classes = labels[:16].to(images.device)
    with torch.no_grad():
        _, maps = model.forward_with_maps(images[:16])
        want = class_activation_maps(maps, model.classifier.weight, classes)
    expect(cam_by_hand(model, images[:16], classes), want)
    assert not model.features._forward_hooks, 'a forward hook is still registered on model.features: remove it'

