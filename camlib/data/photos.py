"""Real photographs for notebook 05, and ImageNet's preprocessing and class names.

* ``demo_photos`` -- sample photographs that matplotlib and scikit-image ship inside their
  packages (no download): Grace Hopper, Chelsea the cat, a cup of coffee, an astronaut, a rocket.
* ``imagenet_transform`` -- what torchvision's ImageNet classifiers expect: resize the short side
  to 256/224 of the input size, center-crop a square, scale to [0, 1], normalize with ImageNet's
  channel means and standard deviations. ``crop=False`` squashes the whole photograph to a square
  instead (nothing cut off), as localization needs when boxes must stay inside the input.
* ``unnormalize`` -- the inverse of the normalization, for drawing a network's input.
* ``imagenet_categories`` -- the 1000 ImageNet class names in the networks' output order, from the
  metadata of torchvision's weights (part of torchvision itself: available offline).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torchvision.models import VGG16_Weights
from torchvision.transforms import v2

from camlib._checks import check_int
from camlib.data.digits import DataNotFoundError

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PHOTOS",
    "demo_photos",
    "imagenet_categories",
    "imagenet_transform",
    "unnormalize",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _matplotlib_sample(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from matplotlib.cbook import get_sample_data

        try:
            with Image.open(get_sample_data(name, asfileobj=False)) as image:
                return np.asarray(image.convert("RGB"))
        except OSError as error:  # some distributions strip matplotlib's sample data
            raise FileNotFoundError(
                f"the demo photograph {name!r} ships with matplotlib's sample data, which is missing here ({error}): "
                "reinstall matplotlib from PyPI (pip install --force-reinstall matplotlib)"
            ) from None

    return load


def _skimage_sample(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        try:
            import skimage.data
        except ImportError as error:
            raise ModuleNotFoundError(
                f"the demo photograph {name!r} comes with scikit-image, which is not installed: "
                "pip install scikit-image (it is part of camlib's notebooks extra: pip install 'camlib[notebooks]')"
            ) from error
        return getattr(skimage.data, name)()

    return load


PHOTOS: dict[str, tuple[str, Callable[[], np.ndarray]]] = {
    "grace_hopper": ("matplotlib", _matplotlib_sample("grace_hopper.jpg")),
    "chelsea": ("scikit-image", _skimage_sample("chelsea")),
    "coffee": ("scikit-image", _skimage_sample("coffee")),
    "astronaut": ("scikit-image", _skimage_sample("astronaut")),
    "rocket": ("scikit-image", _skimage_sample("rocket")),
}
"""name -> (the package that ships it, a loader returning an ``H x W x 3`` uint8 array)."""


def demo_photos(names: Sequence[str] | None = None) -> dict[str, Image.Image]:
    """The sample photographs of matplotlib and scikit-image, as RGB PIL images, by name.

    Args:
        names: which of ``PHOTOS`` (default: all, in that order); one name alone is fine too.

    Raises:
        ValueError: an unknown name. ModuleNotFoundError: scikit-image is missing (its photographs
            need it; ``pip install scikit-image``).
    """
    names = list(PHOTOS) if names is None else [names] if isinstance(names, str) else list(names)
    unknown = [name for name in names if name not in PHOTOS]
    if unknown:
        close = {name: difflib.get_close_matches(name, list(PHOTOS), n=1) for name in unknown if isinstance(name, str)}
        hints = "".join(f"; {name!r} -> did you mean {hint[0]!r}?" for name, hint in close.items() if hint)
        raise ValueError(f"unknown demo photographs {unknown}; there are {list(PHOTOS)}{hints}")
    photos = {}
    for name in names:
        pixels = np.asarray(PHOTOS[name][1]())
        if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
            raise ValueError(f"{name}: expected an H x W x 3 uint8 image, got {pixels.dtype} {pixels.shape}")
        photos[name] = Image.fromarray(pixels)
    return photos


def imagenet_transform(size: int = 224, crop: bool = True) -> v2.Compose:
    """PIL image (or ``[3, H, W]`` uint8 tensor) -> normalized float ``[3, size, size]`` tensor, as ImageNet
    classifiers expect.

    ``crop=True``: resize the short side to ``round(size * 256 / 224)`` and center-crop ``size x size``
    (torchvision's evaluation preset; 256 -> 224 at the usual size). ``crop=False``: resize the whole image
    to ``size x size``, changing its aspect ratio but keeping every pixel in view, so that boxes map onto the
    input by scaling alone (``camlib.data.ilsvrc.scale_boxes``). Both then scale to [0, 1] and normalize with
    ``IMAGENET_MEAN`` / ``IMAGENET_STD``.
    """
    check_int(size, "size", 1)
    if not isinstance(crop, bool):
        raise TypeError(f"crop={crop!r}: use True (resize and center-crop) or False (resize the whole image)")
    size = int(size)
    if crop:
        geometry = [v2.Resize(round(size * 256 / 224), antialias=True), v2.CenterCrop(size)]
    else:
        geometry = [v2.Resize((size, size), antialias=True)]
    return v2.Compose(
        [_RGBInput(), v2.ToImage(), *geometry, v2.ToDtype(torch.float32, scale=True),
         v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    )


class _RGBInput:
    """The transform's first step: an RGB image with pixels, or an error saying what it got and what works.

    PIL images of any mode become RGB (grey, palette and RGBA photographs are common); a ``[3, H, W]``
    tensor or ``H x W x 3`` array passes if it is uint8 (0-255) or float in [0, 1] -- a float image in
    0-255 would otherwise be normalized silently wrong.
    """

    def __call__(self, image):
        if isinstance(image, Image.Image):
            if 0 in image.size:
                raise ValueError(f"the image is {image.size[0]} x {image.size[1]} pixels: it has no pixels to classify")
            return image if image.mode == "RGB" else image.convert("RGB")
        if isinstance(image, np.ndarray):
            if image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(f"an array image must be H x W x 3 (RGB), got shape {image.shape}")
            self._check_values(torch.from_numpy(np.ascontiguousarray(image)), f"H x W x 3 array {image.dtype}")
            return image
        if isinstance(image, torch.Tensor):
            if image.dim() != 3 or image.shape[0] != 3:
                raise ValueError(f"a tensor image must be [3, H, W] (RGB), got shape {list(image.shape)}")
            self._check_values(image, f"tensor {image.dtype}")
            return image
        raise TypeError(f"imagenet_transform takes a PIL image, a [3, H, W] tensor or an H x W x 3 array, got "
                        f"{type(image).__name__}")

    @staticmethod
    def _check_values(pixels: torch.Tensor, what: str) -> None:
        if pixels.numel() == 0:
            raise ValueError(f"the {what} image has no pixels (shape {list(pixels.shape)})")
        if pixels.dtype == torch.uint8:
            return
        if not pixels.is_floating_point():
            raise TypeError(f"a {what} image: use uint8 (0-255) or float in [0, 1]")
        if not torch.isfinite(pixels).all() or pixels.min() < 0 or pixels.max() > 1:
            raise ValueError(f"a {what} image must hold values in [0, 1] (uint8 for 0-255), got "
                             f"{pixels.min().item():g} .. {pixels.max().item():g}")

    def __repr__(self) -> str:
        return "RGBInput()"


def unnormalize(images: torch.Tensor) -> torch.Tensor:
    """Undo ``imagenet_transform``'s normalization: ``[3, H, W]`` or ``[B, 3, H, W]`` -> values in [0, 1]."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"unnormalize takes a tensor from imagenet_transform, got {type(images).__name__}")
    if images.dim() not in (3, 4) or images.shape[-3] != 3:
        raise ValueError(f"images must be [3, H, W] or [B, 3, H, W], got shape {list(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(f"images must be float (imagenet_transform's output), got {images.dtype}")
    mean = torch.tensor(IMAGENET_MEAN, dtype=images.dtype, device=images.device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=images.dtype, device=images.device)[:, None, None]
    return (images * std + mean).clamp(0, 1)


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet-1k class names, index i = output i of torchvision's ImageNet classifiers
    (and of a network fine-tuned on the 1000 ILSVRC class folders in sorted wnid order)."""
    return list(VGG16_Weights.IMAGENET1K_V1.meta["categories"])


def read_rgb(path: str) -> Image.Image:
    """One image file as RGB: ImageFolder's loader, with the file's name and the fix in the error (a
    data-loader worker's error reaches the main process's log)."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise DataNotFoundError(
            f"cannot read the image {path} ({type(error).__name__}: {error}): delete or replace it, then run the "
            "same command again (camlib.train.finetune resumes from its last checkpoint)"
        ) from None
