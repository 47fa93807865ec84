"""EXP-01's analysis on fabricated phase summaries: no training, no run of the protocol.

Each test builds the summaries the phases would have stored (as :class:`UnitPhases`, served in
place of a run's ``phase_summary`` where the reading is under test) and checks a property of
the tables: a benefit is the difference of
two AURCs, a unit whose task A diverged is named and never averaged, one dataset gives no pooled
rows, an undefined predictor lowers ``n``, and the tables read back typed and unchanged.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from axionlab.config import read_yaml
from axionlab.protocols.base import Unit
from axionlab.protocols.exp01 import analysis
from axionlab.protocols.exp01.analysis import (
    CORRELATIONS_CSV,
    CURVATURE_PHASE,
    EXCLUSION_COLUMNS,
    NAIVE,
    STRUCTURE_CSV,
    STRUCTURE_PHASE,
    TASK_A_PHASE,
    UNITS_CSV,
    Exp01Tables,
    UnitPhases,
    analyse,
    aurc_column,
    benefit_column,
    diverged_column,
    exclusion_rows,
    forget_phase,
    headline,
    outcome_columns,
    pooled_rows,
    predictor_columns,
    read_tables,
    read_unit,
    reason_column,
    retention_column,
    retention_key,
    spread_column,
    surviving,
    tables_of,
    topology_names,
    topology_phase,
    unit_row,
)
from axionlab.protocols.exp01.config import (
    CURVATURE_FEATURES,
    NONFINITE,
    NONFINITE_SLICE,
    TASK_A_DIVERGED,
    Exp01Config,
    Exp01Unit,
)
from axionlab.runs import Run, Table
from axionlab.stats import correlation_table
from axionlab.topology.planes import LEGACY_NEEDS_FINITE

ROOT = Path(__file__).resolve().parents[3]
SMOKE = ROOT / "configs" / "exp01" / "smoke.yaml"
FAST = {"n_permutations": 0, "n_bootstrap": 0, "ridge_permutations": 0}
EWC = "ewc"
ARCHS = ("mlp", "cnn", "mixer_mini")


@pytest.fixture(scope="module")
def config() -> Exp01Config:
    """The smoke config (3 architectures, 2 slices, naive + ewc, steps 0/5/10), fast stats."""
    data = read_yaml(SMOKE)
    data["analysis"] = dict(data["analysis"]) | FAST
    return Exp01Config.model_validate(data)


@pytest.fixture(scope="module")
def small(config: Exp01Config) -> Exp01Config:
    """Two datasets, no curvature or structure family: fewer tests, so faster tables."""
    return config.model_copy(
        update={
            "datasets": [config.datasets[0], config.datasets[0]],
            "curvature": config.curvature.model_copy(update={"enabled": False}),
            "structure": config.structure.model_copy(update={"enabled": False}),
        }
    )


def _forget(config: Exp01Config, aurc: float, **change: Any) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "aurc": aurc,
        "reason": "",
        "diverged": False,
        "diverged_step": None,
        "effective_strength": 1000.0,
        "stability_ratio": 0.5,
        "stability_action": "none",
    }
    summary |= {retention_key(k): aurc + 0.01 * k for k in config.task_b.eval_steps}
    return summary | change


def _unit(config: Exp01Config, i: int, *, dataset: str = "digits", seed: int = 0) -> UnitPhases:
    """A healthy unit whose every value depends on ``i`` (so correlations are defined)."""
    arch = ARCHS[i % len(ARCHS)]
    x = float(i + 1)
    task_a = {
        "dataset": dataset,
        "arch": arch,
        "family": arch,
        "seed": seed,
        "params": 1000 * (i + 1),
        "task_a_acc": 0.9,
        "task_a_diverged": False,
        "task_a_diverged_step": None,
        "task_a_loss": 0.2,
    }
    slices = tuple(
        {name: x * (1.0 + 0.1 * s) + (i % 2) for name in topology_names(config)} | {"reason": ""}
        for s in range(config.landscape.slices)
    )
    return UnitPhases(
        unit=f"{dataset}__{arch}__s{seed}__{i}",
        task_a=task_a,
        topology=slices,
        curvature={k: x**2 + j for j, k in enumerate(CURVATURE_FEATURES)} | {"hessian_hvp": 8},
        structure={k: x + 0.5 for k in config.structure.columns()} | {"reason": ""},
        forget={
            NAIVE: _forget(config, 0.5 + 0.05 * x),
            EWC: _forget(config, 0.6 + 0.03 * x**2 - 0.02 * (i % 3)),
        },
    )


def _diverged(config: Exp01Config, i: int, step: int = 7) -> UnitPhases:
    healthy = _unit(config, i)
    task_a = dict(healthy.task_a) | {
        "task_a_acc": math.nan,
        "task_a_diverged": True,
        "task_a_diverged_step": step,
    }
    return UnitPhases(healthy.unit, task_a)


class _Phases:
    """The summaries a run would hold, served as ``phase_summary`` serves a run's (no I/O)."""

    def __init__(self, units: Sequence[UnitPhases]) -> None:
        self.summaries: dict[tuple[str, str], Mapping[str, Any]] = {}
        self.asked: list[tuple[str, str]] = []
        for u in units:
            self.summaries[u.unit, TASK_A_PHASE] = u.task_a
            for s, summary in enumerate(u.topology):
                self.summaries[u.unit, topology_phase(s)] = summary
            if u.curvature:
                self.summaries[u.unit, CURVATURE_PHASE] = u.curvature
            if u.structure:
                self.summaries[u.unit, STRUCTURE_PHASE] = u.structure
            for label, summary in u.forget.items():
                self.summaries[u.unit, forget_phase(label)] = summary

    def __call__(self, run: Run, unit: str, phase: str) -> Mapping[str, Any]:
        self.asked.append((unit, phase))
        return self.summaries[unit, phase]


