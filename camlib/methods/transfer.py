"""Generic localizable features (Zhou et al., CVPR 2016, Sec. 4): a frozen GAP network's
features, a linear model fitted for a *new* task, and the CAMs of that model.

A GAP network's penultimate layer is ``F_k = mean over (x, y) of f_k(x, y)``. Fit any linear
model on those features -- the paper trains a linear SVM -- and its decision value for class c
is ``s_c = sum_k w_k^c F_k + b_c``. Because the mean is linear, the same weights give a map,

    M_c(x, y) = sum_k w_k^c f_k(x, y),    s_c = mean over (x, y) of M_c + b_c,

a CAM of a class the network never saw. This module holds the two pieces notebook 06 reuses:

* ``gap_features`` -- the maps ``f_k`` and/or the features ``F_k`` of a frozen network, in
  batches, without gradients, in eval mode (the network's train/eval flag is restored);
* ``linear_weights`` / ``linear_cams`` -- the ``[C, K]`` weights and ``[C]`` intercepts of a
  linear model (a tensor, or a fitted scikit-learn model with ``coef_`` / ``intercept_``, or a
  ``Pipeline`` of ``StandardScaler`` and such a model, whose scaling is folded into the weights),
  and the CAMs they give.

The network must expose ``forward_with_maps(images) -> (logits, maps)`` (``camlib.models.GAPNet``,
``VGG16GAP``) or be a torchvision GAP classifier that ``camlib.methods.cam.find_gap_head`` reads
(ResNet, GoogLeNet, DenseNet).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from camlib._checks import check_device, check_int
from camlib._guards import check_images, eval_mode, hooks
from camlib.methods.cam import class_activation_maps, find_gap_head

__all__ = ["Features", "LinearWeights", "gap_features", "linear_cams", "linear_weights"]


class Features(NamedTuple):
    features: torch.Tensor  # [N, K]: F_k, the global average of each map
    labels: torch.Tensor | None  # [N] when the data gave labels, else None
    maps: torch.Tensor | None  # [N, K, h, w] when keep_maps=True, else None


class LinearWeights(NamedTuple):
    weight: torch.Tensor  # [C, K] float64
    bias: torch.Tensor  # [C] float64


def _maps_reader(model: nn.Module):
    """A function images -> maps [B, K, h, w] for ``model``."""
    if callable(getattr(model, "forward_with_maps", None)):
        return lambda images: model.forward_with_maps(images)[1]
    module, where, _ = find_gap_head(model)  # TypeError with advice when there is no GAP head
    caught: list[torch.Tensor] = []

    def hook(_module, inputs, output):
        caught.append(inputs[0] if where == "input" else torch.relu(output))

    def read(images):
        caught.clear()
        with hooks([(module, hook)]):
            model(images)
        return caught[0]

    return read


def _batches(data, batch_size: int) -> Iterable[tuple[torch.Tensor, torch.Tensor | None]]:
    """``(images, labels or None)`` batches from a tensor of images, a data set of
    ``(image, label)`` items, or any iterable of ``(images, labels)`` batches (a DataLoader)."""
    if isinstance(data, torch.Tensor):
        if data.dim() != 4:
            raise ValueError(f"images must be [N, C, H, W], got shape {list(data.shape)}")
        for start in range(0, len(data), batch_size):
            yield data[start : start + batch_size], None
    elif hasattr(data, "__getitem__") and hasattr(data, "__len__") and not isinstance(data, (list, tuple)):
        loader = torch.utils.data.DataLoader(data, batch_size=batch_size)
        yield from ((images, labels) for images, labels in loader)
    elif isinstance(data, Iterable):
        for batch in data:
            images, labels = batch if isinstance(batch, (list, tuple)) else (batch, None)
            yield images, labels
    else:
        raise TypeError(f"data must be images [N, C, H, W], a data set of (image, label) or a DataLoader; "
                        f"got {type(data).__name__}")


@torch.no_grad()
def gap_features(
    model: nn.Module,
    data,
    *,
    batch_size: int = 64,
    keep_maps: bool = False,
    device: torch.device | str | None = None,
) -> Features:
    """The GAP features ``F_k`` (and, with ``keep_maps``, the maps ``f_k``) of a frozen network.

    Args:
        model: a GAP network (see the module docstring); it is run in eval mode, its flag restored.
        data: images ``[N, C, H, W]``, a data set of ``(image, label)`` items, or a DataLoader.
        batch_size: images per forward pass (ignored for a DataLoader); 64 keeps a 64×64 canvas batch
            under 100 MB of activations.
        keep_maps: also return the maps ``[N, K, h, w]`` (on the CPU).
        device: where the network runs (default: where its parameters are).

    Returns:
        ``Features(features [N, K], labels [N] or None, maps or None)``, float32, on the CPU.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch nn.Module (a GAP network), got {type(model).__name__}")
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    parameter = next(model.parameters(), None)
    device = (parameter.device if parameter is not None else torch.device("cpu")) if device is None \
        else check_device(device)
    read = _maps_reader(model)
    features, labels, maps = [], [], []
    with eval_mode(model):
        for images, batch_labels in _batches(data, batch_size):
            images = images.to(device)
            check_images(images, model)  # uint8 or NaN pixels: a one-line error, whatever network reads them
            batch_maps = read(images)
            features.append(batch_maps.mean(dim=(2, 3)).float().cpu())
            if batch_labels is not None:
                labels.append(torch.as_tensor(batch_labels).cpu())
            if keep_maps:
                maps.append(batch_maps.float().cpu())
    if not features:
        raise ValueError("data holds no image: there are no features to extract")
    return Features(
        features=torch.cat(features),
        labels=torch.cat(labels) if labels else None,
        maps=torch.cat(maps) if keep_maps else None,
    )


