"""Tests of axionlab.stats.correlation against scipy.stats, exact enumerations and properties."""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict

import numpy as np
import pytest
from scipy import stats

from axionlab.errors import InputError
from axionlab.stats import correlate, correlate_many, partial_spearman, spearman_p


def _binom_bounds(n: int, p: float, q: float = 0.0005) -> tuple[int, int]:
    return int(stats.binom.ppf(q, n, p)), int(stats.binom.ppf(1 - q, n, p))


def test_matches_scipy_with_ties_and_nan() -> None:
    rng = np.random.default_rng(0)
    x = np.round(rng.normal(size=40), 1)  # ties
    y = np.round(x + rng.normal(size=40), 0)  # heavy ties
    x[[3, 17]] = np.nan
    y[25] = np.nan
    res = correlate(x, y, n_permutations=200, n_bootstrap=200)
    keep = ~(np.isnan(x) | np.isnan(y))
    sp = stats.spearmanr(x[keep], y[keep])
    kt = stats.kendalltau(x[keep], y[keep])  # τ-b
    assert res.n == 37 and res.n_dropped == 3
    assert res.rho == pytest.approx(sp.statistic, abs=1e-12)
    assert res.p == pytest.approx(sp.pvalue, rel=1e-9)
    assert res.tau == pytest.approx(kt.statistic, abs=1e-12)
    assert res.tau_p == pytest.approx(kt.pvalue, rel=1e-9)
    assert -1.0 <= res.ci_low <= res.rho <= res.ci_high <= 1.0


def test_spearman_p_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=12), rng.normal(size=12)
    sp = stats.spearmanr(x, y)
    assert spearman_p(sp.statistic, 12) == pytest.approx(sp.pvalue, rel=1e-10)
    assert spearman_p(1.0, 12) == 0.0


def test_permutation_p_matches_exact_enumeration() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    y = np.array([2.0, 1.0, 4.0, 3.0, 7.0, 5.0, 6.0])
    rho = stats.spearmanr(x, y).statistic
    # y has no ties, so ρ of each of the 5040 orders follows from Σd² (Spearman's formula)
    perms = np.array(list(itertools.permutations(stats.rankdata(y))))
    null = 1 - 6 * ((perms - stats.rankdata(x)) ** 2).sum(axis=1) / (7 * (49 - 1))
    exact = np.mean(np.abs(null) >= abs(rho) - 1e-12)
    res = correlate(x, y, n_permutations=20_000, n_bootstrap=0, seed=3)
    # Monte-Carlo error sd ≈ sqrt(p(1-p)/B) ≈ 0.0013
    assert res.perm_p == pytest.approx(exact, abs=0.006)
    assert math.isnan(res.ci_low)


def test_plus_one_correction_floor() -> None:
    x = np.arange(30.0)
    res = correlate(x, x**3, n_permutations=99, n_bootstrap=0)
    assert res.rho == pytest.approx(1.0)
    assert res.perm_p == pytest.approx(1 / 100)  # (0 + 1)/(99 + 1)


def test_planted_correlation_detected() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=25)
    y = 0.8 * x + 0.5 * rng.normal(size=25)
    res = correlate(x, y, n_permutations=2_000, n_bootstrap=500)
    assert res.perm_p < 0.01 and res.p < 0.01
    assert res.ci_low > 0


def test_null_permutation_p_roughly_uniform() -> None:
    rng = np.random.default_rng(4)
    draws = 200
    pvals = np.array(
        [
            correlate(
                rng.normal(size=15), rng.normal(size=15), n_permutations=199, n_bootstrap=0, seed=i
            ).perm_p
            for i in range(draws)
        ]
    )
    lo, hi = _binom_bounds(draws, 0.05)
    assert lo <= (pvals < 0.05).sum() <= hi
    lo, hi = _binom_bounds(draws, 0.5)
    assert lo <= (pvals < 0.5).sum() <= hi


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_bootstrap_ci_coverage(method: str) -> None:
    rng = np.random.default_rng(5)
    r = 0.5
    true_rho = 6 / np.pi * np.arcsin(r / 2)  # Spearman's ρ of a bivariate normal
    cov = [[1, r], [r, 1]]
    sims = 120
    hits = 0
    for i in range(sims):
        xy = rng.multivariate_normal([0, 0], cov, size=60)
        res = correlate(
            xy[:, 0], xy[:, 1], n_permutations=0, n_bootstrap=400, ci_method=method, seed=i
        )
        hits += res.ci_low <= true_rho <= res.ci_high
    # nominal 0.95; percentile bootstrap of ρ under-covers slightly at n = 60
    assert 0.85 * sims <= hits <= sims


