"""Fine-tune VGG16-GAP on ImageNet-style folders or Imagenette, on one device or many (``torchrun``).

``python -m camlib.train.finetune --help`` lists every option; ``finetune(FinetuneConfig(...))`` is the
same from Python (notebook 05). What it does:

* **Data.** An ``ImageFolder`` tree in the ILSVRC layout (``root/train/<wnid>/*.JPEG`` and,
  optionally, ``root/val/<wnid>/*.JPEG``), or ``data="imagenette"`` for
  ``torchvision.datasets.Imagenette`` (ten ImageNet classes, downloaded with ``download=True``).
  ``classes`` restricts training to some wnids (class index = position in the *sorted* list, as
  ``ImageFolder`` numbers classes); ``images_per_class`` keeps the first images of each class
  (in both splits), for quick runs.
* **Model.** ``camlib.models.vgg16_gap(weights, num_classes=len(classes), freeze_backbone)``.
* **Solver.** The SGD recipe VGG16 itself was trained with (Simonyan & Zisserman: momentum 0.9,
  weight decay 5e-4, lr 1e-2 divided by 10 in steps); the CAM paper does not give its settings. The
  learning rate follows Caffe's ``step`` policy (``torch.optim.lr_scheduler.StepLR``): times
  ``lr_gamma`` every ``lr_step_epochs`` epochs (the default 10 never decays in a run of 10 epochs
  or fewer). Cross-entropy loss. Train images: ``RandomResizedCrop`` + horizontal flip; val
  images: resize to ``256/224 * image_size`` and center crop; ImageNet normalization.
* **Speed.** On CUDA, mixed precision (``torch.autocast`` float16 + ``torch.amp.GradScaler``) and
  ``channels_last`` tensors by default; both are switches. With ``amp=True`` elsewhere, autocast
  uses bfloat16 and no scaler.
* **Many GPUs, many nodes.** Launched by ``torchrun`` (``WORLD_SIZE > 1``), every process joins a
  process group (NCCL on CUDA, gloo on CPU), wraps the model in
  ``torch.nn.parallel.DistributedDataParallel`` and reads its shard through a
  ``DistributedSampler``; ``batch_size`` is per process. Rank 0 alone shows progress bars and
  writes checkpoints; the others wait at a barrier. The group is destroyed at the end.
* **Checkpoints.** After every epoch, every ``save_every`` steps and when the run stops,
  ``output`` is written atomically (temporary file in the same folder, fsync, ``os.replace``)
  in camlib's checkpoint format, so ``camlib.train.load_checkpoint(output)`` rebuilds the
  ``VGG16GAP``; the file also holds the optimizer, scheduler and scaler state, epoch, step, this
  config and the history, all readable with ``torch.load(weights_only=True)``. Started again with
  the same ``output``, a run resumes where the file left off (mid-epoch included: the epoch's
  shuffled order is skipped up to where it stopped). ``epochs`` and ``max_steps`` count from the
  start of training, not from the resume. Under several nodes, ``output`` must lie on storage that
  every node sees (resuming reads it on every rank).

Every setting is checked before anything is built, read or downloaded (``check_config``; on the command
line an argparse error naming the option): a negative learning rate, an unknown weights name or an
output folder that cannot be written costs a second, not a training run. ``weights`` given by name go
through ``camlib.models.pretrained`` (torch's cache, hash-checked, else a download that times out after
``download_timeout`` seconds of silence and says which file to put where); the file is then read with
``weights_only=True``. A file at ``output`` that cannot be resumed is refused and left as it is.

Resuming restores the optimizer and the schedule as stored; learning-rate options given again
are not re-applied (only ``lr_step_epochs`` and ``lr_gamma`` are). Random augmentation is not
replayed bit for bit after a resume.
"""

from __future__ import annotations

import argparse
import difflib
import http.client
import itertools
import math
import os
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, fields
from numbers import Integral, Real
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Subset
from torch.utils.data.distributed import DistributedSampler
from torchvision import datasets
from torchvision.models import VGG16_Weights
from torchvision.transforms import v2
from tqdm.auto import tqdm

from camlib._checks import check_device, check_int, is_int
from camlib.config import data_root, get_device, seed_everything
from camlib.data.digits import DataNotFoundError
from camlib.data.download import network_timeout
from camlib.data.photos import IMAGENET_MEAN, IMAGENET_STD, read_rgb
from camlib.models.cnn import vgg16_gap
from camlib.models.pretrained import offline_recipe, pretrained_weights, weights_file
from camlib.train.loop import CHECKPOINT_FORMAT, save_checkpoint

__all__ = [
    "FinetuneConfig", "FinetuneError", "FinetuneResult", "check_config", "finetune", "image_transforms", "main",
    "maybe_autocast", "precision", "train_step",
]

FINETUNE_ARCHITECTURES = {"vgg16_gap": vgg16_gap}
"""``architecture`` names -> builders taking ``weights``, ``num_classes`` and ``freeze_backbone``."""
IMAGENETTE_SIZES = ("full", "320px", "160px")
EXPECTED_LAYOUT = (
    "an ImageFolder tree in the ILSVRC layout: <data>/train/<wnid>/*.JPEG (one folder per class) and, "
    "optionally, <data>/val/<wnid>/*.JPEG with the same class folders"
)


class FinetuneError(ValueError):
    """A configuration that cannot run: unknown class or architecture, a checkpoint for another model."""


