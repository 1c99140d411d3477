from otter.test_files import test_case

OK_FORMAT = False

name = "ex08_2"
points = 2

@test_case(points=None, hidden=False, 
    failure_message="drop token 0 (the CLS token), lay the h*w patch tokens out row by row on [h, w], and put the features K on dimension 1")
def test_my_reshape(my_reshape, answer_2, cls_model):
    import torch
    h, w = cls_model.grid
    position = torch.arange(h * w, dtype=torch.float64)
    tokens = torch.stack([position, -position], dim=-1)[None]
    tokens = torch.cat([torch.full((1, 1, 2), 1000000.0, dtype=torch.float64), tokens], dim=1)
    maps = my_reshape(tokens)
    assert getattr(maps, 'shape', None) == (1, 2, h, w), f'maps [B, K, h, w] = [1, 2, {h}, {w}], got {maps!r}'[:200]
    assert maps.abs().max() < 1000000.0, 'the CLS token (token 0) reaches the maps: drop it'
    assert maps[0, 0, 0, 1] == 1 and maps[0, 0, 1, 0] == w, 'patch tokens go row by row: token r*w + c at (r, c)'
    assert torch.equal(maps[0, 1], -maps[0, 0]), 'feature k of each token goes to channel k'
    assert getattr(answer_2, 'shape', None) == (4, h, w), f'answer_2 holds 4 maps [4, {h}, {w}]'

