"""Reference port of the box-accuracy (MaxBoxAccV2) evaluation of clovaai/wsolevaluation.

Choe et al., "Evaluating Weakly Supervised Object Localization Methods Right", CVPR 2020;
code at https://github.com/clovaai/wsolevaluation (MIT licence, Copyright (c) 2020-present
NAVER Corp.; the permission notice is reproduced below). This module exists only so that the
tests can compare ``camlib.metrics.localize.max_box_acc_v2`` with the numbers the original code gives.

Where each piece comes from (files of the repository, as stored in the public-code index):

* ``normalize_scoremap``                 -- ``inference.py`` (commit 502b92b33dc03fa7380fe3092c875ead766d7734)
* ``check_scoremap_validity``,
  ``check_box_convention``               -- ``util.py`` (commit b5c1e8a99868d5b2e869aa7f3f5ad8c310b16ca3)
* ``calculate_multiple_iou``,
  ``compute_bboxes_from_scoremaps``,
  ``BoxEvaluator.accumulate`` / ``compute``,
  and the ``np.average`` of ``evaluate_wsol`` with ``multi_iou_eval=True``
                                         -- ``evaluation.py`` (commit b98c7d1198e48423b9289ee032a52d2cc0f0f53a)

The functions are copied statement for statement. What was changed, all of it plumbing:

* ``np.float`` (removed in NumPy 1.24) is written ``np.float64``, which is what it aliased.
* Error messages are f-strings instead of ``str.format`` (the project's linter, rule UP032).
* ``BoxEvaluator`` loads its ground truth through ``data_loaders`` (metadata files, image sizes,
  ``resize_bbox`` to 224 x 224). Here there is no dataset loader: ``BoxEvaluatorNoLoader``
  takes the ground-truth boxes directly, as a list (one entry per image) of ``[M_i, 4]``
  ``(x0, y0, x1, y1)`` boxes -- the numbers ``self.gt_bboxes[image_id]`` would hold -- and
  images are identified by their index instead of an image_id string.
* ``max_box_acc_v2_reference`` wraps the evaluator loop of ``evaluate_wsol`` (the cam loader
  and ``t2n`` conversions dropped) and returns fractions in [0, 1] rather than percentages:
  ``num_correct / cnt`` instead of ``num_correct * 100. / cnt``.

Behaviours kept on purpose (they are what "the reference" means):

* ``normalize_scoremap`` works *in place* on float arrays (``cam -= cam.min()``); pass a copy.
* The threshold list is ``list(np.arange(0, 1, cam_curve_interval))`` (numpy floats such as
  0.07000000000000001), and each map is thresholded as a uint8 copy
  ``(scoremap * 255).astype(np.uint8)`` with OpenCV's strict ``>`` against
  ``int(threshold * np.max(scoremap_image))``.
* Boxes come from every contour of ``cv2.findContours(RETR_TREE, CHAIN_APPROX_SIMPLE)``, hole
  contours included, as ``[x, y, x + w, y + h]`` clipped to ``width - 1`` / ``height - 1``;
  no contour gives the box ``[0, 0, 0, 0]``; IoU counts pixels inclusively ("+1" areas).

--- Original permission notice ---

Copyright (c) 2020-present NAVER Corp.

Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of
the Software, and to permit persons to whom the Software is furnished to do so,
subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS
FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR
COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER
IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "BoxEvaluatorNoLoader",
    "calculate_multiple_iou",
    "check_box_convention",
    "check_scoremap_validity",
    "compute_bboxes_from_scoremaps",
    "max_box_acc_v2_reference",
    "normalize_scoremap",
    "pxap_reference",
]

# evaluation.py: OpenCV 3 returns (image, contours, hierarchy), OpenCV 4 and 5 (contours, hierarchy).
_CONTOUR_INDEX = 1 if cv2.__version__.split('.')[0] == '3' else 0


# --- inference.py -------------------------------------------------------------------------------

def normalize_scoremap(cam):
    """
    Args:
        cam: numpy.ndarray(size=(H, W), dtype=np.float)
    Returns:
        numpy.ndarray(size=(H, W), dtype=np.float) between 0 and 1.
        If input array is constant, a zero-array is returned.
    """
    if np.isnan(cam).any():
        return np.zeros_like(cam)
    if cam.min() == cam.max():
        return np.zeros_like(cam)
    cam -= cam.min()
    cam /= cam.max()
    return cam


# --- util.py ------------------------------------------------------------------------------------

def check_scoremap_validity(scoremap):
    if not isinstance(scoremap, np.ndarray):
        raise TypeError(f"Scoremap must be a numpy array; it is {type(scoremap)}.")
    if scoremap.dtype != np.float64:  # np.float in the original
        raise TypeError(f"Scoremap must be of np.float type; it is of {scoremap.dtype} type.")
    if len(scoremap.shape) != 2:
        raise ValueError(f"Scoremap must be a 2D array; it is {len(scoremap.shape)}D.")
    if np.isnan(scoremap).any():
        raise ValueError("Scoremap must not contain nans.")
    if (scoremap > 1).any() or (scoremap < 0).any():
        raise ValueError("Scoremap must be in range [0, 1]."
                         f"scoremap.min()={scoremap.min()}, scoremap.max()={scoremap.max()}.")


def check_box_convention(boxes, convention):
    """
    Args:
        boxes: numpy.ndarray(dtype=np.int or np.float, shape=(num_boxes, 4))
        convention: string. One of ['x0y0x1y1', 'xywh'].
    Raises:
        RuntimeError if box does not meet the convention.
    """
    if (boxes < 0).any():
        raise RuntimeError("Box coordinates must be non-negative.")

    if len(boxes.shape) == 1:
        boxes = np.expand_dims(boxes, 0)
    elif len(boxes.shape) != 2:
        raise RuntimeError("Box array must have dimension (4) or "
                           "(num_boxes, 4).")

    if boxes.shape[1] != 4:
        raise RuntimeError("Box array must have dimension (4) or "
                           "(num_boxes, 4).")

    if convention == 'x0y0x1y1':
        widths = boxes[:, 2] - boxes[:, 0]
        heights = boxes[:, 3] - boxes[:, 1]
    elif convention == 'xywh':
        widths = boxes[:, 2]
        heights = boxes[:, 3]
    else:
        raise ValueError(f"Unknown convention {convention}.")

    if (widths < 0).any() or (heights < 0).any():
        raise RuntimeError(f"Boxes do not follow the {convention} convention.")


# --- evaluation.py ------------------------------------------------------------------------------

def calculate_multiple_iou(box_a, box_b):
    """
    Args:
        box_a: numpy.ndarray(dtype=np.int, shape=(num_a, 4))
            x0y0x1y1 convention.
        box_b: numpy.ndarray(dtype=np.int, shape=(num_b, 4))
            x0y0x1y1 convention.
    Returns:
        ious: numpy.ndarray(dtype=np.int, shape(num_a, num_b))
    """
    num_a = box_a.shape[0]
    num_b = box_b.shape[0]

    check_box_convention(box_a, 'x0y0x1y1')
    check_box_convention(box_b, 'x0y0x1y1')

    # num_a x 4 -> num_a x num_b x 4
    box_a = np.tile(box_a, num_b)
    box_a = np.expand_dims(box_a, axis=1).reshape((num_a, num_b, -1))

    # num_b x 4 -> num_b x num_a x 4
    box_b = np.tile(box_b, num_a)
    box_b = np.expand_dims(box_b, axis=1).reshape((num_b, num_a, -1))

    # num_b x num_a x 4 -> num_a x num_b x 4
    box_b = np.transpose(box_b, (1, 0, 2))

    # num_a x num_b
    min_x = np.maximum(box_a[:, :, 0], box_b[:, :, 0])
    min_y = np.maximum(box_a[:, :, 1], box_b[:, :, 1])
    max_x = np.minimum(box_a[:, :, 2], box_b[:, :, 2])
    max_y = np.minimum(box_a[:, :, 3], box_b[:, :, 3])

    # num_a x num_b
    area_intersect = (np.maximum(0, max_x - min_x + 1)
                      * np.maximum(0, max_y - min_y + 1))
    area_a = ((box_a[:, :, 2] - box_a[:, :, 0] + 1) *
              (box_a[:, :, 3] - box_a[:, :, 1] + 1))
    area_b = ((box_b[:, :, 2] - box_b[:, :, 0] + 1) *
              (box_b[:, :, 3] - box_b[:, :, 1] + 1))

    denominator = area_a + area_b - area_intersect
    degenerate_indices = np.where(denominator <= 0)
    denominator[degenerate_indices] = 1

    ious = area_intersect / denominator
    ious[degenerate_indices] = 0
    return ious


def compute_bboxes_from_scoremaps(scoremap, scoremap_threshold_list,
                                  multi_contour_eval=False):
    """
    Args:
        scoremap: numpy.ndarray(dtype=np.float32, size=(H, W)) between 0 and 1
        scoremap_threshold_list: iterable
        multi_contour_eval: flag for multi-contour evaluation

    Returns:
        estimated_boxes_at_each_thr: list of estimated boxes (list of np.array)
            at each cam threshold
        number_of_box_list: list of the number of boxes at each cam threshold
    """
    check_scoremap_validity(scoremap)
    height, width = scoremap.shape
    scoremap_image = np.expand_dims((scoremap * 255).astype(np.uint8), 2)

    def scoremap2bbox(threshold):
        _, thr_gray_heatmap = cv2.threshold(
            src=scoremap_image,
            thresh=int(threshold * np.max(scoremap_image)),
            maxval=255,
            type=cv2.THRESH_BINARY)
        contours = cv2.findContours(
            image=thr_gray_heatmap,
            mode=cv2.RETR_TREE,
            method=cv2.CHAIN_APPROX_SIMPLE)[_CONTOUR_INDEX]

        if len(contours) == 0:
            return np.asarray([[0, 0, 0, 0]]), 1

        if not multi_contour_eval:
            contours = [max(contours, key=cv2.contourArea)]

        estimated_boxes = []
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            x0, y0, x1, y1 = x, y, x + w, y + h
            x1 = min(x1, width - 1)
            y1 = min(y1, height - 1)
            estimated_boxes.append([x0, y0, x1, y1])

        return np.asarray(estimated_boxes), len(contours)

    estimated_boxes_at_each_thr = []
    number_of_box_list = []
    for threshold in scoremap_threshold_list:
        boxes, number_of_box = scoremap2bbox(threshold)
        estimated_boxes_at_each_thr.append(boxes)
        number_of_box_list.append(number_of_box)

    return estimated_boxes_at_each_thr, number_of_box_list


class BoxEvaluatorNoLoader:
    """``BoxEvaluator`` of evaluation.py without ``data_loaders``: gt boxes are passed in.

    ``gt_bboxes[i]`` plays the part of ``self.gt_bboxes[image_id]`` (boxes already resized to
    the score map's frame by ``resize_bbox`` in the original); ``accumulate`` takes the image's
    index ``i`` in place of its ``image_id``.
    """

    def __init__(self, gt_bboxes, cam_threshold_list, iou_threshold_list, multi_contour_eval):
        self.cam_threshold_list = cam_threshold_list
        self.iou_threshold_list = iou_threshold_list
        self.multi_contour_eval = multi_contour_eval
        self.cnt = 0
        self.num_correct = \
            {iou_threshold: np.zeros(len(self.cam_threshold_list))
             for iou_threshold in self.iou_threshold_list}
        self.gt_bboxes = gt_bboxes

    def accumulate(self, scoremap, image_id):
        """
        From a score map, a box is inferred (compute_bboxes_from_scoremaps).
        The box is compared against GT boxes. Count a scoremap as a correct
        prediction if the IOU against at least one box is greater than a certain
        threshold (_IOU_THRESHOLD).

        Args:
            scoremap: numpy.ndarray(size=(H, W), dtype=np.float)
            image_id: here the index of the image in gt_bboxes.
        """
        boxes_at_thresholds, number_of_box_list = compute_bboxes_from_scoremaps(
            scoremap=scoremap,
            scoremap_threshold_list=self.cam_threshold_list,
            multi_contour_eval=self.multi_contour_eval)

        boxes_at_thresholds = np.concatenate(boxes_at_thresholds, axis=0)

        multiple_iou = calculate_multiple_iou(
            np.array(boxes_at_thresholds),
            np.array(self.gt_bboxes[image_id]))

        idx = 0
        sliced_multiple_iou = []
        for nr_box in number_of_box_list:
            sliced_multiple_iou.append(
                max(multiple_iou.max(1)[idx:idx + nr_box]))
            idx += nr_box

        for _THRESHOLD in self.iou_threshold_list:
            correct_threshold_indices = \
                np.where(np.asarray(sliced_multiple_iou) >= (_THRESHOLD/100))[0]
            self.num_correct[_THRESHOLD][correct_threshold_indices] += 1
        self.cnt += 1

    def compute(self):
        """
        Returns:
            max_localization_accuracy: list of floats, one per IoU threshold. The ratio of
               images where the box prediction is correct (a fraction here; the original
               multiplies by 100). The best scoremap threshold is taken.
        """
        max_box_acc = []

        for _THRESHOLD in self.iou_threshold_list:
            localization_accuracies = self.num_correct[_THRESHOLD] / \
                                      float(self.cnt)
            max_box_acc.append(localization_accuracies.max())

        return max_box_acc


# --- the evaluate_wsol loop, without its loaders -------------------------------------------------

def max_box_acc_v2_reference(scoremaps, gt_boxes, cam_curve_interval=0.01,
                             iou_thresholds=(30, 50, 70), multi_contour_eval=True):
    """MaxBoxAccV2 as wsolevaluation computes it (``evaluate_wsol`` with
    ``multi_iou_eval=True``), on maps already in memory.

    Args:
        scoremaps: list of N ``[H_i, W_i]`` float64 maps in [0, 1] (e.g. from
            ``normalize_scoremap``).
        gt_boxes: list of N ``[M_i, 4]`` arrays of ``(x0, y0, x1, y1)`` integer boxes, the
            numbers the original evaluator would hold (``resize_bbox`` output).
        cam_curve_interval: the CAM thresholds are ``list(np.arange(0, 1, cam_curve_interval))``.
        iou_thresholds: in percent, as the original's ``iou_threshold_list``.
        multi_contour_eval: every contour gives a box (True, as MaxBoxAccV2) or only the
            largest by ``cv2.contourArea`` (False, the original's default).

    Returns:
        ``{"mean": float, "max_box_acc": {0.3: float, 0.5: float, 0.7: float}}``, fractions in
        [0, 1]; the keys of ``max_box_acc`` are ``t / 100`` for each ``t`` in iou_thresholds.
    """
    if len(scoremaps) != len(gt_boxes):
        raise ValueError(f"{len(scoremaps)} score maps but {len(gt_boxes)} box sets")
    cam_threshold_list = list(np.arange(0, 1, cam_curve_interval))
    iou_threshold_list = list(iou_thresholds)
    evaluator = BoxEvaluatorNoLoader(
        gt_bboxes=[np.asarray(b) for b in gt_boxes],
        cam_threshold_list=cam_threshold_list,
        iou_threshold_list=iou_threshold_list,
        multi_contour_eval=multi_contour_eval)
    for image_id, scoremap in enumerate(scoremaps):
        evaluator.accumulate(scoremap, image_id)
    performance = evaluator.compute()
    return {
        "mean": float(np.average(performance)),
        "max_box_acc": {t / 100: float(acc) for t, acc in zip(iou_threshold_list, performance)},
    }


# --- evaluation.py: MaskEvaluator (PxAP) ------------------------------------------------------------


class MaskEvaluatorNoLoader:
    """``MaskEvaluator.accumulate`` / ``compute`` (evaluation.py, commit 0c476cd115c21900a734a86cb34a8e92b8b7e278),
    statement for statement, with the ground-truth mask given directly (1: object, 0: background, 255:
    ignored, as ``get_mask`` returns) instead of read from OpenImages files; ``check_scoremap_validity``
    and the print are kept out, and ``compute`` returns the area as a fraction (not times 100)."""

    def __init__(self, threshold_list):
        self.threshold_list = threshold_list
        # threshold_list is given as [0, bw, 2bw, ..., 1-bw]
        # Set bins as [0, bw), [bw, 2bw), ..., [1-bw, 1), [1, 2), [2, 3)
        self.num_bins = len(self.threshold_list) + 2
        self.threshold_list_right_edge = np.append(self.threshold_list, [1.0, 2.0, 3.0])
        self.gt_true_score_hist = np.zeros(self.num_bins, dtype=np.float64)
        self.gt_false_score_hist = np.zeros(self.num_bins, dtype=np.float64)

    def accumulate(self, scoremap, gt_mask):
        gt_true_scores = scoremap[gt_mask == 1]
        gt_false_scores = scoremap[gt_mask == 0]

        # histograms in ascending order
        gt_true_hist, _ = np.histogram(gt_true_scores, bins=self.threshold_list_right_edge)
        self.gt_true_score_hist += gt_true_hist.astype(np.float64)

        gt_false_hist, _ = np.histogram(gt_false_scores, bins=self.threshold_list_right_edge)
        self.gt_false_score_hist += gt_false_hist.astype(np.float64)

    def compute(self):
        num_gt_true = self.gt_true_score_hist.sum()
        tp = self.gt_true_score_hist[::-1].cumsum()
        fn = num_gt_true - tp

        num_gt_false = self.gt_false_score_hist.sum()
        fp = self.gt_false_score_hist[::-1].cumsum()
        tn = num_gt_false - fp  # noqa: F841 -- computed by the original, unused

        if ((tp + fn) <= 0).all():
            raise RuntimeError("No positive ground truth in the eval set.")
        if ((tp + fp) <= 0).all():
            raise RuntimeError("No positive prediction in the eval set.")

        non_zero_indices = (tp + fp) != 0

        precision = tp / (tp + fp)
        recall = tp / (tp + fn)

        auc = (precision[1:] * np.diff(recall))[non_zero_indices[1:]].sum()
        return auc


def pxap_reference(scoremaps, gt_masks, cam_curve_interval=0.01):
    """PxAP as wsolevaluation's ``evaluate_wsol`` computes it for OpenImages, on maps in memory:
    ``normalize_scoremap`` of each map, then ``MaskEvaluator``; a fraction in [0, 1]."""
    evaluator = MaskEvaluatorNoLoader(list(np.arange(0, 1, cam_curve_interval)))
    for scoremap, gt_mask in zip(scoremaps, gt_masks, strict=True):
        evaluator.accumulate(normalize_scoremap(np.array(scoremap, dtype=np.float64)), np.asarray(gt_mask))
    with np.errstate(invalid="ignore", divide="ignore"):  # precision 0/0 where nothing is predicted, masked out
        return float(evaluator.compute())