@dataclass
class FinetuneConfig:
    """Everything one fine-tuning run needs; ``main`` maps its command-line options 1:1 onto these fields."""

    data: str | Path
    """An ImageFolder root holding ``train/`` (and optionally ``val/``) class folders, or ``"imagenette"``."""
    output: str | Path
    """Checkpoint file: written atomically, and resumed from when it exists."""
    architecture: str = "vgg16_gap"
    weights: str | None = None
    """torchvision VGG16 weights name ("DEFAULT", "IMAGENET1K_V1"), a local VGG16 state-dict path, or None."""
    classes: list[str] | None = None
    """wnids (class folder names) to train on; None = all. Class i is the i-th of them in sorted order."""
    images_per_class: int | None = None
    """Keep only the first this-many images of each class (train and val), for quick runs."""
    epochs: int = 1
    max_steps: int | None = None
    """Stop once this many optimizer steps are done in all (counting steps before a resume)."""
    batch_size: int = 32
    """Images per step and per process: the global batch is ``batch_size * WORLD_SIZE``."""
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_step_epochs: int = 10
    """Caffe's ``step`` policy: the learning rate is multiplied by ``lr_gamma`` every this many epochs."""
    lr_gamma: float = 0.1
    image_size: int = 224
    workers: int = 2
    """DataLoader worker processes per training process (0 loads in the training process)."""
    freeze_backbone: bool = False
    amp: bool | None = None
    """Mixed precision; None = on when the device is CUDA."""
    channels_last: bool | None = None
    """channels_last memory format for the model and its inputs; None = on when the device is CUDA."""
    seed: int = 0
    device: str | None = None
    """None = ``camlib.config.get_device()``; under torchrun with CUDA, ``cuda:LOCAL_RANK``."""
    progress: bool = True
    """tqdm bars and one line per epoch, on rank 0 only."""
    root: str | Path | None = None
    """With ``data="imagenette"``: where Imagenette lives or goes (default ``camlib.config.data_root()``)."""
    download: bool = False
    """With ``data="imagenette"``: download it (torchvision checks the archive's md5) when it is missing."""
    imagenette_size: str = "320px"
    """Imagenette's image size: "full", "320px" (default; enough for 224-pixel crops) or "160px"."""
    download_timeout: float = 30.0
    """Seconds a silent server may stall a download (VGG16 weights, Imagenette) before it counts as failed."""
    save_every: int | None = None
    """Also write the checkpoint every this many optimizer steps (long epochs, preemptible machines)."""


@dataclass
class FinetuneResult:
    model: nn.Module
    """The trained network, unwrapped from DDP, in eval mode, on the training device."""
    history: list[dict]
    """One dict per epoch (an unfinished epoch's has ``complete=False``): ``epoch``, ``steps``, ``loss``,
    ``accuracy``, ``val_loss``/``val_accuracy`` (None without ``val/``), ``images_per_second``, ``seconds``."""
    checkpoint: Path
    steps: int
    """Optimizer steps done in all, including those before a resume."""
    class_names: list[str] = field(default_factory=list)
    resumed_from_step: int = 0
    """The step the checkpoint held when this run started (0 for a fresh run)."""


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------


