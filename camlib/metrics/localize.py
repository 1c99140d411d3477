"""From CAMs to boxes, and the weakly supervised localization metrics that judge them.

Zhou et al. (CVPR 2016, Sec. 3.1) turn a CAM into a box in three steps: keep the pixels
whose value is at least 20 % of the map's maximum, take the largest connected component,
and draw the tightest box around it. ``bbox_from_cam`` does exactly that, for one map or a
whole batch at once; ``boxes_from_cam_all_components`` keeps every component, as
MaxBoxAccV2 (Choe et al., CVPR 2020) needs.

Conventions (those of ``docs/design.md`` and ``torchvision.ops``):

* A CAM is ``[h, w]`` or ``[B, h, w]``; it may be raw (any sign) or normalized.
* A box is ``(x_min, y_min, x_max, y_max)`` in continuous pixel coordinates, max exclusive:
  map pixel (row i, column j) is the box ``(j, i, j + 1, i + 1)`` and has centre
  ``(j + 0.5, i + 0.5)``.
* The thresholded region of a map M is ``{M >= threshold * max(M)}`` (``>=``: a pixel at
  exactly 20 % of the maximum is kept). Dividing M by its maximum first
  (``camlib.methods.cam.normalize_cams(cams, "max")``) gives the same region, so raw and
  max-normalized maps give the same boxes. MaxBoxAccV2 is the exception: it follows Choe et
  al.'s protocol, which min-max normalizes each map first (``max_box_acc_v2``; raw CAMs are
  negative off the object, so its regions differ from the paper's rule at the same threshold).
* A map whose maximum is <= 0 (all zero, or all negative) holds no positive evidence for
  the class anywhere; its region is the *whole map*, so its box is ``(0, 0, w, h)``. A
  constant positive map keeps every pixel and gets the same whole-map box. No input gives
  NaN; non-finite maps are refused with a ValueError.
* Connected components use 8-connectivity by default (a 3x3 structure of ones: pixels that
  touch at a corner belong together); ``connectivity=4`` links only edge neighbours.
* ``image_size=(H, W)`` scales boxes from map pixels to image pixels: x by ``W / w`` and y by
  ``H / h``. This is the geometry of bilinear upsampling with ``align_corners=False``
  (``camlib.methods.cam.upsample_cams``), where map pixel (i, j) covers the stride x stride block
  ``[j * W / w, (j + 1) * W / w) x [i * H / h, (i + 1) * H / h)`` of the image and its
  centre lands on the block's centre.

Connected components are labelled by ``scipy.ndimage.label`` on the CPU, for a whole batch
in one call (a 3x3x3 structure whose only non-zero plane is the middle one, so nothing
connects across the batch axis), with sizes from ``np.bincount`` and boxes from vectorized
reductions: no Python loop per map. Inputs may live on any device; functions that return
tensors return them on the input's device, metrics return Python floats.

IoU follows ``torchvision.ops.box_iou`` (the same intersection and union); ``paired_iou`` is its
diagonal, computed without the N x M matrix. One rule for degenerate boxes, in both: an empty
box (zero area: x_max == x_min or y_max == y_min) overlaps nothing, not even an identical empty
box, so its IoU with any box is 0, never NaN (torchvision gives 0/0 = NaN there). IoUs are
computed in float64 on boxes rescaled by their largest coordinate (IoU is scale invariant), so
huge coordinates cannot overflow; float16 boxes give float32 IoUs.

Arguments are checked before any work: wrong shapes, dtypes, NaN or infinite values, boxes with
x_max < x_min, thresholds outside their interval and ground-truth boxes lying wholly outside
the map (or image) raise a ValueError or TypeError that names the argument and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
import torch
import torchvision.ops
from scipy import ndimage

from camlib._checks import as_tensor, check_fraction, check_size, real_float

__all__ = [
    "Extent",
    "MaxBoxAccV2Result",
    "PxAPResult",
    "bbox_from_cam",
    "best_true_boxes",
    "box_iou",
    "check_boxes_in_frame",
    "boxes_from_cam_all_components",
    "extent",
    "gt_known_loc",
    "max_box_acc_v2",
    "paired_iou",
    "pointing_accuracy",
    "pxap",
    "top1_loc",
    "top5_loc",
    "true_box_sets",
]

_IOU_ZERO = " (an IoU threshold of 0 would count every box as a hit)"

# 2-D neighbourhoods for scipy.ndimage.label.
_STRUCTURES = {
    4: np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool),
    8: np.ones((3, 3), dtype=bool),
}

# --------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------


def _check_connectivity(connectivity) -> np.ndarray:
    if isinstance(connectivity, bool) or not isinstance(connectivity, Integral) or connectivity not in _STRUCTURES:
        raise ValueError(
            f"connectivity={connectivity!r}: use 8 (pixels touching at a corner connect) or 4 (edges only)"
        )
    return _STRUCTURES[int(connectivity)]


def _check_cams(cams, name: str = "cams", ranks: tuple[int, ...] = (3,)) -> torch.Tensor:
    cams = as_tensor(cams, name)
    if cams.dim() not in ranks:
        wanted = " or ".join({2: "[h, w]", 3: "[N, h, w]"}[r] for r in ranks)
        hint = " (one map per image, e.g. the CAM of one class)" if 3 in ranks else ""
        if cams.dim() == 4 and 3 in ranks:
            hint += "; for [N, C, h, w] maps pick one class per image, e.g. cams[torch.arange(N), classes]"
        raise ValueError(f"{name} must be {wanted}{hint}; got shape {list(cams.shape)}")
    if cams.shape[-1] == 0 or cams.shape[-2] == 0:
        raise ValueError(f"{name} must have h, w >= 1; got shape {list(cams.shape)}")
    cams = real_float(cams, name)
    if not torch.isfinite(cams).all():
        raise ValueError(
            f"{name} hold NaN or infinite values (shape {list(cams.shape)}); a CAM must be finite: "
            "look for a division by zero or a diverged model upstream"
        )
    return cams


def _check_boxes(boxes, name: str, n: int | None = None) -> torch.Tensor:
    boxes = as_tensor(boxes, name)
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        hint = f"; for one box use {name}[None]" if boxes.shape == (4,) else ""
        raise ValueError(
            f"{name} must be [N, 4] boxes (x_min, y_min, x_max, y_max), got shape {list(boxes.shape)}{hint}"
        )
    if n is not None and boxes.shape[0] != n:
        raise ValueError(f"{name} hold {boxes.shape[0]} boxes (shape {list(boxes.shape)}) but there are {n} images")
    boxes = real_float(boxes, name)
    if not torch.isfinite(boxes).all():
        raise ValueError(f"{name} hold NaN or infinite coordinates (shape {list(boxes.shape)})")
    if (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
        bad = torch.nonzero((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])).flatten()
        raise ValueError(
            f"{name} must be (x_min, y_min, x_max, y_max) with x_max >= x_min and y_max >= y_min; "
            f"rows {bad[:5].tolist()} are not (e.g. {boxes[bad[0]].tolist()}); (x, y, width, height) boxes "
            "convert with torchvision.ops.box_convert(boxes, 'xywh', 'xyxy')"
        )
    return boxes


def _check_image_size(image_size) -> tuple[int, int] | None:
    return None if image_size is None else check_size(image_size, "image_size", "(H, W)")


def check_boxes_in_frame(boxes: torch.Tensor, owner: torch.Tensor, map_size: tuple[int, int],
                         image_size: int | tuple[int, int] | None) -> None:
    """Refuse ground-truth boxes ``[N, 4]`` (of images ``owner[i]``) that lie wholly outside the
    frame: the image's when ``image_size`` (an int or ``(H, W)``, checked here) is given, else the
    map's. No CAM can reach them, so every metric would silently read 0 (usually boxes in image
    pixels given without ``image_size``)."""
    image_size = _check_image_size(image_size)
    height, width = map_size if image_size is None else image_size
    where = "map (boxes in map pixels: no image_size given)" if image_size is None else "image (image_size)"
    outside = (boxes[:, 0] >= width) | (boxes[:, 1] >= height) | (boxes[:, 2] <= 0) | (boxes[:, 3] <= 0)
    if outside.any():
        k = int(torch.nonzero(outside)[0])
        raise ValueError(
            f"true_boxes: the box {boxes[k].tolist()} of image {int(owner[k])} lies wholly outside the {where}, "
            f"(0, 0, {width}, {height}); "
            "boxes in image pixels need image_size=(H, W); boxes partly outside are allowed "
            "(clip them with torchvision.ops.clip_boxes_to_image if you want)"
        )


def _check_classes(classes, name: str, n: int | None = None) -> torch.Tensor:
    classes = as_tensor(classes, name)
    if classes.dim() != 1 or (n is not None and classes.shape[0] != n):
        shape = f"[{n}]" if n is not None else "[N]"
        raise ValueError(
            f"{name} must be a 1-D tensor of class indices, shape {shape}; got shape {list(classes.shape)}"
        )
    if classes.dtype.is_floating_point or classes.dtype == torch.bool or classes.is_complex():
        raise ValueError(f"{name} must hold integer class indices, got dtype {classes.dtype}; use {name}.long()")
    if classes.numel() and int(classes.min()) < 0:
        raise ValueError(f"{name} must hold class indices >= 0, got {int(classes.min())}")
    return classes


def _nonempty(n: int, what: str) -> None:
    if n == 0:
        raise ValueError(f"{what} got no images (N = 0): an accuracy over nothing is undefined")


# --------------------------------------------------------------------------------------
# CAM -> boxes
# --------------------------------------------------------------------------------------


def _region(cams: torch.Tensor, threshold: float) -> torch.Tensor:
    """``cams >= threshold * max`` per map over the last two dims; maps with max <= 0 keep everything.

    Compared in float64: in float32, ``threshold * max`` of a map of subnormal values rounds to 0
    and would keep the whole map."""
    cams = cams.double()
    top = cams.amax(dim=(-2, -1), keepdim=True)
    return (cams >= threshold * top) | (top <= 0)


def _label(mask: np.ndarray, structure2d: np.ndarray) -> tuple[np.ndarray, int]:
    """Label a ``[B, h, w]`` mask in one scipy call; nothing connects across the batch axis."""
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = structure2d
    labels = np.empty(mask.shape, dtype=np.intp)  # intp: bincount and indexing need no cast
    n = ndimage.label(mask, structure=structure, output=labels)
    return labels, n


def _foreground(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices (ascending) and labels of the labelled pixels."""
    flat = labels.reshape(-1)
    index = np.flatnonzero(flat)
    return index, flat[index]


