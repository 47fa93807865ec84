"""Calibration of the capacity measurement against Cover's theorem (Cover 1965).

A homogeneous perceptron in R^N separates a random ±1 labelling of P points in general position
with probability ``C(P, N)/2^P``, ``C(P, N) = 2 Σ_{k<N} binom(P−1, k)``, which is exactly ½ at
P = 2N. An LP separability curve measured on ``trials`` random data sets should cross ½ there,
within the delta-method standard error of :func:`cover_p50_se`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from axionlab.capacity.perceptron import (
    Distribution,
    SeparabilityCurve,
    cover_probability,
    fifty_percent_point,
    separability_curve,
)
from axionlab.checks import check_count, check_positive
from axionlab.errors import InputError


def cover_p50_se(N: int, trials: int) -> float:
    """Delta-method standard error of the measured 50% point of a separability curve in R^N.

    Near the crossing the fraction separable has binomial error ``sqrt(½·½/trials)``; the
    crossing moves by that error divided by the slope of the closed form there,
    ``|dp/dP| ≈ |p(2N+1) − p(2N−1)| / 2`` (central difference of :func:`cover_probability`), so
    ``SE(P50) = sqrt(0.25/trials) / |dp/dP|_{P=2N}``.
    """
    check_count("N", N, minimum=1)
    check_count("trials", trials, minimum=1)
    slope = abs(float(np.diff(cover_probability([2 * N - 1, 2 * N + 1], N))[0])) / 2
    return math.sqrt(0.25 / trials) / slope


@dataclass(frozen=True)
class CoverCalibration:
    """One dimension's separability curve against Cover's closed form.

    ``p50`` is the measured crossing of ½ (:func:`fifty_percent_point`), ``p50_expected`` = 2N,
    ``p50_se`` from :func:`cover_p50_se`, ``max_abs_dev`` the largest |measured − closed| over
    the grid, ``lps`` the linear programs solved.
    """

    curve: SeparabilityCurve
    closed_form: npt.NDArray[np.float64]
    N: int
    trials: int
    lps: int
    p50: float
    p50_expected: int
    p50_se: float
    max_abs_dev: float

    @property
    def p50_z(self) -> float:
        """(p50 − 2N) / SE: the measured crossing's distance from Cover's in standard errors."""
        return cover_z(self.p50, self.p50_expected, self.p50_se)


def cover_z(p50: float, p50_expected: float, p50_se: float) -> float:
    """``(p50 − p50_expected) / p50_se``: a 50% point's deviation from 2N in standard errors."""
    return (p50 - p50_expected) / p50_se


def cover_calibration(
    N: int,
    *,
    max_ratio: float,
    trials: int,
    rng: np.random.Generator,
    distribution: Distribution = "gaussian",
) -> CoverCalibration:
    """Measure the separability curve of a perceptron in R^N at P = 1, …, ⌊max_ratio·N⌋ by exact
    LP (:func:`separability_curve`) and compare it with Cover's closed form (see the module).

    ``max_ratio`` > 2 puts the expected crossing P = 2N inside the grid.
    """
    check_count("N", N, minimum=1)
    if check_positive("max_ratio", max_ratio) <= 2:
        raise InputError(f"max_ratio must be > 2, got {max_ratio!r}")
    grid = np.arange(1, math.floor(max_ratio * N) + 1)
    curve = separability_curve(N, grid, trials=trials, rng=rng, distribution=distribution)
    closed = cover_probability(grid, N)
    return CoverCalibration(
        curve=curve,
        closed_form=closed,
        N=N,
        trials=trials,
        lps=curve.lps,
        p50=fifty_percent_point(curve.P, curve.fraction),
        p50_expected=2 * N,
        p50_se=cover_p50_se(N, trials),
        max_abs_dev=float(np.max(np.abs(curve.fraction - closed))),
    )
