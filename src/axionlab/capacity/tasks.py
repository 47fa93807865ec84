"""Synthetic data for capacity measurements: random labels, and labels that cross a partition.

Random labels carry no structure, so fitting them measures memorization (Cover 1965; Gardner 1988).
Cross-partition tasks split the input into part A (``mask``) and part B and make the label depend
on both jointly, so that a model must carry information across the cut (Levine et al. 2018):

- ``table``: inputs are pairs of halves drawn from two pools of ``pool`` random halves each; the
  label is a random table over (A-half, B-half) pairs. A pair never repeats, and with many pairs
  per half neither half alone predicts the label: memorization across the cut.
- ``bilinear``: Gaussian inputs, label = sign of a random rank-``rank`` bilinear form
  ``x_Aᵀ U Vᵀ x_B``; its separation rank across the cut is ``rank``.
- ``parity``: uniform ±1 inputs, label = parity of A XOR parity of B; each half alone is
  independent of the label.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from axionlab.capacity.boundary import half_mask
from axionlab.capacity.perceptron import DISTRIBUTIONS, Distribution
from axionlab.checks import check_choice, check_count
from axionlab.errors import InputError

CrossKind = Literal["table", "bilinear", "parity"]
CROSS_KINDS: tuple[CrossKind, ...] = ("table", "bilinear", "parity")


def _shape(input_shape: int | tuple[int, ...]) -> tuple[int, ...]:
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    if not shape or min(shape) < 1:
        raise InputError(f"input_shape must hold positive sizes, got {shape}")
    return shape


def random_labels(
    n: int,
    input_shape: int | tuple[int, ...],
    n_classes: int,
    *,
    generator: torch.Generator,
    distribution: Distribution = "gaussian",
) -> tuple[Tensor, Tensor]:
    """``n`` random inputs with independent uniform labels, for memorization capacity.

    Parameters
    ----------
    n : number of samples.
    input_shape : per-sample shape.
    n_classes : labels are uniform on ``0..n_classes−1``.
    generator : source of inputs and labels.
    distribution : ``"gaussian"`` (standard normal) or ``"pm1"`` (uniform ±1 entries).

    Returns
    -------
    ``X`` of shape ``(n, *input_shape)`` (float32) and ``y`` of shape ``(n,)`` (int64); the
    prefixes of one draw are the nested sets that capacity bisection needs.

    Raises
    ------
    InputError : negative ``n``, ``n_classes < 2`` or an unknown distribution.
    """
    shape = _shape(input_shape)
    check_count("n", n)
    check_count("n_classes", n_classes, minimum=2)
    check_choice("distribution", distribution, DISTRIBUTIONS)
    X = torch.randn((n, *shape), generator=generator)
    if distribution == "pm1":
        X = torch.sign(X)
    y = torch.randint(0, n_classes, (n,), generator=generator)
    return X, y


def cross_partition_task(
    n: int,
    input_shape: int | tuple[int, ...],
    kind: CrossKind,
    *,
    generator: torch.Generator,
    mask: npt.ArrayLike | None = None,
    rank: int = 1,
    pool: int | None = None,
    n_classes: int = 2,
) -> tuple[Tensor, Tensor]:
    """``n`` samples whose label depends jointly on parts A and B of the input.

    Parameters
    ----------
    n : number of samples.
    input_shape : per-sample shape, ``d`` or ``(C, *spatial)``.
    kind : ``"table"``, ``"bilinear"`` or ``"parity"`` (see the module docstring).
    generator : source of all randomness.
    mask : boolean array over features (vector input) or spatial positions marking part A;
        default :func:`~axionlab.capacity.boundary.half_mask` (first half of the last axis).
    rank : rank of the bilinear form (``bilinear`` only).
    pool : distinct halves per side (``table`` only); default ``ceil(sqrt(n))``, the fewest that
        hold ``n`` distinct pairs. Fix it when bisecting so prefixes stay draws of one task.
    n_classes : classes of the ``table`` labels; ``bilinear`` and ``parity`` are binary.

    Returns
    -------
    ``X`` of shape ``(n, *input_shape)`` (float32) and ``y`` of shape ``(n,)`` (int64); prefixes
    of a draw are draws of the same task.

    Raises
    ------
    InputError : bad mask, rank, pool or class count, or an unknown kind.
    """
    shape = _shape(input_shape)
    check_choice("kind", kind, CROSS_KINDS)
    check_count("n", n)
    if kind != "table" and n_classes != 2:
        raise InputError(f"kind '{kind}' is binary; n_classes must be 2, got {n_classes}")
    check_count("n_classes", n_classes, minimum=2)
    part = half_mask(shape) if mask is None else np.asarray(mask, dtype=bool)
    nodes = shape if len(shape) == 1 else shape[1:]
    if part.shape != nodes or part.all() or not part.any():
        raise InputError(f"mask must have shape {nodes} and mark a non-empty, proper part")
    # Columns of the (n, channels, nodes) view that belong to A and to B.
    channels = 1 if len(shape) == 1 else shape[0]
    flat_a = torch.from_numpy(np.flatnonzero(part.ravel()))
    flat_b = torch.from_numpy(np.flatnonzero(~part.ravel()))
    X = torch.empty((n, channels, part.size))
    if kind == "table":
        size = pool if pool is not None else max(1, math.isqrt(max(n - 1, 0)) + 1)
        if size < 1 or size * size < n:
            raise InputError(f"pool must be >= 1 with pool**2 >= n={n}, got {pool}")
        halves_a = torch.randn((size, channels, flat_a.numel()), generator=generator)
        halves_b = torch.randn((size, channels, flat_b.numel()), generator=generator)
        table = torch.randint(0, n_classes, (size, size), generator=generator)
        pairs = torch.randperm(size * size, generator=generator)[:n]
        i, j = pairs // size, pairs % size
        X[:, :, flat_a], X[:, :, flat_b] = halves_a[i], halves_b[j]
        y = table[i, j]
    elif kind == "bilinear":
        check_count("rank", rank, minimum=1)
        U = torch.randn((channels * flat_a.numel(), rank), generator=generator)
        V = torch.randn((channels * flat_b.numel(), rank), generator=generator)
        X = torch.randn((n, channels, part.size), generator=generator)
        score = ((X[:, :, flat_a].reshape(n, -1) @ U) * (X[:, :, flat_b].reshape(n, -1) @ V)).sum(1)
        y = (score > 0).long()
    else:
        X = torch.randint(0, 2, (n, channels, part.size), generator=generator).float() * 2 - 1
        y = (X.flatten(1).prod(dim=1) < 0).long()  # parity(A) XOR parity(B) = parity of all bits
    return X.reshape(n, *shape), y
