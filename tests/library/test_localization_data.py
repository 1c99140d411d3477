"""camlib.data.CanvasDigits and localization_splits: digits on a canvas, with boxes and masks.

Most sources here are synthetic 28x28 images whose expected boxes and masks can be worked
out by hand: a filled rectangle, a single pixel, or items of one constant intensity each
(so a pixel value says which item it came from). Boxes are (x_min, y_min, x_max, y_max),
max exclusive: pixel (row i, col j) is (j, i, j + 1, i + 1).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from camlib.data import MASK_THRESHOLD, CanvasDigits, DigitDataset, localization_splits

CLASSES = [str(i) for i in range(10)]
SHARED_DATA = Path(os.environ.get("CAMLIB_DATA") or "/work/shared/data")
MNIST_TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def source_of(images: torch.Tensor, labels: torch.Tensor | None = None) -> DigitDataset:
    labels = torch.arange(len(images)) % 10 if labels is None else labels
    return DigitDataset(images, labels, CLASSES, "synthetic")


def rectangle_source(n: int = 4, top: int = 10, left: int = 7, height: int = 5, width: int = 9) -> DigitDataset:
    """``n`` black 28x28 images with a white rectangle: rows top..top+height-1, cols left..left+width-1."""
    images = torch.zeros(n, 28, 28)
    images[:, top: top + height, left: left + width] = 1.0
    return source_of(images)


def constant_source(n: int = 20) -> DigitDataset:
    """``n`` 28x28 images, image k filled with the intensity (100 + 5k) / 255: distinct, all above
    the mask threshold, and exactly representable in 8 bits."""
    values = (100 + 5 * torch.arange(n)).float() / 255
    return source_of(values[:, None, None].expand(n, 28, 28).clone())


def blob_source(n: int = 30, seed: int = 0) -> DigitDataset:
    """``n`` 28x28 images of random smooth blobs (irregular shapes, soft edges)."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(n, 1, 7, 7, generator=generator)
    smooth = torch.nn.functional.interpolate(noise, size=(28, 28), mode="bilinear", align_corners=False)
    images = ((smooth - 0.55) * 4).clamp(0, 1)[:, 0]
    images[:, 12:16, 12:16] = 1.0  # never blank
    return source_of(images)


def mask_bbox(mask: torch.Tensor) -> list[float]:
    """The tight box of a [H, W] mask, computed independently: from the coordinates of its pixels."""
    rows, cols = torch.nonzero(mask, as_tuple=True)
    return [float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1)]


def image(dataset: CanvasDigits, i: int) -> torch.Tensor:
    return dataset[i][0][0]


# --------------------------------------------------------------------------------------
# hand-checked boxes and masks
# --------------------------------------------------------------------------------------


def test_fixed_scale_rectangle_has_its_own_size_and_pixel_count():
    ds = CanvasDigits(rectangle_source(), 12, scale=(1.0, 1.0), seed=3)
    for i in range(len(ds)):
        x0, y0, x1, y1 = ds.patch_boxes[i].tolist()
        assert (x1 - x0, y1 - y0) == (28, 28)
        assert ds.boxes[i].tolist() == [x0 + 7, y0 + 10, x0 + 16, y0 + 15]  # 9 wide, 5 high
        assert int(ds.masks[i].sum()) == 45
        img = image(ds, i)
        assert img.sum() == 45 and torch.all(img[ds.masks[i]] == 1)
    assert len({tuple(b) for b in ds.patch_boxes.tolist()}) > 1  # the position varies


def test_single_pixel_digit_gives_a_one_pixel_box():
    images = torch.zeros(3, 28, 28)
    images[:, 3, 20] = 1.0  # row 3, column 20
    ds = CanvasDigits(source_of(images), 9, scale=(1.0, 1.0), seed=0)
    for i in range(len(ds)):
        x0, y0, _, _ = ds.patch_boxes[i].tolist()
        assert ds.boxes[i].tolist() == [x0 + 20, y0 + 3, x0 + 21, y0 + 4]
        assert torch.nonzero(ds.masks[i]).tolist() == [[y0 + 3, x0 + 20]]


@pytest.mark.parametrize(
    ("threshold", "box_offsets", "pixels"),
    [
        # doubled bilinearly (align_corners=False), the rectangle rows 10-14 become rows 19-30 with
        # the profile 0.25, 0.75, 1 x 8, 0.75, 0.25 (columns 13-32 likewise, 1 x 16 inside)
        (0.5, (14, 20, 32, 30), 10 * 18),  # the rows and columns at >= 0.75: 10 x 18 pixels
        # above 0.2 the 0.25 edges join too, but not the corners (0.25 * 0.75 = 0.19): 180 + 2*16 + 2*8
        (0.2, (13, 19, 33, 31), 180 + 2 * 16 + 2 * 8),
    ],
)
def test_doubled_rectangle_follows_bilinear_interpolation_and_the_threshold(threshold, box_offsets, pixels):
    ds = CanvasDigits(rectangle_source(), 6, canvas=64, scale=(2.0, 2.0), threshold=threshold, seed=1)
    for i in range(len(ds)):
        x0, y0, x1, y1 = ds.patch_boxes[i].tolist()
        assert (x1 - x0, y1 - y0) == (56, 56)
        dx0, dy0, dx1, dy1 = box_offsets
        assert ds.boxes[i].tolist() == [x0 + dx0, y0 + dy0, x0 + dx1, y0 + dy1]
        assert int(ds.masks[i].sum()) == pixels


