"""Leave-one-group-out ridge: sklearn reference, brute-force GCV, planted signal, null p-values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from axionlab.errors import InputError
from axionlab.stats import loo_ridge


def _data(rng: np.random.Generator, signal: float, n_groups: int = 10, per: int = 4):
    groups = np.repeat([f"arch{g}" for g in range(n_groups)], per)
    arch_effect = np.repeat(rng.normal(size=n_groups), per)  # architecture-level structure
    params = arch_effect + 0.3 * rng.normal(size=len(groups))
    topo = rng.normal(size=(len(groups), 2))
    y = 0.5 * params + signal * topo[:, 0] + 0.3 * rng.normal(size=len(groups))
    return params, topo, y, groups


def test_fixed_alpha_matches_closed_form_ridge() -> None:
    rng = np.random.default_rng(0)
    params, topo, y, groups = _data(rng, 1.0)
    res = loo_ridge(params, topo, y, groups, alphas=[3.0], n_permutations=0)
    full = np.column_stack([params, topo])
    expected = np.empty_like(y)
    for g in np.unique(groups):
        test = groups == g
        mu, sd = full[~test].mean(0), full[~test].std(0)  # training fold only
        Z, Zt = (full[~test] - mu) / sd, (full[test] - mu) / sd
        y_mean = y[~test].mean()
        beta = np.linalg.solve(Z.T @ Z + 3.0 * np.eye(3), Z.T @ (y[~test] - y_mean))
        expected[test] = Zt @ beta + y_mean  # = sklearn StandardScaler + Ridge(alpha=3)
    np.testing.assert_allclose(res.predictions_full, expected, atol=1e-10)
    assert res.mae_full == pytest.approx(np.abs(y - expected).mean())
    assert res.alphas_full == (3.0,) * 10
    assert math.isnan(res.perm_p)


def test_alpha_chosen_by_gcv_on_training_fold() -> None:
    rng = np.random.default_rng(1)
    params, topo, y, groups = _data(rng, 0.3)
    alphas = [0.01, 0.3, 3.0, 30.0, 300.0]
    res = loo_ridge(params, topo, y, groups, alphas=alphas, n_permutations=0)
    full = np.column_stack([params, topo])
    chosen = []
    for g in dict.fromkeys(groups):
        train = groups != g
        Z = full[train]
        Z = (Z - Z.mean(0)) / Z.std(0)
        yc = y[train] - y[train].mean()
        m = len(yc)
        gcv = []
        for a in alphas:
            H = Z @ np.linalg.solve(Z.T @ Z + a * np.eye(3), Z.T)
            rss = float(np.sum((yc - H @ yc) ** 2))
            gcv.append(m * rss / (m - 1 - np.trace(H)) ** 2)
        chosen.append(alphas[int(np.argmin(gcv))])
    assert res.alphas_full == pytest.approx(tuple(chosen))


def test_planted_signal_detected() -> None:
    rng = np.random.default_rng(2)
    params, topo, y, groups = _data(rng, 1.0)
    res = loo_ridge(params, topo, y, groups, n_permutations=199, seed=1)
    assert res.improvement > 0.2
    assert res.mae_full < res.mae_baseline < res.mae_null * 1.05
    assert res.perm_p < 0.01
    assert res.n == 40 and res.n_groups == 10


def test_noise_features_give_uniform_p() -> None:
    rng = np.random.default_rng(3)
    draws = 40
    pvals = np.array(
        [
            loo_ridge(*_data(rng, 0.0, n_groups=8, per=3), n_permutations=49, seed=i).perm_p
            for i in range(draws)
        ]
    )
    lo, hi = stats.binom.ppf([0.0005, 0.9995], draws, 0.05)
    assert (pvals < 0.05).sum() <= hi
    lo, hi = stats.binom.ppf([0.0005, 0.9995], draws, 0.5)
    assert lo <= (pvals <= 0.5).sum() <= hi


def test_standardisation_makes_scale_irrelevant_and_nan_dropped() -> None:
    rng = np.random.default_rng(4)
    params, topo, y, groups = _data(rng, 0.5)
    a = loo_ridge(params, topo, y, groups, n_permutations=0)
    b = loo_ridge(1e3 * params + 7, topo * [0.01, 50.0], y, groups, n_permutations=0)
    np.testing.assert_allclose(a.predictions_full, b.predictions_full, atol=1e-9)
    y2 = y.copy()
    y2[0] = np.nan
    c = loo_ridge(params, topo, y2, groups, n_permutations=0)
    assert c.n == 39 and c.n_dropped == 1


def test_degenerate_and_invalid() -> None:
    one = loo_ridge(np.arange(6.0), np.ones((6, 1)), np.arange(6.0), ["a"] * 6)
    assert math.isnan(one.mae_full) and "2 groups" in one.reason
    with pytest.raises(InputError, match="groups must have 4"):
        loo_ridge(np.arange(4.0), np.arange(4.0), np.arange(4.0), ["a", "b"])
    with pytest.raises(InputError, match="alphas"):
        loo_ridge(np.arange(4.0), np.arange(4.0), np.arange(4.0), list("aabb"), alphas=[-1.0])
