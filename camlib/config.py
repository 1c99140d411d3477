"""Run profiles, device choice, seeding and the project's folders.

Two profiles decide how much work a notebook does:

* ``quick`` -- a laptop or CI with 2 CPU cores: small subsets, few epochs, minutes.
* ``full``  -- a GPU: whole data sets and real training schedules.

``CAMLIB_PROFILE`` picks one; without it, ``full`` when CUDA is present, ``quick`` otherwise.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

PROFILES = ("quick", "full")
T = TypeVar("T")


@dataclass(frozen=True)
class Profile:
    """The chosen profile; ``pick`` returns the value that belongs to it."""

    name: str

    @property
    def quick(self) -> bool:
        return self.name == "quick"

    def pick(self, *, quick: T, full: T) -> T:
        return quick if self.quick else full


def get_profile(name: str | None = None) -> Profile:
    """The profile named by ``name``, else ``$CAMLIB_PROFILE``, else by hardware."""
    chosen = name or os.environ.get("CAMLIB_PROFILE") or ("full" if torch.cuda.is_available() else "quick")
    chosen = chosen.strip().lower()
    if chosen not in PROFILES:
        raise ValueError(
            f"unknown profile {chosen!r}: use one of {PROFILES} "
            "(argument or the CAMLIB_PROFILE environment variable)"
        )
    return Profile(chosen)


def get_device(name: str | None = None) -> torch.device:
    """``name`` or ``$CAMLIB_DEVICE`` if given, else CUDA, then Apple's MPS, then the CPU."""
    chosen = name or os.environ.get("CAMLIB_DEVICE")
    if chosen:
        return torch.device(chosen)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU generator with that seed."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def project_root() -> Path | None:
    """The checkout camlib lives in (editable install), or None for a plain install."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() else None


def data_root() -> Path:
    """Where data sets live: ``$CAMLIB_DATA``, else the checkout's ``data/``, else ``./data``."""
    if os.environ.get("CAMLIB_DATA"):
        return Path(os.environ["CAMLIB_DATA"]).expanduser().resolve()
    root = project_root()
    return root / "data" if root else Path("data").resolve()


def checkpoint_dir() -> Path:
    """Where trained weights are kept: ``$CAMLIB_CHECKPOINTS``, else ``checkpoints/`` in the checkout."""
    if os.environ.get("CAMLIB_CHECKPOINTS"):
        return Path(os.environ["CAMLIB_CHECKPOINTS"]).expanduser().resolve()
    root = project_root()
    return root / "checkpoints" if root else Path("checkpoints").resolve()
