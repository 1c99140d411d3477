"""Weakly supervised object localization with CAMs: GAP against GMP, measured.

The experiment of notebook 03 and ``benchmarks/localization.py``, written once:

1. ``WSOLSettings`` -- the data (``camlib.data.localization_splits``: one MNIST digit or
   Fashion-MNIST garment per canvas, optional clutter), the network (``camlib.models.GAPNet``),
   its training (GAP gets more epochs than GMP, so both reach about the same accuracy) and the
   CAM threshold; ``settings_for(profile)`` gives the quick and full versions;
   ``OBJECT_SIZES`` / ``size_variants`` the object sizes and types of the benchmark, and
   ``VARIANTS`` other changes (no clutter, a coarser CAM).
2. ``train_model`` -- one ``GAPNet`` (``pool="gap"`` or ``"gmp"``) for one seed, trained only
   on image labels with ``camlib.train.fit``; with ``checkpoint=True`` through
   ``camlib.train.fit_or_load`` so a rerun loads the weights (files ``wsol_*.pt`` in
   ``camlib.config.checkpoint_dir()``).
3. ``predict`` -- one pass over the test canvases: logits, the CAMs of the true class and of
   the five best-scoring classes (bilinearly upsampled to the canvas, ``camlib.methods.cam``), and
   their boxes (``camlib.metrics.localize.bbox_from_cam``: threshold, largest component).
4. ``localization_metrics`` -- every metric of ``camlib.metrics.localize`` from those predictions:
   accuracy, Top-1 / Top-5 / GT-known Loc, MaxBoxAccV2 and its per-IoU values, pointing
   accuracy, extent (coverage and precision), mean IoU and the predicted box's area relative
   to the ground-truth box's.
5. ``run_experiment`` -- pools x seeds x variants, one row of metrics per trained network;
   ``summarize`` (mean and sample standard deviation over seeds) and ``markdown_table``;
   ``paper_table`` sets our errors beside the paper's Table 2; ``centre_prior_rows`` and
   ``floor_table`` put the network-free floor (``camlib.metrics.floors``) beside every number. What the numbers mean is
   written in notebook 03, where a student reads the reasoning, not generated here.

The seed fixes the canvases (``localization_splits(seed=...)``), the initial weights and the
batch order, so the spread over seeds covers data and training.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from numbers import Real
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler

from camlib import config
from camlib._checks import check_device, check_file, check_fraction, check_int, check_path
from camlib.data.digits import TORCHVISION_CLASSES, CanvasDigits, LocalizationSplits, check_scale, localization_splits
from camlib.methods.cam import class_activation_maps, upsample_cams
from camlib.metrics.floors import FLOOR_METRICS, IMAGE_FLOOR_METRICS, fit_centre_prior, image_floor
from camlib.metrics.localize import (
    bbox_from_cam,
    extent,
    gt_known_loc,
    max_box_acc_v2,
    paired_iou,
    pointing_accuracy,
    pxap,
    top1_loc,
    top5_loc,
)
from camlib.models.cnn import POOLINGS, GAPNet
from camlib.train.loop import fit, fit_or_load

__all__ = [
    "METRICS",
    "PAPER_TABLE2",
    "VARIANTS",
    "SIZE_CANVASES",
    "SHIPPED_CANVAS64",
    "SHIPPED_RESULTS",
    "centre_prior_rows",
    "clutter_for",
    "Predictions",
    "WSOLSettings",
    "checkpoint_path",
    "higher_or_lower",
    "floor_table",
    "summarize_priors",
    "image_floor_rows",
    "summarize_images",
    "build_network",
    "localization_metrics",
    "make_splits",
    "object_area",
    "size_axis_claims",
    "size_variants",
    "OBJECT_SIZES",
    "load_results",
    "markdown_table",
    "paper_table",
    "predict",
    "save_results",
    "run_experiment",
    "settings_for",
    "summarize",
    "threshold_sweep",
    "train_model",
    "training_loader",
]


@dataclass(frozen=True)
class WSOLSettings:
    """Everything one run of the experiment depends on.

    Data: ``train_size`` / ``test_size`` canvases of ``canvas`` x ``canvas`` pixels, each holding
    one item of ``dataset`` (a digit, or a garment of Fashion-MNIST) scaled by a factor in
    ``scale`` and ``clutter`` fragments of ``fragment`` pixels from other items. Network:
    ``GAPNet(widths, downsample, convs_per_stage)``; its CAM has stride ``2 ** downsample``.
    Training: ``epochs`` of AdamW with a one-cycle schedule peaking at ``lr``, batches of
    ``batch_size``; a GAP network trains ``gap_epochs`` instead when given (``epochs_for``):
    averaging over every cell dilutes each cell's gradient, and GAP needs about twice GMP's
    epochs to reach the same accuracy, so a fair comparison gives it them. Evaluation: boxes at
    ``threshold`` of the CAM's maximum (the paper's 20 %), MaxBoxAccV2 over CAM thresholds
    ``0, cam_step, 2 cam_step, ...``.
    """

    dataset: str = "mnist"
    canvas: int = 64
    scale: tuple[float, float] = (0.75, 1.5)
    train_size: int = 2500
    test_size: int = 500
    clutter: int = 3
    fragment: int = 10
    widths: tuple[int, ...] = (8, 16, 32, 64)
    downsample: int = 2
    convs_per_stage: int = 1
    epochs: int = 5
    gap_epochs: int | None = 10
    batch_size: int = 64
    lr: float = 1e-2
    threshold: float = 0.2
    cam_step: float = 0.01

    def __post_init__(self):
        for name in ("train_size", "test_size", "epochs", "batch_size", "canvas", "fragment", "convs_per_stage"):
            check_int(getattr(self, name), name, 1)
        check_int(self.clutter, "clutter", 0)
        if self.gap_epochs is not None:
            check_int(self.gap_epochs, "gap_epochs", 1)
        if not self.widths or isinstance(self.widths, str):
            raise ValueError(f"widths must name at least one stage, e.g. (8, 16, 32, 64); got {self.widths!r}")
        for k, width in enumerate(self.widths):
            check_int(width, f"widths[{k}]", 1)
        check_int(self.downsample, "downsample", 0)
        if not 0 <= self.downsample <= len(self.widths):
            raise ValueError(f"downsample={self.downsample} must lie between 0 and len(widths)={len(self.widths)}")
        if self.canvas < self.stride:
            raise ValueError(f"canvas={self.canvas} is smaller than the CAM's stride 2**downsample = {self.stride}")
        for name in ("threshold", "cam_step"):
            check_fraction(getattr(self, name), name, zero=False)
        if self.dataset not in TORCHVISION_CLASSES:
            raise ValueError(f"dataset={self.dataset!r}: use one of {sorted(TORCHVISION_CLASSES)}")
        check_scale(self.scale)
        if self.fragment > self.canvas:
            raise ValueError(f"fragment={self.fragment} is larger than the canvas ({self.canvas} pixels)")
        if not _is_number(self.lr) or not math.isfinite(self.lr) or self.lr <= 0:
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")

    def epochs_for(self, pool: str) -> int:
        """The epochs a network with ``pool`` trains: ``gap_epochs`` for GAP when set, else ``epochs``."""
        return self.gap_epochs if pool == "gap" and self.gap_epochs is not None else self.epochs

    @property
    def stride(self) -> int:
        """Canvas pixels per CAM pixel along each axis."""
        return 2**self.downsample

    def replace(self, **changes) -> WSOLSettings:
        """A copy with ``changes`` (tuples stay tuples)."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            known = [f.name for f in fields(self)]
            raise ValueError(f"WSOLSettings has no field {', '.join(unknown)}; its fields: {known}")
        return replace(self, **{k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()})

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        return (
            f"{self.train_size}/{self.test_size} canvases {self.canvas}x{self.canvas}, clutter {self.clutter}, "
            f"{self.dataset}, scale {self.scale[0]:g}-{self.scale[1]:g}, "
            f"GAPNet widths {list(self.widths)} stride {self.stride}, "
            f"{self.epochs_for('gap')} epochs (GAP) / {self.epochs_for('gmp')} (GMP), "
            f"batch {self.batch_size}, lr {self.lr:g}, box threshold {self.threshold:g}"
        )


