"""Integration probes of trained networks: Gaussian measures of activation series with their
finite-sample bias, and exact measures of small binarised blocks of a weight matrix.

:func:`timeseries_integration` fits a VAR(1) to hidden-state series (trials = input sequences),
evaluates the five Gaussian measures for the atomic partition and for the minimum-information
bipartition, a bootstrap CI over trials, and the same measures on *shuffled-time* copies (each
trial's time steps permuted, units kept together). Least-squares VAR fits on finite data inflate
every measure (noise in ``Â`` reads as coupling); the shuffled-time null has no temporal
dependence, so its values estimate that bias at the same ``N`` and ``n``.

:func:`binary_probe` binarises a ``k × k`` block of a weight matrix into a deterministic threshold
network (:func:`~axionlab.phi.networks.binarize_network`) and returns its effective information
(Hoel et al. 2013) and, for a recurrent block, IIT 3.0 Φ averaged over the reachable states
(states some state maps to; Φ is undefined elsewhere). Units outside the block are held at 0
(tanh's midpoint, ReLU's off state), so only their bias enters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from axionlab.errors import InputError
from axionlab.phi.ei import effective_information
from axionlab.phi.gaussian import (
    MEASURES,
    Array,
    MeasureName,
    Var1Fit,
    bootstrap_ci,
    gaussian_measures,
    minimum_information_bipartition,
    var1_from_timeseries,
)
from axionlab.phi.iit3 import MAX_NODES, iit_phi
from axionlab.phi.networks import binarize_network, state_by_state

Partition = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class TimeseriesIntegration:
    """Gaussian measures of one set of activation series (nats), with bias and uncertainty.

    ``atomic``/``mib`` map measure names to values for the atomic partition and the minimum-
    information bipartition; ``null_*`` the mean over shuffled-time copies for the same
    partitions; ``ci_low``/``ci_high`` the bootstrap interval of the MIB criterion measure.
    ``reason`` is empty for a valid fit, else why the measures are NaN (e.g. an unstable fit).
    """

    atomic: dict[str, float]
    mib: dict[str, float]
    null_atomic: dict[str, float]
    null_mib: dict[str, float]
    partition: Partition
    measure: str
    ci_low: float
    ci_high: float
    n_boot_valid: int
    fit: Var1Fit
    reason: str


def _nan_measures() -> dict[str, float]:
    return dict.fromkeys(MEASURES, float("nan"))


def _measures(a: Array, s: Array, partition: Partition | None) -> dict[str, float]:
    try:
        return dict(gaussian_measures(a, s, partition))
    except InputError:
        return _nan_measures()


def _mean_measures(rows: list[dict[str, float]]) -> dict[str, float]:
    return {m: float(np.nanmean([r[m] for r in rows])) if rows else float("nan") for m in MEASURES}


def shuffle_time(X: ArrayLike, rng: np.random.Generator) -> Array:
    """Copy of ``(trials, T, n)`` series with each trial's time steps permuted (units together)."""
    arr = np.asarray(X, dtype=np.float64)
    order = np.argsort(rng.random(arr.shape[:2]), axis=1)  # (trials, T)
    return np.take_along_axis(arr, order[:, :, None], axis=1)


def timeseries_integration(
    X: ArrayLike,
    *,
    rng: np.random.Generator,
    measure: MeasureName = "phi_g",
    n_boot: int = 100,
    n_null: int = 5,
    level: float = 0.95,
) -> TimeseriesIntegration:
    """Gaussian integration measures of ``(trials, T, n)`` series, bootstrap CI and null baseline.

    Parameters
    ----------
    X : (trials, T, n) array
        Activation series; transitions never cross trials.
    rng
        Source of bootstrap resamples and time shuffles.
    measure
        Criterion of the minimum-information bipartition and of the bootstrap CI.
    n_boot, level
        Bootstrap resamples of trials (:func:`~axionlab.phi.gaussian.bootstrap_ci`) and CI level;
        resamples whose fit is unstable are dropped and counted out of ``n_boot_valid``.
    n_null
        Shuffled-time copies averaged into the ``null_*`` measures.

    Returns
    -------
    TimeseriesIntegration
        NaN measures with ``reason`` set when the fitted VAR(1) is unstable or its noise singular.

    Raises
    ------
    InputError
        Fewer than 2 units or too few transitions (see
        :func:`~axionlab.phi.gaussian.var1_from_timeseries`), ``n_boot < 2`` or ``n_null < 1``.
    """
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[2] < 2:
        raise InputError(f"X must have shape (trials, T, n) with n >= 2, got {arr.shape}")
    if n_null < 1:
        raise InputError(f"n_null must be at least 1, got {n_null}")
    a, s, fit = var1_from_timeseries(arr)
    try:
        mib = minimum_information_bipartition(a, s, measure)
    except InputError as err:
        nan = _nan_measures()
        return TimeseriesIntegration(
            nan, nan, nan, nan, (), measure, float("nan"), float("nan"), 0, fit, str(err)
        )
    partition = mib.partition

    def statistic(a_b: Array, s_b: Array) -> float:
        return _measures(a_b, s_b, partition)[measure]

    boot = bootstrap_ci(arr, statistic, rng=rng, n_boot=n_boot, level=level)
    samples = np.asarray(boot.samples)
    valid = samples[np.isfinite(samples)]
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(valid, [tail, 100 - tail]) if valid.size >= 2 else (np.nan, np.nan)
    null_atomic, null_mib = [], []
    for _ in range(n_null):
        a_n, s_n, _ = var1_from_timeseries(shuffle_time(arr, rng))
        null_atomic.append(_measures(a_n, s_n, None))
        null_mib.append(_measures(a_n, s_n, partition))
    return TimeseriesIntegration(
        atomic=_measures(a, s, None),
        mib=_measures(a, s, partition),
        null_atomic=_mean_measures(null_atomic),
        null_mib=_mean_measures(null_mib),
        partition=partition,
        measure=measure,
        ci_low=float(low),
        ci_high=float(high),
        n_boot_valid=int(valid.size),
        fit=fit,
        reason="",
    )


