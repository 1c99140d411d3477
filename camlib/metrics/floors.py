"""Floors: what a localization number is worth beside maps that never look at the image.

A localization score means something only by its margin over a map that knows nothing about
the image. Choe et al. (CVPR 2020, "Evaluating Weakly Supervised Object Localization Methods
Right") put a *centre-Gaussian* baseline beside every method for that reason: on ILSVRC objects
sit near the centre, and a fixed Gaussian scores 52.3 total mean MaxBoxAccV2 against CAM's 63.8.
On a small canvas a large object can barely move, and the same prior can beat a network.

``fit_centre_prior(train_boxes, canvas)`` learns, from the *training* boxes only (as a tuned
baseline would be), the three network-free answers of this module, one per metric:

* ``maxboxacc_v2``: an isotropic Gaussian centred on the canvas (``centre_gaussian``), its sigma
  the one of ``sigmas`` with the best MaxBoxAccV2 on the training boxes;
* ``gt_known_loc``: one fixed box, centred, of the training boxes' mean width and height;
* ``pointing``: one fixed pixel, the one whose centre lies in the most training boxes.

``CentrePrior.evaluate(test_boxes)`` scores them on the test boxes with the same metrics
``camlib.lab.wsol`` computes for the networks (``camlib.metrics.localize``); ``pointing_centre`` adds the
canvas's central pixel itself, and ``CentrePrior.pxap(test_masks)`` the Gaussian's PxAP against the
objects' pixels. Every number is measured, none is assumed: "chance" for a box metric is not the
box's share of the canvas.

``image_floor(images, masks, boxes)`` is the other floor: **the image itself** used as the map, scored
by the same metrics (PxAP, MaxBoxAccV2, GT-known Loc at the paper's 20 % rule, pointing). It sees the
image but no network: on black canvases an object's bright pixels are found by their brightness, and
a CAM must beat that to say more than "here is something bright".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from camlib._checks import check_int
from camlib.methods.cam import normalize_cams
from camlib.metrics.localize import (
    bbox_from_cam,
    box_iou,
    boxes_from_cam_all_components,
    gt_known_loc,
    max_box_acc_v2,
    pointing_accuracy,
    pxap,
)

__all__ = ["CentrePrior", "centre_gaussian", "fit_centre_prior", "box_accuracy_of_one_map", "image_floor",
           "FLOOR_METRICS", "IMAGE_FLOOR_METRICS"]

# the metrics a centre prior answers, in table order
FLOOR_METRICS = ("maxboxacc_v2", "gt_known_loc", "pointing", "pointing_centre")
# the metrics the image itself answers as a map
IMAGE_FLOOR_METRICS = ("pxap", "maxboxacc_v2", "gt_known_loc", "pointing")
# sigma as a fraction of the canvas side: 4 to 24 pixels on a 64-pixel canvas
SIGMA_FRACTIONS = tuple(k / 32 for k in range(2, 13))


def centre_gaussian(canvas: int, sigma: float) -> torch.Tensor:
    """``exp(-r^2 / (2 sigma^2))`` over a ``canvas x canvas`` grid of pixel centres, float64, ``r`` the
    distance from the canvas's centre ``(canvas / 2, canvas / 2)``; peak 1 (at the four central pixels
    of an even canvas)."""
    canvas = check_int(canvas, "canvas", minimum=1)
    if not isinstance(sigma, int | float) or isinstance(sigma, bool) or not 0 < sigma < float("inf"):
        raise ValueError(f"sigma must be a positive number of pixels, got {sigma!r}")
    offset = torch.arange(canvas, dtype=torch.float64) + 0.5 - canvas / 2
    r2 = offset[:, None] ** 2 + offset[None, :] ** 2
    return torch.exp(-(r2 - r2.min()) / (2 * float(sigma) ** 2))


def box_accuracy_of_one_map(
    score_map: torch.Tensor, true_boxes: torch.Tensor, cam_thresholds: Sequence[float],
    iou_thresholds: Sequence[float] = (0.3, 0.5, 0.7),
) -> torch.Tensor:
    """``BoxAcc(tau, delta)`` ``[T, D]`` of the *same* map given for every image: MaxBoxAccV2's protocol
    (min-max scaling, every component, camlib's boxes) with the boxes drawn once instead of N times.
    ``max_box_acc_v2(score_map.expand(N, h, w), true_boxes)`` gives the same numbers (tested)."""
    scaled = normalize_cams(score_map.double(), "minmax")  # step 1 of the protocol; a constant map is 0
    true_boxes = torch.as_tensor(true_boxes, dtype=torch.float64)
    deltas = torch.tensor(list(iou_thresholds), dtype=torch.float64)
    rows = []
    for tau in cam_thresholds:
        # {scaled >= tau}: the region of threshold tau on a map whose maximum is 1 (all of it at tau = 0)
        boxes = boxes_from_cam_all_components(scaled, float(tau)) if tau > 0 else \
            torch.tensor([[0.0, 0.0, scaled.shape[1], scaled.shape[0]]])
        best = box_iou(boxes.double(), true_boxes).amax(0)  # [N]: each image's best box
        rows.append((best[:, None] >= deltas).double().mean(0))
    return torch.stack(rows)


@dataclass(frozen=True)
class CentrePrior:
    """The network-free answers of ``fit_centre_prior``: a Gaussian of width ``sigma`` (pixels), a fixed
    ``box`` and a fixed ``point`` (the pixel ``(x, y)``), all on a ``canvas x canvas`` image."""

    canvas: int
    sigma: float
    box: tuple[float, float, float, float]
    point: tuple[int, int]
    cam_step: float

    def map(self) -> torch.Tensor:
        """The Gaussian ``[canvas, canvas]`` (float64)."""
        return centre_gaussian(self.canvas, self.sigma)

    def evaluate(self, true_boxes: torch.Tensor) -> dict[str, float]:
        """MaxBoxAccV2 of the Gaussian, GT-known Loc of the fixed box, pointing of the fixed pixel and of
        the canvas's central pixel, on ``true_boxes`` ``[N, 4]`` (canvas pixels), as Python floats."""
        true_boxes = _check_boxes(true_boxes, self.canvas)
        n = len(true_boxes)
        taus = _grid(self.cam_step)
        box_acc = box_accuracy_of_one_map(self.map(), true_boxes, taus)
        return {
            "maxboxacc_v2": float(box_acc.amax(0).mean()),
            "gt_known_loc": gt_known_loc(torch.tensor([self.box]).expand(n, 4), true_boxes),
            "pointing": _pointing(self.point, self.canvas, true_boxes),
            "pointing_centre": _pointing((self.canvas // 2, self.canvas // 2), self.canvas, true_boxes),
        }

    def pxap(self, masks: torch.Tensor) -> float:
        """PxAP of the Gaussian given for every image against ``masks`` ``[N, canvas, canvas]`` (bool)."""
        masks = torch.as_tensor(masks)
        return pxap(self.map().expand(masks.shape), masks, cam_thresholds=_grid(self.cam_step)).pxap

    def as_dict(self) -> dict:
        return {"canvas": self.canvas, "sigma": self.sigma, "box": list(self.box), "point": list(self.point)}


def fit_centre_prior(
    train_boxes: torch.Tensor, canvas: int, *, sigmas: Sequence[float] | None = None, cam_step: float = 0.01,
) -> CentrePrior:
    """The centre prior of boxes like ``train_boxes`` ``[N, 4]`` on a ``canvas x canvas`` image.

    ``sigmas`` (pixels; default 1/16 to 3/8 of the canvas, 4 to 24 pixels on 64) are tried in turn and
    the Gaussian with the best MaxBoxAccV2 on the training boxes is kept (the first, on ties);
    ``cam_step`` is the MaxBoxAccV2 threshold grid, as for the networks it stands beside.
    """
    canvas = check_int(canvas, "canvas", minimum=2)
    train_boxes = _check_boxes(train_boxes, canvas)
    if not 0 < cam_step <= 1:
        raise ValueError(f"cam_step must be in (0, 1], got {cam_step!r}")
    sigmas = [canvas * f for f in SIGMA_FRACTIONS] if sigmas is None else [float(s) for s in sigmas]
    if not sigmas:
        raise ValueError("sigmas is empty: give at least one width in pixels")
    taus = _grid(cam_step)
    scores = [float(box_accuracy_of_one_map(centre_gaussian(canvas, s), train_boxes, taus).amax(0).mean())
              for s in sigmas]
    sigma = sigmas[int(np.argmax(scores))]
    width, height = (train_boxes[:, 2] - train_boxes[:, 0]).mean(), (train_boxes[:, 3] - train_boxes[:, 1]).mean()
    box = tuple(float(v) for v in (canvas / 2 - width / 2, canvas / 2 - height / 2,
                                   canvas / 2 + width / 2, canvas / 2 + height / 2))
    return CentrePrior(canvas=canvas, sigma=sigma, box=box, point=_best_point(train_boxes, canvas), cam_step=cam_step)


def image_floor(images: torch.Tensor, masks: torch.Tensor, true_boxes: torch.Tensor, *, threshold: float = 0.2,
                cam_step: float = 0.01) -> dict[str, float]:
    """The image itself as a map: ``images`` ``[N, h, w]`` (one channel) scored against the objects'
    ``masks`` ``[N, h, w]`` (bool) and ``true_boxes`` ``[N, 4]`` by the metrics of ``IMAGE_FLOOR_METRICS``,
    computed as for a CAM: PxAP and MaxBoxAccV2 (min-max scaled, thresholds ``0, cam_step, ...``),
    GT-known Loc of the largest component at ``threshold`` of the maximum, and pointing (the brightest
    pixel, the first on ties)."""
    images = torch.as_tensor(images)
    if images.dim() != 3:
        raise ValueError(f"images must be [N, h, w] (one channel), got {list(images.shape)}: "
                         "pass images[:, 0] for [N, 1, h, w]")
    taus = torch.tensor(_grid(cam_step), dtype=torch.float64)
    return {
        "pxap": pxap(images, masks, cam_thresholds=taus).pxap,
        "maxboxacc_v2": max_box_acc_v2(images, true_boxes, cam_thresholds=taus).mean,
        "gt_known_loc": gt_known_loc(bbox_from_cam(images, threshold), true_boxes),
        "pointing": pointing_accuracy(images, true_boxes, image_size=tuple(images.shape[-2:])),
    }


def _grid(cam_step: float) -> list[float]:
    """``0, cam_step, 2 cam_step, ... < 1``, as ``camlib.lab.wsol`` gives MaxBoxAccV2."""
    return torch.arange(0, 1, cam_step, dtype=torch.float64).tolist()


def _check_boxes(boxes, canvas: int) -> torch.Tensor:
    boxes = torch.as_tensor(boxes, dtype=torch.float64)
    if boxes.dim() != 2 or boxes.shape[1] != 4 or len(boxes) == 0:
        raise ValueError(f"boxes must be a non-empty [N, 4] tensor (x_min, y_min, x_max, y_max), "
                         f"got {list(boxes.shape)}")
    if not torch.isfinite(boxes).all() or (boxes[:, 2:] < boxes[:, :2]).any():
        raise ValueError("boxes must be finite with x_max >= x_min and y_max >= y_min")
    if (boxes < 0).any() or (boxes > canvas).any():
        raise ValueError(f"boxes must lie on the {canvas}x{canvas} canvas (0 to {canvas}); got some outside")
    return boxes


def _pixel_hits(boxes: torch.Tensor, canvas: int) -> torch.Tensor:
    """``[canvas, canvas]``: in how many boxes each pixel's centre lies (closed boxes, as the pointing game)."""
    centres = torch.arange(canvas, dtype=torch.float64) + 0.5
    inside_x = (centres >= boxes[:, 0:1]) & (centres <= boxes[:, 2:3])  # [N, canvas]
    inside_y = (centres >= boxes[:, 1:2]) & (centres <= boxes[:, 3:4])
    return inside_y.double().T @ inside_x.double()  # [rows, cols]


def _best_point(boxes: torch.Tensor, canvas: int) -> tuple[int, int]:
    hits = _pixel_hits(boxes, canvas)
    flat = int(hits.flatten().argmax())
    return flat % canvas, flat // canvas  # (x, y)


def _pointing(point: tuple[int, int], canvas: int, boxes: torch.Tensor) -> float:
    """The pointing game of a map whose only peak is ``point``, through
    ``camlib.metrics.localize.pointing_accuracy``."""
    peak = torch.zeros(len(boxes), canvas, canvas)
    peak[:, point[1], point[0]] = 1.0
    return pointing_accuracy(peak, boxes.float())
