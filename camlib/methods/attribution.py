"""Saliency methods side by side, for notebook 07 ("can we trust a CAM?").

One function per method, each explaining one class per image of a classifier that returns
logits ``[B, num_classes]``, and each returning one map per image, ``[B, H, W]`` or ``[B, h, w]``:

==================== ============================================ ======================
method               what it is                                   map size
==================== ============================================ ======================
``cam``              Zhou et al. 2016, read from a GAP head        feature ``[B, h, w]``
``grad_cam``         Selvaraju et al. 2017 (``camlib.methods.gradcam``)    feature ``[B, h, w]``
``grad_cam_pp``      Chattopadhyay et al. 2018 (Grad-CAM++)        feature ``[B, h, w]``
``score_cam``        Wang et al. 2020, pytorch-grad-cam's variant  image ``[B, H, W]``
``gradient``         Simonyan et al. 2014, max_c |dS/dx|           image ``[B, H, W]``
``gradient_x_input`` sum_c x * dS/dx (signed)                      image ``[B, H, W]``
``guided_backprop``  Springenberg et al. 2015, max_c |.|           image ``[B, H, W]``
``occlusion``        Zeiler & Fergus 2014, drop of S_c             image ``[B, H, W]``
``random``           a seeded uniform map: knows nothing           image ``[B, H, W]``
``gaussian``         a centred Gaussian: knows nothing             image ``[B, H, W]``
==================== ============================================ ======================

``attribution_maps(method, model, images, classes, layer=...)`` is the uniform entry point
for loops: it returns image-size maps in the images' dtype, CAM-family maps upsampled
bilinearly (``align_corners=False``, ``camlib.methods.cam.upsample_cams``). No map is normalized;
ReLU is an explicit ``relu=`` option where a method has one.

Conventions shared by every method:

* The class score S_c is the logit (not the softmax probability), as everywhere in camlib.
* ``classes`` holds one class index per image; ``None`` explains each image's predicted class.
* The model runs in eval mode and every submodule's train/eval flag is restored afterwards;
  no parameter's ``.grad`` is written.
* ``layer`` is the module (or its dotted name) whose ``[B, K, h, w]`` output the CAM-family
  methods weigh. On ``camlib.models.GAPNet`` the CAM layer is ``"features"``: the last conv
  stage after its ReLU, the maps its GAP head pools (``compute_cams`` reads the same maps;
  notebook 04 hands ``model.features`` to ``grad_cam``). Pass names, not modules, when the
  model will be copied (``camlib.metrics.sanity`` explains deep copies).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Integral, Real

import torch
from torch import nn

from camlib._checks import check_flag, check_int, check_size
from camlib._guards import (
    ActivationCapture,
    activations_and_gradients,
    channels_last_on_cpu,
    check_grad_mode,
    check_images,
    eval_mode,
    progress_bar,
    resolve_layer,
    run_model,
    target_classes,
)
from camlib.methods.cam import compute_cams, normalize_cams, upsample_cams
from camlib.methods.gradcam import grad_cam, guided_backprop

METHODS = {
    "cam": "CAM",
    "grad_cam": "Grad-CAM",
    "grad_cam_pp": "Grad-CAM++",
    "hirescam": "HiResCAM",
    "layercam": "LayerCAM",
    "score_cam": "Score-CAM",
    "gradient": "Gradient",
    "gradient_x_input": "Gradient × input",
    "guided_backprop": "Guided backprop",
    "occlusion": "Occlusion",
    "random": "Random",
    "gaussian": "Centred Gaussian",
}
"""Method names accepted by ``attribution_maps``, with a label for figure titles."""

LAYER_METHODS = ("grad_cam", "grad_cam_pp", "hirescam", "layercam", "score_cam")
"""Methods that need ``layer``; CAM finds its maps through the model's GAP head."""

GRAD_CAM_PP_EPS = 1e-6  # pytorch-grad-cam's GradCAMPlusPlus adds this to alpha's denominator


# --- the CAM family ------------------------------------------------------------------------


