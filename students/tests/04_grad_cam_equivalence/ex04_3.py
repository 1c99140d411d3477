from otter.test_files import test_case

OK_FORMAT = False

name = "ex04_3"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="negating every gradient negates every alpha_k^c: what does that do to the signed map, and which part of a signed map does Grad-CAM keep?")
def test_counterfactual(counterfactual_fc, baseline, images, predicted_fc):
    from camlib.exercises import expect
    from camlib.gradcam import grad_cam
    reference = grad_cam(baseline, baseline.features, images, predicted_fc, counterfactual=True)
    expect(counterfactual_fc, reference, atol=1e-06)

