"""Figures and the explorer widget, driven without a browser."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

from camlib.data import DigitDataset
from camlib.models import GAPNet
from camlib.train import History
from camlib.viz import cam_grid, image_to_numpy, overlay, plot_history
from camlib.widgets import PREDICTED, cam_explorer

CLASSES = ["left", "right", "middle"]


@pytest.fixture
def explorer():
    torch.manual_seed(0)
    images = torch.zeros(6, 12, 12, dtype=torch.uint8)
    for i in range(6):  # a bright bar at a different place in each image
        images[i, :, 2 * i: 2 * i + 2] = 255
    dataset = DigitDataset(images, torch.tensor([0, 0, 2, 2, 1, 1]), CLASSES, "synthetic bars")
    model = GAPNet(in_channels=1, num_classes=3, widths=(4, 8)).eval()
    yield cam_explorer(model, dataset, CLASSES)
    plt.close("all")


def test_image_to_numpy_handles_grey_and_colour():
    assert image_to_numpy(torch.zeros(1, 5, 7)).shape == (5, 7)
    assert image_to_numpy(torch.zeros(3, 5, 7)).shape == (5, 7, 3)
    with pytest.raises(ValueError, match=r"\[2, 1, 5, 7\]"):
        image_to_numpy(torch.zeros(2, 1, 5, 7))


def test_overlay_resizes_the_cam_to_the_image():
    ax = overlay(torch.rand(1, 28, 28), torch.rand(7, 7), plt.figure().add_subplot(), title="t")
    layers = ax.get_images()
    assert len(layers) == 2 and layers[1].get_array().shape == (28, 28)
    assert ax.get_title() == "t"


def test_cam_grid_draws_one_panel_per_class_on_a_shared_scale():
    cams = torch.stack([torch.full((4, 4), float(c)) for c in range(3)])
    figure = cam_grid(torch.rand(1, 8, 8), cams, CLASSES, torch.tensor([0.2, 0.3, 0.5]), ncols=2)
    drawn = [ax for ax in figure.axes if ax.get_images()]
    assert [ax.get_title() for ax in drawn] == ["left  p=0.20", "right  p=0.30", "middle  p=0.50"]
    assert all(ax.get_images()[1].get_clim() == (0.0, 2.0) for ax in drawn)
    with pytest.raises(ValueError, match="one map per class name"):
        cam_grid(torch.rand(1, 8, 8), cams, CLASSES[:2])


def test_plot_history_draws_train_and_held_out_curves():
    history = History([1.0, 0.5], [0.6, 0.9], [1.1, 0.6], [0.5, 0.8], [1.0, 1.0])
    figure = plot_history(history)
    assert [len(ax.get_lines()) for ax in figure.axes] == [2, 2]


def test_explorer_renders_and_follows_its_controls(explorer):
    first = bytes(explorer.picture.value)
    assert first.startswith(b"\x89PNG") and "true:</b> left" in explorer.summary.value
    explorer.image_slider.value = 4
    assert explorer.picture.value != first, "moving the image slider must redraw the picture"
    assert "true:</b> right" in explorer.summary.value
    assert explorer.summary.value.count("<tr>") == len(CLASSES)

    after_image = explorer.picture.value
    explorer.opacity_slider.value = 0.0
    faded = explorer.picture.value
    assert faded != after_image, "opacity must change the picture"

    explorer.class_dropdown.value = "middle"
    assert "CAM of middle" not in explorer.summary.value  # the title is drawn in the picture
    assert explorer.class_dropdown.options[0] == PREDICTED
    assert explorer.image_slider.max == 5


def test_explorer_parts_carry_css_classes_and_a_square_picture(explorer):
    # tests/test_browser.py finds the explorer in JupyterLab by these classes.
    assert "camlib-explorer" in explorer._dom_classes
    assert "camlib-explorer-image" in explorer.image_slider._dom_classes
    assert "camlib-explorer-picture" in explorer.picture._dom_classes
    assert "camlib-explorer-summary" in explorer.summary._dom_classes
    assert explorer.picture.layout.width == explorer.picture.layout.height