def _training_description(settings: WSOLSettings, pool: str) -> str:
    """What a checkpoint of ``pool`` records about its training (the data's own description aside)."""
    s = settings
    return (f"{s.train_size}/{s.test_size} canvases {s.canvas}x{s.canvas}, clutter {s.clutter}, "
            f"GAPNet widths {list(s.widths)} stride {s.stride}, {s.epochs_for(pool)} epochs, "
            f"batch {s.batch_size}, lr {s.lr:g}, box threshold {s.threshold:g}")


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _check_settings(settings) -> WSOLSettings:
    if not isinstance(settings, WSOLSettings):
        raise TypeError(f"settings must be a WSOLSettings (camlib.lab.wsol.settings_for(profile)), "
                        f"got {settings!r:.60}")
    return settings


# quick: ~15 s (GMP, 5 epochs) and ~30 s (GAP, 10 epochs) per network on 2 CPU cores (the
# first, full-resolution stage dominates); four stages give the last maps a 26-pixel receptive
# field, enough for GAP to tell a digit from a 10-pixel fragment (with three stages GAP reached
# ~50 % accuracy); MaxBoxAccV2 on a 0.05 grid of CAM thresholds (20 instead of 100 labellings).
QUICK = WSOLSettings(cam_step=0.05)
FULL = WSOLSettings(train_size=8000, test_size=2000, widths=(16, 32, 64, 128), epochs=12, gap_epochs=24,
                    batch_size=128, lr=5e-3)

# The changes the notebook studies, each against the base settings ("base": none).
VARIANTS: dict[str, dict] = {
    "base": {},
    "no clutter": {"clutter": 0},
    "stride 8": {"downsample": 3},
}

# Object size as an axis: ranges of the scale factor of the 28x28 item (sides of about 20-30, 40-50
# and 55-64 pixels). On one 64x64 canvas their boxes would cover about 10 %, 20-25 % and 35-50 % of
# it; on the canvases of SIZE_CANVASES about 10 %, 15 % and 15-25 % (the measured mean is in every
# row of run_experiment). A digit's box fills less of its 28x28 frame than a garment's. "small"
# MNIST is the base setting.
OBJECT_SIZES: dict[str, dict[str, tuple[float, float]]] = {
    "mnist": {"small": (0.75, 1.5), "medium": (1.5, 1.9), "large": (2.0, 2.28)},
    "fashion-mnist": {"small": (0.75, 1.05), "medium": (1.3, 1.6), "large": (2.0, 2.2)},
}

# The canvas grows with the object, so that the object can still move. An object is placed
# uniformly over every position where it fits; on a 64-pixel canvas a large one barely moves, and
# a centred Gaussian that never sees the image then boxes it better than either network
# (camlib.metrics.floors; notebook 03, section 9b). On these canvases the objects' boxes cover 10-25 % of
# the canvas and the centre prior stays far below GAP. Clutter grows with the canvas's area.
SIZE_CANVASES: dict[str, int] = {"small": 64, "medium": 80, "large": 96}
CLUTTER_PER_64X64 = 3  # fragments per 64 x 64 pixels of canvas (the base setting's clutter)


def clutter_for(canvas: int) -> int:
    """The clutter fragments of a ``canvas``-pixel canvas at the base setting's density (3 on 64 x 64)."""
    return round(CLUTTER_PER_64X64 * canvas**2 / 64**2)


def size_variants(
    datasets: Sequence[str] = ("mnist", "fashion-mnist"), *, clutter_variant: bool = True, grow_canvas: bool = True,
) -> dict[str, dict]:
    """``{"<dataset> <size>": changes}`` for every object size of ``OBJECT_SIZES``, for
    ``run_experiment``; with ``clutter_variant``, also ``"mnist small, no clutter"`` (when MNIST is asked for).

    With ``grow_canvas`` (the benchmark's axis) each size has its canvas, ``SIZE_CANVASES``, and the
    clutter of that canvas's area (``clutter_for``); without, every size is drawn on the base canvas
    (64 x 64, 3 fragments), where medium and large objects barely move (the earlier benchmark)."""
    if isinstance(datasets, str) or any(name not in OBJECT_SIZES for name in datasets):
        raise ValueError(f"datasets must be a list of {sorted(OBJECT_SIZES)}, got {datasets!r}")
    variants = {}
    for name in datasets:
        for size, scale in OBJECT_SIZES[name].items():
            changes = {"dataset": name, "scale": scale}
            if grow_canvas and SIZE_CANVASES[size] != 64:
                canvas = SIZE_CANVASES[size]
                changes.update(canvas=canvas, clutter=clutter_for(canvas))
            variants[f"{name} {size}"] = changes
    if clutter_variant and "mnist" in datasets:
        variants["mnist small, no clutter"] = {**variants["mnist small"], "clutter": 0}
    return variants


def _floor_rows(settings: WSOLSettings, variants: Mapping[str, Mapping] | None, seeds: Iterable[int],
                score) -> list[dict]:
    """One row per (variant, seed): its keys of ``run_experiment``'s rows and ``score(settings, splits)``."""
    _check_settings(settings)
    variants = {"base": {}} if variants is None else dict(variants)
    rows = []
    for name, changes in variants.items():
        varied = settings.replace(**changes)
        for seed in seeds:
            splits = make_splits(varied, seed)
            rows.append({"variant": name, "seed": seed, "canvas": varied.canvas, "clutter": varied.clutter,
                         "object_area": object_area(splits.test), **score(varied, splits)})
    return rows


def _centre_prior_scores(settings: WSOLSettings, splits: LocalizationSplits) -> dict:
    prior = fit_centre_prior(splits.train.boxes, settings.canvas, cam_step=settings.cam_step)
    return {**prior.as_dict(), **prior.evaluate(splits.test.boxes), "pxap": prior.pxap(splits.test.masks)}


