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

from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torchvision.models import VGG16_Weights
from torchvision.transforms import v2

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

        with Image.open(get_sample_data(name, asfileobj=False)) as image:
            return np.asarray(image.convert("RGB"))

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
        names: which of ``PHOTOS`` (default: all, in that order).

    Raises:
        ValueError: an unknown name. ModuleNotFoundError: scikit-image is missing (its photographs
            need it; ``pip install scikit-image``).
    """
    names = list(PHOTOS) if names is None else list(names)
    unknown = [name for name in names if name not in PHOTOS]
    if unknown:
        raise ValueError(f"unknown demo photographs {unknown}; there are {list(PHOTOS)}")
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
    input by scaling alone (``camlib.imagenet.scale_boxes``). Both then scale to [0, 1] and normalize with
    ``IMAGENET_MEAN`` / ``IMAGENET_STD``.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    if crop:
        geometry = [v2.Resize(round(size * 256 / 224), antialias=True), v2.CenterCrop(size)]
    else:
        geometry = [v2.Resize((size, size), antialias=True)]
    return v2.Compose(
        [v2.ToImage(), *geometry, v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    )


def unnormalize(images: torch.Tensor) -> torch.Tensor:
    """Undo ``imagenet_transform``'s normalization: ``[3, H, W]`` or ``[B, 3, H, W]`` -> values in [0, 1]."""
    if images.dim() not in (3, 4) or images.shape[-3] != 3:
        raise ValueError(f"images must be [3, H, W] or [B, 3, H, W], got shape {list(images.shape)}")
    mean = torch.tensor(IMAGENET_MEAN, dtype=images.dtype, device=images.device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=images.dtype, device=images.device)[:, None, None]
    return (images * std + mean).clamp(0, 1)


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet-1k class names, index i = output i of torchvision's ImageNet classifiers
    (and of a network fine-tuned on the 1000 ILSVRC class folders in sorted wnid order)."""
    return list(VGG16_Weights.IMAGENET1K_V1.meta["categories"])
