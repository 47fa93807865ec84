"""Reference tests of the predictor tables: ridge against a plain closed-form loop, ICC against
Shrout & Fleiss's worked example and the ANOVA mean squares by hand."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from scipy import stats as scipy_stats

from axionlab.errors import InputError
from axionlab.stats import ICC_COLUMNS, RIDGE_COLUMNS, icc_table, ridge_table


def _rows(n_groups: int = 4, per_group: int = 3, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_groups):
        for _ in range(per_group):
            size, topo = rng.normal(size=2)
            rows.append(
                {
                    "arch": f"arch{g}",
                    "size": size,
                    "curv": rng.normal(),
                    "topo": topo,
                    "y": 2.0 * size + 1.5 * topo + 0.1 * rng.normal(),
                    "z": -size + 0.3 * rng.normal(),
                }
            )
    return rows


def _reference_mae(
    rows: Sequence[dict[str, Any]], features: Sequence[str], outcome: str, alpha: float
) -> float:
    """Leave-one-group-out ridge written out: standardise on the training fold, centre the
    target, solve (ZᵀZ + αI) β = Zᵀ(y − ȳ), predict the held-out group."""
    keep = [r for r in rows if all(np.isfinite(float(r[c])) for c in (*features, outcome))]
    X = np.array([[r[c] for c in features] for r in keep], dtype=float)
    y = np.array([r[outcome] for r in keep], dtype=float)
    groups = np.array([r["arch"] for r in keep])
    errors = np.empty(len(y))
    for g in dict.fromkeys(groups):
        test = groups == g
        mu, sd = X[~test].mean(axis=0), X[~test].std(axis=0)
        Z, Zt = (X[~test] - mu) / sd, (X[test] - mu) / sd
        y_mean = y[~test].mean()
        beta = np.linalg.solve(Z.T @ Z + alpha * np.eye(Z.shape[1]), Z.T @ (y[~test] - y_mean))
        errors[test] = np.abs(y[test] - (Zt @ beta + y_mean))
    return float(errors.mean())


def test_ridge_table_matches_a_closed_form_loop() -> None:
    rows = _rows()
    baselines = [["size"], ["size", "curv"]]
    table = ridge_table(
        rows, ["y", "z"], baselines, ["topo"], group="arch", n_permutations=0, alphas=[0.5]
    )
    assert [(r["baseline"], r["outcome"]) for r in table] == [
        ("size", "y"),
        ("size", "z"),
        ("size+curv", "y"),
        ("size+curv", "z"),
    ]
    for row in table:
        assert tuple(row) == RIDGE_COLUMNS
        baseline = str(row["baseline"]).split("+")
        base = _reference_mae(rows, baseline, row["outcome"], 0.5)
        full = _reference_mae(rows, [*baseline, "topo"], row["outcome"], 0.5)
        assert row["mae_baseline"] == pytest.approx(base, rel=1e-10)
        assert row["mae_full"] == pytest.approx(full, rel=1e-10)
        assert row["improvement"] == pytest.approx(base - full, rel=1e-9, abs=1e-12)
        assert (row["n"], row["n_groups"], row["extra"], row["reason"]) == (12, 4, "topo", "")
        assert math.isnan(row["perm_p"])
    # topology drives y, not z: adding it helps y only
    assert table[0]["improvement"] > 0.5 > table[1]["improvement"]


def test_ridge_table_drops_missing_values_per_outcome_and_states_degenerate_folds() -> None:
    rows = _rows()
    rows[0]["y"] = math.nan
    rows[1]["z"] = None
    table = ridge_table(rows, ["y", "z"], [["size"]], ["topo"], group="arch", n_permutations=0)
    assert [r["n"] for r in table] == [11, 11]
    # the loop gives the same errors on the complete rows alone
    assert table[0]["mae_baseline"] == pytest.approx(
        ridge_table(rows[1:], ["y"], [["size"]], ["topo"], group="arch", n_permutations=0)[0][
            "mae_baseline"
        ]
    )
    one_group = [r | {"arch": "same"} for r in _rows()]
    (row,) = ridge_table(one_group, ["y"], [["size"]], ["topo"], group="arch", n_permutations=0)
    assert row["reason"] == "need >= 2 groups, got 1" and math.isnan(row["mae_full"])


def test_ridge_table_permutation_p_is_seeded() -> None:
    rows = _rows()
    first = ridge_table(rows, ["y"], [["size"]], ["topo"], group="arch", n_permutations=20, seed=3)
    again = ridge_table(rows, ["y"], [["size"]], ["topo"], group="arch", n_permutations=20, seed=3)
    assert first == again
    assert 1 / 21 <= first[0]["perm_p"] <= 1.0


def test_ridge_table_refuses_unknown_columns_and_no_extra_features() -> None:
    with pytest.raises(InputError, match=r"no column 'topology'\. Did you mean 'topo'"):
        ridge_table(_rows(), ["y"], [["size"]], ["topology"], group="arch")
    with pytest.raises(InputError, match="extra must name at least one"):
        ridge_table(_rows(), ["y"], [["size"]], [], group="arch")


# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.
SHROUT_FLEISS = np.array(
    [
        [9, 2, 5, 8],
        [6, 1, 3, 2],
        [8, 4, 6, 8],
        [7, 1, 2, 6],
        [10, 5, 6, 9],
        [6, 2, 4, 7],
    ],
    dtype=float,
)


def test_icc_table_reproduces_shrout_and_fleiss() -> None:
    (row,) = icc_table({"rating": SHROUT_FLEISS})
    assert tuple(row) == ICC_COLUMNS
    # the published values, rounded to two decimals
    assert row["icc_3_1"] == pytest.approx(0.71, abs=0.005)
    assert row["icc_2_1"] == pytest.approx(0.29, abs=0.005)
    assert (row["feature"], row["n_units"], row["n_slices"]) == ("rating", 6, 4)


def test_icc_table_matches_the_anova_mean_squares_by_hand() -> None:
    a = np.array([[1.0, 2.0, 2.5], [3.0, 3.5, 5.0], [2.0, 2.0, 3.0], [6.0, 5.0, 7.5]])
    n, k = a.shape
    grand = a.mean()
    bms = k * ((a.mean(axis=1) - grand) ** 2).sum() / (n - 1)
    jms = n * ((a.mean(axis=0) - grand) ** 2).sum() / (k - 1)
    ss_err = ((a - a.mean(axis=1, keepdims=True) - a.mean(axis=0) + grand) ** 2).sum()
    ems = ss_err / ((n - 1) * (k - 1))
    (row,) = icc_table({"f": a})
    assert row["icc_3_1"] == pytest.approx((bms - ems) / (bms + (k - 1) * ems))
    assert row["icc_2_1"] == pytest.approx(
        (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n)
    )
    assert row["icc_p"] == pytest.approx(scipy_stats.f.sf(bms / ems, n - 1, (n - 1) * (k - 1)))


def test_icc_table_consistency_ignores_a_constant_slice_offset() -> None:
    base = np.array([0.3, 1.2, 2.0, 4.1, 0.9])
    shifted = np.stack([base, base + 1.0, base + 2.5], axis=1)
    (row,) = icc_table({"h0": shifted})
    assert row["icc_3_1"] == pytest.approx(1.0)  # ranks and gaps agree: perfect consistency
    assert row["icc_2_1"] < 1.0  # but the slices disagree in level
    assert row["icc_p"] == 0.0


def test_icc_table_drops_units_with_nan_and_keeps_feature_order() -> None:
    a = SHROUT_FLEISS.copy()
    a[2, 1] = np.nan
    rows = icc_table({"z": a, "a": SHROUT_FLEISS, "flat": np.ones((6, 4))})
    assert [r["feature"] for r in rows] == ["z", "a", "flat"]
    assert [r["n_units"] for r in rows] == [5, 6, 6]
    (complete,) = icc_table({"z": np.delete(SHROUT_FLEISS, 2, axis=0)})
    assert rows[0]["icc_3_1"] == pytest.approx(complete["icc_3_1"])
    # a feature identical on every unit and slice has no agreement to measure: nan, not 1
    assert math.isnan(rows[2]["icc_3_1"]) and math.isnan(rows[2]["icc_2_1"])
    # no unit at all (e.g. every task A diverged): nan with n_units 0
    (empty,) = icc_table({"e": np.zeros((0, 2))})
    assert (empty["n_units"], empty["n_slices"]) == (0, 2) and math.isnan(empty["icc_3_1"])


def test_icc_table_refuses_a_vector() -> None:
    with pytest.raises(InputError, match=r"\(n_units, n_slices\) matrix"):
        icc_table({"f": np.ones(4)})
