from otter.test_files import test_case

OK_FORMAT = False

name = "ex08_1"
points = 1

@test_case(points=None, hidden=False, 
    failure_message="M_c(x, y) = sum_k w_k^c t_k(x, y): an einsum over the feature axis K; N = 64 tokens fold onto the 8x8 grid with reshape; remove the hook afterwards")
def test_token_cam_by_hand(answer_1, model, canvases, second_ex):
    from camlib.exercises import expect
    from camlib.vit import compute_token_cams
    for module in model.modules():
        assert not module._forward_hooks, 'a forward hook was left on the model: remove it (handle.remove())'
    _, expected = compute_token_cams(model, canvases[:4], second_ex)
    expect(answer_1, expected, rtol=0.0001, atol=1e-05)

