"""An ipywidgets explorer: pick an image, a class and an opacity; see the CAM and the prediction.

The picture is rendered by matplotlib to PNG into an ``ipywidgets.Image``, so it works in
JupyterLab, classic Notebook, Colab and Binder without a matplotlib widget backend.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.utils.data import Dataset

from camlib._checks import check_int
from camlib.lab.viz import overlay
from camlib.methods.cam import compute_cams

PREDICTED = "predicted class"


class CAMExplorer(widgets.VBox):
    """Sliders and a dropdown over a data set, and the CAM of the chosen class.

    ``dataset[i]`` must give ``(image [C, H, W], label)``; ``class_names`` one name per output of
    the model. ``device=None`` runs where the model's parameters are. Bad arguments raise in
    the constructor; a problem met later, while moving the controls (e.g. NaN logits for one
    image), is written in the widget instead of a traceback.
    """

    def __init__(
        self,
        model: nn.Module,
        dataset: Dataset,
        class_names: Sequence[str],
        device: torch.device | str | None = None,
        max_images: int = 500,
    ):
        _check_arguments(model, dataset, class_names, max_images)
        if device is None:
            device = next(model.parameters(), torch.empty(0)).device
        self.model, self.dataset, self.device = model.eval(), dataset, device
        self.class_names = [str(name) for name in class_names]
        self.image_slider = widgets.IntSlider(
            value=0, min=0, max=min(len(dataset), max_images) - 1, description="image"
        )
        self.class_dropdown = widgets.Dropdown(options=[PREDICTED, *self.class_names], description="class")
        self.opacity_slider = widgets.FloatSlider(
            value=0.5, min=0.0, max=1.0, step=0.05, description="opacity"
        )
        # A fixed square, or the row's default stretch would squash the picture to the table's height.
        self.picture = widgets.Image(format="png", layout=widgets.Layout(width="240px", height="240px",
                                                                         object_fit="contain"))
        self.summary = widgets.HTML()
        for control in (self.image_slider, self.class_dropdown, self.opacity_slider):
            control.observe(lambda _change: self._refresh_or_report(), names="value")
        super().__init__([
            widgets.HBox([self.image_slider, self.class_dropdown, self.opacity_slider]),
            widgets.HBox([self.picture, self.summary], layout=widgets.Layout(align_items="flex-start")),
        ])
        # CSS classes, so a browser test (tests/repository/test_browser.py) or a course stylesheet can find the parts.
        self.add_class("camlib-explorer")
        for part, name in ((self.image_slider, "image"), (self.picture, "picture"), (self.summary, "summary")):
            part.add_class(f"camlib-explorer-{name}")
        self.refresh()

    def _refresh_or_report(self) -> None:
        try:
            self.refresh()
        except (ValueError, TypeError, IndexError) as error:  # in a callback a traceback would go to a log
            self.picture.value = b""
            self.summary.value = f"<b>cannot show image {self.image_slider.value}:</b> {html.escape(str(error))}"

    def refresh(self) -> None:
        image, label = _image_and_label(self.dataset, self.image_slider.value)
        with torch.no_grad():
            logits, cams = compute_cams(self.model, image[None].to(self.device))
        if logits.shape[1] != len(self.class_names):
            raise ValueError(
                f"the model gives {logits.shape[1]} class scores but there are {len(self.class_names)} class "
                "names: pass one name per output"
            )
        if not (torch.isfinite(logits).all() and torch.isfinite(cams).all()):
            raise ValueError("the model gives NaN or infinite scores for this image (a diverged or broken model?)")
        probabilities = logits.softmax(dim=1)[0].cpu()
        predicted = int(probabilities.argmax())
        chosen = self.class_dropdown.value
        shown = predicted if chosen == PREDICTED else self.class_names.index(chosen)

        figure = Figure(figsize=(3, 3), dpi=80)
        overlay(image, cams[0, shown], figure.add_subplot(), alpha=self.opacity_slider.value,
                title=f"CAM of {self.class_names[shown]}")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        self.picture.value = buffer.getvalue()

        names = [html.escape(name) for name in self.class_names]  # names are text, not markup
        rows = "".join(
            f"<tr><td>{name}</td><td>{p:.3f}</td><td>{'&#9608;' * round(20 * p)}</td></tr>"
            for name, p in zip(names, probabilities.tolist())
        )
        if 0 <= label < len(names):
            truth, verdict = names[label], ("correct" if predicted == label else "wrong")
        else:
            truth, verdict = f"label {label} (no such class name)", "true class unknown"
        self.summary.value = (
            f"<b>true:</b> {truth}<br>"
            f"<b>predicted:</b> {names[predicted]} ({verdict})<br>"
            f"<table>{rows}</table>"
        )


def _check_arguments(model, dataset, class_names, max_images) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (a GAP network), got {type(model).__name__}")
    if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
        raise TypeError(f"dataset must support len() and dataset[i] -> (image, label), got {type(dataset).__name__}")
    if len(dataset) == 0:
        raise ValueError("dataset is empty: the explorer needs at least one (image, label) pair")
    if isinstance(class_names, str) or not isinstance(class_names, Sequence) or not class_names:
        raise ValueError(f"class_names must be a non-empty list of names, one per class; got {class_names!r}")
    check_int(max_images, "max_images", 1)


def _image_and_label(dataset: Dataset, index: int) -> tuple[torch.Tensor, int]:
    """``dataset[index]`` as an image ``[C, H, W]`` (a ``[H, W]`` one gets its channel) and an int label."""
    item = dataset[index]
    if not isinstance(item, tuple | list) or len(item) < 2 or not isinstance(item[0], torch.Tensor):
        raise TypeError(f"dataset[{index}] must be (image tensor [C, H, W], label), got {type(item).__name__}")
    image, label = item[0], item[1]
    image = image[None] if image.dim() == 2 else image
    try:
        label = int(label)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"dataset[{index}]'s label must be a class index, got {label!r}") from None
    return image, label


def cam_explorer(model: nn.Module, dataset: Dataset, class_names: Sequence[str], device=None) -> CAMExplorer:
    """The explorer widget; display it as a cell's last expression."""
    return CAMExplorer(model, dataset, class_names, device)
