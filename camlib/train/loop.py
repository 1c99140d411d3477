"""Training, evaluation and checkpoints.

Checkpoints are plain dictionaries of tensors, strings and numbers, so they load with
``torch.load(weights_only=True)`` (no pickled code runs); they are written to a temporary
file in the same folder and moved into place with ``os.replace``, so an interrupted save
never leaves half a file behind. ``fit_or_load`` never overwrites a file it cannot read: it
moves it aside (``<name>.unreadable-<time>``) and says so before training anew.
"""

from __future__ import annotations

import inspect
import math
import numbers
import os
import re
import tempfile
import time
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from camlib._checks import ArgumentTypeError, check_device, check_int
from camlib._guards import explained_errors
from camlib.models.cnn import ARCHITECTURES, build_model, known_architectures

CHECKPOINT_FORMAT = "camlib-checkpoint/1"
_UMASK = os.umask(0)  # read the umask once, so checkpoints get the permissions any new file gets
os.umask(_UMASK)


@dataclass
class History:
    """Per-epoch training record (lists of equal length)."""

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[float]]:
        return asdict(self)


class TrainingDivergedError(ValueError, FloatingPointError):
    """The loss became NaN or infinite: the learning rate is too high or the inputs hold NaN."""


# --------------------------------------------------------------------------------------------
# fit and evaluate
# --------------------------------------------------------------------------------------------


def _check_model(model, function: str) -> None:
    if not isinstance(model, nn.Module):
        raise ArgumentTypeError(f"{function} needs a torch.nn.Module as model, got {type(model).__name__}")


def _check_loader(loader, name: str) -> int | None:
    """The number of batches (None when the loader has no length); an empty loader is an error."""
    if not hasattr(loader, "__iter__"):
        raise ArgumentTypeError(f"{name} must be an iterable of (images, labels) batches, such as a DataLoader; "
                        f"got {type(loader).__name__}")
    try:
        batches = len(loader)
    except TypeError:
        return None
    if batches == 0:
        raise ValueError(f"got an empty loader as {name} (0 batches): check the data set split and the batch size "
                         "(drop_last=True drops a data set smaller than one batch)")
    return batches


def _pair(batch, name: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch's images and labels on ``device``, refused when they are no pair of tensors or hold NaN."""
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2 and all(isinstance(t, torch.Tensor) for t in batch)):
        shown = type(batch).__name__ + (f" of {len(batch)}" if isinstance(batch, (tuple, list)) else "")
        raise ValueError(f"{name} must yield (images, labels) pairs of tensors; got a {shown}")
    images, labels = batch[0].to(device), batch[1].to(device)
    if images.is_floating_point() and not images.isfinite().all():  # NaN would also poison BatchNorm's statistics
        raise ValueError(f"{name} gave images that hold NaN or infinity: clean the data set")
    return images, labels


def _check_targets(logits: torch.Tensor, labels: torch.Tensor) -> None:
    """Cross-entropy wants class indices 0..C-1; outside that range it fails deep in torch (on a GPU,
    as a device-side assert that breaks the whole session)."""
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[0] != labels.shape[0]:
        got = f"shape {list(logits.shape)}" if isinstance(logits, torch.Tensor) else f"a {type(logits).__name__}"
        raise ValueError(f"the model must return logits [batch, classes] for {labels.shape[0]} labels; got {got}")
    if labels.dim() != 1 or labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError("labels must be a 1-D tensor of integer class indices; "
                         f"got {labels.dtype} {list(labels.shape)}")
    low, high, classes = int(labels.min()), int(labels.max()), logits.shape[1]
    if low < 0 or high >= classes:
        fix = "class indices start at 0" if low < 0 else f"build the model with num_classes >= {high + 1}"
        raise ValueError(f"labels must lie in 0..{classes - 1} (the model has {classes} classes); "
                         f"got {low if low < 0 else high}: {fix}")


