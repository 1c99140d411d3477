from otter.test_files import test_case

OK_FORMAT = False

name = "ex07_2"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="F_k is the mean of f_k over the 7x7 grid; w_k^c is the row of classifier.weight for the predicted class; negative weights give 0")
def test_grad_cam_pp_weights(answer_2, model, images, predicted, EPS):
    import torch
    from camlib.attribution import grad_cam_plus_plus_weights
    from camlib.exercises import expect
    with torch.no_grad():
        features = model.features(images[1:2]).double()
    w = model.classifier.weight.detach().double()[int(predicted[1])]
    Z = features.shape[-2] * features.shape[-1]
    gradients = (w / Z)[None, :, None, None].expand_as(features)
    expect(answer_2, grad_cam_plus_plus_weights(features, gradients, eps=EPS)[0], rtol=1e-06, atol=1e-09)

