"""MNIST and Fashion-MNIST, from local files when present, else through torchvision's download.

Where the files are looked for, in order:

1. ``<root>/MNIST/raw`` or ``<root>/FashionMNIST/raw`` -- torchvision's own layout, with
   ``root`` = ``$CAMLIB_DATA`` or the project's ``data/`` folder;
2. for Fashion-MNIST, ``/usr/share/datasets/fashion-mnist`` (Debian's
   ``dataset-fashion-mnist`` package).

Every ``.gz`` file is md5-checked against the checksums torchvision publishes (or Debian's
repackaged ones). When only the official *test* split is at hand -- an offline machine --
it is partitioned, with a seed, into disjoint train and held-out parts, and a warning says
so. Each data set records where it came from in ``.source``. When nothing usable is found,
the error tells missing files from files that fail their md5 check and from folders or
files that cannot be read. The download waits at most ``timeout`` seconds for a silent server.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import numbers
import os
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import datasets as tv_datasets

from camlib._checks import ArgumentTypeError, as_tensor, check_file, check_int
from camlib.config import data_root
from camlib.data.download import DEFAULT_TIMEOUT, network_timeout

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
    """In-memory 28x28 images as float tensors in [0, 1], shape ``[1, 28, 28]``, with labels.

    ``images`` are ``[N, H, W]``: ``uint8`` (0-255) or floats already in [0, 1]; ``labels`` are
    integer class indices into ``classes``."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: list[str], source: str):
        images, labels = as_tensor(images, "images"), as_tensor(labels, "labels")
        if images.dim() != 3 or labels.dim() != 1 or images.shape[0] != labels.shape[0]:
            raise ValueError(f"images must be [N, H, W] with one label each; got {list(images.shape)} "
                             f"and {list(labels.shape)} labels")
        if isinstance(classes, str) or not isinstance(classes, (list, tuple)) or not classes:
            raise ArgumentTypeError(f"classes must be a non-empty list of class names, got {classes!r:.80}")
        _check_labels(labels, len(classes))
        self.images = images.float().div_(255).unsqueeze(1) if images.dtype == torch.uint8 else _unit_floats(images)
        self.labels = labels.long()
        self.classes = list(classes)
        self.source = str(source)

    def __len__(self) -> int:
        return self.labels.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])

    def subset(self, size: int, seed: int = 0) -> DigitDataset:
        """A seeded random ``size`` images (all of them when ``size >= len(self)``)."""
        size, seed = check_int(size, "size", minimum=1), check_int(seed, "seed")
        if size >= len(self):
            return self
        keep = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:size]
        subset = DigitDataset(self.images[keep].squeeze(1), self.labels[keep], self.classes, self.source)
        subset.source += f" (random {size} of {len(self)}, seed {seed})"
        return subset

    def __repr__(self) -> str:
        return f"DigitDataset({len(self)} images, {len(self.classes)} classes, source: {self.source})"


def _check_labels(labels: torch.Tensor, classes: int) -> None:
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integer class indices, got {labels.dtype}")
    if labels.numel() and not (0 <= int(labels.min()) and int(labels.max()) < classes):
        raise ValueError(f"labels must lie in 0..{classes - 1} (one per class name); "
                         f"got {int(labels.min())}..{int(labels.max())}")


def _unit_floats(images: torch.Tensor) -> torch.Tensor:
    """Float images must already be in [0, 1]: 0-255 floats would silently saturate everything."""
    if not images.is_floating_point():
        raise ValueError(f"images must be uint8 (0-255) or floats in [0, 1], got {images.dtype}")
    if images.numel() and not (images.isfinite().all() and images.min() >= 0 and images.max() <= 1):
        raise ValueError(f"float images must lie in [0, 1] (got {float(images.min()):g}..{float(images.max()):g}, "
                         "or NaN): divide 0-255 values by 255, or pass them as uint8")
    return images.unsqueeze(1)


