"""Class activation maps (Zhou et al., CVPR 2016, eq. 2).

For last-layer conv maps f_k(x, y) and linear weights w^c_k, the CAM of class c is

    M_c(x, y) = sum_k w^c_k f_k(x, y).

With global average pooling F_k = (1/Z) sum_{x,y} f_k(x, y) over Z = h*w positions, the
class score S_c = sum_k w^c_k F_k + b_c equals (1/Z) sum_{x,y} M_c(x, y) + b_c.

``class_activation_maps`` returns the raw M_c: no ReLU, no normalization, no resizing.
Those are separate, explicit steps (``upsample_cams``, ``normalize_cams``), and
``compute_cams`` chains them after a single forward pass of a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import DenseNet

from camlib._checks import LOW_PRECISION, as_class_indices, check_eps, check_finite, check_number, check_size
from camlib._guards import check_images, check_logits, check_model, eval_mode, explained_errors, hooks, run_model

NORMALIZATIONS = (None, "max", "minmax")
"""The ``normalize=`` modes of ``normalize_cams`` and ``compute_cams``."""


def class_activation_maps(
    features: torch.Tensor, weight: torch.Tensor, classes: torch.Tensor | Sequence[int] | None = None
) -> torch.Tensor:
    """Raw CAMs M_c(x, y) = sum_k w^c_k f_k(x, y).

    Args:
        features: last conv maps f_k, shape ``[B, K, h, w]``.
        weight: linear layer weight w^c_k, shape ``[C, K]`` (``nn.Linear.weight``).
        classes: ``None`` for the maps of every class, or one class index per image (``[B]``).

    Returns:
        ``[B, C, h, w]`` when ``classes`` is None, else ``[B, h, w]``.
    """
    if not isinstance(features, torch.Tensor) or not isinstance(weight, torch.Tensor):
        raise TypeError(f"features and weight must be torch tensors, got {type(features).__name__} and "
                        f"{type(weight).__name__}; convert with torch.as_tensor(...)")
    if features.dim() != 4:
        raise ValueError(
            f"features must be [B, K, h, w] (batch, channels, height, width); got shape "
            f"{list(features.shape)}. For a single image use features.unsqueeze(0)."
        )
    if weight.dim() != 2:
        raise ValueError(f"weight must be [C, K] (classes, channels), got shape {list(weight.shape)}")
    batch, channels = features.shape[:2]
    num_classes = weight.shape[0]
    if weight.shape[1] != channels:
        raise ValueError(
            f"features have K={channels} channels (shape {list(features.shape)}) but the weight "
            f"expects K={weight.shape[1]} (shape {list(weight.shape)}): pass the weight of the "
            "linear layer that follows these maps"
        )
    if not features.is_floating_point() or features.dtype != weight.dtype or features.device != weight.device:
        raise ValueError(
            f"features ({features.dtype} on {features.device}) and weight ({weight.dtype} on {weight.device}) "
            "must be floating point, of one dtype, on one device: e.g. features.to(weight)"
        )
    if classes is None:
        cams = torch.einsum("bkhw,ck->bchw", features, weight)
    else:
        classes = as_class_indices(classes, batch, num_classes).to(weight.device)
        cams = torch.einsum("bkhw,bk->bhw", features, weight[classes])
    if not torch.isfinite(cams).all():  # NaN or inf in an input, or a sum too large for the dtype
        check_finite(features, "the features")
        check_finite(weight, "the linear layer's weights")
        raise ValueError(f"the CAMs overflow {cams.dtype} (values beyond {torch.finfo(cams.dtype).max:.3g}): "
                         "scale the features down or compute in float64 (features.double(), weight.double())")
    return cams


def finer_cams(features: torch.Tensor, weight: torch.Tensor, classes, similar, gamma: float = 1.0) -> torch.Tensor:
    """Finer-CAM (Zhang et al., CVPR 2025, arXiv 2501.11309): the map of ``y_c - gamma * y_d``, which
    explains what tells class ``c`` apart from a similar class ``d``. A CAM is linear in the
    classifier's row, so it is exactly ``M_c - gamma * M_d``, ``[B, h, w]`` (raw, signed). On a GAP
    network, Grad-CAM of ``y_c - gamma * y_d`` is its ReLU divided by Z, which is what
    pytorch-grad-cam's ``FinerCAM`` computes with one comparison class.

    Args: ``features`` ``[B, K, h, w]``, ``weight`` ``[C, K]`` as in :func:`class_activation_maps`;
    ``classes`` and ``similar``: one class per image each; ``gamma``: a finite number (1 in the paper).
    """
    check_number(gamma, "gamma", "e.g. 1.0")
    return class_activation_maps(features, weight, classes) - gamma * class_activation_maps(features, weight, similar)


def upsample_cams(cams: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (``align_corners=False``) of ``[B, h, w]`` or ``[B, C, h, w]`` maps."""
    if not isinstance(cams, torch.Tensor):
        raise TypeError(f"cams must be a torch tensor, got {type(cams).__name__}")
    if cams.dim() not in (3, 4):
        raise ValueError(f"cams must be [B, h, w] or [B, C, h, w], got shape {list(cams.shape)}")
    if not cams.is_floating_point():
        raise ValueError(f"cams must be floating point to be interpolated, got {cams.dtype}: use cams.float()")
    size = check_size(size, "size")
    if cams.shape[0] == 0 or (cams.dim() == 4 and cams.shape[1] == 0):
        return cams.new_zeros(*cams.shape[:-2], *size)  # nothing to resize
    if 0 in cams.shape[-2:]:
        raise ValueError(f"cams of shape {list(cams.shape)} have no pixel to interpolate: h and w must be at least 1")
    check_finite(cams, "the maps")
    grid = cams if cams.dim() == 4 else cams.unsqueeze(1)
    try:
        grid = F.interpolate(grid, size=size, mode="bilinear", align_corners=False)
    except RuntimeError as error:  # e.g. a size too large for the memory
        raise ValueError(f"cannot resize maps of shape {list(cams.shape)} to {size}: "
                         f"{str(error).strip().splitlines()[0]}") from error
    return grid if cams.dim() == 4 else grid.squeeze(1)