def _image_floor_scores(settings: WSOLSettings, splits: LocalizationSplits) -> dict:
    test = splits.test
    images = test.pixels[:, 0].float().div(255)  # [N, 1, h, w] uint8 -> [N, h, w] in [0, 1]
    return image_floor(images, test.masks, test.boxes, threshold=settings.threshold, cam_step=settings.cam_step)


def centre_prior_rows(
    settings: WSOLSettings, variants: Mapping[str, Mapping] | None = None, seeds: Iterable[int] = (0, 1, 2),
) -> list[dict]:
    """The network-free floor of every (variant, seed): ``camlib.metrics.floors.fit_centre_prior`` fitted on the
    training canvases' boxes and scored on the test canvases, one row per pair, with the same keys as
    ``run_experiment``'s (``variant``, ``seed``, ``canvas``, ``object_area``) and ``sigma``, ``box``,
    ``point``, the metrics of ``floors.FLOOR_METRICS`` and ``pxap``. Needs no network: seconds."""
    return _floor_rows(settings, variants, seeds, _centre_prior_scores)


def image_floor_rows(
    settings: WSOLSettings, variants: Mapping[str, Mapping] | None = None, seeds: Iterable[int] = (0, 1, 2),
) -> list[dict]:
    """The other floor of every (variant, seed): the test canvases themselves used as maps
    (``camlib.metrics.floors.image_floor``: PxAP, MaxBoxAccV2, GT-known Loc at the settings' threshold,
    pointing), one row per pair with the keys of ``centre_prior_rows``' rows. No network: seconds."""
    return _floor_rows(settings, variants, seeds, _image_floor_scores)


def settings_for(profile: str | config.Profile | None = None, **changes) -> WSOLSettings:
    """The quick or full settings (``camlib.config.get_profile`` decides when ``None``), with ``changes``."""
    if not isinstance(profile, config.Profile):
        profile = config.get_profile(profile)
    return profile.pick(quick=QUICK, full=FULL).replace(**changes)


# --------------------------------------------------------------------------------------
# Data, model, training
# --------------------------------------------------------------------------------------


def make_splits(settings: WSOLSettings, seed: int = 0) -> LocalizationSplits:
    """The train and test canvases of ``settings`` for ``seed`` (``camlib.data.localization_splits``)."""
    _check_settings(settings)
    return localization_splits(
        settings.dataset, settings.train_size, settings.test_size, canvas=settings.canvas,
        scale=settings.scale, clutter=settings.clutter, fragment=settings.fragment, seed=seed,
    )


def build_network(settings: WSOLSettings, pool: str, num_classes: int = 10) -> GAPNet:
    """The network of ``settings`` with global average (``"gap"``) or max (``"gmp"``) pooling."""
    _check_settings(settings)
    return GAPNet(
        in_channels=1, num_classes=num_classes, widths=settings.widths, pool=pool,
        downsample=settings.downsample, convs_per_stage=settings.convs_per_stage,
    )


_TRAINING_FIELDS = ("dataset", "canvas", "scale", "train_size", "clutter", "fragment", "widths", "downsample",
                    "convs_per_stage", "batch_size", "lr")


def _training_key(settings: WSOLSettings, pool: str) -> str:
    values = {name: getattr(settings, name) for name in _TRAINING_FIELDS}
    values["epochs"] = settings.epochs_for(pool)  # gap_epochs changes GAP's weights only
    key = json.dumps(values, sort_keys=True)
    return hashlib.sha1(key.encode()).hexdigest()[:10]


def checkpoint_path(settings: WSOLSettings, pool: str, seed: int) -> Path:
    """``<checkpoint_dir>/wsol_<pool>_seed<seed>_<hash of the training settings>.pt``."""
    _check_settings(settings)
    if pool not in POOLINGS:
        raise ValueError(f"pool={pool!r}: use one of {sorted(POOLINGS)}")
    seed = check_int(seed, "seed")
    return config.checkpoint_dir() / f"wsol_{pool}_seed{seed}_{_training_key(settings, pool)}.pt"


class _Batches:
    """``dataset[list of indices]`` -> ``(images, labels)`` of a whole batch, for ``DataLoader(batch_size=None)``."""

    def __init__(self, dataset: CanvasDigits):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, indices):
        images, labels, _, _ = self.dataset.batch(torch.as_tensor(indices))
        return images, labels


def training_loader(settings: WSOLSettings, splits: LocalizationSplits, seed: int = 0) -> DataLoader:
    """The training canvases in shuffled batches of ``settings.batch_size``, as ``train_model`` reads them.

    Seeds every generator with ``seed`` first (``config.seed_everything``), so a network built right
    after it starts from the same weights as ``train_model``'s. Other architectures (notebook 08's
    vision transformers) train on exactly the same batches through it.
    """
    generator = config.seed_everything(seed)
    # one indexing operation per batch (CanvasDigits.batch) rather than one per canvas + collate
    sampler = BatchSampler(RandomSampler(splits.train, generator=generator), settings.batch_size, drop_last=False)
    return DataLoader(_Batches(splits.train), batch_size=None, sampler=sampler)


