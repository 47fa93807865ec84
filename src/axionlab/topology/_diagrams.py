"""Grid validation and diagram assembly shared by the topology modules."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from axionlab.checks import check_count
from axionlab.errors import InputError

Diagram = NDArray[np.float64]
CONSTRUCTIONS = ("top", "vertex")


def as_grid(values: ArrayLike, name: str = "values") -> NDArray[np.float64]:
    """Return ``values`` as a NaN-free float64 array of 1-3 dimensions, or raise InputError."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim not in (1, 2, 3):
        raise InputError(f"{name} must be a 1-, 2- or 3-D array, got shape {array.shape}")
    if array.size == 0:
        raise InputError(f"{name} must have at least one element, got shape {array.shape}")
    if np.isnan(array).any():
        raise InputError(
            f"{name} contains NaN; replace NaN losses explicitly (e.g. with np.inf) before calling"
        )
    return array


def check_max_dim(max_dim: int | None, ndim: int) -> int:
    """Resolve ``max_dim`` (None means every dimension a grid of ``ndim`` axes can carry)."""
    if max_dim is None:
        return ndim - 1
    return check_count(f"max_dim for a {ndim}-D array", max_dim, minimum=0, maximum=ndim - 1)


def pairs(births: ArrayLike, deaths: ArrayLike) -> Diagram:
    """Stack births and deaths into an ``(n, 2)`` float64 diagram, dropping zero-length pairs."""
    b = np.asarray(births, dtype=np.float64).ravel()
    d = np.asarray(deaths, dtype=np.float64).ravel()
    keep = b != d
    return np.stack([b[keep], d[keep]], axis=1)


def concat(*diagrams: Diagram) -> Diagram:
    """Concatenate ``(n_i, 2)`` diagrams into one."""
    return np.concatenate([np.reshape(d, (-1, 2)) for d in diagrams], axis=0).astype(
        np.float64, copy=False
    )
