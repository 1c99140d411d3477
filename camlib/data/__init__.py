"""The data: ``digits`` (MNIST, Fashion-MNIST, the cluttered localization canvases), ``photos`` (demo
photographs, ImageNet categories and transforms), ``ilsvrc`` (ILSVRC boxes, readers and a synthetic
set) and ``download`` (timeouts for every download). ``from camlib.data import CanvasDigits`` works as
before the package existed."""

from camlib.data.digits import (
    DEBIAN_FASHION_MNIST_MD5,
    FASHION_MNIST_DEBIAN_DIR,
    MASK_THRESHOLD,
    SPLIT_FILES,
    TORCHVISION_CLASSES,
    CanvasDigits,
    DataNotFoundError,
    DigitDataset,
    DigitSplits,
    LocalizationSplits,
    check_scale,
    load_digits,
    localization_splits,
    read_idx,
)

__all__ = ["DEBIAN_FASHION_MNIST_MD5", "FASHION_MNIST_DEBIAN_DIR", "MASK_THRESHOLD", "SPLIT_FILES",
           "TORCHVISION_CLASSES", "CanvasDigits", "DataNotFoundError", "DigitDataset", "DigitSplits",
           "LocalizationSplits", "check_scale", "load_digits", "localization_splits", "read_idx"]