def test_unit_scale_pastes_the_source_digit_unchanged():
    source = blob_source()
    ds = CanvasDigits(source, 10, scale=(1.0, 1.0), seed=2)
    for i in range(len(ds)):
        x0, y0, x1, y1 = (int(v) for v in ds.patch_boxes[i])
        pasted = ds.pixels[i, 0, y0:y1, x0:x1]
        expected = source.images[ds.source_indices[i], 0].mul(255).round().to(torch.uint8)
        assert torch.equal(pasted, expected)
        outside = ds.pixels[i, 0].clone()
        outside[y0:y1, x0:x1] = 0
        assert outside.sum() == 0  # no clutter asked for: black elsewhere


# --------------------------------------------------------------------------------------
# invariants at random scales
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("clutter", [0, 5])
def test_box_is_the_tight_box_of_the_mask_and_the_mask_the_bright_object_pixels(clutter):
    ds = CanvasDigits(blob_source(), 200, canvas=64, scale=(0.5, 2.0), clutter=clutter, seed=4)
    widths = ds.patch_boxes[:, 2] - ds.patch_boxes[:, 0]
    assert widths.min() < 20 and widths.max() > 45  # the scales really vary
    for i in range(len(ds)):
        mask, img = ds.masks[i], image(ds, i)
        assert ds.boxes[i].tolist() == mask_bbox(mask)
        x0, y0, x1, y1 = (int(v) for v in ds.boxes[i])
        assert torch.all(img[mask] > MASK_THRESHOLD)
        # inside the box: the mask is exactly the bright pixels (fragments never enter it)
        assert torch.equal(mask[y0:y1, x0:x1], img[y0:y1, x0:x1] > MASK_THRESHOLD)
        # the mask lies within the pasted square
        px0, py0, px1, py1 = (int(v) for v in ds.patch_boxes[i])
        assert mask[py0:py1, px0:px1].sum() == mask.sum()
        if clutter == 0:
            assert torch.equal(mask, img > MASK_THRESHOLD)


def test_clutter_does_not_change_objects_boxes_or_masks():
    """Objects are drawn before fragments, so the same seed with and without clutter gives the
    same objects: fragments add pixels outside the boxes only."""
    plain = CanvasDigits(blob_source(), 100, clutter=0, seed=5)
    cluttered = CanvasDigits(blob_source(), 100, clutter=6, seed=5)
    for name in ("labels", "boxes", "masks", "source_indices", "patch_boxes"):
        assert torch.equal(getattr(plain, name), getattr(cluttered, name)), name
    inside = torch.zeros_like(plain.masks)
    for i, (x0, y0, x1, y1) in enumerate(plain.boxes.long().tolist()):
        inside[i, y0:y1, x0:x1] = True
    assert torch.equal(plain.pixels[:, 0][inside], cluttered.pixels[:, 0][inside])
    added = cluttered.pixels[:, 0] != plain.pixels[:, 0]
    assert added.any() and not added[inside].any()


def test_clutter_comes_from_other_items_and_stays_outside_the_box():
    source = constant_source(20)
    values = (source.images[:, 0, 0, 0] * 255).round().long()
    ds = CanvasDigits(source, 60, canvas=64, scale=(0.75, 1.5), clutter=4, fragment=8, seed=6)
    placed = ~ds.clutter_boxes[..., 0].isnan()
    assert placed.sum() > 0.9 * placed.numel()  # with this much room, nearly every fragment fits
    for i in range(len(ds)):
        own = int(values[ds.source_indices[i]])
        x0, y0, x1, y1 = (int(v) for v in ds.boxes[i])
        assert ds.boxes[i].tolist() == ds.patch_boxes[i].tolist()  # a constant item fills its square
        pixels = ds.pixels[i, 0].long()
        assert torch.all(pixels[y0:y1, x0:x1] == own) and ds.masks[i].sum() == (x1 - x0) * (y1 - y0)
        outside = pixels.clone()
        outside[y0:y1, x0:x1] = 0
        seen = set(outside.unique().tolist()) - {0}
        assert seen and own not in seen and seen <= set(values.tolist())  # other items only
        # every fragment pixel lies in a recorded fragment square, none of which meets the box
        covered = torch.zeros_like(ds.masks[i])
        for fx0, fy0, fx1, fy1 in ds.clutter_boxes[i][placed[i]].long().tolist():
            assert (fx1 - fx0, fy1 - fy0) == (8, 8)
            assert fx1 <= x0 or fx0 >= x1 or fy1 <= y0 or fy0 >= y1
            covered[fy0:fy1, fx0:fx1] = True
        assert not (outside.bool() & ~covered).any()


