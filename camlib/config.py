"""Run profiles, device choice, seeding, the project's folders, and the argument checks camlib shares.

Two profiles decide how much work a notebook does:

* ``quick`` -- a laptop or CI with 2 CPU cores: small subsets, few epochs, minutes.
* ``full``  -- a GPU: whole data sets and real training schedules.

``CAMLIB_PROFILE`` picks one; without it, ``full`` when CUDA is present, ``quick`` otherwise.
"""

from __future__ import annotations

import ctypes
import gc
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

# the argument checks, public here too (camlib.config.check_int) as before the shared core
from camlib._checks import ArgumentTypeError, check_device, check_file, check_int, check_path  # noqa: F401

PROFILES = ("quick", "full")
T = TypeVar("T")


@dataclass(frozen=True)
class Profile:
    """The chosen profile; ``pick`` returns the value that belongs to it."""

    name: str

    def __post_init__(self):
        if self.name not in PROFILES:  # else an unknown name would silently behave as "full"
            raise ValueError(f"unknown profile {self.name!r}: use one of {PROFILES} (or camlib.config.get_profile)")

    @property
    def quick(self) -> bool:
        return self.name == "quick"

    def pick(self, *, quick: T, full: T) -> T:
        return quick if self.quick else full


def _environment(variable: str) -> str | None:
    """The variable's value, None when unset or blank (a blank value means the default)."""
    value = os.environ.get(variable, "").strip()
    return value or None


def get_profile(name: str | None = None) -> Profile:
    """The profile named by ``name``, else ``$CAMLIB_PROFILE``, else by hardware."""
    if name is not None and not isinstance(name, str):
        raise ArgumentTypeError(f"profile name must be 'quick', 'full' or None, got {name!r}")
    if name is not None and name.strip():
        chosen, where = name, "argument"
    elif _environment("CAMLIB_PROFILE"):
        chosen, where = _environment("CAMLIB_PROFILE"), "from the CAMLIB_PROFILE environment variable"
    else:
        return Profile("full" if torch.cuda.is_available() else "quick")
    if chosen.strip().lower() not in PROFILES:
        raise ValueError(
            f"unknown profile {chosen!r} ({where}): use one of {PROFILES} "
            "(argument or the CAMLIB_PROFILE environment variable)"
        )
    return Profile(chosen.strip().lower())


def get_device(name: str | torch.device | None = None) -> torch.device:
    """``name`` or ``$CAMLIB_DEVICE`` if given, else CUDA, then Apple's MPS, then the CPU.

    A device this machine lacks (``"cuda"`` without a GPU) is an error here, not a stack trace
    at the first ``.to(device)``."""
    if name is not None and not (isinstance(name, str) and not name.strip()):
        return check_device(name, "device")
    if _environment("CAMLIB_DEVICE"):
        return check_device(_environment("CAMLIB_DEVICE"), "CAMLIB_DEVICE")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def free_memory() -> None:
    """Free what nothing refers to any more, and give it back to the system.

    ``del network`` drops a reference; ``gc.collect()`` frees objects caught in reference cycles;
    on Linux, glibc keeps freed heap memory for later, so the process's resident memory stays at
    its high-water mark, and ``malloc_trim(0)`` hands it back. Notebooks call this after their
    large networks are done, so a Binder session (1-2 GB) is not killed."""
    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # another C library (e.g. musl): nothing to trim
            pass


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU generator with that seed."""
    seed = check_int(seed, "seed")
    if not -(2**63) <= seed < 2**64:  # torch's seeds are 64-bit
        raise ValueError(f"seed={seed} is out of range: use an integer in [-2**63, 2**64)")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def project_root() -> Path | None:
    """The checkout camlib lives in (editable install), or None for a plain install."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() else None


def _folder(variable: str, default: str) -> Path:
    value = _environment(variable)
    if value is None:
        root = project_root()
        return root / default if root else Path(default).resolve()
    folder = Path(value).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{variable}={value!r} is a file, not a folder: point {variable} at a folder")
    return folder


def data_root() -> Path:
    """Where data sets live: ``$CAMLIB_DATA``, else the checkout's ``data/``, else ``./data``."""
    return _folder("CAMLIB_DATA", "data")


def checkpoint_dir() -> Path:
    """Where trained weights are kept: ``$CAMLIB_CHECKPOINTS``, else ``checkpoints/`` in the checkout."""
    return _folder("CAMLIB_CHECKPOINTS", "checkpoints")


# --------------------------------------------------------------------------------------------
# Argument checks: a wrong argument gets an error that names it, not a trace from inside torch
# --------------------------------------------------------------------------------------------