def _group_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Start positions of the runs of equal values in a non-decreasing array (non-empty)."""
    return np.concatenate(([0], np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1))


def _label_owners(labels: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The map that each label 1..n lies in (``[n]``, non-decreasing), for labels of a
    ``[B, h, w]`` mask with at least one component per map and ``sizes = bincount(labels)``.

    scipy.ndimage.label numbers components in raster order of their first pixel, so the
    labels of map b are the run ``last[b-1] + 1 .. last[b]``. That is checked cheaply: with
    ``last`` increasing, the runs' summed sizes equal the maps' pixel counts only if each map
    holds exactly its run (sizes are positive; induct over b). A scatter is the fallback.
    """
    batch = labels.shape[0]
    per_map = labels.reshape(batch, -1)
    n = sizes.size - 1
    last = per_map.max(axis=1)
    total = np.cumsum(sizes)  # total[k] - total[0]: pixels of labels 1..k
    run_pixels = np.diff(total[last], prepend=total[0])
    if last[-1] == n and np.all(np.diff(last) > 0) and np.array_equal(run_pixels, np.count_nonzero(per_map, axis=1)):
        return np.repeat(np.arange(batch), np.diff(last, prepend=0))
    index, lab = _foreground(labels)  # pragma: no cover - not reached with current scipy
    owner = np.empty(n + 1, dtype=np.int64)
    owner[lab] = index // per_map.shape[1]
    return owner[1:]


