"""Area law or volume law: which capacities enter a fit, the fit table and the verdict.

A capacity measured by bisection is a value only when no seed's search stopped at an end of its
range (there it is a bound) and it is positive (a power law needs a logarithm); a measure enters
a fit only when it is positive. The candidate power laws ``capacity ≈ a·measure^α`` (one per
measure, :func:`~axionlab.stats.compare_power_laws`) are ranked by AIC; the verdict compares the
best-fitting measure of each law (Burnham & Anderson 2002: |ΔAIC| < 2 is no support either way).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from axionlab.checks import as_vector, check_same_length
from axionlab.stats import PowerLawComparison

Law = Literal["volume", "area"]
Preferred = Literal["volume", "area", "inconclusive"]

CENSORED = "censored"
"""Reason: a seed's search ended at an end of its range, so the capacity is a bound."""
NONPOSITIVE_CAPACITY = "nonpositive_capacity"
"""Reason: the capacity is not > 0 (or is NaN), so it has no logarithm."""
NONPOSITIVE_MEASURE = "nonpositive"
"""Prefix of the reason ``nonpositive_<measure>`` for a measure that is not > 0."""

FIT_COLUMNS = (
    "hypothesis",
    "scope",
    "predictor",
    "law",
    "n",
    "n_dropped",
    "a",
    "exponent",
    "exponent_low",
    "exponent_high",
    "r2",
    "aic",
    "bic",
    "delta_aic",
    "delta_bic",
    "akaike_weight",
    "cv_rmse",
    "reason",
)
"""Columns of :func:`fit_rows`, in order."""


def capacity_exclusion(bits: float, n_censored: int) -> str:
    """Why a capacity is left out of the fits; ``""`` when it is fitted.

    :data:`CENSORED` when any seed was censored (checked first: a censored capacity is never
    fitted, whatever its value), else :data:`NONPOSITIVE_CAPACITY` unless ``bits > 0``.
    """
    if n_censored != 0:
        return CENSORED
    if not float(bits) > 0:
        return NONPOSITIVE_CAPACITY
    return ""


def fitted_capacity(bits: npt.ArrayLike, n_censored: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The capacities a power law is fitted to: ``bits`` with NaN wherever
    :func:`capacity_exclusion` gives a reason (NaN rows leave every fit)."""
    values = as_vector("bits", bits)
    censored = as_vector("n_censored", n_censored)
    check_same_length(bits=values, n_censored=censored)
    keep = [capacity_exclusion(b, int(c)) == "" for b, c in zip(values, censored, strict=True)]
    return np.where(keep, values, math.nan).astype(np.float64)


def measure_exclusion(measures: Mapping[str, float]) -> str:
    """Why an architecture leaves every fit: ``nonpositive_<name>`` for each measure not > 0,
    joined by ``+`` in the order given; ``""`` when every measure is positive."""
    return "+".join(
        f"{NONPOSITIVE_MEASURE}_{name}" for name, value in measures.items() if not float(value) > 0
    )


def law_of(measure: str, volume: Collection[str]) -> Law:
    """``"volume"`` for a measure in ``volume``, else ``"area"``."""
    return "volume" if measure in volume else "area"


def fit_rows(
    ranked: Sequence[PowerLawComparison], volume: Collection[str], **labels: Any
) -> list[dict[str, Any]]:
    """One row per candidate power law (columns :data:`FIT_COLUMNS`), in ``ranked`` order.

    ``labels`` fill the leading columns (``hypothesis``, ``scope``); ``exponent`` is α of
    ``capacity ≈ a·measure^α`` with its bootstrap interval, ``delta_aic`` the AIC above the best.
    """
    rows = []
    for c in ranked:
        f = c.fit
        row = {
            **labels,
            "predictor": c.name,
            "law": law_of(c.name, volume),
            "n": f.n,
            "n_dropped": f.n_dropped,
            "a": f.a,
            "exponent": f.alpha,
            "exponent_low": f.alpha_low,
            "exponent_high": f.alpha_high,
            "r2": f.r2,
            "aic": f.aic,
            "bic": f.bic,
            "delta_aic": c.delta_aic,
            "delta_bic": c.delta_bic,
            "akaike_weight": c.weight,
            "cv_rmse": f.cv_rmse,
            "reason": f.reason,
        }
        rows.append(row)
    return rows


@dataclass(frozen=True)
class LawVerdict:
    """Volume vs area from the best-fitting measure of each law.

    ``delta_aic`` = AIC(best area measure) − AIC(best volume measure): positive favours volume.
    ``exponent`` is the preferred (lower-AIC) law's α; NaN and empty names when a law has no
    finite fit.
    """

    preferred: Preferred
    delta_aic: float
    exponent: float
    best_volume: str
    best_area: str
    n: int
    verdict: str

    def as_dict(self) -> dict[str, Any]:
        """The verdict's fields by name, as stored in a run's verdict JSON."""
        return {
            "preferred": self.preferred,
            "delta_aic": self.delta_aic,
            "exponent": self.exponent,
            "best_volume": self.best_volume,
            "best_area": self.best_area,
            "n": self.n,
            "verdict": self.verdict,
        }


def _describe(c: PowerLawComparison) -> str:
    f = c.fit
    return (
        f"{c.name} (exponent {f.alpha:.2f} [{f.alpha_low:.2f}, {f.alpha_high:.2f}], "
        f"R² = {f.r2:.2f}, CV RMSE = {f.cv_rmse:.3f})"
    )


def law_verdict(
    ranked: Sequence[PowerLawComparison], volume: Collection[str], margin: float
) -> LawVerdict:
    """Volume vs area: ΔAIC = AIC(best area) − AIC(best volume) over ``ranked`` (best first).

    ``volume`` names the volume measures (every other predictor is an area measure). The law
    with the lower AIC is preferred when |ΔAIC| >= ``margin``; otherwise, or when either law has
    no finite AIC (too few fitted rows), the verdict is ``"inconclusive"``.
    """
    best: dict[Law, PowerLawComparison | None] = {
        law: next(
            (c for c in ranked if law_of(c.name, volume) == law and math.isfinite(c.fit.aic)),
            None,
        )
        for law in ("volume", "area")
    }
    vol, area = best["volume"], best["area"]
    n = ranked[0].fit.n if ranked else 0
    if vol is None or area is None:
        return LawVerdict(
            "inconclusive",
            math.nan,
            math.nan,
            "",
            "",
            n,
            f"inconclusive (too few uncensored architectures to fit: n = {n})",
        )
    delta = area.fit.aic - vol.fit.aic
    winner, loser = (vol, area) if delta >= 0 else (area, vol)
    preferred: Preferred
    if abs(delta) < margin:
        preferred = "inconclusive"
        text = (
            f"inconclusive (|ΔAIC| = {abs(delta):.2f} < {margin:g}): volume "
            f"{_describe(vol)} vs area {_describe(area)}, n = {n}"
        )
    else:
        preferred = law_of(winner.name, volume)
        text = (
            f"{preferred} law preferred: ΔAIC = {abs(delta):.2f} in favour of "
            f"{_describe(winner)} over {_describe(loser)}, n = {n}"
        )
    return LawVerdict(preferred, delta, winner.fit.alpha, vol.name, area.name, n, text)
