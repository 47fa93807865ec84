"""Boundary validation shared by the stats modules (one-line InputError messages)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from axionlab.errors import InputError

FloatArray = npt.NDArray[np.float64]


def as_vector(name: str, values: Any) -> FloatArray:
    """A 1-D float64 copy of ``values``; raises InputError for other shapes or non-numbers."""
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric, got {type(values).__name__}") from exc
    if arr.ndim != 1:
        raise InputError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def as_matrix(name: str, values: Any, *, n_rows: int | None = None) -> FloatArray:
    """A 2-D float64 copy of ``values`` (a 1-D input becomes one column)."""
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric, got {type(values).__name__}") from exc
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise InputError(f"{name} must be 1-D or 2-D, got shape {arr.shape}")
    if n_rows is not None and arr.shape[0] != n_rows:
        raise InputError(f"{name} must have {n_rows} rows, got {arr.shape[0]}")
    return arr


def check_same_length(**vectors: FloatArray) -> int:
    """The common length of ``vectors``; raises InputError when they differ."""
    lengths = {name: len(v) for name, v in vectors.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise InputError(f"inputs must have the same length, got {shown}")
    return next(iter(lengths.values()))


def check_ci(ci: float) -> float:
    """``ci`` as a float in the open interval (0, 1)."""
    if not 0.0 < float(ci) < 1.0:
        raise InputError(f"ci must be in (0, 1), got {ci}")
    return float(ci)


def check_count(name: str, value: int, *, minimum: int = 0) -> int:
    """``value`` as an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise InputError(f"{name} must be one of {options}, got {value!r}")
    return value