def train_model(
    settings: WSOLSettings,
    pool: str,
    seed: int = 0,
    *,
    splits: LocalizationSplits | None = None,
    checkpoint: bool = True,
    retrain: bool = False,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> tuple[GAPNet, dict]:
    """Train one ``GAPNet`` on image labels only; return it (in eval mode) and a record.

    The record holds the training history, ``seconds`` (wall time of this call's training or
    loading) and ``loaded`` (True when the weights came from a checkpoint).
    """
    device = config.get_device(device)
    if splits is not None and not isinstance(splits, LocalizationSplits):
        raise TypeError(f"splits must be camlib.data.LocalizationSplits (make_splits(settings, seed)), "
                        f"got {splits!r:.60}")
    splits = make_splits(settings, seed) if splits is None else splits
    loader = training_loader(settings, splits, seed)  # seeds everything, then the network's initial weights
    model = build_network(settings, pool, len(splits.classes))
    options = dict(epochs=settings.epochs_for(pool), lr=settings.lr, device=device, progress=progress)
    start = time.perf_counter()
    if checkpoint:
        source = f"{splits.train.source}; {_training_description(settings, pool)}"
        history, loaded = fit_or_load(
            checkpoint_path(settings, pool, seed), model, loader, class_names=splits.classes,
            data_source=source, retrain=retrain, **options,
        )
    else:
        history, loaded = fit(model, loader, **options).as_dict(), False
    model.to(device).eval()
    return model, {"history": history, "loaded": loaded, "seconds": time.perf_counter() - start}


# --------------------------------------------------------------------------------------
# Predictions and metrics
# --------------------------------------------------------------------------------------


@dataclass
class Predictions:
    """One pass of a model over test canvases, everything on the CPU.

    ``cams`` are the true class's CAMs upsampled to the canvas (``[N, S, S]``, raw: no ReLU, no
    normalization; boxes and regions are relative to each map's maximum anyway), ``boxes``
    their boxes at ``threshold``; ``top5`` the five best classes (``[N, 5]``, best first) and
    ``top5_boxes`` the boxes of their CAMs (``[N, 5, 4]``; ``top5_boxes[:, 0]`` is the
    predicted class's box). ``images`` are kept for figures.
    """

    images: torch.Tensor
    labels: torch.Tensor
    gt_boxes: torch.Tensor
    masks: torch.Tensor
    logits: torch.Tensor
    cams: torch.Tensor
    boxes: torch.Tensor
    top5: torch.Tensor
    top5_boxes: torch.Tensor
    threshold: float
    stride: int

    @property
    def predicted(self) -> torch.Tensor:
        return self.top5[:, 0]

    @property
    def iou(self) -> torch.Tensor:
        """IoU of the true class's box with the ground truth, ``[N]``."""
        return paired_iou(self.boxes, self.gt_boxes)

    def __len__(self) -> int:
        return self.labels.shape[0]


@torch.no_grad()
def predict(
    model: nn.Module,
    dataset: CanvasDigits,
    threshold: float = 0.2,
    *,
    batch_size: int = 250,
    device: torch.device | str | None = None,
) -> Predictions:
    """Logits, CAMs and boxes of ``model`` on every canvas of ``dataset``.

    One forward pass per batch (``model.forward_with_maps``); raw CAMs of all classes by
    ``camlib.methods.cam.class_activation_maps``; the true class's and the top-5 classes' maps
    upsampled bilinearly to the canvas (``camlib.methods.cam.upsample_cams``) and boxed by
    ``camlib.metrics.localize.bbox_from_cam`` at ``threshold`` of their maximum.
    """
    _check_predict_arguments(model, dataset, threshold, batch_size)
    device = next(model.parameters(), torch.empty(0)).device if device is None else check_device(device)
    was_training = model.training
    model.eval()
    size = (dataset.canvas, dataset.canvas)
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("logits", "cams", "top5", "top5_cams")}
    try:
        for start in range(0, len(dataset), batch_size):
            images = dataset.batch(slice(start, start + batch_size))[0].to(device)
            labels = dataset.labels[start : start + batch_size].to(device)
            logits, maps = model.forward_with_maps(images)
            if labels.numel() and int(labels.max()) >= logits.shape[1]:
                raise ValueError(
                    f"the canvases hold label {int(labels.max())} but the model has {logits.shape[1]} classes"
                )
            cams = class_activation_maps(maps, model.classifier.weight)  # [B, C, h, w]
            top5 = logits.topk(min(5, logits.shape[1]), dim=1).indices
            rows = torch.arange(len(labels), device=device)
            parts["logits"].append(logits.cpu())
            parts["cams"].append(upsample_cams(cams[rows, labels], size).cpu())
            parts["top5"].append(top5.cpu())
            parts["top5_cams"].append(upsample_cams(cams[rows[:, None], top5], size).cpu())
    finally:
        model.train(was_training)
    cams, top5, top5_cams = (torch.cat(parts[k]) for k in ("cams", "top5", "top5_cams"))
    n, k = top5.shape
    stride = getattr(model, "stride", dataset.canvas // max(1, maps.shape[-1]))
    return Predictions(
        images=dataset.pixels.float().div(255), labels=dataset.labels.clone(), gt_boxes=dataset.boxes.clone(),
        masks=dataset.masks.clone(), logits=torch.cat(parts["logits"]), cams=cams,
        boxes=bbox_from_cam(cams, threshold), top5=top5,
        top5_boxes=bbox_from_cam(top5_cams.reshape(n * k, *size), threshold).reshape(n, k, 4),
        threshold=float(threshold), stride=int(stride),
    )


def _check_predict_arguments(model, dataset, threshold, batch_size) -> None:
    if not hasattr(model, "forward_with_maps") or not isinstance(getattr(model, "classifier", None), nn.Linear):
        raise TypeError(
            f"model must be a GAP network with forward_with_maps and a linear classifier (camlib.models.GAPNet), "
            f"got {type(model).__name__}"
        )
    if not all(hasattr(dataset, name) for name in ("batch", "canvas", "labels", "boxes", "masks")):
        raise TypeError(f"dataset must be camlib.data.CanvasDigits (canvases with boxes), got {type(dataset).__name__}")
    if len(dataset) == 0:
        raise ValueError("dataset holds no canvas: there is nothing to predict")
    if not _is_number(threshold) or not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a number in [0, 1] (a fraction of each CAM's maximum), got {threshold!r}")
    check_int(batch_size, "batch_size", 1)


def _box_area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def _area_ratio(boxes: torch.Tensor, gt_boxes: torch.Tensor) -> float:
    """Mean of box area / ground-truth box area; a ground-truth box without area makes it undefined."""
    gt_area = _box_area(gt_boxes)
    if (gt_area <= 0).any():
        k = int(torch.nonzero(gt_area <= 0)[0])
        raise ValueError(
            f"the ground-truth box of canvas {k} ({gt_boxes[k].tolist()}) has no area: its area ratio is undefined"
        )
    return float((_box_area(boxes) / gt_area).mean())


# (key, label, higher is better) of every metric, in table order
METRICS: tuple[tuple[str, str, bool], ...] = (
    ("accuracy", "classification accuracy", True),
    ("top1_loc", "Top-1 Loc", True),
    ("top5_loc", "Top-5 Loc", True),
    ("gt_known_loc", "GT-known Loc", True),
    ("maxboxacc_v2", "MaxBoxAccV2", True),
    ("maxboxacc@0.3", "MaxBoxAcc (IoU 0.3)", True),
    ("maxboxacc@0.5", "MaxBoxAcc (IoU 0.5)", True),
    ("maxboxacc@0.7", "MaxBoxAcc (IoU 0.7)", True),
    ("maxboxacc_v2_max_rule", "MaxBoxAccV2, maps divided by their max (not the protocol)", True),
    ("maxboxacc_v2_wsolevaluation", "MaxBoxAccV2, wsolevaluation's box convention", True),
    ("pointing", "pointing accuracy", True),
    ("pxap", "PxAP (the map's pixels against the object's mask)", True),
    ("coverage", "extent: coverage of the object", True),
    ("precision", "extent: precision of the region", True),
    ("mean_iou", "mean IoU (true class)", True),
    ("box_area_ratio", "box area / gt box area", False),
)
_RATIOS = {"box_area_ratio"}  # not a fraction: printed as a ratio, never as a percentage


def localization_metrics(predictions: Predictions, *, cam_step: float = 0.01) -> dict[str, float]:
    """Every metric of the experiment, as Python floats (fractions in [0, 1] except the area ratio).

    ``accuracy``: top-1 classification. ``top1_loc``: right class and the predicted class's box
    at IoU >= 0.5. ``top5_loc``: the true class among the five best and its box at IoU >= 0.5.
    ``gt_known_loc``: the true class's box at IoU >= 0.5. ``maxboxacc_v2`` and
    ``maxboxacc@δ``: Choe et al.'s threshold-free box accuracy by their protocol (the true
    class's CAM min-max normalized, thresholds ``0, cam_step, ...``, camlib's max-exclusive
    boxes); ``maxboxacc_v2_max_rule``: the same with each map divided by its maximum instead
    (what camlib reported before; raw CAMs are negative off the object, so it differs);
    ``maxboxacc_v2_wsolevaluation``: the protocol with the reference code's box convention.
    ``pointing``: the true class's CAM peaks inside the box. ``pxap``: the true class's CAMs
    against the objects' masks, over every pixel of the split (``camlib.metrics.localize.pxap``), on
    MaxBoxAccV2's thresholds ``0, cam_step, ...``: the reference code, too, uses one
    ``cam_curve_interval`` for both (a coarser grid gives a coarser area: the quick profile's 0.05
    gives the image floor 59.0 % PxAP on seed 0's canvases, the 0.01 grid 56.9 %).
    ``coverage`` / ``precision``: of the object's pixels in the thresholded region / of the
    region's pixels on the object. ``mean_iou``: mean IoU of the true class's box.
    ``box_area_ratio``: mean of (that box's area / the ground-truth box's area).

    Degenerate cases: a model with fewer than 5 classes guesses every class in its "top 5", so
    ``top5_loc`` equals ``gt_known_loc`` (never NaN); a ground-truth box without area is refused.
    """
    p = _check_predictions(predictions)
    if len(p) == 0:
        raise ValueError("predictions hold no canvas: metrics over nothing are undefined")
    size = tuple(p.cams.shape[-2:])
    taus = torch.arange(0, 1, check_fraction(cam_step, "cam_step", zero=False), dtype=torch.float64)
    maxbox = max_box_acc_v2(p.cams, p.gt_boxes, cam_thresholds=taus)
    by_max = max_box_acc_v2(p.cams, p.gt_boxes, cam_thresholds=taus, normalize="max")
    reference = max_box_acc_v2(p.cams, p.gt_boxes, cam_thresholds=taus, convention="wsolevaluation")
    cover = extent(p.cams, p.masks, p.threshold)
    metrics = {
        "accuracy": float((p.predicted == p.labels).float().mean()),
        "top1_loc": top1_loc(p.predicted, p.labels, p.top5_boxes[:, 0], p.gt_boxes),
        "top5_loc": _top5_loc(p),
        "gt_known_loc": gt_known_loc(p.boxes, p.gt_boxes),
        "maxboxacc_v2": maxbox.mean,
        **{f"maxboxacc@{d:g}": v for d, v in maxbox.max_box_acc.items()},
        "maxboxacc_v2_max_rule": by_max.mean,
        "maxboxacc_v2_wsolevaluation": reference.mean,
        "pointing": pointing_accuracy(p.cams, p.gt_boxes, image_size=size),
        "pxap": pxap(p.cams, p.masks, cam_thresholds=taus).pxap,
        "coverage": cover.coverage,
        "precision": cover.precision,
        "mean_iou": float(p.iou.mean()),
        "box_area_ratio": _area_ratio(p.boxes, p.gt_boxes),
    }
    return metrics


def _check_predictions(predictions) -> Predictions:
    if not isinstance(predictions, Predictions):
        raise TypeError(f"predictions must be what camlib.lab.wsol.predict returns, got {type(predictions).__name__}")
    return predictions


def _top5_loc(p: Predictions) -> float:
    """Top-5 Loc; with fewer than 5 classes every class is guessed, so it is GT-known Loc."""
    if p.top5.shape[1] == 5:
        return top5_loc(p.top5, p.top5_boxes, p.labels, p.gt_boxes)
    return gt_known_loc(p.boxes, p.gt_boxes)


def threshold_sweep(predictions: Predictions, thresholds: Sequence[float] | None = None) -> dict[str, list[float]]:
    """GT-known Loc, mean IoU, coverage, precision and box-area ratio of the paper's box
    (largest component) at each CAM threshold; default ``0.05, 0.10, ..., 0.95``."""
    p = _check_predictions(predictions)
    if isinstance(thresholds, Real):
        thresholds = [thresholds]
    thresholds = [round(0.05 * k, 2) for k in range(1, 20)] if thresholds is None else list(thresholds)
    out: dict[str, list[float]] = {k: [] for k in ("threshold", "gt_known_loc", "mean_iou", "coverage",
                                                   "precision", "box_area_ratio")}
    for tau in thresholds:
        boxes = bbox_from_cam(p.cams, tau)
        cover = extent(p.cams, p.masks, tau)
        out["threshold"].append(float(tau))
        out["gt_known_loc"].append(gt_known_loc(boxes, p.gt_boxes))
        out["mean_iou"].append(float(paired_iou(boxes, p.gt_boxes).mean()))
        out["coverage"].append(cover.coverage)
        out["precision"].append(cover.precision)
        out["box_area_ratio"].append(_area_ratio(boxes, p.gt_boxes))
    return out


# --------------------------------------------------------------------------------------
# The experiment: pools x seeds x variants
# --------------------------------------------------------------------------------------


def run_experiment(
    settings: WSOLSettings,
    *,
    pools: Iterable[str] = ("gap", "gmp"),
    seeds: Iterable[int] = (0, 1, 2),
    variants: Mapping[str, Mapping] | None = None,
    variant_seeds: Iterable[int] | None = None,
    variant_pools: Iterable[str] | None = None,
    checkpoint: bool = True,
    retrain: bool = False,
    device: torch.device | str | None = None,
    progress: bool = True,
    keep: dict | None = None,
) -> list[dict]:
    """Train and evaluate every (variant, pool, seed); one row of plain values per network.

    ``variants`` maps a name to changes of ``settings`` (default ``{"base": {}}``); the
    ``"base"`` variant runs with ``seeds`` and ``pools``, the others with ``variant_seeds`` and
    ``variant_pools`` (defaults: the same seeds and pools). A row holds ``variant``, ``pool``,
    ``seed``, ``dataset``, ``scale``, ``object_area`` (the mean area of the test objects' boxes
    as a fraction of the canvas), ``stride``, ``clutter``, ``epochs``, every key of
    ``localization_metrics``, ``train_seconds``, ``eval_seconds`` and ``loaded``. Pass a dict as ``keep`` to receive
    ``{(variant, pool, seed): (model, predictions)}`` for figures.
    """
    _check_settings(settings)
    variants = {"base": {}} if variants is None else dict(variants)
    seeds = list(seeds)
    variant_seeds = seeds if variant_seeds is None else list(variant_seeds)
    pools = list(pools)
    variant_pools = pools if variant_pools is None else list(variant_pools)
    rows = []
    for name, changes in variants.items():
        varied = settings.replace(**changes)
        for seed in seeds if name == "base" else variant_seeds:
            splits = make_splits(varied, seed)
            for pool in pools if name == "base" else variant_pools:
                if progress:
                    print(f"[{name}] {pool.upper()} seed {seed}: ", end="", flush=True)
                model, record = train_model(varied, pool, seed, splits=splits, checkpoint=checkpoint,
                                            retrain=retrain, device=device, progress=False)
                start = time.perf_counter()
                predictions = predict(model, splits.test, varied.threshold)
                metrics = localization_metrics(predictions, cam_step=varied.cam_step)
                eval_seconds = time.perf_counter() - start
                if progress:
                    how = "loaded" if record["loaded"] else f"trained in {record['seconds']:.1f} s"
                    print(f"{how}, accuracy {metrics['accuracy']:.3f}, pointing {metrics['pointing']:.3f}, "
                          f"GT-known Loc {metrics['gt_known_loc']:.3f} (eval {eval_seconds:.1f} s)", flush=True)
                rows.append({"variant": name, "pool": pool, "seed": seed, "dataset": varied.dataset,
                             "scale": list(varied.scale), "canvas": varied.canvas,
                             "object_area": object_area(splits.test), "stride": varied.stride,
                             "clutter": varied.clutter, "epochs": varied.epochs_for(pool),
                             **metrics, "train_seconds": record["seconds"], "eval_seconds": eval_seconds,
                             "loaded": record["loaded"]})
                if keep is not None:
                    keep[(name, pool, seed)] = (model, predictions)
    return rows


def object_area(canvases: CanvasDigits) -> float:
    """The mean area of the objects' boxes as a fraction of the canvas's area."""
    return float(_box_area(canvases.boxes).mean()) / canvases.canvas**2


def summarize(rows: Sequence[Mapping], by: Sequence[str] = ("variant", "pool"),
              metrics: Sequence[str] | None = None) -> list[dict]:
    """Mean and standard deviation over seeds of each metric, per group of ``by``.

    Returns one dict per group, in first-seen order: the ``by`` keys, ``seeds`` (sorted list),
    ``n`` and, for each metric, ``{"mean": m, "std": s}``; ``s`` is the sample standard
    deviation (``ddof=1``), 0.0 for a single seed.
    """
    metrics = [key for key, _, _ in METRICS] if metrics is None else list(metrics)
    if isinstance(rows, str | Mapping) or not isinstance(rows, Iterable):
        raise TypeError(f"rows must be a list of dicts, one per trained network (run_experiment's), got {rows!r:.60}")
    groups: dict[tuple, list[Mapping]] = {}
    for index, row in enumerate(rows):
        missing = [k for k in (*by, "seed", *metrics) if k not in row]
        if missing:
            raise ValueError(f"row {index} of rows has no {missing} (it has {sorted(row)}): pass metrics=... it holds")
        groups.setdefault(tuple(row[k] for k in by), []).append(row)
    summary = []
    for key, members in groups.items():
        entry: dict = dict(zip(by, key))
        entry["seeds"] = sorted(row["seed"] for row in members)
        entry["n"] = len(members)
        for metric in metrics:
            try:
                values = np.array([math.nan if row[metric] is None else row[metric] for row in members], dtype=float)
            except (TypeError, ValueError):  # a string or a list where a number belongs
                values = np.array([row[metric] for row in members], dtype=object)
            if values.dtype != float or not np.isfinite(values).all():  # e.g. null in saved JSON: a NaN mean
                raise ValueError(f"metric {metric!r} of group {key} is missing, not a number or not finite: "
                                 f"{values.tolist()}")
            std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            entry[metric] = {"mean": float(values.mean()), "std": std}
        summary.append(entry)
    return summary


def _check_summary(summary, metrics: Sequence[str]) -> None:
    """``summary`` must be ``summarize``'s list, its entries holding ``metrics``."""
    if isinstance(summary, str | Mapping) or not isinstance(summary, Sequence):
        raise TypeError(f"summary must be the list that summarize(rows) returns, got {summary!r:.60}")
    for k, entry in enumerate(summary):
        missing = [m for m in ("n", "seeds", *metrics) if not isinstance(entry, Mapping) or m not in entry]
        if missing or not all(isinstance(entry[m], Mapping) for m in metrics):
            raise ValueError(f"summary[{k}] is not an entry of summarize(rows) with the metrics {list(metrics)} "
                             f"(missing: {missing or 'mean and std'}); pass summarize(rows, metrics=...)")


def _format(metric: str, stat: Mapping, n: int) -> str:
    if metric in _RATIOS:
        text = f"{stat['mean']:.2f}" + (f" ± {stat['std']:.2f}" if n > 1 else "")
    else:
        text = f"{100 * stat['mean']:.1f}" + (f" ± {100 * stat['std']:.1f}" if n > 1 else "")
    return text


def _group_name(entry: Mapping, by: Sequence[str]) -> str:
    parts = [str(entry[k]).upper() if k == "pool" else str(entry[k]) for k in by if k in entry]
    return " · ".join(parts)


def markdown_table(summary: Sequence[Mapping], metrics: Sequence[str] | None = None,
                   by: Sequence[str] = ("variant", "pool")) -> str:
    """Metrics as rows, groups (e.g. GAP and GMP) as columns, "mean ± std" over seeds.

    Fractions are printed in percent; the box-area ratio as a plain ratio. The header names
    each group's seeds; a column with one seed shows the value alone.
    """
    labels = {key: (label, higher) for key, label, higher in METRICS}
    metrics = [key for key, _, _ in METRICS] if metrics is None else list(metrics)
    _check_summary(summary, metrics)
    columns = [f"{_group_name(e, by)} (seeds {','.join(map(str, e['seeds']))})" for e in summary]
    lines = ["| metric (%, mean ± std over seeds) | " + " | ".join(columns) + " |",
             "|---|" + "---:|" * len(summary)]
    for metric in metrics:
        label, higher = labels.get(metric, (metric, True))
        arrow = "↑" if higher else "↓ (1 = exact)"
        cells = [_format(metric, e[metric], e["n"]) for e in summary]
        lines.append(f"| {label} {arrow} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summarize_priors(prior_rows: Sequence[Mapping]) -> list[dict]:
    """``centre_prior_rows``' rows summarized per variant: mean and spread over seeds of each floor metric,
    of the Gaussian's sigma, of the objects' area and of the canvas (what ``floor_table`` reads)."""
    with_pxap = ["pxap"] if all("pxap" in row for row in prior_rows) else []  # files before PxAP lack it
    return summarize(prior_rows, by=("variant",), metrics=[*FLOOR_METRICS, *with_pxap, "sigma", "object_area",
                                                           "canvas"])


def summarize_images(image_rows: Sequence[Mapping]) -> list[dict]:
    """``image_floor_rows``' rows summarized per variant, as ``summarize_priors`` does the prior's."""
    return summarize(image_rows, by=("variant",), metrics=[*IMAGE_FLOOR_METRICS, "object_area", "canvas"])


def size_axis_claims(summary: Sequence[Mapping], priors: Sequence[Mapping],
                     images: Sequence[Mapping] | None = None) -> dict[str, bool]:
    """Notebook 03's statements about its size axis (sections 3-13), each read from ``summary``
    (``summarize`` of the size variants), ``priors`` (``summarize_priors``) and, for the statements
    about PxAP and the image floor, ``images`` (``summarize_images``): ``{statement: holds}``.
    ``tests/library/test_wsol.py`` asserts them all on the shipped results, from which the text was written."""
    def entry(variant, pool):
        return next(e for e in summary if e["variant"] == variant and e["pool"] == pool)

    def prior_of(variant):
        return next(e for e in priors if e["variant"] == variant)

    def lead(variant, metric):  # GAP's mean minus GMP's, and the larger of their standard deviations
        gap, gmp = entry(variant, "gap")[metric], entry(variant, "gmp")[metric]
        return gap["mean"] - gmp["mean"], max(gap["std"], gmp["std"])

    def above_floor(variant, pool, metric):
        return entry(variant, pool)[metric]["mean"] - prior_of(variant)[metric]["mean"]

    every_variant = list(dict.fromkeys(e["variant"] for e in summary))
    larger = [f"{d} {s}" for d in OBJECT_SIZES for s in ("medium", "large")]
    claims = {
        "3: accuracies within about 2 points everywhere":
            all(abs(lead(v, "accuracy")[0]) <= 0.025 for v in every_variant),
        "4: the max rule narrows GAP's MaxBoxAccV2 lead on small digits":
            lead("mnist small", "maxboxacc_v2_max_rule")[0] < lead("mnist small", "maxboxacc_v2")[0] - 0.03,
        "5: small digits, 20 % rule: GMP's GT-known Loc higher, beyond the spread":
            lead("mnist small", "gt_known_loc")[0] < -lead("mnist small", "gt_known_loc")[1],
        "5: small digits: GAP's MaxBoxAccV2 higher, beyond the spread":
            lead("mnist small", "maxboxacc_v2")[0] > lead("mnist small", "maxboxacc_v2")[1],
        "7, 9: GAP covers more of the object everywhere, beyond the spread":
            all(lead(v, "coverage")[0] > lead(v, "coverage")[1] for v in every_variant),
        "9: GAP's MaxBoxAccV2 at least 10 points above the centre prior at every size":
            all(above_floor(v, "gap", "maxboxacc_v2") >= 0.10 for v in every_variant),
        "9: GMP's MaxBoxAccV2 above the centre prior at every size":
            all(above_floor(v, "gmp", "maxboxacc_v2") > 0 for v in every_variant),
        "9: one fixed pixel points right on more than half of the medium and large canvases":
            all(prior_of(v)["pointing"]["mean"] > 0.5 for v in larger),
        "9: small objects, 20 % rule: GMP wins GT-known Loc for both types": all(
            lead(f"{d} small", "gt_known_loc")[0] < -lead(f"{d} small", "gt_known_loc")[1] for d in OBJECT_SIZES),
        "9: medium and large objects, 20 % rule: GAP wins GT-known Loc": all(
            lead(v, "gt_known_loc")[0] > lead(v, "gt_known_loc")[1] for v in larger),
        "9: GMP's boxes smaller than medium and large digits' boxes":
            all(entry(f"mnist {s}", "gmp")["box_area_ratio"]["mean"] < 1 for s in ("medium", "large")),
        "9: MaxBoxAccV2: GAP ahead at every size, beyond the spread but on small garments": all(
            lead(v, "maxboxacc_v2")[0] > (0 if v == "fashion-mnist small" else lead(v, "maxboxacc_v2")[1])
            for v in every_variant),
        "4, 13: the box convention adds 2 to 6 points to MaxBoxAccV2 everywhere": all(
            0.02 <= entry(v, p)["maxboxacc_v2_wsolevaluation"]["mean"] - entry(v, p)["maxboxacc_v2"]["mean"] <= 0.06
            for v in every_variant for p in ("gap", "gmp")),
        "13: pointing at least 90 % everywhere": all(
            entry(v, p)["pointing"]["mean"] >= 0.9 for v in every_variant for p in ("gap", "gmp")),
        "10: without clutter, GT-known Loc and MaxBoxAccV2 fall for both poolings": all(
            entry("mnist small, no clutter", pool)[metric]["mean"] < entry("mnist small", pool)[metric]["mean"]
            for pool in ("gap", "gmp") for metric in ("gt_known_loc", "maxboxacc_v2")),
        "10: without clutter, GAP's box grows relative to the digit's":
            entry("mnist small, no clutter", "gap")["box_area_ratio"]["mean"]
            > entry("mnist small", "gap")["box_area_ratio"]["mean"],
    }
    if images is not None:
        claims.update(_pixel_claims(entry, prior_of, lead, images, every_variant))
    return claims


def _pixel_claims(entry, prior_of, lead, images: Sequence[Mapping], every_variant: list[str]) -> dict[str, bool]:
    """Section 9's statements about PxAP and the image floor (see ``size_axis_claims``)."""
    def image_of(variant):
        return next(e for e in images if e["variant"] == variant)

    larges = [f"{d} large" for d in OBJECT_SIZES]
    return {
        "9: the image itself beats both networks on PxAP and MaxBoxAccV2 at every size": all(
            image_of(v)[m]["mean"] > max(entry(v, p)[m]["mean"] for p in ("gap", "gmp"))
            for v in every_variant for m in ("pxap", "maxboxacc_v2")),
        "9: GAP's mean PxAP above GMP's everywhere": all(lead(v, "pxap")[0] > 0 for v in every_variant),
        "9: PxAP: the centre prior beats GMP on large objects of both types": all(
            prior_of(v)["pxap"]["mean"] > entry(v, "gmp")["pxap"]["mean"] for v in larges),
        "9: PxAP: GAP within the spread of the centre prior on large garments": (
            entry("fashion-mnist large", "gap")["pxap"]["mean"] - prior_of("fashion-mnist large")["pxap"]["mean"]
            < max(entry("fashion-mnist large", "gap")["pxap"]["std"], prior_of("fashion-mnist large")["pxap"]["std"])),
        "9: the image's brightest pixel misses the box on most cluttered canvases, hits it on every empty one": (
            all(image_of(v)["pointing"]["mean"] < 0.5 for v in every_variant if "no clutter" not in v)
            and image_of("mnist small, no clutter")["pointing"]["mean"] == 1.0),
    }


def floor_table(summary: Sequence[Mapping], floor_summary: Sequence[Mapping],
                metrics: Sequence[str] = ("maxboxacc_v2", "gt_known_loc", "pointing"),
                images: Sequence[Mapping] | None = None) -> str:
    """One row per variant: for each metric, GAP / GMP / the centre prior (``centre_prior_rows``
    summarized by variant), mean over seeds in %, and GAP's margin over the prior; the canvas and the
    object's box area beside them. The prior never sees the image: a margin near 0 means the metric
    cannot tell this network from a map that knows only where objects usually are. ``images``
    (``summarize_images``) adds the image itself as a fourth map."""
    _check_summary(summary, metrics)
    _check_summary(floor_summary, metrics)
    if images is not None:
        _check_summary(images, metrics)
    labels = {key: label.split(" (")[0] for key, label, _ in METRICS}
    priors = {e.get("variant", "base"): e for e in floor_summary}
    seen = {e.get("variant", "base"): e for e in images or []}
    maps = "GAP / GMP / prior" + (" / image" if images is not None else "")
    head = "| objects | canvas | box area (%) | " + " | ".join(
        f"{labels.get(m, m)}: {maps} | GAP − prior" for m in metrics) + " |"
    lines = [head, "|---|---:|---:|" + "---:|---:|" * len(metrics)]
    for variant in dict.fromkeys(e.get("variant", "base") for e in summary):
        gap, gmp, prior = _find(summary, variant, "gap"), _find(summary, variant, "gmp"), priors.get(variant)
        image = seen.get(variant)
        if gap is None or gmp is None or prior is None or (images is not None and image is None):
            continue
        canvas = next((e["canvas"]["mean"] for e in (prior, gap) if isinstance(e.get("canvas"), Mapping)), None)
        area = next((e["object_area"]["mean"] for e in (prior, gap) if isinstance(e.get("object_area"), Mapping)), None)
        cells = []
        for m in metrics:
            cells.append(" / ".join(f"{100 * e[m]['mean']:.1f}" for e in (gap, gmp, prior, image) if e is not None))
            cells.append(f"{100 * (gap[m]['mean'] - prior[m]['mean']):+.1f}")
        where = [f"{canvas:.0f}" if canvas is not None else "—", f"{100 * area:.0f}" if area is not None else "—"]
        lines.append(f"| {variant} | {where[0]} | {where[1]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# Zhou et al., CVPR 2016, Table 2: localization error (%) on ILSVRC 2014 val, top-1 / top-5.
PAPER_TABLE2: dict[str, dict[str, float]] = {
    "GoogLeNet-GAP": {"top1_loc_error": 56.40, "top5_loc_error": 43.00},
    "GoogLeNet-GMP": {"top1_loc_error": 57.78, "top5_loc_error": 45.26},
}


def paper_table(summary: Sequence[Mapping], variant: str = "base") -> str:
    """The paper's Table 2 (localization error, %) beside ours (error = 1 - accuracy)."""
    _check_summary(summary, ("top1_loc", "top5_loc"))
    lines = ["| network | data | top-1 loc. error (%) | top-5 loc. error (%) |", "|---|---|---:|---:|"]
    for name, errors in PAPER_TABLE2.items():
        lines.append(f"| {name} (paper) | ILSVRC 2014 val | {errors['top1_loc_error']:.2f} "
                     f"| {errors['top5_loc_error']:.2f} |")
    for entry in summary:
        if entry.get("variant", variant) != variant:
            continue
        cells = []
        for metric in ("top1_loc", "top5_loc"):
            stat = entry[metric]
            cells.append(f"{100 * (1 - stat['mean']):.2f}" + (f" ± {100 * stat['std']:.2f}" if entry["n"] > 1 else ""))
        lines.append(f"| GAPNet-{entry['pool'].upper()} (ours, {entry['n']} seeds) | canvas digits "
                     f"| {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def _find(summary: Sequence[Mapping], variant: str, pool: str) -> Mapping | None:
    return next((e for e in summary if e.get("variant", "base") == variant and e["pool"] == pool), None)


def higher_or_lower(summary: Sequence[Mapping], metric: str, variant: str = "base", a: str = "gap",
                    b: str = "gmp") -> str:
    """``"higher"``, ``"lower"`` or ``"tie"`` for pool ``a`` against ``b`` on ``metric``: a tie when
    the difference of means is within the larger of the two standard deviations (or, with one
    seed each, within 2 percentage points)."""
    _check_summary(summary, (metric,))
    ea, eb = _find(summary, variant, a), _find(summary, variant, b)
    if ea is None or eb is None:
        raise KeyError(f"summary has no rows for variant {variant!r} with pools {a!r} and {b!r}")
    diff = ea[metric]["mean"] - eb[metric]["mean"]
    spread = max(ea[metric]["std"], eb[metric]["std"]) if min(ea["n"], eb["n"]) > 1 else 0.02
    if abs(diff) <= spread:
        return "tie"
    return "higher" if diff > 0 else "lower"


# benchmarks/localization.py --profile quick, copied here so that notebook 03 can show the
# object-size experiment without training its 42 networks (the file names the machine and time).
SHIPPED_RESULTS = "localization_quick.json"
# the same benchmark with every object size on the 64 x 64 canvas (--fixed-canvas), the earlier axis,
# where a centre prior ties or beats both networks from medium size on: notebook 03 draws why
SHIPPED_CANVAS64 = "localization_quick_canvas64.json"


def load_results(path: str | Path | None = None, *, shipped: str = SHIPPED_RESULTS) -> dict:
    """The JSON that ``benchmarks/localization.py`` writes: rows, summary, settings, seeds (and, since
    the centre prior, ``floors`` and ``floor_summary``).

    ``path=None`` reads a copy shipped with camlib: ``shipped`` names it (``SHIPPED_RESULTS``, the
    quick profile with the canvas growing with the object, 3 seeds, or ``SHIPPED_CANVAS64``)."""
    if path is None:
        if shipped not in (SHIPPED_RESULTS, SHIPPED_CANVAS64):
            raise ValueError(f"shipped={shipped!r}: use wsol.SHIPPED_RESULTS or wsol.SHIPPED_CANVAS64")
        where = f"camlib/results/{shipped}"
        text = importlib.resources.files("camlib").joinpath("results", shipped).read_text()
    else:
        path = check_file(path)
        where, text = str(path), path.read_text()
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where} is not JSON ({error}): write it with benchmarks/localization.py --json") \
            from None
    needed = ("rows", "summary", "seeds", "settings")
    missing = [key for key in needed if not isinstance(payload, dict) or key not in payload]
    if missing:
        raise ValueError(f"{where} lacks {missing}: it is not a file of benchmarks/localization.py --json")
    return payload


def save_results(path: str | Path, payload: Mapping) -> Path:
    """Write ``payload`` as indented JSON (NaN as null; NumPy numbers and tensors as numbers and lists),
    atomically: a file already at ``path`` is replaced only once the new one is complete."""
    path = check_path(path)
    if not isinstance(payload, Mapping):
        raise TypeError(f"payload must be a dict, got {type(payload).__name__}")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder: give a file name, e.g. {path / 'results.json'}")

    def clean(value):
        if isinstance(value, torch.Tensor | np.ndarray | np.generic):
            value = value.tolist()
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, Mapping):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    def refuse(value):
        raise TypeError(f"save_results writes numbers, strings, lists and dicts; {value!r:.60} "
                        f"({type(value).__name__}) is none of them")

    text = json.dumps(clean(payload), indent=2, default=refuse) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)
    return path


build_model = build_network  # the name notebooks saved before 2026-12 call; camlib.models.build_model is another
