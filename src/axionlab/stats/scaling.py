"""Power-law scaling fits y ≈ a·x^α by least squares in log–log space, and their comparison.

Used for area-versus-volume laws (EXP-02): fit log y = log a + α log x by ordinary least squares,
bootstrap (x, y) pairs for a percentile interval of α, and score the fit with the Gaussian
log-likelihood of the log residuals at the MLE variance σ² = RSS/n, so with k = 3 parameters
(log a, α, σ²) AIC = 2k − 2 ln L and BIC = k ln n − 2 ln L (Akaike 1974; Schwarz 1978; Burnham &
Anderson 2002 for ΔAIC and Akaike weights). Cross-validated RMSE is in log space, leave-one-out
by default (closed form e_i / (1 − h_ii)) or k-fold. All candidate predictors in a comparison are
fitted on the same complete rows, so their likelihoods are comparable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from axionlab.checks import (
    FloatArray,
    as_vector,
    check_count,
    check_fraction,
    check_same_length,
)
from axionlab.errors import InputError
from axionlab.repro import numpy_rng

_N_PARAMS = 3  # log a, α and the residual variance


@dataclass(frozen=True)
class PowerLawFit:
    """Fit of y ≈ a·x^α in log space.

    ``rss``, ``aic``, ``bic`` and ``cv_rmse`` refer to natural-log residuals; ``r2`` is the
    log-space coefficient of determination.
    """

    a: float
    alpha: float
    alpha_low: float
    alpha_high: float
    log_a: float
    rss: float
    aic: float
    bic: float
    cv_rmse: float
    r2: float
    n: int
    n_dropped: int = 0
    ci: float = 0.95
    reason: str = ""


@dataclass(frozen=True)
class PowerLawComparison:
    """One candidate predictor in :func:`compare_power_laws`, ranked by AIC."""

    name: str
    fit: PowerLawFit
    delta_aic: float
    delta_bic: float
    weight: float  # Akaike weight exp(−ΔAIC/2) / Σ exp(−ΔAIC/2)


def fit_power_law(
    x: Any,
    y: Any,
    *,
    n_bootstrap: int = 2_000,
    ci: float = 0.95,
    cv_folds: int | None = None,
    seed: int = 0,
) -> PowerLawFit:
    """Least-squares fit of log y = log a + α log x with bootstrap CI, AIC/BIC and CV RMSE.

    Parameters
    ----------
    x, y
        Positive 1-D sequences of equal length; pairs with NaN are dropped.
    n_bootstrap
        Pair resamples for the interval of α (0 skips it).
    ci
        Confidence level of the α interval.
    cv_folds
        None for leave-one-out, else the number of random folds (>= 2).
    seed
        Seed of the resampling and fold-assignment streams.

    Returns
    -------
    PowerLawFit
        NaN fields with a ``reason`` when fewer than 3 pairs remain or x is constant.

    Raises
    ------
    InputError
        When a non-NaN x or y is <= 0 or the options are invalid.
    """
    xv = as_vector("x", x)
    yv = as_vector("y", y)
    check_same_length(x=xv, y=yv)
    keep = ~(np.isnan(xv) | np.isnan(yv))
    return _fit(xv[keep], yv[keep], int((~keep).sum()), n_bootstrap, ci, cv_folds, seed)


def compare_power_laws(
    predictors: Mapping[str, Any],
    y: Any,
    *,
    n_bootstrap: int = 2_000,
    ci: float = 0.95,
    cv_folds: int | None = None,
    seed: int = 0,
) -> list[PowerLawComparison]:
    """Fit y ≈ a·x^α for each named predictor and rank the fits by AIC.

    Parameters
    ----------
    predictors
        ``{name: x_values}``, each the length of ``y``.
    y
        Positive outcome values.
    n_bootstrap, ci, cv_folds, seed
        As in :func:`fit_power_law`; every predictor uses the same resamples and folds.

    Returns
    -------
    list of PowerLawComparison
        Best (lowest AIC) first, with ΔAIC, ΔBIC relative to the best and Akaike weights. Rows
        with a NaN in y or in any predictor are dropped for all fits.
    """
    if not predictors:
        raise InputError("predictors must name at least one x variable")
    yv = as_vector("y", y)
    xs = {str(name): as_vector(f"predictors[{name!r}]", v) for name, v in predictors.items()}
    check_same_length(y=yv, **xs)
    keep = ~np.isnan(yv)
    for v in xs.values():
        keep &= ~np.isnan(v)
    dropped = int((~keep).sum())
    fits = {
        name: _fit(v[keep], yv[keep], dropped, n_bootstrap, ci, cv_folds, seed)
        for name, v in xs.items()
    }
    aic = np.array([f.aic for f in fits.values()])
    bic = np.array([f.bic for f in fits.values()])
    finite = np.isfinite(aic)
    best_aic = aic[finite].min() if finite.any() else np.nan
    best_bic = bic[np.isfinite(bic)].min() if np.isfinite(bic).any() else np.nan
    d_aic = aic - best_aic
    raw = np.where(finite, np.exp(-0.5 * np.where(finite, d_aic, 0.0)), 0.0)
    weights = raw / raw.sum() if raw.sum() > 0 else np.full(len(raw), np.nan)
    rows = [
        PowerLawComparison(name, fit, float(d_aic[i]), float(bic[i] - best_bic), float(weights[i]))
        for i, (name, fit) in enumerate(fits.items())
    ]
    return sorted(rows, key=lambda r: (np.isnan(r.fit.aic), r.fit.aic))


def _fit(
    x: FloatArray,
    y: FloatArray,
    dropped: int,
    n_bootstrap: int,
    ci: float,
    cv_folds: int | None,
    seed: int,
) -> PowerLawFit:
    n_bootstrap = check_count("n_bootstrap", n_bootstrap)
    ci = check_fraction("ci", ci)
    if cv_folds is not None:
        check_count("cv_folds", cv_folds, minimum=2)
    if (x <= 0).any() or (y <= 0).any():
        raise InputError("power-law fits need x > 0 and y > 0 (log space)")
    n = len(x)
    nan = float("nan")

    def degenerate(reason: str) -> PowerLawFit:
        return PowerLawFit(nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, n, dropped, ci, reason)

    if n < 3:
        return degenerate(f"n={n} < 3 complete pairs")
    lx, ly = np.log(x), np.log(y)
    if np.ptp(lx) == 0:
        return degenerate("x is constant")
    alpha, log_a = _ols(lx, ly)
    resid = ly - (log_a + alpha * lx)
    rss = float(resid @ resid)
    tss = float(((ly - ly.mean()) ** 2).sum())
    if rss > 0:
        loglik = -0.5 * n * (np.log(2.0 * np.pi * rss / n) + 1.0)
        aic = 2.0 * _N_PARAMS - 2.0 * loglik
        bic = _N_PARAMS * np.log(n) - 2.0 * loglik
    else:  # an exact fit has unbounded likelihood
        aic = bic = -np.inf

    low = high = nan
    if n_bootstrap > 0:
        rng = numpy_rng(seed, "power_law", "bootstrap")
        idx = rng.integers(0, n, size=(n_bootstrap, n))
        bx, by = lx[idx], ly[idx]  # (B, n)
        bx_c = bx - bx.mean(axis=1, keepdims=True)
        sxx = (bx_c * bx_c).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            slopes = (bx_c * (by - by.mean(axis=1, keepdims=True))).sum(axis=1) / sxx
        slopes = slopes[sxx > 0]
        if len(slopes):
            low, high = (float(q) for q in np.quantile(slopes, [(1 - ci) / 2, (1 + ci) / 2]))

    return PowerLawFit(
        a=float(np.exp(log_a)),
        alpha=alpha,
        alpha_low=low,
        alpha_high=high,
        log_a=log_a,
        rss=rss,
        aic=float(aic),
        bic=float(bic),
        cv_rmse=_cv_rmse(lx, ly, cv_folds, seed),
        r2=1.0 - rss / tss if tss > 0 else nan,
        n=n,
        n_dropped=dropped,
        ci=ci,
    )


def _ols(lx: FloatArray, ly: FloatArray) -> tuple[float, float]:
    """(slope, intercept) of the simple least-squares line."""
    xc = lx - lx.mean()
    slope = float(xc @ (ly - ly.mean()) / (xc @ xc))
    return slope, float(ly.mean() - slope * lx.mean())


def _cv_rmse(lx: FloatArray, ly: FloatArray, folds: int | None, seed: int) -> float:
    n = len(lx)
    if folds is None:
        xc = lx - lx.mean()
        h = 1.0 / n + xc**2 / (xc @ xc)
        slope, icpt = _ols(lx, ly)
        with np.errstate(divide="ignore", invalid="ignore"):
            e = (ly - icpt - slope * lx) / (1.0 - h)
        return float(np.sqrt(np.mean(e**2)))
    assign = numpy_rng(seed, "power_law", "folds").permutation(n) % min(folds, n)
    errors = []
    for f in range(min(folds, n)):
        test = assign == f
        train = ~test
        if train.sum() < 2 or np.ptp(lx[train]) == 0:
            return float("nan")
        slope, icpt = _ols(lx[train], ly[train])
        errors.append(ly[test] - icpt - slope * lx[test])
    e = np.concatenate(errors)
    return float(np.sqrt(np.mean(e**2)))
