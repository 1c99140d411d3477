from otter.test_files import test_case

OK_FORMAT = False

name = "ex04_4"
points = 2

@test_case(points=None, hidden=False, 
    failure_message="keep the layer output with a forward hook; autograd.grad(sum of the class scores, A); alpha = the gradient averaged over h and w; ReLU of the alpha-weighted sum over k")
def test_my_grad_cam(my_grad_cam, model, images, predicted):
    from camlib.exercises import expect
    from camlib.gradcam import grad_cam
    want = grad_cam(model, model.features, images, predicted)
    expect(my_grad_cam(model, model.features, images, predicted), want, atol=1e-06)
    assert not model.features._forward_hooks, 'a forward hook is still registered on the layer: remove it'

