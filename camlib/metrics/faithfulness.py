"""Can we trust a CAM? Faithfulness metrics for saliency maps (notebook 07).

A map is *faithful* when the pixels it ranks first are the ones the model's score depends on.
Three published tests perturb the image in the map's order and watch the class score:

* ``deletion`` / ``insertion`` (Petsiuk, Das and Saenko, "RISE", BMVC 2018; reference code
  eclique/RISE ``evaluation.py``, ``CausalMetric``): replace the most salient pixels first by a
  substrate (deletion: a fast fall is good), or start from the substrate and put them back
  (insertion: a fast rise is good); ``auc`` of the curve.
* ``confidence_change`` (Chattopadhyay et al., "Grad-CAM++", WACV 2018): average drop and
  increase in confidence when the image is multiplied by its map.
* ``road`` (Rong et al., "A Consistent and Efficient Evaluation Strategy for Attribution
  Methods", ICML 2022): remove pixels by *noisy linear imputation* instead of a constant, so the
  shape of the removed region does not leak the class (``noisy_linear_imputation``).

Conventions shared by every function here:

* ``images`` are ``[B, C, H, W]`` on the model's device and in its dtype; ``maps`` are
  ``[B, H, W]``, one map per image, *at the image size* (a CAM at feature resolution must be
  resized first, explicitly: ``camlib.methods.cam.upsample_cams(maps, images.shape[-2:])``).
* ``classes=None`` explains each image's predicted class (arg-max on the unperturbed image, as
  RISE does); else one class index per image.
* Pixels are ranked by the map's value, largest first. Ties keep raster order (row by row, the
  first pixel first): a stable sort. RISE's ``np.flip(np.argsort(...))`` breaks ties the other
  way round, and not reproducibly (quicksort); ROAD adds a 1e-4 random jitter to the map. On
  maps without ties all three orders agree.
* Perturbed images are scored in chunks of ``batch_size`` over the whole (image, step) grid: no
  Python loop per image or per step. A perturbed image equal to one already scored (a deletion
  step over pixels that already hold the substrate's value) is not scored again. The model runs
  in eval mode (its flags are restored) and without autograd; on the CPU its conv weights are held
  in channels_last meanwhile (``camlib.methods.cam.channels_last_on_cpu``; scores change by float rounding
  only; the README has the timings).
* Results are torch tensors on the images' device (``.cpu().numpy()`` for NumPy).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from numbers import Real
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from scipy import sparse
from scipy.ndimage import gaussian_filter
from scipy.sparse.linalg import spsolve
from torch import nn
from tqdm.auto import tqdm

from camlib._checks import as_class_indices, check_finite, check_int
from camlib._guards import channels_last_on_cpu, check_images, eval_mode, run_model
from camlib.methods.cam import normalize_cams

SCORES = ("probability", "logit")
ORDERS = ("morf", "lerf")
Classes = torch.Tensor | Sequence[int] | None


# --------------------------------------------------------------------------------------------
# Checks and the shared machinery: rank pixels, score a grid of perturbed images in chunks
# --------------------------------------------------------------------------------------------


def check_maps(maps, images: torch.Tensor) -> torch.Tensor:
    """``maps`` as a finite real ``[B, H, W]`` tensor on the images' device, one map per image
    and at the images' size; else an error that says how to get there."""
    if not isinstance(maps, torch.Tensor):
        raise TypeError(f"maps must be a torch tensor [B, H, W], got {type(maps).__name__}: "
                        "convert with torch.as_tensor(maps)")
    batch, size = images.shape[0], tuple(images.shape[-2:])
    if maps.dim() == 4:
        hint = "use maps.squeeze(1)" if maps.shape[1] == 1 else \
            "pick the explained class's map of each image: maps[torch.arange(len(maps)), classes]"
        raise ValueError(f"maps must be [B, H, W], one map per image; got shape {list(maps.shape)}: {hint}")
    if maps.dim() != 3:
        raise ValueError(f"maps must be [B, H, W], one map per image; got shape {list(maps.shape)}")
    if maps.shape[0] != batch:
        raise ValueError(f"there are {maps.shape[0]} maps for {batch} images: give one map per image")
    if tuple(maps.shape[-2:]) != size:
        raise ValueError(
            f"the maps are {maps.shape[-2]}x{maps.shape[-1]} but the images {size[0]}x{size[1]}: pixels are "
            "ranked at the image size, so resize the maps first with "
            "camlib.methods.cam.upsample_cams(maps, images.shape[-2:])"
        )
    if maps.is_complex() or maps.dtype == torch.bool:
        raise TypeError(f"maps must hold real numbers, got {maps.dtype}")
    check_finite(maps, "the maps")
    return maps.detach().to(images.device)


