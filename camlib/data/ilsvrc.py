"""ILSVRC (ImageNet) ground truth: the official boxes, read and scaled; a synthetic set for offline runs.

* ``read_voc_boxes`` / ``read_voc_folder``: the ILSVRC2012 bounding-box XML files (one PASCAL VOC
  ``<annotation>`` per image); ``read_loc_solution_csv``: Kaggle's ``LOC_val_solution.csv``, the
  same boxes as text; ``read_annotations``: the XML files when present, else the CSV.
* ``scale_boxes``: boxes of the photograph -> boxes of the resized network input.
* ``ground_truth``: class indices and box lists from the annotations.
* ``write_synthetic_ilsvrc``: a tiny ILSVRC-layout tree, so that every code path runs offline.

Boxes come out in camlib's convention, ``(x_min, y_min, x_max, y_max)`` max exclusive; the XML's
1-based inclusive indices convert as ``x_min = xmin - 1, x_max = xmax``. A box outside its image is
an error naming the file, not clipped. docs/design.md states the conventions, the CSV's assumption
and how ILSVRC scores several boxes per image; ``camlib.metrics.ilsvrc`` evaluates. Notebook 05.
"""


from __future__ import annotations

import csv
import math
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from camlib._checks import as_tensor, check_file, check_int, check_path, check_size, real_float

Objects = list[tuple[str, torch.Tensor]]  # (wnid, float32 box [4]) per object


class Annotation(NamedTuple):
    """One image's XML file: ``size = (W, H)`` in pixels and its ``(wnid, box)`` objects."""

    size: tuple[int, int]
    objects: Objects


# --------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------


def _voc_to_box(xmin: float, ymin: float, xmax: float, ymax: float, where: str,
                size: tuple[int, int] | None = None) -> torch.Tensor:
    """1-based inclusive VOC pixel indices -> continuous max-exclusive box (see module docstring).

    With the image's ``size = (W, H)``, a box reaching beyond it is an error (not clipped).
    """
    values = tuple(int(v) if float(v).is_integer() else v for v in (xmin, ymin, xmax, ymax))
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{where}: box {values} is not finite")
    if xmin < 1 or ymin < 1 or xmax < xmin or ymax < ymin:
        raise ValueError(
            f"{where}: box (xmin, ymin, xmax, ymax) = {values} is not a VOC box "
            "(1-based inclusive pixel indices with 1 <= xmin <= xmax and 1 <= ymin <= ymax)"
        )
    if size is not None and (xmax > size[0] or ymax > size[1]):
        raise ValueError(
            f"{where}: box (xmin, ymin, xmax, ymax) = {values} reaches outside its {size[0]} x {size[1]} (W x H) "
            f"image (1-based inclusive: xmax <= {size[0]}, ymax <= {size[1]}); correct the box or the image size"
        )
    return torch.tensor([xmin - 1, ymin - 1, xmax, ymax], dtype=torch.float32)


def _number(node: ET.Element, tag: str, where: str) -> float:
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise ValueError(f"{where}: missing <{tag}>")
    try:
        return float(child.text.strip())
    except ValueError:
        raise ValueError(f"{where}: <{tag}> is {child.text.strip()!r}, not a number") from None


