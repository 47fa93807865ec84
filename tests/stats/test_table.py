"""correlation_table: columns, per-dataset and pooled values, family-wise corrections, inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from axionlab.errors import InputError
from axionlab.stats import TABLE_COLUMNS, correlation_table, holm, partial_spearman


def _rows() -> list[dict[str, object]]:
    rng = np.random.default_rng(0)
    rows: list[dict[str, object]] = []
    for dataset, slope in (("cifar100", 1.0), ("cub", 0.0)):
        for _ in range(12):
            log_params = rng.uniform(5, 8)
            h0 = rng.normal() + 0.5 * log_params
            rows.append(
                {
                    "dataset": dataset,
                    "h0": h0,
                    "log_params": log_params,
                    "benefit": slope * h0 + 0.3 * rng.normal(),
                    "retention": -log_params + rng.normal(),
                }
            )
    rows[3]["benefit"] = None  # missing value
    return rows


KW = {"n_permutations": 200, "n_bootstrap": 100, "seed": 1}


def test_columns_values_and_corrections() -> None:
    rows = _rows()
    table = correlation_table(
        rows,
        ["h0", "log_params"],
        ["benefit", "retention"],
        group="dataset",
        covariate="log_params",
        **KW,
    )
    assert len(table) == 3 * 2 * 2
    assert all(tuple(r) == TABLE_COLUMNS for r in table)
    assert [r["dataset"] for r in table[::4]] == ["cifar100", "cub", "all"]
    ds = np.array([r["dataset"] for r in rows])
    for r in table:
        mask = np.ones(len(rows), bool) if r["dataset"] == "all" else ds == r["dataset"]
        x = np.array([row[r["predictor"]] for row in rows], float)[mask]
        y = np.array(
            [np.nan if row[r["outcome"]] is None else row[r["outcome"]] for row in rows], float
        )[mask]
        z = np.array([row["log_params"] for row in rows], float)[mask]
        keep = ~np.isnan(y)
        sp = stats.spearmanr(x[keep], y[keep])
        assert r["n"] == keep.sum()
        assert r["rho"] == pytest.approx(sp.statistic)
        assert r["p"] == pytest.approx(sp.pvalue)
        assert r["tau"] == pytest.approx(stats.kendalltau(x[keep], y[keep]).statistic)
        part = partial_spearman(x, y, z)
        if r["predictor"] == "log_params":  # controlling a variable for itself is undefined
            assert math.isnan(r["partial_rho"])
        else:
            assert r["partial_rho"] == pytest.approx(part.rho)
            assert r["partial_p"] == pytest.approx(part.p)
    np.testing.assert_allclose([r["p_holm"] for r in table], holm([r["p"] for r in table]))
    np.testing.assert_allclose(
        [r["p_bonf"] for r in table], np.minimum(1, 12 * np.array([r["p"] for r in table]))
    )
    strong = next(
        r
        for r in table
        if r["dataset"] == "cifar100" and r["predictor"] == "h0" and r["outcome"] == "benefit"
    )
    assert strong["perm_p"] < 0.05


def test_dict_of_columns_equals_list_of_rows() -> None:
    rows = _rows()
    cols = {k: [r[k] for r in rows] for k in rows[0]}
    a = correlation_table(rows, ["h0"], ["benefit"], group="dataset", **KW)
    b = correlation_table(cols, ["h0"], ["benefit"], group="dataset", **KW)
    for ra, rb in zip(a, b, strict=True):
        assert ra.keys() == rb.keys()
        for key, va in ra.items():
            assert va == rb[key] or (math.isnan(va) and math.isnan(rb[key]))
    assert all(math.isnan(r["partial_rho"]) for r in a)  # no covariate given


def test_without_group_and_perm_p_adjustment() -> None:
    table = correlation_table(_rows(), ["h0"], ["benefit", "retention"], adjust="perm_p", **KW)
    assert [r["dataset"] for r in table] == ["all", "all"]
    np.testing.assert_allclose(
        [r["p_bonf"] for r in table], np.minimum(1, 2 * np.array([r["perm_p"] for r in table]))
    )


def test_unknown_column_suggests_name() -> None:
    with pytest.raises(InputError, match=r"Unknown column 'benfit'\. Did you mean 'benefit'"):
        correlation_table(_rows(), ["h0"], ["benfit"])
    with pytest.raises(InputError, match="adjust must be one of"):
        correlation_table(_rows(), ["h0"], ["benefit"], adjust="q")
    with pytest.raises(InputError, match="list of dict rows"):
        correlation_table(42, ["h0"], ["benefit"])


def test_accepts_dataframe() -> None:
    pd = pytest.importorskip("pandas")
    rows = _rows()
    a = correlation_table(rows, ["h0"], ["retention"], group="dataset", **KW)
    b = correlation_table(pd.DataFrame(rows), ["h0"], ["retention"], group="dataset", **KW)
    assert [r["rho"] for r in a] == pytest.approx([r["rho"] for r in b])
    assert [r["dataset"] for r in b] == ["cifar100", "cub", "all"]
