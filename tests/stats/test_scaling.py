"""Power-law fits: closed-form log-log regression, AIC/BIC, CV, CI coverage and model choice."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from axionlab.errors import InputError
from axionlab.stats import compare_power_laws, fit_power_law


def test_exact_power_law() -> None:
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    fit = fit_power_law(x, 2.0 * x**1.5, n_bootstrap=50)
    assert fit.alpha == pytest.approx(1.5)
    assert fit.a == pytest.approx(2.0)
    assert fit.rss == pytest.approx(0.0, abs=1e-20)


def test_matches_linregress_and_information_criteria() -> None:
    rng = np.random.default_rng(0)
    x = np.exp(rng.uniform(0, 5, size=30))
    y = 3.0 * x**0.7 * np.exp(0.2 * rng.normal(size=30))
    y[4] = np.nan
    fit = fit_power_law(x, y, n_bootstrap=200)
    keep = ~np.isnan(y)
    lx, ly = np.log(x[keep]), np.log(y[keep])
    ref = stats.linregress(lx, ly)
    assert fit.n == 29 and fit.n_dropped == 1
    assert fit.alpha == pytest.approx(ref.slope)
    assert fit.log_a == pytest.approx(ref.intercept)
    assert fit.r2 == pytest.approx(ref.rvalue**2)
    rss = float(((ly - ref.intercept - ref.slope * lx) ** 2).sum())
    loglik = stats.norm.logpdf(ly, ref.intercept + ref.slope * lx, np.sqrt(rss / 29)).sum()
    assert fit.rss == pytest.approx(rss)
    assert fit.aic == pytest.approx(2 * 3 - 2 * loglik)
    assert fit.bic == pytest.approx(3 * np.log(29) - 2 * loglik)
    # leave-one-out RMSE by explicit refits
    errs = []
    for i in range(29):
        m = np.arange(29) != i
        r = stats.linregress(lx[m], ly[m])
        errs.append(ly[i] - r.intercept - r.slope * lx[i])
    assert fit.cv_rmse == pytest.approx(np.sqrt(np.mean(np.square(errs))))
    kfold = fit_power_law(x, y, n_bootstrap=0, cv_folds=5)
    assert kfold.cv_rmse == pytest.approx(fit.cv_rmse, rel=0.3)
    assert math.isnan(kfold.alpha_low)


def test_alpha_ci_coverage() -> None:
    rng = np.random.default_rng(1)
    sims, hits = 100, 0
    for i in range(sims):
        x = np.exp(rng.uniform(0, 4, size=40))
        y = 0.5 * x**1.2 * np.exp(0.3 * rng.normal(size=40))
        fit = fit_power_law(x, y, n_bootstrap=300, seed=i)
        hits += fit.alpha_low <= 1.2 <= fit.alpha_high
    assert hits >= 86  # nominal 95%


def test_compare_prefers_true_predictor() -> None:
    rng = np.random.default_rng(2)
    width = np.exp(rng.uniform(1, 4, size=40))
    depth = np.exp(rng.uniform(1, 4, size=40))
    area = width * depth
    volume = width * depth * depth
    y = 2.0 * area**0.5 * np.exp(0.1 * rng.normal(size=40))
    ranked = compare_power_laws(
        {"volume": volume, "area": area, "width": width}, y, n_bootstrap=100
    )
    assert ranked[0].name == "area"
    assert ranked[0].delta_aic == 0.0 and ranked[0].delta_bic == 0.0
    assert ranked[1].delta_aic > 10
    assert sum(r.weight for r in ranked) == pytest.approx(1.0)
    assert ranked[0].fit.alpha_low <= 0.5 <= ranked[0].fit.alpha_high


def test_invalid_and_degenerate() -> None:
    with pytest.raises(InputError, match="x > 0"):
        fit_power_law([1.0, 0.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(InputError, match="at least one"):
        compare_power_laws({}, [1.0])
    flat = fit_power_law([2.0, 2.0, 2.0, 2.0], [1.0, 2.0, 3.0, 4.0])
    assert math.isnan(flat.alpha) and flat.reason == "x is constant"
    assert "n=2" in fit_power_law([1.0, 2.0], [1.0, 2.0]).reason
