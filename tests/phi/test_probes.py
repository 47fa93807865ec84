"""Integration probes: Gaussian measures with bias baseline, binarised blocks."""

from __future__ import annotations

import numpy as np
import pytest

from axionlab.errors import InputError
from axionlab.phi.probes import (
    binary_probe,
    shuffle_time,
    strongest_block,
    timeseries_integration,
)


def _var_series(a: np.ndarray, trials: int, length: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.zeros((trials, length, a.shape[0]))
    for t in range(1, length):
        x[:, t] = x[:, t - 1] @ a.T + rng.normal(size=(trials, a.shape[0]))
    return x


COUPLED = np.array(
    [[0.4, 0.3, 0.0, 0.0], [0.3, 0.4, 0.0, 0.2], [0.0, 0.2, 0.3, 0.3], [0.0, 0.0, 0.3, 0.3]]
)


def test_shuffle_time_permutes_steps_keeping_units_together():
    x = np.arange(2 * 5 * 3, dtype=float).reshape(2, 5, 3)
    s = shuffle_time(x, np.random.default_rng(0))
    for trial in range(2):
        assert sorted(map(tuple, s[trial])) == sorted(map(tuple, x[trial]))


def test_coupled_process_exceeds_its_shuffled_null_and_measures_are_ordered():
    x = _var_series(COUPLED, trials=100, length=40)
    result = timeseries_integration(x, rng=np.random.default_rng(1), n_boot=20, n_null=3)
    assert result.reason == "" and result.fit.n_transitions == 100 * 39
    assert sorted(sum(result.partition, ())) == [0, 1, 2, 3]
    for measures in (result.atomic, result.mib):
        assert 0 <= measures["phi_g"] <= measures["si"] + 1e-9
        assert measures["phi_star"] <= measures["mi"] + 1e-9
    assert result.mib["phi_g"] > 5 * result.null_mib["phi_g"] > 0
    assert result.ci_low <= result.mib["phi_g"] <= result.ci_high
    assert result.n_boot_valid == 20


def test_unstable_fit_gives_nan_with_a_reason():
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.normal(size=(1, 400, 3)), axis=1)
    walk[..., 1] = 2 * walk[..., 0]  # singular noise
    result = timeseries_integration(walk, rng=rng, n_boot=2, n_null=1)
    assert result.reason and np.isnan(result.mib["phi_g"]) and result.n_boot_valid == 0


def test_strongest_block():
    w = np.zeros((4, 4))
    w[1, 3] = 5.0
    w[0, 2] = -1.0
    assert strongest_block(w, 2, tied=True) == ((1, 3), (1, 3))
    assert strongest_block(w, 1, tied=False) == ((1,), (3,))
    with pytest.raises(InputError, match="k must lie"):
        strongest_block(w, 5, tied=True)


def test_binary_probe_of_a_swap_and_of_independent_units():
    # two units copying each other (a swap): EI = 2 bits, integrated (Φ > 0)
    swap = binary_probe(np.array([[0.0, 1.0], [1.0, 0.0]]), np.zeros(2), (0, 1), (0, 1))
    assert swap.ei == pytest.approx(2.0) and swap.phi_mean > 0 and swap.n_reachable == 4
    # each unit copying itself: EI = 2 bits but no integration
    own = binary_probe(np.eye(2), np.zeros(2), (0, 1), (0, 1))
    assert own.ei == pytest.approx(2.0) and own.phi_max == 0.0
    layer = binary_probe(np.ones((3, 5)), np.zeros(3), (0, 2), (1, 4), levels=(0.0, 1.0), phi=False)
    assert np.isnan(layer.phi_mean) and 0 <= layer.ei <= 2
    with pytest.raises(InputError, match="same units"):
        binary_probe(np.ones((3, 5)), np.zeros(3), (0, 2), (1, 4))
