"""camlib.models: GAPNet, FlattenFCNet, build_model, count_parameters."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from camlib.models import VGG16GAP, FlattenFCNet, GAPNet, build_model, count_parameters


def test_gapnet_default_shapes_on_mnist_sized_input():
    torch.manual_seed(0)
    model = GAPNet().eval()
    with torch.no_grad():
        logits, maps = model.forward_with_maps(torch.randn(2, 1, 28, 28))
    assert logits.shape == (2, 10)
    assert maps.shape == (2, 128, 7, 7)  # widths (32, 64, 128), two 2x2 poolings
    assert model.stride == 4
    assert model.config == {
        "in_channels": 1,
        "num_classes": 10,
        "widths": [32, 64, 128],
        "pool": "gap",
        "downsample": 2,
        "bias": False,
        "convs_per_stage": 2,
    }
    assert (maps >= 0).all()  # the maps leave the backbone after a ReLU, f_k(x, y) >= 0


def test_forward_returns_the_logits_of_forward_with_maps(tiny_gapnet):
    images = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(tiny_gapnet(images), tiny_gapnet.forward_with_maps(images)[0])


@pytest.mark.parametrize("downsample, side, stride", [(0, 28, 1), (1, 14, 2), (2, 7, 4), (3, 3, 8)])
def test_downsample_sets_map_size_and_stride(downsample, side, stride):
    model = GAPNet(widths=(2, 4, 8), downsample=downsample).eval()
    with torch.no_grad():
        _, maps = model.forward_with_maps(torch.randn(1, 1, 28, 28))
    assert maps.shape == (1, 8, side, side)
    assert model.stride == stride


@pytest.mark.parametrize("downsample", [-1, 4])
def test_downsample_out_of_range(downsample):
    with pytest.raises(ValueError, match=f"downsample={downsample}"):
        GAPNet(widths=(2, 4, 8), downsample=downsample)


def test_empty_widths():
    with pytest.raises(ValueError, match="widths"):
        GAPNet(widths=())


@pytest.mark.parametrize("pool, reduce", [("gap", torch.mean), ("gmp", torch.amax)], ids=["gap", "gmp"])
def test_pooling_is_mean_or_max_over_space(pool, reduce):
    torch.manual_seed(0)
    model = GAPNet(num_classes=4, widths=(4, 8), downsample=1, pool=pool).eval()
    with torch.no_grad():
        logits, maps = model.forward_with_maps(torch.randn(3, 1, 10, 12))
        expected = model.classifier(reduce(maps, dim=(2, 3)))
        other = model.classifier(maps.mean(dim=(2, 3)) if pool == "gmp" else maps.amax(dim=(2, 3)))
    torch.testing.assert_close(logits, expected)
    assert not torch.allclose(logits, other, atol=1e-4)  # the two poolings really differ here


def test_linear_head_has_no_bias_by_default():
    assert GAPNet(widths=(4,)).classifier.bias is None
    biased = GAPNet(widths=(4,), num_classes=3, bias=True, downsample=0)
    assert biased.classifier.bias is not None and biased.classifier.bias.shape == (3,)
    assert biased.classifier.weight.shape == (3, 4)  # w^c_k: [C, K]


@pytest.mark.parametrize("pool", ["avg", "GAP", "max"])
def test_bad_pool(pool):
    with pytest.raises(ValueError) as error:
        GAPNet(pool=pool)
    assert repr(pool) in str(error.value)
    assert "'gap'" in str(error.value) and "'gmp'" in str(error.value)


def test_flattenfcnet_shape():
    model = FlattenFCNet(widths=(4, 8, 16)).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    other = FlattenFCNet(num_classes=3, widths=(4, 8), input_size=32, downsample=1).eval()
    with torch.no_grad():
        assert other(torch.randn(2, 1, 32, 32)).shape == (2, 3)
    assert other.classifier.in_features == 8 * 16 * 16


def _backbone_parameters(in_channels, widths):
    """Two bias-free 3x3 convs per stage (9 * c_in * c_out each) and two BatchNorms (2 * c)."""
    total, channels = 0, in_channels
    for width in widths:
        total += 9 * channels * width + 9 * width * width + 2 * 2 * width
        channels = width
    return total


@pytest.mark.parametrize("widths", [(4, 8, 16), (32, 64, 128)])
def test_flattenfcnet_parameter_count_formula(widths):
    # backbone + (K * side * side) * C weights + C biases, side = 28 // 4 = 7
    expected = _backbone_parameters(1, widths) + widths[-1] * 7 * 7 * 10 + 10
    assert count_parameters(FlattenFCNet(widths=widths)) == expected


def test_parameter_counts_by_hand():
    # widths (4, 8, 16): convs 9*(1*4 + 4*4 + 4*8 + 8*8 + 8*16 + 16*16) = 4500; BatchNorms
    # 4*(4 + 8 + 16) = 112; heads 16*10 = 160 (GAP) and 16*49*10 + 10 = 7850 (flatten+FC).
    assert count_parameters(GAPNet(widths=(4, 8, 16))) == 4772
    assert count_parameters(FlattenFCNet(widths=(4, 8, 16))) == 12462
    # The defaults (32, 64, 128): the numbers notebook 02 compares.
    assert count_parameters(GAPNet()) == 288160
    assert count_parameters(FlattenFCNet()) == 349610


def test_count_parameters_hand_countable_model():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Linear(2, 1, bias=False))  # (2*9 + 2) + 2
    assert count_parameters(model) == 22
    assert count_parameters(nn.Linear(3, 2)) == 8


@pytest.mark.parametrize(
    "model",
    [
        GAPNet(in_channels=3, num_classes=5, widths=(4, 8), pool="gmp", downsample=1, bias=True),
        FlattenFCNet(in_channels=1, num_classes=4, widths=(4, 8), input_size=12, downsample=2),
    ],
    ids=["GAPNet", "FlattenFCNet"],
)
def test_build_model_round_trip(model):
    rebuilt = build_model(type(model).__name__, model.config)
    assert type(rebuilt) is type(model)
    assert rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())  # strict: same names and shapes
    model.eval()
    rebuilt.eval()
    images = torch.randn(2, model.config["in_channels"], 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(images), model(images))


def test_build_model_unknown_architecture():
    with pytest.raises(ValueError) as error:
        build_model("ResNet", {})
    assert "'ResNet'" in str(error.value) and "GAPNet" in str(error.value)


def test_convs_per_stage_sets_the_depth():
    single = GAPNet(widths=(4, 8), convs_per_stage=1)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in single.modules()) == 2
    assert sum(isinstance(m, torch.nn.Conv2d) for m in GAPNet(widths=(4, 8)).modules()) == 4
    with pytest.raises(ValueError, match="convs_per_stage"):
        GAPNet(convs_per_stage=0)


def test_layer_summary_lists_leaf_modules_in_call_order_and_removes_its_hooks():
    from camlib.models import layer_summary

    model = GAPNet(in_channels=1, num_classes=3, widths=(4, 8), downsample=1).eval()
    records = layer_summary(model, torch.zeros(2, 1, 16, 16))
    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    assert [r.module for r in records] == leaves  # one record per leaf, in forward order
    convs = [r for r in records if isinstance(r.module, nn.Conv2d)]
    assert convs[0].shape == (4, 16, 16) and convs[-1].shape[0] == 8
    assert convs[0].parameters == 3 * 3 * 1 * 4 + (4 if convs[0].module.bias is not None else 0)
    assert records[-1].name == "classifier" and records[-1].shape == (3,) and records[-1].parameters == 8 * 3
    assert all(not m._forward_hooks for m in model.modules()), "hooks must be removed"


def test_vgg16_layer_names_follow_the_paper_over_torchvisions_features():
    from camlib.models import VGG16GAP, vgg16_layer_names

    names = vgg16_layer_names()
    assert len(names) == 31 and names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert names[28:] == ["conv5_3", "relu5_3", "pool5"]
    trunk = VGG16GAP(num_classes=2).backbone  # torchvision's features[:30]: up to relu5_3
    for name, module in zip(names, trunk):
        kind = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}[name[:4]]
        assert isinstance(module, kind), (name, module)


# Hostile arguments: refused in words before torch fails deep inside -------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pool": "avg"}, r"pool='avg': use 'gap'"),
        ({"pool": ["gap"]}, r"pool=\['gap'\]: use 'gap'"),
        ({"in_channels": 0}, r"in_channels must be an integer >= 1, got 0"),
        ({"in_channels": -1}, r"in_channels must be an integer >= 1, got -1"),
        ({"in_channels": 1.5}, r"in_channels must be an integer >= 1, got 1.5"),
        ({"num_classes": 0}, r"num_classes must be an integer >= 1, got 0"),
        ({"widths": (0, 4)}, r"widths\[0\] must be an integer >= 1, got 0"),
        ({"widths": (4.0, 8)}, r"widths\[0\] must be an integer >= 1"),
        ({"widths": 8}, r"widths must be a sequence"),
        ({"downsample": 1.5}, r"downsample=1.5 must be an int"),
        ({"convs_per_stage": 0}, r"convs_per_stage must be at least 1"),
        ({"bias": "no"}, r"bias must be True or False"),
    ],
)
def test_gapnet_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GAPNet(**kwargs)


@pytest.mark.parametrize(
    "images, message",
    [
        (torch.rand(2, 3, 28, 28), r"images of shape \[2, 3, 28, 28\]: it expects 1 channels.*in_channels=3"),
        (torch.rand(1, 28, 28), r"images must be \[B, C, H, W\].*unsqueeze\(0\)"),
        (torch.rand(2, 1, 2, 2), r"downsamples by 4, so images must be at least 4x4; got 2x2"),
        (torch.randint(0, 255, (2, 1, 28, 28), dtype=torch.uint8), r"floating point.*float\(\) / 255"),
        (torch.rand(2, 1, 28, 28, dtype=torch.float64), r"float64 on cpu.*float32"),
        (torch.full((2, 1, 28, 28), float("nan")), r"NaN"),
    ],
    ids=["channels", "3-d", "too-small", "uint8", "float64", "nan"],
)
def test_gapnet_forward_refuses_images_it_cannot_take(images, message):
    with pytest.raises(ValueError, match=message):
        GAPNet().eval()(images)


def test_forward_refuses_non_tensors_and_one_value_per_batchnorm_channel_in_training():
    with pytest.raises(TypeError, match="images must be a torch tensor"):
        GAPNet()(torch.rand(1, 1, 28, 28).numpy())
    with pytest.raises(ValueError, match="training mode.*batches of at least 2 images, or call model.eval"):
        GAPNet().train()(torch.rand(1, 1, 4, 4))
    assert GAPNet().eval()(torch.rand(1, 1, 4, 4)).shape == (1, 10)  # eval mode: running statistics
    assert GAPNet().eval()(torch.rand(0, 1, 28, 28)).shape == (0, 10)  # an empty batch is fine


def test_flattenfcnet_and_vgg16gap_refuse_sizes_they_cannot_take():
    with pytest.raises(ValueError, match="built for 28x28 images.*got 32x32"):
        FlattenFCNet()(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match="input_size=2 is smaller than the stride"):
        FlattenFCNet(input_size=2)
    with pytest.raises(ValueError, match="num_classes must be an integer >= 1"):
        VGG16GAP(num_classes=0)


def test_build_model_names_the_arguments_a_config_must_fit():
    with pytest.raises(TypeError, match=r"config does not fit GAPNet\(in_channels, num_classes"):
        build_model("GAPNet", {"foo": 1})
    with pytest.raises(TypeError, match="config must be a dict"):
        build_model("GAPNet", None)


def test_count_parameters_and_layer_summary_name_what_they_cannot_take(tiny_gapnet):
    from camlib.models import layer_summary

    sequential = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    for call in (lambda: count_parameters(None), lambda: layer_summary(None, torch.rand(1, 1, 8, 8))):
        with pytest.raises(TypeError, match="model must be a torch.nn.Module, got NoneType"):
            call()
    with pytest.raises(TypeError, match="images must be a torch tensor"):
        layer_summary(sequential, None)
    with pytest.raises(ValueError, match=r"Sequential could not run on images of shape \[1, 3, 8, 8\]"):
        layer_summary(sequential, torch.rand(1, 3, 8, 8))  # torch's channel error, named
    with pytest.raises(ValueError, match="the images are torch.float64"):
        layer_summary(sequential, torch.rand(1, 1, 8, 8, dtype=torch.float64))
    assert not any(m._forward_hooks for m in sequential.modules())  # hooks removed after the error
    assert [r.shape for r in layer_summary(tiny_gapnet, torch.rand(1, 1, 8, 8))][-1] == (3,)


def test_widths_may_be_an_array_or_a_tensor():
    import numpy as np
    for widths in (np.array([4, 8]), torch.tensor([4, 8])):
        model = GAPNet(in_channels=1, num_classes=3, widths=widths)
        assert model.classifier.in_features == 8
