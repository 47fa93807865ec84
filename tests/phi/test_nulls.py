"""Gaussian measures against their shuffled-time null: named values and the bias summary."""

from __future__ import annotations

import math

import numpy as np
import pytest

from axionlab.errors import InputError
from axionlab.phi import (
    INTEGRATION_NAMES,
    NULL_NAMES,
    NullBias,
    integration_values,
    null_bias,
    null_name,
)
from axionlab.phi.gaussian import MEASURES
from axionlab.phi.probes import timeseries_integration


def loop_bias(observed: list[float], null: list[float], low: list[float]) -> NullBias:
    """The summary written out one series at a time."""
    kept = [
        (o, n, lo)
        for o, n, lo in zip(observed, null, low, strict=True)
        if math.isfinite(o) and math.isfinite(n)
    ]
    ratios = sorted(o / n for o, n, _ in kept if n > 0)
    nulls = sorted(n for _, n, _ in kept)

    def median(xs: list[float]) -> float:
        if not xs:
            return math.nan
        mid = len(xs) // 2
        return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2

    return NullBias(
        n=len(kept),
        n_ci_above_null=sum(lo > n for _, n, lo in kept),
        median_null=median(nulls),
        median_ratio=median(ratios),
    )


def test_names_cover_mi_once_and_every_other_measure_per_partition() -> None:
    assert INTEGRATION_NAMES[0] == "mi"
    assert len(INTEGRATION_NAMES) == 1 + 2 * (len(MEASURES) - 1)
    assert "mi_atomic" not in INTEGRATION_NAMES and "phi_g_mib" in INTEGRATION_NAMES
    assert NULL_NAMES == tuple(f"{n}_null" for n in INTEGRATION_NAMES)
    assert null_name("phi_g_mib") == "phi_g_mib_null"


def test_integration_values_of_a_real_fit_take_each_partition_and_null() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 30, 3))
    result = timeseries_integration(x, rng=rng, measure="phi_star", n_boot=2, n_null=1)
    values = integration_values(result)
    assert list(values)[:2] == ["mi", "mi_null"]
    assert set(values) == set(INTEGRATION_NAMES) | set(NULL_NAMES)
    assert values["mi"] == result.atomic["mi"] and values["mi_null"] == result.null_atomic["mi"]
    assert values["si_atomic"] == result.atomic["si"]
    assert values["phi_star_mib"] == result.mib["phi_star"]
    assert values["phi_g_mib_null"] == result.null_mib["phi_g"]


def test_a_null_equal_to_the_observed_value_has_ratio_one_and_no_excess() -> None:
    observed = np.array([0.2, 1.0, 3.0])
    bias = null_bias(observed, observed, observed - 0.1)
    assert bias == NullBias(n=3, n_ci_above_null=0, median_null=1.0, median_ratio=1.0)


def test_matches_a_plain_loop_with_nan_and_nonpositive_nulls() -> None:
    rng = np.random.default_rng(3)
    observed = rng.exponential(size=40)
    null = rng.exponential(size=40) - 0.2  # some nulls <= 0: no ratio for them
    low = observed - rng.exponential(size=40)
    observed[[1, 7]] = math.nan  # undefined measures (feed-forward units, failed fits)
    null[[3]] = math.nan
    low[[5, 9]] = math.nan  # an undefined CI never clears the null
    got = null_bias(observed, null, low)
    want = loop_bias(list(observed), list(null), list(low))
    assert (
        (got.n, got.n_ci_above_null) == (want.n, want.n_ci_above_null) == (37, want.n_ci_above_null)
    )
    assert got.median_null == pytest.approx(want.median_null)
    assert got.median_ratio == pytest.approx(want.median_ratio)


def test_nothing_defined_gives_nan_medians() -> None:
    nan = [math.nan, math.nan]
    assert null_bias(nan, [1.0, 2.0], nan).n == 0
    bias = null_bias([1.0], [0.0], [0.5])  # defined, but the null is not positive
    assert (bias.n, bias.n_ci_above_null, bias.median_null) == (1, 1, 0.0)
    assert math.isnan(bias.median_ratio)
    empty = null_bias([], [], [])
    assert empty.n == 0 and math.isnan(empty.median_null) and math.isnan(empty.median_ratio)


def test_inputs_of_different_lengths_are_refused() -> None:
    with pytest.raises(InputError, match="observed=2, null=1, ci_low=2"):
        null_bias([1.0, 2.0], [1.0], [0.0, 0.0])