def normalize_cams(cams: torch.Tensor, mode: str | None, eps: float = 1e-8) -> torch.Tensor:
    """Rescale each map over its last two dimensions.

    ``None`` leaves the maps as they are; ``"max"`` divides by each map's maximum (the
    paper's "20 % of max" reads such maps); ``"minmax"`` maps each map onto [0, 1].

    Degenerate maps: a map whose range (``"minmax"``) or maximum (``"max"``) is at most
    ``eps`` is constant for this purpose and becomes 0. ``"max"`` is meant for maps whose
    maximum is positive (Grad-CAM, ``cams.clamp_min(0)``): a map with negative values and no
    positive maximum cannot be scaled by it, and is refused with a ``ValueError``.
    float16 and bfloat16 maps are scaled in float32 (``eps`` would underflow) and returned in
    their own dtype.
    """
    if mode not in NORMALIZATIONS:
        raise ValueError(f"normalize={mode!r}: use one of {NORMALIZATIONS}")
    if not isinstance(cams, torch.Tensor):
        raise TypeError(f"cams must be a torch tensor, got {type(cams).__name__}")
    eps = check_eps(eps)
    if mode is None:
        return cams
    if cams.dim() < 2:
        raise ValueError(f"cams must have at least two (spatial) dimensions, got shape {list(cams.shape)}")
    if cams.is_complex():
        raise TypeError(f"cams must hold real numbers, got {cams.dtype}")
    if cams.numel() == 0:
        return cams.float() if not cams.is_floating_point() else cams
    check_finite(cams, "the maps")
    work = cams.float() if cams.dtype in LOW_PRECISION or not cams.is_floating_point() else cams
    top = work.amax(dim=(-2, -1), keepdim=True)
    if mode == "max":
        _refuse_maps_without_positive_maximum(work, top, eps)
        scaled = torch.where(top > eps, work / top.clamp_min(eps), torch.zeros_like(work))
    else:
        bottom = work.amin(dim=(-2, -1), keepdim=True) / 2  # halves: the range of maps near +-3e38 would be inf
        spread = top / 2 - bottom
        scaled = torch.where(spread > eps / 2, (work / 2 - bottom) / spread.clamp_min(eps / 2), torch.zeros_like(work))
    return scaled.to(cams.dtype) if cams.is_floating_point() else scaled


