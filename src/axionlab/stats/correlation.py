"""Rank correlations with permutation p-values and bootstrap confidence intervals.

Spearman's ρ is Pearson's r of average ranks, so ties share their mean rank (Spearman 1904);
Kendall's τ-b corrects for ties in both variables (Kendall 1945). The permutation p-value is the
Monte-Carlo estimate of Phipson & Smyth (2010): with k of B permuted |ρ| at least the observed |ρ|,
p = (k + 1)/(B + 1), which is never 0 and is exact-level under the null. Bootstrap intervals
resample (x, y) pairs and re-rank every resample (Efron & Tibshirani 1993: percentile ch. 13,
BCa ch. 14). Pairs with a NaN are dropped and ``n`` reports how many remained; fewer than three
pairs or a constant variable give NaN statistics with the ``reason`` filled in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special, stats

from axionlab.checks import (
    FloatArray,
    as_matrix,
    as_vector,
    check_choice,
    check_count,
    check_fraction,
    check_same_length,
)
from axionlab.repro import numpy_rng

CI_METHODS = ("percentile", "bca")
# Elements per chunk of permuted/resampled ranks: bounds memory at ~16 MB per chunk.
_CHUNK = 2**21
# Permuted statistics equal to the observed one up to float rounding count as "as extreme".
_TIE_TOL = 1e-12


@dataclass(frozen=True)
class CorrelationResult:
    """Spearman and Kendall correlation of one (x, y) pair of variables.

    ``p`` is scipy's t-approximation for Spearman's ρ, ``tau_p`` scipy's p for Kendall's τ-b,
    ``perm_p`` the two-sided permutation p for ρ and ``ci_low``/``ci_high`` the bootstrap interval
    for ρ. ``reason`` is empty unless the statistics are NaN by construction.
    """

    n: int
    rho: float
    p: float
    tau: float
    tau_p: float
    perm_p: float
    ci_low: float
    ci_high: float
    n_dropped: int = 0
    n_permutations: int = 0
    n_bootstrap: int = 0
    ci: float = 0.95
    reason: str = ""


@dataclass(frozen=True)
class PartialCorrelation:
    """Spearman partial correlation of x and y given ``n_covariates`` covariates."""

    rho: float
    p: float
    n: int
    n_covariates: int
    reason: str = ""


def correlate(
    x: Any,
    y: Any,
    *,
    n_permutations: int = 10_000,
    n_bootstrap: int = 2_000,
    ci: float = 0.95,
    ci_method: str = "percentile",
    seed: int = 0,
) -> CorrelationResult:
    """Spearman ρ and Kendall τ-b of ``x`` and ``y`` with permutation p and bootstrap CI.

    Parameters
    ----------
    x, y
        1-D sequences of equal length; pairs where either is NaN are dropped.
    n_permutations
        Permutations of the y ranks for ``perm_p`` (0 skips the test, ``perm_p`` is NaN).
    n_bootstrap
        Pair resamples for the interval (0 skips it).
    ci
        Confidence level of the interval.
    ci_method
        ``"percentile"`` or ``"bca"`` (bias-corrected and accelerated, jackknife acceleration).
    seed
        Seed of the named streams used for permutations and resamples.

    Returns
    -------
    CorrelationResult

    Raises
    ------
    InputError
        On shape mismatch, a non-numeric input or an invalid option.

    Notes
    -----
    Phipson & Smyth (2010) for the +1-corrected permutation p; Efron & Tibshirani (1993) for the
    bootstrap intervals.
    """
    xv = as_vector("x", x)
    yv = as_vector("y", y)
    check_same_length(x=xv, y=yv)
    return correlate_many(
        xv[:, None],
        yv,
        n_permutations=n_permutations,
        n_bootstrap=n_bootstrap,
        ci=ci,
        ci_method=ci_method,
        seed=seed,
    )[0]


def correlate_many(
    predictors: Any,
    y: Any,
    *,
    n_permutations: int = 10_000,
    n_bootstrap: int = 2_000,
    ci: float = 0.95,
    ci_method: str = "percentile",
    seed: int = 0,
) -> list[CorrelationResult]:
    """:func:`correlate` of every column of ``predictors`` (shape ``(n, m)``) against ``y``.

    The fast path for many predictors: columns sharing a NaN pattern are ranked once and share
    the same permutations of the y ranks and the same pair resamples, so each column's result is
    identical to ``correlate(predictors[:, j], y, ...)`` with the same seed.

    Parameters
    ----------
    predictors
        Array ``(n, m)`` (or ``(n,)`` for one predictor).
    y
        Outcome of length ``n``.
    n_permutations, n_bootstrap, ci, ci_method, seed
        As in :func:`correlate`.

    Returns
    -------
    list of CorrelationResult
        One per column, in column order.
    """
    yv = as_vector("y", y)
    X = as_matrix("predictors", predictors, n_rows=len(yv))
    n_permutations = check_count("n_permutations", n_permutations)
    n_bootstrap = check_count("n_bootstrap", n_bootstrap)
    ci = check_fraction("ci", ci)
    check_choice("ci_method", ci_method, CI_METHODS)

    masks = ~np.isnan(X) & ~np.isnan(yv)[:, None]  # (n, m)
    results: list[CorrelationResult | None] = [None] * X.shape[1]
    groups: dict[bytes, list[int]] = {}
    for j in range(X.shape[1]):
        groups.setdefault(masks[:, j].tobytes(), []).append(j)
    for cols in groups.values():
        rows = masks[:, cols[0]]
        block = _correlate_complete(
            X[np.ix_(rows, np.asarray(cols, dtype=np.intp))],
            yv[rows],
            n_permutations=n_permutations,
            n_bootstrap=n_bootstrap,
            ci=ci,
            ci_method=ci_method,
            seed=seed,
            n_dropped=int(len(yv) - rows.sum()),
        )
        for j, res in zip(cols, block, strict=True):
            results[j] = res
    return [r for r in results if r is not None]


def spearman_p(rho: Any, n: int) -> FloatArray:
    """Two-sided p of Spearman's ρ by the t approximation with n − 2 dof (as scipy.stats)."""
    r = np.asarray(rho, dtype=np.float64)
    dof = n - 2
    with np.errstate(divide="ignore", invalid="ignore"):
        t = r * np.sqrt(dof / ((1.0 + r) * (1.0 - r)))
    return np.asarray(2.0 * stats.t.sf(np.abs(t), dof), dtype=np.float64)