def _units(config: Exp01Config, phases: Sequence[UnitPhases]) -> list[Unit[Exp01Unit]]:
    params = Exp01Unit(config.datasets[0], config.architectures[0])
    return [Unit(p.unit, params, 0) for p in phases]


@pytest.fixture(scope="module")
def fabricated(config: Exp01Config) -> tuple[list[UnitPhases], Exp01Tables]:
    """Five healthy units, one whose task A diverged (in the middle of the plan) and one whose
    Hessian eigenvalue is undefined, and their tables."""
    phases = [_unit(config, i) for i in range(7)]
    phases[2] = _diverged(config, 2, step=7)
    odd = phases[6]
    phases[6] = replace(odd, curvature=dict(odd.curvature) | {"hessian_top_eig": math.nan})
    return phases, tables_of(config, phases)


def _float(cell: Any) -> float:
    assert isinstance(cell, float), cell
    return cell


def _where(table: Table, **equal: Any) -> list[Mapping[str, Any]]:
    return list(table.where(**equal))


def test_benefit_is_the_strategy_aurc_minus_naive_aurc(config: Exp01Config) -> None:
    for i in range(4):
        row = unit_row(config, _unit(config, i))
        aurc_ewc, aurc_naive = row[aurc_column(EWC)], row[aurc_column(NAIVE)]
        assert isinstance(aurc_ewc, float) and isinstance(aurc_naive, float)
        assert row[benefit_column(EWC)] == aurc_ewc - aurc_naive
        assert row[reason_column(benefit_column(EWC))] == ""
    # a diverged naive run leaves the benefit undefined and says which side failed
    healthy = _unit(config, 0)
    forget = dict(healthy.forget) | {
        NAIVE: _forget(config, math.nan, diverged=True, diverged_step=3, reason="diverged")
    }
    row = unit_row(config, replace(healthy, forget=forget))
    assert math.isnan(_float(row[benefit_column(EWC)]))
    assert row[reason_column(benefit_column(EWC))] == "naive: diverged"
    assert row[reason_column(aurc_column(NAIVE))] == "diverged"
    assert row[diverged_column(NAIVE)] is True


def test_outcomes_and_their_reasons_use_one_vocabulary(config: Exp01Config) -> None:
    outcomes = outcome_columns(config)
    assert outcomes == [
        aurc_column(NAIVE),
        *(retention_column(k, NAIVE) for k in config.analysis.retention_steps),
        benefit_column(EWC),
    ]
    assert outcomes == ["aurc_naive", "ret@5_naive", "ret@10_naive", "ewc_benefit"]
    row = unit_row(config, _unit(config, 1))
    for name in (*outcomes, *predictor_columns(config)):
        assert name in row
    assert all(reason_column(o) in row for o in outcomes)
    assert list(row)[:5] == ["dataset", "arch", "family", "seed", "unit"]


