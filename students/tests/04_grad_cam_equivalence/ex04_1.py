from otter.test_files import test_case

OK_FORMAT = False

name = "ex04_1"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="write S_c with GAP, S_c = sum over k of w_k^c times the mean of A^k, and differentiate it by one A^k(x, y); w and Z are defined above")
def test_alpha(alpha_by_hand, model, maps):
    import torch
    assert alpha_by_hand is not ..., 'not answered yet: replace ... with your answer'
    alpha = torch.as_tensor(alpha_by_hand).detach().double().cpu()
    K = maps.shape[1]
    assert alpha.shape == (K,), f'one derivative per feature map: a [{K}] tensor, got shape {list(alpha.shape)}'
    with torch.no_grad():
        scores = model.classifier(model.pool(maps).flatten(1))[:, 3].double().cpu()
    bias = 0.0 if model.classifier.bias is None else float(model.classifier.bias[3])
    rebuilt = (alpha * maps.double().cpu().sum(dim=(-2, -1))).sum(dim=1) + bias
    assert torch.allclose(rebuilt, scores, rtol=0.0001, atol=0.0001 * float(scores.abs().max())), f'S_3 is linear in A, so summing alpha_k * A^k(x, y) over k, x and y and adding b_3 (if any) must give the score of class 3: with your alpha it gives {rebuilt[0]:.4f} for image 0, the network says {scores[0]:.4f}'

