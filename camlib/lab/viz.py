"""Figures: a CAM over its image, one CAM per class, training curves, and ``show_figure``.

Functions draw into matplotlib Axes or Figures and return them, so notebooks can show
them and widgets can render them to PNG. Notebooks show every figure with
``show_figure("one sentence: what it shows")``: the sentence is the picture's alt text, which a screen
reader says, and its caption.

Colour (``docs/design.md``): a map with no negative value is drawn with a perceptually uniform
colormap (``inferno``); a signed map with a diverging one (``RdBu_r``) on limits symmetric
about 0, so white means 0. A map whose colour range is empty (a constant map) is drawn
transparent and says so in the panel; maps or images holding NaN or infinite values are refused.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from numbers import Real

import matplotlib
import matplotlib.patches
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from camlib._checks import check_int
from camlib.methods.cam import upsample_cams

SEQUENTIAL = "inferno"  # non-negative maps
DIVERGING = "RdBu_r"  # signed maps, centred at 0


def _tensor(value, name: str) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor (or a numpy array), got {type(value).__name__}")
    if value.dtype == torch.bool or value.is_complex():
        raise ValueError(f"{name} must hold real numbers, got dtype {value.dtype}")
    value = value.detach().float().cpu()
    if value.numel() == 0:
        raise ValueError(f"{name} is empty (shape {list(value.shape)}): there is nothing to draw")
    if not torch.isfinite(value).all():
        raise ValueError(f"{name} holds NaN or infinite values (shape {list(value.shape)}); it cannot be drawn")
    return value


def image_to_numpy(image: torch.Tensor) -> np.ndarray:
    """``[C, H, W]`` (C = 1 or 3) or ``[H, W]`` tensor -> ``H x W`` (one channel) or ``H x W x 3`` array.

    For display, uint8 colour images are divided by 255 and other colour images outside [0, 1]
    (e.g. normalized with ImageNet's mean and std) are rescaled by their minimum and maximum,
    where ``imshow`` would clip them with a warning; grey images are scaled by ``imshow`` itself.
    """
    eight_bit = getattr(image, "dtype", None) in (torch.uint8, np.uint8)
    image = _tensor(image, "image")
    if image.dim() == 3 and image.shape[0] not in (1, 3):
        hint = " (channels last? use image.permute(2, 0, 1))" if image.shape[-1] in (1, 3) else ""
        raise ValueError(f"image must be [C, H, W] with C = 1 or 3, or [H, W]; got shape {list(image.shape)}{hint}")
    if image.dim() == 3:
        image = image[0] if image.shape[0] == 1 else image.permute(1, 2, 0)
    if image.dim() not in (2, 3):
        raise ValueError(f"image must be [C, H, W] or [H, W], got shape {list(image.shape)}")
    if image.dim() == 3 and eight_bit:
        image = image / 255
    elif image.dim() == 3 and (image.min() < 0 or image.max() > 1):
        low, high = image.min(), image.max()
        image = (image - low) / (high - low) if high > low else torch.zeros_like(image)
    return image.numpy()


def _cam_at_image_size(cam: torch.Tensor, image: np.ndarray) -> np.ndarray:
    if tuple(cam.shape) != image.shape[:2]:
        cam = upsample_cams(cam[None], image.shape[:2])[0]
    return cam.numpy()


def _colour_limits(low: float, high: float, vmin: float | None, vmax: float | None) -> tuple[str, float, float]:
    """The colormap and its limits for values in [low, high]: sequential from ``low`` when no value
    is negative, diverging and symmetric about 0 when some are. Given ``vmin`` / ``vmax`` win."""
    signed = (vmin if vmin is not None else low) < 0
    if signed and vmin is None and vmax is None:
        limit = max(abs(low), abs(high))
        low, high = -limit, limit
    low, high = (low if vmin is None else float(vmin)), (high if vmax is None else float(vmax))
    return (DIVERGING if signed else SEQUENTIAL), low, high


def _check_limit(name: str, value) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number or None, got {value!r}")


def _check_instance(name: str, value, kind: type) -> None:
    if value is not None and not isinstance(value, kind):
        raise TypeError(f"{name} must be a matplotlib {kind.__name__} or None, got {type(value).__name__}")


def overlay(
    image: torch.Tensor,
    cam: torch.Tensor,
    ax: Axes | None = None,
    *,
    alpha: float = 0.5,
    cmap: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    title: str | None = None,
    outline: float | None = None,
) -> Axes:
    """Draw ``image`` in grey (or colour) with ``cam`` ([h, w], resized bilinearly) on top.

    ``cmap=None`` picks ``inferno`` for a map with no negative value and ``RdBu_r`` centred at 0
    for a signed one. A constant map (e.g. an empty Grad-CAM) is drawn transparent and labelled
    "constant map (value)": its one colour says nothing about where, and a warm one would look like
    evidence. An empty colour range (``vmin == vmax``) is widened by 0.5 each way.

    ``outline``: a level in [0, 1] of the picture's own grey range (0 its darkest pixel, 1 its
    brightest; colour pictures by the mean of their channels), the same for a grey or colour,
    uint8 or float picture; the contour at that level is drawn on top in green. With ``alpha=1``
    the map is then seen alone, the object's edge still marked: for pixel-level maps, whose own
    structure a bright object would otherwise show through.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number in [0, 1] (the CAM's opacity), got {alpha!r}")
    _check_limit("vmin", vmin)
    _check_limit("vmax", vmax)
    _check_limit("outline", outline)
    if outline is not None and not 0 <= outline <= 1:
        raise ValueError(f"outline={outline!r} is a level between 0 (the picture's darkest pixel) and 1 (its "
                         "brightest), e.g. 0.5")
    if vmin is not None and vmax is not None and vmin > vmax:
        raise ValueError(f"vmin={vmin} is above vmax={vmax}: swap them")
    if cmap is not None and not isinstance(cmap, Colormap) and cmap not in matplotlib.colormaps:
        raise ValueError(f"cmap={cmap!r} is not a matplotlib colormap: use e.g. 'inferno' or 'viridis' "
                         "(sequential) or 'RdBu_r' (signed maps), or None to choose by sign")
    _check_instance("ax", ax, Axes)
    picture = image_to_numpy(image)
    cam = _tensor(cam, "cam")
    if cam.dim() != 2:
        hint = "; for one map of a batch use cams[i] (or cam.squeeze())" if cam.dim() > 2 else ""
        raise ValueError(f"cam must be one map [h, w], got shape {list(cam.shape)}{hint}")
    values = _cam_at_image_size(cam, picture)
    auto_cmap, low, high = _colour_limits(float(values.min()), float(values.max()), vmin, vmax)
    ax = ax or plt.gca()
    ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None)
    if not high > low:  # an empty colour range: matplotlib would draw its lowest colour without a word
        low, high = low - 0.5, high + 0.5
    constant = values.min() == values.max()
    if constant:  # no contrast: any colour would look like evidence, so the map is drawn transparent
        ax.text(0.5, 0.04, f"constant map ({float(values.flat[0]):.3g})", transform=ax.transAxes, ha="center",
                va="bottom", fontsize=7, color="white", bbox={"facecolor": "black", "alpha": 0.6, "lw": 0})
    ax.imshow(values, cmap=cmap or auto_cmap, alpha=0.0 if constant else alpha, vmin=low, vmax=high)
    if outline is not None:
        grey = picture if picture.ndim == 2 else picture.mean(axis=-1)
        low, high = float(grey.min()), float(grey.max())
        if high > low:  # a flat picture has no contour
            ax.contour((grey - low) / (high - low), levels=[outline], colors="lime", linewidths=0.6)
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
    label: str = "map value",
    figure: Figure | None = None,
) -> Figure:
    """One panel per class: ``cams`` is ``[C, h, w]``; titles carry class names and probabilities.

    With ``shared_scale`` every panel uses the same colour range, so a weak class looks weak
    (symmetric about 0 when some value is negative), and one colour bar, ``label`` followed by
    "(shared scale)", gives the values. Without it each panel has its own range, and the figure
    says so in place of a bar.
    """
    if isinstance(class_names, str) or not isinstance(class_names, Sequence):
        raise TypeError(f"class_names must be a sequence of names, one per map, got {type(class_names).__name__}")
    cams = _tensor(cams, "cams")
    if cams.dim() != 3 or cams.shape[0] != len(class_names):
        raise ValueError(
            f"cams must be [C, h, w] with one map per class name; got shape {list(cams.shape)} "
            f"for {len(class_names)} class names"
        )
    check_int(ncols, "ncols", 1)
    ncols = min(int(ncols), len(class_names))  # no empty columns (ncols=10**6 would draw a million axes)
    _check_instance("figure", figure, Figure)
    if probabilities is not None:
        probabilities = _tensor(probabilities, "probabilities").reshape(-1)
        if probabilities.numel() != len(class_names):
            raise ValueError(f"probabilities hold {probabilities.numel()} values for {len(class_names)} classes")
    nrows = -(-len(class_names) // ncols)
    figure = figure or plt.figure(figsize=(2.0 * ncols, 2.2 * nrows))
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    low, high = (None, None)
    if shared_scale:
        _, low, high = _colour_limits(float(cams.min()), float(cams.max()), None, None)
    for index, ax in enumerate(axes):
        if index >= len(class_names):
            ax.set_axis_off()
            continue
        title = str(class_names[index])
        if probabilities is not None:
            title += f"  p={float(probabilities[index]):.2f}"
        overlay(image, cams[index], ax, alpha=alpha, vmin=low, vmax=high, title=title)
    figure.tight_layout()
    drawn = [ax for ax in axes[:len(class_names)] if ax.images]
    if shared_scale:  # every panel's last image is the map, drawn with the same limits
        figure.colorbar(drawn[-1].images[-1], ax=axes.tolist(), shrink=0.8, label=f"{label} (shared scale)")
    else:
        figure.text(0.5, 0.0, "each panel on its own colour scale", ha="center", va="top", fontsize=9)
    return figure


def plot_history(history, figure: Figure | None = None) -> Figure:
    """Loss and accuracy per epoch from a ``camlib.train.History`` (or its dict).

    An empty history is refused; epochs whose loss is not finite (a diverged run) are named
    in the loss panel's title rather than left as a silent gap."""
    record = history if isinstance(history, dict) else getattr(history, "as_dict", lambda: None)()
    if not isinstance(record, dict) or not {"train_loss", "train_accuracy"} <= record.keys():
        raise TypeError("history must be a camlib.train.History or a dict with train_loss and train_accuracy lists")
    record = {key: _curve(record, key) for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy")}
    if not len(record["train_loss"]):
        raise ValueError("history holds no epoch yet: train first (camlib.train.fit), then plot")
    lengths = {key: len(values) for key, values in record.items() if len(values)}
    if len(set(lengths.values())) > 1 or ("val_loss" in lengths) != ("val_accuracy" in lengths):
        raise ValueError(f"history's lists must hold one value per epoch each, got lengths {lengths}")
    _check_instance("figure", figure, Figure)
    figure = figure or plt.figure(figsize=(9, 3))
    loss_ax, accuracy_ax = figure.subplots(1, 2)
    epochs = np.arange(1, len(record["train_loss"]) + 1)
    loss_ax.plot(epochs, record["train_loss"], marker="o", label="train")
    accuracy_ax.plot(epochs, record["train_accuracy"], marker="o", label="train")
    if len(record["val_loss"]):
        loss_ax.plot(epochs, record["val_loss"], marker="o", label="held-out")
        accuracy_ax.plot(epochs, record["val_accuracy"], marker="o", label="held-out")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    accuracy_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    diverged = [int(e) for e, loss in zip(epochs, record["train_loss"]) if not math.isfinite(float(loss))]
    if diverged:
        loss_ax.set_title(f"loss (not finite from epoch {diverged[0]}: training diverged)", fontsize=9)
    for ax in (loss_ax, accuracy_ax):
        ax.legend()
        ax.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def _curve(record: dict, key: str) -> np.ndarray:
    """``record[key]`` as a 1-D float array (empty when missing or None)."""
    values = record.get(key)
    if values is None:
        values = []
    try:
        curve = np.asarray(values.tolist() if isinstance(values, torch.Tensor) else values, dtype=float)
    except (TypeError, ValueError):
        curve = None
    if isinstance(values, str) or curve is None or curve.ndim != 1:
        raise ValueError(f"history[{key!r}] must be a list of numbers, one per epoch, got {values!r:.60}")
    return curve


def _ipython_display():
    """IPython's ``display`` inside a running kernel or shell; None in plain Python."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return None
    return display if get_ipython() is not None else None


def show_figure(description: str, figure: Figure | None = None) -> None:
    """Display ``figure`` (the current one by default) with ``description`` as its alt text and its
    caption, then close it, in place of ``plt.show()``.

    The output holds the PNG (its alt text in the PNG's metadata), an HTML ``<figure>`` with the
    ``alt`` attribute and a ``<figcaption>`` (which JupyterLab, Colab and nbconvert's HTML show) and
    the caption as plain text. Outside IPython the caption is printed.
    """
    if not isinstance(description, str) or len(description.split()) < 3:
        raise ValueError(f"describe the figure in one sentence (what it shows, for readers who cannot see it), "
                         f"got {description!r}")
    _check_instance("figure", figure, Figure)
    figure = figure or plt.gcf()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(figure)
    png = base64.b64encode(buffer.getvalue()).decode("ascii")
    text = " ".join(description.split())
    display = _ipython_display()
    if display is None:
        print(f"Figure: {text}")
        return
    alt = html.escape(text, quote=True)
    page = (f'<figure style="margin: 0"><img src="data:image/png;base64,{png}" alt="{alt}">'
            f'<figcaption style="font-style: italic; font-size: 90%">Figure: {alt}</figcaption></figure>')
    display({"image/png": png, "text/html": page, "text/plain": f"Figure: {text}"},
            metadata={"image/png": {"alt": text}}, raw=True)


def draw_box(ax: Axes, box, color: str = "lime", **style) -> None:
    """A box ``(x_min, y_min, x_max, y_max)`` (max exclusive, camlib's convention) outlined on an image
    drawn by ``imshow``, which centres pixel ``j`` on ``j``: the box's edges fall between pixels."""
    x0, y0, x1, y1 = (float(v) for v in box)
    style.setdefault("linewidth", 1.5)
    ax.add_patch(matplotlib.patches.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor=color,
                                              **style))