def test_a_diverged_task_a_is_named_with_its_reason_and_never_averaged(
    config: Exp01Config, fabricated: tuple[list[UnitPhases], Exp01Tables]
) -> None:
    phases, tables = fabricated
    diverged = phases[2]
    row = _where(tables.units, unit=diverged.unit)[0]
    assert row["task_a_diverged"] is True and row["task_a_diverged_step"] == 7
    for name in (*predictor_columns(config)[:-1], *outcome_columns(config)):
        assert math.isnan(_float(row[name])), name
    for what in ("topology", "legacy", "curvature", "structure", *outcome_columns(config)):
        assert row[reason_column(what)] == TASK_A_DIVERGED, what
    # named once, with its reason and step
    assert tables.exclusions.columns == EXCLUSION_COLUMNS
    assert [tuple(e.values()) for e in tables.exclusions.where(unit=diverged.unit)] == [
        (diverged.unit, "task A (every predictor and outcome)", TASK_A_DIVERGED, 7)
    ]
    # every statistic counts the six trained units only, and equals the statistic without it
    assert set(tables.correlations.where(predictor="log_params").column("n")) == {6}
    assert set(tables.stability.column("n_units")) == {6}
    assert len(tables.trained) == 6
    trained = [unit_row(config, u) for u in phases if u is not diverged]
    outcomes = outcome_columns(config)
    without = correlation_table(
        trained, ["h0_entropy", "hessian_trace"], outcomes, group="dataset", covariate="log_params",
        pooled=False, n_permutations=0, n_bootstrap=0, seed=config.seed, adjust="perm_p",
    )  # fmt: skip
    for r in without:
        (same,) = _where(tables.correlations, predictor=r["predictor"], outcome=r["outcome"])
        np.testing.assert_equal(
            (same["rho"], same["partial_rho"]), (r["rho"], r["partial_rho"]), str(r)
        )


def test_a_nan_predictor_lowers_n_and_names_its_family(
    fabricated: tuple[list[UnitPhases], Exp01Tables],
) -> None:
    phases, tables = fabricated
    odd = phases[6].unit
    assert set(tables.correlations.where(predictor="hessian_top_eig").column("n")) == {5}
    assert set(tables.correlations.where(predictor="hessian_trace").column("n")) == {6}
    assert _where(tables.units, unit=odd)[0][reason_column("curvature")] == NONFINITE
    assert [tuple(e.values()) for e in tables.exclusions.where(unit=odd)] == [
        (odd, "curvature", NONFINITE, None)
    ]
    assert set(tables.ridge.column("n")) == {5}  # hessian_top_eig is in every ridge baseline


def test_one_dataset_gives_no_pooled_rows(
    small: Exp01Config, fabricated: tuple[list[UnitPhases], Exp01Tables]
) -> None:
    _, one = fabricated
    assert len(one.correlations.where(dataset="all")) == 0
    assert set(one.correlations.column("dataset")) == {"digits"}
    assert one.pooled == one.correlations  # the only dataset stands for all units

    phases = [_unit(small, i, dataset="digits" if i < 3 else "other") for i in range(6)]
    two = tables_of(small, phases)
    assert set(two.correlations.column("dataset")) == {"digits", "other", "all"}
    assert set(two.pooled.column("n")) == {6}
    assert set(two.correlations.where(dataset="other").column("n")) == {3}
    assert pooled_rows(two.correlations) == two.pooled
    assert two.structure is None and "hessian_top_eig" not in two.units.columns


def test_a_feature_non_finite_on_one_slice_is_undefined_not_averaged(config: Exp01Config) -> None:
    healthy = _unit(config, 2)
    slices = list(healthy.topology)
    slices[1] = dict(slices[1]) | {"h1_entropy": math.nan}
    row = unit_row(config, replace(healthy, topology=tuple(slices)))
    assert math.isnan(_float(row["h1_entropy"]))
    assert math.isnan(_float(row[spread_column("h1_entropy")]))
    assert row[reason_column("topology")] == NONFINITE_SLICE
    assert row[reason_column("legacy")] == ""
    defined = _float(row[spread_column("h0_entropy")])
    assert defined == pytest.approx(np.std([s["h0_entropy"] for s in healthy.topology], ddof=1))
    # the legacy statistic alone needs a finite plane: its reason is its own
    slices = [
        dict(s) | {"legacy_h0_total": math.nan, "reason": LEGACY_NEEDS_FINITE}
        for s in healthy.topology
    ]
    row = unit_row(config, replace(healthy, topology=tuple(slices)))
    assert row[reason_column("legacy")] == f"{LEGACY_NEEDS_FINITE}; {NONFINITE_SLICE}"
    assert row[reason_column("topology")] == ""


def test_exclusions_skip_outcomes_whose_divergence_is_already_named(config: Exp01Config) -> None:
    healthy = _unit(config, 0)
    ewc = _forget(config, math.nan, diverged=True, diverged_step=4, reason="diverged")
    row = unit_row(config, replace(healthy, forget=dict(healthy.forget) | {EWC: ewc}))
    assert [(e["what"], e["reason"], e["step"]) for e in exclusion_rows([row], config)] == [
        (f"task B with {EWC}", "diverged", 4)
    ]
    zero = _forget(config, math.nan, reason="zero_initial_accuracy")
    row = unit_row(config, replace(healthy, forget=dict(healthy.forget) | {NAIVE: zero}))
    named = {(e["what"], e["reason"]) for e in exclusion_rows([row], config)}
    assert (aurc_column(NAIVE), "zero_initial_accuracy") in named
    assert (benefit_column(EWC), "naive: zero_initial_accuracy") in named


