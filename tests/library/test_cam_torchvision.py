"""CAMs of off-the-shelf torchvision GAP networks, read through a forward hook."""

import pytest
import torch
from torch import nn
from torchvision import models

from camlib.methods.cam import class_activation_maps, compute_cams, find_gap_head


def resnet_maps(model, images):
    x = model.maxpool(model.relu(model.bn1(model.conv1(images))))
    return model.layer4(model.layer3(model.layer2(model.layer1(x))))


def googlenet_maps(model, images):
    x = images
    for name in ["conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3",
                 "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4",
                 "inception5a", "inception5b"]:
        x = getattr(model, name)(x)
    return x


def densenet_maps(model, images):
    return torch.relu(model.features(images))  # DenseNet's forward applies this ReLU outside any module


@pytest.mark.parametrize("build, maps_by_hand", [
    (lambda: models.resnet18(weights=None, num_classes=6), resnet_maps),
    (lambda: models.googlenet(weights=None, num_classes=6, aux_logits=False, init_weights=True), googlenet_maps),
    (lambda: models.densenet121(weights=None, num_classes=6), densenet_maps),
], ids=["resnet18", "googlenet", "densenet121"])
def test_cams_of_torchvision_gap_networks_match_a_hand_forward(build, maps_by_hand):
    torch.manual_seed(0)
    model = build().eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        logits, cams = compute_cams(model, images, size=None)
        maps = maps_by_hand(model, images)
        _, _, linear = find_gap_head(model)
        expected = class_activation_maps(maps, linear.weight)
        assert torch.allclose(cams, expected, atol=1e-4)
        # S_c = (1/Z) sum M_c + b_c: the head read correctly
        assert torch.allclose(logits, cams.mean(dim=(-2, -1)) + linear.bias, atol=1e-4)
        _, predicted = compute_cams(model, images, "predicted", normalize="minmax")
    assert predicted.shape == (2, 64, 64) and predicted.min() >= 0 and predicted.max() <= 1
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0, "the hook must be removed"


@pytest.mark.parametrize("build", [models.vgg16, models.alexnet])
def test_networks_without_gap_head_are_refused_with_a_way_out(build):
    model = build(weights=None).eval()
    with pytest.raises(TypeError, match="grad_cam.*vgg16_gap"):
        compute_cams(model, torch.randn(1, 3, 64, 64))


def test_a_plain_module_is_refused():
    with pytest.raises(TypeError, match="no GAP \\+ linear head"):
        find_gap_head(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()))
