"""Argument checks shared by every camlib module: the value first, then its name (``check_int(value,
name, ...)``), one line per error that names the argument, what it must be, and what it got. A value of
the wrong type raises ``ArgumentTypeError`` (a ``TypeError`` and a ``ValueError``), a value of the right
type out of range ``ValueError``.

A wrong argument gets one of these errors at the call, never a trace from deep inside torch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch

LOW_PRECISION = (torch.float16, torch.bfloat16)


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type. Also a ``ValueError``, which camlib raised for these before."""


def is_int(value) -> bool:
    """An integer (NumPy's too), not a bool."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_int(value, name: str, minimum: int | None = None, hint: str = "") -> int:
    """``value`` as an ``int``; bools, floats and strings are refused, and so is a value below ``minimum``."""
    bound = "" if minimum is None else f" >= {minimum}"
    fix = f": {hint}" if hint else ""
    if not is_int(value):
        raise ArgumentTypeError(f"{name} must be an integer{bound}, got {value!r}{fix}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer{bound}, got {value!r}{fix}")
    return int(value)


def check_number(value, name: str, hint: str = "") -> float:
    """A finite real number as a ``float``; bools, strings, NaN and infinities are refused."""
    if isinstance(value, bool) or not isinstance(value, Real | np.floating | np.integer) or not math.isfinite(value):
        raise ArgumentTypeError(f"{name} must be a finite number, got {value!r}" + (f": {hint}" if hint else ""))
    return float(value)


def check_size(value, name: str, order: str = "(height, width)") -> tuple[int, int]:
    """A positive integer ``n`` as ``(n, n)``, or a pair of positive integers (a list, tuple, array or
    ``torch.Size``) as a tuple, in the caller's ``order``."""
    problem = f"{name} must be a positive integer or a {order} pair of them, got {value!r}"
    if not is_int(value) and (isinstance(value, str) or not isinstance(value, Sequence | np.ndarray | torch.Size)):
        raise ArgumentTypeError(problem)
    pair = (value, value) if is_int(value) else tuple(value)
    if len(pair) != 2 or not all(is_int(v) and v > 0 for v in pair):
        raise ValueError(problem)
    return int(pair[0]), int(pair[1])


def check_fraction(value, name: str, *, zero: bool = True, why: str = "") -> float:
    """A number in [0, 1] (``zero=False``: in (0, 1]) as a ``float``; NaN, bools and strings are refused."""
    interval = "[0, 1]" if zero else "(0, 1]"
    if isinstance(value, bool) or not isinstance(value, Real | np.floating | np.integer):  # True would mean 1.0
        raise ArgumentTypeError(f"{name} must be a number in {interval}, got {value!r}")
    value = float(value)
    if not ((value >= 0 if zero else value > 0) and value <= 1):  # also refuses NaN
        raise ValueError(f"{name} must lie in {interval}{why}, got {value}")
    return value


def check_eps(eps) -> float:
    """A small positive finite number."""
    if isinstance(eps, bool) or not isinstance(eps, Real) or not 0 < eps < math.inf:
        raise ValueError(f"eps={eps!r} must be a small positive number, e.g. 1e-8")
    return float(eps)


def check_flag(value, name: str) -> bool:
    """``True`` or ``False``, nothing that merely converts to one."""
    if not isinstance(value, bool | np.bool_):
        raise ArgumentTypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def as_tensor(value, name: str) -> torch.Tensor:
    """``torch.as_tensor(value)`` (a tensor, an array or nested lists of numbers), with an error that
    names ``name`` instead of torch's."""
    if isinstance(value, torch.Tensor):
        return value
    if value is None or isinstance(value, str | bytes):
        raise ArgumentTypeError(f"{name} must be a tensor (or an array or nested list of numbers), got {value!r}")
    try:
        return torch.as_tensor(np.ascontiguousarray(value) if isinstance(value, np.ndarray) else value)
    except (TypeError, ValueError, RuntimeError) as error:
        stacked = isinstance(value, Sequence) and any(isinstance(v, torch.Tensor) for v in value)
        hint = " (a list of tensors: torch.stack them first)" if stacked else ""
        raise ArgumentTypeError(
            f"{name} must be a tensor (or an array or nested list of numbers of one shape){hint}; "
            f"got {type(value).__name__} that torch cannot convert ({error})"
        ) from None


