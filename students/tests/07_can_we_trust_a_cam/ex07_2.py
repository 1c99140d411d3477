from otter.test_files import test_case

OK_FORMAT = False

name = "ex07_2"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="F_k is the mean of f_k over the 7x7 grid; w_k^c is the row of classifier.weight for the predicted class; negative weights give 0")
def test_grad_cam_pp_weights(answer_2, model, predicted):
    import torch
    assert isinstance(answer_2, torch.Tensor), 'not answered yet: a tensor of 64 weights'
    assert answer_2.shape == (64,) and answer_2.dtype == torch.float64, f'64 float64 weights, got {list(answer_2.shape)} {answer_2.dtype}'
    w = model.classifier.weight.detach().double()[int(predicted[1])]
    assert torch.equal(answer_2 == 0, w <= 0), 'alpha_k is 0 exactly where w_k^c <= 0 (the ReLU), positive elsewhere'
    assert (answer_2[w > 0] < w[w > 0] / 2).all(), 'with F_k >= 0, alpha_k <= w_k^c / 2: check the denominator'

