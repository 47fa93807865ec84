"""Grouped summaries: group order, exclusions, and each group's mean/CI against plain NumPy."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from axionlab.errors import InputError
from axionlab.stats import group_rows, summarise_groups


def _rows() -> list[dict[str, object]]:
    return [
        {"model": "b", "seed": 0, "acc": 0.5, "ok": True},
        {"model": "a", "seed": 0, "acc": 0.7, "ok": True},
        {"model": "b", "seed": 1, "acc": 0.9, "ok": True},
        {"model": "a", "seed": 1, "acc": float("nan"), "ok": True},
        {"model": "b", "seed": 2, "acc": 0.1, "ok": False},
        {"model": "a", "seed": 2, "acc": 0.8, "ok": True},
    ]


def test_groups_keep_first_appearance_order_and_every_member():
    groups = group_rows(_rows(), "model")
    assert [g[0]["model"] for g in groups] == ["b", "a"]
    assert [len(g) for g in groups] == [3, 3]
    assert [len(g) for g in group_rows(_rows(), "model", "seed")] == [1] * 6


def test_mean_and_interval_match_student_t_by_hand():
    (b, a) = summarise_groups(_rows(), ["model"], ["acc"], ci=0.9)
    values = np.array([0.5, 0.9, 0.1])
    half = scipy_stats.t.ppf(0.95, 2) * values.std(ddof=1) / math.sqrt(3)
    assert b.key == {"model": "b"} and b.n_excluded == 0
    assert b.metrics["acc"].mean == pytest.approx(values.mean())
    assert b.metrics["acc"].low == pytest.approx(values.mean() - half)
    assert b.metrics["acc"].high == pytest.approx(values.mean() + half)
    # NaN dropped: the mean of a is over its two finite values and n says so
    assert a.metrics["acc"].n == 2 and a.metrics["acc"].mean == pytest.approx(0.75)


def test_excluded_members_are_counted_not_averaged():
    (b, _) = summarise_groups(_rows(), ["model"], ["acc"], include=lambda r: bool(r["ok"]))
    assert b.n_excluded == 1 and len(b.rows) == 2
    assert b.metrics["acc"].mean == pytest.approx(0.7)


def test_single_member_has_no_interval_width_claim():
    (only,) = summarise_groups([{"g": 1, "x": 2.0}], ["g"], ["x"])
    assert only.metrics["x"].mean == 2.0 and only.metrics["x"].n == 1
    assert math.isnan(only.metrics["x"].low) and math.isnan(only.metrics["x"].high)


def test_bad_confidence_level_is_refused():
    with pytest.raises(InputError, match="ci"):
        summarise_groups(_rows(), ["model"], ["acc"], ci=1.5)
