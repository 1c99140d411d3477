from otter.test_files import test_case

OK_FORMAT = False

name = "ex07_3"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="the features f_k do not change (only the classifier is re-initialized); the CAM of the randomized model uses its new classifier.weight with the same classes")
def test_head_randomization(answer_3, model, randomized):
    import torch
    assert randomized is not model, "randomized is the notebook's model itself, now with a random classifier: run the notebook again from the top, then copy it with copy.deepcopy(model)"
    assert not torch.equal(randomized.classifier.weight, model.classifier.weight), 're-initialize the classifier'
    same = all((torch.equal(a, b) for a, b in zip(randomized.features.parameters(), model.features.parameters())))
    assert same, "only the classifier is re-initialized: the features stay the model's"
    assert answer_3 is not ... and -1 <= float(answer_3) <= 1, f'a mean Spearman correlation, in [-1, 1]: {answer_3!r}'