def linear_weights(model, bias=None) -> LinearWeights:
    """``[C, K]`` weights and ``[C]`` intercepts of a linear model, as float64 tensors.

    ``model`` is a weight (tensor or array, ``[C, K]``, or ``[K]`` for one class), an
    ``nn.Linear``, a fitted scikit-learn linear model (``coef_``, ``intercept_``: ``LinearSVC``,
    ``LogisticRegression``, ``RidgeClassifier``, ...), or a ``Pipeline`` ending in one, whose
    ``StandardScaler`` steps are folded in: with ``z = (F - mu) / sigma``,
    ``w . z + b = (w / sigma) . F + (b - w . mu / sigma)``. A binary scikit-learn model has one
    row: the decision value of its second class, ``classes_[1]``.
    """
    if hasattr(model, "steps"):  # sklearn.pipeline.Pipeline
        *scalers, (_, last) = model.steps
        _no_bias_beside(model, bias)
        return _fold_scalers(scalers, linear_weights(last))
    if isinstance(model, nn.Linear):
        _no_bias_beside(model, bias)
        weight, intercept = model.weight, model.bias
    elif hasattr(model, "coef_"):
        _no_bias_beside(model, bias)
        _check_one_row_per_class(model)
        weight, intercept = model.coef_, getattr(model, "intercept_", None)
    elif model is None or isinstance(model, (str, bytes)):
        raise TypeError(f"model must be a weight [C, K], an nn.Linear or a fitted linear model, got {model!r}")
    elif hasattr(model, "fit") and hasattr(model, "predict"):  # a scikit-learn model without coef_
        raise TypeError(f"{type(model).__name__} has no coef_: it is not fitted yet (fit it first), or it is not "
                        "linear (only a linear model's decision is a sum over features, and so has CAMs)")
    else:
        weight, intercept = model, bias
    weight = _float64_copy(weight)
    if weight.dim() == 1:
        weight = weight[None]
    if weight.dim() != 2:
        raise ValueError(f"the weight must be [C, K] (classes, features), got shape {list(weight.shape)}")
    if intercept is None:
        intercept = torch.zeros(weight.shape[0], dtype=torch.float64)
    else:
        intercept = _float64_copy(intercept).reshape(-1)
        if intercept.numel() == 1 and weight.shape[0] > 1:
            intercept = intercept.expand(weight.shape[0]).clone()
    if intercept.shape != (weight.shape[0],):
        raise ValueError(f"the intercepts must be one per class, [{weight.shape[0]}]; "
                         f"got shape {list(intercept.shape)}")
    if not (torch.isfinite(weight).all() and torch.isfinite(intercept).all()):
        raise ValueError("the linear model's weights or intercepts hold NaN or infinite values: was it fitted?")
    return LinearWeights(weight, intercept)


