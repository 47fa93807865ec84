"""Argument checks shared by the quantum modules."""

from __future__ import annotations

from collections.abc import Sequence

from axionlab.errors import InputError, did_you_mean


def check_choice(field: str, value: str, choices: Sequence[str]) -> None:
    """Raise :class:`InputError` unless ``value`` is one of ``choices``, suggesting a close one."""
    if value not in choices:
        options = ", ".join(map(repr, choices))
        hint = did_you_mean(value, choices)
        raise InputError(f"{field} must be one of {options}, got {value!r}.{hint}")


def check_prob(field: str, value: float) -> None:
    """Raise :class:`InputError` unless ``0 <= value <= 1``."""
    if not 0.0 <= value <= 1.0:
        raise InputError(f"{field} must be in [0, 1], got {value}")