@dataclass
class DigitSplits:
    train: DigitDataset
    test: DigitDataset
    classes: list[str]
    source: str
    official_split: bool  # False when the training part was carved out of the official test split


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file of unsigned bytes (the MNIST format), gzip-compressed or not."""
    path = check_file(path)
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as file:
            data = file.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(f"{path} is damaged ({error}): delete it and download it again") from error
    magic = int.from_bytes(data[:4], "big")
    dtype_code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    if len(data) < 4 or magic >> 16 != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (magic number {magic:#010x})")
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    if len(data) != 4 + 4 * ndim + math.prod(shape):
        raise ValueError(f"{path} is truncated or damaged: its header promises {shape} bytes of data, it holds "
                         f"{len(data) - 4 - 4 * ndim}; delete it and download it again")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _candidate_folders(name: str, root: Path) -> list[tuple[Path, dict[str, str]]]:
    """(folder, md5 per file) for every place ``name`` may lie, in order of preference."""
    resources = dict(TORCHVISION_CLASSES[name].resources)
    folders = [(root / TORCHVISION_CLASSES[name].__name__ / "raw", resources)]
    if name == "fashion-mnist":
        folders.append((FASHION_MNIST_DEBIAN_DIR, DEBIAN_FASHION_MNIST_MD5))
    return folders


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _file_state(path: Path, md5: str | None) -> str:
    """"ok", "missing", "md5" (present, but its checksum differs: truncated or corrupt) or why it cannot be read."""
    try:
        return "ok" if _md5(path) == md5 else "md5"
    except FileNotFoundError:
        return "missing"
    except OSError as error:  # permissions, a folder of that name, an I/O error: the file may be fine
        return error.strerror or type(error).__name__


def _folder_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot be listed, None when it can (or does not exist: then its files are missing)."""
    try:
        os.listdir(folder)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return "is a file, not a folder: move it away"
    except OSError as error:
        return (f"the folder cannot be read ({error.strerror or type(error).__name__}): make it readable "
                "(chmod u+rx) or set CAMLIB_DATA to another folder")
    return None


@dataclass
class _Survey:
    """What one candidate folder holds: the state of each file of both splits."""

    folder: Path
    md5s: dict[str, str]
    states: dict[str, str]
    problem: str | None  # why the folder itself cannot be read

    def complete(self, split: str) -> bool:
        return all(self.states[f] == "ok" for f in SPLIT_FILES[split])

    def damaged(self) -> bool:
        """Files present but unusable, or a folder that cannot be read (not merely files missing)."""
        return bool(self.problem) or any(state not in ("ok", "missing") for state in self.states.values())

    def report(self) -> str:
        """One line per kind of trouble, or '' when every file is fine."""
        kinds = {"missing": [], "md5": [], "unreadable": []}
        for name, state in self.states.items():
            if state in ("missing", "md5"):
                kinds[state].append(name)
            elif state != "ok":
                kinds["unreadable"].append(f"{name} ({state})")
        if self.problem:
            return f"  {self.folder}: {self.problem}"
        if not self.folder.exists():
            return f"  {self.folder}: does not exist"
        lines = [f"  {self.folder}:"]
        if kinds["md5"]:
            lines.append(f"    fail their md5 check (truncated or corrupt: delete them and download them again): "
                         f"{', '.join(kinds['md5'])}")
        if kinds["unreadable"]:
            lines.append(f"    cannot be read (fix their permissions): {', '.join(kinds['unreadable'])}")
        if kinds["missing"]:
            lines.append(f"    missing: {', '.join(kinds['missing'])}")
        return "\n".join(lines) if len(lines) > 1 else ""


def _survey(folder: Path, md5s: dict[str, str]) -> _Survey:
    names = [f for split in ("train", "test") for f in SPLIT_FILES[split]]
    return _Survey(folder, md5s, {f: _file_state(folder / f, md5s.get(f)) for f in names}, _folder_problem(folder))


def _read_split(folder: Path, split: str, classes: list[str], source: str) -> DigitDataset:
    images, labels = (torch.from_numpy(read_idx(folder / f).copy()) for f in SPLIT_FILES[split])
    if images.dim() != 3 or labels.dim() != 1 or len(images) != len(labels):
        raise ValueError(f"{folder}: {SPLIT_FILES[split][0]} holds {list(images.shape)} images and "
                         f"{SPLIT_FILES[split][1]} {list(labels.shape)} labels: re-download both")
    return DigitDataset(images, labels, classes, source)