def test_fragments_that_find_no_room_are_skipped():
    """A 28x28 item on a 30x30 canvas leaves no 10x10 place outside its box."""
    ds = CanvasDigits(constant_source(5), 8, canvas=30, scale=(1.0, 1.0), clutter=3, seed=0)
    assert ds.clutter_boxes.isnan().all()
    assert "24 skipped" in ds.source
    for i in range(len(ds)):
        x0, y0, x1, y1 = (int(v) for v in ds.boxes[i])
        outside = ds.pixels[i, 0].clone()
        outside[y0:y1, x0:x1] = 0
        assert outside.sum() == 0


# --------------------------------------------------------------------------------------
# sampling, determinism, labels, shapes
# --------------------------------------------------------------------------------------


def test_same_seed_same_tensors_other_seed_other_tensors():
    make = lambda seed: CanvasDigits(blob_source(), 50, clutter=3, seed=seed)  # noqa: E731
    first, again, other = make(7), make(7), make(8)
    for name in ("pixels", "labels", "boxes", "masks", "source_indices", "patch_boxes"):
        assert torch.equal(getattr(first, name), getattr(again, name)), name
    assert torch.equal(first.clutter_boxes.nan_to_num(-1), again.clutter_boxes.nan_to_num(-1))
    assert first.source == again.source and "seed 7" in first.source
    assert not torch.equal(first.pixels, other.pixels)
    assert not torch.equal(first.boxes, other.boxes)


def test_labels_are_the_source_labels_of_the_chosen_items():
    source = blob_source(30)
    source.labels = torch.randint(10, (30,), generator=torch.Generator().manual_seed(0))
    ds = CanvasDigits(source, 25, seed=1)
    assert torch.equal(ds.labels, source.labels[ds.source_indices])
    assert len(set(ds.source_indices.tolist())) == 25  # without replacement
    assert [label for _, label in ds] == ds.labels.tolist()
    assert ds.classes == CLASSES and ds.source_dataset is source


def test_more_canvases_than_items_use_every_item_evenly():
    ds = CanvasDigits(blob_source(30), 75, seed=0)
    counts = torch.bincount(ds.source_indices, minlength=30)
    assert counts.min() >= 2 and counts.max() <= 3 and counts.sum() == 75
    assert len(CanvasDigits(blob_source(30), seed=0)) == 30  # size defaults to len(source)


def test_canvas_size_option_and_item_types():
    ds = CanvasDigits(blob_source(), 10, canvas=80, scale=(2.0, 2.5), clutter=2, seed=0)
    assert ds.pixels.shape == (10, 1, 80, 80) and ds.pixels.dtype == torch.uint8
    assert ds.masks.shape == (10, 80, 80) and ds.masks.dtype == torch.bool
    assert ds.boxes.shape == (10, 4) and ds.boxes.dtype == torch.float32
    assert ds.labels.dtype == torch.long and ds.clutter_boxes.shape == (10, 2, 4)
    assert ds.boxes[:, :2].min() >= 0 and ds.boxes[:, 2:].max() <= 80
    assert "80x80" in ds.source
    img, label = ds[3]
    assert img.shape == (1, 80, 80) and img.dtype == torch.float32 and isinstance(label, int)
    assert 0 <= float(img.min()) and float(img.max()) <= 1
    assert torch.equal(img, ds.pixels[3].float() / 255)