def cam_map(model: nn.Module, images: torch.Tensor, classes=None, *, relu: bool = False) -> torch.Tensor:
    """Raw CAM ``[B, h, w]`` of one class per image (``camlib.methods.cam.compute_cams``, ``size=None``).

    ``model`` must be a GAP network (``GAPNet``, torchvision's ResNet, ...). ``relu=True``
    clamps negative evidence to 0, as Grad-CAM does; the default keeps the signed M_c.
    """
    check_flag(relu, "relu")
    with torch.no_grad():
        maps = compute_cams(model, images, "predicted" if classes is None else classes, size=None).cams
    return maps.clamp_min(0) if relu else maps


def grad_cam_map(model: nn.Module, images: torch.Tensor, classes=None, *, layer, relu: bool = True,
                 reshape=None) -> torch.Tensor:
    """``camlib.grad_cam`` with the argument order of this module: ``[B, h, w]``."""
    return grad_cam(model, layer, images, classes, relu=relu, reshape=reshape)


def grad_cam_plus_plus_weights(
    activations: torch.Tensor, gradients: torch.Tensor, *, eps: float = GRAD_CAM_PP_EPS
) -> torch.Tensor:
    """Grad-CAM++ channel weights ``[B, K]`` from a layer's maps A and gradients g = dS_c/dA.

    The closed form of Chattopadhyay et al. (WACV 2018, eq. 19) for a piecewise-linear network
    (third and second derivatives of exp(S_c) are exp(S_c) g^3 and exp(S_c) g^2; exp(S_c) cancels):

        alpha_k(a, b) = g^2 / (2 g^2 + sum_{a', b'} A_k(a', b') * g^3 + eps)   (0 where g = 0)
        w_k = sum_{a, b} alpha_k(a, b) * ReLU(g(a, b))

    exactly as ``pytorch_grad_cam.GradCAMPlusPlus.get_cam_weights`` computes them, ``eps``
    included. The paper's weights carry one more factor exp(S_c) (it differentiates exp(S_c),
    not S_c): a positive constant per image that only rescales the map, dropped here as there.
    """
    if activations.shape != gradients.shape or activations.dim() != 4:
        raise ValueError(f"activations and gradients must both be [B, K, h, w]; got {list(activations.shape)} "
                         f"and {list(gradients.shape)}")
    if isinstance(eps, bool) or not isinstance(eps, Real) or not 0 <= eps < math.inf:
        raise ValueError(f"eps={eps!r} must be a number >= 0 (pytorch-grad-cam uses {GRAD_CAM_PP_EPS})")
    squared = gradients.pow(2)
    sums = activations.sum(dim=(-2, -1), keepdim=True)
    denominator = 2 * squared + sums * squared * gradients + eps
    safe = torch.where(denominator == 0, torch.ones_like(denominator), denominator)  # only where g = 0 and eps = 0
    alpha = torch.where(gradients != 0, squared / safe, torch.zeros_like(squared))
    return (alpha * gradients.clamp_min(0)).sum(dim=(-2, -1))


def grad_cam_plus_plus(
    model: nn.Module,
    images: torch.Tensor,
    classes=None,
    *,
    layer: nn.Module | str,
    relu: bool = True,
    eps: float = GRAD_CAM_PP_EPS,
    reshape=None,
) -> torch.Tensor:
    """Grad-CAM++ maps ``ReLU(sum_k w_k A_k)``, ``[B, h, w]`` at ``layer``'s resolution.

    Weights: ``grad_cam_plus_plus_weights`` (pytorch-grad-cam's formula, its ``eps`` as default).
    Raw maps: no normalization, no resizing (pytorch-grad-cam returns min-max scaled ones).
    ``reshape``: for a vision transformer's tokens, as in ``camlib.grad_cam``.

    On a GAP network explained at its last conv maps A_k, S_c = sum_k w^c_k F_k + b_c with
    F_k = (1/Z) sum_{a,b} A_k(a, b), so g = dS_c/dA_k(a, b) = w^c_k / Z at every position and

        alpha_k = 1 / (2 + w^c_k F_k + eps Z^2 / (w^c_k)^2),
        weight_k = ReLU(w^c_k) / (2 + w^c_k F_k + eps Z^2 / (w^c_k)^2)   (0 where w^c_k = 0),

    which is ReLU(w^c_k) / (2 + w^c_k F_k) as eps -> 0. So Grad-CAM++ is not the CAM there
    (Grad-CAM's weights are w^c_k / Z): it drops negative weights and damps each channel by its
    own contribution w^c_k F_k to the score. The eps term is not negligible on small maps:
    with Z = 49 and |w| = 0.1 it adds 0.24 to the denominator.
    """
    check_flag(relu, "relu")
    activations, gradients, _ = activations_and_gradients(model, layer, images, classes, "grad_cam_plus_plus", reshape)
    weights = grad_cam_plus_plus_weights(activations, gradients, eps=eps)
    maps = torch.einsum("bkhw,bk->bhw", activations, weights)
    return maps.clamp_min(0) if relu else maps


