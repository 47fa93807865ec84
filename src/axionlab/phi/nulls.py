"""Gaussian measures against their shuffled-time null: flat named values and the bias summary.

:func:`~axionlab.phi.probes.timeseries_integration` evaluates the five Gaussian measures for the
atomic partition and the minimum-information bipartition (MIB), and the same measures on
shuffled-time copies of the series. Shuffling the time steps within each trial removes every
temporal dependence, so a null value is the finite-sample bias of the least-squares VAR(1) at the
same number of transitions: an observed value near its null says nothing about the network.

- :func:`integration_values` flattens one result into named values: ``mi`` (MI does not depend on
  the partition), ``<measure>_<partition>`` for the other four, each with a ``<name>_null`` twin.
  :data:`INTEGRATION_NAMES` lists the observed names in that order.
- :func:`null_bias` summarises, over many series (e.g. one per trained network), how far one
  measure stands above its null: how often its bootstrap CI clears the null, the median null and
  the median observed/null ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from axionlab.checks import as_vector, check_same_length
from axionlab.phi.gaussian import MEASURES, MeasureName
from axionlab.phi.probes import TimeseriesIntegration

PARTITIONS: tuple[str, ...] = ("atomic", "mib")
"""The partitions a :class:`~axionlab.phi.probes.TimeseriesIntegration` evaluates, by name."""
PARTITIONED: tuple[MeasureName, ...] = tuple(m for m in MEASURES if m != "mi")
"""The measures that depend on the partition (MI is a property of the whole system)."""
INTEGRATION_NAMES: tuple[str, ...] = (
    "mi",
    *(f"{m}_{p}" for p in PARTITIONS for m in PARTITIONED),
)
"""Names of the observed values of :func:`integration_values`, in order."""
NULL_SUFFIX = "_null"


def null_name(name: str) -> str:
    """The name of the shuffled-time null of ``name`` (``phi_g_mib`` → ``phi_g_mib_null``)."""
    return f"{name}{NULL_SUFFIX}"


NULL_NAMES: tuple[str, ...] = tuple(null_name(n) for n in INTEGRATION_NAMES)
"""Names of the null values of :func:`integration_values`, in the order of the observed ones."""


def integration_values(result: TimeseriesIntegration) -> dict[str, float]:
    """The measures of ``result`` and their shuffled-time nulls as flat named values (nats).

    Parameters
    ----------
    result
        What :func:`~axionlab.phi.probes.timeseries_integration` returned.

    Returns
    -------
    dict
        ``mi``, ``mi_null``, then for each partition of :data:`PARTITIONS` and each measure of
        :data:`PARTITIONED`: ``<measure>_<partition>`` and ``<measure>_<partition>_null``. The
        keys are exactly :data:`INTEGRATION_NAMES` and :data:`NULL_NAMES`.
    """
    values = {"mi": result.atomic["mi"], null_name("mi"): result.null_atomic["mi"]}
    for partition, measures, null in (
        ("atomic", result.atomic, result.null_atomic),
        ("mib", result.mib, result.null_mib),
    ):
        for m in PARTITIONED:
            values[f"{m}_{partition}"] = measures[m]
            values[null_name(f"{m}_{partition}")] = null[m]
    return values


@dataclass(frozen=True)
class NullBias:
    """How far one measure stands above its shuffled-time null over many series.

    ``n`` counts the series whose observed value and null are both finite; the other fields are
    over those. ``n_ci_above_null`` counts the series whose bootstrap CI lower bound exceeds the
    null (a NaN bound never does). ``median_null`` is NaN when ``n`` is 0; ``median_ratio`` (the
    median of observed / null) uses only positive nulls and is NaN when there is none.
    """

    n: int
    n_ci_above_null: int
    median_null: float
    median_ratio: float


def null_bias(observed: ArrayLike, null: ArrayLike, ci_low: ArrayLike) -> NullBias:
    """Summarise observed values of one measure against their shuffled-time nulls.

    Parameters
    ----------
    observed, null, ci_low : (n,) arrays
        Per series: the measure, its shuffled-time null and the lower bound of the measure's
        bootstrap CI. NaN marks a series where the measure is undefined (e.g. a feed-forward
        network, an unstable fit); such series are left out.

    Returns
    -------
    NullBias

    Raises
    ------
    InputError
        When the inputs are not 1-D numbers of the same length.
    """
    obs = as_vector("observed", observed)
    nul = as_vector("null", null)
    low = as_vector("ci_low", ci_low)
    check_same_length(observed=obs, null=nul, ci_low=low)
    valid = np.isfinite(obs) & np.isfinite(nul)
    obs, nul, low = obs[valid], nul[valid], low[valid]
    ratio = obs / np.where(nul > 0, nul, math.nan)
    return NullBias(
        n=int(valid.sum()),
        n_ci_above_null=int(np.sum(low > nul)),
        median_null=float(np.median(nul)) if nul.size else math.nan,
        median_ratio=float(np.nanmedian(ratio)) if np.isfinite(ratio).any() else math.nan,
    )