def _positive(value, name: str, *, zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a number, got {value!r}")
    if not (math.isfinite(value) and (value >= 0 if zero else value > 0)):
        raise ValueError(f"{name} must be a finite number {'>= 0' if zero else '> 0'}, got {value!r}")
    return float(value)


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device | str = "cpu") -> dict[str, float]:
    """Mean cross-entropy and accuracy over ``loader``; the model's mode is restored."""
    _check_model(model, "evaluate")
    device = check_device(device)
    _check_loader(loader, "loader")
    weights = next(model.parameters(), None)
    if weights is not None and weights.device.type != device.type:  # else torch fails mid-loop on mixed devices
        raise ValueError(f"the model is on {weights.device}, but device={str(device)!r}: pass "
                         f"device={str(weights.device)!r}, or move the model with model.to(device)")
    was_training = model.training
    model.eval()
    loss_sum, correct, count = 0.0, 0, 0
    try:
        for batch in loader:
            images, labels = _pair(batch, "loader", device)
            if labels.numel() == 0:
                continue
            with explained_errors(model, images):
                logits = model(images)
            _check_targets(logits, labels)
            loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
            correct += (logits.argmax(1) == labels).sum().item()
            count += labels.numel()
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluate() got an empty loader: check the data set split")
    if not math.isfinite(loss_sum):
        raise ValueError(f"the model's loss over {count} images is {loss_sum}: its outputs hold NaN or infinity "
                         "(diverged weights, or NaN in the images)")
    return {"loss": loss_sum / count, "accuracy": correct / count}


def fit(
    model: nn.Module,
    train_loader: DataLoader,
    *,
    epochs: int,
    lr: float = 3e-3,
    weight_decay: float = 5e-4,
    val_loader: DataLoader | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> History:
    """Train with AdamW and a one-cycle learning rate; a tqdm bar per epoch.

    The one-cycle schedule (warm up, then anneal) reaches good accuracy in few epochs,
    which is what the quick profile needs. A NaN or infinite loss stops training with
    ``TrainingDivergedError`` before the weights take that step.
    """
    _check_model(model, "fit")
    epochs = check_int(epochs, "epochs", minimum=1)
    lr, weight_decay = _positive(lr, "lr"), _positive(weight_decay, "weight_decay", zero=True)
    device = check_device(device)
    steps = _check_loader(train_loader, "train_loader")
    if steps is None:  # the one-cycle schedule must know the number of steps in advance
        raise ArgumentTypeError("train_loader must have a length (a DataLoader over a map-style data set), "
                        f"got {type(train_loader).__name__}")
    if val_loader is not None:
        _check_loader(val_loader, "val_loader")  # before training, not after the first epoch
    if not any(parameter.requires_grad for parameter in model.parameters()):
        raise ValueError(f"{type(model).__name__} has no trainable parameters (none, or all with "
                         "requires_grad=False): there is nothing to fit")
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, epochs=epochs, steps_per_epoch=steps)
    history = History()
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{epochs}", leave=False, disable=not progress)
        loss, accuracy = _train_epoch(model, bar, optimizer, schedule, device, epoch)
        history.train_loss.append(loss)
        history.train_accuracy.append(accuracy)
        if val_loader is not None:
            scores = evaluate(model, val_loader, device)
            history.val_loss.append(scores["loss"])
            history.val_accuracy.append(scores["accuracy"])
        history.seconds.append(time.perf_counter() - start)
        if progress:
            val = f", held-out accuracy {history.val_accuracy[-1]:.4f}" if val_loader is not None else ""
            tqdm.write(
                f"epoch {epoch}/{epochs}: loss {history.train_loss[-1]:.4f}, "
                f"train accuracy {history.train_accuracy[-1]:.4f}{val} ({history.seconds[-1]:.1f} s)"
            )
    model.eval()
    return history


