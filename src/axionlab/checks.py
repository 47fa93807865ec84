"""Argument validation shared by every library module: one-line errors naming the argument.

Each check returns the value it accepted (converted to a plain Python or NumPy type) so that a
caller can write ``n = check_count("n", n, minimum=1)``. A failure raises ``error`` (default
:class:`~axionlab.errors.InputError`; data loaders pass :class:`~axionlab.errors.ConfigError`)
with a message in scikit-learn's style: the name, what it must be, and what it got, e.g.
``n_tasks must be an integer >= 1, got 2.0`` or ``scenario must be one of 'class_il', 'task_il',
'domain_il'; got 'clas_il'. Did you mean 'class_il'?``. Name a choice tuple after its ``Literal``
(``SCENARIOS = get_args(Scenario)``) so the type and the check cannot drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from axionlab.errors import InputError, UserError, did_you_mean

FloatArray = npt.NDArray[np.float64]
Choice = TypeVar("Choice", bound=str)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _is_integer(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def check_choice(
    name: str, value: Choice, choices: Sequence[str], *, error: type[UserError] = InputError
) -> Choice:
    """``value`` if it is one of ``choices``; otherwise the error lists them and suggests one.

    ``check_choice("scenario", "clas_il", SCENARIOS)`` raises ``scenario must be one of
    'class_il', 'task_il', 'domain_il'; got 'clas_il'. Did you mean 'class_il'?`` (the hint only
    when a choice is close).
    """
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        raise error(f"{name} must be one of {options}; got {value!r}.{hint}".removesuffix("."))
    return value


def _count_rule(minimum: int, maximum: int | None) -> str:
    return (
        f"an integer >= {minimum}" if maximum is None else f"an integer in [{minimum}, {maximum}]"
    )


def check_count(
    name: str,
    value: int,
    *,
    minimum: int = 0,
    maximum: int | None = None,
    error: type[UserError] = InputError,
) -> int:
    """``value`` as an ``int`` in ``[minimum, maximum]`` (a bool or a float such as ``3.0`` is
    refused; ``maximum=None`` means no upper bound)."""
    if not _is_integer(value) or value < minimum or (maximum is not None and value > maximum):
        raise error(f"{name} must be {_count_rule(minimum, maximum)}, got {value!r}")
    return int(value)


def check_optional_count(
    name: str, value: int | None, *, minimum: int = 0, error: type[UserError] = InputError
) -> int | None:
    """``None``, or ``value`` as an ``int >= minimum`` (a batch size where ``None`` means all)."""
    if value is None:
        return None
    if not _is_integer(value) or value < minimum:
        raise error(f"{name} must be None or {_count_rule(minimum, None)}, got {value!r}")
    return int(value)


def check_finite(name: str, value: float, *, error: type[UserError] = InputError) -> float:
    """``value`` as a finite float (NaN and ±inf are refused)."""
    if not _is_number(value) or not math.isfinite(value):
        raise error(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_positive(name: str, value: float, *, error: type[UserError] = InputError) -> float:
    """``value`` as a finite float ``> 0``."""
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise error(f"{name} must be positive and finite, got {value!r}")
    return float(value)


def check_non_negative(name: str, value: float, *, error: type[UserError] = InputError) -> float:
    """``value`` as a finite float ``>= 0`` (a weight decay, a perturbation size)."""
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise error(f"{name} must be non-negative and finite, got {value!r}")
    return float(value)


def check_probability(name: str, value: float, *, error: type[UserError] = InputError) -> float:
    """``value`` as a float in the closed interval [0, 1]."""
    if not _is_number(value) or not 0.0 <= value <= 1.0:
        raise error(f"{name} must be in [0, 1], got {value!r}")
    return float(value)


def check_fraction(name: str, value: float, *, error: type[UserError] = InputError) -> float:
    """``value`` as a float in the open interval (0, 1) (a split fraction, a CI level)."""
    if not _is_number(value) or not 0.0 < value < 1.0:
        raise error(f"{name} must be in (0, 1), got {value!r}")
    return float(value)


def as_vector(name: str, values: Any) -> FloatArray:
    """A 1-D float64 copy of ``values``; other shapes or non-numbers raise InputError."""
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric, got {type(values).__name__}") from exc
    if array.ndim != 1:
        raise InputError(f"{name} must be 1-D, got shape {array.shape}")
    return array


def as_matrix(name: str, values: Any, *, n_rows: int | None = None) -> FloatArray:
    """A 2-D float64 copy of ``values`` (a 1-D input becomes one column)."""
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric, got {type(values).__name__}") from exc
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise InputError(f"{name} must be 1-D or 2-D, got shape {array.shape}")
    if n_rows is not None and array.shape[0] != n_rows:
        raise InputError(f"{name} must have {n_rows} rows, got {array.shape[0]}")
    return array


def check_same_length(**vectors: FloatArray) -> int:
    """The common length of ``vectors``; differing lengths raise InputError naming each."""
    lengths = {name: len(v) for name, v in vectors.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise InputError(f"inputs must have the same length, got {shown}")
    return next(iter(lengths.values()))
