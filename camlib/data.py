"""MNIST and Fashion-MNIST, from local files when present, else through torchvision's download.

Where the files are looked for, in order:

1. ``<root>/MNIST/raw`` or ``<root>/FashionMNIST/raw`` -- torchvision's own layout, with
   ``root`` = ``$CAMLIB_DATA`` or the project's ``data/`` folder;
2. for Fashion-MNIST, ``/usr/share/datasets/fashion-mnist`` (Debian's
   ``dataset-fashion-mnist`` package).

Every ``.gz`` file is md5-checked against the checksums torchvision publishes (or Debian's
repackaged ones). When only the official *test* split is at hand -- an offline machine --
it is partitioned, with a seed, into disjoint train and held-out parts, and a warning says
so. Each data set records where it came from in ``.source``.
"""

from __future__ import annotations

import gzip
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import datasets as tv_datasets
from torchvision.datasets.utils import check_integrity

from camlib.config import data_root

FASHION_MNIST_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
# Debian recompressed the upstream files, so its .gz checksums differ from torchvision's.
DEBIAN_FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "cf8536b0aa1a6ac5fa3f23001093305c",
    "train-labels-idx1-ubyte.gz": "10bea18fdb374794d4bb42e356e600c9",
    "t10k-images-idx3-ubyte.gz": "f78720b4224f21cce2f2ccf2d7a94c9a",
    "t10k-labels-idx1-ubyte.gz": "0d30e22e447f3c33dab9ed536400ac01",
}
TORCHVISION_CLASSES = {"mnist": tv_datasets.MNIST, "fashion-mnist": tv_datasets.FashionMNIST}
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


class DataNotFoundError(FileNotFoundError):
    """No usable copy of a data set was found; the message says where to put the files."""


