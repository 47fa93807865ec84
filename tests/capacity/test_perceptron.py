import math

import numpy as np
import pytest

from axionlab.capacity import (
    cover_probability,
    fifty_percent_point,
    perceptron_separable,
    separability_curve,
)
from axionlab.errors import InputError


def test_cover_probability_matches_the_counting_formula():
    for N in (1, 3, 10):
        for P in range(1, 4 * N + 3):
            count = 2 * sum(math.comb(P - 1, k) for k in range(N))
            assert cover_probability(P, N) == pytest.approx(count / 2**P, rel=1e-12)
    assert cover_probability(np.array([0, 5, 10, 20]), 10).tolist()[:3] == [1.0, 1.0, 1.0]
    assert cover_probability(200, 100) == pytest.approx(0.5, abs=1e-12)


def test_cover_probability_rejects_bad_arguments():
    with pytest.raises(InputError, match="N must be an integer >= 1, got 0"):
        cover_probability(3, 0)
    with pytest.raises(InputError, match="non-negative integers"):
        cover_probability([2.5], 3)


def test_separable_on_textbook_cases():
    square = np.array([[0.0, 0], [0, 1], [1, 0], [1, 1]])
    assert perceptron_separable(square, [0, 0, 0, 1], bias=True)  # AND
    assert not perceptron_separable(square, [0, 1, 1, 0], bias=True)  # XOR
    assert not perceptron_separable(square, [0, 0, 0, 1])  # homogeneous: the origin has no sign
    x = np.array([[1.0, 2.0], [-1.0, -2.0]])
    assert not perceptron_separable(x, [1, 1])
    assert perceptron_separable(x, [1, -1])


def test_fewer_points_than_dimensions_are_always_separable():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 20))
    for _ in range(5):
        assert perceptron_separable(X, rng.choice([-1, 1], 20))


def test_separable_validates_inputs():
    with pytest.raises(InputError, match="finite 2-D"):
        perceptron_separable(np.array([[np.nan, 1.0]]), [1])
    with pytest.raises(InputError, match="shape"):
        perceptron_separable(np.ones((3, 2)), [1, -1])
    with pytest.raises(InputError, match="labels in"):
        perceptron_separable(np.ones((2, 2)), [1, 2])


def test_fifty_percent_point_interpolates_and_validates():
    assert fifty_percent_point([10, 20, 30], [1.0, 0.75, 0.25]) == pytest.approx(25.0)
    with pytest.raises(InputError, match=r"fall below 0\.5"):
        fifty_percent_point([1, 2], [0.9, 0.8])
    with pytest.raises(InputError, match="increasing"):
        fifty_percent_point([2, 1], [0.9, 0.1])


def _cover_check(N, trials, seed):
    # A grid of 7 points, σ/2 apart around 2N (σ = √(2N) is the width of the transition), gives
    # each trial's indicator at every point from 3 LPs by bisection over nested prefixes.
    step = math.sqrt(2 * N) / 2
    grid = np.round(2 * N + step * np.arange(-3, 4)).astype(int)
    for distribution in ("gaussian", "pm1"):
        rng = np.random.default_rng([seed, N])
        curve = separability_curve(N, grid, trials=trials, rng=rng, distribution=distribution)
        assert curve.lps == 3 * trials
        p50 = fifty_percent_point(curve.P, curve.fraction)
        assert abs(p50 / (2 * N) - 1) < 0.03, (distribution, p50)
        expected = cover_probability(curve.P, N)
        z = (curve.fraction - expected) / np.sqrt(expected * (1 - expected) / trials)
        # 7 correlated grid points per curve, 6 curves in all: |z| < 4 allows for the multiplicity.
        assert np.abs(z).max() < 4, (distribution, z)


@pytest.mark.parametrize(("N", "trials"), [(25, 400), (50, 160)])
def test_cover_theorem_reproduced(N, trials):
    _cover_check(N, trials, seed=0)


@pytest.mark.slow
def test_cover_theorem_reproduced_at_n100():
    _cover_check(100, 80, seed=0)