def image_transforms(image_size: int, train: bool) -> v2.Compose:
    """Train: ``RandomResizedCrop`` + flip. Eval: resize to ``256/224 * image_size``, center crop. Both normalize."""
    image_size = check_int(image_size, "image_size", minimum=1)
    if train:
        head = [v2.RandomResizedCrop(image_size, antialias=True), v2.RandomHorizontalFlip()]
    else:
        head = [v2.Resize(round(image_size * 256 / 224), antialias=True), v2.CenterCrop(image_size)]
    return v2.Compose(
        [*head, v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    )


class _ChosenClassesFolder(datasets.ImageFolder):
    """``ImageFolder`` over the given class folders only, numbered in that order (other folders are not read)."""

    def __init__(self, root, classes: list[str], **kwargs):
        self._chosen = list(classes)
        super().__init__(root, **kwargs)

    def find_classes(self, directory):
        return list(self._chosen), {name: index for index, name in enumerate(self._chosen)}


class _Relabel:
    """target_transform: original class index -> index among the chosen classes."""

    def __init__(self, mapping: dict[int, int]):
        self.mapping = mapping

    def __call__(self, target: int) -> int:
        return self.mapping[target]


def _choose_classes(available: list[str], wanted, where: str) -> list[str]:
    if wanted is None:
        return sorted(available)
    if isinstance(wanted, str):
        wanted = [name for name in wanted.split(",") if name.strip()]
    wanted = [name.strip() for name in wanted]
    if not wanted:
        raise FinetuneError("classes is empty: give at least one class (wnid), or None for all")
    if len(set(wanted)) != len(wanted):
        raise FinetuneError(f"classes names a class twice: {wanted}")
    unknown = [name for name in wanted if name not in available]
    if unknown:
        hints = {name: difflib.get_close_matches(name, available, n=1) for name in unknown}
        close = "; ".join(f"{name!r} -> did you mean {hint[0]!r}?" for name, hint in hints.items() if hint)
        shown = ", ".join(sorted(available)[:8]) + (f", ... ({len(available)} in all)" if len(available) > 8 else "")
        raise FinetuneError(
            f"unknown class{'es' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: {where} "
            f"has {shown}" + (f". {close}" if close else "")
        )
    return sorted(wanted)


def _first_per_class(targets: list[int], cap: int | None, keep: set[int] | None = None) -> list[int] | None:
    """Indices of the first ``cap`` samples of each class in ``keep`` (None: all), or None if nothing is dropped."""
    if cap is None and keep is None:
        return None
    seen: dict[int, int] = {}
    chosen = []
    for index, target in enumerate(targets):
        if (keep is None or target in keep) and (cap is None or seen.get(target, 0) < cap):
            seen[target] = seen.get(target, 0) + 1
            chosen.append(index)
    return chosen


def _subset(dataset: Dataset, indices: list[int] | None) -> Dataset:
    return dataset if indices is None else Subset(dataset, indices)


def _check_train_folder(root: Path) -> None:
    if not (root / "train").is_dir():
        found = "does not exist" if not root.exists() else (
            f"has no train/ folder (it holds: {_listing(root)})" if root.is_dir() else "is a file, not a folder")
        raise DataNotFoundError(
            f"{root} {found}. camlib.train.finetune reads {EXPECTED_LAYOUT}. "
            "For a ready-made ten-class subset of ImageNet, pass data='imagenette' with download=True "
            "(command line: --data imagenette --download), which fetches torchvision.datasets.Imagenette; "
            "camlib.data.ilsvrc.write_synthetic_ilsvrc(root) writes a tiny offline stand-in in this layout."
        )


def _folder(directory: Path, classes: list[str], train: bool, image_size: int) -> datasets.ImageFolder:
    try:
        return _ChosenClassesFolder(directory, classes, transform=image_transforms(image_size, train=train),
                                    loader=read_rgb)
    except FileNotFoundError as error:  # a class folder without any image file
        raise DataNotFoundError(f"{directory}: {error}. Every class folder needs at least one image") from None


def _image_folders(config: FinetuneConfig) -> tuple[Dataset, Dataset | None, list[str], str]:
    root = Path(config.data).expanduser()
    train_dir, val_dir = root / "train", root / "val"
    _check_train_folder(root)
    available = sorted(entry.name for entry in os.scandir(train_dir) if entry.is_dir())
    if not available:
        raise DataNotFoundError(f"{train_dir} holds no class folders: camlib.train.finetune reads {EXPECTED_LAYOUT}")
    classes = _choose_classes(available, config.classes, f"{train_dir}")
    train = _folder(train_dir, classes, True, config.image_size)
    train = _subset(train, _first_per_class(train.targets, config.images_per_class))
    val = None
    if val_dir.is_dir():
        if not any(entry.is_dir() for entry in os.scandir(val_dir)):
            raise DataNotFoundError(
                f"{val_dir} holds no class folders. The ILSVRC validation images ship in one flat folder: sort "
                "them into val/<wnid>/ (the wnid of each image is in LOC_val_solution.csv or the box XML files), "
                "or move val/ away to train without held-out accuracy."
            )
        missing = [name for name in classes if not (val_dir / name).is_dir()]
        if missing:
            raise DataNotFoundError(
                f"{val_dir} lacks the class folders {', '.join(missing[:8])}"
                f"{' ...' if len(missing) > 8 else ''}: val/ must hold a folder for every class that train/ has"
            )
        val = _folder(val_dir, classes, False, config.image_size)
        val = _subset(val, _first_per_class(val.targets, config.images_per_class))
    return train, val, classes, f"ImageFolder {root.resolve()}"


def _listing(folder: Path, limit: int = 6) -> str:
    names = sorted(entry.name for entry in os.scandir(folder))
    return ", ".join(names[:limit]) + (" ..." if len(names) > limit else "") if names else "nothing"


def _imagenette(config: FinetuneConfig, rank_first) -> tuple[Dataset, Dataset, list[str], str]:
    if config.imagenette_size not in IMAGENETTE_SIZES:
        raise FinetuneError(f"imagenette_size={config.imagenette_size!r}: use one of {IMAGENETTE_SIZES}")
    root = Path(config.root).expanduser() if config.root is not None else data_root()
    url = datasets.Imagenette._ARCHIVES[config.imagenette_size][0]
    splits = {}
    for split in ("train", "val"):
        try:
            with rank_first(), network_timeout(config.download_timeout):  # one download per node, with a timeout
                splits[split] = datasets.Imagenette(
                    root, split=split, size=config.imagenette_size, download=config.download,
                    transform=image_transforms(config.image_size, train=split == "train"), loader=read_rgb,
                )
        except (OSError, RuntimeError, http.client.HTTPException) as error:  # no network, timeout, bad md5
            if not config.download:
                raise DataNotFoundError(
                    f"Imagenette ({config.imagenette_size}) is not under {root} ({error}). Pass download=True "
                    "(command line: --download) to fetch it there with torchvision.datasets.Imagenette "
                    "(320px: about 330 MB), or root=... (--root) where it already is."
                ) from None
            raise DataNotFoundError(
                f"could not download Imagenette ({config.imagenette_size}) to {root} ({type(error).__name__}: "
                f"{error}). To work offline, download {url} and extract it into {root} (it unpacks to "
                f"{Path(url).stem}/train and {Path(url).stem}/val)"
            ) from None
    train, val = splits["train"], splits["val"]
    classes = _choose_classes(list(train.wnids), config.classes, f"Imagenette under {root}")
    keep = {train.wnid_to_idx[name]: index for index, name in enumerate(classes)}
    parts = []
    for dataset in (train, val):
        if len(classes) < len(train.wnids):
            dataset.target_transform = _Relabel(keep)
        # Imagenette keeps its (path, class index) list in ``_samples``; reading it avoids decoding every image.
        targets = [target for _, target in dataset._samples]
        subset_keep = set(keep) if len(classes) < len(train.wnids) else None
        parts.append(_subset(dataset, _first_per_class(targets, config.images_per_class, subset_keep)))
    return parts[0], parts[1], classes, f"Imagenette {config.imagenette_size} under {root.resolve()}"


class _ResumableSampler(DistributedSampler):
    """A ``DistributedSampler`` that can skip the first ``skip`` indices of its shard (resuming mid-epoch).

    One class for every run: with one process it is built with ``num_replicas=1, rank=0`` and
    shuffles the whole data set each epoch, seeded by ``seed + epoch``.
    """

    skip = 0

    def __iter__(self):
        return itertools.islice(super().__iter__(), self.skip, None)

    def __len__(self) -> int:
        return self.num_samples - self.skip


# --------------------------------------------------------------------------------------
# Processes and devices
# --------------------------------------------------------------------------------------


@dataclass
class _Context:
    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    owns_group: bool

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def local_first(self):
        """A context in which the first process of each node runs before the others (downloads, caches)."""
        context = self

        class _First:
            def __enter__(self):
                if context.distributed and context.local_rank != 0:
                    dist.barrier()

            def __exit__(self, *exc):
                if context.distributed and context.local_rank == 0:
                    dist.barrier()
                return False

        return _First()


def _start(config: FinetuneConfig) -> _Context:
    """Join the torchrun process group when launched by torchrun; choose the device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = get_device(config.device)
    if device.type == "cuda" and device.index is None and world_size > 1:
        device = torch.device("cuda", local_rank)
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)  # NCCL and unindexed .to("cuda") calls then use this process's GPU
    owns_group = False
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        owns_group = True
    if dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
    return _Context(rank, local_rank, world_size, device, owns_group)


# --------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------


def train_step(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    autocast_dtype: torch.dtype | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step (autocast when ``autocast_dtype`` is given); returns the loss and logits, detached.

    ``benchmarks/gpu_throughput.py`` times exactly this function.
    """
    with maybe_autocast(images.device, autocast_dtype):
        logits = model(images)
        loss = F.cross_entropy(logits, labels)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.detach(), logits.detach()


def maybe_autocast(device: torch.device, dtype: torch.dtype | None):
    """``torch.autocast`` to ``dtype`` on ``device``, or nothing when ``dtype`` is None (float32)."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def precision(device: torch.device, amp: bool | None) -> tuple[torch.dtype | None, torch.amp.GradScaler]:
    """The autocast dtype (None: float32) and the grad scaler for ``amp`` on ``device``.

    CUDA: float16 with a ``GradScaler``; other devices: bfloat16, no scaling needed.
    """
    device = check_device(device)
    amp = device.type == "cuda" if amp is None else amp
    dtype = (torch.float16 if device.type == "cuda" else torch.bfloat16) if amp else None
    return dtype, torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)


def _to(device: torch.device, memory_format: torch.memory_format, images: torch.Tensor, labels: torch.Tensor):
    non_blocking = device.type == "cuda"
    return (
        images.to(device, non_blocking=non_blocking, memory_format=memory_format),
        labels.to(device, non_blocking=non_blocking),
    )


@torch.no_grad()
def _evaluate(module, dataset, context, config, autocast_dtype, memory_format, progress) -> dict[str, float]:
    """Mean loss and accuracy over ``dataset``; each rank reads every WORLD_SIZE-th image, so none counts twice."""
    shard = Subset(dataset, range(context.rank, len(dataset), context.world_size))
    loader = DataLoader(shard, batch_size=config.batch_size, shuffle=False, num_workers=config.workers,
                        pin_memory=context.device.type == "cuda")
    sums = torch.zeros(3, dtype=_sum_dtype(context.device), device=context.device)  # loss, correct, images
    module.eval()
    for images, labels in tqdm(loader, desc="val", leave=False, disable=not progress):
        images, labels = _to(context.device, memory_format, images, labels)
        with maybe_autocast(context.device, autocast_dtype):
            logits = module(images)
        sums[0] += F.cross_entropy(logits.float(), labels, reduction="sum")
        sums[1] += (logits.argmax(1) == labels).sum()
        sums[2] += labels.numel()
    module.train()
    if context.distributed:
        dist.all_reduce(sums)
    loss, correct, count = sums.tolist()
    return {"val_loss": loss / count, "val_accuracy": correct / count}


def _sum_dtype(device: torch.device) -> torch.dtype:
    return torch.float64 if device.type in ("cpu", "cuda") else torch.float32


def _plain_config(config: FinetuneConfig) -> dict:
    # Paths and weights enums as text: the checkpoint must load with weights_only=True.
    return {key: str(value) if isinstance(value, (Path, VGG16_Weights)) else value
            for key, value in asdict(config).items()}


def _columns(records: list[dict]) -> dict[str, list]:
    """The epoch records as ``camlib.train.History``'s lists (finished epochs only), for ``load_checkpoint`` readers."""
    done = [r for r in records if r["complete"]]
    return {
        "train_loss": [r["loss"] for r in done],
        "train_accuracy": [r["accuracy"] for r in done],
        "val_loss": [r["val_loss"] for r in done if r["val_loss"] is not None],
        "val_accuracy": [r["val_accuracy"] for r in done if r["val_accuracy"] is not None],
        "seconds": [r["seconds"] for r in done],
        "images_per_second": [r["images_per_second"] for r in done],
    }


_PARTIAL_KEYS = {"loss", "accuracy", "images", "seconds", "steps"}
_RESUME_KEYS = ("architecture", "config", "state_dict", "class_names", "optimizer", "scheduler", "scaler", "epoch",
                "step", "epoch_samples", "epoch_records")


def _read_checkpoint(path: Path) -> dict:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated, foreign or code-carrying pickles all land here
        message = str(error).strip().splitlines()[0] if str(error).strip() else "no message"
        raise FinetuneError(
            f"{path} exists but is not a checkpoint readable with weights_only=True ({type(error).__name__}: "
            f"{message}); it is left as it is: move it away or choose another --output to start afresh"
        ) from None
    missing = [key for key in _RESUME_KEYS if key not in payload] if isinstance(payload, dict) else list(_RESUME_KEYS)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT or missing:
        raise FinetuneError(
            f"{path} exists but is not a camlib.train.finetune checkpoint "
            f"(it lacks {', '.join(missing[:4]) or 'the format'}"
            "), so there is nothing to resume; it is left as it is: move it away or choose another --output"
        )
    return payload


def _vgg16_member(weights) -> VGG16_Weights | None:
    """The ``VGG16_Weights`` member that ``weights`` names ("DEFAULT", "VGG16_Weights.DEFAULT"), else None."""
    if isinstance(weights, VGG16_Weights):
        return weights
    name = str(weights).removeprefix("VGG16_Weights.")
    return VGG16_Weights[name] if name in VGG16_Weights.__members__ else None


def _vgg16_file(weights, timeout: float) -> Path | None:
    """The local file the backbone's weights come from. torchvision names go through camlib.models.pretrained: its cache
    (hash-checked), else a download with a timeout; the file is then read with weights_only=True by vgg16_gap."""
    if weights is None:
        return None
    member = _vgg16_member(weights)
    if member is None:
        return Path(weights).expanduser()
    choice = pretrained_weights(member, timeout=timeout, verbose=False)
    if choice.weights is None:
        raise FinetuneError(
            f"could not get the VGG16 weights {member} ({choice.reason}). To work offline, {offline_recipe(member)}, "
            "or pass --weights with the path of a VGG16 state dict; without --weights the backbone starts from "
            "random weights"
        )
    return weights_file(member)


def _check_resumable(payload: dict, path: Path, architecture: str, model_config: dict, classes: list[str]) -> None:
    differences = []
    if payload["architecture"] != architecture:
        differences.append(f"architecture {payload['architecture']} (asked: {architecture})")
    if payload["class_names"] != classes:
        stored, asked = payload["class_names"], classes
        only_stored, only_asked = sorted(set(stored) - set(asked)), sorted(set(asked) - set(stored))
        detail = f"{len(stored)} classes (asked: {len(asked)})"
        if only_stored:
            detail += f"; only in the checkpoint: {', '.join(only_stored[:5])}{' ...' if len(only_stored) > 5 else ''}"
        if only_asked:
            detail += f"; only asked for: {', '.join(only_asked[:5])}{' ...' if len(only_asked) > 5 else ''}"
        differences.append(detail)
    for key, value in model_config.items():
        if key != "num_classes" and payload["config"].get(key) != value:
            differences.append(f"{key}={payload['config'].get(key)!r} (asked: {value!r})")
    if differences:
        raise FinetuneError(
            f"cannot resume from {path}: it holds {'; '.join(differences)}. "
            "Delete it or choose another --output to start afresh."
        )


@contextmanager
def _unfit_checkpoint(path: Path):
    """Errors from restoring a checkpoint's state (a damaged or foreign file) as one FinetuneError naming it."""
    try:
        yield
    except (KeyError, ValueError, RuntimeError, TypeError, IndexError, AttributeError) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else "no message"
        raise FinetuneError(
            f"cannot resume from {path}: its saved state does not fit this run ({type(error).__name__}: {detail}); "
            "it is left as it is: move it away or choose another --output to start afresh"
        ) from None


def _resume_point(context: _Context, path: Path) -> dict | None:
    """Rank 0 decides whether to resume and tells the others, so that no rank resumes alone."""
    decision = [path.is_file()]
    if context.distributed:
        dist.broadcast_object_list(decision, src=0)
    if not decision[0]:
        return None
    if not path.is_file():
        raise FileNotFoundError(
            f"rank {context.rank} cannot see {path}, which rank 0 resumes from: put --output on storage that "
            "every node sees"
        )
    return _read_checkpoint(path)


def finetune(config: FinetuneConfig) -> FinetuneResult:
    """Fine-tune ``config.architecture`` as configured; resume from ``config.output`` when it exists.

    Run by ``torchrun``, every process calls this; each returns the same trained model.

    Raises:
        FinetuneError: a setting that cannot work (checked before anything is built, read or downloaded),
            weights that cannot be had, a checkpoint at ``output`` that cannot be resumed (it is left as it is).
        DataNotFoundError: no data where ``data`` says, or an image that cannot be read.
    """
    check_config(config)
    context = _start(config)
    try:
        return _finetune(config, context)
    finally:
        if context.owns_group:
            dist.destroy_process_group()


def _option(name: str) -> str:
    return f"{name} (--{name.replace('_', '-')})"


def _check_number(config: FinetuneConfig, name: str, kind: type, low: float, strict: bool = False,
                  optional: bool = False) -> None:
    value = getattr(config, name)
    if optional and value is None:
        return
    numeric = is_int(value) if kind is Integral else (  # NaN and inf pass comparisons silently
        isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value))
    if not numeric or value < low or (strict and value == low):
        what = "an integer" if kind is Integral else "a number"
        bound = "" if low == -math.inf else f" {'>' if strict else '>='} {low}"
        raise FinetuneError(f"{_option(name)} must be {what}{bound}{' or None' if optional else ''}, got {value!r}")


