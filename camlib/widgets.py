"""An ipywidgets explorer: pick an image, a class and an opacity; see the CAM and the prediction.

The picture is rendered by matplotlib to PNG into an ``ipywidgets.Image``, so it works in
JupyterLab, classic Notebook, Colab and Binder without a matplotlib widget backend.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.utils.data import Dataset

from camlib.cam import compute_cams
from camlib.viz import overlay

PREDICTED = "predicted class"


class CAMExplorer(widgets.VBox):
    """Sliders and a dropdown over a data set, and the CAM of the chosen class."""

    def __init__(
        self,
        model: nn.Module,
        dataset: Dataset,
        class_names: Sequence[str],
        device: torch.device | str = "cpu",
        max_images: int = 500,
    ):
        self.model, self.dataset, self.device = model.eval(), dataset, device
        self.class_names = list(class_names)
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
            control.observe(lambda _change: self.refresh(), names="value")
        super().__init__([
            widgets.HBox([self.image_slider, self.class_dropdown, self.opacity_slider]),
            widgets.HBox([self.picture, self.summary], layout=widgets.Layout(align_items="flex-start")),
        ])
        # CSS classes, so a browser test (tests/test_browser.py) or a course stylesheet can find the parts.
        self.add_class("camlib-explorer")
        for part, name in ((self.image_slider, "image"), (self.picture, "picture"), (self.summary, "summary")):
            part.add_class(f"camlib-explorer-{name}")
        self.refresh()

    def refresh(self) -> None:
        image, label = self.dataset[self.image_slider.value]
        with torch.no_grad():
            logits, cams = compute_cams(self.model, image[None].to(self.device))
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

        rows = "".join(
            f"<tr><td>{name}</td><td>{p:.3f}</td><td>{'&#9608;' * round(20 * p)}</td></tr>"
            for name, p in zip(self.class_names, probabilities.tolist())
        )
        verdict = "correct" if predicted == int(label) else "wrong"
        self.summary.value = (
            f"<b>true:</b> {self.class_names[int(label)]}<br>"
            f"<b>predicted:</b> {self.class_names[predicted]} ({verdict})<br>"
            f"<table>{rows}</table>"
        )


def cam_explorer(model: nn.Module, dataset: Dataset, class_names: Sequence[str], device="cpu") -> CAMExplorer:
    """The explorer widget; display it as a cell's last expression."""
    return CAMExplorer(model, dataset, class_names, device)
