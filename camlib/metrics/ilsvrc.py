"""ILSVRC localization as the CAM paper reports it: Top-1 / Top-5 Loc and GT-known Loc over every
ground-truth box of an image (``evaluate_ilsvrc``), a model's top-5 CAMs and boxes on a validation
folder (``ilsvrc_cams``), and the paper's Table 2 beside ours (``ilsvrc_table``). Notebook 05; the box
conventions are those of ``camlib.metrics.localize`` (docs/design.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Real
from pathlib import Path
from typing import NamedTuple

import torch

from camlib._checks import as_tensor, check_device, check_int, real_float
from camlib._guards import check_model
from camlib.data.ilsvrc import ground_truth, read_annotations
from camlib.data.photos import read_rgb
from camlib.methods.cam import compute_cams
from camlib.metrics.localize import (
    bbox_from_cam,
    best_true_boxes,
    check_boxes_in_frame,
    gt_known_loc,
    max_box_acc_v2,
    top1_loc,
    top5_loc,
    true_box_sets,
)

# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------


def _check_objects(true_boxes, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """ILSVRC's boxes, read as every localization metric reads them (``true_box_sets``: all boxes and
    the image of each), must each enclose an object."""
    gt, owner = true_box_sets(true_boxes, n)
    flat = (gt[:, 2] <= gt[:, 0]) | (gt[:, 3] <= gt[:, 1])
    if flat.any():
        k = int(flat.nonzero()[0])
        raise ValueError(f"true_boxes[{int(owner[k])}] holds {gt[k].tolist()}: every box must be (x_min, y_min, "
                         "x_max, y_max) with x_min < x_max and y_min < y_max (a box of zero area holds no object)")
    return gt, owner


def _check_classes(top5_classes, true_classes, threshold, iou_threshold) -> tuple[torch.Tensor, torch.Tensor]:
    """The top-5 ``[N, 5]`` and true ``[N]`` classes on the CPU, and the two thresholds, checked."""
    top5_classes = as_tensor(top5_classes, "top5_classes")
    if top5_classes.dim() != 2 or top5_classes.shape[1] != 5:
        raise ValueError(f"top5_classes must be [N, 5], got shape {list(top5_classes.shape)}")
    n = top5_classes.shape[0]
    if n == 0:
        raise ValueError("evaluate_ilsvrc got no images (N = 0)")
    top5_classes = top5_classes.cpu()
    true_classes = as_tensor(true_classes, "true_classes").cpu()
    if true_classes.shape != (n,):
        raise ValueError(f"true_classes must be [N] = [{n}], got shape {list(true_classes.shape)}")
    if any(c.is_floating_point() or c.is_complex() or c.dtype == torch.bool for c in (top5_classes, true_classes)):
        raise TypeError("top5_classes and true_classes must hold integer class indices (logits.topk(5).indices)")
    repeated = (top5_classes.sort(dim=1).values.diff(dim=1) == 0).any(dim=1)
    if repeated.any():
        i = int(repeated.nonzero()[0])
        raise ValueError(f"top5_classes[{i}] = {top5_classes[i].tolist()} names a class twice: give five different "
                         "classes per image (logits.topk(5).indices)")
    if isinstance(threshold, bool) or not (isinstance(threshold, Real) and 0 <= threshold <= 1):
        raise ValueError(f"threshold={threshold!r}: use a fraction in [0, 1] of each CAM's maximum (the paper: 0.2)")
    if isinstance(iou_threshold, bool) or not (isinstance(iou_threshold, Real) and 0 < iou_threshold <= 1):
        raise ValueError(f"iou_threshold={iou_threshold!r}: use a number in (0, 1] (ILSVRC: 0.5)")
    return top5_classes, true_classes


def _finite(value, name: str) -> torch.Tensor:
    value = real_float(as_tensor(value, name), name)
    if not torch.isfinite(value).all():
        raise ValueError(f"{name} holds NaN or infinite values: no box can be read from them")
    return value


def _top5_boxes(top5: torch.Tensor, objects: tuple[torch.Tensor, torch.Tensor], n: int, threshold: float,
                image_size) -> torch.Tensor:
    """``[N, 5, 4]`` boxes: made from ``[N, 5, h, w]`` CAMs by the paper's heuristic, or given."""
    if top5.dim() == 4:  # CAMs: ground truth wholly outside their frame would silently score 0
        check_boxes_in_frame(*objects, tuple(top5.shape[-2:]), image_size)
    if top5.dim() == 4 and top5.shape[:2] == (n, 5):
        boxes5 = bbox_from_cam(top5.reshape(n * 5, *top5.shape[2:]), threshold, image_size=image_size)
        boxes5 = boxes5.reshape(n, 5, 4)
    elif top5.shape == (n, 5, 4):
        boxes5 = top5
    else:
        raise ValueError(f"top5 must be [N, 5, h, w] CAMs or [N, 5, 4] boxes with N = {n}; got {list(top5.shape)}")
    return boxes5.detach().cpu().float()