def read_voc_boxes(xml_path: str | Path) -> Annotation:
    """Read one ILSVRC / PASCAL VOC annotation file.

    Returns:
        ``Annotation(size=(W, H), objects=[(wnid, box), ...])`` with each box a float32
        ``[4]`` tensor ``(x_min, y_min, x_max, y_max)``, converted from VOC's 1-based
        inclusive indices to continuous max-exclusive coordinates (``x_min = xmin - 1``,
        ``x_max = xmax``). Objects keep the file's order. Unpacks as ``size, objects = ...``.

    Raises:
        ValueError: the file is not well-formed XML, its root is not ``<annotation>``, or a
            size, name or box is missing, not a number, inverted, or outside the image.
        FileNotFoundError: no such file.
    """
    path = check_path(xml_path, "xml_path")
    if not path.is_file():
        raise FileNotFoundError(f"no annotation file {path}: ILSVRC's boxes come in ILSVRC2012_bbox_val_v3.tgz, "
                                "one <image id>.xml per val image")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise ValueError(f"{path}: not a well-formed XML file ({err})") from None
    if root.tag != "annotation":
        raise ValueError(f"{path}: the root element is <{root.tag}>, a VOC/ILSVRC annotation needs <annotation>")
    size = root.find("size")
    if size is None:
        raise ValueError(f"{path}: missing <size>")
    width, height = (_number(size, tag, f"{path} <size>") for tag in ("width", "height"))
    if not (math.isfinite(width) and math.isfinite(height)) or width < 1 or height < 1 or width != int(width) \
            or height != int(height):
        raise ValueError(f"{path}: <size> must hold positive integer width and height, got {width} x {height}")
    size = int(width), int(height)
    objects: Objects = []
    for k, obj in enumerate(root.iter("object")):
        where = f"{path} <object> #{k}"
        name = obj.findtext("name")
        if name is None or not name.strip():
            raise ValueError(f"{where}: missing <name> (the wnid)")
        bndbox = obj.find("bndbox")
        if bndbox is None:
            raise ValueError(f"{where}: missing <bndbox>")
        coords = [_number(bndbox, tag, where) for tag in ("xmin", "ymin", "xmax", "ymax")]
        objects.append((name.strip(), _voc_to_box(*coords, f"{where} ({name.strip()})", size)))
    return Annotation(size, objects)


