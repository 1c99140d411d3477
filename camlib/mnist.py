"""The MNIST networks of notebooks 02 and 04, made one way.

Notebook 02 trains a GAPNet and its flatten+FC baseline; notebook 04 explains the same
networks. Both call these functions, so the data, the training recipe and the checkpoint
names are written once: when notebook 02 has run, notebook 04 loads its weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from camlib import config
from camlib.data import DigitDataset, DigitSplits, load_digits
from camlib.models import FlattenFCNet, GAPNet
from camlib.train import fit_or_load

KINDS = {"gapnet": GAPNet, "flattenfc": FlattenFCNet}


@dataclass
class DigitData:
    splits: DigitSplits
    train_set: DigitDataset  # the quick profile trains on at most 10,000 digits
    test_set: DigitDataset
    train_loader: DataLoader
    test_loader: DataLoader


def digit_data(profile: config.Profile, seed: int = 0, dataset: str = "mnist", batch_size: int = 128) -> DigitData:
    """Training and held-out digits with their loaders; shuffling is seeded by ``seed``."""
    generator = config.seed_everything(seed)
    splits = load_digits(dataset, seed=seed)
    train_set = splits.train.subset(profile.pick(quick=10_000, full=len(splits.train)), seed=seed)
    return DigitData(
        splits=splits,
        train_set=train_set,
        test_set=splits.test,
        train_loader=DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=generator),
        test_loader=DataLoader(splits.test, batch_size=500),
    )


def checkpoint_path(kind: str, profile: config.Profile, dataset: str = "mnist") -> Path:
    return config.checkpoint_dir() / f"{dataset}_{kind}_{profile.name}.pt"


def trained_network(
    kind: str,
    data: DigitData,
    profile: config.Profile,
    *,
    seed: int = 0,
    widths: tuple[int, ...] = (16, 32, 64),
    epochs: int | None = None,
    lr: float = 5e-3,
    retrain: bool = False,
    device: torch.device | str = "cpu",
    dataset: str = "mnist",
) -> tuple[nn.Module, dict, bool]:
    """``"gapnet"`` or ``"flattenfc"`` trained on ``data`` (or loaded from its checkpoint).

    ``seed`` fixes the initial weights. ``epochs=None`` means 5 (quick) or 15 (full) for the
    GAP network; the baseline gets one epoch less, which is enough for it to match. Returns
    the model (eval mode), its training history and whether it was loaded.
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}: use one of {sorted(KINDS)}")
    epochs = epochs or profile.pick(quick=5, full=15)
    if kind == "flattenfc":
        epochs = max(1, epochs - 1)
    torch.manual_seed(seed)  # the same initial weights whatever ran before
    model = KINDS[kind](in_channels=1, num_classes=len(data.splits.classes), widths=widths).to(device)
    history, loaded = fit_or_load(
        checkpoint_path(kind, profile, dataset), model, data.train_loader,
        class_names=data.splits.classes, data_source=data.train_set.source, retrain=retrain,
        epochs=epochs, lr=lr, val_loader=data.test_loader, device=device,
    )
    return model.eval(), history, loaded