def evaluate_ilsvrc(
    top5_classes: torch.Tensor,
    top5: torch.Tensor,
    true_classes: torch.Tensor,
    true_boxes: Sequence[torch.Tensor] | torch.Tensor,
    *,
    true_class: torch.Tensor | None = None,
    image_size: int | tuple[int, int] | None = None,
    threshold: float = 0.2,
    iou_threshold: float = 0.5,
    cam_thresholds: Sequence[float] | None = None,
) -> dict[str, float]:
    """ILSVRC localization and classification scores of CAM boxes, as accuracies and errors.

    Args:
        top5_classes: ``[N, 5]`` the five best classes per image, best first (``logits.topk(5)``).
        top5: either ``[N, 5, h, w]`` the CAM of each of those classes (boxes by the paper's
            heuristic, ``bbox_from_cam(threshold=0.2)``), or ``[N, 5, 4]`` boxes made already.
        true_classes: ``[N]``.
        true_boxes: a list of N ``[M_i, 4]`` (every box of image i; the best counts) or ``[N, 4]``,
            in the pixel frame of the boxes (``image_size`` when CAMs are given): use
            ``ground_truth(..., to_size=(W, H))`` for the network's input size.
        true_class: the true class's ``[N, h, w]`` CAM (gives GT-known Loc *and* MaxBoxAccV2) or
            its ``[N, 4]`` boxes (GT-known Loc only). ``None``: both are left out.
        image_size: ``(H, W)`` (torch order, as in ``camlib.metrics.localize``) to scale map boxes to
            image pixels; ``None`` when the CAMs are already at the boxes' resolution.
        threshold: the CAM fraction of the box heuristic (the paper's 20 %).
        iou_threshold: ILSVRC's 0.5.
        cam_thresholds: the taus of MaxBoxAccV2 (default ``camlib.metrics.localize``'s 0.00 .. 0.99);
            MaxBoxAccV2 follows Choe et al.'s protocol (each map min-max normalized, every
            component boxed, ``camlib.metrics.localize.max_box_acc_v2``).

    Returns:
        ``{"n", "top1_cls", "top5_cls", "top1_loc", "top5_loc"[, "gt_known_loc", "max_box_acc_v2"]}``
        as accuracies in [0, 1], and for each but MaxBoxAccV2 (an accuracy by convention) the
        error ``<name>_error = 1 - accuracy``, as the CAM paper reports its tables.
    """
    top5_classes, true_classes = _check_classes(top5_classes, true_classes, threshold, iou_threshold)
    n = top5_classes.shape[0]
    objects = _check_objects(true_boxes, n)
    boxes5 = _top5_boxes(_finite(top5, "top5"), objects, n, threshold, image_size)
    true_class = None if true_class is None else _finite(true_class, "true_class")

    correct = top5_classes == true_classes[:, None]
    result: dict[str, float] = {
        "n": n,
        "top1_cls": float(correct[:, 0].float().mean()),
        "top5_cls": float(correct.any(dim=1).float().mean()),
        "top1_loc": top1_loc(top5_classes[:, 0], true_classes, boxes5[:, 0], best_true_boxes(boxes5[:, 0], true_boxes),
                             iou_threshold),
    }
    # Only the guess naming the true class can score (the five classes differ): match its box.
    guess = correct.float().argmax(dim=1)
    chosen = boxes5[torch.arange(n), guess]
    result["top5_loc"] = top5_loc(top5_classes, boxes5, true_classes, best_true_boxes(chosen, true_boxes),
                                  iou_threshold)
    if true_class is not None:
        if true_class.shape == (n, 4):
            known = true_class.detach().cpu().float()
        elif true_class.dim() == 3 and true_class.shape[0] == n:
            known = bbox_from_cam(true_class, threshold, image_size=image_size).cpu()
            kwargs = {} if cam_thresholds is None else {"cam_thresholds": cam_thresholds}
            result["max_box_acc_v2"] = max_box_acc_v2(true_class, true_boxes, image_size=image_size, **kwargs).mean
        else:
            raise ValueError(f"true_class must be [N, h, w] CAMs or [N, 4] boxes with N = {n}; "
                             f"got {list(true_class.shape)}")
        result["gt_known_loc"] = gt_known_loc(known, best_true_boxes(known, true_boxes), iou_threshold)
    for key in ("top1_cls", "top5_cls", "top1_loc", "top5_loc", "gt_known_loc"):
        if key in result:
            result[f"{key}_error"] = 1.0 - result[key]
    return result


# --------------------------------------------------------------------------------------
# The paper's numbers
# --------------------------------------------------------------------------------------

