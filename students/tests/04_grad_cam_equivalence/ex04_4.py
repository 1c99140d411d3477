from otter.test_files import test_case

OK_FORMAT = False

name = "ex04_4"
points = 2

@test_case(points=None, hidden=False, 
    failure_message="keep the layer output with a forward hook; autograd.grad(sum of the class scores, A); alpha = the gradient averaged over h and w; ReLU of the alpha-weighted sum over k")
def test_my_grad_cam(my_grad_cam, model, images, predicted, maps, w, Z):
    import torch
    from camlib.lab.exercises import expect
    mine = my_grad_cam(model, model.features, images, predicted)
    left = [name or 'model' for name, module in model.named_modules() if module._forward_hooks]
    assert not left, f'a forward hook is still registered on {left[0]}: remove it'
    cams = torch.einsum('bk,bkhw->bhw', w[predicted], maps)
    identity = cams.clamp_min(0) / Z
    expect(mine, identity, atol=1e-06)

