"""Cover calibration: Cover's function count, the delta-method SE of the 50% point, the unit."""

import math

import numpy as np
import pytest

from axionlab.capacity import (
    cover_calibration,
    cover_p50_se,
    cover_probability,
    cover_z,
    fifty_percent_point,
)
from axionlab.errors import InputError


@pytest.mark.parametrize(
    ("P", "N", "count"),
    # C(P, N) = 2 Σ_{k<N} binom(P−1, k), by hand: every labelling of P ≤ N points is separable,
    # two of 2^P for N = 1, exactly half of them at P = 2N.
    [(1, 1, 2), (3, 1, 2), (3, 3, 8), (4, 2, 8), (5, 2, 10), (6, 3, 32), (7, 3, 44), (8, 4, 128)],
)
def test_cover_function_count_at_known_values(P, N, count):
    assert cover_probability(P, N) * 2**P == pytest.approx(count, rel=1e-12)


def test_p50_se_closed_form_for_one_weight():
    # N = 1: p(P) = 2^(1−P), so p(1) = 1, p(3) = 1/4 and the central slope at P = 2 is 3/8.
    for trials in (1, 50, 200):
        assert cover_p50_se(1, trials) == pytest.approx(math.sqrt(0.25 / trials) / (3 / 8))


def test_p50_se_is_the_binomial_error_over_the_closed_form_slope():
    for n in (2, 5, 13):
        count = [
            2 * sum(math.comb(p - 1, k) for k in range(n)) / 2**p for p in (2 * n - 1, 2 * n + 1)
        ]
        slope = abs(count[1] - count[0]) / 2
        assert cover_p50_se(n, 100) == pytest.approx(0.05 / slope, rel=1e-12)
    assert cover_p50_se(10, 400) == pytest.approx(cover_p50_se(10, 100) / 2)  # ∝ 1/sqrt(trials)


@pytest.mark.parametrize(("n", "trials"), [(5, 200), (10, 200)])
def test_p50_se_matches_monte_carlo(n, trials):
    """Curves drawn the way the LP measures them: each trial's largest separable prefix P* has
    P(P* >= P) = Cover's p(P), so the fraction at every P comes from the same nested trials."""
    grid = np.arange(1, 4 * n + 1)
    p = cover_probability(grid, n)
    pmf = np.append(p[:-1] - p[1:], p[-1])
    star = np.random.default_rng(0).choice(grid, size=(1_000, trials), p=pmf)
    fractions = (star[:, :, None] >= grid).mean(axis=1)
    p50 = np.array([fifty_percent_point(grid, f) for f in fractions])
    assert p50.mean() == pytest.approx(2 * n, abs=3 * cover_p50_se(n, trials) / math.sqrt(1_000))
    assert p50.std(ddof=1) == pytest.approx(cover_p50_se(n, trials), rel=0.15)


def test_cover_calibration_against_the_closed_form():
    rng = np.random.default_rng(3)
    c = cover_calibration(2, max_ratio=4.5, trials=20, rng=rng)
    assert c.curve.P.tolist() == list(range(1, 10))
    np.testing.assert_array_equal(c.closed_form, cover_probability(c.curve.P, 2))
    assert (c.N, c.trials, c.p50_expected, c.lps) == (2, 20, 4, c.curve.lps)
    assert c.p50 == fifty_percent_point(c.curve.P, c.curve.fraction)
    assert c.p50_se == cover_p50_se(2, 20)
    assert c.p50_z == cover_z(c.p50, 4, c.p50_se) == (c.p50 - 4) / c.p50_se
    assert c.max_abs_dev == np.max(np.abs(c.curve.fraction - c.closed_form))
    assert abs(c.p50_z) < 4
    again = cover_calibration(2, max_ratio=4.5, trials=20, rng=np.random.default_rng(3))
    assert again.p50 == c.p50


def test_cover_calibration_needs_the_crossing_inside_the_grid():
    with pytest.raises(InputError, match="max_ratio must be > 2"):
        cover_calibration(3, max_ratio=2.0, trials=10, rng=np.random.default_rng(0))
    with pytest.raises(InputError, match="trials"):
        cover_p50_se(3, 0)