def hirescam(
    model: nn.Module,
    images: torch.Tensor,
    classes=None,
    *,
    layer: nn.Module | str,
    relu: bool = False,
    reshape=None,
) -> torch.Tensor:
    """HiResCAM (Draelos & Carin, arXiv 2011.08891): ``sum_k dS_c/dA_k * A_k``, ``[B, h, w]`` at the
    layer's resolution, raw (signed by default; ``relu=True`` keeps the positive part).

    Where Grad-CAM averages the gradient over positions before weighting the maps, HiResCAM
    multiplies gradient and activation element by element. For a network whose score is one
    linear layer of the layer's maps, ``S_c = sum_{k,x,y} W[c, k, x, y] A_k(x, y) + b_c``, the
    gradient is W itself, so the map's sum is exactly ``S_c - b_c``: every position gets its own
    contribution. On a GAP network explained at its last maps ``W = w^c_k / Z`` at every position,
    so HiResCAM is ``M_c / Z`` (notebook 04). pytorch-grad-cam's ``HiResCAM`` returns the ReLU of
    the same sum, min-max scaled and resized.
    """
    check_flag(relu, "relu")
    activations, gradients, _ = activations_and_gradients(model, layer, images, classes, "hirescam", reshape)
    maps = (gradients * activations).sum(dim=1)
    return maps.clamp_min(0) if relu else maps


def layercam(
    model: nn.Module,
    images: torch.Tensor,
    classes=None,
    *,
    layer: nn.Module | str,
    relu: bool = True,
    reshape=None,
) -> torch.Tensor:
    """LayerCAM (Jiang et al., IEEE TIP 2021): ``ReLU(sum_k ReLU(dS_c/dA_k) * A_k)``, ``[B, h, w]`` at
    the layer's resolution, raw.

    The positive gradient weighs each position of each map on its own, a *spatial* weight where
    Grad-CAM has one weight per channel; at early layers, whose gradients change from place to
    place, that keeps the fine detail Grad-CAM averages away. pytorch-grad-cam's ``LayerCAM``
    computes the same sum (then ReLU, min-max scaling and resizing).
    """
    check_flag(relu, "relu")
    activations, gradients, _ = activations_and_gradients(model, layer, images, classes, "layercam", reshape)
    maps = (gradients.clamp_min(0) * activations).sum(dim=1)
    return maps.clamp_min(0) if relu else maps