def _check_device(name) -> None:
    if name is not None:
        try:
            check_device(name, _option("device"))
        except ValueError as error:  # also ArgumentTypeError
            raise FinetuneError(str(error)) from None


def _check_weights(weights) -> None:
    if weights is None or _vgg16_member(weights) is not None:
        return
    if not isinstance(weights, (str, os.PathLike)):
        raise FinetuneError(f"{_option('weights')}={weights!r}: use None, a VGG16_Weights name or a file path")
    if not Path(weights).expanduser().is_file():
        names = list(VGG16_Weights.__members__)
        close = difflib.get_close_matches(str(weights).removeprefix("VGG16_Weights.").upper(), names, n=1)
        raise FinetuneError(
            f"{_option('weights')}={str(weights)!r} is neither a name of torchvision's VGG16 weights ("
            f"{', '.join(names)}) nor an existing file" + (f": did you mean {close[0]!r}?" if close else "")
        )


def _check_output(output) -> None:
    """The checkpoint's folder must take a new file now, not after hours of training."""
    if not isinstance(output, (str, os.PathLike)) or not str(output):
        raise FinetuneError(f"{_option('output')}={output!r}: give the path of the checkpoint file to write")
    path = Path(output).expanduser()
    if path.is_dir():
        raise FinetuneError(f"{_option('output')}={str(output)!r} is a folder: give a file name in it, e.g. "
                            f"{path / 'vgg16_gap.pt'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as error:
        raise FinetuneError(f"{_option('output')}: cannot write a checkpoint in {path.parent} ({type(error).__name__}"
                            f": {error.strerror or error}); choose a folder you can write to") from None


def check_config(config: FinetuneConfig) -> None:
    """Every setting checked before anything is built, read or downloaded: a mistake costs a second, not a run.

    Raises ``FinetuneError`` (``DataNotFoundError`` for a missing data folder) naming the setting, its
    command-line option and what would work.
    """
    if not isinstance(config, FinetuneConfig):
        raise TypeError(f"finetune takes a FinetuneConfig, got {type(config).__name__}")
    if config.architecture not in FINETUNE_ARCHITECTURES:
        raise FinetuneError(f"unknown {_option('architecture')} {config.architecture!r}: use one of "
                            f"{sorted(FINETUNE_ARCHITECTURES)}")
    if config.imagenette_size not in IMAGENETTE_SIZES:
        raise FinetuneError(f"{_option('imagenette_size')}={config.imagenette_size!r}: use one of {IMAGENETTE_SIZES}")
    for name in ("epochs", "batch_size", "lr_step_epochs"):
        _check_number(config, name, Integral, 1)
    _check_number(config, "image_size", Integral, 16)  # VGG16-GAP's stride: smaller inputs have no map cell
    _check_number(config, "workers", Integral, 0)
    _check_number(config, "seed", Integral, -(2**63))
    if config.seed >= 2**64:
        raise FinetuneError(f"{_option('seed')}={config.seed} is out of range: use an integer in [-2**63, 2**64)")
    for name in ("freeze_backbone", "download", "progress", "amp", "channels_last"):
        value = getattr(config, name)
        if not isinstance(value, bool) and not (value is None and name in ("amp", "channels_last")):
            raise FinetuneError(f"{_option(name)}={value!r}: use True or False"
                                + (" (or None: on with CUDA)" if name in ("amp", "channels_last") else ""))
    for name in ("max_steps", "images_per_class", "save_every"):
        _check_number(config, name, Integral, 1, optional=True)
    for name in ("lr", "lr_gamma", "download_timeout"):
        _check_number(config, name, Real, 0, strict=True)
    for name in ("momentum", "weight_decay"):
        _check_number(config, name, Real, 0)
    classes = config.classes
    if classes is not None and not isinstance(classes, str) and not (
            isinstance(classes, (list, tuple)) and all(isinstance(name, str) for name in classes)):
        raise FinetuneError(f"{_option('classes')}={classes!r}: give a list of wnids (class folder names), or None")
    if classes is not None and not [name for name in (classes.split(",") if isinstance(classes, str) else classes)
                                    if name.strip()]:
        raise FinetuneError(f"{_option('classes')} is empty: give at least one class (wnid), or None for all")
    _check_device(config.device)
    _check_weights(config.weights)
    if not isinstance(config.data, (str, os.PathLike)) or not str(config.data):
        raise FinetuneError(f"{_option('data')}={config.data!r}: give an ImageFolder root or 'imagenette'")
    if str(config.data).lower() != "imagenette":
        _check_train_folder(Path(config.data).expanduser())
    _check_output(config.output)
    root = config.root
    if root is not None and (not isinstance(root, str | os.PathLike) or Path(root).expanduser().is_file()):
        raise FinetuneError(f"{_option('root')}={root!r}: give a folder (or None), not a file")


@dataclass
class _Run:
    """What one fine-tuning run carries from step to step, and into its checkpoint."""

    config: FinetuneConfig
    context: _Context
    output: Path
    classes: list[str]
    source: str
    model: nn.Module
    ddp: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.StepLR
    scaler: torch.amp.GradScaler
    autocast_dtype: torch.dtype | None
    memory_format: torch.memory_format
    epoch: int = 0
    step: int = 0
    epoch_samples: int = 0
    records: list[dict] = field(default_factory=list)
    partial: dict | None = None  # the record of an epoch a checkpoint stopped in

    def finished(self) -> bool:
        return self.epoch >= self.config.epochs or (self.config.max_steps is not None
                                                    and self.step >= self.config.max_steps)


def _datasets(config: FinetuneConfig, context: _Context) -> tuple[Dataset, Dataset | None, list[str], str]:
    if str(config.data).lower() == "imagenette":
        train_set, val_set, classes, source = _imagenette(config, context.local_first)
    else:
        train_set, val_set, classes, source = _image_folders(config)
    if len(train_set) == 0:
        raise DataNotFoundError(f"{source}: no training images for the classes {classes}")
    return train_set, val_set, classes, source


def _build(config: FinetuneConfig, context: _Context, classes: list[str],
           output: Path) -> tuple[nn.Module, dict | None]:
    """The network, with the checkpoint's weights when ``output`` holds one to resume (also returned)."""
    build = FINETUNE_ARCHITECTURES[config.architecture]
    with torch.device("meta"):  # the network's name and config, without allocating or downloading anything
        shape = build(weights=None, num_classes=len(classes), freeze_backbone=config.freeze_backbone)
    payload = _resume_point(context, output)
    if payload is not None:
        with _unfit_checkpoint(output):
            _check_resumable(payload, output, type(shape).__name__, shape.config, classes)
    with context.local_first():  # pretrained weights: one download per node
        weights = None if payload is not None else _vgg16_file(config.weights, config.download_timeout)
    seed_everything(config.seed)
    try:
        model = build(weights=weights, num_classes=len(classes), freeze_backbone=config.freeze_backbone)
    except (OSError, ValueError) as error:  # a weights file that is not a VGG16 state dict: the message says so
        raise FinetuneError(str(error)) from None
    if payload is not None:
        with _unfit_checkpoint(output):
            model.load_state_dict(payload["state_dict"])
    return model, payload


def _start_run(config: FinetuneConfig, context: _Context, model: nn.Module, output: Path, classes: list[str],
               source: str) -> _Run:
    """The model on its device and in its layout, wrapped for DDP, with its optimizer, schedule and scaler."""
    device = context.device
    autocast_dtype, scaler = precision(device, config.amp)
    channels_last = device.type == "cuda" if config.channels_last is None else config.channels_last
    memory_format = torch.channels_last if channels_last else torch.preserve_format
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    model.to(device, memory_format=memory_format)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_step_epochs, gamma=config.lr_gamma)
    ddp = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None) \
        if context.distributed else model
    return _Run(config, context, output, classes, source, model, ddp, optimizer, scheduler, scaler,
                autocast_dtype, memory_format)


