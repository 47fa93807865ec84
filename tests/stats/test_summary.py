"""mean_ci against scipy's t interval; bootstrap_ci against scipy and by coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from axionlab.errors import InputError
from axionlab.stats import bootstrap_ci, mean_ci


def test_mean_ci_matches_scipy_t_interval() -> None:
    v = np.array([0.61, 0.58, 0.66, 0.70, 0.59, np.nan])
    mean, low, high, n = mean_ci(v, ci=0.9)
    finite = v[:5]
    ref = stats.t.interval(0.9, 4, loc=finite.mean(), scale=stats.sem(finite))
    assert n == 5
    assert mean == pytest.approx(finite.mean())
    assert (low, high) == pytest.approx(ref, rel=1e-12)


def test_mean_ci_small_samples() -> None:
    one = mean_ci([3.0])
    assert one.mean == 3.0 and math.isnan(one.low) and one.n == 1
    assert mean_ci([np.nan]).n == 0
    assert mean_ci([2.0, 2.0, 2.0])[1:3] == (2.0, 2.0)


def test_mean_ci_coverage() -> None:
    rng = np.random.default_rng(0)
    sims = 400
    hits = sum(
        (r := mean_ci(rng.normal(1.0, 2.0, size=8))).low <= 1.0 <= r.high for _ in range(sims)
    )
    lo, hi = stats.binom.ppf([0.0005, 0.9995], sims, 0.95)
    assert lo <= hits <= hi


def test_bootstrap_ci_close_to_scipy_bca() -> None:
    rng = np.random.default_rng(1)
    v = rng.exponential(size=40)
    ours = bootstrap_ci(v, np.median, n_bootstrap=4000, method="bca", seed=2)
    ref = stats.bootstrap((v,), np.median, n_resamples=4000, method="BCa", rng=3)
    assert ours.estimate == pytest.approx(np.median(v))
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.08)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=0.08)


def test_bootstrap_ci_coverage() -> None:
    rng = np.random.default_rng(4)
    sims = 150
    hits = 0
    for i in range(sims):
        r = bootstrap_ci(rng.normal(size=40), n_bootstrap=300, seed=i)
        hits += r.low <= 0.0 <= r.high
    assert 0.86 * sims <= hits <= sims  # nominal 0.95; percentile slightly under-covers


def test_bootstrap_ci_small_and_invalid() -> None:
    assert math.isnan(bootstrap_ci([1.0]).low)
    with pytest.raises(InputError, match="method must be one of"):
        bootstrap_ci([1.0, 2.0], method="bc")
    with pytest.raises(InputError, match="n_bootstrap"):
        bootstrap_ci([1.0, 2.0], n_bootstrap=0)