class DigitDataset(Dataset):
    """In-memory 28x28 images as float tensors in [0, 1], shape ``[1, 28, 28]``, with labels."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: list[str], source: str):
        if images.dim() != 3 or images.shape[0] != labels.shape[0]:
            raise ValueError(f"images must be [N, H, W] with one label each; got {list(images.shape)} "
                             f"and {list(labels.shape)} labels")
        self.images = images.float().div(255).unsqueeze(1) if images.dtype == torch.uint8 else images.unsqueeze(1)
        self.labels = labels.long()
        self.classes = list(classes)
        self.source = source

    def __len__(self) -> int:
        return self.labels.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])

    def subset(self, size: int, seed: int = 0) -> DigitDataset:
        """A seeded random ``size`` images (all of them when ``size >= len(self)``)."""
        if size < 1:
            raise ValueError(f"subset size must be at least 1, got {size}")
        if size >= len(self):
            return self
        keep = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:size]
        subset = DigitDataset(self.images[keep].squeeze(1), self.labels[keep], self.classes, self.source)
        subset.source += f" (random {size} of {len(self)}, seed {seed})"
        return subset

    def __repr__(self) -> str:
        return f"DigitDataset({len(self)} images, {len(self.classes)} classes, source: {self.source})"


@dataclass
class DigitSplits:
    train: DigitDataset
    test: DigitDataset
    classes: list[str]
    source: str
    official_split: bool  # False when the training part was carved out of the official test split


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file of unsigned bytes (the MNIST format), gzip-compressed or not."""
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as file:
        data = file.read()
    magic = int.from_bytes(data[:4], "big")
    dtype_code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    if magic >> 16 != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (magic number {magic:#010x})")
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _candidate_folders(name: str, root: Path) -> list[tuple[Path, dict[str, str]]]:
    """(folder, md5 per file) for every place ``name`` may lie, in order of preference."""
    resources = dict(TORCHVISION_CLASSES[name].resources)
    folders = [(root / TORCHVISION_CLASSES[name].__name__ / "raw", resources)]
    if name == "fashion-mnist":
        folders.append((FASHION_MNIST_DEBIAN_DIR, DEBIAN_FASHION_MNIST_MD5))
    return folders


def _verified_split(folder: Path, md5s: dict[str, str], split: str) -> bool:
    return all(check_integrity(folder / f, md5s[f]) for f in SPLIT_FILES[split])


def _read_split(folder: Path, split: str, classes: list[str], source: str) -> DigitDataset:
    images, labels = (torch.from_numpy(read_idx(folder / f).copy()) for f in SPLIT_FILES[split])
    return DigitDataset(images, labels, classes, source)


def load_digits(
    name: str = "mnist",
    root: str | Path | None = None,
    *,
    download: bool = True,
    held_out: int = 2000,
    seed: int = 0,
) -> DigitSplits:
    """Train and test parts of MNIST (``name="mnist"``) or Fashion-MNIST (``"fashion-mnist"``).

    Args:
        root: folder holding ``MNIST/raw`` (torchvision's layout); default ``camlib.config.data_root()``.
        download: try torchvision's download when the local files are incomplete.
        held_out: size of the held-out part when only the official test split is present.
        seed: seed of that partition.
    """
    if name not in TORCHVISION_CLASSES:
        raise ValueError(f"unknown data set {name!r}; use one of {sorted(TORCHVISION_CLASSES)}")
    root = Path(root) if root is not None else data_root()
    tv_class = TORCHVISION_CLASSES[name]
    classes = list(tv_class.classes)
    folders = _candidate_folders(name, root)

    for folder, md5s in folders:
        if _verified_split(folder, md5s, "train") and _verified_split(folder, md5s, "test"):
            return _official(folder, classes, name)

    tried_download = ""
    if download:
        try:
            tv_class(root=str(root), train=True, download=True)
            folder, md5s = folders[0]
            if _verified_split(folder, md5s, "train") and _verified_split(folder, md5s, "test"):
                return _official(folder, classes, name)
        except Exception as error:  # offline, read-only folder, server down: fall through
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            tried_download = f"torchvision's download into {root} failed ({reason}). "

    for folder, md5s in folders:
        if _verified_split(folder, md5s, "test"):
            return _partition_test_split(folder, classes, name, held_out, seed, tried_download)

    wanted = "\n".join(f"  {f}  (md5 {md5})" for f, md5 in tv_class.resources)
    places = "\n".join(f"  {folder}" for folder, _ in folders)
    raise DataNotFoundError(
        f"{name}: no complete, md5-valid copy found. Looked in:\n{places}\n{tried_download}"
        f"Put these files (as torchvision downloads them) into {folders[0][0]}:\n{wanted}\n"
        "or set CAMLIB_DATA to a folder that holds "
        f"{tv_class.__name__}/raw/. The test files alone are enough to run offline."
    )


def _official(folder: Path, classes: list[str], name: str) -> DigitSplits:
    source = f"{name}: official train/test split from {folder}"
    return DigitSplits(
        train=_read_split(folder, "train", classes, source + " (train)"),
        test=_read_split(folder, "test", classes, source + " (test)"),
        classes=classes,
        source=source,
        official_split=True,
    )


def _partition_test_split(
    folder: Path, classes: list[str], name: str, held_out: int, seed: int, tried_download: str
) -> DigitSplits:
    full = _read_split(folder, "test", classes, "")
    if not 0 < held_out < len(full):
        raise ValueError(f"held_out={held_out} must lie between 1 and {len(full) - 1}")
    order = torch.randperm(len(full), generator=torch.Generator().manual_seed(seed))
    train_index, test_index = order[held_out:], order[:held_out]
    source = (
        f"{name}: only the official test split ({len(full)} images) was found, in {folder}; "
        f"partitioned with seed {seed} into {len(train_index)} train / {held_out} held-out images "
        "(disjoint)"
    )
    warnings.warn(
        f"{source}. {tried_download}Accuracy is measured on the held-out part; with the full "
        "training split (60,000 images) the networks would do better.",
        stacklevel=3,
    )
    images = full.images.squeeze(1)
    return DigitSplits(
        train=DigitDataset(images[train_index], full.labels[train_index], classes, source + " (train part)"),
        test=DigitDataset(images[test_index], full.labels[test_index], classes, source + " (held-out part)"),
        classes=classes,
        source=source,
        official_split=False,
    )
