"""camlib.methods.attribution: each saliency method against a hand-computed case or its reference code.

Grad-CAM++ is checked against pytorch-grad-cam's GradCAMPlusPlus (weights and maps) and
against the closed form it takes on a GAP network; Score-CAM is pytorch-grad-cam's own code
behind a wrapper, so it must match its output bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from camlib._guards import activations_and_gradients
from camlib.methods.attribution import (
    GRAD_CAM_PP_EPS,
    LAYER_METHODS,
    METHODS,
    attribution_maps,
    cam_map,
    gaussian_map,
    grad_cam_map,
    grad_cam_plus_plus,
    grad_cam_plus_plus_weights,
    gradient_map,
    gradient_x_input,
    guided_backprop_map,
    hirescam,
    layercam,
    occlusion,
    occlusion_masks,
    random_map,
    score_cam,
)
from camlib.methods.cam import compute_cams, upsample_cams
from camlib.methods.gradcam import grad_cam, guided_backprop
from camlib.models import GAPNet


def _tiny(in_channels: int = 1, dtype=torch.float32) -> GAPNet:
    torch.manual_seed(0)
    return GAPNet(in_channels=in_channels, num_classes=3, widths=(4, 8), downsample=1).eval().to(dtype)


def _pytorch_grad_cam_plus_plus(model, layer, images, classes):
    """Their maps (min-max scaled, image size), activations, gradients and weights."""
    from pytorch_grad_cam import GradCAMPlusPlus
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    with GradCAMPlusPlus(model=model, target_layers=[model.get_submodule(layer)]) as cam:
        maps = cam(input_tensor=images, targets=[ClassifierOutputTarget(c) for c in classes])
        activations = cam.activations_and_grads.activations[0].numpy()
        gradients = cam.activations_and_grads.gradients[0].numpy()
        weights = cam.get_cam_weights(images, None, None, activations, gradients)
    return maps, activations, gradients, weights


@pytest.mark.parametrize("network", ["resnet18", "gapnet"])
def test_grad_cam_plus_plus_matches_pytorch_grad_cam(network):
    from pytorch_grad_cam.utils.image import scale_cam_image
    from torchvision.models import resnet18

    torch.manual_seed(0)
    if network == "resnet18":
        model, layer, images = resnet18(weights=None).eval(), "layer4", torch.randn(2, 3, 64, 64)
    else:
        model, layer, images = GAPNet(1, 10, widths=(16, 32, 64)).eval(), "features", torch.rand(2, 1, 28, 28)
    classes = [3, 7]
    theirs, their_activations, their_gradients, their_weights = _pytorch_grad_cam_plus_plus(
        model, layer, images, classes)
    activations, gradients, _ = activations_and_gradients(model, layer, images, classes, "test")
    np.testing.assert_array_equal(activations.numpy(), their_activations)
    np.testing.assert_array_equal(gradients.numpy(), their_gradients)
    weights = grad_cam_plus_plus_weights(activations, gradients).numpy()
    scale = np.abs(their_weights).max()  # measured: |ours - theirs| <= 1e-8 (float32 rounding), scale 0.02-0.06
    np.testing.assert_allclose(weights, their_weights, rtol=1e-5, atol=1e-6 * scale)
    # their maps are ReLU'd, min-max scaled and resized (cv2) twice: apply the same steps to ours
    ours = grad_cam_plus_plus(model, images, classes, layer=layer).numpy()
    scaled = scale_cam_image(scale_cam_image(ours, tuple(images.shape[-2:][::-1])))
    np.testing.assert_allclose(scaled, theirs, atol=1e-5)  # measured <= 2.4e-7


@pytest.mark.parametrize("eps", [0.0, GRAD_CAM_PP_EPS])
def test_grad_cam_plus_plus_closed_form_on_a_gap_network(eps):
    """weight_k = ReLU(w_k) / (2 + w_k F_k + eps Z^2 / w_k^2), F_k the pooled map, Z = h w."""
    torch.manual_seed(1)
    model = GAPNet(1, 10, widths=(16, 32, 64)).eval().double()
    images, classes = torch.rand(3, 1, 28, 28, dtype=torch.float64), torch.tensor([0, 4, 9])
    _, maps = model.forward_with_maps(images)
    w = model.classifier.weight.detach()[classes]  # [B, K]
    pooled, area = maps.detach().mean(dim=(-2, -1)), maps.shape[-2] * maps.shape[-1]
    expected_weights = w.clamp_min(0) / (2 + w * pooled + eps * area**2 / w**2)
    expected = torch.einsum("bkhw,bk->bhw", maps.detach(), expected_weights).clamp_min(0)
    ours = grad_cam_plus_plus(model, images, classes, layer="features", eps=eps)
    torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-14)
    # it is not the CAM: negative weights are dropped, positive ones damped unequally
    with torch.no_grad():
        cam = compute_cams(model, images, classes, size=None).cams.clamp_min(0)
    ratio = ours[cam > 1e-9] / cam[cam > 1e-9]
    assert float(ratio.std() / ratio.mean()) > 1e-3


def test_score_cam_equals_pytorch_grad_cams_and_restores_the_model():
    from pytorch_grad_cam import ScoreCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = _tiny().train()
    images, classes = torch.rand(3, 1, 12, 12), [0, 2, 1]
    ours = score_cam(model, images, classes, layer="features", batch_size=5)
    assert model.training and all(m.training for m in model.modules())
    assert not any(m._forward_hooks for m in model.modules())
    cam = ScoreCAM(model=model, target_layers=[model.features])
    cam.batch_size = 5
    try:
        theirs = cam(input_tensor=images, targets=[ClassifierOutputTarget(c) for c in classes])
    finally:
        cam.activations_and_grads.release()
    assert ours.dtype == torch.float32 and ours.shape == (3, 12, 12)
    # camlib's own code, pytorch-grad-cam's formula: equal to float32 rounding and OpenCV's resize
    assert float((ours - torch.from_numpy(theirs)).abs().max()) < 1e-5


def _linear_model() -> nn.Module:
    """S = w . x + b on 2x2x2 images; class 1's weights per channel are written out below."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[0.0] * 8, [1, -2, 3, -4, 0.5, 5, -6, 1]]))
        model[1].bias.copy_(torch.tensor([0.0, 0.25]))
    return model