def _resume(run: _Run, payload: dict) -> None:
    """The optimizer, schedule, scaler and position of the checkpoint ``payload``; its unfinished epoch's
    record becomes ``run.partial``."""
    with _unfit_checkpoint(run.output):
        run.optimizer.load_state_dict(payload["optimizer"])
        run.scheduler.load_state_dict(payload["scheduler"])
        run.scheduler.step_size, run.scheduler.gamma = run.config.lr_step_epochs, run.config.lr_gamma
        if payload["scaler"] and run.scaler.is_enabled():
            run.scaler.load_state_dict(payload["scaler"])
        run.epoch, run.step = int(payload["epoch"]), int(payload["step"])
        run.epoch_samples = int(payload["epoch_samples"])
        run.records = [dict(record) for record in payload["epoch_records"]]
        if run.records and not run.records[-1]["complete"] and not _PARTIAL_KEYS <= run.records[-1].keys():
            raise KeyError("the unfinished epoch's record lacks " + ", ".join(_PARTIAL_KEYS - run.records[-1].keys()))
    if run.config.progress and run.context.main:
        print(f"resuming from {run.output}: epoch {run.epoch + 1}, step {run.step} ({run.source})", flush=True)
    run.partial = run.records.pop() if run.records and not run.records[-1]["complete"] else None


