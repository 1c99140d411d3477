"""camlib.metrics.localize: CAM -> box (20 % of max, largest 8-connected component), IoU, and the
localization metrics, on maps small enough that every answer is worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchvision
from scipy import ndimage

import camlib.metrics.localize as localize
from camlib.methods.cam import normalize_cams, upsample_cams
from camlib.metrics.localize import (
    Extent,
    MaxBoxAccV2Result,
    bbox_from_cam,
    box_iou,
    boxes_from_cam_all_components,
    extent,
    gt_known_loc,
    max_box_acc_v2,
    paired_iou,
    pointing_accuracy,
    top1_loc,
    top5_loc,
)


def t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


# --------------------------------------------------------------------------------------
# bbox_from_cam: hand-made maps
# --------------------------------------------------------------------------------------

# A 6-pixel blob of 5s and a lone 9, the map's maximum, not touching it. At 20 % of 9
# (1.8) both stay; the blob is the larger component, rows 1-3 and columns 1-2.
TWO_BLOBS = t(
    [
        [0, 0, 0, 0, 0, 0],
        [0, 5, 5, 0, 0, 0],
        [0, 5, 5, 0, 9, 0],
        [0, 5, 5, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],
    ]
)
TWO_BLOBS_BOX = [1.0, 1.0, 3.0, 4.0]


def test_larger_component_wins_over_the_one_holding_the_maximum():
    assert bbox_from_cam(TWO_BLOBS).tolist() == TWO_BLOBS_BOX


def test_returns_float_box_of_shape_4_for_one_map_and_b4_for_a_batch():
    one = bbox_from_cam(TWO_BLOBS)
    assert one.shape == (4,) and one.dtype == torch.float32
    batch = bbox_from_cam(TWO_BLOBS[None].expand(3, -1, -1))
    assert batch.shape == (3, 4) and batch.dtype == torch.float32


def test_blob_touching_the_border():
    cam = t(
        [
            [0, 0, 0, 2, 3],
            [0, 0, 0, 2, 2],
            [0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0],
        ]
    )
    assert bbox_from_cam(cam).tolist() == [3.0, 0.0, 5.0, 2.0]


def test_single_pixel_is_the_box_j_i_j1_i1():
    cam = torch.zeros(4, 5)
    cam[2, 3] = 1.0  # row i = 2, column j = 3
    assert bbox_from_cam(cam).tolist() == [3.0, 2.0, 4.0, 3.0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_pixel_at_exactly_20_percent_is_kept(dtype):
    at = torch.tensor([[0, 0, 0, 0], [1, 5, 0, 0], [0, 0, 0, 0]], dtype=dtype)  # 1 = 0.2 * 5
    below = at.clone()
    below[1, 0] = 0.999
    assert bbox_from_cam(at).tolist() == [0.0, 1.0, 2.0, 2.0]
    assert bbox_from_cam(below).tolist() == [1.0, 1.0, 2.0, 2.0]
    normalized = torch.tensor([[0.2, 1.0]], dtype=dtype)  # a max-normalized map
    assert bbox_from_cam(normalized).tolist() == [0.0, 0.0, 2.0, 1.0]


def test_threshold_argument():
    # At 60 % of 9 (5.4) the 5s drop out and only the lone maximum stays.
    assert bbox_from_cam(TWO_BLOBS, threshold=0.6).tolist() == [4.0, 2.0, 5.0, 3.0]
    # At 0 every pixel >= 0 stays: one component, the whole map.
    assert bbox_from_cam(TWO_BLOBS, threshold=0.0).tolist() == [0.0, 0.0, 6.0, 5.0]


@pytest.mark.parametrize(
    "cam",
    [
        torch.zeros(3, 4),  # all zero
        torch.full((3, 4), 2.5),  # constant positive: every pixel is at the max
        torch.full((3, 4), -1.0),  # constant negative
        -torch.arange(12.0).reshape(3, 4) - 1,  # max < 0: no positive evidence anywhere
    ],
    ids=["zero", "constant", "constant-negative", "all-negative"],
)
def test_maps_without_positive_contrast_give_the_whole_map(cam):
    box = bbox_from_cam(cam)
    assert not torch.isnan(box).any()
    assert box.tolist() == [0.0, 0.0, 4.0, 3.0]


def test_negative_values_never_pass_a_positive_threshold():
    cam = t([[-5, -5, 0, 1, 0]])
    assert bbox_from_cam(cam, threshold=0.0).tolist() == [2.0, 0.0, 5.0, 1.0]


def test_diagonal_pixels_connect_under_8_connectivity_only():
    # A diagonal of three pixels and a lone pixel. 8-connected: the diagonal is one component
    # of 3. 4-connected: four components of 1, a tie won by the highest value, at (2, 2).
    cam = t(
        [
            [1, 0, 0, 1],
            [0, 1, 0, 0],
            [0, 0, 2, 0],
            [0, 0, 0, 0],
        ]
    )
    assert bbox_from_cam(cam).tolist() == [0.0, 0.0, 3.0, 3.0]
    assert bbox_from_cam(cam, connectivity=8).tolist() == [0.0, 0.0, 3.0, 3.0]
    assert bbox_from_cam(cam, connectivity=4).tolist() == [2.0, 2.0, 3.0, 3.0]


def test_equal_sizes_the_component_holding_the_higher_value_wins():
    cam = t([[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 2, 2]])
    assert bbox_from_cam(cam).tolist() == [2.0, 2.0, 4.0, 3.0]


def test_equal_sizes_and_peaks_the_first_in_raster_order_wins():
    cam = t([[0, 0, 1, 1], [0, 0, 0, 0], [1, 1, 0, 0]])
    assert bbox_from_cam(cam).tolist() == [2.0, 0.0, 4.0, 1.0]


def test_batched_equals_map_by_map_on_the_hand_maps():
    cams = torch.stack(
        [
            TWO_BLOBS,
            torch.zeros(5, 6),
            torch.full((5, 6), 3.0),
            torch.nn.functional.pad(t([[1, 0], [0, 1]]), (2, 2, 1, 2)),  # a diagonal pair inside
            TWO_BLOBS.flip(1),
        ]
    )
    expected = [
        TWO_BLOBS_BOX,
        [0.0, 0.0, 6.0, 5.0],
        [0.0, 0.0, 6.0, 5.0],
        [2.0, 1.0, 4.0, 3.0],
        [3.0, 1.0, 5.0, 4.0],
    ]
    assert bbox_from_cam(cams).tolist() == expected
    assert [bbox_from_cam(cam).tolist() for cam in cams] == expected


def test_image_size_scales_x_by_W_over_w_and_y_by_H_over_h():
    cam = torch.zeros(4, 5)
    cam[2, 3] = 1.0  # map box (3, 2, 4, 3)
    assert bbox_from_cam(cam, image_size=(8, 20)).tolist() == [12.0, 4.0, 16.0, 6.0]  # x * 4, y * 2
    assert bbox_from_cam(cam[None], image_size=(8, 20)).tolist() == [[12.0, 4.0, 16.0, 6.0]]
    square = torch.zeros(4, 4)
    square[1:3, 0] = 1.0
    assert bbox_from_cam(square, image_size=32).tolist() == [0.0, 8.0, 8.0, 24.0]


def test_image_size_matches_bilinear_upsampling_with_align_corners_false():
    # With align_corners=False, map pixel (i, j) covers the stride x stride block of the image
    # and its centre lands on the block's centre: the upsampled map of a block of equal values
    # is constant (at the maximum) on the block's inner part, symmetric about the block's centre.
    cam = torch.zeros(6, 6)
    cam[1:4, 2:4] = 1.0  # map box (2, 1, 4, 4)
    box = bbox_from_cam(cam, image_size=(48, 48))  # stride 8
    assert box.tolist() == [16.0, 8.0, 32.0, 32.0]
    big = upsample_cams(cam[None], (48, 48))[0]
    rows, cols = torch.nonzero(big == big.max(), as_tuple=True)
    # The plateau of the upsampled map is centred on the scaled box's centre.
    assert (cols.min() + cols.max() + 1) / 2 == (box[0] + box[2]) / 2
    assert (rows.min() + rows.max() + 1) / 2 == (box[1] + box[3]) / 2


def test_raw_and_max_normalized_maps_give_the_same_box():
    cams = torch.stack([TWO_BLOBS, 3 * TWO_BLOBS + 0.0])
    assert torch.equal(bbox_from_cam(cams), bbox_from_cam(normalize_cams(cams, "max")))


def test_gradients_are_not_needed_and_inputs_are_not_changed():
    cam = TWO_BLOBS.clone().requires_grad_(True)
    box = bbox_from_cam(cam)
    assert not box.requires_grad
    assert torch.equal(cam.detach(), TWO_BLOBS)


def test_empty_batch_and_integer_maps():
    assert bbox_from_cam(torch.zeros(0, 3, 4)).shape == (0, 4)
    assert bbox_from_cam(TWO_BLOBS.long()).tolist() == TWO_BLOBS_BOX


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: bbox_from_cam(torch.zeros(2, 1, 3, 4)), r"\[h, w\] or \[N, h, w\].*\[2, 1, 3, 4\]"),
        (lambda: bbox_from_cam(torch.zeros(5)), r"got shape \[5\]"),
        (lambda: bbox_from_cam(torch.zeros(2, 0, 4)), r"h, w >= 1"),
        (lambda: bbox_from_cam(TWO_BLOBS, threshold=1.5), r"threshold must lie in \[0, 1\], got 1.5"),
        (lambda: bbox_from_cam(TWO_BLOBS, threshold=-0.1), r"threshold must lie in \[0, 1\]"),
        (lambda: bbox_from_cam(TWO_BLOBS, threshold=float("nan")), r"threshold must lie in \[0, 1\]"),
        (lambda: bbox_from_cam(TWO_BLOBS, connectivity=6), r"connectivity=6"),
        (lambda: bbox_from_cam(TWO_BLOBS, image_size=(8, 0)), r"image_size"),
        (lambda: bbox_from_cam(TWO_BLOBS, image_size=(8, 8, 8)), r"image_size"),
        (lambda: bbox_from_cam(torch.tensor([[0.0, float("nan")]])), r"NaN or infinite"),
        (lambda: bbox_from_cam(torch.tensor([[0.0, float("inf")]])), r"NaN or infinite"),
    ],
)
def test_bbox_from_cam_refuses_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------------------
# bbox_from_cam: the vectorized batch path against an independent per-map reference
# --------------------------------------------------------------------------------------


def reference_bbox(cam: np.ndarray, threshold: float, connectivity: int) -> list[float]:
    """Straightforward per-map version: 2-D label, Python loop over components."""
    top = cam.max()
    mask = np.ones_like(cam, dtype=bool) if top <= 0 else cam >= np.float32(threshold) * top
    structure = np.ones((3, 3)) if connectivity == 8 else ndimage.generate_binary_structure(2, 1)
    labels, n = ndimage.label(mask, structure=structure)
    best, best_key = None, None
    for k in range(1, n + 1):  # raster order of first pixel
        rows, cols = np.nonzero(labels == k)
        key = (rows.size, cam[rows, cols].max())
        if best_key is None or key > best_key:
            best, best_key = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1), key
    return [float(v) for v in best]


def random_maps(kind: str, n: int, h: int, w: int, generator: torch.Generator) -> torch.Tensor:
    if kind == "noise":
        return torch.rand(n, h, w, generator=generator)
    if kind == "integers":  # many ties in size and in peak value
        return torch.randint(0, 4, (n, h, w), generator=generator).float()
    yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    cams = torch.zeros(n, h, w)
    for _ in range(3):  # blobs of random position, width and height, plus noise
        cy, cx = torch.rand(n, 1, 1, generator=generator) * h, torch.rand(n, 1, 1, generator=generator) * w
        width = 0.7 + 2.5 * torch.rand(n, 1, 1, generator=generator)
        cams += torch.rand(n, 1, 1, generator=generator) * torch.exp(
            -((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width**2)
        )
    return cams + 0.05 * torch.randn(n, h, w, generator=generator)


@pytest.mark.parametrize("kind", ["noise", "integers", "blobs"])
@pytest.mark.parametrize("connectivity", [8, 4])
def test_batch_of_2000_random_maps_equals_map_by_map(kind, connectivity):
    generator = torch.Generator().manual_seed(0)
    cams = random_maps(kind, 2000, 16, 16, generator)
    cams[:10] = 0.0  # a few maps without contrast
    cams[10:20] = -cams[10:20].abs() - 0.1  # and a few entirely negative
    batched = bbox_from_cam(cams, connectivity=connectivity)
    one_by_one = torch.stack([bbox_from_cam(cam, connectivity=connectivity) for cam in cams])
    assert torch.equal(batched, one_by_one)
    reference = [reference_bbox(cam.numpy(), 0.2, connectivity) for cam in cams]
    assert batched.tolist() == reference


def test_non_square_maps_and_other_thresholds_against_the_reference():
    generator = torch.Generator().manual_seed(1)
    cams = random_maps("blobs", 300, 7, 13, generator)
    for threshold in (0.0, 0.35, 0.9, 1.0):
        expected = [reference_bbox(cam.numpy(), threshold, 8) for cam in cams]
        assert bbox_from_cam(cams, threshold).tolist() == expected


def test_the_fallback_for_labels_out_of_raster_order(monkeypatch):
    # scipy numbers components in raster order, map after map; the code checks this and has a
    # fallback. Shuffle the label numbers to exercise it: the boxes must not change (continuous
    # maps, so ties in both size and peak, the only case that reads the order, do not occur).
    generator = torch.Generator().manual_seed(2)
    cams = random_maps("noise", 500, 12, 12, generator)
    expected = bbox_from_cam(cams)
    label = localize._label
    rng = np.random.default_rng(0)

    def shuffled_label(mask, structure2d):
        labels, n = label(mask, structure2d)
        permutation = np.concatenate(([0], rng.permutation(n) + 1))
        return permutation[labels], n

    monkeypatch.setattr(localize, "_label", shuffled_label)
    assert torch.equal(bbox_from_cam(cams), expected)


# --------------------------------------------------------------------------------------
# All components (MaxBoxAccV2's boxes)
# --------------------------------------------------------------------------------------


def test_boxes_from_all_components_in_raster_order():
    assert boxes_from_cam_all_components(TWO_BLOBS).tolist() == [TWO_BLOBS_BOX, [4.0, 2.0, 5.0, 3.0]]
    cam = t(
        [
            [0, 0, 0, 3],
            [1, 0, 0, 0],
            [1, 0, 2, 0],
            [0, 0, 0, 2],
        ]
    )
    # 8-connected: (0, 3) alone; column 0 rows 1-2; (2, 2)-(3, 3) diagonal.
    assert boxes_from_cam_all_components(cam).tolist() == [
        [3.0, 0.0, 4.0, 1.0],
        [0.0, 1.0, 1.0, 3.0],
        [2.0, 2.0, 4.0, 4.0],
    ]
    assert boxes_from_cam_all_components(cam, connectivity=4).shape == (4, 4)
    # At 50 % of 3 (1.5) the 1s drop out, both 2s stay; at 70 % (2.1) only the 3 stays.
    assert boxes_from_cam_all_components(cam, 0.5).tolist() == [[3.0, 0.0, 4.0, 1.0], [2.0, 2.0, 4.0, 4.0]]
    assert boxes_from_cam_all_components(cam, 0.7).tolist() == [[3.0, 0.0, 4.0, 1.0]]
    assert boxes_from_cam_all_components(cam, 0.5, image_size=(8, 8)).tolist() == [
        [6.0, 0.0, 8.0, 2.0],
        [4.0, 4.0, 8.0, 8.0],
    ]


def test_all_components_of_a_map_without_contrast_is_the_whole_map():
    assert boxes_from_cam_all_components(torch.zeros(2, 3)).tolist() == [[0.0, 0.0, 3.0, 2.0]]


def test_the_largest_of_all_components_is_bbox_from_cam():
    generator = torch.Generator().manual_seed(3)
    for cam in random_maps("blobs", 50, 10, 10, generator):
        boxes = boxes_from_cam_all_components(cam)
        assert bbox_from_cam(cam).tolist() in boxes.tolist()


def test_all_components_wants_one_map():
    with pytest.raises(ValueError, match=r"cam must be \[h, w\].*\[2, 3, 4\]"):
        boxes_from_cam_all_components(torch.zeros(2, 3, 4))


# --------------------------------------------------------------------------------------
# IoU
# --------------------------------------------------------------------------------------


def test_iou_by_hand():
    a, b = t([[0, 0, 2, 2]]), t([[1, 1, 3, 3]])
    # Intersection (1, 1, 2, 2): 1; union 4 + 4 - 1 = 7.
    assert box_iou(a, b).item() == pytest.approx(1 / 7)
    assert paired_iou(a, b).item() == pytest.approx(1 / 7)
    assert paired_iou(t([[0, 0, 4, 4], [0, 0, 1, 1]]), t([[0, 0, 4, 2], [2, 2, 3, 3]])).tolist() == [0.5, 0.0]


def test_paired_iou_is_the_diagonal_of_torchvision_box_iou():
    generator = torch.Generator().manual_seed(4)
    corners = torch.rand(200, 2, 2, generator=generator) * 10  # two random (x, y) points per box
    a = torch.cat([corners.min(dim=1).values, corners.max(dim=1).values], dim=1)
    b = a.roll(1, 0) + torch.rand(200, 1, generator=generator)
    torch.testing.assert_close(paired_iou(a, b), torchvision.ops.box_iou(a, b).diagonal())
    assert box_iou(a, b).shape == (200, 200)


def test_paired_iou_of_two_empty_boxes_is_zero_not_nan():
    assert paired_iou(t([[1, 1, 1, 1]]), t([[1, 1, 1, 1]])).tolist() == [0.0]


def test_iou_refuses_bad_boxes():
    with pytest.raises(ValueError, match=r"boxes1 must be \[N, 4\].*\[4\]"):
        paired_iou(t([0, 0, 1, 1]), t([[0, 0, 1, 1]]))
    with pytest.raises(ValueError, match=r"boxes2 hold 2 boxes \(shape \[2, 4\]\) but there are 1 images"):
        paired_iou(t([[0, 0, 1, 1]]), t([[0, 0, 1, 1], [0, 0, 1, 1]]))
    with pytest.raises(ValueError, match=r"x_max >= x_min"):
        box_iou(t([[2, 0, 1, 1]]), t([[0, 0, 1, 1]]))


# --------------------------------------------------------------------------------------
# Top-1 / Top-5 / GT-known Loc: four images with known pass/fail
# --------------------------------------------------------------------------------------

# Every ground-truth box is (0, 0, 4, 4), area 16.
TRUE_BOXES = t([[0, 0, 4, 4]] * 4)
PRED_BOXES = t(
    [
        [0, 0, 4, 4],  # IoU 1
        [0, 0, 4, 2],  # IoU 8/16 = 0.5 exactly: a hit (>=)
        [0, 0, 2, 2],  # IoU 4/16 = 0.25: a miss
        [0, 0, 4, 3],  # IoU 12/16 = 0.75
    ]
)
TRUE_CLASSES = torch.tensor([1, 2, 0, 0])
PRED_CLASSES = torch.tensor([1, 2, 3, 4])  # right, right, wrong, wrong


def test_top1_loc_needs_the_right_class_and_the_box():
    # Image 0: class and box right; 1: both right (IoU 0.5); 2: both wrong; 3: box right, class wrong.
    assert top1_loc(PRED_CLASSES, TRUE_CLASSES, PRED_BOXES, TRUE_BOXES) == 0.5
    assert top1_loc(PRED_CLASSES, TRUE_CLASSES, PRED_BOXES, TRUE_BOXES, iou_threshold=0.7) == 0.25
    assert top1_loc(TRUE_CLASSES, TRUE_CLASSES, PRED_BOXES, TRUE_BOXES) == 0.75


def test_gt_known_loc_ignores_the_class():
    assert gt_known_loc(PRED_BOXES, TRUE_BOXES) == 0.75
    assert gt_known_loc(PRED_BOXES, TRUE_BOXES, iou_threshold=0.8) == 0.25


def test_top5_loc_uses_the_box_of_the_true_class():
    top5 = torch.tensor(
        [
            [7, 5, 1, 3, 4],  # the true class 1 is third, and its box is right: a hit
            [2, 5, 6, 7, 8],  # the true class 2 is first, but its box is wrong: a miss
            [1, 2, 3, 4, 5],  # the true class 0 is missing (all boxes right): a miss
            [1, 2, 3, 4, 0],  # the true class 0 is fifth, its box has IoU 0.75: a hit
        ]
    )
    good, bad = [0.0, 0, 4, 4], [0.0, 0, 2, 2]
    boxes = torch.tensor(
        [
            [bad, bad, good, bad, bad],
            [bad, good, good, good, good],
            [good, good, good, good, good],
            [bad, bad, bad, bad, [0.0, 0, 4, 3]],
        ]
    )
    assert top5_loc(top5, boxes, TRUE_CLASSES, TRUE_BOXES) == 0.5
    assert top5_loc(top5, boxes, TRUE_CLASSES, TRUE_BOXES, iou_threshold=0.8) == 0.25


def test_top5_loc_refuses_repeated_classes_and_wrong_shapes():
    boxes = TRUE_BOXES[:, None].expand(4, 5, 4)
    with pytest.raises(ValueError, match="5 different classes"):
        top5_loc(torch.tensor([[0, 1, 2, 2, 2]] * 4), boxes, TRUE_CLASSES, TRUE_BOXES)
    with pytest.raises(ValueError, match=r"top5_classes must be \[N, 5\].*\[4, 3\]"):
        top5_loc(torch.zeros(4, 3, dtype=torch.long), boxes, TRUE_CLASSES, TRUE_BOXES)
    with pytest.raises(ValueError, match=r"boxes_per_class must be \[N, 5, 4\] = \[4, 5, 4\].*\[4, 4\]"):
        top5_loc(torch.arange(5).repeat(4, 1), TRUE_BOXES, TRUE_CLASSES, TRUE_BOXES)


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: top1_loc(PRED_CLASSES[:3], TRUE_CLASSES, PRED_BOXES, TRUE_BOXES),
            r"pred_classes .*\[4\]; got shape \[3\]",
        ),
        (lambda: top1_loc(PRED_CLASSES, TRUE_CLASSES, PRED_BOXES, TRUE_BOXES[:2]), r"true_boxes hold 2 boxes"),
        (lambda: top1_loc(PRED_CLASSES.float(), TRUE_CLASSES, PRED_BOXES, TRUE_BOXES), r"integer class indices"),
        (lambda: top1_loc(PRED_CLASSES, TRUE_CLASSES, PRED_BOXES, TRUE_BOXES, 1.2), r"iou_threshold must lie"),
        (lambda: gt_known_loc(PRED_BOXES[:0], TRUE_BOXES[:0]), r"N = 0"),
        (lambda: gt_known_loc(PRED_BOXES[:, :3], TRUE_BOXES), r"pred_boxes must be \[N, 4\].*\[4, 3\]"),
    ],
)
def test_metrics_refuse_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------------------
# MaxBoxAccV2 (Choe et al., CVPR 2020) on a case whose best thresholds are known
# --------------------------------------------------------------------------------------

MBA_CAMS = t(
    [
        [  # A, gt (1, 1, 3, 3): the 2x2 block is right for 0.1 < tau <= 0.6
            [0.1, 0.1, 0.1, 0.1],
            [0.1, 1.0, 0.6, 0.1],
            [0.1, 0.6, 0.6, 0.1],
            [0.1, 0.1, 0.1, 0.1],
        ],
        [  # B, gt (0, 0, 1, 1): the *smaller* component is the object, for every tau > 0
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.5, 0.5],
            [0.0, 0.0, 0.5, 0.5],
            [0.0, 0.0, 0.5, 0.5],
        ],
        [  # C, gt (0, 0, 4, 2): the whole map gives IoU 8/16 = 0.5, the top row's 3 pixels 3/8
            [1.0, 1.0, 1.0, 0.2],
            [0.2, 0.2, 0.2, 0.2],
            [0.2, 0.2, 0.2, 0.2],
            [0.2, 0.2, 0.2, 0.2],
        ],
    ]
)
MBA_GT = t([[1, 1, 3, 3], [0, 0, 1, 1], [0, 0, 4, 2]])
MBA_TAUS = [0.0, 0.05, 0.3, 0.8]
# Best IoU per image at each tau, by hand:
#   tau 0    : A whole map 4/16 = 0.25, B whole map 1/16, C whole map 0.5
#   tau 0.05 : A whole map 0.25,        B 1,              C 0.5
#   tau 0.3  : A block 1,               B 1,              C 3/8
#   tau 0.8  : A pixel (1,1) 1/4,       B 1,              C 3/8
# BoxAcc(tau, delta) for delta = 0.3, 0.5, 0.7 (rows: tau):
MBA_BOX_ACC = [
    [1 / 3, 1 / 3, 0.0],
    [2 / 3, 2 / 3, 1 / 3],
    [1.0, 2 / 3, 2 / 3],
    [2 / 3, 1 / 3, 1 / 3],
]


def test_max_box_acc_v2_by_hand_with_the_cam_papers_max_rule():
    result = max_box_acc_v2(MBA_CAMS, MBA_GT, cam_thresholds=MBA_TAUS, normalize="max")
    assert isinstance(result, MaxBoxAccV2Result)
    torch.testing.assert_close(result.box_acc, torch.tensor(MBA_BOX_ACC))
    assert result.max_box_acc == pytest.approx({0.3: 1.0, 0.5: 2 / 3, 0.7: 2 / 3})
    # delta = 0.5 reaches 2/3 at tau = 0.05 and at 0.3: the lowest tau is reported.
    assert result.best_threshold == pytest.approx({0.3: 0.3, 0.5: 0.05, 0.7: 0.3})
    assert result.mean == pytest.approx(7 / 9)
    assert result.iou_thresholds == (0.3, 0.5, 0.7)
    torch.testing.assert_close(result.cam_thresholds, torch.tensor(MBA_TAUS))


# The protocol (min-max): A becomes 0 / 0.556 / 1, C 0 / 1, B is unchanged (min 0, max 1).
#   tau 0    : every map whole: A 0.25, B 1/16, C 0.5
#   tau 0.05 : A block 1, B 1, C top row 3/8     (A's and C's background now falls below tau)
#   tau 0.3  : A block 1, B 1, C 3/8
#   tau 0.8  : A pixel 1/4, B 1, C 3/8
MBA_BOX_ACC_MINMAX = [
    [1 / 3, 1 / 3, 0.0],
    [1.0, 2 / 3, 2 / 3],
    [1.0, 2 / 3, 2 / 3],
    [2 / 3, 1 / 3, 1 / 3],
]


def test_max_box_acc_v2_by_hand_with_the_protocols_min_max_scaling():
    result = max_box_acc_v2(MBA_CAMS, MBA_GT, cam_thresholds=MBA_TAUS)  # normalize="minmax" by default
    torch.testing.assert_close(result.box_acc, torch.tensor(MBA_BOX_ACC_MINMAX))
    assert result.max_box_acc == pytest.approx({0.3: 1.0, 0.5: 2 / 3, 0.7: 2 / 3})
    assert result.best_threshold == pytest.approx({0.3: 0.05, 0.5: 0.05, 0.7: 0.05})
    assert result.mean == pytest.approx(7 / 9)


def test_max_box_acc_v2_min_max_ignores_an_offset_the_max_rule_does_not():
    # A CAM that is negative off the object: min-max scaling sees the same map after any shift;
    # dividing by the max does not (at tau = 0.5, -1 + 0.5 * 1 keeps only the peak... or all).
    cam = t([[[-1.0, -1.0, -1.0, -1.0], [-1.0, 1.0, 0.2, -1.0], [-1.0, 0.2, 0.2, -1.0], [-1.0, -1.0, -1.0, -1.0]]])
    gt = t([[1, 1, 3, 3]])
    shifted = [max_box_acc_v2(cam + shift, gt, cam_thresholds=[0.5]).mean for shift in (0.0, 1.0, 5.0)]
    assert shifted == [1.0, 1.0, 1.0]  # min-max: (0.2 + 1) / 2 = 0.6 >= 0.5 keeps the 2x2 block
    # max rule: shift 0 keeps {>= 0.5} = the peak alone (IoU 1/4); shift 5 keeps {>= 3} = the whole map (1/4)
    assert max_box_acc_v2(cam, gt, cam_thresholds=[0.5], normalize="max").mean == 0.0
    assert max_box_acc_v2(cam + 5, gt, cam_thresholds=[0.5], normalize="max").mean == 0.0


def test_max_box_acc_v2_constant_maps_and_normalize_none():
    gt = t([[0, 0, 4, 4], [0, 0, 1, 1]])
    flat = torch.full((2, 4, 4), 3.0)
    # camlib: a constant map holds no location: its region is the whole map at every tau
    result = max_box_acc_v2(flat, gt, cam_thresholds=[0.0, 0.5])
    assert result.max_box_acc[0.5] == 0.5  # the first image's object fills the map
    with pytest.raises(ValueError, match=r"\[0, 1\].*minmax"):
        max_box_acc_v2(flat, gt, normalize="none")
    scores = torch.zeros(2, 4, 4)
    scores[1, 0, 0] = 0.9
    # normalize="none": compared with tau as given; an all-zero map has no box above tau > 0: a miss
    assert max_box_acc_v2(scores, gt, cam_thresholds=[0.5], normalize="none").box_acc[0].tolist() == [0.5, 0.5, 0.5]
    with pytest.raises(ValueError, match="normalize='maximum'"):
        max_box_acc_v2(scores, gt, normalize="maximum")
    with pytest.raises(ValueError, match="convention='cv2'"):
        max_box_acc_v2(scores, gt, convention="cv2")


def test_max_box_acc_v2_reference_convention_by_hand():
    # One 2x2 block at rows 1-2, columns 1-2 of a 5x5 map; gt numbers (1, 1, 3, 3).
    cam = torch.zeros(1, 5, 5)
    cam[0, 1:3, 1:3] = 1.0
    gt = t([[1, 1, 3, 3]])
    # camlib: the block's box is (1, 1, 3, 3): IoU 1
    assert max_box_acc_v2(cam, gt, cam_thresholds=[0.5]).box_acc[0].tolist() == [1.0, 1.0, 1.0]
    # wsolevaluation: boundingRect gives (1, 1, 3, 3) too, but read as inclusive corners it is 3x3
    # pixels, and so is the gt: IoU 1; shrink the gt to (1, 1, 2, 2), a 2x2 inclusive box: IoU 4/9
    reference = max_box_acc_v2(cam, t([[1, 1, 2, 2]]), cam_thresholds=[0.5], convention="wsolevaluation")
    assert reference.box_acc[0].tolist() == pytest.approx([1.0, 0.0, 0.0])  # 4/9 = 0.44: >= 0.3 only
    # a ring two pixels thick: the hole (rows, columns 3-5) has its own contour, over the pixels
    # around it (rows, columns 2-6): boundingRect (2, 2, 7, 7); the outer contour gives (1, 1, 8, 8)
    ring = torch.zeros(1, 9, 9)
    ring[0, 1:8, 1:8] = 1.0
    ring[0, 3:6, 3:6] = 0.0
    exact = dict(cam_thresholds=[0.5], iou_thresholds=(1.0,))
    assert max_box_acc_v2(ring, t([[2, 2, 7, 7]]), convention="wsolevaluation", **exact).mean == 1.0
    assert max_box_acc_v2(ring, t([[1, 1, 8, 8]]), convention="wsolevaluation", **exact).mean == 1.0
    assert max_box_acc_v2(ring, t([[2, 2, 7, 7]]), **exact).mean == 0.0  # camlib boxes components only
    with pytest.raises(ValueError, match="image resolution"):
        max_box_acc_v2(cam, gt * 2, image_size=(10, 10), convention="wsolevaluation")


def test_max_box_acc_v2_uses_every_component_not_only_the_largest():
    # At tau = 0.3 the largest component of B is the 3x2 block (IoU 0 with its gt), but the
    # lone pixel is a box too, and it matches.
    assert bbox_from_cam(MBA_CAMS[1], 0.3).tolist() == [2.0, 1.0, 4.0, 4.0]
    result = max_box_acc_v2(MBA_CAMS[1:2], MBA_GT[1:2], cam_thresholds=[0.3])
    assert result.mean == 1.0


def test_max_box_acc_v2_normalizes_each_map_by_its_max():
    scaled = MBA_CAMS * torch.tensor([7.0, 0.5, 100.0])[:, None, None]
    assert max_box_acc_v2(scaled, MBA_GT, cam_thresholds=MBA_TAUS).mean == pytest.approx(7 / 9)


def test_max_box_acc_v2_default_grid_and_other_deltas():
    result = max_box_acc_v2(MBA_CAMS, MBA_GT)
    assert result.cam_thresholds.shape == (100,)
    torch.testing.assert_close(result.cam_thresholds[[0, 1, -1]], torch.tensor([0.0, 0.01, 0.99]))
    # With the max rule, the finer grid holds taus in (0.1, 0.2], where A is already the block
    # (IoU 1) and C still the whole map (IoU 0.5): all three hit at delta = 0.5, first at tau = 0.11
    # (at 0.10 A's 0.1s are exactly at the threshold and stay). MaxBoxAcc = (1, 1, 2/3), mean 8/9.
    by_max = max_box_acc_v2(MBA_CAMS, MBA_GT, normalize="max")
    assert by_max.max_box_acc == pytest.approx({0.3: 1.0, 0.5: 1.0, 0.7: 2 / 3})
    assert by_max.best_threshold[0.5] == pytest.approx(0.11)
    assert by_max.mean == pytest.approx(8 / 9)
    # Min-max scaling sends C's background to 0: C is the whole map only at tau = 0, where A is the
    # whole map too, so no tau serves both at delta = 0.5: MaxBoxAcc = (1, 2/3, 2/3), mean 7/9.
    assert result.max_box_acc == pytest.approx({0.3: 1.0, 0.5: 2 / 3, 0.7: 2 / 3})
    assert result.mean == pytest.approx(7 / 9)
    assert max_box_acc_v2(MBA_CAMS, MBA_GT, iou_thresholds=(1.0,), cam_thresholds=MBA_TAUS).mean == pytest.approx(2 / 3)


def test_max_box_acc_v2_with_several_gt_boxes_per_image_takes_the_best():
    decoy = t([[3, 3, 4, 4]])
    several = [torch.cat([decoy, MBA_GT[0:1]]), MBA_GT[1:2], torch.cat([MBA_GT[2:3], decoy, decoy])]
    result = max_box_acc_v2(MBA_CAMS, several, cam_thresholds=MBA_TAUS)
    torch.testing.assert_close(result.box_acc, torch.tensor(MBA_BOX_ACC_MINMAX))
    # Image A's decoy is the map's corner pixel: at tau = 0 and 0.05 the whole map overlaps it
    # less (1/16) than the gt (0.25), so nothing changes; as its only gt, it ruins A.
    only_decoy = [decoy, MBA_GT[1:2], MBA_GT[2:3]]
    assert max_box_acc_v2(MBA_CAMS, only_decoy, cam_thresholds=MBA_TAUS).max_box_acc[0.3] == pytest.approx(2 / 3)


def test_max_box_acc_v2_in_image_pixels():
    result = max_box_acc_v2(MBA_CAMS, MBA_GT * 8, cam_thresholds=MBA_TAUS, image_size=(32, 32))
    torch.testing.assert_close(result.box_acc, torch.tensor(MBA_BOX_ACC_MINMAX))


def test_max_box_acc_v2_refuses_bad_input():
    with pytest.raises(ValueError, match=r"cams must be \[N, h, w\].*\[4, 4\]"):
        max_box_acc_v2(MBA_CAMS[0], MBA_GT[:1])
    with pytest.raises(ValueError, match=r"true_boxes hold 2 boxes .* 3 images"):
        max_box_acc_v2(MBA_CAMS, MBA_GT[:2])
    with pytest.raises(ValueError, match=r"each CAM threshold must lie in \[0, 1\], got 1.5"):
        max_box_acc_v2(MBA_CAMS, MBA_GT, cam_thresholds=[0.5, 1.5])
    with pytest.raises(ValueError, match=r"each IoU threshold must lie in \(0, 1\]"):
        max_box_acc_v2(MBA_CAMS, MBA_GT, iou_thresholds=(0.0, 0.5))
    with pytest.raises(ValueError, match=r"list of 2 box sets but there are 3 images"):
        max_box_acc_v2(MBA_CAMS, [MBA_GT[:1], MBA_GT[1:2]])
    with pytest.raises(ValueError, match=r"true_boxes\[1\] holds no box"):
        max_box_acc_v2(MBA_CAMS, [MBA_GT[:1], MBA_GT[:0], MBA_GT[2:]])


# --------------------------------------------------------------------------------------
# Pointing game
# --------------------------------------------------------------------------------------


def test_pointing_accuracy_by_hand():
    cams = torch.zeros(4, 4, 4)
    cams[0, 1, 2] = 1.0  # centre (2.5, 1.5), inside (2, 1, 3, 2): a hit
    cams[1, 3, 3] = 1.0  # centre (3.5, 3.5), outside (0, 0, 2, 2): a miss
    cams[2, 1, 2] = 1.0  # centre (2.5, 1.5), exactly on the corner of (0, 0, 2.5, 1.5): a hit (closed box)
    cams[3] = 1.0  # constant: the first maximum in raster order, (0.5, 0.5), outside (1, 1, 4, 4): a miss
    boxes = t([[2, 1, 3, 2], [0, 0, 2, 2], [0, 0, 2.5, 1.5], [1, 1, 4, 4]])
    assert pointing_accuracy(cams, boxes) == 0.5
    # Tolerance 0: a box edge a hair short of the centre misses.
    assert pointing_accuracy(cams[2:3], t([[0, 0, 2.49, 1.5]])) == 0.0


def test_pointing_accuracy_in_image_pixels():
    cam = torch.zeros(1, 2, 2)
    cam[0, 1, 1] = 1.0  # map centre (1.5, 1.5) -> image (6, 6) at stride 4
    assert pointing_accuracy(cam, t([[4, 4, 8, 8]]), image_size=(8, 8)) == 1.0
    assert pointing_accuracy(cam, t([[0, 0, 5.9, 8]]), image_size=8) == 0.0
    assert pointing_accuracy(cam, t([[0, 0, 6, 6]]), image_size=8) == 1.0


def test_pointing_accuracy_refuses_mismatched_n():
    with pytest.raises(ValueError, match=r"true_boxes hold 1 boxes \(shape \[1, 4\]\) but there are 2 images"):
        pointing_accuracy(torch.zeros(2, 3, 3), t([[0, 0, 1, 1]]))


# --------------------------------------------------------------------------------------
# Extent: coverage and precision of the thresholded CAM on an object mask
# --------------------------------------------------------------------------------------

EXTENT_CAMS = t(
    [
        [[0, 0, 0, 0], [0, 5, 5, 0], [0, 5, 1, 0], [0, 0, 0, 0]],  # region: the 2x2 block (1 = 20 % of 5 stays)
        [[1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],  # region: the top row
    ]
)
EXTENT_MASKS = torch.zeros(2, 4, 4, dtype=torch.bool)
EXTENT_MASKS[0, 1:4, 1:3] = True  # 6 object pixels, 4 of them in the region
EXTENT_MASKS[1, 0:2, 0] = True  # 2 object pixels, 1 of them in the 4-pixel region


def test_extent_by_hand():
    per_image = extent(EXTENT_CAMS, EXTENT_MASKS, reduction="none")
    assert isinstance(per_image, Extent)
    torch.testing.assert_close(per_image.coverage, torch.tensor([4 / 6, 1 / 2]))
    torch.testing.assert_close(per_image.precision, torch.tensor([4 / 4, 1 / 4]))
    mean = extent(EXTENT_CAMS, EXTENT_MASKS)
    assert mean.coverage == pytest.approx(7 / 12)
    assert mean.precision == pytest.approx(5 / 8)


def test_extent_counts_every_region_pixel_and_the_whole_map_without_contrast():
    cam = t([[[3, 0, 3, 0]]])  # two components, both in the region
    mask = torch.tensor([[[True, False, True, True]]])
    assert extent(cam, mask) == pytest.approx((2 / 3, 1.0))
    zero = extent(torch.zeros(1, 1, 4), mask)  # the whole map
    assert zero == pytest.approx((1.0, 3 / 4))


def test_extent_refuses_bad_masks():
    with pytest.raises(ValueError, match=r"masks must have the shape of cams, \[2, 4, 4\].*\[2, 4, 3\]"):
        extent(EXTENT_CAMS, EXTENT_MASKS[..., :3])
    with pytest.raises(ValueError, match="bool"):
        extent(EXTENT_CAMS, EXTENT_MASKS.float())
    with pytest.raises(ValueError, match=r"images \[1\] are empty"):
        extent(EXTENT_CAMS, torch.stack([EXTENT_MASKS[0], torch.zeros(4, 4, dtype=torch.bool)]))
    with pytest.raises(ValueError, match="reduction"):
        extent(EXTENT_CAMS, EXTENT_MASKS, reduction="sum")


# --------------------------------------------------------------------------------------
# Hostile input: degenerate boxes, odd dtypes, arguments of the wrong kind
# --------------------------------------------------------------------------------------


def test_box_iou_and_paired_iou_agree_on_empty_boxes_and_never_give_nan():
    # One rule in both: an empty box overlaps nothing, not even an identical empty box.
    empty, square = t([[1, 1, 1, 1], [2, 0, 2, 5]]), t([[0, 0, 2, 2], [2, 0, 2, 5]])
    matrix = box_iou(empty, square)
    assert not matrix.isnan().any()
    assert matrix.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert paired_iou(empty, square).tolist() == matrix.diagonal().tolist()
    assert box_iou(t([[1, 1, 1, 1]]), t([[1, 1, 1, 1]])).tolist() == [[0.0]]
    assert gt_known_loc(t([[1, 1, 1, 1]]), t([[1, 1, 1, 1]])) == 0.0


def test_iou_of_float16_and_huge_boxes_does_not_overflow():
    # Areas of float16 boxes above 256 x 256 overflow float16 (max 65504); IoU is computed wider.
    a, b = t([[0, 0, 2, 2]]), t([[1, 1, 300, 300]])
    expected = 1 / (4 + 299 * 299 - 1)
    assert box_iou(a.half(), b.half()).item() == pytest.approx(expected, rel=1e-3)
    assert paired_iou(a.half(), b.half()).dtype == torch.float32
    huge = torch.tensor([[0, 0, 1e300, 1e300]], dtype=torch.float64)
    half_huge = torch.tensor([[0, 0, 1e300, 5e299]], dtype=torch.float64)
    assert paired_iou(huge, half_huge).item() == pytest.approx(0.5)
    assert box_iou(t([[0, 0, 3e38, 3e38]]), t([[0, 0, 3e38, 1.5e38]])).item() == pytest.approx(0.5)


def test_boxes_as_lists_integers_and_arrays_are_read_and_empty_sets_give_empty_matrices():
    assert box_iou([[0, 0, 2, 2]], np.array([[0, 0, 1, 1]])).tolist() == [[0.25]]
    assert box_iou(torch.zeros(0, 4), t([[0, 0, 1, 1]])).shape == (0, 1)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: box_iou(None, t([[0, 0, 1, 1]])), TypeError, r"boxes1 must be a tensor.*got None"),
        (lambda: box_iou("0 0 1 1", t([[0, 0, 1, 1]])), TypeError, r"boxes1 must be a tensor"),
        (lambda: box_iou([[0, 0, 1], [0, 0, 1, 1]], t([[0, 0, 1, 1]])), TypeError, r"boxes1 .* one shape"),
        (lambda: box_iou([torch.zeros(4), torch.ones(4)], t([[0, 0, 1, 1]])), TypeError, r"torch.stack"),
        (lambda: box_iou(torch.ones(1, 4, dtype=torch.bool), t([[0, 0, 1, 1]])), ValueError, r"real numbers"),
        (lambda: box_iou(t([0, 0, 1, 1]), t([[0, 0, 1, 1]])), ValueError, r"for one box use boxes1\[None\]"),
        (lambda: box_iou(t([[0, 0, 1, 1]]), t([[3, 0, 1, 1]])), ValueError, r"x_max >= x_min.*box_convert"),
        (lambda: bbox_from_cam(None), TypeError, r"cams must be a tensor"),
        (lambda: bbox_from_cam(torch.ones(2, 3, 4, dtype=torch.bool)), ValueError, r"cams must hold real numbers"),
        (lambda: bbox_from_cam(torch.zeros(2, 3, 4, 4)), ValueError, r"pick one class per image"),
        (lambda: bbox_from_cam(TWO_BLOBS, threshold=True), TypeError, r"threshold must be a number"),
        (lambda: bbox_from_cam(TWO_BLOBS, threshold="0.2"), TypeError, r"threshold must be a number"),
        (lambda: bbox_from_cam(TWO_BLOBS, threshold=torch.tensor([0.2, 0.3])), TypeError, r"threshold"),
        (lambda: bbox_from_cam(TWO_BLOBS, connectivity=[8]), ValueError, r"connectivity=\[8\]"),
        (lambda: bbox_from_cam(TWO_BLOBS, image_size=224.0), ValueError, r"image_size must be a positive integer or a"),
        (lambda: top1_loc(PRED_CLASSES, TRUE_CLASSES, PRED_BOXES, TRUE_BOXES, 0), ValueError, r"\(0, 1\]"),
        (lambda: gt_known_loc(PRED_BOXES, TRUE_BOXES, iou_threshold=-0.5), ValueError, r"iou_threshold"),
        (lambda: top1_loc(-PRED_CLASSES, TRUE_CLASSES, PRED_BOXES, TRUE_BOXES), ValueError, r"indices >= 0"),
        (
            lambda: top5_loc(torch.tensor([[-1, 0, 1, 2, 3]]), torch.zeros(1, 5, 4), [0], [[0, 0, 1, 1]]),
            ValueError,
            r"top5_classes must hold class indices >= 0",
        ),
        (lambda: extent(EXTENT_CAMS, None), TypeError, r"masks must be a tensor"),
        (lambda: max_box_acc_v2(MBA_CAMS, MBA_GT, cam_thresholds="0.5"), TypeError, r"cam_thresholds"),
    ],
)
def test_hostile_arguments_are_refused_by_name(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_ground_truth_wholly_outside_the_map_is_refused():
    # Boxes in image pixels passed without image_size: no CAM can reach them, every metric would read 0.
    cams = torch.rand(2, 4, 4, generator=torch.Generator().manual_seed(0))
    boxes = t([[10, 10, 20, 20], [0, 0, 2, 2]])
    with pytest.raises(ValueError, match=r"box \[10.0, 10.0, 20.0, 20.0\] of image 0 lies wholly outside.*image_size"):
        pointing_accuracy(cams, boxes)
    with pytest.raises(ValueError, match=r"of image 0 lies wholly outside"):
        max_box_acc_v2(cams, boxes)
    with pytest.raises(ValueError, match=r"of image 1 lies wholly outside"):
        max_box_acc_v2(cams, [boxes[1:], boxes[:1]])
    # With image_size they lie inside, and boxes partly outside are allowed (and kept as given).
    peaks = torch.zeros(2, 4, 4)
    peaks[0, 1, 1] = peaks[1, 3, 3] = 1.0  # at 32 pixels: around (12, 12), inside box 0; around (28, 28), outside box 1
    assert pointing_accuracy(peaks, boxes, image_size=32) == 0.5
    blobs = torch.zeros(2, 4, 4)
    blobs[0, 0:2, 0:2] = blobs[1, 3, 3] = 1.0  # boxes [0, 0, 2, 2] and [3, 3, 4, 4]
    # IoU with [-1, -1, 2, 2]: 4/9 (a hit at delta 0.3 only); with [3, 3, 6, 6]: 1/9 (no hit)
    result = max_box_acc_v2(blobs, t([[-1, -1, 2, 2], [3, 3, 6, 6]]))
    assert result.max_box_acc == pytest.approx({0.3: 0.5, 0.5: 0.0, 0.7: 0.0}) and result.mean == pytest.approx(1 / 6)


def test_max_box_acc_v2_reads_lists_of_boxes_and_a_single_threshold():
    listed = max_box_acc_v2(MBA_CAMS, MBA_GT.tolist(), iou_thresholds=0.5, cam_thresholds=0.3)
    assert listed.iou_thresholds == (0.5,) and listed.mean == pytest.approx(2 / 3)


def test_maps_of_subnormal_values_keep_their_shape():
    # In float32, 0.2 * 1e-45 rounds to 0 and would keep the whole map; the rule holds at any scale.
    tiny = t([[1e-45, 0.0], [0.0, 0.0]])
    assert bbox_from_cam(tiny).tolist() == [0.0, 0.0, 1.0, 1.0]
    assert extent(tiny[None], torch.ones(1, 2, 2, dtype=torch.bool)).precision == 1.0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int32, torch.uint8])
def test_maps_of_other_dtypes_give_the_float32_answer(dtype):
    assert bbox_from_cam(TWO_BLOBS.to(dtype)).tolist() == TWO_BLOBS_BOX
    assert bbox_from_cam(TWO_BLOBS.to(dtype)).dtype == torch.float32


# --------------------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_inputs_give_the_cpu_answers_on_the_input_device():
    cuda = torch.device("cuda")
    box = bbox_from_cam(TWO_BLOBS.to(cuda), image_size=(10, 12))
    assert box.device.type == "cuda"
    assert box.cpu().tolist() == bbox_from_cam(TWO_BLOBS, image_size=(10, 12)).tolist()
    assert boxes_from_cam_all_components(TWO_BLOBS.to(cuda)).device.type == "cuda"
    assert top1_loc(PRED_CLASSES.to(cuda), TRUE_CLASSES, PRED_BOXES.to(cuda), TRUE_BOXES) == 0.5
    assert max_box_acc_v2(MBA_CAMS.to(cuda), MBA_GT.to(cuda), cam_thresholds=MBA_TAUS).mean == pytest.approx(7 / 9)
    assert pointing_accuracy(EXTENT_CAMS.to(cuda), t([[1, 1, 3, 3], [0, 0, 1, 1]]).to(cuda)) == 1.0
    assert extent(EXTENT_CAMS.to(cuda), EXTENT_MASKS.to(cuda)).coverage == pytest.approx(7 / 12)
    assert not math.isnan(paired_iou(PRED_BOXES.to(cuda), TRUE_BOXES.to(cuda)).sum().item())


def test_max_box_acc_v2_names_iou_thresholds_none():
    with pytest.raises(TypeError, match=r"iou_thresholds is None: give the IoU thresholds, e.g. \(0.3, 0.5, 0.7\)"):
        max_box_acc_v2(torch.rand(1, 4, 4), t([[0, 0, 2, 2]]), iou_thresholds=None)


def test_pxap_by_hand_and_its_errors():
    from camlib.metrics.localize import pxap

    # Two 2x2 maps. Object pixels score 1.0 and 0.5 (map 0), background 0.0 and 0.25 (map 0) and
    # 0 (map 1, whose object pixel scores 1). From the top: at scores >= 1, 2 object pixels and no
    # background (precision 1, recall 2/3); >= 0.5 adds the third object pixel (precision 1,
    # recall 1); lower thresholds add background only, and recall stops growing: PxAP = 1.
    cams = torch.tensor([[[1.0, 0.5], [0.0, 0.25]], [[1.0, 0.0], [0.0, 0.0]]])
    masks = torch.tensor([[[True, True], [False, False]], [[True, False], [False, False]]])
    assert pxap(cams, masks).pxap == pytest.approx(1.0)
    # swap one object pixel (0.5) with a background pixel (0.25): at >= 0.5 precision is 2/3
    swapped = torch.tensor([[[1.0, 0.25], [0.0, 0.5]], [[1.0, 0.0], [0.0, 0.0]]])
    result = pxap(swapped, masks)
    # recall 2/3 at precision 1 (scores 1), then recall 1 when 0.25 enters, at precision 3/4
    assert result.pxap == pytest.approx(2 / 3 * 1 + 1 / 3 * 3 / 4)
    generator = torch.Generator().manual_seed(5)
    maps = torch.rand(6, 12, 12, generator=generator) * 3 - 1
    objects = torch.rand(6, 12, 12, generator=generator) > 0.7
    with pytest.raises(ValueError, match="no object pixel"):
        pxap(maps, torch.zeros(6, 12, 12, dtype=torch.bool))
    with pytest.raises(ValueError, match="increase and stay below 1"):
        pxap(maps, objects, cam_thresholds=[0.5, 0.2])
    ignore = torch.zeros(6, 12, 12, dtype=torch.bool)
    ignore[:, 0] = True
    with pytest.raises(ValueError, match="overlap"):
        pxap(maps, objects | ignore, ignore=ignore)
    assert 0 < pxap(maps, objects & ~ignore, ignore=ignore).pxap < 1


def test_best_true_boxes_picks_each_images_best_matching_object():
    """Image 0 has two objects and its prediction covers the second; image 1 has one box. Scoring against
    the chosen box is scoring against the best of all (ILSVRC's several objects per image)."""
    from camlib.metrics.localize import best_true_boxes, true_box_sets

    true_boxes = [torch.tensor([[0.0, 0, 4, 4], [10, 10, 20, 20]]), torch.tensor([[2.0, 2, 6, 6]])]
    pred = torch.tensor([[11.0, 11, 20, 20], [0, 0, 1, 1]])
    assert best_true_boxes(pred, true_boxes).tolist() == [[10, 10, 20, 20], [2, 2, 6, 6]]
    assert best_true_boxes(pred, torch.tensor([[0.0, 0, 4, 4], [2, 2, 6, 6]])).tolist() == [[0, 0, 4, 4], [2, 2, 6, 6]]
    boxes, owner = true_box_sets(true_boxes, 2)
    assert boxes.shape == (3, 4) and owner.tolist() == [0, 0, 1]
    assert gt_known_loc(pred, best_true_boxes(pred, true_boxes)) == 0.5  # IoU 81/100 and 0