def score_cam(
    model: nn.Module,
    images: torch.Tensor,
    classes=None,
    *,
    layer: nn.Module | str,
    batch_size: int = 64,
    progress: bool = False,
) -> torch.Tensor:
    """Score-CAM (Wang et al., CVPRW 2020), pytorch-grad-cam's variant: ``[B, H, W]`` float32 in [0, 1].

    1. One forward pass records the layer's maps ``A_k`` ``[B, K, h, w]`` and the classes.
    2. Each map, upsampled to the image (bilinear with corners aligned, as their
       ``UpsamplingBilinear2d``) and min-max scaled, masks the image: ``x * A_k``.
    3. The class score (logit) of every masked image -- ``B * K`` forward passes, ``batch_size``
       at a time -- softmaxed over k, weighs the maps: ``L = ReLU(sum_k s_k A_k)``.
    4. As their ``scale_cam_image``: min-max scaled, resized to the image (bilinear), scaled again.

    No gradient is needed. ``tests/library/test_attribution.py`` compares it with ``pytorch_grad_cam.ScoreCAM``
    (a test-only reference): the largest difference is below 1e-5 on maps in [0, 1].
    """
    check_images(images, model)
    module, name = resolve_layer(model, layer)
    batch_size = check_int(batch_size, "batch_size", 1)
    check_flag(progress, "progress")
    with eval_mode(model), torch.no_grad():
        with ActivationCapture(module, name, start_recording=False) as capture:
            targets = target_classes(run_model(model, images), classes)
        maps = capture.result().detach()
        masks = normalize_cams(nn.functional.interpolate(maps, size=images.shape[-2:], mode="bilinear",
                                                         align_corners=True), "minmax")
        b, k = maps.shape[:2]
        scores = torch.empty(b * k, device=maps.device, dtype=maps.dtype)
        for start in progress_bar(range(0, b * k, batch_size), "Score-CAM", progress):
            pair = torch.arange(start, min(start + batch_size, b * k), device=maps.device)
            image, channel = pair // k, pair % k  # one masked image per (image, channel) pair
            logits = run_model(model, images[image] * masks[image, channel][:, None])
            scores[pair] = logits.gather(1, targets[image][:, None]).squeeze(1).to(scores.dtype)
        cams = torch.einsum("bk,bkhw->bhw", scores.view(b, k).softmax(dim=1), maps).clamp_min(0)
        cams = upsample_cams(normalize_cams(cams, "minmax"), tuple(images.shape[-2:]))
    return normalize_cams(cams, "minmax").float()


# --- gradients with respect to the pixels ----------------------------------------------------


def _input_gradients(model: nn.Module, images: torch.Tensor, classes, function: str) -> torch.Tensor:
    """dS_c / dx ``[B, C, H, W]``: gradients go to a copy of the pixels only."""
    check_grad_mode(function)
    check_images(images, model)
    pixels = images.detach().requires_grad_(True)
    with eval_mode(model):
        logits = run_model(model, pixels)
        targets = target_classes(logits, classes)
        (gradients,) = torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), pixels)
    return gradients


def gradient_map(model: nn.Module, images: torch.Tensor, classes=None) -> torch.Tensor:
    """Vanilla gradient (Simonyan et al., ICLR workshop 2014): ``max_c |dS_c / dx_c(i, j)|``,
    the maximum over input channels of the absolute gradient, ``[B, H, W]``."""
    return _input_gradients(model, images, classes, "gradient_map").abs().amax(dim=1)


def gradient_x_input(model: nn.Module, images: torch.Tensor, classes=None) -> torch.Tensor:
    """Gradient x input, ``sum_c x_c(i, j) * dS_c / dx_c(i, j)``, ``[B, H, W]``: signed, summed
    over input channels. For a linear model S_c = w . x + b the map sums to S_c - b exactly."""
    return (_input_gradients(model, images, classes, "gradient_x_input") * images.detach()).sum(dim=1)


def guided_backprop_map(model: nn.Module, images: torch.Tensor, classes=None) -> torch.Tensor:
    """``camlib.methods.gradcam.guided_backprop`` reduced as the vanilla gradient: ``max_c |.|``, ``[B, H, W]``."""
    return guided_backprop(model, images, classes).abs().amax(dim=1)


# --- occlusion --------------------------------------------------------------------------------


def _starts(size: int, patch: int, stride: int) -> list[int]:
    """Patch origins 0, stride, 2 stride, ... and always size - patch, so every pixel is covered."""
    starts = list(range(0, size - patch + 1, stride))
    return starts if starts[-1] == size - patch else [*starts, size - patch]