def _save(run: _Run, record: dict | None = None) -> None:
    """Rank 0 writes the checkpoint (atomically): weights, optimizer, position and history, ``record``
    (an unfinished epoch's) last; every rank waits for it."""
    if run.context.main:
        history = run.records + ([record] if record is not None else [])
        last = history[-1] if history else {}
        save_checkpoint(
            run.output, run.model, class_names=list(run.classes), data_source=run.source,
            metrics={k: last[k] for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in last},
            history=_columns(history),
            extra={"optimizer": run.optimizer.state_dict(), "scheduler": run.scheduler.state_dict(),
                   "scaler": run.scaler.state_dict(), "epoch": run.epoch, "step": run.step,
                   "epoch_samples": run.epoch_samples, "world_size": run.context.world_size,
                   "epoch_records": history, "finetune_config": _plain_config(run.config)},
        )
    run.context.barrier()


def _train_epoch(run: _Run, loader: DataLoader, sampler: _ResumableSampler) -> tuple[dict, bool]:
    """Train until the epoch ends (or ``max_steps``); its record (summed over ranks) and whether it is complete."""
    config, context, device = run.config, run.context, run.context.device
    show = config.progress and context.main
    sampler.set_epoch(run.epoch)
    sampler.skip = min(run.epoch_samples // context.world_size, sampler.num_samples)
    # Running sums for this epoch: loss * images, correct, images. An unfinished epoch's global sums
    # go to rank 0 only, so that all_reduce adds them once.
    sums = torch.zeros(3, dtype=_sum_dtype(device), device=device)
    seconds, epoch_steps = 0.0, 0
    if run.partial is not None:
        seconds, epoch_steps = run.partial["seconds"], run.partial["steps"]
        if context.main:
            sums += torch.tensor([run.partial["loss"] * run.partial["images"],
                                  run.partial["accuracy"] * run.partial["images"], run.partial["images"]],
                                 dtype=sums.dtype, device=device)
        run.partial = None
    run.ddp.train()
    bar = tqdm(loader, desc=f"epoch {run.epoch + 1}/{config.epochs}", leave=False, disable=not show,
               initial=sampler.skip // config.batch_size, total=math.ceil(sampler.num_samples / config.batch_size))
    start = time.perf_counter()
    for images, labels in bar:
        images, labels = _to(device, run.memory_format, images, labels)
        loss, logits = train_step(run.ddp, images, labels, run.optimizer, run.scaler, run.autocast_dtype)
        sums[0] += loss * labels.numel()
        sums[1] += (logits.argmax(1) == labels).sum()
        sums[2] += labels.numel()
        run.step, epoch_steps = run.step + 1, epoch_steps + 1
        run.epoch_samples += labels.numel() * context.world_size
        if show and (run.step % 10 == 0 or run.step == 1):
            bar.set_postfix(loss=f"{sums[0].item() / sums[2].item():.3f}", lr=f"{run.scheduler.get_last_lr()[0]:.2g}")
        if config.max_steps is not None and run.step >= config.max_steps:
            break
        if config.save_every and run.step % config.save_every == 0:
            seconds += _elapsed(start, device)
            _save(run, _record(sums, context, run.epoch, False, epoch_steps, seconds))
            start = time.perf_counter()
    seconds += _elapsed(start, device)
    bar.close()
    complete = run.epoch_samples // context.world_size >= sampler.num_samples
    return _record(sums, context, run.epoch, complete, epoch_steps, seconds), complete


def _report(record: dict, config: FinetuneConfig, complete: bool, step: int) -> None:
    val = f", val accuracy {record['val_accuracy']:.4f}" if record["val_accuracy"] is not None else ""
    state = "" if complete else f" (stopped at step {step}, epoch unfinished)"
    tqdm.write(f"epoch {record['epoch']}/{config.epochs}: loss {record['loss']:.4f}, train accuracy "
               f"{record['accuracy']:.4f}{val}, {record['images_per_second']:.1f} images/s{state}")


def _finetune(config: FinetuneConfig, context: _Context) -> FinetuneResult:
    """Data, network (resumed when the checkpoint is there), then epochs: train, evaluate, save."""
    output, show = Path(config.output).expanduser(), config.progress and context.main
    train_set, val_set, classes, source = _datasets(config, context)
    model, payload = _build(config, context, classes, output)
    run = _start_run(config, context, model, output, classes, source)
    if payload is not None:
        _resume(run, payload)
    resumed_from = run.step
    sampler = _ResumableSampler(train_set, num_replicas=context.world_size, rank=context.rank,
                                shuffle=True, seed=config.seed)
    loader = DataLoader(train_set, batch_size=config.batch_size, sampler=sampler, num_workers=config.workers,
                        pin_memory=context.device.type == "cuda", persistent_workers=config.workers > 0)
    if run.finished() and show:
        print(f"{output} is already trained to epoch {run.epoch}, step {run.step}: nothing to do", flush=True)
    while not run.finished():
        record, complete = _train_epoch(run, loader, sampler)
        if val_set is not None and (complete or run.finished()):
            record.update(_evaluate(model, val_set, context, config, run.autocast_dtype, run.memory_format, show))
        if complete:
            run.epoch, run.epoch_samples = run.epoch + 1, 0
            run.scheduler.step()
        run.records.append(record)
        _save(run)
        if show:
            _report(record, config, complete, run.step)
        if not complete:
            break
    model.to(memory_format=torch.contiguous_format).eval()
    return FinetuneResult(model=model, history=run.records, checkpoint=output, steps=run.step,
                          class_names=list(classes), resumed_from_step=resumed_from)


def _record(sums: torch.Tensor, context: _Context, epoch: int, complete: bool, steps: int, seconds: float) -> dict:
    """The epoch's record from this rank's running sums, added over all ranks (a collective: every rank calls it)."""
    total = sums.clone()
    if context.distributed:
        dist.all_reduce(total)
    loss_sum, correct, images = total.tolist()
    return {
        "epoch": epoch + 1, "complete": complete, "steps": steps, "images": int(images),
        "loss": loss_sum / max(images, 1), "accuracy": correct / max(images, 1),
        "val_loss": None, "val_accuracy": None,
        "images_per_second": images / seconds if seconds > 0 else 0.0, "seconds": seconds,
    }


def _elapsed(start: float, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------

EXAMPLES = """\
examples:
  # one GPU (or the CPU), two ImageNet classes of a local ILSVRC tree, ImageNet-pretrained conv layers
  python -m camlib.train.finetune --data /data/ILSVRC2012 --classes n01440764,n02102040 \\
      --weights DEFAULT --epochs 5 --output checkpoints/vgg16_gap_2cls.pt

  # Imagenette (downloaded to data/ the first time), a quick smoke run
  python -m camlib.train.finetune --data imagenette --download --weights DEFAULT \\
      --max-steps 20 --batch-size 16 --output checkpoints/vgg16_gap_imagenette.pt

  # eight GPUs on one machine: DistributedDataParallel, --batch-size is per GPU (global 8 x 64)
  torchrun --nproc_per_node=8 -m camlib.train.finetune --data /data/ILSVRC2012 --weights DEFAULT \\
      --batch-size 64 --epochs 10 --lr-step-epochs 4 --output checkpoints/vgg16_gap_imagenet.pt

  # two nodes with eight GPUs each: run on every node (same --output, on shared storage)
  torchrun --nnodes=2 --nproc_per_node=8 --rdzv-backend=c10d --rdzv-endpoint=node0.example:29500 \\
      --rdzv-id=camlab -m camlib.train.finetune --data /data/ILSVRC2012 --weights DEFAULT \\
      --output /shared/checkpoints/vgg16_gap_imagenet.pt

Run the same command again to resume from --output (the line "resuming from ..." says so).
Expected data layout: <data>/train/<wnid>/*.JPEG and, optionally, <data>/val/<wnid>/*.JPEG.
"""


def _parser() -> argparse.ArgumentParser:
    defaults = FinetuneConfig(data="", output="")
    parser = argparse.ArgumentParser(
        prog="python -m camlib.train.finetune",
        description="Fine-tune VGG16-GAP (Zhou et al., CVPR 2016) with the SGD recipe VGG16 was trained with "
        "(momentum 0.9, weight decay 5e-4, lr 1e-2 divided by 10 in steps; the CAM paper gives no settings), "
        "on one device or, "
        "through torchrun, on many GPUs and nodes (DistributedDataParallel).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    def option(name: str, help: str, **kwargs) -> None:
        default = getattr(defaults, name)
        if "action" not in kwargs:
            kwargs.setdefault("type", type(default) if default is not None else str)
        shown = "" if kwargs.get("required") or default is None else f" (default: {default})"
        parser.add_argument("--" + name.replace("_", "-"), dest=name, default=default, help=help + shown, **kwargs)

    option("data", "ImageFolder root with train/<wnid>/ (and val/<wnid>/) folders, or 'imagenette'", required=True)
    option("output", "checkpoint file: written atomically, resumed from when it exists", required=True)
    option("architecture", "network to build", choices=sorted(FINETUNE_ARCHITECTURES))
    option("weights", "torchvision VGG16 weights (DEFAULT, IMAGENET1K_V1, IMAGENET1K_FEATURES; read from torch's "
                      "cache, else downloaded with --download-timeout) or a VGG16 state-dict file; "
                      "left out: random initialization")
    parser.add_argument("--classes", type=lambda text: [c.strip() for c in text.split(",") if c.strip()],
                        default=None, help="comma-separated wnids to train on, e.g. n01440764,n02102040 (default: all)")
    option("images_per_class", "keep the first N images of each class (train and val)", type=int)
    option("epochs", "epochs in all, counting those before a resume")
    option("max_steps", "stop after this many optimizer steps in all (smoke runs)", type=int)
    option("batch_size", "images per step per process")
    option("lr", "learning rate")
    option("momentum", "SGD momentum")
    option("weight_decay", "L2 weight decay")
    option("lr_step_epochs", "multiply the learning rate by --lr-gamma every this many epochs "
                             "(no decay when it is not below --epochs)")
    option("lr_gamma", "learning-rate decay factor")
    option("image_size", "training crop side in pixels (a multiple of 16 gives whole CAM cells)")
    option("workers", "DataLoader worker processes per training process")
    option("freeze_backbone", "train only the new conv layer and the classifier", action="store_true")
    option("amp", "mixed precision (default: on with CUDA)", action=argparse.BooleanOptionalAction)
    option("channels_last", "channels_last memory format (default: on with CUDA)",
           action=argparse.BooleanOptionalAction)
    option("seed", "seed for initialization and shuffling")
    option("device", "cpu, cuda, cuda:1, mps ... (default: camlib.config.get_device(); under torchrun with CUDA, "
                     "cuda:LOCAL_RANK)")
    option("progress", "progress bars on rank 0", action=argparse.BooleanOptionalAction)
    option("root", "with --data imagenette: where Imagenette is or goes (default: camlib's data folder)")
    option("download", "with --data imagenette: download it when missing", action="store_true")
    option("imagenette_size", "Imagenette's image size", choices=IMAGENETTE_SIZES)
    option("download_timeout", "seconds a silent server may stall a download (weights, Imagenette)")
    option("save_every", "also write the checkpoint every N optimizer steps", type=int)
    missing = {f.name for f in fields(FinetuneConfig)} - {a.dest for a in parser._actions}
    if missing:  # pragma: no cover - guards the 1:1 mapping when a field is added
        raise RuntimeError(f"FinetuneConfig fields without a command-line option: {sorted(missing)}")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m camlib.train.finetune ...``: parse the options into a ``FinetuneConfig`` and run ``finetune``."""
    parser = _parser()
    config = FinetuneConfig(**vars(parser.parse_args(argv)))
    main_rank = os.environ.get("RANK", "0") == "0"
    try:
        check_config(config)  # before any model, data loader or process group exists
    except (FinetuneError, DataNotFoundError) as error:
        if not main_rank:
            raise SystemExit(2) from None
        parser.error(str(error))
    try:
        finetune(config)
    except (FinetuneError, DataNotFoundError) as error:
        if main_rank:
            print(f"camlib.train.finetune: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
