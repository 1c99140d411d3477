"""Figures: a CAM over its image, one CAM per class, training curves.

Functions draw into matplotlib Axes or Figures and return them, so notebooks can show
them and widgets can render them to PNG.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from camlib.cam import upsample_cams


def image_to_numpy(image: torch.Tensor) -> np.ndarray:
    """``[C, H, W]`` or ``[H, W]`` tensor -> ``H x W`` (one channel) or ``H x W x 3`` array."""
    image = image.detach().float().cpu()
    if image.dim() == 3:
        image = image[0] if image.shape[0] == 1 else image.permute(1, 2, 0)
    if image.dim() not in (2, 3):
        raise ValueError(f"image must be [C, H, W] or [H, W], got shape {list(image.shape)}")
    return image.numpy()


def _cam_at_image_size(cam: torch.Tensor, image: np.ndarray) -> np.ndarray:
    cam = cam.detach().float().cpu()
    if tuple(cam.shape) != image.shape[:2]:
        cam = upsample_cams(cam[None], image.shape[:2])[0]
    return cam.numpy()


def overlay(
    image: torch.Tensor,
    cam: torch.Tensor,
    ax: Axes | None = None,
    *,
    alpha: float = 0.5,
    cmap: str = "jet",
    vmin: float | None = None,
    vmax: float | None = None,
    title: str | None = None,
) -> Axes:
    """Draw ``image`` in grey (or colour) with ``cam`` ([h, w], resized bilinearly) on top."""
    ax = ax or plt.gca()
    picture = image_to_numpy(image)
    ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None)
    ax.imshow(_cam_at_image_size(cam, picture), cmap=cmap, alpha=alpha, vmin=vmin, vmax=vmax)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def cam_grid(
    image: torch.Tensor,
    cams: torch.Tensor,
    class_names: Sequence[str],
    probabilities: torch.Tensor | None = None,
    *,
    ncols: int = 5,
    alpha: float = 0.5,
    shared_scale: bool = True,
    figure: Figure | None = None,
) -> Figure:
    """One panel per class: ``cams`` is ``[C, h, w]``; titles carry class names and probabilities.

    With ``shared_scale`` every panel uses the same colour range, so a weak class looks weak.
    """
    if cams.dim() != 3 or cams.shape[0] != len(class_names):
        raise ValueError(
            f"cams must be [C, h, w] with one map per class name; got shape {list(cams.shape)} "
            f"for {len(class_names)} class names"
        )
    nrows = -(-len(class_names) // ncols)
    figure = figure or plt.figure(figsize=(2.0 * ncols, 2.2 * nrows))
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    low, high = (float(cams.min()), float(cams.max())) if shared_scale else (None, None)
    for index, ax in enumerate(axes):
        if index >= len(class_names):
            ax.set_axis_off()
            continue
        title = str(class_names[index])
        if probabilities is not None:
            title += f"  p={float(probabilities[index]):.2f}"
        overlay(image, cams[index], ax, alpha=alpha, vmin=low, vmax=high, title=title)
    figure.tight_layout()
    return figure


def plot_history(history, figure: Figure | None = None) -> Figure:
    """Loss and accuracy per epoch from a ``camlib.train.History`` (or its dict)."""
    record = history if isinstance(history, dict) else history.as_dict()
    figure = figure or plt.figure(figsize=(9, 3))
    loss_ax, accuracy_ax = figure.subplots(1, 2)
    epochs = np.arange(1, len(record["train_loss"]) + 1)
    loss_ax.plot(epochs, record["train_loss"], marker="o", label="train")
    accuracy_ax.plot(epochs, record["train_accuracy"], marker="o", label="train")
    if record.get("val_loss"):
        loss_ax.plot(epochs, record["val_loss"], marker="o", label="held-out")
        accuracy_ax.plot(epochs, record["val_accuracy"], marker="o", label="held-out")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    accuracy_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (loss_ax, accuracy_ax):
        ax.legend()
        ax.grid(alpha=0.3)
    figure.tight_layout()
    return figure