def occlusion_masks(height: int, width: int, patch=8, stride=4) -> torch.Tensor:
    """Boolean masks ``[P, H, W]`` of the occluding patches, row by row (see ``occlusion``)."""
    (ph, pw), (sh, sw) = check_size(patch, "patch"), check_size(stride, "stride")
    if ph > height or pw > width:
        raise ValueError(f"the patch {ph}x{pw} is larger than the {height}x{width} images: pass a smaller patch")
    if sh > ph or sw > pw:
        raise ValueError(f"stride {sh}x{sw} exceeds the patch {ph}x{pw}: pixels between patches would never be "
                         "occluded; use a stride at most the patch size")
    rows, cols = _starts(height, ph, sh), _starts(width, pw, sw)
    masks = torch.zeros(len(rows) * len(cols), height, width, dtype=torch.bool)
    for index, (top, left) in enumerate((top, left) for top in rows for left in cols):
        masks[index, top:top + ph, left:left + pw] = True
    return masks


def occlusion(
    model: nn.Module,
    images: torch.Tensor,
    classes=None,
    *,
    patch: int | tuple[int, int] = 8,
    stride: int | tuple[int, int] = 4,
    baseline: float = 0.0,
    chunk_size: int = 256,
    progress: bool = False,
) -> torch.Tensor:
    """Occlusion sensitivity (Zeiler & Fergus, ECCV 2014), ``[B, H, W]``.

    A ``patch`` (all channels) slides over each image by ``stride``, replaced by the value
    ``baseline``; the map at a pixel is the drop of the class score, S_c(x) - S_c(x occluded),
    averaged over the patches that cover it. Patches start at 0, stride, 2 stride, ... and
    one more flush with the far border when the stride does not reach it; with a stride of at
    most the patch size (required) every pixel is covered. Positive values: occluding there
    lowers the score. No gradients are needed. The (image, patch) pairs run through the model
    ``chunk_size`` at a time (on the CPU with its conv weights in channels_last meanwhile, as
    ``camlib.metrics.faithfulness`` does).
    """
    check_images(images, model)
    if isinstance(baseline, bool) or not isinstance(baseline, Real) or not math.isfinite(baseline):
        raise ValueError(f"baseline={baseline!r} must be a finite number: the value occluded pixels get")
    chunk_size = check_int(chunk_size, "chunk_size", 1)
    check_flag(progress, "progress")
    masks = occlusion_masks(images.shape[-2], images.shape[-1], patch, stride).to(images.device)
    weights = masks.to(images.dtype)
    with torch.no_grad(), eval_mode(model), channels_last_on_cpu(model, images):
        logits = run_model(model, images)
        targets = target_classes(logits, classes)
        base = logits.gather(1, targets[:, None]).squeeze(1)
        total = images.new_zeros(images.shape[0], *images.shape[-2:])
        pairs = images.shape[0] * masks.shape[0]
        for start in progress_bar(range(0, pairs, chunk_size), "occlusion", progress):
            index = torch.arange(start, min(start + chunk_size, pairs), device=images.device)
            image, patch_index = index // masks.shape[0], index % masks.shape[0]
            occluded = torch.where(masks[patch_index, None], baseline, images[image])
            scores = run_model(model, occluded).gather(1, targets[image, None]).squeeze(1)
            total.index_add_(0, image, (base[image] - scores)[:, None, None] * weights[patch_index])
    return total / weights.sum(dim=0)


# --- baselines that know nothing --------------------------------------------------------------


def random_map(images: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
    """Uniform noise in [0, 1), ``[B, H, W]``, from ``torch.Generator().manual_seed(seed)`` on the
    CPU (the same numbers on every device; the global random stream is untouched)."""
    check_images(images)
    if isinstance(seed, bool) or not isinstance(seed, Integral):
        raise ValueError(f"seed must be an int, got {seed!r}")
    generator = torch.Generator().manual_seed(int(seed))
    noise = torch.rand(images.shape[0], *images.shape[-2:], generator=generator, dtype=torch.float64)
    return noise.to(device=images.device, dtype=images.dtype)


def gaussian_map(images: torch.Tensor, *, sigma: float = 0.25) -> torch.Tensor:
    """A centred Gaussian, the same for every image, ``[B, H, W]``, peak value 1 at the centre.

    ``exp(-((y - H/2)^2 / (2 (sigma H)^2) + (x - W/2)^2 / (2 (sigma W)^2)))`` at the pixel centres
    y = i + 0.5, x = j + 0.5: ``sigma`` is a fraction of the height and of the width. It encodes
    only the photographer's bias to centre objects.
    """
    check_images(images)
    if isinstance(sigma, bool) or not isinstance(sigma, Real) or not 0 < sigma < math.inf:
        raise ValueError(f"sigma={sigma!r} must be a positive fraction of the image size, e.g. 0.25")
    height, width = images.shape[-2:]
    ys = (torch.arange(height, dtype=torch.float64) + 0.5 - height / 2) / (sigma * height)
    xs = (torch.arange(width, dtype=torch.float64) + 0.5 - width / 2) / (sigma * width)
    bump = torch.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / 2)
    return bump.expand(images.shape[0], height, width).to(device=images.device, dtype=images.dtype).clone()