def partial_spearman(x: Any, y: Any, covariates: Any) -> PartialCorrelation:
    """Spearman partial correlation of ``x`` and ``y`` controlling for ``covariates``.

    All variables are rank-transformed (average ranks), x and y ranks are regressed on an
    intercept plus the covariate ranks, and ρ is Pearson's r of the two residual vectors; p comes
    from t = ρ √(dof / (1 − ρ²)) with dof = n − 2 − k (Conover 1999, §5.5; Kendall & Stuart).

    Parameters
    ----------
    x, y
        1-D sequences of length n.
    covariates
        Array ``(n,)`` or ``(n, k)``; ``k = 0`` gives plain Spearman ρ and its p.

    Returns
    -------
    PartialCorrelation
        NaN ``rho``/``p`` with a ``reason`` when dof < 1 or a residual vanishes (x or y is
        explained exactly by the covariates). Rows with any NaN are dropped.
    """
    xv = as_vector("x", x)
    yv = as_vector("y", y)
    n_all = check_same_length(x=xv, y=yv)
    Z = as_matrix("covariates", covariates, n_rows=n_all)
    k = Z.shape[1]
    keep = ~(np.isnan(xv) | np.isnan(yv) | np.isnan(Z).any(axis=1))
    n = int(keep.sum())
    dof = n - 2 - k
    if dof < 1:
        return PartialCorrelation(np.nan, np.nan, n, k, f"n={n} leaves {dof} dof with k={k}")
    rx = stats.rankdata(xv[keep])
    ry = stats.rankdata(yv[keep])
    design = np.column_stack([np.ones(n), stats.rankdata(Z[keep], axis=0)])
    resid = []
    for name, r in (("x", rx), ("y", ry)):
        coef, *_ = np.linalg.lstsq(design, r, rcond=None)
        e = r - design @ coef
        # Residuals at rounding level mean the variable is a function of the covariates.
        if float(np.linalg.norm(e)) <= 1e-9 * max(float(np.linalg.norm(r - r.mean())), 1.0):
            return PartialCorrelation(
                np.nan, np.nan, n, k, f"{name} is constant given the covariates"
            )
        resid.append(e - e.mean())
    ex, ey = resid
    rho = float(np.clip(ex @ ey / np.sqrt((ex @ ex) * (ey @ ey)), -1.0, 1.0))
    with np.errstate(divide="ignore"):
        t = rho * np.sqrt(dof / max(1.0 - rho * rho, 0.0)) if abs(rho) < 1 else np.inf
    p = float(2.0 * stats.t.sf(abs(t), dof))
    return PartialCorrelation(rho, p, n, k)


