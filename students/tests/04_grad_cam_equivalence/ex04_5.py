from otter.test_files import test_case

OK_FORMAT = False

name = "ex04_5"
points = 2

@test_case(points=None, hidden=False, 
    failure_message="the same hook and gradient as my_grad_cam; multiply gradient and activation element by element (no average over h and w), sum over the channels k, no ReLU: one [h, w] map per image")
def test_my_hirescam(my_hirescam, baseline, images, predicted_fc, logits_fc):
    from camlib.lab.exercises import expect
    mine = my_hirescam(baseline, baseline.features, images, predicted_fc)
    assert tuple(mine.shape) == (len(images), 7, 7), f'one 7 x 7 map per digit, got shape {tuple(mine.shape)}'
    assert not baseline.features._forward_hooks, 'a forward hook is still registered on the layer: remove it'
    score_minus_bias = logits_fc.gather(1, predicted_fc[:, None]).squeeze(1) - baseline.classifier.bias[predicted_fc]
    expect(mine.sum(dim=(-2, -1)), score_minus_bias.detach(), atol=1e-06)

