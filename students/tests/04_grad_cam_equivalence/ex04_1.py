from otter.test_files import test_case

OK_FORMAT = False

name = "ex04_1"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="write S_c with GAP, S_c = sum over k of w_k^c times the mean of A^k, and differentiate it by one A^k(x, y); w and Z are defined above")
def test_alpha(alpha_by_hand, model, maps):
    import torch
    from camlib.exercises import expect
    A0 = maps[:1].clone().requires_grad_(True)
    gradient, = torch.autograd.grad(model.classifier(model.pool(A0).flatten(1))[0, 3], A0)
    measured = gradient[0].mean(dim=(-2, -1))
    expect(alpha_by_hand, measured)

