"""Training, evaluation and checkpoints.

Checkpoints are plain dictionaries of tensors, strings and numbers, so they load with
``torch.load(weights_only=True)`` (no pickled code runs); they are written to a temporary
file in the same folder and moved into place with ``os.replace``, so an interrupted save
never leaves half a file behind.
"""

from __future__ import annotations

import inspect
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from camlib.models import ARCHITECTURES, build_model

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


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device | str = "cpu") -> dict[str, float]:
    """Mean cross-entropy and accuracy over ``loader``; the model's mode is restored."""
    was_training = model.training
    model.eval()
    loss_sum, correct, count = 0.0, 0, 0
    try:
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            logits = model(images)
            loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
            correct += (logits.argmax(1) == labels).sum().item()
            count += labels.numel()
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluate() got an empty loader: check the data set split")
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
    which is what the quick profile needs.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, epochs=epochs, steps_per_epoch=len(train_loader)
    )
    history = History()
    for epoch in range(1, epochs + 1):
        model.train()
        start = time.perf_counter()
        loss_sum, correct, count = 0.0, 0, 0
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{epochs}", leave=False, disable=not progress)
        for images, labels in bar:
            images, labels = images.to(device), labels.to(device)
            logits = model(images)
            loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_sum += loss.item() * labels.numel()
            correct += (logits.argmax(1) == labels).sum().item()
            count += labels.numel()
            bar.set_postfix(loss=f"{loss_sum / count:.3f}", acc=f"{correct / count:.3f}")
        history.train_loss.append(loss_sum / count)
        history.train_accuracy.append(correct / count)
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


class CheckpointMismatchError(ValueError):
    """The checkpoint holds another architecture or configuration than the one asked for."""


@dataclass
class Checkpoint:
    model: nn.Module
    architecture: str
    config: dict
    class_names: list[str]
    data_source: str
    metrics: dict
    history: dict


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

    ``extra`` adds entries that only some readers need (camlib.finetune stores the optimizer,
    scheduler and position there, to resume); they must hold tensors and plain Python values.
    """
    architecture = type(model).__name__
    if architecture not in ARCHITECTURES or not hasattr(model, "config"):
        raise TypeError(f"save_checkpoint stores camlib models ({sorted(ARCHITECTURES)}), got {architecture}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "architecture": architecture,
        "config": dict(model.config),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        "class_names": list(class_names),
        "data_source": data_source,
        "metrics": _plain(dict(metrics or {})),
        "history": _plain(history.as_dict() if isinstance(history, History) else dict(history or {})),
    }
    clash = set(payload) & set(extra or {})
    if clash:
        raise ValueError(f"extra entries {sorted(clash)} would overwrite the checkpoint's own; rename them")
    return atomic_save(payload | dict(extra or {}), path)


def atomic_save(payload: dict, path: str | Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, fsync, then ``os.replace``: a reader
    never sees half a file, and an interrupted save leaves the old checkpoint intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o666 & ~_UMASK)  # temporary files are private (0600); checkpoints need not be
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return path


def _plain(value):
    """NumPy and 0-d tensor scalars -> Python numbers, so ``weights_only=True`` can read them back."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


def _with_defaults(architecture: str, config: dict) -> dict:
    """Fill in constructor defaults a checkpoint predates, so adding an option keeps old files loadable."""
    if architecture not in ARCHITECTURES:
        return config
    parameters = inspect.signature(ARCHITECTURES[architecture]).parameters
    defaults = {name: p.default for name, p in parameters.items() if p.default is not inspect.Parameter.empty}
    return {**defaults, **config}


def _describe(architecture: str, config: dict) -> str:
    return f"{architecture}({', '.join(f'{k}={v!r}' for k, v in sorted(config.items()))})"


def load_checkpoint(
    path: str | Path, model: nn.Module | None = None, map_location: str | torch.device = "cpu"
) -> Checkpoint:
    """Read a checkpoint with ``weights_only=True``.

    With ``model`` given, the checkpoint must hold the same architecture and configuration
    (else ``CheckpointMismatchError`` says what differs) and its weights are loaded into it;
    without, the model is rebuilt from the stored configuration.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: train the model first (camlib.train.fit)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # truncated, foreign or code-carrying pickles all land here
        raise CheckpointMismatchError(
            f"{path} is not a camlib checkpoint readable with weights_only=True ({type(error).__name__}); "
            "delete it to train again"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointMismatchError(f"{path} is not a camlib checkpoint (expected format {CHECKPOINT_FORMAT})")
    payload["config"] = _with_defaults(payload["architecture"], payload["config"])
    stored = _describe(payload["architecture"], payload["config"])
    if model is not None:
        wanted_config = getattr(model, "config", None)
        if type(model).__name__ != payload["architecture"] or wanted_config != payload["config"]:
            raise CheckpointMismatchError(
                f"{path} holds {stored}, but the model given is "
                f"{_describe(type(model).__name__, wanted_config or {})}. Build the model with the "
                "stored configuration (load_checkpoint(path) without a model does), or delete the "
                "file to train again."
            )
    else:
        model = build_model(payload["architecture"], payload["config"])
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return Checkpoint(
        model=model,
        architecture=payload["architecture"],
        config=payload["config"],
        class_names=payload["class_names"],
        data_source=payload["data_source"],
        metrics=payload["metrics"],
        history=payload["history"],
    )


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
    checkpoint for another configuration or data source is not an error here: it is
    replaced, and a line says why, so changing a notebook's parameters just retrains.
    """
    path = Path(path)
    if path.is_file() and not retrain:
        try:
            stored = load_checkpoint(path, model)
        except CheckpointMismatchError as mismatch:
            print(f"training anew: {mismatch}")
        else:
            if stored.data_source == data_source:
                print(f"loaded {path} (trained on {data_source}); pass retrain=True to train again")
                return stored.history, True
            print(f"training anew: {path} was trained on other data ({stored.data_source})")
    history = fit(model, train_loader, **fit_kwargs)
    metrics = {"val_loss": history.val_loss[-1], "val_accuracy": history.val_accuracy[-1]} if history.val_loss else {}
    save_checkpoint(path, model, class_names=class_names, data_source=data_source, metrics=metrics, history=history)
    return history.as_dict(), False