def test_read_unit_asks_only_for_the_phases_a_unit_has(
    config: Exp01Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy, diverged = _unit(config, 0), _diverged(config, 1)
    store = _Phases([healthy, diverged])
    monkeypatch.setattr(analysis, "phase_summary", store)
    run = Run("/nonexistent")
    healthy_unit, diverged_unit = _units(config, [healthy, diverged])
    assert read_unit(run, config, diverged_unit) == diverged
    assert store.asked == [(diverged.unit, TASK_A_PHASE)]
    assert read_unit(run, config, healthy_unit) == healthy
    assert [phase for _, phase in store.asked[1:]] == [
        TASK_A_PHASE,
        topology_phase(0),
        topology_phase(1),
        CURVATURE_PHASE,
        STRUCTURE_PHASE,
        forget_phase(NAIVE),
        forget_phase(EWC),
    ]


def test_analyse_writes_tables_that_read_back_typed_and_unchanged(
    tmp_path: Path, small: Exp01Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    phases = [_unit(small, i, dataset="digits" if i < 3 else "other") for i in range(6)]
    phases[4] = _diverged(small, 4, step=7)
    monkeypatch.setattr(analysis, "phase_summary", _Phases(phases))
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # durability is not under test here
    run = Run(tmp_path)
    metrics = analyse(run, small, _units(small, phases))
    tables = read_tables(run, small)
    row = tables.units.rows[0]
    assert row["seed"] == 0 and row["task_a_diverged"] is False and isinstance(row["params"], int)
    assert row["task_a_diverged_step"] is None and row[diverged_column(EWC)] is False
    assert tables.exclusions.where(unit=phases[4].unit).column("step") == [7]
    assert tables.legacy is not None and tables.legacy.n_units == 5
    assert tables.structure is None and not (run.path / STRUCTURE_CSV).exists()
    # the parsed tables write back to the same bytes
    for name, table in ((UNITS_CSV, tables.units), (CORRELATIONS_CSV, tables.correlations)):
        assert table.write(tmp_path / "again.csv").read_text() == (run.path / name).read_text()
    assert metrics == headline(tables)
    assert metrics["units"] == 6.0
    pooled = tables.correlations.where(dataset="all")
    assert tables.pooled == pooled  # two datasets: the pooled rows stand for all units
    assert (
        metrics[f"rho/log_params~{aurc_column(NAIVE)}"]
        == _where(pooled, predictor="log_params", outcome=aurc_column(NAIVE))[0]["rho"]
    )
    assert len(metrics) == 1 + int(np.isfinite(pooled.floats("rho")).sum())


def test_findings_come_from_the_tables() -> None:
    table = Table.of(
        [
            {"predictor": "a", "outcome": "y", "dataset": "all", "rho": 0.9, "p_holm": 0.01},
            {"predictor": "b", "outcome": "y", "dataset": "all", "rho": 0.1, "p_holm": 0.5},
            {
                "predictor": "c",
                "outcome": "y",
                "dataset": "all",
                "rho": math.nan,
                "p_holm": math.nan,
            },
        ]
    )
    assert surviving(table).column("predictor") == ["a"]
    assert len(surviving(table, alpha=0.6)) == 2
    units = Table.of(
        [
            {"arch": "mlp", "h0_total_persistence": 0.0, "h1_total_persistence": 0.0},
            {"arch": "cnn", "h0_total_persistence": 0.3, "h1_total_persistence": 0.0},
            {"arch": "mlp", "h0_total_persistence": math.nan, "h1_total_persistence": 0.0},
        ]
    )
    empty = Table((), ())
    tables = Exp01Tables(units, table, table, None, empty, empty, empty, empty, None)
    assert tables.single_basin == ["mlp"]
    assert len(tables.structure_pooled) == 0
    assert tables.pooled_surviving.column("predictor") == ["a"]


def test_unstable_and_scaled_units_are_named_per_strategy(config: Exp01Config) -> None:
    phases = [_unit(config, i) for i in range(4)]
    for i, action in ((1, analysis.WARNED), (3, analysis.SCALED)):
        forget = dict(phases[i].forget) | {EWC: _forget(config, 0.6, stability_action=action)}
        phases[i] = replace(phases[i], forget=forget)
    tables = tables_of(config, phases)
    assert tables.unstable(EWC).column("unit") == [phases[1].unit]
    assert tables.scaled(EWC).column("unit") == [phases[3].unit]
    assert len(tables.unstable(NAIVE)) == len(tables.scaled(NAIVE)) == 0