def test_many_equals_single_calls() -> None:
    rng = np.random.default_rng(6)
    X = rng.normal(size=(30, 4))
    X[:, 2] = np.round(X[:, 2])
    X[5, 3] = np.nan  # a different NaN pattern in one column
    y = X[:, 0] + rng.normal(size=30)
    many = correlate_many(X, y, n_permutations=300, n_bootstrap=200, seed=9)
    for j in range(4):
        one = correlate(X[:, j], y, n_permutations=300, n_bootstrap=200, seed=9)
        assert asdict(many[j]) == pytest.approx(asdict(one), abs=1e-12, nan_ok=True)
    assert many[3].n == 29


def test_deterministic_given_seed() -> None:
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=20), rng.normal(size=20)
    a = correlate(x, y, n_permutations=500, n_bootstrap=300, seed=1)
    assert a == correlate(x, y, n_permutations=500, n_bootstrap=300, seed=1)
    assert a.perm_p != correlate(x, y, n_permutations=500, n_bootstrap=300, seed=2).perm_p


def test_degenerate_inputs_give_nan_with_reason() -> None:
    short = correlate([1.0, 2.0, np.nan], [1.0, 2.0, 3.0])
    assert short.n == 2 and math.isnan(short.rho) and "n=2" in short.reason
    flat = correlate(np.ones(10), np.arange(10.0), n_permutations=10, n_bootstrap=10)
    assert math.isnan(flat.rho) and math.isnan(flat.perm_p) and "x is constant" in flat.reason
    flat_y = correlate(np.arange(10.0), np.ones(10))
    assert math.isnan(flat_y.tau) and "y is constant" in flat_y.reason


def test_invalid_input_raises() -> None:
    with pytest.raises(InputError, match="same length"):
        correlate([1, 2, 3], [1, 2])
    with pytest.raises(InputError, match="ci must be in"):
        correlate([1, 2, 3], [1, 2, 3], ci=1.5)
    with pytest.raises(InputError, match="ci_method must be one of"):
        correlate([1, 2, 3], [1, 2, 3], ci_method="bcA")
    with pytest.raises(InputError, match="1-D"):
        correlate(np.ones((3, 2)), [1, 2, 3])


def test_partial_matches_first_order_formula_on_ranks() -> None:
    rng = np.random.default_rng(8)
    z = rng.normal(size=40)
    x = z + rng.normal(size=40)
    y = np.round(z + 0.5 * x + rng.normal(size=40), 1)
    rx, ry, rz = (stats.rankdata(v) for v in (x, y, z))
    r_xy = np.corrcoef(rx, ry)[0, 1]
    r_xz = np.corrcoef(rx, rz)[0, 1]
    r_yz = np.corrcoef(ry, rz)[0, 1]
    expected = (r_xy - r_xz * r_yz) / np.sqrt((1 - r_xz**2) * (1 - r_yz**2))
    t = expected * np.sqrt((40 - 3) / (1 - expected**2))
    res = partial_spearman(x, y, z)
    assert res.rho == pytest.approx(expected, abs=1e-12)
    assert res.p == pytest.approx(2 * stats.t.sf(abs(t), 37), rel=1e-9)
    assert res.n == 40 and res.n_covariates == 1


def test_partial_without_covariates_is_spearman() -> None:
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=25), rng.normal(size=25)
    res = partial_spearman(x, y, np.empty((25, 0)))
    sp = stats.spearmanr(x, y)
    assert res.rho == pytest.approx(sp.statistic, abs=1e-12)
    assert res.p == pytest.approx(sp.pvalue, rel=1e-9)


def test_partial_removes_confounder() -> None:
    rng = np.random.default_rng(10)
    z = rng.normal(size=200)
    x = z + 0.3 * rng.normal(size=200)
    y = z + 0.3 * rng.normal(size=200)
    assert stats.spearmanr(x, y).statistic > 0.8
    res = partial_spearman(x, y, np.column_stack([z, rng.normal(size=200)]))
    assert abs(res.rho) < 0.2


def test_partial_degenerate() -> None:
    x = np.arange(10.0)
    res = partial_spearman(x, np.sin(x), np.exp(x))  # x is a monotone function of z
    assert math.isnan(res.rho) and "constant given the covariates" in res.reason
    res = partial_spearman([1.0, 2.0, 3.0], [3.0, 1.0, 2.0], [1.0, 1.0, 2.0])
    assert math.isnan(res.p) and "dof" in res.reason