def _largest_component_boxes(mask: np.ndarray, values: np.ndarray, structure2d: np.ndarray) -> np.ndarray:
    """``[B, 4]`` int64 boxes (map pixels, max exclusive) of the largest component of each map.

    Every map of ``mask`` must hold at least one True pixel. Ties in size go to the
    component holding the highest value, then to the first in raster order.
    """
    batch, h, w = mask.shape
    hw = h * w
    labels, n = _label(mask, structure2d)
    flat = labels.reshape(-1)
    sizes = np.bincount(flat, minlength=n + 1)
    owner = _label_owners(labels, sizes)  # [n], the map of labels 1..n
    comp = np.arange(1, n + 1)
    if not np.all(owner[1:] >= owner[:-1]):  # pragma: no cover - the fallback of _label_owners
        order = np.argsort(owner, kind="stable")
        comp, owner = comp[order], owner[order]
    starts = _group_starts(owner)  # one run per map (each map has a component)
    size_c = sizes[comp]
    candidate = size_c == np.maximum.reduceat(size_c, starts)[owner]
    tied = np.add.reduceat(candidate.astype(np.int64), starts) > 1
    if tied.any():  # equal-size largest components: the one holding the highest value wins
        contested = np.zeros(n + 1, dtype=bool)
        contested[comp[candidate & tied[owner]]] = True
        pixels = np.flatnonzero(contested[flat])
        peak = np.full(n + 1, -np.inf)
        np.maximum.at(peak, flat[pixels], values.reshape(-1)[pixels])
        peak_c = np.where(candidate, peak[comp], -np.inf)
        candidate &= peak_c == np.maximum.reduceat(peak_c, starts)[owner]
    winners = comp[candidate]
    winners = winners[_group_starts(owner[candidate])]  # then the first in raster order
    chosen = np.zeros(n + 1, dtype=bool)
    chosen[winners] = True
    pixels = np.flatnonzero(chosen[flat])  # ascending: grouped by map, raster order inside each
    starts = _group_starts(pixels // hw)
    ends = np.append(starts[1:], pixels.size) - 1
    rows, cols = (pixels % hw) // w, pixels % w
    return np.stack(
        [
            np.minimum.reduceat(cols, starts),
            rows[starts],
            np.maximum.reduceat(cols, starts) + 1,
            rows[ends] + 1,
        ],
        axis=1,
    )


def _all_component_boxes(mask: np.ndarray, structure2d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``[K, 4]`` (map pixels, max exclusive, float64) of every component of a ``[B, h, w]``
    mask, in raster order of each component's first pixel, and the map ``[K]`` each lies in."""
    labels, _ = _label(mask, structure2d)
    # find_objects gives each label's bounding slices (batch, rows, columns), in C, in label order
    spans = [(c.start, r.start, c.stop, r.stop, b.start) for b, r, c in ndimage.find_objects(labels)]
    spans = np.array(spans, dtype=np.int64).reshape(-1, 5)
    return spans[:, :4].astype(np.float64), spans[:, 4]


def _scale(boxes: torch.Tensor, map_size: tuple[int, int], image_size: tuple[int, int] | None) -> torch.Tensor:
    if image_size is None:
        return boxes
    (h, w), (height, width) = map_size, image_size
    factor = torch.tensor([width / w, height / h, width / w, height / h], dtype=boxes.dtype, device=boxes.device)
    return boxes * factor


def bbox_from_cam(
    cams: torch.Tensor,
    threshold: float = 0.2,
    *,
    image_size: int | tuple[int, int] | None = None,
    connectivity: int = 8,
) -> torch.Tensor:
    """The CAM paper's box: threshold at a fraction of the maximum, keep the largest component.

    Zhou et al. (CVPR 2016, Sec. 3.1): "we first segment the regions of which the value is
    above 20 % of the max value of the CAM. Then we take the bounding box that covers the
    largest connected component in the segmentation map."

    Args:
        cams: one map ``[h, w]`` or a batch ``[B, h, w]``, raw or normalized, on any device.
        threshold: keep pixels with ``cam >= threshold * max(cam)``, per map; in [0, 1].
        image_size: ``None`` for boxes in map pixels; ``(H, W)`` (or one int for a square) to
            scale them to image pixels (x by ``W / w``, y by ``H / h``), which matches bilinear
            upsampling with ``align_corners=False``, where a map pixel covers a stride x stride block.
        connectivity: 8 (default; a 3x3 structure of ones, diagonal neighbours connect) or 4.

    Returns:
        float32 boxes ``(x_min, y_min, x_max, y_max)``, max exclusive: ``[4]`` for one map,
        ``[B, 4]`` for a batch, on the device of ``cams``.

    Edge cases: a map whose maximum is <= 0 (e.g. all zero) and a constant map give the whole
    map, ``(0, 0, w, h)``. Two largest components of equal size: the one holding the higher
    value wins; if that ties too, the first in raster order (of its first pixel).

    All maps are labelled by one ``scipy.ndimage.label`` call on the CPU, with vectorized
    sizes and boxes (``benchmarks/`` times it; the README has the figures).
    """
    threshold = check_fraction(threshold, "threshold")
    structure2d = _check_connectivity(connectivity)
    size = _check_image_size(image_size)
    cams = _check_cams(cams, ranks=(2, 3)).detach()
    device = cams.device
    single = cams.dim() == 2
    batch = cams.reshape(-1, *cams.shape[-2:]).cpu()
    if batch.shape[0] == 0:
        boxes = torch.zeros(0, 4)
    else:
        mask = _region(batch, threshold).numpy()
        boxes = torch.from_numpy(_largest_component_boxes(mask, batch.numpy(), structure2d)).float()
    boxes = _scale(boxes, tuple(cams.shape[-2:]), size).to(device)
    return boxes[0] if single else boxes


def boxes_from_cam_all_components(
    cam: torch.Tensor,
    threshold: float = 0.2,
    *,
    image_size: int | tuple[int, int] | None = None,
    connectivity: int = 8,
) -> torch.Tensor:
    """Boxes of *every* connected component of one thresholded map, as MaxBoxAccV2 uses them.

    MaxBoxAccV2 (Choe et al., TPAMI 2022, and clovaai/wsolevaluation) draws a box around each connected
    component of ``{cam >= threshold * max(cam)}`` rather than the largest one only.

    Args:
        cam: one map ``[h, w]``, on any device.
        threshold, image_size, connectivity: as in ``bbox_from_cam`` (same region, same
            whole-map answer for a map whose maximum is <= 0).

    Returns:
        float32 ``[K, 4]`` boxes (K >= 1), one per component, in raster order of each
        component's first pixel, on the device of ``cam``.
    """
    threshold = check_fraction(threshold, "threshold")
    structure2d = _check_connectivity(connectivity)
    size = _check_image_size(image_size)
    cam = _check_cams(cam, name="cam", ranks=(2,)).detach()
    device = cam.device
    cam = cam.cpu()
    mask = _region(cam, threshold).numpy()[None]
    boxes, _ = _all_component_boxes(mask, structure2d)
    return _scale(torch.from_numpy(boxes).float(), tuple(cam.shape), size).to(device)


# --------------------------------------------------------------------------------------
# IoU
# --------------------------------------------------------------------------------------


def _iou(boxes1: torch.Tensor, boxes2: torch.Tensor, paired: bool) -> torch.Tensor:
    """IoU in float64 of boxes divided by their largest |coordinate| (IoU is scale invariant, and
    areas of huge boxes cannot overflow); 0 where the union is empty (the module's rule)."""
    out_dtype = torch.promote_types(boxes1.dtype, boxes2.dtype)
    a, b = boxes1.double(), boxes2.to(device=boxes1.device, dtype=torch.float64)
    scale = torch.cat([a.abs().flatten(), b.abs().flatten(), a.new_ones(1)]).amax()
    a, b = a / scale, b / scale
    if paired:
        top_left, bottom_right = torch.maximum(a[:, :2], b[:, :2]), torch.minimum(a[:, 2:], b[:, 2:])
        area_a, area_b = torchvision.ops.box_area(a), torchvision.ops.box_area(b)
    else:
        top_left, bottom_right = torch.maximum(a[:, None, :2], b[:, :2]), torch.minimum(a[:, None, 2:], b[:, 2:])
        area_a, area_b = torchvision.ops.box_area(a)[:, None], torchvision.ops.box_area(b)
    inter = (bottom_right - top_left).clamp(min=0).prod(dim=-1)
    union = area_a + area_b - inter
    iou = torch.where(union > 0, inter / union.clamp_min(torch.finfo(union.dtype).tiny), torch.zeros_like(union))
    return iou.to(out_dtype)


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """All pairwise IoUs, ``[N, 4] x [M, 4] -> [N, M]``, as ``torchvision.ops.box_iou``.

    IoU = area(A ∩ B) / area(A ∪ B) for boxes ``(x_min, y_min, x_max, y_max)``. Degenerate
    case: an empty box (zero area) has IoU 0 with every box, itself included (torchvision
    returns NaN for two empty boxes). Result on the device of ``boxes1``, float32 (float64
    when a side is float64).
    """
    boxes1, boxes2 = _check_boxes(boxes1, "boxes1"), _check_boxes(boxes2, "boxes2")
    return _iou(boxes1, boxes2, paired=False)


def paired_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """IoU of each box with its partner, ``[N, 4] x [N, 4] -> [N]``.

    The diagonal of ``box_iou(boxes1, boxes2)``, without building the N x N matrix; the
    same rule for empty boxes: IoU 0, never NaN.
    """
    boxes1 = _check_boxes(boxes1, "boxes1")
    boxes2 = _check_boxes(boxes2, "boxes2", boxes1.shape[0])
    return _iou(boxes1, boxes2, paired=True)


# --------------------------------------------------------------------------------------
# Localization metrics
# --------------------------------------------------------------------------------------


def top1_loc(
    pred_classes: torch.Tensor,
    true_classes: torch.Tensor,
    pred_boxes: torch.Tensor,
    true_boxes: torch.Tensor,
    iou_threshold: float = 0.5,
) -> float:
    """Top-1 localization accuracy: the predicted class is right *and* its box has IoU >= 0.5.

    The ILSVRC localization criterion (Russakovsky et al., IJCV 2015, Sec. 4.2) with one
    guess, as the CAM paper reports it (Zhou et al., CVPR 2016, Table 2, as 1 - error) and
    Choe et al. (CVPR 2020, Sec. 3) define it. ``pred_boxes`` come from the CAM of the
    predicted class, e.g. ``bbox_from_cam(cams_of_predicted_class, image_size=(H, W))``.

    Args:
        pred_classes, true_classes: ``[N]`` integer class indices.
        pred_boxes, true_boxes: ``[N, 4]`` in the same pixel coordinates.
        iou_threshold: the IoU a box needs, in (0, 1] (0.5 in ILSVRC).

    Returns:
        the fraction of images localized correctly, a float in [0, 1].
    """
    iou_threshold = check_fraction(iou_threshold, "iou_threshold", zero=False, why=_IOU_ZERO)
    pred_boxes = _check_boxes(pred_boxes, "pred_boxes")
    n = pred_boxes.shape[0]
    _nonempty(n, "top1_loc")
    true_boxes = _check_boxes(true_boxes, "true_boxes", n)
    pred_classes = _check_classes(pred_classes, "pred_classes", n)
    true_classes = _check_classes(true_classes, "true_classes", n).to(pred_classes.device)
    hit_box = (paired_iou(pred_boxes, true_boxes) >= iou_threshold).to(pred_classes.device)
    return float(((pred_classes == true_classes) & hit_box).float().mean())


def top5_loc(
    top5_classes: torch.Tensor,
    boxes_per_class: torch.Tensor,
    true_classes: torch.Tensor,
    true_boxes: torch.Tensor,
    iou_threshold: float = 0.5,
) -> float:
    """Top-5 localization accuracy: the true class is among the five guesses *and* the box
    guessed with that class has IoU >= 0.5.

    ILSVRC's criterion (Russakovsky et al., IJCV 2015, Sec. 4.2: five (class, box) guesses
    per image, one box per class; an image counts when one guess has the right class and an
    overlapping box), as in the CAM paper's Table 2 (Zhou et al., CVPR 2016).

    Args:
        top5_classes: ``[N, 5]`` the five predicted classes of each image, all different
            (so the model needs at least 5 classes), e.g. ``logits.topk(5).indices``.
        boxes_per_class: ``[N, 5, 4]`` the box from the CAM of each of those classes.
        true_classes: ``[N]``; true_boxes: ``[N, 4]``.
        iou_threshold: in (0, 1] (0.5 in ILSVRC).

    Returns:
        a float in [0, 1].
    """
    iou_threshold = check_fraction(iou_threshold, "iou_threshold", zero=False, why=_IOU_ZERO)
    top5_classes = as_tensor(top5_classes, "top5_classes")
    if top5_classes.dim() != 2 or top5_classes.shape[1] != 5:
        raise ValueError(
            f"top5_classes must be [N, 5] (five class guesses per image), got shape {list(top5_classes.shape)}"
        )
    n = top5_classes.shape[0]
    _nonempty(n, "top5_loc")
    _check_classes(top5_classes.reshape(-1), "top5_classes")
    ordered = top5_classes.sort(dim=1).values
    if (ordered[:, 1:] == ordered[:, :-1]).any():
        raise ValueError(
            "top5_classes must hold 5 different classes per image (Top-5 Loc needs a model with at least "
            "5 classes); some rows repeat a class"
        )
    boxes_per_class = as_tensor(boxes_per_class, "boxes_per_class")
    if boxes_per_class.shape != (n, 5, 4):
        raise ValueError(
            f"boxes_per_class must be [N, 5, 4] = [{n}, 5, 4] (one box per guessed class), "
            f"got shape {list(boxes_per_class.shape)}"
        )
    true_classes = _check_classes(true_classes, "true_classes", n).to(top5_classes.device)
    true_boxes = _check_boxes(true_boxes, "true_boxes", n)
    guesses = _check_boxes(boxes_per_class.reshape(n * 5, 4), "boxes_per_class")
    iou = paired_iou(guesses, true_boxes.repeat_interleave(5, dim=0).to(guesses.device)).reshape(n, 5)
    hit = (top5_classes == true_classes[:, None]) & (iou >= iou_threshold).to(top5_classes.device)
    return float(hit.any(dim=1).float().mean())


def gt_known_loc(pred_boxes: torch.Tensor, true_boxes: torch.Tensor, iou_threshold: float = 0.5) -> float:
    """GT-known localization accuracy: IoU >= 0.5 for the box from the CAM of the *true* class,
    whatever the classifier predicts.

    Defined by Choe et al. (CVPR 2020, Sec. 3, "GT-known Loc"), following Singh & Lee
    (ICCV 2017); it isolates localization from classification.

    Args:
        pred_boxes: ``[N, 4]`` boxes from the true class's CAM; true_boxes: ``[N, 4]``.
        iou_threshold: in (0, 1].

    Returns:
        a float in [0, 1].
    """
    iou_threshold = check_fraction(iou_threshold, "iou_threshold", zero=False, why=_IOU_ZERO)
    pred_boxes = _check_boxes(pred_boxes, "pred_boxes")
    _nonempty(pred_boxes.shape[0], "gt_known_loc")
    true_boxes = _check_boxes(true_boxes, "true_boxes", pred_boxes.shape[0])
    return float((paired_iou(pred_boxes, true_boxes) >= iou_threshold).float().mean())


@dataclass(frozen=True)
class MaxBoxAccV2Result:
    """MaxBoxAccV2 and what it is made of.

    Attributes:
        mean: MaxBoxAccV2, the mean of ``max_box_acc`` over the IoU thresholds.
        max_box_acc: ``{delta: MaxBoxAcc(delta)}``, the best BoxAcc over CAM thresholds.
        best_threshold: ``{delta: tau}``, the (lowest) CAM threshold where that best is reached.
        box_acc: ``[T, D]`` BoxAcc(tau, delta) for every CAM threshold and IoU threshold.
        cam_thresholds: ``[T]`` the CAM thresholds tau tried.
        iou_thresholds: the IoU thresholds delta, in the order of ``box_acc``'s columns.
    """

    mean: float
    max_box_acc: dict[float, float]
    best_threshold: dict[float, float]
    box_acc: torch.Tensor
    cam_thresholds: torch.Tensor
    iou_thresholds: tuple[float, ...]


def true_box_sets(true_boxes, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ground truth of N images, one box each (``[N, 4]``) or several (a list of N ``[M_i, 4]``), read
    once for every metric: all boxes ``[G, 4]`` (float64, CPU) and the image ``[G]`` each belongs to."""
    if _one_box_per_image(true_boxes):
        boxes = _check_boxes(true_boxes, "true_boxes", n)
        return boxes.detach().cpu().double(), torch.arange(n)
    if len(true_boxes) != n:
        raise ValueError(f"true_boxes is a list of {len(true_boxes)} box sets but there are {n} images")
    sets = [_check_boxes(b, f"true_boxes[{i}]") for i, b in enumerate(true_boxes)]
    empty = [i for i, b in enumerate(sets) if b.shape[0] == 0]
    if empty:
        raise ValueError(f"true_boxes[{empty[0]}] holds no box: every image needs at least one ground-truth box")
    owner = torch.cat([torch.full((b.shape[0],), i) for i, b in enumerate(sets)])
    return torch.cat([b.detach().cpu().double() for b in sets]), owner


def best_true_boxes(pred_boxes: torch.Tensor, true_boxes) -> torch.Tensor:
    """For each image, its ground-truth box with the highest IoU with ``pred_boxes[i]``: ``[N, 4]``.

    Scoring against that box equals scoring against every box of the image (the best IoU passes a
    threshold iff any does), so ``top1_loc``, ``top5_loc`` and ``gt_known_loc`` read images with
    several objects through it (ILSVRC's protocol, ``camlib.metrics.ilsvrc``). Ties: any of them.
    """
    pred = _check_boxes(pred_boxes, "pred_boxes").detach().cpu().double()
    gt, owner = true_box_sets(true_boxes, pred.shape[0])
    iou = paired_iou(pred[owner], gt)  # [G]
    best = torch.full((pred.shape[0],), -1.0, dtype=iou.dtype).scatter_reduce(0, owner, iou, reduce="amax")
    chosen = torch.full((pred.shape[0],), -1, dtype=torch.long)
    winners = torch.nonzero(iou == best[owner]).flatten()
    chosen[owner[winners]] = winners
    return gt[chosen]


def _one_box_per_image(true_boxes) -> bool:
    """A tensor / array ``[N, 4]``, or a list of N four-number boxes (not a list of box sets)."""
    if isinstance(true_boxes, torch.Tensor | np.ndarray) or not isinstance(true_boxes, Sequence):
        return True
    if isinstance(true_boxes, str | bytes):
        return True  # refused by _check_boxes with a TypeError
    first = true_boxes[0] if len(true_boxes) else None
    return first is None or as_tensor(first, "true_boxes[0]").dim() == 1


MAX_BOX_ACC_NORMALIZATIONS = ("minmax", "max", "none")  # wsolevaluation's names; camlib.methods.cam has its own
CONVENTIONS = ("camlib", "wsolevaluation")


def max_box_acc_v2(
    cams: torch.Tensor,
    true_boxes: torch.Tensor | Sequence[torch.Tensor],
    *,
    iou_thresholds: Sequence[float] = (0.3, 0.5, 0.7),
    cam_thresholds: torch.Tensor | Sequence[float] | None = None,
    image_size: int | tuple[int, int] | None = None,
    connectivity: int = 8,
    normalize: str = "minmax",
    convention: str = "camlib",
) -> MaxBoxAccV2Result:
    """MaxBoxAccV2 of Choe et al. (CVPR 2020, Sec. 4.1; TPAMI 2022, arXiv:2007.04178), as their
    reference code (clovaai/wsolevaluation) computes it. Notebook 03.

    Each map is rescaled to [0, 1] by its minimum and maximum; for every CAM threshold tau, every
    connected component of ``{map >= tau}`` gets a box; an image is a hit at IoU threshold delta when
    its best box overlaps a ground-truth box with IoU >= delta. BoxAcc(tau, delta) is the share of
    hits, MaxBoxAcc(delta) = max over tau, and MaxBoxAccV2 = mean of MaxBoxAcc over delta in
    {0.3, 0.5, 0.7}.

    Args:
        cams: ``[N, h, w]`` the raw CAM of each image's *true* class (any sign).
        true_boxes: ``[N, 4]``, or a list of N ``[M_i, 4]`` (several objects: the best IoU counts);
            in image pixels when ``image_size`` is given, else in map pixels.
        iou_thresholds: the deltas, each in (0, 1].
        cam_thresholds: the taus, each in [0, 1]; default ``np.arange(0, 1, 0.01)``.
        image_size, connectivity: as in ``bbox_from_cam``.
        normalize: ``"minmax"`` (the protocol; a constant map becomes 0), ``"max"`` (the CAM
            paper's ``{M >= tau * max M}``) or ``"none"`` (maps already in [0, 1]).
        convention: ``"camlib"`` (float maps, ``>=``, 8-connected components, max-exclusive boxes,
            ``box_iou``) or ``"wsolevaluation"`` (the reference's uint8 maps, strict ``>``, OpenCV
            contours with holes, clipped corners and the "+1" IoU; maps at image resolution).
            docs/design.md says how they differ and by how much.

    Returns:
        a ``MaxBoxAccV2Result``; ``.mean`` is MaxBoxAccV2, a float in [0, 1].

    A map with nothing to threshold (constant, or with ``"max"`` no positive value) gets the
    whole-map box in the camlib convention, the box (0, 0, 0, 0) in wsolevaluation's.
    """
    structure2d = _check_connectivity(connectivity)
    size = _check_image_size(image_size)
    if normalize not in MAX_BOX_ACC_NORMALIZATIONS:
        raise ValueError(f"normalize={normalize!r}: use 'minmax' (Choe et al.'s protocol), 'max' or 'none'")
    if convention not in CONVENTIONS:
        raise ValueError(f"convention={convention!r}: use 'camlib' or 'wsolevaluation' (the reference code's boxes)")
    cams = _check_cams(cams).detach().cpu().double()
    n, h, w = cams.shape
    _nonempty(n, "max_box_acc_v2")
    if convention == "wsolevaluation" and size is not None and size != (h, w):
        raise ValueError(
            f"convention='wsolevaluation' scores maps at image resolution, as the reference code does; "
            f"upsample the {h}x{w} maps to image_size={size} first (camlib.methods.cam.upsample_cams)"
        )
    deltas = _check_iou_thresholds(iou_thresholds)
    taus = _check_cam_thresholds(cam_thresholds)
    gt_boxes, gt_owner = true_box_sets(true_boxes, n)
    # inclusive corners in the reference convention: (0, 0, 0, 0) is pixel (0, 0), not an empty box
    pixels_covered = gt_boxes + torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64) * (convention != "camlib")
    check_boxes_in_frame(pixels_covered, gt_owner, (h, w), size)
    scores, everywhere = _score_maps(cams, normalize)
    best_iou = torch.stack([_best_ious(scores, everywhere, tau, gt_boxes, gt_owner, structure2d, size, convention)
                            for tau in taus.tolist()])  # [T, N]
    delta = torch.tensor(deltas, dtype=torch.float64)
    box_acc = (best_iou[:, :, None] >= delta).double().mean(dim=1)  # [T, D]
    best = box_acc.argmax(dim=0)  # the first (lowest tau) maximum
    max_acc = {d: float(box_acc[best[k], k]) for k, d in enumerate(deltas)}
    return MaxBoxAccV2Result(
        mean=float(np.mean(list(max_acc.values()))),
        max_box_acc=max_acc,
        best_threshold={d: float(taus[best[k]]) for k, d in enumerate(deltas)},
        box_acc=box_acc.float(),
        cam_thresholds=taus.float(),
        iou_thresholds=deltas,
    )


def _best_ious(scores: torch.Tensor, everywhere: np.ndarray, tau: float, gt_boxes: torch.Tensor,
               gt_owner: torch.Tensor, structure2d: np.ndarray, size, convention: str) -> torch.Tensor:
    """At one CAM threshold: each image's best IoU between a box of its components and a true box, ``[N]``."""
    n, h, w = scores.shape
    if convention == "camlib":
        boxes, owner = _all_component_boxes((scores >= tau).numpy() | everywhere, structure2d)
        boxes, iou_fn = _scale(torch.from_numpy(boxes), (h, w), size), paired_iou
    else:
        boxes, owner = _reference_boxes(scores, tau, structure2d)
        boxes, iou_fn = torch.from_numpy(boxes), _inclusive_paired_iou
    owner = torch.from_numpy(owner)
    pair_box, pair_gt = _pairs_by_owner(owner, gt_owner, n)  # every box with every true box of its image
    iou = iou_fn(boxes[pair_box], gt_boxes[pair_gt])
    return torch.zeros(n, dtype=torch.float64).scatter_reduce_(0, owner[pair_box], iou, reduce="amax")


def _check_iou_thresholds(iou_thresholds) -> tuple[float, ...]:
    if isinstance(iou_thresholds, Real | torch.Tensor) and torch.as_tensor(iou_thresholds).dim() == 0:
        iou_thresholds = (iou_thresholds,)  # one threshold given as a number
    if iou_thresholds is None:
        raise TypeError("iou_thresholds is None: give the IoU thresholds, e.g. (0.3, 0.5, 0.7) as MaxBoxAccV2 uses")
    deltas = tuple(check_fraction(d, "each IoU threshold", zero=False, why=_IOU_ZERO) for d in iou_thresholds)
    if not deltas:
        raise ValueError("iou_thresholds is empty; MaxBoxAccV2 uses (0.3, 0.5, 0.7)")
    return deltas


def _check_cam_thresholds(cam_thresholds) -> torch.Tensor:
    if cam_thresholds is None:
        return torch.from_numpy(np.arange(0, 1, 0.01))
    taus = as_tensor(cam_thresholds, "cam_thresholds")
    taus = (taus[None] if taus.dim() == 0 else taus).detach().cpu()
    if taus.is_complex() or taus.dtype == torch.bool:
        raise ValueError(f"cam_thresholds must be numbers in [0, 1], got dtype {taus.dtype}")
    taus = taus.double()
    if taus.dim() != 1 or taus.numel() == 0:
        raise ValueError(f"cam_thresholds must be a non-empty 1-D sequence, got shape {list(taus.shape)}")
    for tau in taus.tolist():
        check_fraction(tau, "each CAM threshold")
    return taus


def _score_maps(cams: torch.Tensor, normalize: str) -> tuple[torch.Tensor, np.ndarray]:
    """float64 ``[N, h, w]`` maps to compare with tau, and ``[N, 1, 1]`` the maps whose region
    is the whole map at every tau (camlib's rule for maps that hold no location)."""
    low, high = cams.amin(dim=(1, 2), keepdim=True), cams.amax(dim=(1, 2), keepdim=True)
    if normalize == "none":
        if low.min() < 0 or high.max() > 1:
            raise ValueError(
                f"normalize='none' needs maps in [0, 1] (they span {float(low.min()):g} to {float(high.max()):g}); "
                "use normalize='minmax', the protocol"
            )
        return cams, np.zeros((len(cams), 1, 1), dtype=bool)
    if normalize == "max":
        positive = high > 0
        return torch.where(positive, cams / torch.where(positive, high, 1), 0), (~positive).numpy()
    span = high - low
    if not torch.isfinite(span).all():  # e.g. -1e308 to 1e308: shrink those maps first (ratios unchanged)
        magnitude = torch.where(torch.isfinite(span), 1, torch.maximum(high.abs(), low.abs()))
        cams, low, high = cams / magnitude, low / magnitude, high / magnitude
        span = high - low
    constant = span <= 0
    # the reference code's order of operations: (map - min) / (max - min)
    return torch.where(constant, 0, (cams - low) / torch.where(constant, 1, span)), constant.numpy()


def _reference_boxes(scores: torch.Tensor, tau: float, structure2d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """wsolevaluation's boxes at ``tau`` (``compute_bboxes_from_scoremaps``, multi-contour):
    ``[K, 4]`` float64 corner numbers, and the map each belongs to."""
    n, h, w = scores.shape
    quantized = torch.floor(scores * 255)  # (scoremap * 255).astype(np.uint8)
    level = torch.floor(tau * quantized.amax(dim=(1, 2), keepdim=True))  # int(threshold * np.max(...))
    mask = (quantized > level).numpy()  # cv2.THRESH_BINARY: strictly above
    outer, outer_owner = _all_component_boxes(mask, structure2d)
    holes, hole_owner = _hole_boxes(mask)
    holes += np.array([-1, -1, 1, 1])  # the inner contour runs over the pixels around the hole
    empty = np.flatnonzero(~mask.reshape(n, -1).any(axis=1))  # no contour: the box (0, 0, 0, 0)
    boxes = np.concatenate([outer, holes, np.zeros((len(empty), 4))])
    owner = np.concatenate([outer_owner, hole_owner, empty])
    boxes[:, 2] = np.minimum(boxes[:, 2], w - 1)  # x1 = min(x1, width - 1)
    boxes[:, 3] = np.minimum(boxes[:, 3], h - 1)
    return boxes, owner


def _hole_boxes(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max-exclusive boxes of the holes of a ``[B, h, w]`` mask (background components, 4-connected
    as they are when the foreground is 8-connected, that do not touch the map's border)."""
    boxes, owner = _all_component_boxes(~mask, _STRUCTURES[4])
    _, h, w = mask.shape
    inside = (boxes[:, 0] > 0) & (boxes[:, 1] > 0) & (boxes[:, 2] < w) & (boxes[:, 3] < h)
    return boxes[inside], owner[inside]


def _inclusive_paired_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """wsolevaluation's ``calculate_multiple_iou``, paired: corners are inclusive pixels, so each
    side is ``x1 - x0 + 1`` long; boxes that do not overlap have IoU 0."""
    top_left = torch.maximum(boxes1[:, :2], boxes2[:, :2])
    bottom_right = torch.minimum(boxes1[:, 2:], boxes2[:, 2:])
    sides = bottom_right - top_left + 1
    inter = torch.where((bottom_right >= top_left).all(dim=1), sides.prod(dim=1), 0)
    area1 = (boxes1[:, 2:] - boxes1[:, :2] + 1).prod(dim=1)
    area2 = (boxes2[:, 2:] - boxes2[:, :2] + 1).prod(dim=1)
    return inter / (area1 + area2 - inter)


def _pairs_by_owner(comp_owner: torch.Tensor, gt_owner: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Index pairs (component k, ground-truth box g) with the same owner image."""
    gt_order = torch.argsort(gt_owner, stable=True)
    counts = torch.bincount(gt_owner, minlength=n)
    first = torch.cumsum(counts, 0) - counts  # start of each image's gt boxes in gt_order
    per_comp = counts[comp_owner]
    pair_comp = torch.repeat_interleave(torch.arange(comp_owner.numel()), per_comp)
    offset = torch.arange(pair_comp.numel()) - torch.repeat_interleave(torch.cumsum(per_comp, 0) - per_comp, per_comp)
    pair_gt = gt_order[first[comp_owner[pair_comp]] + offset]
    return pair_comp, pair_gt


def pointing_accuracy(
    cams: torch.Tensor,
    true_boxes: torch.Tensor,
    *,
    image_size: int | tuple[int, int] | None = None,
) -> float:
    """The pointing game: does the CAM's maximum fall inside the object's box?

    Zhang et al. (ECCV 2016, "Top-down Neural Attention by Excitation Backprop"), used by
    Selvaraju et al. (Grad-CAM, ICCV 2017, Sec. 4.1). A hit when the centre
    ``(j + 0.5, i + 0.5)`` of the arg-max pixel (row i, column j) lies in the closed box
    ``x_min <= x <= x_max, y_min <= y <= y_max``: tolerance 0 pixels (Zhang et al. allow 15),
    and a centre exactly on the box's edge counts as inside. With several maximal pixels the
    first in raster order points (``torch.argmax``); a constant map therefore points at pixel (0, 0).

    Args:
        cams: ``[N, h, w]`` the CAM of each image's class.
        true_boxes: ``[N, 4]`` in map pixels, or in image pixels when ``image_size=(H, W)`` is
            given (the centre then scales to ``((j + 0.5) W / w, (i + 0.5) H / h)``, the centre of
            the pixel's stride x stride block).

    Returns:
        the fraction of hits, a float in [0, 1].
    """
    size = _check_image_size(image_size)
    cams = _check_cams(cams)
    n, h, w = cams.shape
    _nonempty(n, "pointing_accuracy")
    true_boxes = _check_boxes(true_boxes, "true_boxes", n).to(cams.device)
    check_boxes_in_frame(true_boxes, torch.arange(n), (h, w), size)
    flat = cams.reshape(n, -1).argmax(dim=1)
    centres = torch.stack([flat % w, flat // w], dim=1).to(true_boxes.dtype) + 0.5
    if size is not None:
        centres = centres * torch.tensor([size[1] / w, size[0] / h], dtype=centres.dtype, device=centres.device)
    inside = (centres >= true_boxes[:, :2]).all(dim=1) & (centres <= true_boxes[:, 2:]).all(dim=1)
    return float(inside.float().mean())


class Extent(NamedTuple):
    coverage: float | torch.Tensor  # |region ∩ object| / |object|: how much of the object the CAM finds
    precision: float | torch.Tensor  # |region ∩ object| / |region|: how much of the CAM lies on the object


class PxAPResult(NamedTuple):
    """PxAP and the precision-recall curve it is the area of."""

    pxap: float  # in [0, 1]; the reference code reports 100 times it
    precision: torch.Tensor  # [T + 2] float64, from the highest threshold down
    recall: torch.Tensor  # [T + 2] float64
    cam_thresholds: torch.Tensor  # [T] float64


def pxap(cams: torch.Tensor, masks: torch.Tensor, *, cam_thresholds=None, ignore: torch.Tensor | None = None,
         ) -> PxAPResult:
    """PxAP (Choe et al., CVPR 2020): the area under the pixel-level precision-recall curve of the maps
    against the objects' masks, over every pixel of the split at once.

    As ``clovaai/wsolevaluation``'s ``MaskEvaluator``: each map is min-max scaled to [0, 1]
    (a constant map becomes 0, as the reference's ``normalize_scoremap``); the scores of object
    pixels and of background pixels are counted in the bins ``[t_0, t_1), ..., [t_(T-1), 1),
    [1, 2), [2, 3]`` of the thresholds ``t`` (default 0, 0.01, ..., 0.99, the reference's
    ``cam_curve_interval``); from the highest
    bin down, ``tp`` and ``fp`` accumulate, ``precision = tp / (tp + fp)``, ``recall = tp / |objects|``,
    and ``PxAP = sum_i precision_i (recall_i - recall_(i-1))`` over the points with a prediction.
    ``ignore`` (bool, like ``masks``): pixels left out of both counts (OpenImages' ignore regions).

    Args:
        cams: ``[N, h, w]`` maps (any scale; each is min-max scaled); masks: ``[N, h, w]`` bool,
            True on the object.

    Returns:
        ``PxAPResult``; ``pxap`` is a fraction (the reference's ``auc / 100``).
    """
    cams = _check_cams(cams)
    _nonempty(cams.shape[0], "pxap")
    masks = _check_masks(masks, cams.shape, "masks").cpu()
    keep = ~_check_masks(ignore, cams.shape, "ignore").cpu() if ignore is not None else torch.ones_like(masks)
    if (masks & ~keep).any():
        raise ValueError("ignore and masks overlap: an ignored pixel cannot also be an object pixel")
    taus = _check_cam_thresholds(cam_thresholds)
    if (taus.diff() <= 0).any() or taus.max() >= 1:
        raise ValueError("cam_thresholds must increase and stay below 1 (they are histogram edges, with 1, 2 and 3 "
                         "appended), e.g. np.arange(0, 1, 0.01)")
    low, high = cams.double().amin(dim=(1, 2), keepdim=True), cams.double().amax(dim=(1, 2), keepdim=True)
    span = high - low
    scores = torch.where(span > 0, (cams.double() - low) / torch.where(span > 0, span, 1.0), 0.0).cpu()  # constant: 0
    edges = np.append(taus.numpy(), [1.0, 2.0, 3.0])
    on_object = np.histogram(scores[masks & keep].cpu().numpy(), bins=edges)[0].astype(np.float64)
    off_object = np.histogram(scores[~masks & keep].cpu().numpy(), bins=edges)[0].astype(np.float64)
    if on_object.sum() == 0:
        raise ValueError("the masks hold no object pixel: PxAP needs at least one")
    tp, fp = on_object[::-1].cumsum(), off_object[::-1].cumsum()
    predicted = tp + fp
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = tp / on_object.sum()
    area = float((precision[1:] * np.diff(recall))[predicted[1:] != 0].sum())
    return PxAPResult(area, torch.from_numpy(precision), torch.from_numpy(recall), taus)


def _check_masks(masks, shape: torch.Size, name: str) -> torch.Tensor:
    masks = as_tensor(masks, name)
    if masks.shape != shape:
        raise ValueError(f"{name} must have the shape of cams, {list(shape)} ([N, h, w]); got {list(masks.shape)}")
    if masks.dtype != torch.bool:
        raise ValueError(f"{name} must be a bool tensor (True on the object), got dtype {masks.dtype}")
    return masks


def extent(
    cams: torch.Tensor,
    masks: torch.Tensor,
    threshold: float = 0.2,
    *,
    reduction: str = "mean",
) -> Extent:
    """How much of the object the thresholded CAM covers, and how much of it lies on the object.

    The region is ``{cam >= threshold * max(cam)}``, every pixel of it (no component is
    selected; a map whose maximum is <= 0 keeps the whole map, as in ``bbox_from_cam``).
    With the object's pixel mask O and the region R:

        coverage  = |R ∩ O| / |O|   (recall of the object's pixels; the CAM paper's argument
                                     that GAP finds the object's *extent*, Zhou et al. Sec. 2)
        precision = |R ∩ O| / |R|   (the share of the region that lies on the object)

    These are pixel recall and precision of a thresholded saliency map, the quantities behind
    the mask-based evaluations of Choe et al. (CVPR 2020, PxAP) at one threshold.

    Args:
        cams: ``[N, h, w]``; masks: ``[N, h, w]`` bool, the object's pixels, at least one per image.
        threshold: in [0, 1].
        reduction: ``"mean"`` for the two means over images (floats), ``"none"`` for the
            per-image values (two ``[N]`` float tensors on the device of ``cams``).

    Returns:
        ``Extent(coverage, precision)``, each in [0, 1].
    """
    threshold = check_fraction(threshold, "threshold")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction={reduction!r}: use 'mean' or 'none'")
    cams = _check_cams(cams)
    n = cams.shape[0]
    _nonempty(n, "extent")
    masks = _check_masks(masks, cams.shape, "masks").to(cams.device)
    objects = masks.sum(dim=(1, 2))
    if (objects == 0).any():
        empty = torch.nonzero(objects == 0).flatten()[:5].tolist()
        raise ValueError(f"masks of images {empty} are empty: coverage of an object with no pixels is undefined")
    region = _region(cams, threshold)
    overlap = (region & masks).sum(dim=(1, 2)).float()
    coverage = overlap / objects.float()
    precision = overlap / region.sum(dim=(1, 2)).float()  # the region holds at least the arg-max pixel
    if reduction == "none":
        return Extent(coverage, precision)
    return Extent(float(coverage.mean()), float(precision.mean()))
