"""camlib.methods.cam: M_c(x, y) = sum_k w^c_k f_k(x, y), its resizing, normalization and compute_cams."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock

from camlib.methods.cam import (
    class_activation_maps,
    compute_cams,
    eval_mode,
    normalize_cams,
    run_model,
    upsample_cams,
)
from camlib.models import FlattenFCNet, GAPNet

# --------------------------------------------------------------------------------------
# class_activation_maps: a case small enough to compute by hand
# --------------------------------------------------------------------------------------

# Two images, K = 2 channels of 3x3 maps.
HAND_FEATURES = torch.tensor(
    [
        [  # image 0
            [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]],  # f_1: the diagonal 1, 2, 3
            [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]],  # f_2: a ring of ones
        ],
        [  # image 1
            [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],  # f_1 = 0
            [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]],  # f_2 = 1
        ],
    ]
)
# C = 2 classes: w^0 = (1, 2), w^1 = (-1, 0.5).
HAND_WEIGHT = torch.tensor([[1.0, 2.0], [-1.0, 0.5]])
# M_0 = f_1 + 2 f_2 and M_1 = -f_1 + 0.5 f_2, worked out by hand.
HAND_CAMS = torch.tensor(
    [
        [
            [[1.0, 2.0, 0.0], [2.0, 2.0, 2.0], [0.0, 2.0, 3.0]],
            [[-1.0, 0.5, 0.0], [0.5, -2.0, 0.5], [0.0, 0.5, -3.0]],
        ],
        [
            [[2.0, 2.0, 2.0], [2.0, 2.0, 2.0], [2.0, 2.0, 2.0]],
            [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]],
        ],
    ]
)


def test_hand_case_all_classes():
    cams = class_activation_maps(HAND_FEATURES, HAND_WEIGHT)
    assert cams.shape == (2, 2, 3, 3)
    torch.testing.assert_close(cams, HAND_CAMS)


def test_hand_case_is_raw_no_relu_no_normalization():
    cams = class_activation_maps(HAND_FEATURES, HAND_WEIGHT)
    assert cams.min() == -3.0  # negative evidence is kept
    assert cams.max() == 3.0  # and nothing is rescaled


@pytest.mark.parametrize("classes", [torch.tensor([1, 0]), [1, 0], (1, 0)])
def test_hand_case_one_class_per_image(classes):
    cams = class_activation_maps(HAND_FEATURES, HAND_WEIGHT, classes)
    assert cams.shape == (2, 3, 3)
    expected = torch.tensor(
        [
            [[-1.0, 0.5, 0.0], [0.5, -2.0, 0.5], [0.0, 0.5, -3.0]],  # image 0, class 1
            [[2.0, 2.0, 2.0], [2.0, 2.0, 2.0], [2.0, 2.0, 2.0]],  # image 1, class 0
        ]
    )
    torch.testing.assert_close(cams, expected)


def _explicit_cams(features: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """M_c(x, y) = sum_k w^c_k f_k(x, y), one scalar at a time."""
    batch, channels, height, width = features.shape
    out = torch.zeros(batch, weight.shape[0], height, width, dtype=torch.float64)
    for b in range(batch):
        for c in range(weight.shape[0]):
            for y in range(height):
                for x in range(width):
                    out[b, c, y, x] = sum(
                        float(weight[c, k]) * float(features[b, k, y, x]) for k in range(channels)
                    )
    return out


def test_matches_explicit_sum_on_random_non_square_batch():
    generator = torch.Generator().manual_seed(1)
    batch, channels, height, width, num_classes = 3, 5, 4, 7, 6
    features = torch.randn(batch, channels, height, width, generator=generator)
    weight = torch.randn(num_classes, channels, generator=generator)
    expected = _explicit_cams(features, weight).float()

    cams = class_activation_maps(features, weight)
    assert cams.shape == (batch, num_classes, height, width)
    torch.testing.assert_close(cams, expected, atol=1e-5, rtol=1e-5)

    classes = torch.tensor([5, 0, 3])
    one = class_activation_maps(features, weight, classes)
    assert one.shape == (batch, height, width)
    for b in range(batch):
        torch.testing.assert_close(one[b], expected[b, classes[b]], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(one[b], cams[b, classes[b]])


def _pooled_score_check(bias: bool):
    torch.manual_seed(0)
    model = GAPNet(num_classes=5, widths=(4, 8), downsample=1, bias=bias).eval()
    images = torch.randn(2, 1, 12, 10)
    with torch.no_grad():
        logits, maps = model.forward_with_maps(images)
        cams = class_activation_maps(maps, model.classifier.weight)
    z = maps.shape[-2] * maps.shape[-1]
    assert z == 6 * 5
    return model, logits, cams.sum(dim=(-2, -1)) / z


def test_class_score_is_pooled_cam_without_bias():
    model, logits, pooled = _pooled_score_check(bias=False)
    assert model.classifier.bias is None
    # S_c = (1/Z) sum_{x,y} M_c(x, y)
    torch.testing.assert_close(logits, pooled, atol=1e-5, rtol=1e-5)


def test_class_score_is_pooled_cam_plus_bias():
    model, logits, pooled = _pooled_score_check(bias=True)
    bias = model.classifier.bias.detach()
    assert bias.abs().min() > 0  # so the check below could fail without "+ b_c"
    torch.testing.assert_close(logits, pooled + bias, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(logits, pooled, atol=1e-3)


# --------------------------------------------------------------------------------------
# class_activation_maps: errors say what is wrong
# --------------------------------------------------------------------------------------


def test_features_of_wrong_rank():
    with pytest.raises(ValueError) as error:
        class_activation_maps(torch.zeros(2, 3, 3), HAND_WEIGHT)
    assert "[2, 3, 3]" in str(error.value)
    assert "unsqueeze(0)" in str(error.value)


def test_weight_of_wrong_rank():
    with pytest.raises(ValueError) as error:
        class_activation_maps(HAND_FEATURES, torch.zeros(2, 2, 1))
    assert "[2, 2, 1]" in str(error.value)
    assert "[C, K]" in str(error.value)


def test_mismatched_channel_count():
    with pytest.raises(ValueError) as error:
        class_activation_maps(HAND_FEATURES, torch.zeros(4, 3))
    message = str(error.value)
    assert "K=2" in message and "K=3" in message
    assert "[2, 2, 3, 3]" in message and "[4, 3]" in message


@pytest.mark.parametrize("classes", [[0, 2], [-1, 0]])
def test_class_out_of_range(classes):
    with pytest.raises(ValueError) as error:
        class_activation_maps(HAND_FEATURES, HAND_WEIGHT, classes)
    message = str(error.value)
    assert "out of range" in message
    assert "2 classes" in message and "0..1" in message
    assert f"from {min(classes)} to {max(classes)}" in message


@pytest.mark.parametrize(
    "classes, shape",
    [([0], "[1]"), ([0, 1, 0], "[3]"), ([[0], [1]], "[2, 1]"), (1, "[]")],
)
def test_classes_of_wrong_length_or_rank(classes, shape):
    with pytest.raises(ValueError) as error:
        class_activation_maps(HAND_FEATURES, HAND_WEIGHT, classes)
    message = str(error.value)
    assert "shape [2]" in message  # what was expected: one index per image
    assert f"got shape {shape}" in message


@pytest.mark.parametrize(
    "classes, dtype", [(torch.tensor([0.0, 1.0]), "torch.float32"), (torch.tensor([True, False]), "torch.bool")]
)
def test_non_integer_classes(classes, dtype):
    with pytest.raises(ValueError) as error:
        class_activation_maps(HAND_FEATURES, HAND_WEIGHT, classes)
    assert "integer" in str(error.value)
    assert dtype in str(error.value)


# --------------------------------------------------------------------------------------
# upsample_cams: bilinear, align_corners=False
# --------------------------------------------------------------------------------------


def test_upsample_row_by_hand():
    # Output pixel centres map to source x = (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25,
    # clamped to [0, 1]: the values 0, 0.25, 0.75, 1 (align_corners=True would give thirds).
    out = upsample_cams(torch.tensor([[[0.0, 1.0]]]), (1, 4))
    assert out.shape == (1, 1, 4)
    torch.testing.assert_close(out, torch.tensor([[[0.0, 0.25, 0.75, 1.0]]]))


# [[0, 1], [2, 3]] is 2 * row + col; bilinear resampling to 4x4 reads rows and columns at
# 0, 0.25, 0.75, 1, so the result is 2 * r + c for those r, c.
SQUARE = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
SQUARE_4X4 = torch.tensor(
    [
        [0.0, 0.25, 0.75, 1.0],
        [0.5, 0.75, 1.25, 1.5],
        [1.5, 1.75, 2.25, 2.5],
        [2.0, 2.25, 2.75, 3.0],
    ]
)


def test_upsample_three_dimensional():
    cams = torch.stack([SQUARE, 10 * SQUARE])  # [B=2, 2, 2]
    out = upsample_cams(cams, 4)
    assert out.shape == (2, 4, 4)
    torch.testing.assert_close(out, torch.stack([SQUARE_4X4, 10 * SQUARE_4X4]))


def test_upsample_four_dimensional():
    cams = torch.stack([SQUARE, -SQUARE, 2 * SQUARE]).reshape(1, 3, 2, 2)  # [B=1, C=3, 2, 2]
    out = upsample_cams(cams, (4, 4))
    assert out.shape == (1, 3, 4, 4)
    torch.testing.assert_close(out[0], torch.stack([SQUARE_4X4, -SQUARE_4X4, 2 * SQUARE_4X4]))


def test_upsample_non_square_target_and_identity():
    cams = torch.randn(2, 3, 5)
    assert upsample_cams(cams, (6, 10)).shape == (2, 6, 10)
    torch.testing.assert_close(upsample_cams(cams, (3, 5)), cams)


@pytest.mark.parametrize("shape", [(3, 3), (1, 1, 1, 3, 3)])
def test_upsample_wrong_rank(shape):
    with pytest.raises(ValueError, match=r"\[B, h, w\] or \[B, C, h, w\]"):
        upsample_cams(torch.zeros(shape), 4)


# --------------------------------------------------------------------------------------
# normalize_cams
# --------------------------------------------------------------------------------------

# Two maps with different ranges: each is rescaled on its own.
TWO_MAPS = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[-2.0, 0.0], [2.0, 6.0]]])


def test_normalize_none_leaves_maps_alone():
    torch.testing.assert_close(normalize_cams(TWO_MAPS, None), TWO_MAPS)


def test_normalize_max_by_hand():
    expected = torch.tensor([[[0.25, 0.5], [0.75, 1.0]], [[-1 / 3, 0.0], [1 / 3, 1.0]]])
    torch.testing.assert_close(normalize_cams(TWO_MAPS, "max"), expected)


def test_normalize_minmax_by_hand():
    expected = torch.tensor([[[0.0, 1 / 3], [2 / 3, 1.0]], [[0.0, 0.25], [0.5, 1.0]]])
    torch.testing.assert_close(normalize_cams(TWO_MAPS, "minmax"), expected)


def test_normalize_four_dimensional_is_per_map():
    cams = TWO_MAPS.reshape(1, 2, 2, 2)
    expected = torch.tensor([[[[0.0, 1 / 3], [2 / 3, 1.0]], [[0.0, 0.25], [0.5, 1.0]]]])
    torch.testing.assert_close(normalize_cams(cams, "minmax"), expected)


def test_constant_maps_become_zero_without_nan():
    constant = torch.full((2, 3, 3), 5.0)
    out = normalize_cams(constant, "minmax")
    assert not torch.isnan(out).any()
    torch.testing.assert_close(out, torch.zeros(2, 3, 3))

    zeros = torch.zeros(2, 3, 3)
    for mode in ("max", "minmax"):
        out = normalize_cams(zeros, mode)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out, torch.zeros(2, 3, 3))


def test_normalize_max_of_constant_positive_map_is_one():
    torch.testing.assert_close(normalize_cams(torch.full((1, 2, 2), 4.0), "max"), torch.ones(1, 2, 2))


@pytest.mark.parametrize("mode", ["sum", "MAX", ""])
def test_normalize_bad_mode(mode):
    with pytest.raises(ValueError) as error:
        normalize_cams(TWO_MAPS, mode)
    assert repr(mode) in str(error.value)
    assert "'minmax'" in str(error.value)


# --------------------------------------------------------------------------------------
# compute_cams
# --------------------------------------------------------------------------------------

# tiny_gapnet (conftest): 3 classes, stride 2; images 8x10 give 4x5 maps.
IMAGES = torch.randn(2, 1, 8, 10, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize(
    "size, hw", [("input", (8, 10)), (None, (4, 5)), (6, (6, 6)), ((3, 7), (3, 7))]
)
def test_compute_cams_all_classes_shapes(tiny_gapnet, size, hw):
    with torch.no_grad():
        out = compute_cams(tiny_gapnet, IMAGES, size=size)
    assert out.logits.shape == (2, 3)
    assert out.cams.shape == (2, 3, *hw)


@pytest.mark.parametrize("size, hw", [("input", (8, 10)), (None, (4, 5)), (6, (6, 6))])
def test_compute_cams_one_class_shapes(tiny_gapnet, size, hw):
    with torch.no_grad():
        predicted = compute_cams(tiny_gapnet, IMAGES, "predicted", size=size)
        given = compute_cams(tiny_gapnet, IMAGES, torch.tensor([2, 0]), size=size)
    assert predicted.cams.shape == (2, *hw)
    assert given.cams.shape == (2, *hw)


def test_compute_cams_equals_the_pieces(tiny_gapnet):
    with torch.no_grad():
        logits, maps = tiny_gapnet.forward_with_maps(IMAGES)
        raw = class_activation_maps(maps, tiny_gapnet.classifier.weight)
        out = compute_cams(tiny_gapnet, IMAGES, size=None)
        resized = compute_cams(tiny_gapnet, IMAGES, size="input", normalize="minmax")
    torch.testing.assert_close(out.logits, logits)
    torch.testing.assert_close(out.logits, tiny_gapnet(IMAGES).detach())
    torch.testing.assert_close(out.cams, raw)
    torch.testing.assert_close(resized.cams, normalize_cams(upsample_cams(raw, (8, 10)), "minmax"))
    flat = resized.cams.flatten(-2)
    torch.testing.assert_close(flat.amin(-1), torch.zeros(2, 3))
    torch.testing.assert_close(flat.amax(-1), torch.ones(2, 3))


def test_compute_cams_predicted_is_argmax_of_logits(tiny_gapnet):
    images = torch.randn(6, 1, 8, 10, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        every = compute_cams(tiny_gapnet, images, size=None)
        predicted = compute_cams(tiny_gapnet, images, "predicted", size=None)
    top = every.logits.argmax(dim=1)
    for b in range(6):
        torch.testing.assert_close(predicted.cams[b], every.cams[b, top[b]])


def test_compute_cams_given_classes_pick_slices(tiny_gapnet):
    with torch.no_grad():
        every = compute_cams(tiny_gapnet, IMAGES)
        given = compute_cams(tiny_gapnet, IMAGES, [2, 0])
    torch.testing.assert_close(given.cams[0], every.cams[0, 2])
    torch.testing.assert_close(given.cams[1], every.cams[1, 0])


def test_compute_cams_runs_the_backbone_once(tiny_gapnet):
    calls = []
    handle = tiny_gapnet.features.register_forward_hook(lambda *args: calls.append(1))
    try:
        with torch.no_grad():
            compute_cams(tiny_gapnet, IMAGES, "predicted")
    finally:
        handle.remove()
    assert len(calls) == 1


def test_compute_cams_bad_class_string(tiny_gapnet):
    with pytest.raises(ValueError, match="'predicted'"):
        compute_cams(tiny_gapnet, IMAGES, "argmax")


@pytest.mark.parametrize(
    "model",
    [
        FlattenFCNet(widths=(4, 8), input_size=8, downsample=1),
        nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 6), nn.Linear(6, 3)),
        nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(144, 3)),
    ],
    ids=["FlattenFCNet", "two linear layers after GAP", "Sequential without GAP"],
)
def test_compute_cams_needs_a_gap_head(model):
    with pytest.raises(TypeError) as error:
        compute_cams(model, torch.zeros(1, 1, 8, 8))
    assert type(model).__name__ in str(error.value)
    assert "grad_cam" in str(error.value)


def test_compute_cams_rejects_single_image(tiny_gapnet):
    with pytest.raises(ValueError) as error:
        compute_cams(tiny_gapnet, IMAGES[0])
    assert "[1, 8, 10]" in str(error.value)
    assert "unsqueeze(0)" in str(error.value)


# --------------------------------------------------------------------------------------
# hostile inputs: a clear error or a correct result, never a NaN or a silently wrong map
# --------------------------------------------------------------------------------------


def test_a_sequential_gap_network_has_a_cam():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).eval()
    images = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        logits, cams = compute_cams(model, images, size=None)
        maps = model[1](model[0](images))
    torch.testing.assert_close(cams, class_activation_maps(maps, model[4].weight))
    torch.testing.assert_close(logits, cams.mean(dim=(-2, -1)) + model[4].bias)


def test_a_head_with_something_between_pool_and_linear_is_refused():
    # The pool and the one linear layer are there, but a ReLU after pooling breaks S_c = mean(M_c) + b_c.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Tanh(), nn.Linear(4, 3))
    with pytest.raises(TypeError, match="grad_cam"):
        compute_cams(model, torch.randn(2, 1, 8, 8))


def test_a_model_that_pools_functionally_gets_a_clear_error():
    from torchvision.models import resnet18

    class FunctionalPool(type(resnet18())):
        def _forward_impl(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    model = FunctionalPool(BasicBlock, [1, 1, 1, 1], num_classes=4).eval()
    with pytest.raises(TypeError, match="avgpool was never called.*grad_cam"):
        compute_cams(model, torch.randn(1, 3, 32, 32))


def test_compute_cams_runs_in_eval_mode_and_restores_the_flags(tiny_gapnet):
    model = tiny_gapnet.train()
    running = model.features[1].running_mean.clone()
    with torch.no_grad():
        in_train_mode = compute_cams(model, IMAGES).cams
        model.eval()
        in_eval_mode = compute_cams(model, IMAGES).cams
    torch.testing.assert_close(in_train_mode, in_eval_mode)
    assert torch.equal(model.features[1].running_mean, running), "BatchNorm statistics must not move"
    model.train()
    with torch.no_grad():
        compute_cams(model, IMAGES)
    assert all(m.training for m in model.modules())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("mode, value", [("max", 0.0), ("minmax", 0.0), ("minmax", 3.5), ("minmax", -2.0)])
def test_constant_maps_normalize_to_zero_in_every_dtype(dtype, mode, value):
    cams = torch.full((2, 4, 4), value, dtype=dtype)
    out = normalize_cams(cams, mode)
    assert out.dtype == dtype and torch.equal(out, torch.zeros_like(out))


def test_float16_maps_normalize_like_float32():
    cams = torch.randn(3, 5, 5)
    for mode in ("max", "minmax"):
        positive = cams.clamp_min(0) if mode == "max" else cams
        half = normalize_cams(positive.half(), mode).float()
        torch.testing.assert_close(half, normalize_cams(positive.half().float(), mode), atol=1e-3, rtol=1e-3)


def test_max_normalization_refuses_maps_without_a_positive_maximum():
    cams = torch.stack([torch.rand(4, 4), -torch.rand(4, 4) - 0.1])  # the second is all negative
    with pytest.raises(ValueError, match="1 of 2 maps.*'minmax'.*clamp_min"):
        normalize_cams(cams, "max")
    out = normalize_cams(cams.clamp_min(0), "max")  # its ReLU is all zero: a map of zeros
    assert torch.equal(out[1], torch.zeros(4, 4)) and out[0].max() == 1


def test_a_tiny_positive_maximum_is_scaled_exactly():
    cams = torch.tensor([[[0.0, 1e-6], [5e-7, 0.0]]])  # above eps: not a constant map
    torch.testing.assert_close(normalize_cams(cams, "max"), torch.tensor([[[0.0, 1.0], [0.5, 0.0]]]))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_maps_are_refused(bad):
    cams = torch.rand(1, 3, 3)
    cams[0, 1, 1] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        normalize_cams(cams, "minmax")


def test_normalize_argument_errors():
    with pytest.raises(ValueError, match="eps"):
        normalize_cams(torch.rand(1, 3, 3), "max", eps=0)
    with pytest.raises(ValueError, match="two"):
        normalize_cams(torch.rand(3), "max")
    with pytest.raises(TypeError, match="tensor"):
        normalize_cams([[0.0, 1.0]], "max")


def test_empty_batch_with_no_classes():
    features, weight = torch.zeros(0, 2, 3, 3), torch.randn(4, 2)
    assert class_activation_maps(features, weight, []).shape == (0, 3, 3)


def test_empty_batch_through_compute_cams(tiny_gapnet):
    with torch.no_grad():
        out = compute_cams(tiny_gapnet, torch.zeros(0, 1, 8, 10), [], normalize="minmax")
    assert out.cams.shape == (0, 8, 10) and out.logits.shape == (0, 3)


def test_features_and_weight_of_different_dtypes_are_refused():
    with pytest.raises(ValueError, match="one dtype"):
        class_activation_maps(HAND_FEATURES.double(), HAND_WEIGHT)


@pytest.mark.parametrize("size", [0, -3, (4,), (4, 0), "big", 2.5])
def test_bad_sizes_are_refused(tiny_gapnet, size):
    with pytest.raises(ValueError, match="size must be a positive integer or a"):
        upsample_cams(torch.rand(1, 3, 3), size)
    with pytest.raises(ValueError, match="size must be a positive integer or a"), torch.no_grad():
        compute_cams(tiny_gapnet, IMAGES, size=size)


def test_images_the_model_cannot_take_get_a_named_error(tiny_gapnet):
    with pytest.raises(ValueError, match=r"shape \[2, 3, 8, 10\].*channels"), torch.no_grad():
        compute_cams(tiny_gapnet, torch.randn(2, 3, 8, 10))
    with pytest.raises(ValueError, match="float64.*float32"), torch.no_grad():
        compute_cams(tiny_gapnet, IMAGES.double())
    with pytest.raises(ValueError, match="floating point"), torch.no_grad():
        compute_cams(tiny_gapnet, (IMAGES * 255).to(torch.uint8))
    with pytest.raises(ValueError, match="NaN"), torch.no_grad():
        compute_cams(tiny_gapnet, torch.full_like(IMAGES, float("nan")))


def test_a_model_that_drops_images_is_refused(tiny_gapnet):
    class FirstRowOnly(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            self.classifier = inner.classifier

        def forward_with_maps(self, images):
            logits, maps = self.inner.forward_with_maps(images)
            return logits[:1], maps

    with pytest.raises(ValueError, match="1 rows of logits for 2 images"), torch.no_grad():
        compute_cams(FirstRowOnly(tiny_gapnet), IMAGES, [0, 1])


# --------------------------------------------------------------------------------------
# Red-team findings: NaN never comes out, arguments are named
# --------------------------------------------------------------------------------------


def test_class_activation_maps_refuse_non_finite_inputs_and_overflow():
    features, weight = torch.rand(2, 4, 3, 3), torch.rand(3, 4)
    with pytest.raises(ValueError, match="the features contain NaN"):
        class_activation_maps(features.masked_fill(features > 0.5, float("nan")), weight)
    with pytest.raises(ValueError, match="linear layer's weights contain NaN or infinite"):
        class_activation_maps(features, weight.masked_fill(weight > 0.5, float("inf")), [0, 1])
    with pytest.raises(ValueError, match="the CAMs overflow torch.float32 .*float64"):
        class_activation_maps(features * 1e30, weight * 1e30)
    assert torch.isfinite(class_activation_maps(features.double() * 1e30, weight.double() * 1e30)).all()


def test_compute_cams_refuses_a_classifier_with_nan_weights(tiny_gapnet):
    with torch.no_grad():
        tiny_gapnet.classifier.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="linear layer's weights contain NaN"):
        compute_cams(tiny_gapnet, torch.rand(2, 1, 8, 8))


def test_upsample_cams_refuses_nan_maps_without_pixels_and_sizes_beyond_memory():
    cams = torch.rand(2, 3, 3)
    with pytest.raises(ValueError, match="the maps contain NaN"):
        upsample_cams(cams.masked_fill(cams > 0.5, float("nan")), 6)
    with pytest.raises(ValueError, match=r"shape \[2, 0, 3\] have no pixel"):
        upsample_cams(torch.rand(2, 0, 3), 6)
    with pytest.raises(ValueError, match=r"cannot resize maps of shape \[2, 3, 3\] to \(1000000, 1000000\)"):
        upsample_cams(cams, 10**6)  # 8 TB: torch's allocator refuses it


@pytest.mark.parametrize("eps", ["1e-8", None, float("inf"), float("nan"), -1.0, True])
def test_normalize_cams_and_compute_cams_name_a_bad_eps(eps, tiny_gapnet):
    with pytest.raises(ValueError, match="eps=.* must be a small positive number"):
        normalize_cams(torch.rand(2, 3, 3), "max", eps=eps)
    with pytest.raises(ValueError, match="eps=.* must be a small positive number"):
        compute_cams(tiny_gapnet, torch.rand(1, 1, 8, 8), normalize="minmax", eps=eps)


def test_normalize_cams_refuses_complex_maps_and_scales_maps_spanning_the_float32_range():
    with pytest.raises(TypeError, match="real numbers"):
        normalize_cams(torch.rand(2, 3, 3).to(torch.complex64), "max")
    huge = torch.tensor([[[-3e38, 3e38, 0.0]]])  # top - bottom overflows float32 to inf
    assert normalize_cams(huge, "minmax").tolist() == [[[0.0, 1.0, 0.5]]]


def test_a_model_that_is_no_module_is_named_not_traced():
    images = torch.rand(1, 1, 8, 8)
    for call in (lambda: compute_cams(None, images), lambda: run_model(None, images),
                 lambda: eval_mode("resnet18").__enter__()):
        with pytest.raises(TypeError, match="model must be a torch.nn.Module, got"):
            call()


def test_finer_cams_are_the_cam_of_the_difference_of_two_rows_and_pytorch_grad_cams_finer_cam():
    from camlib.methods.cam import finer_cams
    from camlib.methods.gradcam import grad_cam
    from camlib.models import GAPNet

    torch.manual_seed(4)
    model = GAPNet(1, 10, widths=(8, 16), downsample=0).eval().double()
    images = torch.rand(2, 1, 10, 10, dtype=torch.float64)
    classes, similar = torch.tensor([4, 1]), torch.tensor([9, 7])
    _, maps = model.forward_with_maps(images)
    weight = model.classifier.weight.detach()
    finer = finer_cams(maps.detach(), weight, classes, similar, gamma=0.6)
    by_hand = torch.einsum("bk,bkhw->bhw", weight[classes] - 0.6 * weight[similar], maps.detach())
    torch.testing.assert_close(finer, by_hand, rtol=1e-12, atol=1e-12)
    # Grad-CAM of y_c - 0.6 y_d at the GAP network's last maps: ReLU(M_c - 0.6 M_d) / Z
    area = maps.shape[-2] * maps.shape[-1]
    for b in range(2):
        target = grad_cam(model, "features", images[b:b + 1], [int(classes[b])], relu=False) - 0.6 * grad_cam(
            model, "features", images[b:b + 1], [int(similar[b])], relu=False)
        torch.testing.assert_close(target[0], finer[b] / area, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="gamma"):
        finer_cams(maps.detach(), weight, classes, similar, gamma=float("nan"))
    pytest.importorskip("pytorch_grad_cam")
    import numpy as np
    from pytorch_grad_cam import FinerCAM
    from pytorch_grad_cam.utils.image import scale_cam_image
    from pytorch_grad_cam.utils.model_targets import FinerWeightedTarget

    single = model.float()
    with FinerCAM(single, [single.features]) as cam:
        theirs = cam(input_tensor=images.float(), targets=[FinerWeightedTarget(int(c), [int(d)], 0.6)
                                                           for c, d in zip(classes, similar)])
    ours = finer.clamp_min(0).numpy()
    np.testing.assert_allclose(scale_cam_image(scale_cam_image(ours, (10, 10))), theirs, atol=1e-5)
