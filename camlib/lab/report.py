"""Numbers as the notebooks print them: a mean over seeds with its spread."""

from __future__ import annotations

import numpy as np

from camlib._checks import check_flag, check_int


def mean_std(values, digits: int = 3, *, percent: bool = False) -> str:
    """``'mean ± std'`` of per-seed values: the sample standard deviation (0 for one value), ``digits``
    decimals, fractions shown in % when ``percent``. A seed is a separately trained network (its own
    initialization and training data) measured on its own held-out data."""
    values = np.asarray(values, dtype=float).ravel() * (100 if check_flag(percent, "percent") else 1)
    if values.size == 0:
        raise ValueError("mean_std of no values: give one number per seed")
    digits = check_int(digits, "digits", 0)
    spread = values.std(ddof=1) if values.size > 1 else 0.0
    return f"{values.mean():.{digits}f} ± {spread:.{digits}f}"