def _check_choice(value, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name}={value!r}: use one of {choices}")
    return value


class _Prepared(NamedTuple):
    maps: torch.Tensor  # [B, H, W], checked, on the images' device
    classes: torch.Tensor  # [B]
    logits: torch.Tensor  # [B, num_classes] of the unperturbed images


def _prepare(model: nn.Module, images: torch.Tensor, maps, classes: Classes, score: str = "probability") -> _Prepared:
    """Checked maps, the logits of the images and one class per image (the predicted one when
    ``classes`` is None). Call in eval mode, without autograd."""
    check_images(images, model)
    maps = check_maps(maps, images)
    logits = run_model(model, images)  # also proves the model returns [B, num_classes]
    if score == "probability" and _already_probabilities(logits):
        warnings.warn(f"{type(model).__name__} returns probabilities (each row is in [0, 1] and sums to 1: it ends in "
                      "a softmax), and the scores here are their softmax again, squeezed toward 1/C, so curves and "
                      "AUCs mean little. Pass the model without its final softmax (its logits), or score='logit' "
                      "to use its outputs as they are", UserWarning, stacklevel=3)
    if classes is None:
        return _Prepared(maps, logits.argmax(dim=1), logits)
    return _Prepared(maps, as_class_indices(classes, images.shape[0], logits.shape[1]).to(images.device), logits)


def _already_probabilities(outputs: torch.Tensor) -> bool:
    """Outputs that look like a softmax's: more than one class, every value in [0, 1], rows summing to 1."""
    if outputs.shape[1] < 2 or not outputs.is_floating_point():
        return False
    sums = outputs.double().sum(dim=1)
    in_range = bool((outputs >= 0).all() and (outputs <= 1).all())
    return in_range and torch.allclose(sums, torch.ones_like(sums), atol=1e-4)