def real_float(tensor: torch.Tensor, name: str) -> torch.Tensor:
    """float32 or float64: integers and float16 / bfloat16 become float32 (no overflow in areas)."""
    if tensor.dtype == torch.bool or tensor.is_complex():
        raise ValueError(f"{name} must hold real numbers, got dtype {tensor.dtype}")
    return tensor if tensor.dtype in (torch.float32, torch.float64) else tensor.float()


def check_finite(tensor: torch.Tensor, what: str) -> None:
    """NaN and infinite values refused: a map computed from them would be NaN as well."""
    if tensor.device.type == "meta":  # shapes only, no values (e.g. a layer summary that allocates nothing)
        return
    if tensor.is_floating_point() and not torch.isfinite(tensor).all():
        raise ValueError(f"{what} contain NaN or infinite values; a CAM of them would be NaN as well")


def as_class_indices(classes, batch: int, num_classes: int) -> torch.Tensor:
    """One class index per image as a long tensor ``[batch]``."""
    try:
        classes = torch.as_tensor(classes)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"classes must be integer class indices, one per image; got {classes!r}") from error
    if classes.dim() != 1 or classes.numel() != batch:
        raise ValueError(
            f"classes must be a 1-D tensor with one class index per image, shape [{batch}]; "
            f"got shape {list(classes.shape)}" + ("; for one class c for every image pass [c] * len(images)"
                                                  if classes.dim() == 0 else "")
        )
    if classes.numel() == 0:
        return classes.long()  # an empty batch: torch.as_tensor([]) is float, and that is fine here
    if classes.dtype.is_floating_point or classes.dtype.is_complex or classes.dtype == torch.bool:
        raise ValueError(f"classes must hold integer class indices, got dtype {classes.dtype}")
    if classes.min() < 0 or classes.max() >= num_classes:
        raise ValueError(
            f"class index out of range: classes hold values from {int(classes.min())} to "
            f"{int(classes.max())}, but the weight has {num_classes} classes (0..{num_classes - 1})"
        )
    return classes.long()


def check_path(path, name: str = "path") -> Path:
    """``path`` (a ``str`` or ``os.PathLike``, not blank) as a ``Path``, ``~`` expanded."""
    if not isinstance(path, str | os.PathLike) or not str(path).strip():
        raise ArgumentTypeError(f"{name} must be a file or folder name (str or pathlib.Path), got {path!r}")
    return Path(path).expanduser()


def check_file(path, name: str = "path") -> Path:
    """``check_path``, and the file must exist: a missing file or a folder is an error that says which."""
    path = check_path(path, name)
    if path.is_dir():
        raise IsADirectoryError(f"{name}={str(path)!r} is a folder: give the path of a file")
    if not path.is_file():
        raise FileNotFoundError(f"{name}={str(path)!r}: there is no such file (check the path and the current folder)")
    return path


def check_device(device, name: str = "device") -> torch.device:
    """``device`` (a string or ``torch.device``) as a ``torch.device`` that exists on this machine."""
    if not isinstance(device, str | torch.device):
        raise ArgumentTypeError(f"{name} must be a string such as 'cpu' or 'cuda', or a torch.device; got {device!r}")
    try:
        device = torch.device(device.strip() if isinstance(device, str) else device)
    except (RuntimeError, ValueError):
        raise ValueError(f"{name}={device!r} is not a device torch knows: use 'cpu', 'cuda', 'cuda:1' or 'mps'"
                         ) from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"{name}={str(device)!r}, but CUDA is not available on this machine: use 'cpu'")
        if device.index is not None and device.index >= count:
            raise ValueError(f"{name}={str(device)!r}, but this machine has {count} CUDA device(s): use 'cuda:0'")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"{name}={str(device)!r}, but Apple's MPS is not available on this machine: use 'cpu'")
    return device
