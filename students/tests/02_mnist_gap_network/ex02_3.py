from otter.test_files import test_case

OK_FORMAT = False

name = "ex02_3"
points = 2

@test_case(points=None, hidden=False, 
    failure_message="hook model.features with register_forward_hook, keep its output, call hook.remove(); then M = einsum of model.classifier.weight[classes] with the maps")
def test_cam_by_hand(cam_by_hand, model, images, labels):
    import torch
    from camlib.lab.exercises import expect
    classes = labels[:16].to(images.device)
    mine = cam_by_hand(model, images[:16], classes)
    left = [name or 'model' for name, module in model.named_modules() if module._forward_hooks]
    assert not left, f'a forward hook is still registered on {left[0]}: remove it (hook.remove())'
    expect(getattr(mine, 'shape', None), torch.Size([16, 7, 7]))
    with torch.no_grad():
        logits = model(images[:16]).gather(1, classes[:, None]).squeeze(1)
    expect(mine.mean(dim=(-2, -1)), logits)