def salient_ranks(maps: torch.Tensor) -> torch.Tensor:
    """``[B, H*W]``: the rank of each pixel (raster order) in its map, 0 for the most salient.
    Ties keep raster order (stable sort), so a constant map ranks pixels row by row."""
    order = torch.argsort(maps.flatten(1), dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    positions = torch.arange(order.shape[1], device=order.device).expand_as(order)
    return ranks.scatter_(1, order, positions)


def class_scores(logits: torch.Tensor, classes: torch.Tensor, score: str) -> torch.Tensor:
    """The softmax probability (``"probability"``) or the logit (``"logit"``) of each row's class."""
    values = logits.softmax(dim=1) if score == "probability" else logits
    return values.gather(1, classes[:, None]).squeeze(1)


def _score_pairs(model, pairs: torch.Tensor, per_image: int, perturb: Callable, classes: torch.Tensor, score: str,
                 batch_size: int, progress: bool, desc: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores and arg-max classes ``[len(pairs)]`` of the perturbed images ``perturb(chunk)``. Pair
    ``p`` is image ``p // per_image`` at step ``p % per_image``; ``batch_size`` pairs per forward pass."""
    scores, predicted = [], []
    for start in tqdm(range(0, len(pairs), batch_size), desc=desc, disable=not progress, leave=False):
        chunk = pairs[start:start + batch_size]
        logits = run_model(model, perturb(chunk))
        scores.append(class_scores(logits, classes[chunk // per_image], score))
        predicted.append(logits.argmax(dim=1))
    if not scores:  # nothing to score: every perturbed image equals one scored already
        return torch.empty(0, device=pairs.device), torch.empty(0, dtype=torch.long, device=pairs.device)
    return torch.cat(scores), torch.cat(predicted)


def _score_grid(model, images: torch.Tensor, per_image: int, perturb: Callable, classes: torch.Tensor, score: str,
                batch_size: int, progress: bool, desc: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``_score_pairs`` over the whole grid, reshaped to ``[B, per_image]``."""
    pairs = torch.arange(len(images) * per_image, device=images.device)
    scores, predicted = _score_pairs(model, pairs, per_image, perturb, classes, score, batch_size, progress, desc)
    return scores.view(-1, per_image), predicted.view(-1, per_image)


# --------------------------------------------------------------------------------------------
# Deletion and insertion (Petsiuk et al., RISE, BMVC 2018)
# --------------------------------------------------------------------------------------------


class CausalCurve(NamedTuple):
    scores: torch.Tensor  # [B, n_steps + 1]: the class score after 0, step, 2*step, ... pixels changed
    auc: torch.Tensor  # [B]: auc(scores), RISE's normalized trapezoid
    fractions: torch.Tensor  # [n_steps + 1]: the fraction of pixels changed at each point, 0 ... 1
    classes: torch.Tensor  # [B]: the class explained in each image


def auc(curve) -> torch.Tensor:
    """Area under curves sampled at equally spaced points of [0, 1], over the last dimension.

    Exactly RISE's ``auc``: ``(arr.sum() - arr[0] / 2 - arr[-1] / 2) / (len(arr) - 1)``, the
    trapezoid rule with spacing ``1 / (len(arr) - 1)``. Like RISE it takes the points as equally
    spaced even when ``H*W`` is not a multiple of ``step`` (the last step is then shorter).
    Accepts a tensor or anything ``torch.as_tensor`` takes; returns a tensor.
    """
    try:
        curve = torch.as_tensor(curve)
    except (ValueError, TypeError) as error:
        raise ValueError(f"curves must be numbers, one curve per row, every row with the same number of points "
                         f"(a tensor [B, n + 1]); got {type(curve).__name__}: {error}") from None
    if curve.dim() == 0 or curve.shape[-1] < 2:
        raise ValueError(f"a curve needs at least 2 points along its last dimension, got shape {list(curve.shape)}")
    if not curve.is_floating_point():
        curve = curve.double()
    return (curve.sum(-1) - curve[..., 0] / 2 - curve[..., -1] / 2) / (curve.shape[-1] - 1)


def blur_substrate(images: torch.Tensor, kernel_size: int = 11, sigma: float = 5.0) -> torch.Tensor:
    """RISE's insertion substrate, exactly: its ``blur`` with ``gkern(klen=11, nsig=5)``.

    RISE builds the kernel as ``scipy.ndimage.gaussian_filter`` of a ``klen x klen`` delta and
    convolves every channel with it on its own, zero padding ``klen // 2`` (``conv2d`` with a
    diagonal kernel). camlib makes the same kernel by the same SciPy call and convolves the same
    way. Two consequences a student may not expect, both RISE's: the filter's reflecting boundary
    folds the Gaussian's tails back in, so the kernel is nearly a box (entries 0.0077-0.0088,
    where a sampled Gaussian of ``sigma`` 5 on 11 taps, torchvision's ``gaussian_blur``, spans
    0.0044-0.0120); and the zero padding darkens a ``klen // 2``-pixel border. Measured on 256
    MNIST test digits with notebook 02's quick GAPNet (seed 0) and its CAMs, step 16, the two
    substrates differ by 0.012 per pixel on average (at most 0.24), and torchvision's blur moves
    the insertion AUC by 0.011 per image on average (at most 0.070), the mean from 0.648 to 0.656.
    To use it anyway, pass ``substrate=lambda x: gaussian_blur(x, [11, 11], [5.0, 5.0])``.
    """
    check_images(images)
    kernel_size = check_int(kernel_size, "kernel_size", 1, "an odd number of taps such as 11")
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size={kernel_size} must be odd, e.g. 11")
    if isinstance(sigma, bool) or not isinstance(sigma, Real) or not 0 < sigma < math.inf:
        raise ValueError(f"sigma={sigma!r} must be a positive number, e.g. 5.0")
    delta = np.zeros((kernel_size, kernel_size))
    delta[kernel_size // 2, kernel_size // 2] = 1
    kernel = torch.from_numpy(gaussian_filter(delta, float(sigma))).to(images)
    channels = images.shape[1]
    weight = kernel.expand(channels, 1, kernel_size, kernel_size)
    return F.conv2d(images, weight, padding=kernel_size // 2, groups=channels)


def _substrate(substrate, images: torch.Tensor) -> torch.Tensor:
    """``"zeros"``, ``"blur"``, a tensor broadcastable to the images, or a function of the images."""
    if isinstance(substrate, str):
        made = {"zeros": torch.zeros_like, "blur": blur_substrate}.get(substrate)
        if made is None:
            raise ValueError(f"substrate={substrate!r}: use 'zeros', 'blur', a tensor or a function of the images")
        return made(images)
    if callable(substrate):
        substrate = substrate(images)
    if not isinstance(substrate, torch.Tensor):
        raise TypeError(f"substrate must be 'zeros', 'blur', a tensor or a function returning one, "
                        f"got {type(substrate).__name__}")
    try:
        substrate = torch.broadcast_to(substrate.detach().to(images), images.shape)
    except RuntimeError as error:
        raise ValueError(f"a substrate of shape {list(substrate.shape)} does not broadcast to the images' "
                         f"{list(images.shape)}: give [B, C, H, W], [C, 1, 1] or a scalar tensor") from error
    check_finite(substrate, "the substrate")
    return substrate


def _changing_points(start: torch.Tensor, finish: torch.Tensor, ranks: torch.Tensor, step: int) -> torch.Tensor:
    """``[B, n_steps + 1]``: True at point 0 and at every point whose step changes a pixel. A step
    over pixels that already hold the target value in every channel (MNIST's black background,
    deleted into zeros) leaves the image as it was at the previous point."""
    differs = (start != finish).any(dim=1).flatten(1)  # [B, H*W]
    points = math.ceil(ranks.shape[1] / step) + 1
    moves = torch.zeros(len(ranks), points, dtype=torch.long, device=ranks.device)
    moves.scatter_add_(1, ranks // step + 1, differs.long())  # pixel of rank r changes at point r // step + 1
    moves[:, 0] = 1
    return moves > 0


def _causal_curve(model, images, maps, classes, *, mode, step, substrate, score, batch_size, progress) -> CausalCurve:
    step = check_int(step, "step", 1, "the number of pixels changed per step (e.g. H*W // 50 for 50 steps)")
    batch_size = check_int(batch_size, "batch_size", 1, "the number of perturbed images per forward pass")
    _check_choice(score, "score", SCORES)
    with torch.no_grad(), eval_mode(model), channels_last_on_cpu(model, images):
        maps, classes, logits = _prepare(model, images, maps, classes, score)
        filler = _substrate(substrate, images)
        start, finish = (images, filler) if mode == "deletion" else (filler, images)
        pixels = maps.shape[-2] * maps.shape[-1]
        points = math.ceil(pixels / step) + 1  # n_steps + 1, as RISE
        ranks = salient_ranks(maps)

        def perturb(pairs: torch.Tensor) -> torch.Tensor:
            image, point = pairs // points, pairs % points
            changed = ranks[image] < (point * step)[:, None]  # the point*step most salient pixels
            return torch.where(changed.view(-1, 1, *maps.shape[-2:]), finish[image], start[image])

        # The image itself (deletion's first point, insertion's last) was scored by _prepare. Of the
        # others, score only the points whose image differs from the previous point's; copy the rest.
        original = torch.zeros(len(images), points, dtype=torch.bool, device=images.device)
        original[:, 0 if mode == "deletion" else -1] = True
        needed = _changing_points(start, finish, ranks, step)
        pairs = (needed & ~original).flatten().nonzero().squeeze(1)
        computed, _ = _score_pairs(model, pairs, points, perturb, classes, score, batch_size, progress, mode)
        scores = logits.new_empty(len(images), points)
        scores[original] = class_scores(logits, classes, score)
        scores.view(-1).index_copy_(0, pairs, computed.to(scores.dtype))
        source = torch.where(needed | original, torch.arange(points, device=images.device), 0).cummax(dim=1).values
        scores = scores.gather(1, source)
    fractions = (torch.arange(points, device=images.device) * step).clamp(max=pixels).to(images.dtype) / pixels
    return CausalCurve(scores, auc(scores), fractions, classes)


def deletion(
    model: nn.Module,
    images: torch.Tensor,
    maps: torch.Tensor,
    classes: Classes = None,
    *,
    step: int = 1,
    substrate: str | torch.Tensor | Callable = "zeros",
    score: str = "probability",
    batch_size: int = 256,
    progress: bool = False,
) -> CausalCurve:
    """RISE's deletion curve: the class score as the most salient pixels are removed, ``step`` at a time.

    Point ``i`` (``i = 0 ... n_steps``, ``n_steps = ceil(H*W / step)``) scores the image whose
    ``min(i * step, H*W)`` most salient pixels (all channels) hold the substrate: point 0 is the
    image, the last one the substrate. A faithful map makes the curve fall fast: low ``auc``.

    A step whose pixels already hold the substrate's value in every channel (MNIST's black
    background deleted into zeros) leaves the image unchanged: its point gets the previous
    point's score without another forward pass. The curve is the same; only the work is less.

    Args:
        model: a classifier returning logits ``[B, num_classes]``; run in eval mode, flags restored.
        images: ``[B, C, H, W]`` on the model's device and in its dtype.
        maps: ``[B, H, W]`` saliency maps at the image size (``camlib.methods.cam.upsample_cams`` first).
        classes: one class per image, or ``None`` for each image's predicted class.
        step: pixels removed per step (RISE used 224 on 224x224 images, 224 steps).
        substrate: ``"zeros"`` (RISE's deletion), ``"blur"`` (``blur_substrate``), a tensor
            broadcastable to the images, or a function of the images.
        score: ``"probability"`` (softmax of the logits, as the paper) or ``"logit"``.
        batch_size: perturbed images per forward pass (memory against speed).
        progress: a tqdm bar over the chunks.

    Returns a ``CausalCurve`` (scores ``[B, n_steps + 1]``, auc ``[B]``, fractions, classes).
    """
    return _causal_curve(model, images, maps, classes, mode="deletion", step=step, substrate=substrate,
                         score=score, batch_size=batch_size, progress=progress)


def insertion(
    model: nn.Module,
    images: torch.Tensor,
    maps: torch.Tensor,
    classes: Classes = None,
    *,
    step: int = 1,
    substrate: str | torch.Tensor | Callable = "blur",
    score: str = "probability",
    batch_size: int = 256,
    progress: bool = False,
) -> CausalCurve:
    """RISE's insertion curve: start from the substrate and put the most salient pixels back first.

    Point ``i`` scores the substrate with the image's ``min(i * step, H*W)`` most salient pixels
    restored: point 0 is the substrate (a blurred image by default, as RISE), the last one the
    image. A faithful map makes the curve rise fast: high ``auc``. Arguments as ``deletion``.
    """
    return _causal_curve(model, images, maps, classes, mode="insertion", step=step, substrate=substrate,
                         score=score, batch_size=batch_size, progress=progress)


# --------------------------------------------------------------------------------------------
# Average drop and increase in confidence (Chattopadhyay et al., Grad-CAM++, WACV 2018)
# --------------------------------------------------------------------------------------------


class ConfidenceChange(NamedTuple):
    average_drop: torch.Tensor  # scalar, percent: 100 * mean(max(0, Y - O) / Y)
    increase_in_confidence: torch.Tensor  # scalar, percent: 100 * mean(O > Y)
    original: torch.Tensor  # [B]: Y, the class probability on the image
    explained: torch.Tensor  # [B]: O, the class probability on the image times its normalized map
    classes: torch.Tensor  # [B]


def confidence_change(
    model: nn.Module, images: torch.Tensor, maps: torch.Tensor, classes: Classes = None, *, batch_size: int = 256
) -> ConfidenceChange:
    """Grad-CAM++'s average drop and increase in confidence.

    The explanation map is ``E = image * m``, where ``m`` is the map min-max normalized to
    [0, 1] per image (``camlib.methods.cam.normalize_cams(maps, "minmax")``: a constant map becomes 0),
    broadcast over the channels. With ``Y`` the softmax probability of the class on the image and
    ``O`` on ``E``: average drop = ``100 * mean(max(0, Y - O) / Y)`` (lower is better), increase
    in confidence = ``100 * mean(O > Y)`` (higher is better). An image with ``Y == 0`` (softmax
    underflow) adds a drop of 0. The relative drop needs positive scores, so there is no logit option.

    Peers, on the same normalized map: torchcam's ``ClassificationMetric`` gives fractions, not
    percent, divides by ``Y + 1e-7``, scores raw logits unless given ``logits_fn=softmax``, and
    normalizes the CAM (``(M - min) / (max - min + 1e-8)``) *before* upsampling it, where camlib
    takes maps already at the image size.
    pytorch-grad-cam's ``CamMultImageConfidenceChange`` returns ``O - Y`` per image (with the
    score of its targets: ``ClassifierOutputSoftmaxTarget`` for probabilities); its
    ``DropInConfidence`` is the *absolute* ``max(0, Y - O)`` (not divided by ``Y``) and
    ``IncreaseInConfidence`` the per-image indicator; neither averages nor multiplies by 100.
    """
    batch_size = check_int(batch_size, "batch_size", 1, "the number of images per forward pass")
    with torch.no_grad(), eval_mode(model), channels_last_on_cpu(model, images):
        maps, classes, logits = _prepare(model, images, maps, classes)
        explanation = images * normalize_cams(maps, "minmax").to(images.dtype)[:, None]
        explained, _ = _score_grid(model, images, 1, lambda pairs: explanation[pairs], classes, "probability",
                                   batch_size, False, "")
    original, explained = class_scores(logits, classes, "probability"), explained.squeeze(1)
    drop = torch.where(original > 0, (original - explained).clamp_min(0) / original, torch.zeros_like(original))
    return ConfidenceChange(100 * drop.mean(), 100 * (explained > original).to(images.dtype).mean(),
                            original, explained, classes)


# --------------------------------------------------------------------------------------------
# ROAD: remove and debias with noisy linear imputation (Rong et al., ICML 2022)
# --------------------------------------------------------------------------------------------

# (row offset, column offset), weight: the reference's neighbourhood (tleemann/road_evaluation)
NEIGHBOURS = (((1, 1), 1 / 12), ((0, 1), 1 / 6), ((-1, 1), 1 / 12), ((1, -1), 1 / 12),
              ((0, -1), 1 / 6), ((-1, -1), 1 / 12), ((1, 0), 1 / 6), ((-1, 0), 1 / 6))


def _imputation_system(missing: np.ndarray, pixels: np.ndarray) -> tuple[sparse.csc_matrix, np.ndarray, np.ndarray]:
    """The reference's linear system for every image of ``missing`` ``[N, H, W]`` at once: one
    equation per missing pixel, ``sum_j w_j (x_j - x) = 0`` over its in-image neighbours ``j``;
    known neighbours move to the right-hand side. ``pixels`` is ``[N*H*W, C]``. Returns the
    (block-diagonal) matrix, the right-hand sides ``[U, C]`` and the flat indices of the unknowns."""
    n, h, w = missing.shape
    flat_missing = missing.reshape(-1)
    unknown = np.flatnonzero(flat_missing)
    variable = np.full(flat_missing.size, -1)
    variable[unknown] = np.arange(unknown.size)
    image, row, col = np.unravel_index(unknown, missing.shape)
    diagonal = np.zeros(unknown.size)
    rhs = np.zeros((unknown.size, pixels.shape[1]))
    rows, cols, values = [], [], []
    for (d_row, d_col), weight in NEIGHBOURS:
        r, c = row + d_row, col + d_col
        inside = np.flatnonzero((r >= 0) & (r < h) & (c >= 0) & (c < w))
        neighbour = (image[inside] * h + r[inside]) * w + c[inside]
        diagonal[inside] -= weight  # minus the sum of the weights of the neighbours inside the image
        free = flat_missing[neighbour]
        rows.append(inside[free])
        cols.append(variable[neighbour[free]])
        values.append(np.full(int(free.sum()), weight))
        rhs[inside[~free]] -= weight * pixels[neighbour[~free]]
    index = np.arange(unknown.size)
    matrix = sparse.csc_matrix(
        (np.concatenate([diagonal, *values]), (np.concatenate([index, *rows]), np.concatenate([index, *cols]))),
        shape=(unknown.size, unknown.size),
    )
    return matrix, rhs, unknown


def _check_noise(noise) -> None:
    if isinstance(noise, bool) or not isinstance(noise, Real) or not 0 <= noise < math.inf:
        raise ValueError(f"noise={noise!r} must be a standard deviation >= 0, e.g. 0.01 (0 for none)")


def noisy_linear_imputation(
    images: torch.Tensor, keep: torch.Tensor, *, noise: float = 0.01, generator: torch.Generator | None = None
) -> torch.Tensor:
    """ROAD's noisy linear imputation of the pixels where ``keep`` is False.

    Each removed pixel becomes the weighted mean of its 8 neighbours (1/6 for the 4 that share
    an edge, 1/12 for the diagonal ones; neighbours outside the image are left out and the
    weights renormalized), every channel alike, plus Gaussian noise of standard deviation
    ``noise`` (0.01, the reference's default; 0 for none). The equations of all removed pixels
    of all images form one sparse block-diagonal system, solved by SciPy's SuperLU on the CPU in
    float64: a direct solver, exact as the reference's ``spsolve`` (torch has no sparse direct
    solver for the GPU), in one call for the batch where the reference builds one system per
    image. The noise is drawn on the CPU from ``generator`` (torch's global one by default).

    Args:
        images: ``[B, C, H, W]``; any device, returned on it in its dtype.
        keep: ``[B, H, W]`` booleans, True where the pixel stays; every image keeps at least one.
    """
    check_images(images)
    if not isinstance(keep, torch.Tensor) or keep.dtype != torch.bool or keep.shape != (
            images.shape[0], *images.shape[-2:]):
        shape = list(keep.shape) if isinstance(keep, torch.Tensor) else type(keep).__name__
        raise ValueError(f"keep must be a bool tensor [B, H, W] = {[images.shape[0], *images.shape[-2:]]}, "
                         f"True where a pixel stays; got {shape}")
    _check_noise(noise)
    if images.shape[0] == 0:  # an empty batch: nothing to impute
        return images.clone()
    missing = ~keep.cpu().numpy()
    if missing.reshape(len(missing), -1).all(axis=1).any():
        raise ValueError("an image keeps none of its pixels, so there is nothing to interpolate from: "
                         "keep at least one")
    channels = images.shape[1]
    pixels = images.detach().to("cpu", torch.float64).permute(0, 2, 3, 1).reshape(-1, channels).numpy().copy()
    matrix, rhs, unknown = _imputation_system(missing, pixels)
    if unknown.size:
        solution = np.asarray(spsolve(matrix, rhs)).reshape(unknown.size, channels)
        jitter = torch.randn(unknown.size, channels, generator=generator, dtype=torch.float64).numpy()
        pixels[unknown] = solution + noise * jitter
    filled = torch.from_numpy(pixels).view(images.shape[0], *images.shape[-2:], channels).permute(0, 3, 1, 2)
    return filled.to(images.device, images.dtype)


class RoadResult(NamedTuple):
    scores: torch.Tensor  # [B, P]: the class score after removing percentages[p] % of the pixels
    hits: torch.Tensor  # [B, P] bool: the class is still the model's arg-max
    percentages: torch.Tensor  # [P]: percent of the pixels removed
    classes: torch.Tensor  # [B]


def _check_percentages(percentages) -> list[float]:
    if isinstance(percentages, torch.Tensor | np.ndarray) and percentages.ndim <= 1:
        percentages = percentages.tolist()  # np.arange(10, 100, 10), torch.arange(...): numbers too
    if isinstance(percentages, Real):
        percentages = [percentages]
    if not isinstance(percentages, Sequence) or not percentages or not all(
            isinstance(p, Real) and not isinstance(p, bool) and 0 <= p < 100 for p in percentages):
        raise ValueError(f"percentages={percentages!r} must be numbers in [0, 100), the percent of pixels removed, "
                         "e.g. (10, 20, ..., 90); 100 would leave nothing to impute from")
    return [float(p) for p in percentages]


def road(
    model: nn.Module,
    images: torch.Tensor,
    maps: torch.Tensor,
    classes: Classes = None,
    *,
    percentages: Sequence[float] = (10, 20, 30, 40, 50, 60, 70, 80, 90),
    order: str = "morf",
    noise: float = 0.01,
    score: str = "probability",
    generator: torch.Generator | None = None,
    batch_size: int = 256,
    progress: bool = False,
) -> RoadResult:
    """ROAD: the class score after imputing a percentage of the pixels in the map's order.

    For each percentage ``p``, ``floor(H*W * p / 100)`` pixels are removed (the reference's
    ``int(H*W * th_p)``) and filled by ``noisy_linear_imputation``: the most salient first
    (``order="morf"``: a faithful map makes the score fall fast) or the least salient first
    (``"lerf"``: it should stay high). Every (image, percentage) pair of a chunk of
    ``batch_size`` pairs is imputed by one sparse solve and scored by one forward pass. The noise of
    each pair comes from its own generator, seeded from one draw of ``generator`` (torch's global
    one by default): a seeded result does not depend on ``batch_size``.

    ``percentages`` (numbers, a list, an array or a tensor) are the percent *removed* in both orders,
    the paper's x-axis. The reference code (``ImputedDataset``) takes ``th_p`` as the fraction removed
    for MoRF but *kept* for LeRF (camlib's ``p`` is its ``100 * (1 - th_p)`` there); pytorch-grad-cam's
    ``percentile`` is the percent *kept* in both orders (camlib's ``100 - percentile``, up to how
    ``np.percentile`` rounds the count). Ties follow the stable order of ``salient_ranks``, where the
    reference adds a 1e-4 random jitter to the map.

    Returns a ``RoadResult``: scores and hits ``[B, P]`` (average ``hits`` over images for the
    paper's accuracy curves), the percentages and the classes.
    """
    _check_choice(order, "order", ORDERS)
    _check_choice(score, "score", SCORES)
    batch_size = check_int(batch_size, "batch_size", 1, "the number of imputed images per forward pass")
    _check_noise(noise)
    percentages = _check_percentages(percentages)
    with torch.no_grad(), eval_mode(model), channels_last_on_cpu(model, images):
        maps, classes, _ = _prepare(model, images, maps, classes, score)
        size = tuple(images.shape[-2:])
        pixels = size[0] * size[1]
        removed = torch.tensor([math.floor(pixels * p / 100) for p in percentages], device=images.device)
        ranks = salient_ranks(maps)
        # One draw from the caller's stream seeds every (image, percentage) pair's own noise, so that
        # batch_size, which only says how many pairs share a solve, cannot change a seeded result.
        base = int(torch.randint(0, 2**62, (), generator=generator))

        def impute(pairs: torch.Tensor) -> torch.Tensor:
            image, count = pairs // len(removed), removed[pairs % len(removed)][:, None]
            gone = ranks[image] < count if order == "morf" else ranks[image] >= pixels - count
            filled = noisy_linear_imputation(images[image], ~gone.view(-1, *size), noise=0.0)
            if noise == 0:
                return filled
            jitter = torch.stack([torch.randn(images.shape[1:], dtype=torch.float64,
                                              generator=torch.Generator().manual_seed(base + int(p))) for p in pairs])
            return (filled.double() + noise * jitter.to(filled.device) * gone.view(-1, 1, *size)).to(images.dtype)

        scores, predicted = _score_grid(model, images, len(removed), impute, classes, score, batch_size, progress,
                                        f"ROAD {order}")
    return RoadResult(scores, predicted == classes[:, None],
                      torch.tensor(percentages, dtype=images.dtype, device=images.device), classes)
