from otter.test_files import test_case

OK_FORMAT = False

name = "ex06_1"
points = 2

@test_case(points=None, hidden=False, 
    failure_message="weight is [10, 64]: M_c = sum over k of weight[c, k] * maps_0[k]; then average over the 7x7 grid and add the bias")
def test_decision_values(answer_1, svm, frozen):
    import torch
    assert answer_1 is not ..., 'not answered yet: replace ... with your answer'
    values = torch.as_tensor(answer_1).detach().double().flatten()
    assert values.numel() == 10, f'one decision value per garment class: 10 numbers, got {values.numel()}'
    assert torch.isfinite(values).all(), 'the decision values must be finite numbers'
    predicted = int(svm.predict(frozen.features[:1].double().numpy())[0])
    assert int(values.argmax()) == predicted, f'the SVM predicts class {predicted} for item 0, so its decision value must be the largest of the 10; yours is largest for class {int(values.argmax())}'

