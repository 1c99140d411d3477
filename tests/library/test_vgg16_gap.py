"""camlib.models.vgg16_gap: the paper's VGG16-GAP surgery on torchvision's VGG16.

No network here: torchvision weights are never downloaded. Pretrained weights are stood in
for by a seeded ``torchvision.models.vgg16(weights=None)`` whose state dict is saved to a
temporary file, and the torchvision-weights branch is checked with a stand-in ``vgg16``.
A 224x224 forward pass on CPU takes about a second, so only one test uses it; the others
use 64x64 inputs (4x4 maps) or smaller.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models import VGG16_Weights

from camlib.methods.cam import compute_cams
from camlib.models import VGG16GAP, build_model, count_parameters, vgg16_gap
from camlib.train import load_checkpoint, save_checkpoint

HEAD_PARAMETERS = (512 * 1024 * 9 + 1024) + (1024 * 1000 + 1000)  # new 3x3 conv + linear layer, by hand
VGG16_CONV_PARAMETERS = 14_714_688  # conv1_1 ... conv5_3 of VGG16 (138,357,544 in all, 123,642,856 in the FC layers)


@pytest.fixture(scope="module")
def vgg16_file(tmp_path_factory):
    """A seeded torchvision VGG16's full state dict on disk, and the source model's features."""
    torch.manual_seed(0)
    source = torchvision.models.vgg16(weights=None)
    path = tmp_path_factory.mktemp("weights") / "vgg16.pth"
    torch.save(source.state_dict(), path)
    return path, source.features


def _convs(module: nn.Module) -> list[nn.Conv2d]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


def test_maps_are_14x14_at_224_and_logits_cover_imagenet():
    torch.manual_seed(0)
    model = vgg16_gap().eval()
    with torch.no_grad():
        logits, maps = model.forward_with_maps(torch.randn(1, 3, 224, 224))
        assert torch.equal(model(torch.randn(0, 3, 224, 224)), torch.empty(0, 1000))
    assert logits.shape == (1, 1000)
    assert maps.shape == (1, 1024, 14, 14)
    assert (maps >= 0).all()  # after the new conv's ReLU
    assert model.stride == 16 and 224 // model.stride == 14
    assert model.config == {"num_classes": 1000, "freeze_backbone": False}


def test_surgery_drops_pool5_and_the_fc_layers_and_adds_the_paper_head(vgg16_file):
    _, source_features = vgg16_file
    model = vgg16_gap()
    # conv1_1 ... conv5_3 with their ReLUs and four poolings, module for module as torchvision's
    kept, dropped = source_features[:30], source_features[30:]
    assert [type(m) for m in dropped] == [nn.MaxPool2d]  # pool5 is the last module, and the only one dropped
    assert [repr(m) for m in model.features[:30]] == [repr(m) for m in kept]
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.features) == 4
    convs = _convs(model.features)
    assert len(convs) == 13 + 1
    new = model.features[30]
    assert (new.in_channels, new.out_channels, new.kernel_size) == (512, 1024, (3, 3))
    assert (new.stride, new.padding) == ((1, 1), (1, 1))
    assert isinstance(model.features[31], nn.ReLU) and len(model.features) == 32
    assert isinstance(model.pool, nn.AdaptiveAvgPool2d) and model.pool.output_size == 1
    assert model.classifier.in_features == 1024 and model.classifier.bias is not None  # the paper: b_c = 0
    assert count_parameters(new) + count_parameters(model.classifier) == HEAD_PARAMETERS
    assert count_parameters(model.backbone) == VGG16_CONV_PARAMETERS == count_parameters(source_features)
    assert count_parameters(model) == VGG16_CONV_PARAMETERS + HEAD_PARAMETERS


def test_num_classes_and_small_inputs():
    model = vgg16_gap(num_classes=5).eval()
    with torch.no_grad():
        logits, maps = model.forward_with_maps(torch.randn(1, 3, 64, 64))
    assert logits.shape == (1, 5) and maps.shape == (1, 1024, 4, 4)
    assert model.classifier.weight.shape == (5, 1024)
    assert model.config == {"num_classes": 5, "freeze_backbone": False}


@pytest.mark.parametrize("as_string", [False, True], ids=["Path", "str"])
def test_conv_weights_are_carried_over_from_a_local_state_dict(vgg16_file, as_string):
    path, source_features = vgg16_file
    torch.manual_seed(1)  # the model's own random initialization differs from the source's
    model = vgg16_gap(weights=str(path) if as_string else path, num_classes=3)
    pairs = list(zip(_convs(source_features), _convs(model.backbone), strict=True))
    assert len(pairs) == 13
    for source, carried in pairs:
        assert torch.equal(carried.weight, source.weight)
        assert torch.equal(carried.bias, source.bias)


def test_freeze_backbone_leaves_only_the_new_head_trainable(vgg16_file):
    path, _ = vgg16_file
    model = vgg16_gap(weights=path, num_classes=3, freeze_backbone=True)
    assert model.config == {"num_classes": 3, "freeze_backbone": True}
    assert all(not p.requires_grad for p in model.backbone.parameters())
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert len(trainable) == 4  # new conv weight and bias, linear weight and bias
    assert all(p.requires_grad for p in [*model.features[30].parameters(), *model.classifier.parameters()])
    model(torch.randn(1, 3, 32, 32)).sum().backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.features[30].weight.grad is not None and model.classifier.weight.grad is not None


def test_compute_cams_reads_the_new_conv_and_scores_are_mean_cam_plus_bias():
    torch.manual_seed(0)
    model = vgg16_gap(num_classes=3).eval()
    nn.init.normal_(model.classifier.bias)  # a nonzero b_c, so the test sees it
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        logits, cams = compute_cams(model, images, size=None)
        _, maps = model.forward_with_maps(images)
    assert cams.shape == (1, 3, 4, 4)
    expected = torch.einsum("bkhw,ck->bchw", maps, model.classifier.weight)
    torch.testing.assert_close(cams, expected)
    torch.testing.assert_close(logits, cams.mean(dim=(-2, -1)) + model.classifier.bias, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        predicted = compute_cams(model, images, "predicted", normalize="minmax").cams
    assert predicted.shape == (1, 64, 64)  # upsampled to the input


def test_checkpoint_round_trip_rebuilds_from_config(tmp_path):
    torch.manual_seed(0)
    model = vgg16_gap(num_classes=3, freeze_backbone=True).eval()
    path = save_checkpoint(tmp_path / "vgg16gap.pt", model, class_names=["a", "b", "c"], data_source="test")
    loaded = load_checkpoint(path)
    assert isinstance(loaded.model, VGG16GAP) and loaded.architecture == "VGG16GAP"
    assert loaded.config == {"num_classes": 3, "freeze_backbone": True}
    assert not any(p.requires_grad for p in loaded.model.backbone.parameters())
    images = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(images), model(images))
    assert isinstance(build_model("VGG16GAP", {"num_classes": 2}), VGG16GAP)
    with pytest.raises(ValueError, match="load_checkpoint"):
        vgg16_gap(weights=path)  # a camlib checkpoint is not a VGG16 state dict


@pytest.mark.parametrize(
    "weights", [VGG16_Weights.IMAGENET1K_V1, "IMAGENET1K_V1", "VGG16_Weights.DEFAULT"], ids=["enum", "name", "full"]
)
def test_torchvision_weights_come_from_torchs_cache_through_camlib_pretrained(monkeypatch, tmp_path, weights):
    """The file is found (or downloaded with a timeout) by camlib.models.pretrained, then read with
    weights_only=True."""
    import camlib.models.pretrained as pretrained

    source = VGG16GAP(num_classes=1).backbone  # VGG16's conv layers, other random values
    cached = tmp_path / "vgg16-stand-in.pth"
    torch.save({f"features.{k}": v for k, v in source.state_dict().items()}, cached)
    asked = []

    def found(member, architecture=None, **_):
        asked.append(member)
        return pretrained.WeightsChoice(member, "in the cache")

    monkeypatch.setattr(pretrained, "pretrained_weights", found)
    monkeypatch.setattr(pretrained, "weights_file", lambda member: cached)
    model = vgg16_gap(weights=weights, num_classes=2)
    assert asked == [pretrained.resolve_weights(weights, "vgg16")]
    for theirs, ours in zip(_convs(source), _convs(model.backbone), strict=True):
        assert torch.equal(ours.weight, theirs.weight) and torch.equal(ours.bias, theirs.bias)


def test_weights_that_cannot_be_had_say_which_file_to_put_where(monkeypatch):
    import camlib.models.pretrained as pretrained

    monkeypatch.setattr(pretrained, "pretrained_weights",
                        lambda member, architecture=None, **_: pretrained.WeightsChoice(None, "no network"))
    with pytest.raises(pretrained.WeightsUnavailableError, match=r"no network.*vgg16-397923af\.pth"):
        vgg16_gap(weights="DEFAULT")


def test_freeze_backbone_must_be_a_bool():
    with pytest.raises(TypeError, match="True or False"):
        VGG16GAP(freeze_backbone="no")


def test_errors_say_what_weights_should_be(tmp_path):
    with pytest.raises(FileNotFoundError, match="VGG16 state dict"):
        vgg16_gap(weights=tmp_path / "missing.pth")
    with pytest.raises(FileNotFoundError, match="IMAGENET1K_V1"):  # a typo in a weights name reads as a path
        vgg16_gap(weights="IMAGENET1K_V2")
    partial = tmp_path / "partial.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3), "features.0.bias": torch.zeros(64)}, partial)
    with pytest.raises(ValueError, match=r"lacks 24 of the 26 .*features\.2\.weight"):
        vgg16_gap(weights=partial)
    reshaped = tmp_path / "reshaped.pth"
    state = {f"features.{k}": v for k, v in VGG16GAP().backbone.state_dict().items()}
    state["features.28.weight"] = torch.zeros(512, 512, 1, 1)
    torch.save(state, reshaped)
    with pytest.raises(ValueError, match=r"wrong shapes for features\.28\.weight"):
        vgg16_gap(weights=reshaped)
    not_a_dict = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], not_a_dict)
    with pytest.raises(ValueError, match="holds a list"):
        vgg16_gap(weights=not_a_dict)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="weights_only"):
        vgg16_gap(weights=garbage)
    with pytest.raises(TypeError, match="weights=3"):
        vgg16_gap(weights=3)