# Zhou et al., CVPR 2016, errors (%) on ILSVRC val: classification (Table 1) and localization
# with the 20 % box heuristic (Table 2). None: not taken over here.
PAPER_TABLE: dict[str, dict[str, float | None]] = {
    "VGGnet-GAP": {"top1_cls_error": 33.4, "top5_cls_error": 12.2, "top1_loc_error": 57.20, "top5_loc_error": 45.14},
    "GoogLeNet-GAP": {"top1_cls_error": None, "top5_cls_error": None, "top1_loc_error": 56.40,
                      "top5_loc_error": 43.00},
}

_COLUMNS = ("top1_cls_error", "top5_cls_error", "top1_loc_error", "top5_loc_error", "gt_known_loc_error")


def _cell(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def ilsvrc_table(results: Mapping, data: str = "ILSVRC val") -> str:
    """Markdown: the paper's errors (%) beside ours.

    Args:
        results: one ``evaluate_ilsvrc`` result (labelled "ours"), or ``{name: result}``.
        data: what our rows were measured on (say "synthetic" when they were).
    """
    if not isinstance(results, Mapping):
        raise TypeError(f"results must be evaluate_ilsvrc's dict or {{name: that dict}}, got {type(results).__name__}")
    if "top1_loc" in results:
        results = {"ours": results}
    for name, res in results.items():
        if not isinstance(res, Mapping) or not {"n", "top1_loc", "top5_loc"} <= res.keys():
            raise ValueError(f"results[{name!r}] is not a result of evaluate_ilsvrc (it needs n, top1_loc, top5_loc)")
    lines = [
        "| network | data | top-1 cls. err. (%) | top-5 cls. err. (%) | top-1 loc. err. (%) "
        "| top-5 loc. err. (%) | GT-known loc. err. (%) | MaxBoxAccV2 (%) | images |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, errors in PAPER_TABLE.items():
        cells = [_cell(errors.get(c)) for c in _COLUMNS]
        lines.append(f"| {name} (paper) | ILSVRC val | " + " | ".join(cells) + " | – | 50000 |")
    for name, res in results.items():
        cells = [_cell(None if res.get(c) is None else 100 * res[c]) for c in _COLUMNS]
        box = res.get("max_box_acc_v2")
        lines.append(f"| {name} | {data} | " + " | ".join(cells) + f" | {_cell(None if box is None else 100 * box)} "
                     f"| {res['n']} |")
    return "\n".join(lines)


class ILSVRCPredictions(NamedTuple):
    """What ``ilsvrc_cams`` measured on N val images, in the model's class indices."""

    top5_classes: torch.Tensor  # [N, 5] best first
    top5_cams: torch.Tensor  # [N, 5, h, w] raw CAMs of those classes
    labels: torch.Tensor  # [N] the true class
    true_cams: torch.Tensor  # [N, h, w] raw CAM of the true class
    boxes: list[torch.Tensor]  # N tensors [M_i, 4]: ground truth in the size x size input's pixels
    paths: list[str]  # the images
    image_size: tuple[int, int]  # (H, W) of the network's input, the boxes' pixel frame

    def evaluate(self, **kwargs) -> dict[str, float]:
        """``evaluate_ilsvrc`` on these predictions: Top-1 / Top-5 / GT-known Loc, MaxBoxAccV2 and the
        classification scores (``kwargs``, e.g. ``threshold``, go through)."""
        return evaluate_ilsvrc(self.top5_classes, self.top5_cams, self.labels, self.boxes, true_class=self.true_cams,
                               image_size=self.image_size, **kwargs)


def _check_model_classes(model: torch.nn.Module, class_names) -> list[str]:
    """A model that takes RGB images, and at least five different wnids, one per output."""
    check_model(model)
    if isinstance(class_names, str):
        raise TypeError("class_names is one string: give the wnid of every model output, e.g. a list of them")
    class_names = list(class_names)
    if len(class_names) < 5:
        raise ValueError(f"{len(class_names)} classes: Top-5 localization needs at least 5")
    if len(set(class_names)) != len(class_names):
        twice = sorted({name for name in class_names if class_names.count(name) > 1})
        raise ValueError(f"class_names names {twice} more than once: give each model output's wnid once")
    first_conv = next((m for m in model.modules() if isinstance(m, torch.nn.Conv2d)), None)
    if first_conv is not None and first_conv.in_channels != 3:
        raise ValueError(f"the model's first convolution takes {first_conv.in_channels} channels; ILSVRC images are "
                         "RGB (3 channels): build the model with 3 input channels")
    return class_names


def _top5_and_true_cams(model, batches, remap: torch.Tensor, classes: int, device) -> dict[str, torch.Tensor]:
    """One pass: labels (model indices), the top-5 classes, their CAMs and the true class's CAM."""
    parts: dict[str, list[torch.Tensor]] = {"labels": [], "top5_classes": [], "top5_cams": [], "true_cams": []}
    with torch.no_grad():
        for images, targets in batches:
            logits, cams = compute_cams(model, images.to(device), size=None)  # every class: [B, C, h, w]
            if logits.shape[1] != classes:
                raise ValueError(f"the model has {logits.shape[1]} outputs but class_names names {classes} "
                                 "classes: give the wnid of every output, in the output order")
            labels = remap[targets].to(device)
            best = logits.topk(5, dim=1).indices
            parts["labels"].append(labels.cpu())
            parts["top5_classes"].append(best.cpu())
            parts["top5_cams"].append(cams.gather(1, best[:, :, None, None].expand(-1, -1, *cams.shape[-2:])).cpu())
            parts["true_cams"].append(cams[torch.arange(len(labels), device=device), labels].cpu())
    return {key: torch.cat(value) for key, value in parts.items()}


def ilsvrc_cams(
    model: torch.nn.Module,
    class_names: Sequence[str],
    root: str | Path,
    size: int,
    *,
    limit: int | None = None,
    batch_size: int = 8,
    workers: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> ILSVRCPredictions:
    """Run a GAP network once over the val images of an ILSVRC-layout folder, for ``evaluate_ilsvrc``.

    ``root`` holds ``val/<wnid>/*.JPEG`` and the boxes (``val_boxes/*.xml`` or ``LOC_val_solution.csv``,
    see ``read_annotations``); ``write_synthetic_ilsvrc`` writes this layout. Each image is resized to
    ``size x size`` without cropping (``imagenet_transform(size, crop=False)``), so its boxes map onto the
    input by scaling alone. Only the images of classes in ``class_names`` (the model's output order, as
    wnids) are used, and their labels are indices into ``class_names``, whatever the folders' order.

    Args:
        model: a network ``compute_cams`` reads (``VGG16GAP``, ``GAPNet`` with 3 input channels, a
            torchvision ResNet / GoogLeNet / DenseNet); put in eval mode and moved to ``device``.
        class_names: the wnid of each model output; at least 5 (Top-5 needs five guesses).
        size: input side in pixels.
        limit: use at most this many images, spread evenly over the kept ones (``None``: all).
        batch_size, workers: of the ``DataLoader``.
        device: where the model runs (default: the device of its parameters).
        progress: a tqdm bar over the batches.

    Returns:
        ``ILSVRCPredictions``; its ``evaluate()`` calls ``evaluate_ilsvrc``.

    Raises:
        ValueError: fewer than 5 classes, a class named twice, a model with another number of outputs,
            no val image of a known class, or box files whose class disagrees with the image's folder.
        FileNotFoundError: no ``root/val`` folder.
    """
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets
    from tqdm.auto import tqdm

    from camlib.data.photos import imagenet_transform

    class_names = _check_model_classes(model, class_names)
    limit = None if limit is None else check_int(limit, "limit", 1, "None evaluates every image")
    batch_size = check_int(batch_size, "batch_size", 1)
    workers = check_int(workers, "workers", minimum=0)
    device = next(model.parameters()).device if device is None else check_device(device)
    transform = imagenet_transform(size, crop=False)  # checks size
    root = Path(root)
    if not (root / "val").is_dir():
        raise FileNotFoundError(f"no {root / 'val'} folder: ilsvrc_cams reads val/<wnid>/*.JPEG and val_boxes/*.xml "
                                "or LOC_val_solution.csv under root (write_synthetic_ilsvrc writes this layout)")
    val = datasets.ImageFolder(root / "val", transform=transform, loader=read_rgb)
    index = {wnid: i for i, wnid in enumerate(class_names)}
    keep = [k for k, (_, target) in enumerate(val.samples) if val.classes[target] in index]
    if limit is not None:
        keep = keep[:: max(1, len(keep) // limit)][:limit]  # spread over the classes
    if not keep:
        raise ValueError(f"no image in {root / 'val'} belongs to one of the model's {len(class_names)} classes")
    paths = [val.samples[k][0] for k in keep]
    remap = torch.tensor([index.get(wnid, -1) for wnid in val.classes])  # folder index -> model index
    loader = DataLoader(Subset(val, keep), batch_size=batch_size, num_workers=workers)
    model = model.to(device).eval()
    batches = tqdm(loader, desc="CAMs", leave=False, disable=not progress)
    result = _top5_and_true_cams(model, batches, remap, len(class_names), device)
    classes, boxes = ground_truth(read_annotations(root, paths), index, [Path(p).stem for p in paths],
                                  to_size=(size, size))
    if not torch.equal(classes, result["labels"]):
        raise ValueError("the classes of the box files disagree with the images' class folders")
    return ILSVRCPredictions(boxes=boxes, paths=paths, image_size=(size, size), **result)