def test_non_square_items_keep_their_aspect_and_give_true_crops():
    """Items need not be 28x28 or square: 12x20 items of random bright pixels, scaled by 1.5,
    fill 18x30 boxes, and every fragment is a 6x6 window of one of the *other* items."""
    values = torch.randint(64, 256, (6, 12, 20), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    source = source_of(values.float() / 255)
    ds = CanvasDigits(source, 30, canvas=48, scale=(1.5, 1.5), clutter=1, fragment=6, seed=0)
    windows = values.unfold(1, 6, 1).unfold(2, 6, 1)  # [item, y, x, 6, 6]
    placed = 0
    for i in range(len(ds)):
        x0, y0, x1, y1 = ds.boxes[i].tolist()
        assert (x1 - x0, y1 - y0) == (30, 18) and ds.boxes[i].tolist() == ds.patch_boxes[i].tolist()
        if ds.clutter_boxes[i, 0, 0].isnan():
            continue
        fx0, fy0, fx1, fy1 = ds.clutter_boxes[i, 0].long().tolist()
        square = ds.pixels[i, 0, fy0:fy1, fx0:fx1]
        donors = {int(k) for k in torch.nonzero((windows == square).flatten(3).all(3))[:, 0]}
        assert donors and int(ds.source_indices[i]) not in donors
        placed += 1
    assert placed > 20


def test_drops_into_a_dataloader_and_batch_gives_the_targets():
    ds = CanvasDigits(blob_source(), 20, seed=0)
    images, labels = next(iter(DataLoader(ds, batch_size=8)))
    assert images.shape == (8, 1, 64, 64) and labels.shape == (8,) and labels.dtype == torch.long
    images2, labels2, boxes, masks = ds.batch(torch.arange(8))
    assert torch.equal(images, images2) and torch.equal(labels, labels2)
    assert torch.equal(boxes, ds.boxes[:8]) and torch.equal(masks, ds.masks[:8])
    assert ds.batch([2, 5])[2].shape == (2, 4)


def test_items_with_an_empty_mask_are_redrawn():
    images = blob_source(10).images[:, 0].clone()
    images[::2] = 0.0  # every even item is blank
    images[1] = 0.2  # and one too faint to pass the threshold
    ds = CanvasDigits(source_of(images), 40, seed=0)
    assert all(i % 2 == 1 and i != 1 for i in ds.source_indices.tolist())
    assert ds.masks.flatten(1).any(1).all()
    with pytest.raises(ValueError, match="blank or too faint"):
        CanvasDigits(source_of(torch.zeros(5, 28, 28)), 3)


# --------------------------------------------------------------------------------------
# argument errors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(canvas=40), r"canvas 40 is smaller than the largest scaled item \(42 pixels"),
        (dict(canvas=64, scale=(1.0, 2.5)), "largest scaled item"),
        (dict(scale=(1.5, 0.75)), "0 < min <= max"),
        (dict(scale=(0.0, 1.0)), "0 < min <= max"),
        (dict(scale=(-1.0, 1.0)), "0 < min <= max"),
        (dict(scale=1.0), "pair"),
        (dict(scale=(0.01, 1.0)), "below one pixel"),
        (dict(size=0), "size"),
        (dict(canvas=0), "canvas"),
        (dict(clutter=-1), "clutter"),
        (dict(clutter=2, fragment=0), "fragment"),
        (dict(clutter=2, fragment=29), "fragment"),
        (dict(threshold=1.0), "threshold"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CanvasDigits(blob_source(), **kwargs)


def test_clutter_needs_a_second_item_and_images_must_be_single_channel():
    with pytest.raises(ValueError, match="at least 2 source items"):
        CanvasDigits(blob_source(1), clutter=1)
    bad = blob_source(3)
    bad.images = bad.images.expand(3, 3, 28, 28)
    with pytest.raises(ValueError, match="single-channel"):
        CanvasDigits(bad)


# --------------------------------------------------------------------------------------
# localization_splits on the real MNIST files, where this machine has them
# --------------------------------------------------------------------------------------


@pytest.mark.skipif(
    not all((SHARED_DATA / "MNIST" / "raw" / name).is_file() for name in MNIST_TEST_FILES),
    reason=f"no MNIST test split under {SHARED_DATA}",
)
def test_localization_splits_on_real_mnist_draw_from_disjoint_digits():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the offline partition warns; test_data.py checks that
        splits = localization_splits("mnist", 600, 300, clutter=3, seed=2, root=SHARED_DATA, download=False)
    train, test = splits.train, splits.test
    assert train.source_dataset is splits.digits.train and test.source_dataset is splits.digits.test
    assert (len(train), len(test)) == (600, 300) and train.pixels.shape[2:] == (64, 64)
    assert "seed 4" in train.source and "seed 5" in test.source  # 2 * seed and 2 * seed + 1
    assert splits.classes == train.classes == [f"{i} - {name}" for i, name in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])]
    # the source digits of train and test canvases are different images
    train_digits = {bytes(d.mul(255).round().byte().numpy()) for d in splits.digits.train.images[train.source_indices]}
    test_digits = {bytes(d.mul(255).round().byte().numpy()) for d in splits.digits.test.images[test.source_indices]}
    assert len(train_digits) > 590 and len(test_digits) > 290 and not train_digits & test_digits
    assert torch.equal(train.labels, splits.digits.train.labels[train.source_indices])
    for ds in (train, test):
        for i in range(0, len(ds), 7):
            assert ds.boxes[i].tolist() == mask_bbox(ds.masks[i])
        sizes = ds.boxes[:, 2:] - ds.boxes[:, :2]
        assert sizes.min() >= 1 and sizes.max() <= 42  # a digit at scale <= 1.5 fits in 42 pixels
