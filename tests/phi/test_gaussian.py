"""Gaussian integrated-information measures of a VAR(1): known identities and bounds."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

from axionlab.errors import InputError
from axionlab.phi.gaussian import (
    bootstrap_ci,
    gaussian_measures,
    minimum_information_bipartition,
    stationary_covariance,
    var1_from_timeseries,
)
from axionlab.repro import numpy_rng


def random_process(seed, n, radius=0.8):
    rng = numpy_rng(seed, "phi", "var1")
    a = rng.normal(size=(n, n))
    a *= radius / np.abs(np.linalg.eigvals(a)).max()
    low = rng.normal(size=(n, n))
    return a, low @ low.T + 0.3 * np.eye(n)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [2, 3, 4])
def test_bounds_and_identities(seed, n):
    a, s = random_process(seed, n)
    m = gaussian_measures(a, s)
    sigma = stationary_covariance(a, s)
    total_correlation = 0.5 * (np.log(np.diag(sigma)).sum() - np.linalg.slogdet(sigma)[1])
    tol = 1e-9
    assert m["si"] == pytest.approx(m["phi_wms"] + total_correlation, abs=1e-10)
    assert -tol <= m["phi_g"] <= m["si"] + tol
    assert m["phi_g"] <= m["mi"] + tol
    assert -tol <= m["phi_star"] <= m["mi"] + tol
    assert set(m) == {"mi", "phi_wms", "si", "phi_star", "phi_g"}


def test_phi_g_is_the_constrained_kl_minimum():
    a, s = random_process(7, 3)
    sigma = stationary_covariance(a, s)
    logdet_e = np.linalg.slogdet(s)[1]

    def kl(diag):  # A' diagonal for the atomic partition
        delta = a - np.diag(diag)
        return 0.5 * (np.linalg.slogdet(s + delta @ sigma @ delta.T)[1] - logdet_e)

    brute = scipy.optimize.minimize(
        kl,
        np.diag(a),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000},
    )
    assert gaussian_measures(a, s)["phi_g"] == pytest.approx(brute.fun, abs=1e-8)


def test_disconnected_blocks_give_zero():
    a = np.zeros((4, 4))
    a[:2, :2] = [[0.5, 0.3], [-0.2, 0.4]]
    a[2:, 2:] = [[0.1, 0.6], [0.3, -0.5]]
    s = np.eye(4)
    s[0, 1] = s[1, 0] = 0.4
    s[2, 3] = s[3, 2] = -0.3
    m = gaussian_measures(a, s, partition=[[0, 1], [2, 3]])
    for key in ("phi_wms", "si", "phi_star", "phi_g"):
        assert m[key] == pytest.approx(0.0, abs=1e-9), key
    assert m["mi"] > 0


def test_phi_g_ignores_noise_correlation_that_si_counts():
    a = np.diag([0.5, -0.3, 0.7])
    s = np.array([[1.0, 0.6, 0.2], [0.6, 1.0, 0.3], [0.2, 0.3, 1.0]])
    m = gaussian_measures(a, s)
    assert m["phi_g"] == pytest.approx(0.0, abs=1e-12)
    assert m["si"] > 0.01


def test_phi_wms_can_be_negative():
    # unit 1 copies unit 0: its past information about itself is redundant with the whole's
    a = np.array([[0.9, 0.0], [0.9, 0.0]])
    assert gaussian_measures(a, np.eye(2))["phi_wms"] == pytest.approx(-0.0824, abs=1e-4)


@pytest.mark.parametrize("partition", [None, [[0], [1, 2]]])
def test_invariant_to_rescaling_a_unit(partition):
    a, s = random_process(3, 3)
    d = np.diag([1.0, 7.5, 0.2])
    before = gaussian_measures(a, s, partition)
    after = gaussian_measures(d @ a @ np.linalg.inv(d), d @ s @ d, partition)
    for key in before:
        assert after[key] == pytest.approx(before[key], rel=1e-7, abs=1e-10), key


@pytest.mark.parametrize("measure", ["si", "phi_g", "phi_star"])
def test_minimum_bipartition_exhaustive_and_queyranne_agree_on_block_structure(measure):
    a = np.zeros((5, 5))
    a[:3, :3] = 0.3
    a[3:, 3:] = 0.3
    a[0, 4] = 0.02  # weak link between the blocks
    s = np.eye(5)
    exact = minimum_information_bipartition(a, s, measure)
    assert exact.exhaustive and exact.n_evaluated == 15
    assert {exact.partition[0], exact.partition[1]} == {(0, 1, 2), (3, 4)}
    search = minimum_information_bipartition(a, s, measure, exhaustive_max_n=3)
    assert not search.exhaustive
    assert search.value == pytest.approx(exact.value, abs=1e-12)


def test_var1_fit_recovers_the_process():
    a, s = random_process(11, 3, radius=0.6)
    rng = numpy_rng(11, "phi", "simulate")
    noise = rng.multivariate_normal(np.zeros(3), s, size=(4, 5000))
    x = np.zeros((4, 5000, 3))
    for t in range(1, 5000):
        x[:, t] = x[:, t - 1] @ a.T + noise[:, t]
    a_hat, s_hat, info = var1_from_timeseries(x)
    assert info.n_transitions == 4 * 4999 and info.n_trials == 4
    np.testing.assert_allclose(a_hat, a, atol=0.03)
    np.testing.assert_allclose(s_hat, s, rtol=0.05, atol=0.05)
    truth = gaussian_measures(a, s)["phi_g"]
    ci = bootstrap_ci(
        x[0, :1500],
        lambda a_, s_: gaussian_measures(a_, s_)["mi"],
        rng=numpy_rng(11, "boot"),
        n_boot=30,
    )
    assert ci.scheme == "residual" and ci.low <= ci.estimate <= ci.high
    trials = bootstrap_ci(
        x[:, :800],
        lambda a_, s_: gaussian_measures(a_, s_)["phi_g"],
        rng=numpy_rng(11, "boot2"),
        n_boot=30,
    )
    assert trials.scheme == "trials" and trials.low <= trials.estimate <= trials.high
    assert trials.estimate == pytest.approx(truth, abs=0.03)


@pytest.mark.parametrize(
    ("a", "s", "match"),
    [
        (np.eye(2) * 1.0, np.eye(2), "spectral radius"),
        (np.eye(2) * 0.5, -np.eye(2), "positive definite"),
        (np.eye(2) * 0.5, np.eye(3), "same shape"),
        (np.ones((2, 3)), np.eye(2), "square"),
    ],
)
def test_invalid_process(a, s, match):
    with pytest.raises(InputError, match=match):
        gaussian_measures(a, s)


def test_invalid_partition_and_series():
    with pytest.raises(InputError, match="partition"):
        gaussian_measures(np.eye(3) * 0.5, np.eye(3), [[0, 1], [1, 2]])
    with pytest.raises(InputError, match="transitions"):
        var1_from_timeseries(np.zeros((3, 4)))
    with pytest.raises(InputError, match="shape"):
        var1_from_timeseries(np.zeros(5))
