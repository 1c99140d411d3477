from otter.test_files import test_case

OK_FORMAT = False

name = "ex07_3"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="the features f_k do not change (only the classifier is re-initialized); the CAM of the randomized model uses its new classifier.weight with the same classes")
def test_head_randomization(answer_3, model, images, predicted, randomized):
    import copy
    import torch
    from camlib.cam import class_activation_maps
    from camlib.exercises import expect
    from camlib.sanity import spearman_similarity
    assert randomized is not model, "randomized is the notebook's model itself, now with a random classifier: run the notebook again from the top, then copy it with copy.deepcopy(model)"
    other = copy.deepcopy(model)
    torch.manual_seed(0)
    other.classifier.reset_parameters()
    with torch.no_grad():
        f = model.features(images[:8])
    a = class_activation_maps(f, model.classifier.weight, predicted[:8])
    b = class_activation_maps(f, other.classifier.weight, predicted[:8])
    expect(answer_3, float(spearman_similarity(a, b, absolute=True).mean()), atol=1e-06)

