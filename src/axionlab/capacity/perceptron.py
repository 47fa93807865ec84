"""Exact linear separability and Cover's function-counting theorem.

A labelling ``y ∈ {±1}^P`` of points ``x_i ∈ R^N`` is (strictly) linearly separable when some ``w``
has ``y_i w·x_i > 0`` for all i; by scaling, this is the feasibility of the linear program
``y_i w·x_i >= 1``, solved exactly with HiGHS. With ``bias`` the points are lifted to ``(x_i, 1)``.

For P points in general position, Cover (1965) counts ``C(P, N) = 2 Σ_{k<N} binom(P−1, k)`` of
the ``2^P`` labellings as separable by a homogeneous perceptron, so a random labelling is separable
with probability ``C(P, N) / 2^P`` = P(Binomial(P−1, ½) ≤ N−1): exactly ½ at P = 2N, the capacity
of 2 bits per weight (Cover 1965; Gardner 1988 for the same value from the volume of solutions).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize, stats

from axionlab.capacity._search import largest_true
from axionlab.checks import check_choice, check_count
from axionlab.errors import InputError

Distribution = Literal["gaussian", "pm1"]
DISTRIBUTIONS: tuple[Distribution, ...] = ("gaussian", "pm1")


def _as_labels(y: npt.ArrayLike, n: int) -> npt.NDArray[np.float64]:
    labels = np.asarray(y)
    if labels.shape != (n,):
        raise InputError(f"y must have shape ({n},) to match X, got {labels.shape}")
    values = set(np.unique(labels).tolist())
    if not values <= {-1, 1} and not values <= {0, 1}:
        raise InputError(f"y must hold labels in {{-1, 1}} or {{0, 1}}, got {sorted(values)[:5]}")
    return np.where(labels > 0, 1.0, -1.0)


def perceptron_separable(X: npt.ArrayLike, y: npt.ArrayLike, *, bias: bool = False) -> bool:
    """Whether a perceptron classifies every point correctly, decided exactly by an LP.

    Parameters
    ----------
    X : (P, N) array of points.
    y : (P,) labels in {-1, 1} or {0, 1}.
    bias : add a free threshold (affine separator); otherwise the separator passes through 0.

    Returns
    -------
    True when some ``w`` (and threshold) gives ``y_i (w·x_i + b) > 0`` for every i.

    Raises
    ------
    InputError : X not a finite 2-D array, or y of the wrong shape or with other labels.

    Notes
    -----
    Feasibility of ``y_i (w·x_i + b) >= 1`` with HiGHS (scipy ``linprog``); see Cover (1965).
    """
    points = np.asarray(X, dtype=np.float64)
    if points.ndim != 2 or not np.isfinite(points).all():
        raise InputError(f"X must be a finite 2-D array (P, N), got shape {points.shape}")
    labels = _as_labels(y, points.shape[0])
    if points.shape[0] == 0:
        return True
    if bias:
        points = np.hstack([points, np.ones((points.shape[0], 1))])
    signed = labels[:, None] * points  # (P, N)
    primal = optimize.linprog(
        np.zeros(signed.shape[1]),
        A_ub=-signed,
        b_ub=-np.ones(signed.shape[0]),
        bounds=(None, None),
        method="highs",
    )
    if primal.status in (0, 2):
        return bool(primal.status == 0)
    # The primal simplex reports numerical difficulties on ~1% of near-critical instances; the
    # Gordan alternative (λ >= 0, Σλ = 1, Σ λ_i y_i x_i = 0 feasible ⇔ not separable) decides them.
    dual = optimize.linprog(
        np.zeros(signed.shape[0]),
        A_eq=np.vstack([signed.T, np.ones(signed.shape[0])]),
        b_eq=np.append(np.zeros(signed.shape[1]), 1.0),
        bounds=(0, None),
        method="highs",
    )
    if dual.status not in (0, 2):
        raise RuntimeError(f"HiGHS did not decide separability: {primal.message}; {dual.message}")
    return bool(dual.status == 2)


def cover_probability(P: npt.ArrayLike, N: int) -> npt.NDArray[np.float64]:
    """Probability that a random labelling of P points in general position in R^N is separable.

    Parameters
    ----------
    P : number(s) of points, integers >= 0.
    N : dimension (number of weights of a homogeneous perceptron), >= 1.

    Returns
    -------
    ``C(P, N) / 2^P`` with ``C(P, N) = 2 Σ_{k<N} binom(P−1, k)`` (Cover 1965), shaped like P;
    1 for P <= N, exactly ½ at P = 2N.

    Raises
    ------
    InputError : N < 1 or any P negative or not an integer.
    """
    check_count("N", N, minimum=1)
    points = np.asarray(P, dtype=np.float64)
    if (points < 0).any() or (points != np.round(points)).any():
        raise InputError("P must hold non-negative integers")
    # C(P, N)/2^P = Σ_{k<N} binom(P−1, k)/2^(P−1): a binomial CDF, stable for large P.
    prob = stats.binom.cdf(N - 1, np.maximum(points - 1, 0), 0.5)
    return np.asarray(np.where(points == 0, 1.0, prob), dtype=np.float64)


def random_points(
    n: int, dim: int, rng: np.random.Generator, distribution: Distribution = "gaussian"
) -> npt.NDArray[np.float64]:
    """``(n, dim)`` i.i.d. standard Gaussian or uniform ±1 points drawn from ``rng``."""
    check_choice("distribution", distribution, DISTRIBUTIONS)
    if distribution == "gaussian":
        return rng.standard_normal((n, dim))
    return rng.choice(np.array([-1.0, 1.0]), size=(n, dim))


@dataclass(frozen=True)
class SeparabilityCurve:
    """Empirical fraction of random labellings that are separable, for each number of points.

    ``fraction[j]`` is the share of ``trials`` data sets whose first ``P[j]`` points are separable;
    ``lps`` counts the linear programs solved.
    """

    N: int
    P: npt.NDArray[np.int64]
    fraction: npt.NDArray[np.float64]
    trials: int
    bias: bool
    distribution: str
    lps: int

    @property
    def stderr(self) -> npt.NDArray[np.float64]:
        """Binomial standard error of each fraction."""
        return np.sqrt(self.fraction * (1 - self.fraction) / self.trials)


def _prefix_separable(
    X: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    grid: npt.NDArray[np.int64],
    bias: bool,
    j: int,
) -> bool:
    return perceptron_separable(X[: grid[j]], y[: grid[j]], bias=bias)


def separability_curve(
    N: int,
    P: npt.ArrayLike,
    *,
    trials: int,
    rng: np.random.Generator,
    distribution: Distribution = "gaussian",
    bias: bool = False,
) -> SeparabilityCurve:
    """Measure the fraction of random ±1 labellings of random points that are separable, at each P.

    Each trial draws ``max(P)`` points and labels once. Separability of nested prefixes is monotone
    in P, so bisection over the grid finds the largest separable prefix with
    ``ceil(log2(len(P) + 1))`` LPs and gives the trial's indicator at every grid point; a grid
    dense near the expected 50% point spends the LPs where the curve is informative.

    Parameters
    ----------
    N : input dimension.
    P : strictly increasing positive numbers of points.
    trials : number of independent data sets.
    rng : source of points and labels.
    distribution : ``"gaussian"`` or ``"pm1"`` (uniform ±1 coordinates).
    bias : test affine rather than homogeneous separability.

    Returns
    -------
    SeparabilityCurve; compare it with :func:`cover_probability` (Cover 1965).

    Raises
    ------
    InputError : N or trials below 1, a bad grid, or an unknown distribution.
    """
    grid = np.asarray(P, dtype=np.int64)
    check_count("N", N, minimum=1)
    check_count("trials", trials, minimum=1)
    if grid.ndim != 1 or grid.size == 0 or grid[0] < 1 or (np.diff(grid) <= 0).any():
        raise InputError("P must be a non-empty, strictly increasing sequence of positive integers")
    last_separable = np.empty(trials, dtype=np.int64)  # grid index, −1 when none
    lps = 0
    for t in range(trials):
        X = random_points(int(grid[-1]), N, rng, distribution)
        y = rng.choice(np.array([-1.0, 1.0]), size=int(grid[-1]))
        holds = functools.partial(_prefix_separable, X, y, grid, bias)
        last_separable[t], evaluations = largest_true(holds, 0, grid.size - 1)
        lps += evaluations
    fraction = (last_separable[None, :] >= np.arange(grid.size)[:, None]).mean(axis=1)
    return SeparabilityCurve(N, grid, fraction, trials, bias, distribution, lps)


def fifty_percent_point(P: npt.ArrayLike, fraction: npt.ArrayLike) -> float:
    """P at which a decreasing separability curve crosses ½, by linear interpolation.

    Parameters
    ----------
    P : increasing numbers of points.
    fraction : separable fraction at each P.

    Returns
    -------
    The interpolated crossing between the last P with fraction >= ½ before the first below ½.

    Raises
    ------
    InputError : mismatched shapes, P not increasing, or a curve that never crosses ½.
    """
    p = np.asarray(P, dtype=np.float64)
    f = np.asarray(fraction, dtype=np.float64)
    if p.ndim != 1 or p.shape != f.shape or (np.diff(p) <= 0).any():
        raise InputError("P and fraction must be 1-D of equal length with P increasing")
    below = np.flatnonzero(f < 0.5)
    if below.size == 0 or below[0] == 0:
        raise InputError("the curve must start at >= 0.5 and fall below 0.5 inside the P range")
    j = below[0]
    return float(p[j - 1] + (f[j - 1] - 0.5) / (f[j - 1] - f[j]) * (p[j] - p[j - 1]))
