"""Integrated-information measures of a linear-Gaussian VAR(1) process, in nats.

The process is ``X_t = A X_{t-1} + E_t`` with ``E_t ~ N(0, Σ_E)`` and ``A`` stable (spectral
radius below 1). Write ``X = X_{t-1}`` (past) and ``Y = X_t`` (present), both with the stationary
covariance ``Σ`` solving ``Σ = A Σ Aᵀ + Σ_E``; ``Cov(Y, X) = A Σ`` and ``Cov(Y | X) = Σ_E``.
For a partition of the units into parts ``k``:

- ``mi``: time-delayed mutual information ``I(X; Y) = ½ log |Σ| / |Σ_E|``.
- ``phi_wms``: whole-minus-sum ``I(X; Y) − Σ_k I(X^k; Y^k)`` (Barrett & Seth 2011, eq. 9); it is
  negative when the parts' own predictive information exceeds the whole's (redundancy).
- ``si``: stochastic interaction ``Σ_k H(Y^k | X^k) − H(Y | X)`` (Ay 2001/2015; Barrett & Seth
  2011, eq. 12). ``si = phi_wms + Σ_k H(Y^k) − H(Y)``.
- ``phi_star``: ``I(X; Y) − I*(X; Y)`` with ``I*`` the mismatched-decoding information of the
  partitioned model ``q(Y | X) = Π_k p(Y^k | X^k)`` (Oizumi et al. 2016, PLoS Comput Biol 12,
  e1004654, eqs. 6-7), maximised over the inverse temperature β in closed form for Gaussians.
- ``phi_g``: geometric integrated information, the KL divergence from ``p(X, Y)`` to the closest
  model in which every ``Y_i`` depends on the past of its own part only,
  ``q(Y_i | X) = q(Y_i | X^k)``
  (Oizumi, Tsuchiya & Amari 2016, PNAS 113, 14817, eqs. 10-15). Equal-time noise correlations are
  left free, so ``phi_g`` is zero for block-diagonal ``A`` whatever ``Σ_E``.

Every measure is invariant under rescaling a unit and obeys ``0 ≤ phi_g ≤ min(si, mi)`` and
``0 ≤ phi_star ≤ mi``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.linalg
import scipy.optimize
from numpy.typing import ArrayLike, NDArray

from axionlab.checks import check_choice, check_count, check_fraction
from axionlab.errors import InputError

Array = NDArray[np.float64]
MeasureName = Literal["mi", "phi_wms", "si", "phi_star", "phi_g"]
MEASURES: tuple[MeasureName, ...] = ("mi", "phi_wms", "si", "phi_star", "phi_g")

_PHI_G_TOL = 1e-12
_PHI_G_MAX_ITER = 10_000


@dataclass(frozen=True)
class GaussianMeasures(Mapping[str, float]):
    """The five measures for one partition (nats); also readable as a mapping by measure name."""

    mi: float
    phi_wms: float
    si: float
    phi_star: float
    phi_g: float
    partition: tuple[tuple[int, ...], ...]

    def __getitem__(self, key: str) -> float:
        if key not in MEASURES:
            raise KeyError(key)
        value: float = getattr(self, key)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(MEASURES)

    def __len__(self) -> int:
        return len(MEASURES)


@dataclass(frozen=True)
class MinimumBipartition:
    """The bipartition minimising one measure, and whether the search was exhaustive."""

    measure: str
    value: float
    partition: tuple[tuple[int, ...], tuple[int, ...]]
    exhaustive: bool
    n_evaluated: int


def _as_matrix(name: str, value: ArrayLike) -> Array:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise InputError(f"{name} must be a non-empty square matrix, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} must be finite")
    return arr


def validate_var1(A: ArrayLike, sigma_e: ArrayLike) -> tuple[Array, Array]:
    """Check ``(A, Σ_E)`` is a stable VAR(1) with positive-definite noise; return float arrays.

    Raises
    ------
    InputError
        Shapes differ or are not square, ``Σ_E`` is not symmetric positive definite, or the spectral
        radius of ``A`` is ≥ 1 (no stationary distribution).
    """
    a = _as_matrix("A", A)
    s = _as_matrix("sigma_e", sigma_e)
    if a.shape != s.shape:
        raise InputError(f"A and sigma_e must have the same shape, got {a.shape} and {s.shape}")
    if not np.allclose(s, s.T, rtol=1e-10, atol=1e-12):
        raise InputError("sigma_e must be symmetric")
    s = 0.5 * (s + s.T)
    if np.linalg.eigvalsh(s).min() <= 0:
        raise InputError("sigma_e must be positive definite")
    radius = float(np.abs(np.linalg.eigvals(a)).max())
    if radius >= 1:
        raise InputError(
            f"A must be stable (spectral radius < 1), got spectral radius {radius:.4g}"
        )
    return a, s


def stationary_covariance(A: ArrayLike, sigma_e: ArrayLike) -> Array:
    """Stationary covariance ``Σ = A Σ Aᵀ + Σ_E`` of the VAR(1) (discrete Lyapunov equation).

    Raises
    ------
    InputError
        As :func:`validate_var1`.
    """
    a, s = validate_var1(A, sigma_e)
    sigma = scipy.linalg.solve_discrete_lyapunov(a, s)
    return np.asarray(0.5 * (sigma + sigma.T), dtype=np.float64)


def _logdet(m: Array) -> float:
    sign, value = np.linalg.slogdet(m)
    if sign <= 0:
        raise InputError("covariance matrix is not positive definite")
    return float(value)


def _normalise_partition(
    partition: Sequence[Sequence[int]] | None, n: int
) -> tuple[tuple[int, ...], ...]:
    if partition is None:
        return tuple((i,) for i in range(n))
    parts = tuple(tuple(int(i) for i in part) for part in partition)
    flat = sorted(i for part in parts for i in part)
    if any(len(part) == 0 for part in parts) or flat != list(range(n)):
        raise InputError(
            f"partition must split units 0..{n - 1} into non-empty disjoint groups, got {partition}"
        )
    return parts


def _mismatched_information(
    sigma: Array, cross: Array, parts: tuple[tuple[int, ...], ...]
) -> float:
    """``I*`` of the partitioned model: ``max_β Ĩ(β)`` with Ĩ concave and Ĩ(0) = 0."""
    n = sigma.shape[0]
    b = np.zeros((n, n))  # block-diagonal regression of Y^k on X^k
    d = np.zeros((n, n))  # block-diagonal conditional covariance Cov(Y^k | X^k)
    for part in parts:
        ix = np.ix_(part, part)
        b[ix] = np.linalg.solve(sigma[ix], cross[ix].T).T
        d[ix] = sigma[ix] - b[ix] @ cross[ix].T
    d_inv = np.linalg.inv(d)
    # E[(Y - BX)(Y - BX)ᵀ] under the true process
    resid = sigma - cross @ b.T - b @ cross.T + b @ sigma @ b.T
    k = sigma @ b.T @ d_inv @ b
    bsb = b @ sigma @ b.T
    tr_resid = float(np.trace(d_inv @ resid))

    def value(beta: float) -> float:
        g = np.linalg.inv(d / beta + bsb)
        return 0.5 * (_logdet(np.eye(n) + beta * k) + float(np.trace(sigma @ g)) - beta * tr_resid)

    def slope(beta: float) -> float:
        g = np.linalg.inv(d / beta + bsb)
        return 0.5 * (
            float(np.trace(np.linalg.solve(np.eye(n) + beta * k, k)))
            + float(np.trace(sigma @ g @ d @ g)) / beta**2
            - tr_resid
        )

    if slope(1e-12) <= 0:
        return 0.0
    lo, hi = 1e-12, 1.0
    while slope(hi) > 0:
        lo, hi = hi, 2.0 * hi
    beta = scipy.optimize.brentq(slope, lo, hi, xtol=1e-14, rtol=1e-12)
    return max(value(beta), 0.0)


def _phi_g(a: Array, sigma: Array, sigma_e: Array, parts: tuple[tuple[int, ...], ...]) -> float:
    """Minimise ``½ log |Σ_E + Δ Σ Δᵀ| / |Σ_E|`` over ``Δ = A − A'`` with ``A'`` block-diagonal.

    Alternates the closed-form optimum of the noise covariance ``S = Σ_E + Δ Σ Δᵀ`` with the
    weighted least-squares optimum of the free (within-part) entries of ``A'`` given ``S``; every
    step lowers the KL divergence, which converges to the stationary point of eq. 15 of Oizumi,
    Tsuchiya & Amari (2016).
    """
    n = a.shape[0]
    free = np.zeros((n, n), dtype=bool)
    for part in parts:
        free[np.ix_(part, part)] = True
    if free.all():
        return 0.0
    # vec(Δ) in column-major order; vec(Δ)ᵀ (Σ ⊗ W) vec(Δ) = tr(W Δ Σ Δᵀ)
    free_idx = np.flatnonzero(free.T.ravel())
    fixed_idx = np.flatnonzero(~free.T.ravel())
    fixed_val = a.T.ravel()[fixed_idx]
    delta = np.where(free, 0.0, a)
    logdet_e = _logdet(sigma_e)
    previous = np.inf
    for _ in range(_PHI_G_MAX_ITER):
        s = sigma_e + delta @ sigma @ delta.T
        current = 0.5 * (_logdet(s) - logdet_e)
        if previous - current < _PHI_G_TOL:
            break
        previous = current
        h = np.kron(sigma, np.linalg.inv(s))
        x_free = -np.linalg.solve(
            h[np.ix_(free_idx, free_idx)], h[np.ix_(free_idx, fixed_idx)] @ fixed_val
        )
        vec = np.empty(n * n)
        vec[free_idx] = x_free
        vec[fixed_idx] = fixed_val
        delta = vec.reshape(n, n).T
    return max(min(previous, current), 0.0)


def _information_terms(
    sigma: Array, cross: Array, sigma_e: Array, parts: tuple[tuple[int, ...], ...]
) -> tuple[float, float, float]:
    """``I(X; Y)``, ``Σ_k I(X^k; Y^k)`` and ``Σ_k H(Y^k | X^k) − H(Y | X)``."""
    logdet_e = _logdet(sigma_e)
    mi_parts = 0.0
    h_cond_parts = 0.0
    for part in parts:
        ix = np.ix_(part, part)
        cond = sigma[ix] - cross[ix] @ np.linalg.solve(sigma[ix], cross[ix].T)
        logdet_cond = _logdet(0.5 * (cond + cond.T))
        mi_parts += 0.5 * (_logdet(sigma[ix]) - logdet_cond)
        h_cond_parts += 0.5 * logdet_cond
    return 0.5 * (_logdet(sigma) - logdet_e), mi_parts, h_cond_parts - 0.5 * logdet_e


def _measure(
    a: Array, sigma_e: Array, sigma: Array, parts: tuple[tuple[int, ...], ...], name: MeasureName
) -> float:
    cross = a @ sigma  # Cov(Y, X)
    if name == "phi_g":
        return _phi_g(a, sigma, sigma_e, parts)
    mi, mi_parts, si = _information_terms(sigma, cross, sigma_e, parts)
    if name == "mi":
        return mi
    if name == "phi_wms":
        return mi - mi_parts
    if name == "si":
        return si
    return max(mi - _mismatched_information(sigma, cross, parts), 0.0)


def gaussian_measures(
    A: ArrayLike, sigma_e: ArrayLike, partition: Sequence[Sequence[int]] | None = None
) -> GaussianMeasures:
    """MI, Φ_WMS, SI, Φ* and Φ_G of a stationary VAR(1) for one partition (nats).

    Parameters
    ----------
    A : (n, n) array
        Coupling matrix, ``A[i, j]`` the weight of ``X_{t-1, j}`` on ``X_{t, i}``; stable.
    sigma_e : (n, n) array
        Innovation covariance ``Σ_E``, symmetric positive definite.
    partition : list of index groups, optional
        Disjoint groups covering ``0..n-1``; ``None`` puts every unit alone.

    Returns
    -------
    GaussianMeasures
        Readable as a mapping with keys ``mi``, ``phi_wms``, ``si``, ``phi_star``, ``phi_g``.

    Raises
    ------
    InputError
        Invalid ``A``/``Σ_E`` (see :func:`validate_var1`) or a partition that does not cover the
        units exactly once.

    Notes
    -----
    Definitions and references in the module docstring.
    """
    a, s = validate_var1(A, sigma_e)
    parts = _normalise_partition(partition, a.shape[0])
    sigma = stationary_covariance(a, s)
    cross = a @ sigma
    mi, mi_parts, si = _information_terms(sigma, cross, s, parts)
    return GaussianMeasures(
        mi=mi,
        phi_wms=mi - mi_parts,
        si=si,
        phi_star=max(mi - _mismatched_information(sigma, cross, parts), 0.0),
        phi_g=_phi_g(a, sigma, s, parts),
        partition=parts,
    )


def _bipartition_value(
    a: Array, s: Array, sigma: Array, measure: MeasureName, left: tuple[int, ...]
) -> float:
    right = tuple(i for i in range(a.shape[0]) if i not in left)
    return _measure(a, s, sigma, (left, right), measure)


def _queyranne(n: int, f: Callable[[tuple[int, ...]], float]) -> tuple[float, tuple[int, ...], int]:
    """Queyranne (1998): minimum of a symmetric submodular ``f`` over proper subsets, O(n³)."""
    groups: list[tuple[int, ...]] = [(i,) for i in range(n)]
    best_value, best_set, calls = np.inf, groups[0], 0
    while len(groups) > 1:
        order = [groups[0]]
        rest = groups[1:]
        while rest:
            chosen = sum(order, ())
            scores = []
            for g in rest:
                scores.append(f(tuple(sorted(chosen + g))) - f(g))
                calls += 2
            order.append(rest.pop(int(np.argmin(scores))))
        last = order[-1]
        value = f(tuple(sorted(last)))
        calls += 1
        if value < best_value:
            best_value, best_set = value, tuple(sorted(last))
        merged = tuple(sorted(order[-2] + last))
        groups = [g for g in groups if g not in (order[-2], last)] + [merged]
    return best_value, best_set, calls


def minimum_information_bipartition(
    A: ArrayLike,
    sigma_e: ArrayLike,
    measure: MeasureName = "phi_g",
    *,
    exhaustive_max_n: int = 10,
) -> MinimumBipartition:
    """Bipartition minimising one Gaussian measure (unnormalised), exhaustive or Queyranne.

    Exhaustive over the ``2^(n-1) − 1`` bipartitions for ``n ≤ exhaustive_max_n``; beyond, the
    Queyranne search (Queyranne 1998), exact for symmetric submodular measures and the usual
    heuristic for Φ* and Φ_G otherwise (Hidaka & Oizumi 2018, PLoS ONE 13, e0201126).

    Raises
    ------
    InputError
        Invalid process, fewer than 2 units or an unknown measure name.
    """
    a, s = validate_var1(A, sigma_e)
    n = a.shape[0]
    if n < 2:
        raise InputError(f"a bipartition needs at least 2 units, got {n}")
    check_choice("measure", measure, MEASURES)
    sigma = stationary_covariance(a, s)

    def f(left: tuple[int, ...]) -> float:
        return _bipartition_value(a, s, sigma, measure, left)

    if n <= exhaustive_max_n:
        best_value, best_set = np.inf, tuple[int, ...]((0,))
        candidates = [
            tuple(i for i in range(n) if (code >> i) & 1) for code in range(1, 2 ** (n - 1))
        ]
        for left in candidates:
            value = f(left)
            if value < best_value:
                best_value, best_set = value, left
        calls, exhaustive = len(candidates), True
    else:
        best_value, best_set, calls = _queyranne(n, f)
        exhaustive = False
    other = tuple(i for i in range(n) if i not in best_set)
    return MinimumBipartition(
        measure=measure,
        value=float(best_value),
        partition=(best_set, other),
        exhaustive=exhaustive,
        n_evaluated=calls,
    )


@dataclass(frozen=True)
class Var1Fit:
    """Diagnostics of a least-squares VAR(1) fit."""

    n_transitions: int
    n_trials: int
    n_units: int
    dof: int
    spectral_radius: float
    intercept: tuple[float, ...]


def _as_trials(X: ArrayLike) -> Array:
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise InputError(f"X must have shape (T, n) or (trials, T, n), got {np.shape(X)}")
    if not np.all(np.isfinite(arr)):
        raise InputError("X must be finite")
    return arr


def var1_from_timeseries(X: ArrayLike) -> tuple[Array, Array, Var1Fit]:
    """Least-squares VAR(1) with intercept, pooled over trials.

    Parameters
    ----------
    X : (T, n) or (trials, T, n) array
        Activations; transitions never cross trial boundaries.

    Returns
    -------
    A : (n, n) array
        ``A[i, j]`` the coefficient of unit ``j`` at ``t-1`` on unit ``i`` at ``t``.
    sigma_e : (n, n) array
        Residual covariance with the unbiased ``1 / (N − n − 1)`` normalisation.
    info : Var1Fit
        Number of transitions ``N``, degrees of freedom, spectral radius of ``A``, intercept.

    Raises
    ------
    InputError
        Wrong shape, non-finite values, or fewer transitions than ``n + 2``.
    """
    arr = _as_trials(X)
    trials, _, n = arr.shape
    past = arr[:, :-1].reshape(-1, n)  # (N, n)
    present = arr[:, 1:].reshape(-1, n)
    n_trans = past.shape[0]
    dof = n_trans - n - 1
    if dof < 1:
        raise InputError(
            f"need more than {n + 1} transitions to fit a {n}-unit VAR(1), got {n_trans}"
        )
    design = np.hstack([past, np.ones((n_trans, 1))])
    coef, *_ = np.linalg.lstsq(design, present, rcond=None)  # (n + 1, n)
    resid = present - design @ coef
    a = np.ascontiguousarray(coef[:n].T)
    sigma_e = resid.T @ resid / dof
    info = Var1Fit(
        n_transitions=n_trans,
        n_trials=trials,
        n_units=n,
        dof=dof,
        spectral_radius=float(np.abs(np.linalg.eigvals(a)).max()),
        intercept=tuple(float(v) for v in coef[n]),
    )
    return a, 0.5 * (sigma_e + sigma_e.T), info


@dataclass(frozen=True)
class BootstrapInterval:
    """Percentile bootstrap interval of a statistic of a fitted VAR(1)."""

    estimate: float
    low: float
    high: float
    level: float
    n_boot: int
    scheme: str
    samples: tuple[float, ...]


def bootstrap_ci(
    X: ArrayLike,
    statistic: Callable[[Array, Array], float],
    *,
    rng: np.random.Generator,
    n_boot: int = 200,
    level: float = 0.95,
) -> BootstrapInterval:
    """Percentile bootstrap CI of ``statistic(A, sigma_e)`` for VAR(1) fits of ``X``.

    With several trials the trials are resampled with replacement; with one series the residual
    bootstrap is used (series regenerated from the fitted model, its first value and resampled
    residuals). Example: ``bootstrap_ci(X, lambda A, S: gaussian_measures(A, S)["phi_g"], rng=r)``.

    Raises
    ------
    InputError
        Invalid ``X`` (see :func:`var1_from_timeseries`), ``n_boot < 2`` or ``level`` not in (0, 1).
    """
    check_count("n_boot", n_boot, minimum=2)
    check_fraction("level", level)
    arr = _as_trials(X)
    a, s, info = var1_from_timeseries(arr)
    estimate = float(statistic(a, s))
    trials, length, _ = arr.shape
    samples = np.empty(n_boot)
    if trials > 1:
        scheme = "trials"
        for b in range(n_boot):
            pick = rng.integers(0, trials, size=trials)
            samples[b] = statistic(*var1_from_timeseries(arr[pick])[:2])
    else:
        scheme = "residual"
        series = arr[0]
        c = np.asarray(info.intercept)
        resid = series[1:] - series[:-1] @ a.T - c
        resid -= resid.mean(axis=0)
        for b in range(n_boot):
            draws = resid[rng.integers(0, length - 1, size=length - 1)]
            sim = np.empty_like(series)
            sim[0] = series[0]
            for t in range(1, length):
                sim[t] = a @ sim[t - 1] + c + draws[t - 1]
            samples[b] = statistic(*var1_from_timeseries(sim)[:2])
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(samples, [tail, 100 - tail])
    return BootstrapInterval(
        estimate=estimate,
        low=float(low),
        high=float(high),
        level=level,
        n_boot=n_boot,
        scheme=scheme,
        samples=tuple(float(v) for v in samples),
    )