def _train_epoch(model, bar, optimizer, schedule, device, epoch: int) -> tuple[float, float]:
    """One pass over the batches; the mean loss and accuracy."""
    model.train()
    loss_sum, correct, count = 0.0, 0, 0
    for step, batch in enumerate(bar, 1):
        images, labels = _pair(batch, "train_loader", device)
        if labels.numel() == 0:  # the mean loss of no images is NaN
            continue
        with explained_errors(model, images):
            logits = model(images)
        _check_targets(logits, labels)
        loss = F.cross_entropy(logits, labels)
        if not math.isfinite(loss.item()):
            raise TrainingDivergedError(
                f"the training loss became {loss.item()} at epoch {epoch}, batch {step}: lower lr "
                f"(now {optimizer.param_groups[0]['initial_lr']:g}) or check the images for NaN"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if schedule.last_epoch < schedule.total_steps:  # a loader longer than its len() must not overrun it
            schedule.step()
        loss_sum += loss.item() * labels.numel()
        correct += (logits.argmax(1) == labels).sum().item()
        count += labels.numel()
        bar.set_postfix(loss=f"{loss_sum / count:.3f}", acc=f"{correct / count:.3f}")
    if count == 0:
        raise ValueError(f"train_loader yielded no images in epoch {epoch}: check the data set and the sampler")
    return loss_sum / count, correct / count


# --------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------


class CheckpointMismatchError(ValueError):
    """The checkpoint holds another architecture or configuration than the one asked for."""


class CheckpointUnreadableError(CheckpointMismatchError):
    """The file is no readable camlib checkpoint: truncated, foreign, of another format, or holding
    objects ``weights_only=True`` refuses. ``fit_or_load`` moves such a file aside, never over it."""


@dataclass
class Checkpoint:
    model: nn.Module
    architecture: str
    config: dict
    class_names: list[str]
    data_source: str
    metrics: dict
    history: dict


def _checkpoint_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError(f"path must be a file name (str or pathlib.Path), got {type(path).__name__}")
    if not str(path).strip():
        raise ValueError("path is empty: give the checkpoint's file name, e.g. checkpoints/model.pt")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder: give the checkpoint's file name, e.g. {path / 'model.pt'}")
    return path


def _check_camlib_model(model, function: str) -> str:
    architecture = type(model).__name__
    if architecture not in ARCHITECTURES or not hasattr(model, "config"):
        raise ArgumentTypeError(f"{function} stores camlib models ({sorted(ARCHITECTURES)}), got {architecture}")
    return architecture


def _check_labels(model: nn.Module, class_names, data_source) -> None:
    """Class names that do not fit the model would label every prediction wrongly, silently."""
    if isinstance(class_names, str) or not isinstance(class_names, (list, tuple)):
        raise ArgumentTypeError(f"class_names must be a list of strings, one per class; got {class_names!r:.80}")
    if not all(isinstance(name, str) for name in class_names):
        raise ArgumentTypeError(f"class_names must be strings; got {class_names!r:.80} (use [str(c) for c in ...])")
    classes = getattr(model, "config", {}).get("num_classes")
    if classes is not None and len(class_names) != classes:
        raise ValueError(f"{len(class_names)} class_names for a model with {classes} classes: give one name per class")
    if not isinstance(data_source, str):
        raise ArgumentTypeError(f"data_source must be a string (what the model learnt from); got {data_source!r:.80}")


def _mapping(value, name: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ArgumentTypeError(f"{name} must be a dict (or None), got {type(value).__name__}")
    return dict(value)


_OWN_KEYS = ("format", "architecture", "config", "state_dict", "class_names", "data_source", "metrics", "history")
_PLAIN = (type(None), bool, int, float, complex, str, bytes)


def _storable(value, where: str, *, scalars: bool = False):
    """``value`` with NumPy numbers and arrays (and, with ``scalars``, 0-d tensors) turned into Python
    numbers and lists, so ``torch.load(weights_only=True)`` reads it back. Anything else it could not
    read is refused here, naming ``where`` -- before a file is written, not when it is read."""
    if isinstance(value, torch.Tensor):
        return value.item() if scalars and value.ndim == 0 else value
    if isinstance(value, (np.ndarray, np.generic)):
        return _storable(value.tolist(), where)
    if type(value) in _PLAIN or isinstance(value, (torch.Size, torch.dtype, torch.device)):
        return value
    if isinstance(value, Mapping):
        items = {_storable(k, f"a key of {where}"): _storable(v, f"{where}[{k!r}]", scalars=scalars)
                 for k, v in value.items()}
        return OrderedDict(items) if isinstance(value, OrderedDict) else items
    if isinstance(value, (list, tuple)):
        items = [_storable(v, f"{where}[{i}]", scalars=scalars) for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise ArgumentTypeError(
        f"{where} is a {type(value).__name__} ({value!r:.60}), which a checkpoint read with weights_only=True "
        "cannot hold: store numbers, strings, lists, dicts or tensors instead (float(x), str(path), list(s))"
    )


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    class_names: list[str],
    data_source: str,
    metrics: dict | None = None,
    history: History | dict | None = None,
    extra: dict | None = None,
) -> Path:
    """Write model weights with everything needed to rebuild and judge them, atomically.

    NumPy numbers and arrays in ``metrics``, ``history`` and ``extra`` are stored as Python
    numbers and lists; other objects ``torch.load(weights_only=True)`` could not read back
    (sets, paths, classes) are refused with a ``TypeError`` before anything is written.
    ``extra`` adds entries that only some readers need (camlib.train.finetune stores the optimizer,
    scheduler and position there, to resume).
    """
    architecture = _check_camlib_model(model, "save_checkpoint")
    path = _checkpoint_path(path)
    extra = _mapping(extra, "extra")
    if not all(isinstance(key, str) for key in extra):
        raise ArgumentTypeError(f"extra's keys must be strings, got {list(extra)!r:.80}")
    clash = set(_OWN_KEYS) & set(extra)
    if clash:
        raise ValueError(f"extra entries {sorted(clash)} would overwrite the checkpoint's own; rename them")
    _check_labels(model, class_names, data_source)
    broken = _not_finite(model.state_dict())
    if broken:
        raise ValueError(f"{type(model).__name__} holds NaN or infinite weights ({broken[:3]}): the training diverged; "
                         f"{path} is not written (load_checkpoint would refuse it). Train again with a lower lr")
    history = history.as_dict() if isinstance(history, History) else _mapping(history, "history")
    payload = {
        "format": CHECKPOINT_FORMAT,
        "architecture": architecture,
        "config": _storable(dict(model.config), "the model's config"),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        "class_names": list(class_names),
        "data_source": data_source,
        "metrics": _storable(_mapping(metrics, "metrics"), "metrics", scalars=True),
        "history": _storable(history, "history", scalars=True),
    }
    return atomic_save(payload | _storable(extra, "extra"), path)


def _os_error(error: OSError, message: str) -> OSError:
    """The same kind of OSError (PermissionError, ...) with a message that says what to do."""
    return type(error)(error.errno, message) if error.errno is not None else type(error)(message)


def atomic_save(payload: dict, path: str | Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, fsync, then ``os.replace``: a reader
    never sees half a file, and an interrupted save leaves the old checkpoint intact. The folder
    is created when missing; objects ``weights_only=True`` could not read back are refused."""
    path = _checkpoint_path(path)
    payload = _storable(payload, "the payload")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    except OSError as error:
        raise _os_error(error, f"cannot write {path} ({error.strerror}): make {path.parent} a writable folder, "
                               "or save elsewhere (CAMLIB_CHECKPOINTS sets camlib's checkpoint folder)") from error
    try:
        with handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o666 & ~_UMASK)  # temporary files are private (0600); checkpoints need not be
        os.replace(handle.name, path)
    except BaseException as error:
        Path(handle.name).unlink(missing_ok=True)
        error.add_note(f"{path} was not written; a checkpoint already there is unchanged")
        raise
    return path


def _with_defaults(architecture: str, config: dict) -> dict:
    """Fill in constructor defaults a checkpoint predates, so adding an option keeps old files loadable."""
    if architecture not in known_architectures():
        return config
    parameters = inspect.signature(ARCHITECTURES[architecture]).parameters
    defaults = {name: p.default for name, p in parameters.items() if p.default is not inspect.Parameter.empty}
    return {**defaults, **config}


def _describe(architecture: str, config: dict) -> str:
    return f"{architecture}({', '.join(f'{k}={v!r}' for k, v in sorted(config.items()))})"


def _is_device_error(error: Exception) -> bool:
    """torch.load's complaints about a device (a CUDA tensor on a machine without CUDA), as opposed to a bad file."""
    return isinstance(error, RuntimeError) and any(word in str(error).lower() for word in ("cuda", "device", "mps"))


def _read(path: Path, map_location) -> object:
    try:
        file = open(path, "rb")
    except OSError as error:  # the file may be fine: say so rather than calling it corrupt
        raise _os_error(error, f"cannot read the checkpoint {path} ({error.strerror}): check its permissions"
                        ) from error
    with file:
        try:
            return torch.load(file, map_location=map_location, weights_only=True)
        except OSError:
            raise
        except Exception as error:
            if _is_device_error(error):
                first = str(error).strip().splitlines()[0][:300]
                raise ValueError(f"{path} holds tensors for a device this machine lacks ({first}): "
                                 "load it with map_location='cpu'") from error
            raise CheckpointUnreadableError(f"{path} is not a readable camlib checkpoint: {_why(error)}") from error


def _why(error: Exception) -> str:
    """What torch.load's error means for this file, and what to do about it."""
    refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
    if refused and refused.group(1).startswith("numpy"):
        return (f"it holds NumPy objects ({refused.group(1)}), which weights_only=True does not load (older camlib "
                "versions stored NumPy metrics this way). If you trust where it came from, read it with "
                "torch.load(path, weights_only=False) and write the model again with camlib.train.save_checkpoint")
    if refused:
        return (f"it holds pickled objects ({refused.group(1)}) that weights_only=True does not load -- a whole "
                "model saved with torch.save(model), or a file from another program")
    unpickler = re.search(r"WeightsUnpickler error:\s*(.+)", str(error))  # torch's own words are paragraphs
    detail = (unpickler.group(1) if unpickler else (str(error).strip().splitlines() or [""])[0]).strip()[:200]
    return (f"it is empty, truncated or not a torch file ({type(error).__name__}{': ' + detail if detail else ''}); "
            "fit_or_load moves such a file aside and trains again")


def _check_payload(path: Path, payload) -> None:
    if not isinstance(payload, dict) or "format" not in payload:
        raise CheckpointUnreadableError(f"{path} is not a camlib checkpoint (expected format {CHECKPOINT_FORMAT})")
    if payload["format"] != CHECKPOINT_FORMAT:
        raise CheckpointUnreadableError(f"{path} is in format {payload['format']!r}, and this camlib reads "
                                        f"{CHECKPOINT_FORMAT}: read it with the camlib version that wrote it")
    kinds = {"architecture": str, "config": dict, "state_dict": dict, "class_names": list, "data_source": str}
    wrong = [key for key, kind in kinds.items() if not isinstance(payload.get(key), kind)]
    if wrong:
        raise CheckpointUnreadableError(f"{path} is an incomplete camlib checkpoint: {wrong} missing or malformed")
    if payload["architecture"] not in known_architectures():
        raise CheckpointUnreadableError(f"{path} holds a {payload['architecture']!r}, an architecture this camlib "
                                        f"does not know ({sorted(ARCHITECTURES)}): update camlib")


def _rebuild(path: Path, architecture: str, config: dict) -> nn.Module:
    try:
        return build_model(architecture, config)
    except (TypeError, ValueError) as error:  # an option this camlib lacks, or a value it refuses
        raise CheckpointUnreadableError(f"{path}: its configuration {_describe(architecture, config)} does not "
                                        f"build with this camlib ({error}); another version wrote it") from error


def _check_weights(path: Path, model: nn.Module, state: dict) -> None:
    """Refuse weights that do not fit before copying any: load_state_dict would stop half-way through."""
    own = model.state_dict()
    missing, unexpected = sorted(own.keys() - state.keys()), sorted(state.keys() - own.keys())
    misshapen = sorted(k for k in own.keys() & state.keys()
                       if not isinstance(state[k], torch.Tensor) or state[k].shape != own[k].shape
                       or state[k].is_floating_point() != own[k].is_floating_point())  # int weights would round
    if missing or unexpected or misshapen:
        raise CheckpointUnreadableError(f"{path} is damaged: its weights do not fit its own configuration (missing "
                                        f"{missing[:3]}, unexpected {unexpected[:3]}, "
                                        f"wrong shape or dtype {misshapen[:3]})")
    broken = _not_finite(state)
    if broken:
        raise CheckpointUnreadableError(f"{path} holds NaN or infinite weights ({broken[:3]}): the training that "
                                        "wrote it diverged; train again with a lower lr")


def _not_finite(state: dict) -> list[str]:
    """The names of the floating-point tensors of ``state`` that hold NaN or infinity."""
    return [k for k, v in state.items() if v.is_floating_point() and v.device.type != "meta" and not v.isfinite().all()]


def load_checkpoint(
    path: str | Path, model: nn.Module | None = None, map_location: str | torch.device = "cpu"
) -> Checkpoint:
    """Read a checkpoint with ``weights_only=True``.

    With ``model`` given, the checkpoint must hold the same architecture and configuration
    (else ``CheckpointMismatchError`` says what differs) and its weights are loaded into it;
    without, the model is rebuilt from the stored configuration. A file that is no readable
    checkpoint raises ``CheckpointUnreadableError`` (a ``CheckpointMismatchError``); a device
    this machine lacks (``map_location="cuda"`` without CUDA) a ``ValueError``; a file that
    cannot be opened an ``OSError``.
    """
    path = _checkpoint_path(path)
    if model is not None:
        _check_model(model, "load_checkpoint")
    if isinstance(map_location, (str, torch.device)):
        check_device(map_location, "map_location")
    elif not (callable(map_location) or isinstance(map_location, Mapping)):
        raise ArgumentTypeError(f"map_location must be a device ('cpu', 'cuda:0'), a dict or a function, as "
                                f"torch.load takes it; got {map_location!r}")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: train the model first (camlib.train.fit)")
    payload = _read(path, map_location)
    _check_payload(path, payload)
    architecture = payload["architecture"]
    config = _with_defaults(architecture, payload["config"])
    if model is None:
        model = _rebuild(path, architecture, config)
    elif type(model).__name__ != architecture or getattr(model, "config", None) != config:
        raise CheckpointMismatchError(
            f"{path} holds {_describe(architecture, config)}, but the model given is "
            f"{_describe(type(model).__name__, getattr(model, 'config', None) or {})}. Build the model with the "
            "stored configuration (load_checkpoint(path) without a model does)."
        )
    _check_weights(path, model, payload["state_dict"])
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return Checkpoint(
        model=model,
        architecture=architecture,
        config=config,
        class_names=payload["class_names"],
        data_source=payload["data_source"],
        metrics=payload.get("metrics") or {},
        history=payload.get("history") or {},
    )


def _unreadable(path: Path) -> CheckpointUnreadableError | None:
    """Why ``path`` is no readable checkpoint, or None when it is one."""
    try:
        _check_payload(path, _read(path, "cpu"))
    except CheckpointUnreadableError as error:
        return error
    return None


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        raise _os_error(error, f"cannot write checkpoints into {folder} ({error.strerror}): make it writable, or "
                               "choose another folder (CAMLIB_CHECKPOINTS sets camlib's)") from error


def _move_aside(path: Path, label: str = "unreadable") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside, count = path.with_name(f"{path.name}.{label}-{stamp}"), 1
    while aside.exists():
        aside, count = path.with_name(f"{path.name}.{label}-{stamp}-{count}"), count + 1
    os.replace(path, aside)
    return aside


def fit_or_load(
    path: str | Path,
    model: nn.Module,
    train_loader: DataLoader,
    *,
    class_names: list[str],
    data_source: str,
    retrain: bool = False,
    **fit_kwargs,
) -> tuple[dict, bool]:
    """Load ``path`` into ``model`` when it holds this architecture trained on this data; else fit and save.

    Returns the training history (as a dict) and whether the weights were loaded. A
    checkpoint for another configuration or data source is not an error here: changing a
    notebook's parameters just retrains, and once the new weights are trained the old file is
    kept as ``<name>.previous-<time>`` (a line says so). A file that is no readable checkpoint
    is never overwritten either: it is moved to ``<name>.unreadable-<time>`` and a warning says
    where. ``retrain=True`` replaces a valid checkpoint, as asked. Arguments are checked, and the
    folder tested for writing, before any training.
    """
    path = _checkpoint_path(path)
    _check_camlib_model(model, "fit_or_load")
    _check_labels(model, class_names, data_source)
    if not isinstance(retrain, bool):
        raise ArgumentTypeError(f"retrain must be True or False, got {retrain!r}")
    unreadable = stale = None
    if path.exists() and retrain:
        unreadable = _unreadable(path)
    elif path.exists():
        try:
            stored = load_checkpoint(path, model)
        except CheckpointUnreadableError as error:
            unreadable = error
        except CheckpointMismatchError as mismatch:
            stale = f"training anew: {mismatch}"
        else:
            if stored.data_source == data_source:
                print(f"loaded {path} (trained on {data_source}); pass retrain=True to train again")
                return stored.history, True
            stale = f"training anew: {path} was trained on other data ({stored.data_source})"
    _check_writable(path.parent)  # before the training, not after it
    if unreadable is not None:
        print(f"training anew: {unreadable}")
    if stale is not None:
        print(stale)
    history = fit(model, train_loader, **fit_kwargs)
    if stale is not None:  # only now: a failed training leaves the old weights where they were
        print(f"the previous weights are kept in {_move_aside(path, 'previous')}")
    if unreadable is not None:  # only now: a failed training leaves the file where it was
        aside = _move_aside(path)
        warnings.warn(f"{unreadable}\nIt was moved to {aside} (kept, not deleted); the new weights are in {path}.",
                      stacklevel=2)
    metrics = {"val_loss": history.val_loss[-1], "val_accuracy": history.val_accuracy[-1]} if history.val_loss else {}
    save_checkpoint(path, model, class_names=class_names, data_source=data_source, metrics=metrics, history=history)
    return history.as_dict(), False