def _refuse_maps_without_positive_maximum(work: torch.Tensor, top: torch.Tensor, eps: float) -> None:
    bottom = work.amin(dim=(-2, -1), keepdim=True)
    bad = (top <= eps) & (bottom < -eps)
    if bad.any():
        raise ValueError(
            f"normalize='max' divides each map by its maximum, but {int(bad.sum())} of {bad.numel()} maps have "
            "negative values and no positive maximum. Use 'minmax', or keep the positive evidence first "
            "(cams.clamp_min(0), as Grad-CAM's ReLU does)."
        )


class CAMOutput(NamedTuple):
    logits: torch.Tensor  # [B, C]
    cams: torch.Tensor  # [B, C, H, W] for all classes, [B, H, W] for one class per image


def _is_global_average_pool(module: nn.Module | None) -> bool:
    return isinstance(module, nn.AdaptiveAvgPool2d) and module.output_size in (1, (1, 1), [1, 1])


def _generic_gap_head(model: nn.Module) -> tuple[nn.Module, str, nn.Linear] | None:
    """The last global average pool, when exactly one ``nn.Linear`` is registered after it."""
    modules = list(model.modules())
    pools = [i for i, module in enumerate(modules) if _is_global_average_pool(module)]
    if not pools:
        return None
    linears = [module for module in modules[pools[-1] + 1:] if isinstance(module, nn.Linear)]
    return (modules[pools[-1]], "input", linears[0]) if len(linears) == 1 else None


def find_gap_head(model: nn.Module) -> tuple[nn.Module, str, nn.Linear]:
    """Where the last conv maps and the final linear layer of a GAP classifier are.

    Returns ``(module, "input" | "output", linear)``: the maps are the input of ``module``
    (the pooling layer of torchvision's ResNet and GoogLeNet, or the last
    ``nn.AdaptiveAvgPool2d(1)`` of any model with one ``nn.Linear`` after it, such as
    ``nn.Sequential(conv, ReLU, AdaptiveAvgPool2d(1), Flatten, Linear)``) or its output followed
    by a ReLU (DenseNet's ``features``, whose ReLU is applied in ``forward``, outside any module).
    ``compute_cams`` checks on every call that the logits are the linear layer applied to the
    mean of those maps, so a head read wrongly is an error, never a wrong map.
    """
    check_model(model)
    if _is_global_average_pool(getattr(model, "avgpool", None)) and isinstance(getattr(model, "fc", None), nn.Linear):
        return model.avgpool, "input", model.fc  # ResNet, GoogLeNet (eval-mode dropout in between)
    if isinstance(model, DenseNet):
        return model.features, "output", model.classifier
    found = _generic_gap_head(model)
    if found is not None:
        return found
    if hasattr(model, "grid") and hasattr(model, "prefix_tokens"):  # a token model, e.g. camlib.TinyViT
        raise TypeError(
            f"{type(model).__name__} is a vision transformer: it has tokens, not conv maps. Its exact CAM (for a head "
            "that averages the patch tokens) is camlib.compute_token_cams(model, images, classes); for any "
            "head, camlib.grad_cam(model, layer, images, reshape=camlib.token_reshape(model.grid, "
            "model.prefix_tokens))"
        )
    raise TypeError(
        f"{type(model).__name__} has no GAP + linear head that a CAM can read: CAM needs the last "
        "conv maps to be globally average-pooled into one linear layer (GAPNet, ResNet, GoogLeNet, "
        "DenseNet, or nn.AdaptiveAvgPool2d(1) followed by one nn.Linear). For networks that flatten "
        "their maps into fully connected layers (VGG16, AlexNet, FlattenFCNet) use camlib.grad_cam, "
        "or camlib.models.vgg16_gap for the paper's GAP version of VGG16."
    )