@dataclass(frozen=True)
class BinaryProbe:
    """Exact measures of a binarised ``k × k`` weight block (``rows`` at t+1, ``cols`` at t).

    ``ei`` in bits; ``phi_mean``/``phi_max`` IIT 3.0 Φ over the ``n_reachable`` reachable states
    (NaN when Φ was not asked for).
    """

    rows: tuple[int, ...]
    cols: tuple[int, ...]
    ei: float
    phi_mean: float
    phi_max: float
    n_reachable: int


def strongest_block(
    weight: ArrayLike, k: int, *, tied: bool
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Indices of the ``k`` most strongly connected units of a weight matrix.

    ``tied`` (a square recurrent matrix): one set for both sides, ranked by incoming plus outgoing
    absolute weight. Otherwise (a feed-forward layer ``out × in``): rows ranked by incoming and
    columns by outgoing absolute weight. Ties go to the lower index; indices are sorted.

    Raises
    ------
    InputError
        ``weight`` not 2-D, not square when ``tied``, or ``k`` outside ``1..min(shape)``.
    """
    w = np.abs(np.asarray(weight, dtype=np.float64))
    if w.ndim != 2 or (tied and w.shape[0] != w.shape[1]):
        raise InputError(f"weight must be a {'square ' if tied else ''}matrix, got {w.shape}")
    if not 1 <= k <= min(w.shape):
        raise InputError(f"k must lie in 1..{min(w.shape)} for a {w.shape} weight, got {k}")

    def top(strength: Array) -> tuple[int, ...]:
        return tuple(sorted(int(i) for i in np.argsort(-strength, kind="stable")[:k]))

    if tied:
        rows = top(w.sum(axis=0) + w.sum(axis=1))
        return rows, rows
    return top(w.sum(axis=1)), top(w.sum(axis=0))


def binary_probe(
    weight: ArrayLike,
    bias: ArrayLike,
    rows: tuple[int, ...],
    cols: tuple[int, ...],
    *,
    levels: tuple[float, float] = (-1.0, 1.0),
    phi: bool = True,
) -> BinaryProbe:
    """Effective information and state-averaged Φ of a binarised weight block.

    Parameters
    ----------
    weight : (out, in) array
        ``nn.Linear`` layout; the block is ``weight[rows][:, cols]``.
    bias : (out,) array
        Bias of the ``out`` units; ``bias[rows]`` enters the threshold units.
    rows, cols
        Equal-length index tuples (at most 8; Φ at most 8 nodes, practical up to 4-5).
    levels
        Activations of OFF and ON units (``(-1, 1)`` for tanh, ``(0, 1)`` for ReLU).
    phi
        Compute Φ; needs ``rows == cols`` (the same units at t and t+1).

    Raises
    ------
    InputError
        Index tuples of different lengths or out of range, or ``phi`` with ``rows != cols``.
    """
    w = np.asarray(weight, dtype=np.float64)
    b = np.asarray(bias, dtype=np.float64).reshape(-1)
    if len(rows) != len(cols) or not rows:
        raise InputError(f"rows and cols must have the same non-zero length, got {rows}, {cols}")
    if (
        w.ndim != 2
        or max(rows) >= w.shape[0]
        or max(cols) >= w.shape[1]
        or b.shape[0] != w.shape[0]
    ):
        raise InputError(
            f"rows {rows} / cols {cols} out of range for weight {w.shape} and bias {b.shape}"
        )
    if phi and rows != cols:
        raise InputError(f"Φ needs the same units at t and t+1, got rows {rows} and cols {cols}")
    if phi and len(rows) > MAX_NODES:
        raise InputError(f"Φ is limited to {MAX_NODES} nodes, got {len(rows)}")
    net = binarize_network(w[np.ix_(rows, cols)], b[list(rows)], levels=levels)
    ei = effective_information(state_by_state(net.tpm))
    reachable = sorted({tuple(int(v) for v in row) for row in net.tpm.astype(np.int64)})
    if not phi:
        return BinaryProbe(rows, cols, ei, float("nan"), float("nan"), len(reachable))
    values = [iit_phi(net.tpm, state, net.cm).phi for state in reachable]
    return BinaryProbe(
        rows, cols, ei, float(np.mean(values)), float(np.max(values)), len(reachable)
    )


__all__ = [
    "BinaryProbe",
    "TimeseriesIntegration",
    "binary_probe",
    "shuffle_time",
    "strongest_block",
    "timeseries_integration",
]