def _float64_copy(values) -> torch.Tensor:
    """A float64 CPU tensor that shares no memory with ``values`` (normalizing it in place must not
    change the classifier), read from a tensor, an array (read-only ones too) or nested numbers."""
    if isinstance(values, torch.Tensor):
        return values.detach().to("cpu", torch.float64, copy=True)
    try:
        return torch.from_numpy(np.array(values, dtype=np.float64, copy=True))
    except (TypeError, ValueError) as error:
        raise TypeError(f"a weight must be numbers (a tensor, an array, a fitted linear model), got "
                        f"{type(values).__name__}: {error}") from None


def _no_bias_beside(model, bias) -> None:
    if bias is not None:
        raise ValueError(f"bias= is for a bare weight tensor; a {type(model).__name__} carries its own intercepts: "
                         "leave bias out")


def _check_one_row_per_class(model) -> None:
    """Refuse coefficients that are not one row per class: SVC(kernel="linear") fits one classifier per
    *pair* of classes (one-vs-one), and its coef_ rows are those pairs."""
    classes = getattr(model, "classes_", None)
    rows = np.shape(model.coef_)[0] if np.ndim(model.coef_) == 2 else 1
    libsvm = hasattr(model, "decision_function_shape")  # SVC, NuSVC: one-vs-one for any number of classes > 2
    if classes is not None and len(classes) > 2 and (libsvm or rows != len(classes)):
        raise ValueError(f"{type(model).__name__} has {rows} rows of coefficients for {len(classes)} classes: it "
                         "fits one classifier per pair of classes (one-vs-one), so no row is a class's weights. Use "
                         "sklearn.svm.LinearSVC (one-vs-rest: one row per class) or LogisticRegression")


def _fold_scalers(scalers, linear: LinearWeights) -> LinearWeights:
    """The weights on raw features of ``linear`` fitted after the ``StandardScaler`` steps ``scalers``."""
    weight, intercept = linear
    for name, step in reversed(scalers):
        if type(step).__name__ != "StandardScaler":
            raise TypeError(f"pipeline step {name!r} is a {type(step).__name__}: only StandardScaler steps "
                            "can be folded into a linear model's weights")
        mean = torch.as_tensor(step.mean_ if step.with_mean else 0.0, dtype=torch.float64)
        scale = torch.as_tensor(step.scale_ if step.with_std else 1.0, dtype=torch.float64)
        weight = weight / scale
        intercept = intercept - (weight * mean).sum(dim=1)
    return LinearWeights(weight, intercept)


def linear_cams(maps: torch.Tensor, model, bias=None) -> torch.Tensor:
    """CAMs ``M_c = sum_k w_k^c f_k`` of a linear model fitted on the GAP features of ``maps``.

    Args:
        maps: ``[B, K, h, w]`` the frozen network's maps (``gap_features(..., keep_maps=True)``).
        model, bias: anything ``linear_weights`` reads.

    Returns:
        ``[B, C, h, w]`` in float64. The model's decision value is the mean of each map plus its
        intercept: ``linear_cams(maps, m).mean((2, 3)) + linear_weights(m).bias``.
    """
    weight, _ = linear_weights(model, bias)
    if not isinstance(maps, torch.Tensor) or maps.dim() != 4:
        shape = list(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
        raise ValueError(f"maps must be a [B, K, h, w] tensor (gap_features(..., keep_maps=True).maps), got {shape}")
    if maps.shape[1] != weight.shape[1]:
        raise ValueError(
            f"the maps have K={maps.shape[1]} channels but the linear model was fitted on {weight.shape[1]} "
            "features: fit it on gap_features of the same network (one feature per channel)"
        )
    return class_activation_maps(maps.double(), weight.to(maps.device))