def _check_head_identity(model: nn.Module, logits: torch.Tensor, maps: torch.Tensor, linear: nn.Linear) -> None:
    """The logits must be ``linear(mean of the maps)``; else the hook read something else."""
    if maps.dim() != 4 or maps.shape[1] != linear.in_features:
        raise TypeError(
            f"{type(model).__name__}: the maps read before its pooling have shape {list(maps.shape)}, but its "
            f"linear layer takes {linear.in_features} features; use camlib.grad_cam on its last conv layer"
        )
    expected = F.linear(maps.mean(dim=(-2, -1)), linear.weight, linear.bias)
    tolerance = (2e-2 if logits.dtype in LOW_PRECISION else 1e-3) * max(1.0, float(expected.detach().abs().max()))
    if logits.shape != expected.shape or float((logits - expected).detach().abs().max()) > tolerance:
        raise TypeError(
            f"{type(model).__name__}'s logits are not its linear layer applied to the average of the maps "
            "the hook read (something else sits between pooling and the linear layer), so a CAM would "
            "not add up to its scores. Use camlib.grad_cam on its last conv layer instead."
        )


def _forward_with_maps(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(logits, last conv maps, linear weight) from one forward pass."""
    if hasattr(model, "forward_with_maps") and isinstance(getattr(model, "classifier", None), nn.Linear):
        with explained_errors(model, images):
            logits, maps = model.forward_with_maps(images)
        return check_logits(logits, images), maps, model.classifier.weight
    module, where, linear = find_gap_head(model)
    captured = []

    def keep(_module, inputs, output):
        captured.append(inputs[0] if where == "input" else torch.relu(output))

    with hooks([(module, keep)]):
        logits = run_model(model, images)
    if not captured:
        name = next(name for name, m in model.named_modules() if m is module) or type(module).__name__
        raise TypeError(
            f"{type(model).__name__}.{name} was never called during the forward pass: the model pools its "
            "maps some other way (e.g. F.adaptive_avg_pool2d in forward), so its maps cannot be read. "
            "Use camlib.grad_cam on its last conv layer (e.g. 'layer4' of a ResNet)."
        )
    _check_head_identity(model, logits, captured[-1], linear)
    return logits, captured[-1], linear.weight


def compute_cams(
    model: nn.Module,
    images: torch.Tensor,
    classes: torch.Tensor | Sequence[int] | str | None = None,
    *,
    size: str | int | tuple[int, int] | None = "input",
    normalize: str | None = None,
    eps: float = 1e-8,
) -> CAMOutput:
    """Logits and CAMs from one forward pass of a GAP network, in eval mode.

    Args:
        model: ``GAPNet`` (or any module with ``forward_with_maps`` and a linear
            ``classifier``), a torchvision ResNet, GoogLeNet or DenseNet, or any model whose
            last ``nn.AdaptiveAvgPool2d(1)`` feeds one ``nn.Linear``, read through a forward hook
            (``find_gap_head``). It runs in eval mode (BatchNorm's running statistics, no
            dropout, no statistics updated); its train/eval flags are restored afterwards.
        images: ``[B, C_in, H, W]``, float, on the model's device.
        classes: ``None`` (every class), ``"predicted"`` (the arg-max class of each image),
            or one index per image. With 1000 ImageNet classes,
            ``None`` means 1000 maps per image: ask for ``"predicted"`` or chosen classes.
        size: ``"input"`` upsamples to the images' ``(H, W)``; ``None`` keeps the map size;
            an int or ``(h, w)`` gives that size.
        normalize: ``None``, ``"max"`` or ``"minmax"``, applied after resizing (see
            ``normalize_cams``).

    Gradients follow the caller's mode: wrap the call in ``torch.no_grad()`` for inference.
    """
    check_images(images, model)
    if isinstance(classes, str) and classes != "predicted":
        raise ValueError(f"classes={classes!r}: use None, 'predicted' or one index per image")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize={normalize!r}: use one of {NORMALIZATIONS}")
    if size is not None and size != "input":
        size = check_size(size, "size")
    eps = check_eps(eps)
    with eval_mode(model):
        logits, maps, weight = _forward_with_maps(model, images)
    check_finite(maps, "the model's maps")
    if isinstance(classes, str):
        classes = logits.argmax(dim=1)
    cams = class_activation_maps(maps, weight, classes)
    if size is not None:
        cams = upsample_cams(cams, tuple(images.shape[-2:]) if size == "input" else size)
    return CAMOutput(logits, normalize_cams(cams, normalize, eps))
