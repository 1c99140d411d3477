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

NORMALIZATIONS = (None, "max", "minmax")


def _as_class_indices(classes, batch: int, num_classes: int) -> torch.Tensor:
    classes = torch.as_tensor(classes)
    if classes.dim() != 1 or classes.numel() != batch:
        raise ValueError(
            f"classes must be a 1-D tensor with one class index per image, shape [{batch}]; "
            f"got shape {list(classes.shape)}"
        )
    if classes.dtype.is_floating_point or classes.dtype == torch.bool:
        raise ValueError(f"classes must hold integer class indices, got dtype {classes.dtype}")
    if classes.numel() and (classes.min() < 0 or classes.max() >= num_classes):
        raise ValueError(
            f"class index out of range: classes hold values from {int(classes.min())} to "
            f"{int(classes.max())}, but the weight has {num_classes} classes (0..{num_classes - 1})"
        )
    return classes.long()


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
    if classes is None:
        return torch.einsum("bkhw,ck->bchw", features, weight)
    classes = _as_class_indices(classes, batch, num_classes).to(weight.device)
    return torch.einsum("bkhw,bk->bhw", features, weight[classes])


def upsample_cams(cams: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (``align_corners=False``) of ``[B, h, w]`` or ``[B, C, h, w]`` maps."""
    if cams.dim() not in (3, 4):
        raise ValueError(f"cams must be [B, h, w] or [B, C, h, w], got shape {list(cams.shape)}")
    grid = cams if cams.dim() == 4 else cams.unsqueeze(1)
    grid = F.interpolate(grid, size=size, mode="bilinear", align_corners=False)
    return grid if cams.dim() == 4 else grid.squeeze(1)


def normalize_cams(cams: torch.Tensor, mode: str | None, eps: float = 1e-8) -> torch.Tensor:
    """Rescale each map over its last two dimensions.

    ``None`` leaves the maps as they are; ``"max"`` divides by each map's maximum (the
    paper's "20 % of max" reads such maps; meant for maps whose maximum is positive);
    ``"minmax"`` maps each map onto [0, 1]. ``eps`` keeps constant maps finite (they become 0).
    """
    if mode not in NORMALIZATIONS:
        raise ValueError(f"normalize={mode!r}: use one of {NORMALIZATIONS}")
    if mode is None:
        return cams
    top = cams.amax(dim=(-2, -1), keepdim=True)
    if mode == "max":
        return cams / top.clamp_min(eps)
    bottom = cams.amin(dim=(-2, -1), keepdim=True)
    return (cams - bottom) / (top - bottom).clamp_min(eps)


class CAMOutput(NamedTuple):
    logits: torch.Tensor  # [B, C]
    cams: torch.Tensor  # [B, C, H, W] for all classes, [B, H, W] for one class per image


def _is_global_average_pool(module: nn.Module | None) -> bool:
    return isinstance(module, nn.AdaptiveAvgPool2d) and module.output_size in (1, (1, 1))


def find_gap_head(model: nn.Module) -> tuple[nn.Module, str, nn.Linear]:
    """Where the last conv maps and the final linear layer of a GAP classifier are.

    Returns ``(module, "input" | "output", linear)``: the maps are the input of ``module``
    (the pooling layer of torchvision's ResNet and GoogLeNet) or its output followed by a ReLU
    (DenseNet's ``features``, whose ReLU is applied in ``forward``, outside any module).
    """
    if _is_global_average_pool(getattr(model, "avgpool", None)) and isinstance(getattr(model, "fc", None), nn.Linear):
        return model.avgpool, "input", model.fc  # ResNet, GoogLeNet (eval-mode dropout in between)
    if isinstance(model, DenseNet):
        return model.features, "output", model.classifier
    raise TypeError(
        f"{type(model).__name__} has no GAP + linear head that a CAM can read: CAM needs the last "
        "conv maps to be globally average-pooled into one linear layer (GAPNet, ResNet, GoogLeNet, "
        "DenseNet). For networks that flatten their maps into fully connected layers (VGG16, "
        "AlexNet, FlattenFCNet) use camlib.gradcam.grad_cam, or camlib.models.vgg16_gap for the "
        "paper's GAP version of VGG16."
    )


def _forward_with_maps(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(logits, last conv maps, linear weight) from one forward pass."""
    if hasattr(model, "forward_with_maps") and isinstance(getattr(model, "classifier", None), nn.Linear):
        logits, maps = model.forward_with_maps(images)
        return logits, maps, model.classifier.weight
    module, where, linear = find_gap_head(model)
    captured = []

    def keep(_module, inputs, output):
        captured.append(inputs[0] if where == "input" else torch.relu(output))

    handle = module.register_forward_hook(keep)
    try:
        logits = model(images)
    finally:
        handle.remove()
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
    """Logits and CAMs from one forward pass of a GAP network.

    Args:
        model: ``GAPNet`` (or any module with ``forward_with_maps`` and a linear
            ``classifier``), or a torchvision ResNet, GoogLeNet or DenseNet, read through a
            forward hook (``find_gap_head``). Call ``model.eval()`` first.
        images: ``[B, C_in, H, W]``.
        classes: ``None`` (every class), ``"predicted"`` (the arg-max class of each image),
            or one index per image. With 1000 ImageNet classes, ``None`` means 1000 maps per
            image: ask for ``"predicted"`` or chosen classes.
        size: ``"input"`` upsamples to the images' ``(H, W)``; ``None`` keeps the map size;
            an int or ``(h, w)`` gives that size.
        normalize: ``None``, ``"max"`` or ``"minmax"``, applied after resizing (see
            ``normalize_cams``).

    Gradients follow the caller's mode: wrap the call in ``torch.no_grad()`` for inference.
    """
    if images.dim() != 4:
        raise ValueError(
            f"images must be [B, C, H, W], got shape {list(images.shape)}; "
            "for a single image use image.unsqueeze(0)"
        )
    logits, maps, weight = _forward_with_maps(model, images)
    if isinstance(classes, str):
        if classes != "predicted":
            raise ValueError(f"classes={classes!r}: use None, 'predicted' or one index per image")
        classes = logits.argmax(dim=1)
    cams = class_activation_maps(maps, weight, classes)
    if size is not None:
        cams = upsample_cams(cams, tuple(images.shape[-2:]) if size == "input" else size)
    return CAMOutput(logits, normalize_cams(cams, normalize, eps))