# --- one entry point --------------------------------------------------------------------------


_RUNNERS: dict[str, tuple[Callable, tuple[str, ...]]] = {
    "cam": (lambda model, images, classes, layer, **o: cam_map(model, images, classes, **o), ("relu",)),
    "grad_cam": (lambda model, images, classes, layer, **o: grad_cam_map(model, images, classes, layer=layer, **o),
                 ("relu", "reshape")),
    "grad_cam_pp": (lambda model, images, classes, layer, **o:
                    grad_cam_plus_plus(model, images, classes, layer=layer, **o), ("relu", "eps", "reshape")),
    "hirescam": (lambda model, images, classes, layer, **o: hirescam(model, images, classes, layer=layer, **o),
                 ("relu", "reshape")),
    "layercam": (lambda model, images, classes, layer, **o: layercam(model, images, classes, layer=layer, **o),
                 ("relu", "reshape")),
    "score_cam": (lambda model, images, classes, layer, **o: score_cam(model, images, classes, layer=layer, **o),
                  ("batch_size", "progress")),
    "gradient": (lambda model, images, classes, layer: gradient_map(model, images, classes), ()),
    "gradient_x_input": (lambda model, images, classes, layer: gradient_x_input(model, images, classes), ()),
    "guided_backprop": (lambda model, images, classes, layer: guided_backprop_map(model, images, classes), ()),
    "occlusion": (lambda model, images, classes, layer, **o: occlusion(model, images, classes, **o),
                  ("patch", "stride", "baseline", "chunk_size", "progress")),
    "random": (lambda model, images, classes, layer, **o: random_map(images, **o), ("seed",)),
    "gaussian": (lambda model, images, classes, layer, **o: gaussian_map(images, **o), ("sigma",)),
}


def attribution_maps(
    method: str,
    model: nn.Module,
    images: torch.Tensor,
    classes: torch.Tensor | Sequence[int] | None = None,
    *,
    layer: nn.Module | str | None = None,
    **options,
) -> torch.Tensor:
    """Image-size maps ``[B, H, W]`` of any method in ``METHODS``, in the images' dtype.

    ``layer`` is needed by ``grad_cam``, ``grad_cam_pp`` and ``score_cam`` and ignored by the
    others (CAM reads the maps that feed the GAP head; ``random`` and ``gaussian`` ignore the
    model and the classes too). CAM-family maps are upsampled bilinearly (``align_corners=False``);
    nothing is normalized. ``options`` go to the method's function (e.g. ``relu=False`` for
    Grad-CAM, ``patch=7`` for occlusion, ``seed=3`` for random); an option the method does not
    take is an error that lists the ones it does.
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {list(METHODS)}")
    runner, accepted = _RUNNERS[method]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(f"method {method!r} takes no option {unknown}; its options are {list(accepted) or 'none'}")
    if method in LAYER_METHODS and layer is None:
        raise ValueError(f"method {method!r} weighs the maps of a layer: pass layer=... (its dotted name, e.g. "
                         "'features' for camlib's GAPNet or 'layer4' for a torchvision ResNet)")
    check_images(images)
    maps = runner(model, images, classes, layer, **options)
    if maps.shape[-2:] != images.shape[-2:]:
        maps = upsample_cams(maps, tuple(images.shape[-2:]))
    return maps.detach().to(images.dtype)