def test_gradient_and_gradient_times_input_on_a_linear_model():
    model = _linear_model()
    images = torch.tensor([[[[1.0, 2], [3, 4]], [[-1, 1], [2, 0]]]])
    # dS_1/dx is the weight: channel 0 [[1, -2], [3, -4]], channel 1 [[0.5, 5], [-6, 1]]
    assert torch.equal(gradient_map(model, images, [1]), torch.tensor([[[1.0, 5], [6, 4]]]))
    expected = torch.tensor([[[1 * 1 + 0.5 * -1, -2 * 2 + 5 * 1], [3 * 3 + -6 * 2, -4 * 4 + 1 * 0]]])
    product = gradient_x_input(model, images, [1])
    assert torch.equal(product, expected)
    assert float(product.sum()) == pytest.approx(float(model(images).detach()[0, 1]) - 0.25)  # sums to S - b
    assert all(p.grad is None for p in model.parameters())


def test_occlusion_by_hand():
    """All-ones weights and pixels 0..8: a 2x2 patch removes the sum of its pixels from the score."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(9, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.stack([torch.ones(9), torch.arange(9.0)]))
    images = torch.arange(9.0).view(1, 1, 3, 3)
    # the four patches remove 0+1+3+4 = 8, 12, 20 and 24; each pixel averages the patches covering it
    expected = torch.tensor([[[8.0, 10, 12], [14, 16, 18], [20, 22, 24]]])
    assert torch.equal(occlusion(model, images, [0], patch=2, stride=1), expected)
    ones = torch.ones(1, 1, 3, 3)  # baseline 1 on an all-ones image removes nothing
    assert torch.equal(occlusion(model, ones, [0], patch=2, stride=1, baseline=1.0), torch.zeros(1, 3, 3))


def test_occlusion_covers_every_pixel_and_chunks_agree():
    masks = occlusion_masks(5, 7, patch=(2, 3), stride=2)  # rows start at 0, 2, 3; columns at 0, 2, 4
    assert masks.shape == (9, 5, 7) and bool(masks.any(dim=0).all())
    assert masks[2, 0, 4:].all() and masks[6, 3:, 0:3].all()
    model, images = _tiny(), torch.rand(3, 1, 10, 10)
    whole = occlusion(model, images, [0, 1, 2], patch=3, stride=2)
    chunked = occlusion(model, images, [0, 1, 2], patch=3, stride=2, chunk_size=5)
    torch.testing.assert_close(whole, chunked)
    single = occlusion(model, images[1:2], [1], patch=3, stride=2)
    torch.testing.assert_close(whole[1:2], single)


def test_guided_backprop_is_reduced_like_the_gradient():
    model, images = _tiny(in_channels=3), torch.rand(2, 3, 8, 8)
    full = guided_backprop(model, images, [0, 2])
    assert torch.equal(guided_backprop_map(model, images, [0, 2]), full.abs().amax(dim=1))


def test_random_and_gaussian_baselines():
    images = torch.zeros(2, 3, 6, 10)
    state = torch.random.get_rng_state()
    first, again, other = random_map(images, seed=1), random_map(images, seed=1), random_map(images, seed=2)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global stream is untouched
    assert first.shape == (2, 6, 10) and torch.equal(first, again) and not torch.equal(first, other)
    assert 0 <= float(first.min()) and float(first.max()) < 1 and not torch.equal(first[0], first[1])
    bump = gaussian_map(images.double(), sigma=0.25)
    assert bump.shape == (2, 6, 10) and bump.dtype == torch.float64 and torch.equal(bump[0], bump[1])
    torch.testing.assert_close(bump[0], bump[0].flip(0))
    torch.testing.assert_close(bump[0], bump[0].flip(1))
    assert float(bump.max()) < 1  # the centre (5, 3) lies between pixel centres
    # columns 2 and 4 sit 2.5 and 0.5 px from the centre of the width; sigma W = 0.25 * 10 = 2.5
    ratio = bump[0, 2, 2] / bump[0, 2, 4]
    assert float(ratio) == pytest.approx(np.exp(-(2.5**2 - 0.5**2) / (2 * 2.5**2)))


def test_cam_and_grad_cam_entries_reuse_camlib():
    model, images = _tiny(), torch.rand(2, 1, 8, 8)
    cams = compute_cams(model, images, [1, 2], size=None).cams  # [2, 4, 4]: Z = 16
    torch.testing.assert_close(cam_map(model, images, [1, 2]), cams)
    torch.testing.assert_close(grad_cam_map(model, images, [1, 2], layer="features"), cams.clamp_min(0) / 16)
    upsampled = attribution_maps("grad_cam", model, images, [1, 2], layer="features", relu=False)
    assert torch.equal(upsampled, upsample_cams(grad_cam(model, "features", images, [1, 2], relu=False), 8))


def test_every_method_returns_image_size_float_maps():
    model, images = _tiny().double(), torch.rand(2, 1, 8, 8, dtype=torch.float64)
    for method in METHODS:
        maps = attribution_maps(method, model, images, [0, 2], layer="features")
        assert maps.shape == (2, 8, 8) and maps.dtype == torch.float64, method
        assert torch.isfinite(maps).all() and not maps.requires_grad, method
    assert set(LAYER_METHODS) <= set(METHODS)


def test_clear_errors():
    model, images = _tiny(), torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match=r"unknown method 'gradcam'.*'grad_cam_pp'"):
        attribution_maps("gradcam", model, images, [0, 1])
    with pytest.raises(ValueError, match="pass layer=.*'features'"):
        attribution_maps("grad_cam_pp", model, images, [0, 1])
    with pytest.raises(ValueError, match="class index out of range.*0..2"):
        attribution_maps("gradient", model, images, [0, 3])
    with pytest.raises(ValueError, match="class index out of range"):
        attribution_maps("occlusion", model, images, [5, 0])
    with torch.no_grad(), pytest.raises(RuntimeError, match=r"torch.no_grad\(\).*enable_grad"):
        attribution_maps("gradient", model, images, [0, 1])
    with pytest.raises(TypeError, match=r"takes no option \['seed'\]; its options are \['relu', 'eps', 'reshape'\]"):
        attribution_maps("grad_cam_pp", model, images, [0, 1], layer="features", seed=0)
    with pytest.raises(ValueError, match="has no submodule 'layer4'"):
        attribution_maps("grad_cam_pp", model, images, [0, 1], layer="layer4")
    with pytest.raises(ValueError, match="patch 9x9 is larger than the 8x8 images"):
        occlusion(model, images, [0, 1], patch=9)
    with pytest.raises(ValueError, match="stride 3x3 exceeds the patch 2x2"):
        occlusion(model, images, [0, 1], patch=2, stride=3)


def test_score_cam_needs_no_test_only_package():
    """Notebook 07 runs Score-CAM where students run it: pytorch-grad-cam is a test-only reference."""
    import subprocess
    import sys

    code = ("import sys, torch\n"
            "from camlib.methods.attribution import attribution_maps\n"
            "from camlib.models import GAPNet\n"
            "torch.manual_seed(0)\n"
            "model = GAPNet(in_channels=1, num_classes=3, widths=(4, 8))\n"
            "maps = attribution_maps('score_cam', model, torch.rand(2, 1, 16, 16), [0, 1], layer='features')\n"
            "assert maps.shape == (2, 16, 16), maps.shape\n"
            "assert 'pytorch_grad_cam' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_every_method_gives_an_empty_batch_back_empty():
    torch.manual_seed(0)
    model = GAPNet(in_channels=1, num_classes=3, widths=(4, 8)).eval()
    empty = torch.zeros(0, 1, 8, 8)
    for method in METHODS:
        maps = attribution_maps(method, model, empty, layer="features")
        assert maps.shape == (0, 8, 8), method


# --- HiResCAM and LayerCAM ------------------------------------------------------------------


class _LinearHead(nn.Module):
    """S = W . A + b over a [K, h, w] input A that the identity ``features`` passes on: the score of
    one linear layer of the maps, whose gradient is W itself."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.features = nn.Identity()
        self.classifier = nn.Linear(weight[0].numel(), len(weight)).double()
        with torch.no_grad():
            self.classifier.weight.copy_(weight.flatten(1))
            self.classifier.bias.copy_(torch.tensor([0.5, -0.25]))

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def test_hirescam_by_hand_lights_only_the_positions_the_score_uses_where_grad_cam_does_not():
    A = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[2.0, 0.0], [1.0, 1.0]]]], dtype=torch.float64)  # [1, K=2, 2, 2]
    W = torch.tensor([[[[1.0, -1.0], [0.0, 2.0]], [[0.5, 0.0], [0.0, 1.0]]],  # class 0: position (1, 0) unused
                      [[[0.0, 1.0], [1.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]]], dtype=torch.float64)
    model = _LinearHead(W).eval()
    hires = hirescam(model, A, [0], layer="features")
    expected = (W[0] * A[0]).sum(dim=0)  # [[1 + 1, -2 + 0], [0 + 0, 8 + 1]]
    torch.testing.assert_close(hires[0], torch.tensor([[2.0, -2.0], [0.0, 9.0]], dtype=torch.float64))
    torch.testing.assert_close(hires[0], expected)
    with torch.no_grad():
        score = float(model(A)[0, 0])
    assert float(hires.sum()) == pytest.approx(score - 0.5)  # S_c - b_c, exactly
    grad = grad_cam_map(model, A, [0], layer="features", relu=False)
    alpha = W[0].mean(dim=(-2, -1))  # Grad-CAM's channel weights: [0.5, 0.375]
    torch.testing.assert_close(grad[0], torch.einsum("k,khw->hw", alpha, A[0]))
    assert hires[0, 1, 0] == 0 and grad[0, 1, 0] > 1  # the score does not use (1, 0); Grad-CAM lights it
    assert float(grad.sum()) != pytest.approx(score - 0.5)


def test_hirescam_is_the_cam_over_z_on_a_gap_network_and_sums_to_the_score_on_a_flatten_head():
    from camlib.methods.cam import class_activation_maps
    from camlib.models import FlattenFCNet

    torch.manual_seed(2)
    model = GAPNet(1, 10, widths=(8, 16), downsample=1).eval().double()
    images, classes = torch.rand(3, 1, 12, 12, dtype=torch.float64), torch.tensor([1, 5, 9])
    logits, maps = model.forward_with_maps(images)
    cams = class_activation_maps(maps.detach(), model.classifier.weight.detach(), classes)
    area = maps.shape[-2] * maps.shape[-1]
    torch.testing.assert_close(hirescam(model, images, classes, layer="features"), cams / area, rtol=1e-10, atol=1e-12)
    flat = FlattenFCNet(num_classes=4, widths=(4, 8), input_size=8, downsample=1).eval().double()
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        scores = flat(x)[[0, 1], [0, 3]] - flat.classifier.bias[[0, 3]]  # S_c - b_c: one linear layer of the maps
    torch.testing.assert_close(hirescam(flat, x, [0, 3], layer="features").sum(dim=(-2, -1)), scores)
    grad_sums = grad_cam_map(flat, x, [0, 3], layer="features", relu=False).sum(dim=(-2, -1))
    assert not torch.allclose(grad_sums, scores)  # Grad-CAM's averaged weights do not decompose the score


@pytest.mark.parametrize("method", ["hirescam", "layercam"])
def test_hirescam_and_layercam_match_pytorch_grad_cam(method):
    pytest.importorskip("pytorch_grad_cam")
    from pytorch_grad_cam import HiResCAM, LayerCAM
    from pytorch_grad_cam.utils.image import scale_cam_image
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    torch.manual_seed(3)
    model = GAPNet(1, 10, widths=(8, 16), downsample=0).eval()  # maps at the input's size: no resizing
    images, classes = torch.rand(2, 1, 12, 12), [2, 7]
    theirs_class = {"hirescam": HiResCAM, "layercam": LayerCAM}[method]
    with theirs_class(model=model, target_layers=[model.features]) as cam:
        theirs = cam(input_tensor=images, targets=[ClassifierOutputTarget(c) for c in classes])
    ours = {"hirescam": hirescam, "layercam": layercam}[method](model, images, classes, layer="features", relu=True)
    # theirs: ReLU, then min-max scaled and resized (cv2) per layer and again over layers: the same steps on ours
    np.testing.assert_allclose(scale_cam_image(scale_cam_image(ours.numpy(), (12, 12))), theirs, atol=1e-6)
