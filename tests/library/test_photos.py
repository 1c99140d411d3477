"""camlib.data.photos: the demo photographs, ImageNet preprocessing and class names. No network needed."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image

from camlib.data.photos import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PHOTOS,
    demo_photos,
    imagenet_categories,
    imagenet_transform,
    unnormalize,
)


def test_demo_photos_are_rgb_images_of_their_true_size():
    photos = demo_photos()
    assert list(photos) == list(PHOTOS) == ["grace_hopper", "chelsea", "coffee", "astronaut", "rocket"]
    assert all(isinstance(photo, Image.Image) and photo.mode == "RGB" for photo in photos.values())
    assert photos["grace_hopper"].size == (512, 600)  # (W, H), as PIL gives it
    assert photos["chelsea"].size == (451, 300)
    assert np.asarray(photos["coffee"]).shape == (400, 600, 3)
    assert {PHOTOS[name][0] for name in photos} == {"matplotlib", "scikit-image"}


def test_demo_photos_by_name_and_unknown_names():
    assert list(demo_photos(["rocket", "chelsea"])) == ["rocket", "chelsea"]
    with pytest.raises(ValueError, match="unknown demo photographs \\['lena'\\]"):
        demo_photos(["lena"])


def test_missing_scikit_image_is_named_with_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)  # makes `import skimage...` raise ImportError
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(ModuleNotFoundError, match="scikit-image.*pip install scikit-image.*camlib\\[notebooks\\]"):
        demo_photos(["chelsea"])
    assert demo_photos(["grace_hopper"])["grace_hopper"].size == (512, 600)  # matplotlib's needs no scikit-image


def test_transform_resizes_the_short_side_then_center_crops():
    # 400 x 200 (W x H): short side 200 -> 256, so 512 x 256; the 224 x 224 center crop spans columns 144..367.
    pixels = np.zeros((200, 400, 3), dtype=np.uint8)
    pixels[:, :200] = 255  # left half white
    out = imagenet_transform()(Image.fromarray(pixels))
    assert out.shape == (3, 224, 224) and out.dtype == torch.float32
    white = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    black = -torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(out[:, 100, 0], white, atol=1e-3)  # crop column 0 = resized column 144: white
    assert torch.allclose(out[:, 100, -1], black, atol=1e-3)  # crop column 223 = resized column 367: black
    # Resized column 256 is the boundary: the crop's column 112 (= 256 - 144).
    assert (out[0, 100, :110] > 0).all() and (out[0, 100, 114:] < 0).all()


def test_transform_without_crop_keeps_the_whole_image():
    pixels = np.zeros((200, 400, 3), dtype=np.uint8)
    pixels[:, :200] = 255
    out = imagenet_transform(64, crop=False)(Image.fromarray(pixels))
    assert out.shape == (3, 64, 64)
    assert (out[0, :, :31] > 0).all() and (out[0, :, 33:] < 0).all()  # the white half is the left half


def test_normalization_maps_the_imagenet_mean_to_zero_and_unnormalize_inverts_it():
    mean_colour = np.array(IMAGENET_MEAN) * 255
    image = Image.fromarray(np.broadcast_to(mean_colour.round().astype(np.uint8), (50, 70, 3)).copy())
    out = imagenet_transform(32)(image)
    assert out.shape == (3, 32, 32) and out.abs().max() < 0.01  # within 0.5 / 255 / std of zero
    torch.manual_seed(0)
    pictures = torch.rand(2, 3, 8, 8)
    normalized = (pictures - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
    assert torch.allclose(unnormalize(normalized), pictures, atol=1e-6)
    assert torch.allclose(unnormalize(normalized[0]), pictures[0], atol=1e-6)
    assert unnormalize(torch.full((3, 2, 2), 100.0)).max() == 1  # clamped for display
    with pytest.raises(ValueError, match="\\[3, H, W\\] or \\[B, 3, H, W\\]"):
        unnormalize(torch.zeros(1, 8, 8))


def test_transform_accepts_arrays_as_tensors_and_refuses_bad_sizes():
    tensor = torch.zeros(3, 300, 300, dtype=torch.uint8)
    assert imagenet_transform(224)(tensor).shape == (3, 224, 224)
    for size in (0, 2.5, True):
        with pytest.raises(ValueError, match="size must be an integer >= 1"):
            imagenet_transform(size)


def test_every_demo_photo_goes_through_the_transform():
    transform = imagenet_transform()
    batch = torch.stack([transform(photo) for photo in demo_photos().values()])
    assert batch.shape == (5, 3, 224, 224) and torch.isfinite(batch).all()


def test_imagenet_categories_in_output_order():
    names = imagenet_categories()
    assert len(names) == len(set(names)) == 1000  # torchvision tells the two "crane"s and "maillot"s apart
    assert names[0] == "tench" and names[281] == "tabby" and names[967] == "espresso" and names[999] == "toilet tissue"
    assert names[657] == "missile" and names[812] == "space shuttle"


# --------------------------------------------------------------------------------------
# Faults: images and arguments that would give a deep torch error or a silently wrong input
# --------------------------------------------------------------------------------------


def test_grey_palette_and_rgba_photographs_become_rgb():
    rgb = Image.fromarray(np.full((40, 30, 3), 128, dtype=np.uint8))
    expected = imagenet_transform(16)(rgb)
    for mode in ("L", "P", "RGBA", "I;16"):
        converted = rgb.convert(mode) if mode != "I;16" else Image.fromarray(np.full((40, 30), 128, dtype=np.uint16))
        out = imagenet_transform(16)(converted)
        assert out.shape == (3, 16, 16) and torch.isfinite(out).all()
        if mode in ("L", "RGBA"):  # grey 128 stays grey 128 (a palette dithers)
            assert torch.allclose(out, expected), mode


@pytest.mark.parametrize(
    "image, error, match",
    [
        (torch.rand(3, 8, 8) * 255, ValueError, r"values in \[0, 1\] \(uint8 for 0-255\), got [\d.]+ \.\. 2\d\d"),
        (torch.full((3, 8, 8), float("nan")), ValueError, r"values in \[0, 1\]"),
        (torch.zeros(1, 8, 8, dtype=torch.uint8), ValueError, r"must be \[3, H, W\] \(RGB\), got shape \[1, 8, 8\]"),
        (torch.zeros(8, 8, 3, dtype=torch.uint8), ValueError, r"must be \[3, H, W\]"),
        (torch.zeros(3, 0, 8, dtype=torch.uint8), ValueError, r"has no pixels"),
        (torch.zeros(3, 8, 8, dtype=torch.int64), TypeError, r"use uint8 \(0-255\) or float in \[0, 1\]"),
        (np.zeros((8, 8), dtype=np.uint8), ValueError, r"H x W x 3 \(RGB\), got shape \(8, 8\)"),
        (np.full((8, 8, 3), 200.0), ValueError, r"values in \[0, 1\]"),
        ("photo.jpg", TypeError, r"takes a PIL image, a \[3, H, W\] tensor or an H x W x 3 array, got str"),
        (Image.new("RGB", (0, 5)), ValueError, r"0 x 5 pixels"),
    ],
)
def test_the_transform_names_what_it_got_and_what_works(image, error, match):
    with pytest.raises(error, match=match):
        imagenet_transform(16)(image)


def test_arrays_and_float_tensors_in_range_go_through():
    pixels = np.random.default_rng(0).integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    from_array = imagenet_transform(16, crop=False)(pixels)
    from_tensor = imagenet_transform(16, crop=False)(torch.from_numpy(pixels).permute(2, 0, 1))
    from_float = imagenet_transform(16, crop=False)(torch.from_numpy(pixels).permute(2, 0, 1) / 255)
    assert torch.allclose(from_array, from_tensor) and torch.allclose(from_float, from_tensor, atol=0.05)
    assert imagenet_transform(np.int64(16))(pixels).shape == (3, 16, 16)  # a NumPy integer is an integer


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="crop='yes'"):
        imagenet_transform(16, crop="yes")
    with pytest.raises(TypeError, match="float"):
        unnormalize(torch.zeros(3, 4, 4, dtype=torch.uint8))  # the means would round to 0: silently wrong
    with pytest.raises(TypeError, match="takes a tensor"):
        unnormalize(np.zeros((3, 4, 4)))
    assert list(demo_photos("rocket")) == ["rocket"]  # one name alone, not its letters
    with pytest.raises(ValueError, match=r"'chelsey' -> did you mean 'chelsea'\?"):
        demo_photos(["chelsey"])