def _check_load_arguments(name, root, download, held_out, seed, timeout) -> tuple[str, Path]:
    if not isinstance(name, str) or name.strip().lower() not in TORCHVISION_CLASSES:
        raise ValueError(f"unknown data set {name!r}; use one of {sorted(TORCHVISION_CLASSES)}")
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise ArgumentTypeError(f"root must be a folder name (str or pathlib.Path) or None, got {type(root).__name__}")
    if not isinstance(download, bool):
        raise ArgumentTypeError(f"download must be True or False, got {download!r}")
    check_int(held_out, "held_out", minimum=1)
    check_int(seed, "seed")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, numbers.Real)
                                or not 0 < timeout < math.inf):
        raise ValueError(f"timeout={timeout!r}: use a positive number of seconds, or None to wait forever")
    root = Path(root).expanduser() if root is not None else data_root()
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"root={str(root)!r} is a file, not a folder: give the folder that holds MNIST/raw")
    return name.strip().lower(), root


def load_digits(
    name: str = "mnist",
    root: str | Path | None = None,
    *,
    download: bool = True,
    held_out: int = 2000,
    seed: int = 0,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> DigitSplits:
    """Train and test parts of MNIST (``name="mnist"``) or Fashion-MNIST (``"fashion-mnist"``).

    Args:
        root: folder holding ``MNIST/raw`` (torchvision's layout); default ``camlib.config.data_root()``.
        download: try torchvision's download when the local files are incomplete.
        held_out: size of the held-out part when only the official test split is present.
        seed: seed of that partition.
        timeout: seconds the download may wait for a silent server before it counts as failed
            (None: forever); then the local files are used, or the error says what to fetch.

    The result is kept: asked again with the same arguments while the files are unchanged, the same
    tensors come back (no second copy in memory, no second read). Do not modify them in place.
    """
    name, root = _check_load_arguments(name, root, download, held_out, seed, timeout)
    key = (name, str(root), download, held_out, seed, _files_signature(name, root))
    if key not in _LOADED:  # notebooks 03 and 06 ask again for every seed: one copy, read once
        with warnings.catch_warnings(record=True) as said:  # said again at every call, as if loaded anew
            warnings.simplefilter("always")
            splits = _load_digits(name, root, download, held_out, seed, timeout)
        if len(_LOADED) >= _KEEP_LOADED:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = (splits, [(w.message, w.category) for w in said])
    splits, said = _LOADED[key]
    for message, category in said:
        warnings.warn(message, category, stacklevel=2)
    return splits


# The last loads, by their arguments and the files' names, sizes and times: a file that changes is read again.
# Callers share these tensors and must not modify them in place.
_LOADED: dict[tuple, tuple[DigitSplits, list]] = {}
_KEEP_LOADED = 1  # the data set a loop over seeds asks for again; another one replaces it


def _files_signature(name: str, root: Path) -> tuple:
    entries = []
    for folder, _ in _candidate_folders(name, root):
        try:
            files = [f for f in folder.iterdir() if f.is_file()] if folder.is_dir() else []
            entries += sorted((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
        except OSError:  # an unreadable folder: the loader itself says so
            entries.append((str(folder), "unreadable"))
    return tuple(entries)


def _load_digits(name: str, root: Path, download: bool, held_out: int, seed: int, timeout: float | None) -> DigitSplits:
    tv_class = TORCHVISION_CLASSES[name]
    classes = list(tv_class.classes)
    surveys = [_survey(folder, md5s) for folder, md5s in _candidate_folders(name, root)]
    for survey in surveys:
        if survey.complete("train") and survey.complete("test"):
            return _official(survey.folder, classes, name)

    tried_download = ""
    if download:
        tried_download = _download(tv_class, root, timeout)
        surveys[0] = _survey(surveys[0].folder, surveys[0].md5s)
        if surveys[0].complete("train") and surveys[0].complete("test"):
            return _official(surveys[0].folder, classes, name)

    damaged = "\n".join(s.report() for s in surveys if s.damaged())
    for survey in surveys:
        if survey.complete("test"):
            note = f"Some files could not be used:\n{damaged}\n" if damaged else ""
            return _partition_test_split(survey.folder, classes, name, held_out, seed, tried_download + note)
    trouble = "\n".join(line for line in (s.report() for s in surveys) if line)
    raise DataNotFoundError(_not_found(name, tv_class, surveys, trouble, tried_download))


def _download(tv_class, root: Path, timeout: float | None) -> str:
    """Try torchvision's download; '' when it ran, else a sentence that says why it failed."""
    try:
        with network_timeout(timeout):  # torchvision's urlopen has no timeout of its own
            tv_class(root=str(root), train=True, download=True)
    except Exception as error:  # offline, silent server, read-only folder: fall through
        if isinstance(error, TimeoutError) or isinstance(error.__cause__, TimeoutError):
            waited = f"no answer within {timeout:g} s" if timeout else "timed out"
            return f"torchvision's download into {root} failed ({waited}). "
        lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
        reason = " ".join(dict.fromkeys((lines[0], lines[-1])))  # what failed, and the last cause
        return f"torchvision's download into {root} failed ({reason}). "
    return ""


def _not_found(name: str, tv_class, surveys: list[_Survey], trouble: str, tried_download: str) -> str:
    wanted = "\n".join(f"  {f}  (md5 {md5})" for f, md5 in tv_class.resources)
    mirrors = getattr(tv_class, "mirrors", None)
    url = f" from {mirrors[0]}" if mirrors else ""
    return (
        f"{name}: no complete, md5-valid copy found. Looked in:\n{trouble}\n{tried_download}"
        f"Put these files (as torchvision downloads them{url}) into {surveys[0].folder}:\n{wanted}\n"
        f"or set CAMLIB_DATA to a folder that holds {tv_class.__name__}/raw/. "
        "The test files alone are enough to run offline."
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
        raise ValueError(f"held_out={held_out} must lie between 1 and {len(full) - 1}: only the official test split "
                         f"({len(full)} images) was found, and it is partitioned into train and held-out parts")
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


# --------------------------------------------------------------------------------------------
# The localization data set: digits on a larger canvas, with boxes and masks (notebook 03)
# --------------------------------------------------------------------------------------------

MASK_THRESHOLD = 0.25  # an object's pixel belongs to its mask when its intensity is above this
_REDRAW_ROUNDS = 10  # rounds of re-drawing objects whose mask came out empty, then an error
_PLACEMENT_TRIES = 100  # draws of a position (and of a non-blank crop) per clutter fragment


def _canvas_arguments(source, size, canvas, scale, clutter, fragment, threshold, seed) -> tuple:
    """``CanvasDigits``' arguments checked against its source: (items, size, canvas, (low, high), clutter,
    fragment, threshold, seed)."""
    if not isinstance(source, DigitDataset):
        raise ArgumentTypeError(f"source must be a DigitDataset (load_digits().train), got {type(source).__name__}")
    items = source.images
    if items.dim() != 4 or items.shape[1] != 1 or len(source) < 1:
        raise ValueError(f"source must hold single-channel images [N, 1, H, W]; got {list(items.shape)}")
    n_source, height, width = items.shape[0], items.shape[2], items.shape[3]
    size = n_source if size is None else check_int(size, "size", minimum=1)
    canvas = check_int(canvas, "canvas", minimum=1)
    clutter, seed = check_int(clutter, "clutter", minimum=0), check_int(seed, "seed")
    low, high = check_scale(scale)
    largest = _scaled_side(max(height, width), high)
    if largest > canvas:
        raise ValueError(
            f"canvas {canvas} is smaller than the largest scaled item ({largest} pixels at scale "
            f"{high} of {height}x{width}); use canvas >= {largest} or a smaller maximum scale"
        )
    if _scaled_side(min(height, width), low) < 1:
        raise ValueError(f"scale minimum {low} shrinks the {height}x{width} items below one pixel")
    if isinstance(fragment, bool) or not isinstance(fragment, numbers.Integral) or not (
        1 <= fragment <= min(height, width, canvas)
    ):
        raise ValueError(
            f"fragment must be an integer from 1 to {min(height, width, canvas)} (a crop of a "
            f"{height}x{width} item that fits the canvas), got {fragment!r}"
        )
    fragment = int(fragment)
    if clutter > 0 and n_source < 2:
        raise ValueError("clutter needs at least 2 source items: fragments come from other items")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0 <= threshold < 1:
        raise ValueError(f"threshold must be a number in [0, 1), got {threshold!r}")
    _check_memory(size, canvas)
    return items, size, canvas, (low, high), clutter, fragment, float(threshold), seed


class CanvasDigits(Dataset):
    """Digits pasted at random position and scale on a larger black canvas, with ground truth.

    Every canvas holds one object -- a digit (or any item) of ``source`` resized by a factor
    drawn uniformly from ``scale`` -- and, optionally, ``clutter`` fragments of other items. All
    of it is generated at construction, in memory, from a ``torch.Generator`` seeded with
    ``seed``: the same arguments give identical tensors, and nothing is written to disk.

    How one canvas is made:

    1. the object: source item ``source_indices[i]`` (drawn without replacement; when ``size``
       exceeds ``len(source)``, from successive random permutations, so every item is used
       ``size // len(source)`` or one more times), resized bilinearly (``align_corners=False``,
       antialiased when shrinking) to ``round(28 * s)`` pixels a side (for a 28x28 source), and
       pasted at a position drawn uniformly among all those where the square fits entirely inside
       the canvas (``canvas - side + 1`` per axis). ``patch_boxes[i]`` is the pasted square. A
       large object on a small canvas therefore has few positions left, and its box can be
       guessed without looking at the image: ``camlib.metrics.floors`` measures how well, and
       ``camlib.lab.wsol.SIZE_CANVASES`` grows the canvas with the object for that reason.
    2. its mask: the pasted pixels whose stored intensity is above ``threshold``
       (``MASK_THRESHOLD`` = 0.25 by default); its box: the tight bounding box of the mask,
       ``(x_min, y_min, x_max, y_max)`` with max exclusive, the convention of
       ``torchvision.ops.box_iou``. An object whose mask is empty (a blank or very faint
       item) is re-drawn -- new item, scale and position -- up to ``_REDRAW_ROUNDS`` times, and
       then a ``ValueError`` names the problem. With MNIST and Fashion-MNIST it never happens.
    3. clutter: ``clutter`` crops of ``fragment`` x ``fragment`` pixels, each from a random
       *other* source item (any class) at its native scale, re-drawn while the crop holds no
       pixel above ``threshold``, pasted (pixel-wise maximum) at a random position that does
       not overlap the object's box. A fragment that finds no such position in
       ``_PLACEMENT_TRIES`` draws is skipped (its row in ``clutter_boxes`` is NaN). Since
       fragments stay outside the box, they never touch the mask, and every image pixel
       inside the box is the object's own.

    Images are stored as ``uint8`` in ``pixels`` (10,000 canvases of 64x64 take 41 MB instead
    of 164 MB) and returned as floats in [0, 1]: ``dataset[i]`` is ``(image [1, S, S], label)``
    -- the shape of a ``DigitDataset`` item, so the same training loop serves both -- and
    ``batch(indices)`` gives images, labels, boxes and masks together for evaluation.

    Attributes:
        pixels: ``uint8`` ``[N, 1, S, S]``; ``pixels / 255`` are the images.
        labels: ``long`` ``[N]``, the source labels of the placed objects.
        boxes: ``float32`` ``[N, 4]``, the objects' tight boxes.
        masks: ``bool`` ``[N, S, S]``, the objects' pixel masks.
        source_indices: ``long`` ``[N]``, which item of ``source_dataset`` each object is.
        patch_boxes: ``float32`` ``[N, 4]``, where the resized item was pasted (all of its square).
        clutter_boxes: ``float32`` ``[N, clutter, 4]``, the fragments' squares (NaN: skipped).
        classes, source: as in ``DigitDataset``; ``source`` says how the canvases were made.
    """

    def __init__(
        self,
        source: DigitDataset,
        size: int | None = None,
        *,
        canvas: int = 64,
        scale: tuple[float, float] = (0.75, 1.5),
        clutter: int = 0,
        fragment: int = 10,
        threshold: float = MASK_THRESHOLD,
        seed: int = 0,
    ):
        items, size, canvas, (low, high), clutter, fragment, threshold, seed = _canvas_arguments(
            source, size, canvas, scale, clutter, fragment, threshold, seed)

        self.source_dataset = source
        self.classes = list(source.classes)
        self.canvas, self.scale, self.clutter, self.fragment = canvas, (low, high), clutter, fragment
        self.threshold, self.seed = threshold, seed
        generator = torch.Generator().manual_seed(seed)

        # 1-2. objects, masks, boxes; objects with an empty mask are re-drawn
        pixels, masks, boxes, patch_boxes, chosen = self._draw_objects(size, items, generator)
        self.masks = masks
        self.boxes = boxes.float()
        self.source_indices = chosen
        self.labels = source.labels[chosen].clone()
        self.patch_boxes = patch_boxes.float()

        # 3. clutter, outside the object's box
        self.clutter_boxes = torch.full((size, clutter, 4), float("nan"))
        if clutter > 0:
            self._paste_clutter(pixels, items[:, 0].contiguous(), generator)

        self.pixels = pixels.unsqueeze(1)
        skipped = int(self.clutter_boxes[..., 0].isnan().sum())
        self.source = (
            f"CanvasDigits({size} canvases {canvas}x{canvas}, scale {low:g}-{high:g}, clutter {clutter} "
            f"fragments of {fragment}x{fragment}" + (f" ({skipped} skipped)" if skipped else "")
            + f", mask threshold {self.threshold:g}, seed {seed}) from {source.source}"
        )

    def _draw_objects(self, size: int, items: torch.Tensor, generator: torch.Generator) -> tuple:
        """Each canvas's object: pixels, mask, box, the pasted patch's box and the source index; an object
        whose mask came out empty (too faint) is drawn again."""
        canvas, n_source = self.canvas, len(items)
        pixels = torch.zeros(size, canvas, canvas, dtype=torch.uint8)
        masks = torch.zeros(size, canvas, canvas, dtype=torch.bool)
        boxes, patch_boxes = torch.zeros(size, 4, dtype=torch.long), torch.zeros(size, 4, dtype=torch.long)
        chosen = torch.cat([torch.randperm(n_source, generator=generator) for _ in range(-(-size // n_source))])
        chosen = chosen[:size]
        pending = torch.arange(size)
        for round_ in range(_REDRAW_ROUNDS + 1):
            if round_ > 0:  # re-draw the item too: its pixels may all be too faint
                chosen[pending] = torch.randint(n_source, (len(pending),), generator=generator)
                pixels[pending], masks[pending] = 0, False
            patch_boxes[pending], boxes[pending], found = self._paste_objects(
                pixels, masks, pending, chosen[pending], items, generator
            )
            pending = pending[~found]
            if len(pending) == 0:
                break
        else:
            raise ValueError(
                f"{len(pending)} canvases got no object pixel above threshold {self.threshold} after "
                f"{_REDRAW_ROUNDS} re-draws: the source items are blank or too faint (or the scale too small)"
            )
        return pixels, masks, boxes, patch_boxes, chosen

    def _paste_objects(
        self, pixels: torch.Tensor, masks: torch.Tensor, canvases: torch.Tensor, chosen: torch.Tensor,
        items: torch.Tensor, generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Resize ``items[chosen]`` by random scales and paste them, with their masks, into the
        blank ``pixels[canvases]`` and ``masks[canvases]`` at random positions.

        Returns the pasted squares and the masks' tight boxes (long ``[n, 4]``), and whether each
        mask is non-empty (the box of an empty one is meaningless)."""
        n, (height, width) = len(canvases), items.shape[2:]
        low, high = self.scale
        factors = low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)
        sides_h, sides_w = _scaled_side(height, factors), _scaled_side(width, factors)
        x0 = _uniform_int(self.canvas - sides_w + 1, generator)
        y0 = _uniform_int(self.canvas - sides_h + 1, generator)
        boxes = torch.zeros(n, 4, dtype=torch.long)
        found = torch.zeros(n, dtype=torch.bool)
        for side_h, side_w in torch.unique(torch.stack([sides_h, sides_w], 1), dim=0).tolist():
            group = torch.nonzero((sides_h == side_h) & (sides_w == side_w)).flatten()
            patch = items[chosen[group]]
            if (side_h, side_w) != (height, width):
                patch = torch.nn.functional.interpolate(
                    patch, size=(side_h, side_w), mode="bilinear", align_corners=False, antialias=True
                )
            patch = _to_uint8(patch[:, 0])
            patch_mask = patch > self.threshold * 255  # i.e. image = pixels / 255 > threshold
            index = _window_index(pixels.shape[1:], canvases[group], y0[group], x0[group], side_h, side_w)
            pixels.view(-1).index_copy_(0, index, patch.view(-1))
            masks.view(-1).index_copy_(0, index, patch_mask.view(-1))
            boxes[group] = _mask_boxes(patch_mask) + torch.stack([x0, y0, x0, y0], 1)[group]
            found[group] = patch_mask.flatten(1).view(torch.uint8).amax(1).bool()
        return torch.stack([x0, y0, x0 + sides_w, y0 + sides_h], 1), boxes, found

    def _paste_clutter(self, pixels: torch.Tensor, sources: torch.Tensor, generator: torch.Generator) -> None:
        # sources: the float items [N, H, W]; only the crops become bytes (a uint8 copy of all 60,000
        # Fashion-MNIST items would pass through two float copies of 190 MB each)
        size, count, side, n_source = pixels.shape[0], self.clutter, self.fragment, sources.shape[0]
        owner = torch.arange(size).repeat_interleave(count)  # the canvas of each fragment
        level = self.threshold * 255

        # crops from other items, re-drawn while they are blank
        crops = torch.zeros(size * count, side, side, dtype=torch.uint8)
        pending = torch.arange(size * count)
        for _ in range(_PLACEMENT_TRIES):  # a crop still blank after these draws is harmless: kept
            other = torch.randint(n_source - 1, (len(pending),), generator=generator)
            donor = other + (other >= self.source_indices[owner[pending]]).long()  # uniform over the others
            crop_y = _uniform_int(torch.full((len(pending),), sources.shape[1] - side + 1), generator)
            crop_x = _uniform_int(torch.full((len(pending),), sources.shape[2] - side + 1), generator)
            crops[pending] = _to_uint8(_crops(sources, donor, crop_y, crop_x, side))
            pending = pending[crops[pending].flatten(1).amax(1) <= level]
            if len(pending) == 0:
                break

        # positions whose square does not overlap the object's box
        box = self.boxes.long()[owner]
        x, y = torch.zeros(size * count, dtype=torch.long), torch.zeros(size * count, dtype=torch.long)
        placed = torch.zeros(size * count, dtype=torch.bool)
        pending = torch.arange(size * count)
        for _ in range(_PLACEMENT_TRIES):
            high = torch.full((len(pending),), self.canvas - side + 1)
            x[pending], y[pending] = _uniform_int(high, generator), _uniform_int(high, generator)
            b = box[pending]
            outside = (
                (x[pending] + side <= b[:, 0]) | (x[pending] >= b[:, 2])
                | (y[pending] + side <= b[:, 1]) | (y[pending] >= b[:, 3])
            )
            placed[pending[outside]] = True
            pending = pending[~outside]
            if len(pending) == 0:
                break

        # paste slot by slot: within a slot each canvas gets at most one fragment, so no index repeats
        slot = torch.arange(size * count) % count
        flat = pixels.view(-1)
        for k in range(count):
            which = torch.nonzero(placed & (slot == k)).flatten()
            index = _window_index(pixels.shape[1:], owner[which], y[which], x[which], side, side)
            flat.index_copy_(0, index, torch.maximum(flat[index], crops[which].view(-1)))
        squares = torch.stack([x, y, x + side, y + side], 1).float()
        squares[~placed] = float("nan")
        self.clutter_boxes = squares.view(size, count, 4)

    def __len__(self) -> int:
        return self.labels.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.pixels[index].float().div(255), int(self.labels[index])

    def batch(self, indices) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images (float ``[B, 1, S, S]``), labels ``[B]``, boxes ``[B, 4]`` and masks ``[B, S, S]``
        of ``indices`` (anything that indexes a tensor: a list, a tensor, a slice)."""
        return self.pixels[indices].float().div(255), self.labels[indices], self.boxes[indices], self.masks[indices]

    def __repr__(self) -> str:
        return f"CanvasDigits({len(self)} canvases, {len(self.classes)} classes, source: {self.source})"


def check_scale(scale) -> tuple[float, float]:
    try:
        low, high = (float(value) for value in scale)
    except (TypeError, ValueError):
        raise ValueError(f"scale must be a pair (min, max) of numbers, got {scale!r}") from None
    if not 0 < low <= high < float("inf"):
        raise ValueError(f"scale must be a range (min, max) with 0 < min <= max; got {scale!r}")
    return low, high


def _check_memory(size: int, canvas: int) -> None:
    """Refuse what cannot fit in memory: filling tensors that large would get the process killed, not an error."""
    needed = size * canvas * canvas * 2  # uint8 pixels and bool masks
    try:
        with open("/proc/meminfo") as file:
            available = next(int(line.split()[1]) * 1024 for line in file if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return  # not Linux: no estimate, no check
    if needed > available:
        raise ValueError(f"size={size} canvases of canvas={canvas} pixels need {needed / 2**30:.1f} GiB, and this "
                         f"machine has {available / 2**30:.1f} GiB available: use a smaller size or canvas")


def _scaled_side(side: int, factor):
    """``round(side * factor)`` (half to even), for a float or a float64 tensor of factors."""
    if isinstance(factor, torch.Tensor):
        return torch.round(side * factor).long()
    return int(torch.round(torch.tensor(side * float(factor), dtype=torch.float64)))


def _uniform_int(high: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One integer uniform in ``[0, high[i])`` for each element of ``high`` (long)."""
    draws = torch.rand(high.shape, generator=generator, dtype=torch.float64)
    return torch.minimum((draws * high).floor().long(), high - 1)


def _to_uint8(images: torch.Tensor) -> torch.Tensor:
    return images.clamp(0, 1).mul(255).round().to(torch.uint8)


def _window_index(
    shape: tuple[int, int], which: torch.Tensor, y: torch.Tensor, x: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """Flat indices into a contiguous ``[N, *shape]`` tensor of the windows
    ``[which[k], y[k]:y[k]+height, x[k]:x[k]+width]``, window after window, row-major."""
    rows = (which * shape[0])[:, None] + y[:, None] + torch.arange(height)
    return ((rows * shape[1])[:, :, None] + x[:, None, None] + torch.arange(width)).view(-1)


def _crops(images: torch.Tensor, index: torch.Tensor, y: torch.Tensor, x: torch.Tensor, side: int) -> torch.Tensor:
    """``images[index[k], y[k]:y[k]+side, x[k]:x[k]+side]`` for every k of ``[N, H, W]`` images,
    as ``[n, side, side]``."""
    flat = _window_index(images.shape[1:], index, y, x, side, side)
    return images.reshape(-1)[flat].view(-1, side, side)


def _mask_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Tight boxes ``(x_min, y_min, x_max, y_max)`` (long), max exclusive, of non-empty masks ``[N, H, W]``."""
    as_bytes = masks.view(torch.uint8)  # amax and argmax of bytes: faster than any() on bools
    columns, rows = as_bytes.amax(1), as_bytes.amax(2)  # argmax returns the first maximum
    x_min, y_min = columns.argmax(1), rows.argmax(1)
    x_max = masks.shape[2] - columns.flip(1).argmax(1)
    y_max = masks.shape[1] - rows.flip(1).argmax(1)
    return torch.stack([x_min, y_min, x_max, y_max], 1)


@dataclass
class LocalizationSplits:
    train: CanvasDigits
    test: CanvasDigits
    digits: DigitSplits  # the 28x28 data sets the canvases were made from
    classes: list[str]
    source: str


def localization_splits(
    name: str = "mnist",
    train_size: int | None = None,
    test_size: int | None = None,
    *,
    canvas: int = 64,
    scale: tuple[float, float] = (0.75, 1.5),
    clutter: int = 0,
    fragment: int = 10,
    threshold: float = MASK_THRESHOLD,
    seed: int = 0,
    root: str | Path | None = None,
    download: bool = True,
    held_out: int = 2000,
) -> LocalizationSplits:
    """Train and test ``CanvasDigits`` from the disjoint train and test parts of ``load_digits(name)``.

    ``train_size`` / ``test_size`` default to the sizes of those parts. The train canvases use
    seed ``2 * seed`` and the test canvases ``2 * seed + 1``, so no two seeds share a stream.
    ``root``, ``download`` and ``held_out`` go to ``load_digits`` (whose partition seed stays 0,
    the partition notebook 02 uses); clutter fragments come from the same part as the objects.
    """
    seed = check_int(seed, "seed")  # 2 * seed of a string would be a string
    digits = load_digits(name, root, download=download, held_out=held_out)
    options = dict(canvas=canvas, scale=scale, clutter=clutter, fragment=fragment, threshold=threshold)
    train = CanvasDigits(digits.train, train_size, seed=2 * seed, **options)
    test = CanvasDigits(digits.test, test_size, seed=2 * seed + 1, **options)
    return LocalizationSplits(
        train=train, test=test, digits=digits, classes=digits.classes,
        source=f"localization splits (seed {seed}) of {digits.source}",
    )
