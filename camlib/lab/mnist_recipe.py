"""The MNIST networks of notebooks 02 and 04, made one way.

Notebook 02 trains a GAPNet and its flatten+FC baseline; notebook 04 explains the same
networks. Both call these functions, so the data, the training recipe and the checkpoint
names are written once: when notebook 02 has run, notebook 04 loads its weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from camlib import config
from camlib._checks import check_device, check_int
from camlib.data.digits import TORCHVISION_CLASSES, DigitDataset, DigitSplits, load_digits
from camlib.models.cnn import FlattenFCNet, GAPNet
from camlib.train.loop import fit_or_load

KINDS = {"gapnet": GAPNet, "flattenfc": FlattenFCNet}


@dataclass
class DigitData:
    splits: DigitSplits
    train_set: DigitDataset  # the quick profile trains on at most 10,000 digits
    test_set: DigitDataset
    train_loader: DataLoader
    test_loader: DataLoader
    labels: str = "true"  # "shuffled": the training labels are permuted (camlib.metrics.sanity.shuffled_labels)


def _profile(profile) -> config.Profile:
    """A ``config.Profile``, or its name ("quick", "full"; None: ``config.get_profile`` decides)."""
    if isinstance(profile, config.Profile):
        return profile
    if profile is None or isinstance(profile, str):
        return config.get_profile(profile)
    raise TypeError(f"profile must be a camlib.config.Profile or 'quick' / 'full', got {profile!r}")


LABELS = ("true", "shuffled")


def _check_labels_option(labels) -> str:
    if not isinstance(labels, str) or labels not in LABELS:
        raise ValueError(f"labels={labels!r}: use one of {LABELS}")
    return labels


def digit_data(
    profile: config.Profile, seed: int = 0, dataset: str = "mnist", batch_size: int = 128, labels: str = "true"
) -> DigitData:
    """Training and held-out digits with their loaders; shuffling is seeded by ``seed``.

    ``labels="shuffled"`` permutes the training labels (``camlib.metrics.sanity.shuffled_labels``, seeded
    by ``seed``; Adebayo et al.'s data randomization test); the held-out digits keep their true
    labels, so the test accuracy of a network trained on them shows what it learned: chance.
    """
    profile, batch_size = _profile(profile), check_int(batch_size, "batch_size", 1)
    labels = _check_labels_option(labels)
    generator = config.seed_everything(seed)
    splits = load_digits(dataset, seed=seed)
    train_set = splits.train.subset(profile.pick(quick=10_000, full=len(splits.train)), seed=seed)
    if labels == "shuffled":
        from camlib.metrics.sanity import shuffled_labels

        train_set = shuffled_labels(train_set, seed)
    return DigitData(
        splits=splits,
        train_set=train_set,
        test_set=splits.test,
        train_loader=DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=generator),
        test_loader=DataLoader(splits.test, batch_size=500),
        labels=labels,
    )


def checkpoint_path(
    kind: str, profile: config.Profile, dataset: str = "mnist", seed: int = 0, labels: str = "true"
) -> Path:
    """One file per network, profile, data set, seed and labels, so runs with other seeds (or with
    shuffled labels, ``..._shuffled-labels_seed0.pt``) never replace each other."""
    if not isinstance(kind, str) or not isinstance(dataset, str) or kind not in KINDS \
            or dataset not in TORCHVISION_CLASSES:
        raise ValueError(f"kind={kind!r}, dataset={dataset!r}: use a kind of {sorted(KINDS)} and a data set of "
                         f"{sorted(TORCHVISION_CLASSES)}")
    profile, seed = _profile(profile), check_int(seed, "seed")
    infix = "_shuffled-labels" if _check_labels_option(labels) == "shuffled" else ""
    return config.checkpoint_dir() / f"{dataset}_{kind}_{profile.name}{infix}_seed{seed}.pt"


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
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"kind={kind!r}: use one of {sorted(KINDS)}")
    if not isinstance(data, DigitData):
        raise TypeError(f"data must be camlib.lab.mnist_recipe.digit_data(profile)'s DigitData, "
                        f"got {type(data).__name__}")
    profile, seed, device = _profile(profile), check_int(seed, "seed"), check_device(device)
    if isinstance(lr, bool) or not isinstance(lr, Real) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    # `epochs or default` would train epochs=0 for the default number of epochs
    epochs = profile.pick(quick=5, full=15) if epochs is None else check_int(epochs, "epochs", 1)
    if kind == "flattenfc":
        epochs = max(1, epochs - 1)
    torch.manual_seed(seed)  # the same initial weights whatever ran before
    model = KINDS[kind](in_channels=1, num_classes=len(data.splits.classes), widths=widths).to(device)
    history, loaded = fit_or_load(
        checkpoint_path(kind, profile, dataset, seed, data.labels), model, data.train_loader,
        class_names=data.splits.classes, data_source=data.train_set.source, retrain=retrain,
        epochs=epochs, lr=lr, val_loader=data.test_loader, device=device,
    )
    return model.eval(), history, loaded
