"""Censoring rule, fit table and area-vs-volume verdict on synthetic capacities."""

import math

import numpy as np
import pytest

from axionlab.capacity import (
    CENSORED,
    FIT_COLUMNS,
    NONPOSITIVE_CAPACITY,
    capacity_exclusion,
    fit_rows,
    fitted_capacity,
    law_of,
    law_verdict,
    measure_exclusion,
)
from axionlab.stats import compare_power_laws

VOLUME = ("params",)


def test_a_censored_capacity_is_never_fitted_whatever_its_value():
    for bits in (5.0, 1e9, 0.0, -3.0, math.nan):
        assert capacity_exclusion(bits, 1) == CENSORED
    assert capacity_exclusion(0.0, 0) == capacity_exclusion(math.nan, 0) == NONPOSITIVE_CAPACITY
    assert capacity_exclusion(-1.0, 0) == NONPOSITIVE_CAPACITY
    assert capacity_exclusion(3.5, 0) == ""


def test_fitted_capacity_is_nan_exactly_where_a_reason_is_given():
    rng = np.random.default_rng(0)
    bits = rng.choice([-1.0, 0.0, 2.0, 7.5, math.nan], size=200)
    censored = rng.integers(0, 3, size=200)
    fitted = fitted_capacity(bits, censored)
    reasons = [capacity_exclusion(b, int(c)) for b, c in zip(bits, censored, strict=True)]
    assert np.isnan(fitted).tolist() == [r != "" for r in reasons]
    np.testing.assert_array_equal(fitted[~np.isnan(fitted)], bits[[r == "" for r in reasons]])
    assert np.isnan(fitted[censored > 0]).all()


def test_measure_exclusion_names_each_nonpositive_measure_in_order():
    assert measure_exclusion({"a": 3, "b": 0, "c": 2.0, "d": -1}) == "nonpositive_b+nonpositive_d"
    assert measure_exclusion({"a": 1, "b": 2}) == ""


def _synthetic(law: str, n: int = 24, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A volume measure and an area measure drawn independently; capacity follows one of them."""
    rng = np.random.default_rng(seed)
    params = np.exp(rng.uniform(3, 9, n))
    cut = np.exp(rng.uniform(1, 4, n))
    truth = 2.0 * params if law == "volume" else 5.0 * cut**0.8
    capacity = truth * np.exp(rng.normal(0, 0.05, n))
    return {"params": params, "cut": cut}, capacity


@pytest.mark.parametrize(
    ("law", "best", "exponent"), [("volume", "params", 1.0), ("area", "cut", 0.8)]
)
def test_verdict_finds_the_law_the_capacity_follows(law, best, exponent):
    predictors, capacity = _synthetic(law)
    ranked = compare_power_laws(predictors, capacity, n_bootstrap=0)
    v = law_verdict(ranked, VOLUME, margin=2.0)
    assert v.preferred == law
    assert (v.best_volume, v.best_area, v.n) == ("params", "cut", 24)
    assert v.exponent == pytest.approx(exponent, abs=0.05)
    # ΔAIC = AIC(best area) − AIC(best volume): positive favours volume.
    aic = {c.name: c.fit.aic for c in ranked}
    assert v.delta_aic == aic["cut"] - aic["params"]
    assert (v.delta_aic > 0) == (law == "volume")
    assert v.verdict.startswith(
        f"{law} law preferred: ΔAIC = {abs(v.delta_aic):.2f} in favour of {best}"
    )


def test_verdict_within_the_margin_is_inconclusive():
    predictors, capacity = _synthetic("volume")
    ranked = compare_power_laws(predictors, capacity, n_bootstrap=0)
    v = law_verdict(ranked, VOLUME, margin=1e9)
    assert v.preferred == "inconclusive" and v.verdict.startswith("inconclusive (|ΔAIC| = ")
    assert v.exponent == ranked[0].fit.alpha  # the lower-AIC law's exponent is still reported


def test_verdict_without_enough_fitted_rows_is_inconclusive():
    predictors, capacity = _synthetic("area", n=5)
    capacity[:3] = math.nan  # three censored capacities leave two rows: no fit
    ranked = compare_power_laws(predictors, capacity, n_bootstrap=0)
    v = law_verdict(ranked, VOLUME, margin=2.0)
    assert v.preferred == "inconclusive" and math.isnan(v.delta_aic) and math.isnan(v.exponent)
    assert (v.best_volume, v.best_area) == ("", "")
    assert v.verdict == f"inconclusive (too few uncensored architectures to fit: n = {v.n})"
    assert law_verdict([], VOLUME, 2.0).n == 0


def test_verdict_with_one_law_only_is_inconclusive():
    predictors, capacity = _synthetic("volume")
    ranked = compare_power_laws({"params": predictors["params"]}, capacity, n_bootstrap=0)
    assert law_verdict(ranked, VOLUME, margin=2.0).preferred == "inconclusive"


def test_fit_rows_one_row_per_candidate_in_rank_order():
    predictors, capacity = _synthetic("area")
    ranked = compare_power_laws(predictors, capacity, n_bootstrap=0)
    rows = fit_rows(ranked, VOLUME, hypothesis="H-cut", scope="all")
    assert [tuple(r) for r in rows] == [FIT_COLUMNS] * len(ranked)
    assert [r["predictor"] for r in rows] == [c.name for c in ranked] == ["cut", "params"]
    assert (
        [r["law"] for r in rows] == [law_of(c.name, VOLUME) for c in ranked] == ["area", "volume"]
    )
    assert {(r["hypothesis"], r["scope"]) for r in rows} == {("H-cut", "all")}
    assert rows[0]["delta_aic"] == 0.0 and rows[1]["delta_aic"] > 0
    assert rows[0]["exponent"] == ranked[0].fit.alpha and rows[0]["n"] == 24
    assert sum(r["akaike_weight"] for r in rows) == pytest.approx(1.0)