def read_voc_folder(folder: str | Path) -> dict[str, Annotation]:
    """Every ``*.xml`` file of a folder (not recursive), keyed by image id (the file's stem,
    e.g. ``ILSVRC2012_val_00000001``), sorted by id. An empty folder is a ValueError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder of XML annotation files")
    files = sorted(folder.glob("*.xml"))
    if not files:
        raise ValueError(f"{folder} holds no *.xml annotation files")
    return {f.stem: read_voc_boxes(f) for f in files}


def read_loc_solution_csv(path: str | Path, sizes: Mapping[str, tuple[int, int]] | None = None) -> dict[str, Objects]:
    """Read Kaggle's ``LOC_val_solution.csv`` (or ``LOC_train_solution.csv``).

    Each PredictionString is ``wnid xmin ymin xmax ymax`` repeated once per object; the numbers
    are taken as the XML files' 1-based inclusive indices and converted as ``read_voc_boxes``
    converts them (see the module docstring for the assumption).

    Args:
        sizes: ``{image_id: (W, H)}`` of images whose boxes must lie inside them (the CSV holds no sizes;
            ``read_annotations`` reads them from the JPEGs). Images not in it are not checked.

    Returns:
        ``{image_id: [(wnid, box), ...]}`` in the file's order, boxes float32 ``[4]``.

    Raises:
        ValueError: no ``ImageId,PredictionString`` header, a PredictionString whose token
            count is not a multiple of 5, a non-numeric coordinate, an inverted box, a box outside
            the size given for its image, an empty ImageId, an image listed twice, or a file that is not text.
    """
    path = check_file(path)
    if sizes is not None and not isinstance(sizes, Mapping):
        raise TypeError(f"sizes must be a dict {{image_id: (W, H)}} or None, got {type(sizes).__name__}")
    sizes = {image_id: check_size(size, f"sizes[{image_id!r}]", "(W, H)") for image_id, size in (sizes or {}).items()}
    try:
        return _read_loc_rows(path, sizes)
    except (UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"{path} is not a text CSV file of the expected form ({error}); expected Kaggle's "
                         "LOC_val_solution.csv") from None


def _read_loc_rows(path: Path, sizes: Mapping[str, tuple[int, int]]) -> dict[str, Objects]:
    with open(path, newline="", encoding="utf-8-sig") as f:  # utf-8-sig: a spreadsheet's byte-order mark is fine
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != ["ImageId", "PredictionString"]:
            raise ValueError(
                f"{path}: the first line must be the header 'ImageId,PredictionString' "
                f"(Kaggle's LOC_*_solution.csv format), got {header!r}"
            )
        result: dict[str, Objects] = {}
        for line, row in enumerate(reader, start=2):
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) != 2:
                raise ValueError(f"{path}, line {line}: expected 2 fields (ImageId, PredictionString), got {len(row)}")
            image_id, tokens = row[0].strip(), row[1].split()
            if not image_id:
                raise ValueError(f"{path}, line {line}: the ImageId is empty")
            if image_id in result:
                raise ValueError(f"{path}, line {line}: image {image_id!r} is listed twice")
            if not tokens or len(tokens) % 5:
                raise ValueError(
                    f"{path}, line {line}: a PredictionString is 'wnid xmin ymin xmax ymax' repeated; "
                    f"got {len(tokens)} tokens"
                )
            objects: Objects = []
            for k in range(0, len(tokens), 5):
                where = f"{path}, line {line}, object #{k // 5}"
                try:
                    coords = [float(t) for t in tokens[k + 1 : k + 5]]
                except ValueError:
                    raise ValueError(f"{where}: coordinates {tokens[k + 1:k + 5]} are not numbers") from None
                objects.append((tokens[k], _voc_to_box(*coords, f"{where} ({image_id})", sizes.get(image_id))))
            result[image_id] = objects
    return result


# --------------------------------------------------------------------------------------
# Geometry and ground truth
# --------------------------------------------------------------------------------------


def scale_boxes(boxes: torch.Tensor, from_size: tuple[int, int], to_size: tuple[int, int]) -> torch.Tensor:
    """Boxes ``[..., 4]`` of a ``from_size = (W, H)`` image mapped to the same image resized to
    ``to_size = (W', H')`` (e.g. ``(224, 224)``, the plain resize of the CAM paper): x times
    ``W' / W``, y times ``H' / H``. Continuous max-exclusive coordinates scale exactly.

    Sizes are (width, height) as in the XML files and PIL, not torch's (H, W).

    IoU is invariant under this map (both areas and the intersection scale by the same
    factor), so evaluating at the network's resolution with scaled ground truth gives the
    IoUs of evaluating in the photograph with the predicted boxes scaled back. That does not
    hold for a center crop, which cuts boxes; crops are not handled here.
    """
    (w0, h0), (w1, h1) = check_size(from_size, "from_size", "(W, H)"), check_size(to_size, "to_size", "(W, H)")
    boxes = as_tensor(boxes, "boxes")
    if boxes.shape[-1:] != (4,):
        raise ValueError(f"boxes must be [..., 4], got shape {list(boxes.shape)}")
    boxes = real_float(boxes, "boxes")  # integers, float16 and bfloat16 as float32: no overflow
    if not torch.isfinite(boxes).all():
        raise ValueError("boxes hold NaN or infinite coordinates")
    factor = torch.tensor([w1 / w0, h1 / h0, w1 / w0, h1 / h0], dtype=boxes.dtype, device=boxes.device)
    return boxes * factor


def read_annotations(root: str | Path, image_paths: Sequence[str | Path]) -> dict[str, Annotation]:
    """The ILSVRC annotations of these val images, keyed by image id (the file name's stem).

    Reads ``root/val_boxes/<id>.xml`` (``ILSVRC2012_bbox_val_v3.tgz``) when that folder exists, else
    ``root/LOC_val_solution.csv`` (Kaggle), taking each image's size from its JPEG (the CSV has none),
    so that ``ground_truth(..., to_size=...)`` can scale the boxes either way. The JPEGs' sizes are also
    checked against the XML files' ``<size>``, and every box against its image.

    Raises:
        FileNotFoundError: neither ``val_boxes/`` nor ``LOC_val_solution.csv`` is under ``root``, an image
            has no XML file, or an image file is missing.
        KeyError: an image missing from the CSV.
        ValueError: an image that cannot be read, an XML size that is not the JPEG's, a box outside its image.
    """
    if isinstance(image_paths, (str, Path)):
        raise TypeError(f"image_paths={image_paths!r}: give a list of image paths, e.g. [{str(image_paths)!r}]")
    root = check_path(root, "root")
    sizes = {Path(p).stem: _image_size(Path(p)) for p in image_paths}
    if (root / "val_boxes").is_dir():
        annotations = {i: read_voc_boxes(root / "val_boxes" / f"{i}.xml") for i in sizes}
        for image_id, annotation in annotations.items():
            if annotation.size != sizes[image_id]:
                raise ValueError(
                    f"{root / 'val_boxes' / image_id}.xml gives the size {annotation.size[0]} x {annotation.size[1]}, "
                    f"but the image is {sizes[image_id][0]} x {sizes[image_id][1]} (W x H): its boxes would be "
                    "scaled wrongly; is it the annotation of another image, or was the image resized?"
                )
        return annotations
    csv_path = root / "LOC_val_solution.csv"
    if not csv_path.is_file():
        raise FileNotFoundError(f"no ILSVRC boxes under {root}: neither val_boxes/*.xml nor LOC_val_solution.csv")
    objects = read_loc_solution_csv(csv_path, sizes)
    missing = [image_id for image_id in sizes if image_id not in objects]
    if missing:
        raise KeyError(f"image {missing[0]!r} is not in {csv_path}" + (f" ({len(missing)} images are not)"
                                                                      if len(missing) > 1 else ""))
    return {image_id: Annotation(size, objects[image_id]) for image_id, size in sizes.items()}


def _image_size(path: Path) -> tuple[int, int]:
    """``(W, H)`` from the image file's header (the pixels are not decoded)."""
    from PIL import Image, UnidentifiedImageError  # installed with torchvision

    if not path.is_file():
        raise FileNotFoundError(f"no image file {path}")
    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{path} cannot be read as an image ({error}); delete or replace it") from None


def ground_truth(
    annotations: Mapping[str, Annotation | Objects],
    class_to_idx: Mapping[str, int],
    image_ids: Iterable[str] | None = None,
    *,
    to_size: tuple[int, int] | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Class indices ``[N]`` and box lists (N tensors ``[M_i, 4]``) for ``evaluate_ilsvrc``.

    Args:
        annotations: from ``read_voc_folder`` (``Annotation``s) or ``read_loc_solution_csv``.
        class_to_idx: wnid -> index, e.g. ``torchvision.datasets.ImageFolder(...).class_to_idx``.
        image_ids: the images in the order of the predictions (default: the mapping's order).
        to_size: ``(W, H)`` to scale the boxes to (``scale_boxes``); needs ``Annotation``s,
            which know each image's size.

    Raises:
        ValueError: an image without annotation or boxes, boxes naming several classes, an
            unknown wnid, or ``to_size`` with annotations that have no size.
    """
    if isinstance(image_ids, str):
        raise TypeError(f"image_ids={image_ids!r}: give a list of image ids, e.g. [{image_ids!r}]")
    if not isinstance(annotations, Mapping) or not isinstance(class_to_idx, Mapping):
        raise TypeError(f"annotations and class_to_idx must be dicts (read_voc_folder's, ImageFolder.class_to_idx), "
                        f"got {type(annotations).__name__} and {type(class_to_idx).__name__}")
    ids = list(annotations) if image_ids is None else list(image_ids)
    classes, boxes = [], []
    for image_id in ids:
        if image_id not in annotations:
            raise ValueError(f"image {image_id!r} has no annotation")
        entry = annotations[image_id]
        objects = entry.objects if isinstance(entry, Annotation) else entry
        if not objects:
            raise ValueError(f"image {image_id!r} has no box")
        if isinstance(objects, str) or not all(isinstance(o, tuple | list) and len(o) == 2 for o in objects):
            raise ValueError(f"image {image_id!r}: its annotation must be a list of (wnid, box) pairs, "
                             f"got {objects!r:.60}")
        wnids = {wnid for wnid, _ in objects}
        if len(wnids) != 1:
            raise ValueError(f"image {image_id!r} has boxes of several classes {sorted(wnids)}; its label is ambiguous")
        wnid = wnids.pop()
        if wnid not in class_to_idx:
            raise ValueError(f"image {image_id!r}: class {wnid!r} is not in class_to_idx")
        stacked = torch.stack([box for _, box in objects])
        if stacked.dim() != 2 or stacked.shape[1] != 4:
            raise ValueError(f"image {image_id!r}: its boxes must be [4] tensors (x_min, y_min, x_max, y_max), "
                             f"got {list(stacked.shape[1:])}")
        if to_size is not None:
            if not isinstance(entry, Annotation):
                raise ValueError("to_size needs each image's size: pass read_voc_folder's annotations")
            stacked = scale_boxes(stacked, entry.size, to_size)
        classes.append(check_int(class_to_idx[wnid], f"class_to_idx[{wnid!r}]", minimum=0))
        boxes.append(stacked)
    return torch.tensor(classes, dtype=torch.long), boxes


# --------------------------------------------------------------------------------------
# Synthetic ILSVRC-format data
# --------------------------------------------------------------------------------------


class SyntheticILSVRC(NamedTuple):
    root: Path
    train: Path  # ImageFolder: train/<wnid>/*.JPEG
    val: Path  # ImageFolder: val/<wnid>/*.JPEG
    val_boxes: Path  # val_boxes/<image_id>.xml, ILSVRC XML
    solution_csv: Path  # LOC_val_solution.csv
    classes: tuple[str, ...]


_MARKER = "SYNTHETIC_ILSVRC.txt"
_DATABASE = "CAM Lab synthetic ILSVRC"  # in every XML file written here (sets written before the marker existed)


def _voc_xml(filename: str, size: tuple[int, int], objects: Sequence[tuple[str, tuple[int, int, int, int]]]) -> str:
    width, height = size
    parts = [
        "<annotation>",
        "\t<folder>val</folder>",
        f"\t<filename>{filename}</filename>",
        f"\t<source>\n\t\t<database>{_DATABASE}</database>\n\t</source>",
        f"\t<size>\n\t\t<width>{width}</width>\n\t\t<height>{height}</height>\n\t\t<depth>3</depth>\n\t</size>",
        "\t<segmented>0</segmented>",
    ]
    for wnid, (xmin, ymin, xmax, ymax) in objects:
        parts.append(
            f"\t<object>\n\t\t<name>{wnid}</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>0</truncated>\n"
            f"\t\t<difficult>0</difficult>\n\t\t<bndbox>\n\t\t\t<xmin>{xmin}</xmin>\n\t\t\t<ymin>{ymin}</ymin>\n"
            f"\t\t\t<xmax>{xmax}</xmax>\n\t\t\t<ymax>{ymax}</ymax>\n\t\t</bndbox>\n\t</object>"
        )
    parts.append("</annotation>\n")
    return "\n".join(parts)


def _draw(rng: np.random.Generator, size: tuple[int, int], n_objects: int, colour: np.ndarray):
    """Noise image with ``n_objects`` bright rectangles; their boxes as 0-based [c0, r0, c1, r1) ints."""
    width, height = size
    pixels = rng.integers(0, 96, size=(height, width, 3), dtype=np.uint8)
    boxes = []
    for _ in range(n_objects):
        bw = int(rng.integers(max(2, width // 6), max(3, width // 2) + 1))
        bh = int(rng.integers(max(2, height // 6), max(3, height // 2) + 1))
        c0, r0 = int(rng.integers(0, width - bw + 1)), int(rng.integers(0, height - bh + 1))
        pixels[r0 : r0 + bh, c0 : c0 + bw] = colour
        boxes.append((c0, r0, c0 + bw, r0 + bh))
    return pixels, boxes


def write_synthetic_ilsvrc(
    root: str | Path,
    classes: Sequence[str] = ("n01440764", "n01443537", "n01484850", "n01491361"),
    images_per_class: int = 2,
    size: tuple[int, int] = (96, 80),
    seed: int = 0,
) -> SyntheticILSVRC:
    """Write a tiny data set in ILSVRC's formats, so every reading and evaluation path runs.

    **These images mean nothing for CAM quality.** They are uniform noise with one or two
    flat bright rectangles whose colour depends on the class; a network trained on them learns
    a colour, and no number measured on them says anything about CAMs on ImageNet. They exist
    for tests and for notebooks running without the real data (say so beside any result).

    Layout under ``root`` (created). ``root`` must be new, empty, or a set this function wrote before
    (it leaves ``SYNTHETIC_ILSVRC.txt`` there), which is then replaced; any other folder is refused, so
    that a real ILSVRC tree or the user's files are never overwritten.

    * ``train/<wnid>/<wnid>_<k>.JPEG`` and ``val/<wnid>/ILSVRC2012_val_<8 digits>.JPEG``:
      ``torchvision.datasets.ImageFolder`` trees (the real val set is flat; sort it into
      class folders with ``LOC_val_solution.csv``);
    * ``val_boxes/ILSVRC2012_val_<8 digits>.xml``: one ILSVRC/VOC XML per val image, 1-based
      inclusive boxes; every odd-numbered val image holds two objects of its class;
    * ``LOC_val_solution.csv``: the same boxes in Kaggle's format.

    Args:
        classes: wnids (distinct; letters, digits, ``_`` and ``-``, as they become folder names and CSV
            tokens); size: ``(W, H)`` of every image, at least 8 x 8; seed: the same seed writes the same
            pixels and boxes.
    """
    if isinstance(classes, str):
        raise TypeError(f"classes={classes!r}: give a list of wnids, e.g. ({classes!r},)")
    classes = tuple(classes)
    if not classes or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct wnids, got {classes!r}")
    odd = [c for c in classes if not isinstance(c, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", c)]
    if odd:
        raise ValueError(f"classes {odd!r}: a wnid is letters, digits, '_' or '-' (e.g. 'n01440764'); it becomes "
                         "a folder name and a CSV token")
    check_int(images_per_class, "images_per_class", 1)
    width, height = check_size(size, "size", "(W, H)")
    if width < 8 or height < 8:
        raise ValueError(f"size must be at least (8, 8), got {size!r}")
    seed = check_int(seed, "seed")
    from PIL import Image  # installed with torchvision

    root = check_path(root, "root")
    paths = SyntheticILSVRC(root, root / "train", root / "val", root / "val_boxes", root / "LOC_val_solution.csv",
                            classes)
    _make_room(root, paths)
    paths.val_boxes.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    palette = rng.integers(160, 256, size=(len(classes), 3), dtype=np.uint8)
    rows = []
    val_index = 0
    for c, wnid in enumerate(classes):
        for split in ("train", "val"):
            folder = getattr(paths, split) / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(images_per_class):
                if split == "train":
                    pixels, _ = _draw(rng, (width, height), 1, palette[c])
                    Image.fromarray(pixels).save(folder / f"{wnid}_{k}.JPEG", format="JPEG", quality=90)
                    continue
                val_index += 1
                image_id = f"ILSVRC2012_val_{val_index:08d}"
                pixels, boxes = _draw(rng, (width, height), 1 + val_index % 2, palette[c])
                Image.fromarray(pixels).save(folder / f"{image_id}.JPEG", format="JPEG", quality=90)
                # 0-based max-exclusive [c0, c1) -> 1-based inclusive [c0 + 1, c1].
                voc = [(wnid, (c0 + 1, r0 + 1, c1, r1)) for c0, r0, c1, r1 in boxes]
                (paths.val_boxes / f"{image_id}.xml").write_text(_voc_xml(f"{image_id}.JPEG", (width, height), voc))
                rows.append((image_id, " ".join(f"{w} {x0} {y0} {x1} {y1}" for w, (x0, y0, x1, y1) in voc) + " "))
    with open(paths.solution_csv, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ImageId", "PredictionString"])
        writer.writerows(rows)
    return paths


def _is_synthetic(root: Path) -> bool:
    if (root / _MARKER).is_file():
        return True
    first_xml = min((root / "val_boxes").glob("*.xml"), default=None) if (root / "val_boxes").is_dir() else None
    return first_xml is not None and _DATABASE in first_xml.read_text(errors="replace")


def _make_room(root: Path, paths: SyntheticILSVRC) -> None:
    """Refuse a folder holding anything but an earlier synthetic set; clear an earlier set (no stale classes)."""
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{root} is a file: write_synthetic_ilsvrc needs a new or empty folder")
    if root.is_dir() and any(root.iterdir()):
        if not _is_synthetic(root):
            raise FileExistsError(
                f"{root} is not empty ({', '.join(sorted(p.name for p in root.iterdir())[:5])}) and holds no synthetic "
                "set written by write_synthetic_ilsvrc: choose a new or empty folder, so nothing there is overwritten"
            )
        for folder in (paths.train, paths.val, paths.val_boxes):
            if folder.is_dir():
                shutil.rmtree(folder)
    root.mkdir(parents=True, exist_ok=True)
    (root / _MARKER).write_text(
        "Written by camlib.data.ilsvrc.write_synthetic_ilsvrc: noise images with coloured rectangles in ILSVRC's\n"
        "formats, for tests and offline notebooks. Numbers measured on them mean nothing for ImageNet.\n"
    )