def _nan_result(n: int, reason: str, **common: Any) -> CorrelationResult:
    nan = float("nan")
    return CorrelationResult(n, nan, nan, nan, nan, nan, nan, nan, reason=reason, **common)


def _standardised_ranks(a: FloatArray, axis: int) -> FloatArray:
    """Average ranks along ``axis``, centred and scaled to unit norm (NaN for constants)."""
    return _unit(np.asarray(stats.rankdata(a, axis=axis), dtype=np.float64), axis)


def _unit(r: FloatArray, axis: int) -> FloatArray:
    """``r`` centred and scaled to unit norm along ``axis``; NaN where it is constant."""
    r = r - r.mean(axis=axis, keepdims=True)
    norm = np.sqrt((r * r).sum(axis=axis, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, r / norm, np.nan)


def _correlate_complete(
    X: FloatArray,
    y: FloatArray,
    *,
    n_permutations: int,
    n_bootstrap: int,
    ci: float,
    ci_method: str,
    seed: int,
    n_dropped: int,
) -> list[CorrelationResult]:
    """Correlations of NaN-free columns ``X`` (n, m) against NaN-free ``y``."""
    n, m = X.shape
    common: dict[str, Any] = {
        "n_dropped": n_dropped,
        "n_permutations": n_permutations,
        "n_bootstrap": n_bootstrap,
        "ci": ci,
    }
    if n < 3:
        return [_nan_result(n, f"n={n} < 3 complete pairs", **common)] * m
    zy = _standardised_ranks(y, axis=0)  # (n,)
    if np.isnan(zy).any():
        return [_nan_result(n, "y is constant", **common)] * m
    zx = _standardised_ranks(X, axis=0)  # (n, m)
    constant = np.asarray(np.isnan(zx).any(axis=0), dtype=bool)
    zx = np.where(constant, 0.0, zx)
    rho = np.clip(zy @ zx, -1.0, 1.0)  # (m,)
    p = spearman_p(rho, n)

    perm_p = np.full(m, np.nan)
    if n_permutations > 0:
        perm_p = _permutation_p(zx, zy, rho, n_permutations, numpy_rng(seed, "spearman", "perm"))
    lo = hi = np.full(m, np.nan)
    if n_bootstrap > 0:
        lo, hi = _bootstrap_ci(
            X, y, rho, n_bootstrap, ci, ci_method, numpy_rng(seed, "spearman", "bootstrap")
        )

    out = []
    for j in range(m):
        if constant[j]:
            out.append(_nan_result(n, "x is constant", **common))
            continue
        kt = stats.kendalltau(X[:, j], y)
        out.append(
            CorrelationResult(
                n=n,
                rho=float(rho[j]),
                p=float(p[j]),
                tau=float(kt.statistic),
                tau_p=float(kt.pvalue),
                perm_p=float(perm_p[j]),
                ci_low=float(lo[j]),
                ci_high=float(hi[j]),
                **common,
            )
        )
    return out


def _permutation_p(
    zx: FloatArray, zy: FloatArray, rho: FloatArray, n_perm: int, rng: np.random.Generator
) -> FloatArray:
    """(k + 1)/(B + 1) with k = #{|ρ*| ≥ |ρ|} over B permutations of the y ranks."""
    n = len(zy)
    block = max(1, _CHUNK // n)
    threshold = np.abs(rho) - _TIE_TOL
    counts = np.zeros(len(rho))
    done = 0
    while done < n_perm:
        b = min(block, n_perm - done)
        perms = rng.permuted(np.tile(zy, (b, 1)), axis=1)  # (b, n), rows shuffled independently
        counts += (np.abs(perms @ zx) >= threshold).sum(axis=0)
        done += b
    return np.asarray((counts + 1.0) / (n_perm + 1.0), dtype=np.float64)


def _resample_ranks(codes: Any, n_levels: int, idx: Any) -> FloatArray:
    """Average ranks within each resample without sorting: idx (b, n) -> ranks (b, n).

    ``codes`` are dense ranks (0-based) of the original values, so the rank of a drawn value is
    the number of drawn values strictly below it plus half of (its tie count + 1).
    """
    b = idx.shape[0]
    drawn = codes[idx]  # (b, n)
    flat = (drawn + n_levels * np.arange(b)[:, None]).ravel()
    counts = np.bincount(flat, minlength=b * n_levels).reshape(b, n_levels)
    avg = np.cumsum(counts, axis=1) - counts + (counts + 1) / 2.0
    return np.asarray(np.take_along_axis(avg, drawn, axis=1), dtype=np.float64)


def _spearman_resamples(X: FloatArray, y: FloatArray, idx: Any) -> FloatArray:
    """Spearman ρ of every resample idx (B, n') of the rows of X (n, m) and y -> (B, m)."""
    n_res, m = idx.shape[0], X.shape[1]
    out = np.empty((n_res, m))
    y_levels, y_codes = np.unique(y, return_inverse=True)
    x_codes = [np.unique(X[:, j], return_inverse=True) for j in range(m)]
    step = max(1, _CHUNK // max(idx.shape[1], 1))
    for s in range(0, n_res, step):
        sl = idx[s : s + step]
        zy = _unit(_resample_ranks(y_codes, len(y_levels), sl), axis=1)
        for j, (levels, codes) in enumerate(x_codes):
            zx = _unit(_resample_ranks(codes, len(levels), sl), axis=1)
            out[s : s + step, j] = (zx * zy).sum(axis=1)
    return np.clip(out, -1.0, 1.0)


def _bootstrap_ci(
    X: FloatArray,
    y: FloatArray,
    rho: FloatArray,
    n_boot: int,
    ci: float,
    method: str,
    rng: np.random.Generator,
) -> tuple[FloatArray, FloatArray]:
    n, m = X.shape
    boot = _spearman_resamples(X, y, rng.integers(0, n, size=(n_boot, n)))  # (B, m)
    alpha = 1.0 - ci
    if method == "percentile":
        levels = np.tile([[alpha / 2.0], [1.0 - alpha / 2.0]], (1, m))
    else:
        levels = _bca_levels(X, y, rho, boot, alpha)
    lo = np.full(m, np.nan)
    hi = np.full(m, np.nan)
    for j in range(m):
        valid = boot[~np.isnan(boot[:, j]), j]
        if len(valid) and np.isfinite(levels[:, j]).all():
            lo[j], hi[j] = np.quantile(valid, levels[:, j])
    return lo, hi


def _bca_levels(
    X: FloatArray, y: FloatArray, rho: FloatArray, boot: FloatArray, alpha: float
) -> FloatArray:
    """BCa quantile levels (2, m): bias z0 from the resamples, acceleration by jackknife."""
    n, _ = X.shape
    valid = ~np.isnan(boot)
    n_valid = valid.sum(axis=0)
    below = ((boot < rho) & valid).sum(axis=0) + 0.5 * ((boot == rho) & valid).sum(axis=0)
    prop = np.clip(below / np.maximum(n_valid, 1), 1.0 / (n_valid + 1), n_valid / (n_valid + 1))
    z0 = special.ndtri(prop)
    leave_out = ~np.eye(n, dtype=bool)
    jk_idx = np.nonzero(leave_out)[1].reshape(n, n - 1)  # (n, n-1)
    jack = _spearman_resamples(X, y, jk_idx)  # (n, m)
    d = np.nanmean(jack, axis=0) - jack
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.nansum(d**3, axis=0) / (6.0 * np.nansum(d**2, axis=0) ** 1.5)
    acc = np.where(np.isfinite(acc), acc, 0.0)
    z = special.ndtri(np.array([alpha / 2.0, 1.0 - alpha / 2.0]))[:, None]  # (2, 1)
    return np.asarray(special.ndtr(z0 + (z0 + z) / (1.0 - acc * (z0 + z))), dtype=np.float64)


__all__ = [
    "CI_METHODS",
    "CorrelationResult",
    "PartialCorrelation",
    "correlate",
    "correlate_many",
    "partial_spearman",
    "spearman_p",
]
