"""Figures and the explorer widget, driven without a browser."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from torch.utils.data import TensorDataset

from camlib.data import DigitDataset
from camlib.lab.viz import cam_grid, image_to_numpy, overlay, plot_history, show_figure
from camlib.lab.widgets import PREDICTED, cam_explorer
from camlib.models import GAPNet
from camlib.train import History

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


def test_overlay_outlines_the_image_on_request():
    image = torch.zeros(1, 16, 16)
    image[0, 4:12, 6:10] = 1.0
    ax = overlay(image, torch.rand(4, 4), plt.figure().add_subplot(), alpha=1.0, outline=0.5)
    (contour,) = ax.collections
    (path,) = contour.get_paths()
    columns, rows = path.vertices[:, 0], path.vertices[:, 1]
    assert (columns.min(), columns.max(), rows.min(), rows.max()) == (5.5, 9.5, 3.5, 11.5)  # the bar's edge
    assert not overlay(image, torch.rand(4, 4), plt.figure().add_subplot()).collections  # none unless asked
    with pytest.raises(ValueError, match="outline"):
        overlay(image, torch.rand(4, 4), plt.figure().add_subplot(), outline=float("nan"))
    with pytest.raises(ValueError, match=r"outline=128 is a level between 0 .* and 1"):
        overlay(image, torch.rand(4, 4), plt.figure().add_subplot(), outline=128)


def test_an_outline_level_means_the_same_for_grey_and_colour_uint8_and_float_pictures():
    grey = torch.zeros(1, 16, 16)
    grey[0, 4:12, 6:10] = 1.0
    pictures = {"grey float": grey, "grey uint8": (grey * 255).to(torch.uint8),
                "colour float": grey.expand(3, -1, -1), "colour uint8": (grey * 255).to(torch.uint8).expand(3, -1, -1),
                "grey, another range": 40 * grey - 3}
    for name, picture in pictures.items():
        ax = overlay(picture, torch.rand(4, 4), plt.figure().add_subplot(), alpha=1.0, outline=0.5)
        (path,) = ax.collections[0].get_paths()
        columns, rows = path.vertices[:, 0], path.vertices[:, 1]
        assert (columns.min(), columns.max(), rows.min(), rows.max()) == (5.5, 9.5, 3.5, 11.5), name
    flat = overlay(torch.ones(1, 8, 8), torch.rand(4, 4), plt.figure().add_subplot(), outline=0.5)
    assert not flat.collections  # a flat picture has no contour to draw


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
    # tests/repository/test_browser.py finds the explorer in JupyterLab by these classes.
    assert "camlib-explorer" in explorer._dom_classes
    assert "camlib-explorer-image" in explorer.image_slider._dom_classes
    assert "camlib-explorer-picture" in explorer.picture._dom_classes
    assert "camlib-explorer-summary" in explorer.summary._dom_classes
    assert explorer.picture.layout.width == explorer.picture.layout.height


# Hostile input: refused in words, or drawn with a word --------------------------------------


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: overlay(torch.rand(1, 8, 8), torch.full((4, 4), float("nan"))), ValueError, "cam holds NaN"),
        (lambda: overlay(torch.full((1, 8, 8), float("inf")), torch.rand(4, 4)), ValueError, "image holds NaN"),
        (lambda: overlay(torch.rand(1, 8, 8), torch.rand(1, 4, 4)), ValueError, r"one map \[h, w\].*cams\[i\]"),
        (lambda: overlay(torch.rand(8, 8, 3), torch.rand(4, 4)), ValueError, r"channels last\? use image.permute"),
        (lambda: overlay(torch.rand(1, 8, 8), torch.rand(0, 4)), ValueError, "cam is empty"),
        (lambda: overlay(torch.rand(1, 8, 8), torch.rand(4, 4), alpha=2), ValueError, r"alpha must be .* \[0, 1\]"),
        (lambda: overlay(torch.rand(1, 8, 8), torch.rand(4, 4), vmin=1, vmax=0), ValueError, "swap them"),
        (lambda: overlay(torch.rand(1, 8, 8), [[0.0]]), TypeError, "cam must be a torch tensor"),
        (lambda: cam_grid(torch.rand(1, 8, 8), torch.zeros(0, 4, 4), []), ValueError, "cams is empty"),
        (lambda: cam_grid(torch.rand(1, 8, 8), torch.zeros(2, 4, 4), ["a", "b"], ncols=0), ValueError, "ncols"),
        (
            lambda: cam_grid(torch.rand(1, 8, 8), torch.zeros(2, 4, 4), ["a", "b"], torch.tensor([0.5])),
            ValueError,
            "probabilities hold 1 values for 2 classes",
        ),
        (lambda: plot_history(History([], [], [], [], [])), ValueError, "no epoch yet"),
        (lambda: plot_history(None), TypeError, "camlib.train.History"),
    ],
)
def test_figures_refuse_what_they_cannot_draw(call, error, message):
    with pytest.raises(error, match=message):
        call()
    plt.close("all")


def _drawn(ax):
    ax.figure.canvas.draw()  # matplotlib normalizes colours at draw time: warnings would surface here
    return ax


def test_constant_maps_are_drawn_transparent_and_say_so(recwarn):
    for cam in (torch.zeros(4, 4), torch.full((4, 4), 0.3), torch.full((4, 4), -2.0)):
        ax = _drawn(overlay(torch.rand(1, 8, 8), cam, plt.figure().add_subplot()))
        assert any("constant map" in text.get_text() for text in ax.texts)
        low, high = ax.get_images()[1].get_clim()
        assert low < high  # a real colour range, not matplotlib's 0/0 (a colour bar may still use it)
        assert ax.get_images()[1].get_alpha() == 0  # no colour that could pass for evidence
    assert not [w for w in recwarn if "divide" in str(w.message) or "invalid value" in str(w.message)]
    ax = overlay(torch.rand(1, 8, 8), torch.rand(4, 4), plt.figure().add_subplot())
    assert not ax.texts  # a map with contrast gets no note
    plt.close("all")


def test_colormap_is_sequential_for_non_negative_maps_and_diverging_about_zero_for_signed_ones():
    plain = overlay(torch.rand(1, 8, 8), torch.rand(4, 4), plt.figure().add_subplot()).get_images()[1]
    assert plain.get_cmap().name == "inferno"
    signed_cam = torch.tensor([[-1.0, 0.0], [0.5, 3.0]])
    signed = overlay(torch.rand(1, 8, 8), signed_cam, plt.figure().add_subplot()).get_images()[1]
    assert signed.get_cmap().name == "RdBu_r" and signed.get_clim() == (-3.0, 3.0)
    figure = cam_grid(torch.rand(1, 8, 8), torch.stack([signed_cam, signed_cam / 2]), ["a", "b"])
    assert all(ax.get_images()[1].get_clim() == (-3.0, 3.0) for ax in figure.axes if ax.get_images())
    assert "jet" not in {ax.get_images()[1].get_cmap().name for ax in figure.axes if ax.get_images()}
    plt.close("all")


def test_colour_images_outside_0_1_are_rescaled_not_clipped_with_a_warning(recwarn):
    normalized = torch.tensor([-2.0, 0.0, 2.0]).repeat(8, 8, 1).permute(2, 0, 1)  # [3, 8, 8], ImageNet-style
    picture = image_to_numpy(normalized)
    assert picture.min() == 0.0 and picture.max() == 1.0
    assert image_to_numpy(torch.full((3, 2, 2), 255, dtype=torch.uint8)).max() == 1.0
    _drawn(overlay(normalized, torch.rand(4, 4), plt.figure().add_subplot()))
    assert not [w for w in recwarn if "Clipping" in str(w.message)]
    plt.close("all")


def test_plot_history_names_the_epoch_where_training_diverged():
    figure = plot_history(History([1.0, float("nan")], [0.5, 0.1], [], [], [1.0, 1.0]))
    assert "not finite from epoch 2" in figure.axes[0].get_title()
    plt.close("all")


def test_explorer_refuses_empty_or_mismatched_data():
    model = GAPNet(in_channels=1, num_classes=3, widths=(4, 8)).eval()
    data = TensorDataset(torch.rand(4, 1, 12, 12), torch.tensor([0, 1, 2, 1]))
    with pytest.raises(ValueError, match="dataset is empty"):
        cam_explorer(model, TensorDataset(torch.zeros(0, 1, 12, 12), torch.zeros(0)), CLASSES)
    with pytest.raises(ValueError, match="3 class scores but there are 2 class names"):
        cam_explorer(model, data, CLASSES[:2])
    with pytest.raises(ValueError, match="class_names must be a non-empty list"):
        cam_explorer(model, data, [])
    with pytest.raises(TypeError, match=r"model must be a torch.nn.Module"):
        cam_explorer("model", data, CLASSES)
    plt.close("all")


def test_explorer_reports_problems_met_later_in_the_widget_and_escapes_names():
    model = GAPNet(in_channels=1, num_classes=3, widths=(4, 8)).eval()
    data = TensorDataset(torch.rand(3, 1, 12, 12), torch.tensor([0, 9, 2]))
    explorer = cam_explorer(model, data, ["<b>left</b>", "right", "middle"])
    assert "&lt;b&gt;left" in explorer.summary.value  # a name is text, not markup
    explorer.image_slider.value = 1
    assert "label 9 (no such class name)" in explorer.summary.value
    with torch.no_grad():
        model.classifier.weight.fill_(float("nan"))
    explorer.image_slider.value = 2  # from a callback: written in the widget, not raised into a log
    assert "cannot show image 2" in explorer.summary.value and "NaN" in explorer.summary.value
    plt.close("all")


def test_colormaps_axes_and_figures_of_another_kind_are_named():
    ax = plt.figure().add_subplot()
    with pytest.raises(ValueError, match="cmap='jetx' is not a matplotlib colormap"):
        overlay(torch.rand(1, 8, 8), torch.rand(4, 4), ax, cmap="jetx")
    assert overlay(torch.rand(1, 8, 8), torch.rand(4, 4), ax, cmap=matplotlib.colormaps["magma"])
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes or None, got str"):
        overlay(torch.rand(1, 8, 8), torch.rand(4, 4), "ax")
    with pytest.raises(TypeError, match="figure must be a matplotlib Figure or None, got str"):
        cam_grid(torch.rand(1, 8, 8), torch.rand(2, 4, 4), ["a", "b"], figure="f")
    with pytest.raises(TypeError, match="figure must be a matplotlib Figure"):
        plot_history({"train_loss": [1.0], "train_accuracy": [0.5]}, figure="f")
    plt.close("all")


def test_cam_grid_draws_no_empty_columns_however_large_ncols():
    figure = cam_grid(torch.rand(1, 8, 8), torch.rand(3, 4, 4), ["a", "b", "c"], ncols=10**6)  # once: a million axes
    assert len([ax for ax in figure.axes if ax.get_images()]) == 3
    plt.close("all")


def test_cam_grid_gives_a_shared_scale_its_colour_bar_and_says_when_each_panel_has_its_own():
    shared = cam_grid(torch.rand(1, 8, 8), torch.rand(2, 4, 4), ["a", "b"], label="Grad-CAM")
    bars = [ax for ax in shared.axes if not ax.get_images()]
    assert len(bars) == 1 and bars[0].get_ylabel() == "Grad-CAM (shared scale)"
    own = cam_grid(torch.rand(1, 8, 8), torch.rand(2, 4, 4), ["a", "b"], shared_scale=False)
    assert len(own.axes) == 2 and "own colour scale" in own.texts[0].get_text()
    plt.close("all")


@pytest.mark.parametrize("history, match", [
    ({"train_loss": [1.0, 0.5], "train_accuracy": [0.5]}, r"one value per epoch each, got lengths"),
    ({"train_loss": [1.0], "train_accuracy": [0.5], "val_loss": [1.0]}, r"one value per epoch each"),
    ({"train_loss": "ab", "train_accuracy": "cd"}, r"history\['train_loss'\] must be a list of numbers"),
    ({"train_loss": 1.0, "train_accuracy": 0.5}, r"history\['train_loss'\] must be a list of numbers"),
])
def test_plot_history_names_lists_that_are_not_one_number_per_epoch(history, match):
    with pytest.raises(ValueError, match=match):
        plot_history(history)
    plt.close("all")


# show_figure: every notebook figure with its alt text and caption --------------------------------

def test_show_figure_displays_the_png_with_its_alt_text_and_caption_then_closes_it(monkeypatch):
    import base64

    import camlib.lab.viz

    shown = []
    monkeypatch.setattr(camlib.lab.viz, "_ipython_display", lambda: lambda data, **kwargs: shown.append((data, kwargs)))
    figure, ax = plt.subplots()
    ax.imshow(torch.rand(4, 4))
    show_figure('A 4×4 map of random values, "drawn" <here>.')
    (data, kwargs), = shown
    assert base64.b64decode(data["image/png"]).startswith(b"\x89PNG")
    assert kwargs == {"metadata": {"image/png": {"alt": 'A 4×4 map of random values, "drawn" <here>.'}}, "raw": True}
    alt = "A 4×4 map of random values, &quot;drawn&quot; &lt;here&gt;."  # escaped: the page stays well formed
    assert f'alt="{alt}"' in data["text/html"] and f"Figure: {alt}</figcaption>" in data["text/html"]
    assert data["image/png"] in data["text/html"]
    assert data["text/plain"] == 'Figure: A 4×4 map of random values, "drawn" <here>.'
    assert not plt.fignum_exists(figure.number), "the figure is closed, so the inline backend does not show it twice"


def test_show_figure_outside_ipython_prints_the_caption(capsys):
    figure = plt.figure()
    show_figure("An empty figure, shown outside a notebook.", figure)
    assert capsys.readouterr().out == "Figure: An empty figure, shown outside a notebook.\n"
    assert not plt.fignum_exists(figure.number)


@pytest.mark.parametrize("description", ["", "a map", None, 3])
def test_show_figure_wants_a_sentence(description):
    with pytest.raises(ValueError, match="describe the figure in one sentence"):
        show_figure(description, plt.figure())
    plt.close("all")



def test_mean_std_and_draw_box_as_the_notebooks_use_them():
    import matplotlib.pyplot as plt

    from camlib.lab.report import mean_std
    from camlib.lab.viz import draw_box

    assert mean_std([0.5, 0.7]) == "0.600 ± 0.141"  # sample std: sqrt(0.02)
    assert mean_std([0.5, 0.7], 1, percent=True) == "60.0 ± 14.1"
    assert mean_std([0.25]) == "0.250 ± 0.000"
    with pytest.raises(ValueError, match="no values"):
        mean_std([])
    fig, ax = plt.subplots()
    draw_box(ax, (2, 3, 6, 5), "lime")
    (patch,) = ax.patches
    assert patch.get_xy() == (1.5, 2.5) and (patch.get_width(), patch.get_height()) == (4, 2)
    plt.close(fig)
