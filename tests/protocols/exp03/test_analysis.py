"""EXP-03's analysis on fabricated phase summaries (no training): fast property checks."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from axionlab.phi import DEGENERATE_PROBE, null_bias
from axionlab.protocols.exp03 import analysis as a
from axionlab.protocols.exp03.config import OUTCOMES, Exp03Config, Exp03Unit
from axionlab.runs import Run, Table, phase_key, read_csv, read_json
from axionlab.train import TrainResult

CONFIG = Exp03Config.model_validate(
    {
        "protocol": "exp03",
        "datasets": [
            {"name": "mnist1d", "architectures": ["elman", "gru", "rmlp"]},
            {"name": "digits", "architectures": ["mlp"]},
        ],
        "architectures": [{"name": "elman"}, {"name": "gru"}, {"name": "rmlp"}, {"name": "mlp"}],
        "phi_gaussian": {"measure": "phi_star"},
        "analysis": {"n_permutations": 20, "n_bootstrap": 20},
    }
)
UNITS = ["mnist1d__elman__s0", "mnist1d__gru__s0", "mnist1d__rmlp__s0", "digits__mlp__s0"]
DIVERGED, FEEDFORWARD, DEGENERATE = UNITS[1], UNITS[3], UNITS[2]


def train_summary(unit: str, k: int) -> dict[str, Any]:
    dataset, arch, _ = unit.split("__")
    recurrent = dataset == "mnist1d"
    diverged = unit == DIVERGED
    return {
        "dataset": dataset,
        "arch": arch,
        "family": arch,
        "kind": a.RECURRENT if recurrent else a.FEEDFORWARD,
        "seed": 0,
        "params": 10 ** (k + 2),
        "train_acc": math.nan if diverged else 0.9 - 0.1 * k,
        "test_acc": math.nan if diverged else 0.8 - 0.15 * k,
        "gap": math.nan if diverged else 0.1 + 0.05 * k,
        "test_loss": 1.0,
        "diverged": diverged,
        "diverged_step": 7 if diverged else None,
    }


def gaussian_summary(k: int) -> dict[str, Any]:
    summary: dict[str, Any] = {c: 0.5 + k for c in a.GAUSSIAN_COLUMNS}
    summary.update({c: 0.1 * (k + 1) for c in a.NULL_COLUMNS})
    summary.update(
        ci_low=0.2 + k,
        ci_high=1.0 + k,
        ci_measure="phi_star",
        n_boot_valid=4,
        n_transitions=39 * 10,
        n_trials=10,
        hidden=4,
        spectral_radius=0.5,
        partition="0 1|2 3",
        reason="",
    )
    return summary


def probe(k: int) -> dict[str, Any]:
    return {
        "ei": 0.5 * k,
        "big_phi": 0.1 * k,
        "big_phi_max": 0.2 * k,
        "n_reachable": 2,
        "nodes": 3,
        "probe": "recurrent",
        "rows": [0, 1, 2],
        "cols": [0, 1, 2],
        "phi_exact_reason": "",
    }


def robustness(k: int) -> dict[str, Any]:
    return {"noise_acc": 0.7 - 0.1 * k, "fgsm_acc": 0.5 - 0.1 * k, "noise_sigma": 0.5}


def summaries(unit: str, k: int) -> dict[str, dict[str, Any]]:
    """What the four phases of ``unit`` would store."""
    train = train_summary(unit, k)
    if unit == DIVERGED:
        return {
            "train": train,
            "phi_gaussian": a.undefined_gaussian(a.TRAIN_DIVERGED),
            "phi_exact": a.undefined_probe(3, True, a.TRAIN_DIVERGED),
            "robustness": a.undefined_robustness(CONFIG.robustness, a.TRAIN_DIVERGED),
        }
    degenerate = a.undefined_probe(3, True, f"{DEGENERATE_PROBE}: flat block")
    stored = {
        "train": train,
        "phi_exact": degenerate if unit == DEGENERATE else probe(k),
        "robustness": robustness(k),
    }
    if train["kind"] == a.RECURRENT:
        stored["phi_gaussian"] = gaussian_summary(k)
    return stored


@pytest.fixture(scope="module")
def tables() -> a.Exp03Tables:
    """Four units: two defined recurrent ones (one with a degenerate probe), one diverged, one
    feed-forward."""
    return a.tabulate([a.unit_row(u, summaries(u, k)) for k, u in enumerate(UNITS)], CONFIG)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, tables: a.Exp03Tables) -> Run:
    run = Run(tmp_path_factory.mktemp("runs") / "exp03" / "fabricated")
    run.path.mkdir(parents=True)
    a.write_tables(run, tables)
    return run


def by_unit(table: Table) -> dict[str, Mapping[str, Any]]:
    return {str(r["unit"]): r for r in table}


def test_units_table_holds_every_unit_in_plan_order_with_the_published_columns(
    run: Run, tables: a.Exp03Tables
) -> None:
    assert tables.units.columns == a.UNIT_COLUMNS == tuple(a.unit_columns())
    assert tables.units.column("unit") == UNITS
    assert list(read_csv(run.path / "units.csv")[0]) == a.unit_columns()
    assert len(set(a.UNIT_COLUMNS)) == len(a.UNIT_COLUMNS)
    assert set(a.PREDICTORS) <= set(a.UNIT_COLUMNS) and set(OUTCOMES) <= set(a.UNIT_COLUMNS)


def test_read_tables_gives_back_typed_values(run: Run, tables: a.Exp03Tables) -> None:
    back = a.read_tables(run)
    rows = by_unit(back.units)
    assert rows[DIVERGED]["diverged"] is True and rows[UNITS[0]]["diverged"] is False
    assert rows[DIVERGED]["diverged_step"] == 7 and rows[UNITS[0]]["diverged_step"] is None
    assert rows[UNITS[0]]["seed"] == 0 and rows[UNITS[0]]["n_reachable"] == 2
    assert rows[UNITS[0]]["mi"] == 0.5 and rows[UNITS[0]]["log_params"] == 2.0
    assert back.bias == tables.bias and back.bias_measure == "phi_star_mib"
    assert back.correlations.column("n") == tables.correlations.column("n")
    assert back.exclusions.rows == tables.exclusions.rows


def test_a_diverged_unit_is_named_once_and_left_out_of_every_statistic(
    tables: a.Exp03Tables,
) -> None:
    bad = by_unit(tables.units)[DIVERGED]
    assert bad["train_reason"] == a.TRAIN_DIVERGED
    for column in ("train_acc", "test_acc", "gap", "noise_acc", "ei", *a.GAUSSIAN_COLUMNS):
        assert math.isnan(float(bad[column])), column
    named = [r for r in tables.exclusions if r["unit"] == DIVERGED]
    assert named == [
        {"unit": DIVERGED, "what": a.REASON_COLUMNS[0][1], "reason": "train_diverged", "step": 7}
    ]
    size_gap = tables.pooled.where(predictor="log_params", outcome="gap")
    assert size_gap.column("n") == [3]  # four units, one diverged
    assert tables.bias.n == 2  # recurrent units with a defined measure: not the diverged one


def test_a_phase_reason_is_named_with_what_it_leaves_undefined(tables: a.Exp03Tables) -> None:
    rows = [r for r in tables.exclusions if r["unit"] == DEGENERATE]
    assert rows == [
        {
            "unit": DEGENERATE,
            "what": "phi_exact (Φ, EI)",
            "reason": f"{DEGENERATE_PROBE}: flat block",
            "step": None,
        }
    ]
    assert [r["unit"] for r in tables.exclusions] == [DIVERGED, DEGENERATE]


def test_feedforward_units_have_no_gaussian_measures(tables: a.Exp03Tables) -> None:
    row = by_unit(tables.units)[FEEDFORWARD]
    for column in (*a.GAUSSIAN_COLUMNS, *a.NULL_COLUMNS, *a.GAUSSIAN_DIAGNOSTICS):
        assert math.isnan(float(row[column])), column
    assert row["partition"] == "" and row["reason"] == ""
    pooled_mi = tables.pooled.where(predictor="mi", outcome="gap")
    assert pooled_mi.column("n") == [2]  # the recurrent, non-diverged units only


def test_bias_summary_is_the_library_summary_of_the_criterion_column(
    run: Run, tables: a.Exp03Tables
) -> None:
    units = tables.units
    want = null_bias(
        units.floats("phi_star_mib"), units.floats("phi_star_mib_null"), units.floats("ci_low")
    )
    assert tables.bias == want
    stored = read_json(run.path / "tables" / "summary.json")
    assert stored["measure"] == a.criterion_column(CONFIG) == "phi_star_mib"
    assert stored["n_recurrent"] == want.n and stored["n_units"] == len(UNITS)


def test_correlations_per_dataset_and_pooled(tables: a.Exp03Tables) -> None:
    datasets = set(tables.correlations.column("dataset"))
    assert datasets == {"mnist1d", "digits", a.POOLED}
    assert a.POOLED not in set(tables.per_dataset.column("dataset"))
    assert len(tables.pooled) == len(a.PREDICTORS) * len(OUTCOMES)


def test_one_dataset_has_no_pooled_rows_its_rows_are_the_ones_over_all_units() -> None:
    one = CONFIG.model_copy(update={"datasets": CONFIG.datasets[:1]})
    recurrent = [u for u in UNITS if u.startswith("mnist1d")]
    tables = a.tabulate([a.unit_row(u, summaries(u, k)) for k, u in enumerate(recurrent)], one)
    assert set(tables.correlations.column("dataset")) == {"mnist1d"}
    assert not tables.has_pooled and len(tables.per_dataset) == 0
    assert tables.pooled.rows == tables.correlations.rows
    assert len(tables.correlations) == len(a.PREDICTORS) * len(OUTCOMES)


def test_two_datasets_add_pooled_rows(tables: a.Exp03Tables) -> None:
    assert tables.has_pooled
    assert set(tables.pooled.column("dataset")) == {a.POOLED}
    assert len(tables.correlations) == 3 * len(a.PREDICTORS) * len(OUTCOMES)


def test_findings_are_the_rows_below_alpha(tables: a.Exp03Tables) -> None:
    assert tables.surviving.rows == a.significant(tables.correlations, "p_holm", a.ALPHA).rows
    assert tables.per_dataset_significant.rows == (
        a.significant(tables.per_dataset, "perm_p", a.ALPHA).rows
    )
    assert set(tables.size_only.column("predictor")) == {"log_params"}
    assert tables.counts == a.unit_counts(tables.units)


def test_headline_holds_only_defined_pooled_rhos(tables: a.Exp03Tables) -> None:
    metrics = a.headline(tables)
    assert metrics.pop("units") == 4.0
    assert all(math.isfinite(v) for v in metrics.values())
    defined = [rho for rho in tables.pooled.floats("rho") if math.isfinite(rho)]
    assert len(metrics) == len(defined)
    assert all(k.startswith("rho/") and "~" in k for k in metrics)


def test_significant_never_counts_a_nan_p() -> None:
    table = Table.of([{"p": 0.01}, {"p": math.nan}, {"p": 0.05}, {"p": 0.2}])
    assert a.significant(table, "p", 0.05).column("p") == [0.01]


def test_unit_counts(tables: a.Exp03Tables) -> None:
    counts = a.unit_counts(tables.units)
    assert (counts.units, counts.recurrent, counts.feedforward) == (4, 3, 1)
    assert (counts.architectures, counts.datasets) == (4, 2)


def test_train_summary_gap_and_divergence() -> None:
    model = nn.Linear(3, 2)
    unit = Exp03Unit(CONFIG.datasets[1], CONFIG.architectures[3])
    result = TrainResult(
        steps=1, loss=np.zeros(1), penalty=np.zeros(1), accuracy=np.zeros(1), lr=np.zeros(1)
    )
    summary = a.train_summary(model, result, unit, 0, (0.3, 0.9), (0.5, 0.7))
    assert summary["gap"] == pytest.approx(0.9 - 0.7) and summary["test_loss"] == 0.5
    assert summary["kind"] == a.FEEDFORWARD and summary["params"] == 8
    assert summary["diverged"] is False and summary["arch"] == "mlp"
    with torch.no_grad():
        model.weight[0, 0] = math.inf
    assert a.train_summary(model, result, unit, 0, (0.3, 0.9), (0.5, 0.7))["diverged"] is True


def test_undefined_summaries_name_the_columns_they_blank() -> None:
    gaussian = a.undefined_gaussian("why")
    assert set(a.GAUSSIAN_COLUMNS) | set(a.NULL_COLUMNS) <= set(gaussian)
    assert gaussian["reason"] == "why" and gaussian["n_trials"] == 0
    assert a.undefined_probe(3, False, "why")["probe"] == "layer"
    assert set(a.PHASE_FILES) == {"phi_gaussian", "phi_exact", "robustness"}


def test_stored_summaries_of_a_feedforward_unit_need_no_gaussian_phase(tmp_path: Path) -> None:
    run = Run(tmp_path / "exp03" / "one")
    run.path.mkdir(parents=True)
    stored = summaries(FEEDFORWARD, 3)
    for phase, summary in stored.items():

        def compute(out: Path, summary: dict[str, Any] = summary) -> dict[str, Any]:
            return summary

        run.phase(FEEDFORWARD, phase, phase_key("1", phase), compute)
    back = a.stored_summaries(run, FEEDFORWARD)
    assert list(back) == ["train", "robustness", "phi_exact"]
    assert a.unit_row(FEEDFORWARD, back) == a.unit_row(FEEDFORWARD, stored)
