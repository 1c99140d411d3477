from otter.test_files import test_case

OK_FORMAT = False

name = "ex04_3"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="negating every gradient negates every alpha_k^c: what does that do to the signed map, and which part of a signed map does Grad-CAM keep?")
def test_counterfactual(counterfactual_fc, gradcam_fc, raw_fc):
    import torch
    from camlib.lab.exercises import expect
    assert isinstance(counterfactual_fc, torch.Tensor), 'not answered yet: a tensor built from raw_fc'
    assert (counterfactual_fc >= 0).all(), 'a Grad-CAM map, counterfactual or not, has no negative value'
    expect(gradcam_fc - counterfactual_fc, raw_fc, atol=1e-06)

