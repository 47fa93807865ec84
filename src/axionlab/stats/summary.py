"""Summaries over seeds: Student-t mean intervals and bootstrap intervals of any statistic.

Report results over many seeds as ``mean ± CI (n=…)``. The t interval is mean ± t_{(1+ci)/2, n−1}
· s/√n. The bootstrap interval resamples the values with replacement (Efron & Tibshirani 1993,
percentile ch. 13, BCa ch. 14). NaN values are dropped and ``n`` says how many were used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import numpy as np
from scipy import special, stats

from axionlab.checks import (
    FloatArray,
    as_vector,
    check_choice,
    check_count,
    check_fraction,
)
from axionlab.repro import numpy_rng

BOOTSTRAP_METHODS = ("percentile", "bca")
Row = TypeVar("Row", bound=Mapping[str, Any])


class MeanCI(NamedTuple):
    """Mean with its Student-t interval; unpacks as ``(mean, low, high, n)``."""

    mean: float
    low: float
    high: float
    n: int


class BootstrapCI(NamedTuple):
    """A statistic with its bootstrap interval; unpacks as ``(estimate, low, high, n)``."""

    estimate: float
    low: float
    high: float
    n: int


def mean_ci(values: Any, ci: float = 0.95) -> MeanCI:
    """Mean and Student-t confidence interval of ``values`` (NaN dropped).

    Parameters
    ----------
    values
        1-D sequence, e.g. one metric over seeds.
    ci
        Confidence level.

    Returns
    -------
    MeanCI
        ``(mean, low, high, n)``; with n = 1 the bounds are NaN, with n = 0 everything is NaN.
        Identical values give a zero-width interval.
    """
    v = as_vector("values", values)
    ci = check_fraction("ci", ci)
    v = v[~np.isnan(v)]
    n = len(v)
    if n == 0:
        return MeanCI(float("nan"), float("nan"), float("nan"), 0)
    mean = float(v.mean())
    if n == 1:
        return MeanCI(mean, float("nan"), float("nan"), 1)
    half = float(stats.t.ppf(0.5 + ci / 2.0, n - 1) * v.std(ddof=1) / np.sqrt(n))
    return MeanCI(mean, mean - half, mean + half, n)


def bootstrap_ci(
    values: Any,
    statistic: Callable[[FloatArray], float] = np.mean,
    *,
    n_bootstrap: int = 2_000,
    ci: float = 0.95,
    method: str = "percentile",
    seed: int = 0,
) -> BootstrapCI:
    """Bootstrap confidence interval of ``statistic`` over ``values`` (NaN dropped).

    Parameters
    ----------
    values
        1-D sequence.
    statistic
        Function of a 1-D array returning a number (default: the mean).
    n_bootstrap
        Number of resamples (>= 1).
    ci
        Confidence level.
    method
        ``"percentile"`` or ``"bca"`` (bias-corrected and accelerated, jackknife acceleration).
    seed
        Seed of the resampling stream.

    Returns
    -------
    BootstrapCI
        ``(estimate, low, high, n)``; bounds are NaN when n < 2.

    Notes
    -----
    Efron, B. & Tibshirani, R. J. (1993). An Introduction to the Bootstrap, ch. 13–14.
    """
    v = as_vector("values", values)
    ci = check_fraction("ci", ci)
    n_bootstrap = check_count("n_bootstrap", n_bootstrap, minimum=1)
    check_choice("method", method, BOOTSTRAP_METHODS)
    v = v[~np.isnan(v)]
    n = len(v)
    nan = float("nan")
    if n == 0:
        return BootstrapCI(nan, nan, nan, 0)
    estimate = float(statistic(v))
    if n < 2:
        return BootstrapCI(estimate, nan, nan, n)
    rng = numpy_rng(seed, "bootstrap_ci")
    idx = rng.integers(0, n, size=(n_bootstrap, n))
    boot = np.array([float(statistic(v[row])) for row in idx])
    boot = boot[np.isfinite(boot)]
    if len(boot) == 0:
        return BootstrapCI(estimate, nan, nan, n)
    alpha = 1.0 - ci
    levels = np.array([alpha / 2.0, 1.0 - alpha / 2.0])
    if method == "bca":
        below = (boot < estimate).mean() + 0.5 * (boot == estimate).mean()
        z0 = special.ndtri(np.clip(below, 1.0 / (len(boot) + 1), len(boot) / (len(boot) + 1)))
        jack = np.array([float(statistic(np.delete(v, i))) for i in range(n)])
        d = jack.mean() - jack
        denom = 6.0 * float((d**2).sum()) ** 1.5
        acc = float((d**3).sum()) / denom if denom > 0 else 0.0
        z = special.ndtri(levels)
        levels = special.ndtr(z0 + (z0 + z) / (1.0 - acc * (z0 + z)))
    low, high = np.quantile(boot, levels)
    return BootstrapCI(estimate, float(low), float(high), n)


def group_rows(rows: Iterable[Row], *keys: str) -> list[list[Row]]:
    """Rows grouped by their values of ``keys``, groups in order of first appearance."""
    groups: dict[tuple[Any, ...], list[Row]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    return list(groups.values())


@dataclass(frozen=True)
class GroupSummary:
    """One group of rows: its key values, its members and each metric's :class:`MeanCI`.

    ``rows`` are the members summarised; ``n_excluded`` counts the members ``include`` left out
    (e.g. diverged seeds), so a report can say how many a mean is over and how many are missing.
    """

    key: Mapping[str, Any]
    rows: tuple[Mapping[str, Any], ...]
    n_excluded: int
    metrics: Mapping[str, MeanCI]


def summarise_groups(
    rows: Iterable[Mapping[str, Any]],
    keys: Sequence[str],
    metrics: Sequence[str],
    *,
    ci: float = 0.95,
    include: Callable[[Mapping[str, Any]], bool] | None = None,
) -> list[GroupSummary]:
    """Mean and Student-t interval (:func:`mean_ci`) of each metric per group of ``keys``.

    Parameters
    ----------
    rows
        One mapping per unit (e.g. per seed), holding ``keys`` and ``metrics``.
    keys
        Columns whose values define a group; groups come in order of first appearance.
    metrics
        Numeric columns to summarise; NaN values are dropped by :func:`mean_ci`.
    ci
        Confidence level of the intervals.
    include
        Which members count (default: all); the others are counted in ``n_excluded``.
    """
    ci = check_fraction("ci", ci)
    out = []
    for members in group_rows(rows, *keys):
        kept = tuple(r for r in members if include is None or include(r))
        out.append(
            GroupSummary(
                key={k: members[0][k] for k in keys},
                rows=kept,
                n_excluded=len(members) - len(kept),
                metrics={m: mean_ci([r[m] for r in kept], ci) for m in metrics},
            )
        )
    return out
