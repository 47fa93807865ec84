"""The continual analysis on fabricated phase summaries: grouping, divergence, typed tables.

Fast (no training): the units' ``stream`` summaries are made up here, and for the tests that read
a run they are stored as phases of a tmp run directory by hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from axionlab.protocols.continual.analysis import (
    HIGH,
    INTERVALS,
    LOW,
    METRICS,
    PHASE,
    RESULT_COLUMNS,
    SUMMARY_COLUMNS,
    ContinualTables,
    analyse,
    headline,
    read_tables,
    summarise,
    where_diverged,
)
from axionlab.runs import Run, Table, phase_key

NAN = float("nan")


def summary(scenario: str, label: str, seed: int, *metrics: float, **where: int) -> dict[str, Any]:
    """What a unit's ``stream`` phase returns; ``task=``/``step=`` make it a diverged unit."""
    diverged = "task" in where
    return {
        "scenario": scenario,
        "strategy": label.split("-")[0],
        "label": label,
        "seed": seed,
        **dict(zip(METRICS, (NAN, NAN, NAN) if diverged else metrics, strict=True)),
        "diverged": diverged,
        "diverged_task": where.get("task"),
        "diverged_step": where.get("step"),
    }


NAIVE = np.array([[0.20, -0.40, 0.40], [0.24, -0.36, 0.36], [0.30, -0.30, 0.30]])
EWC = np.array([[0.25, -0.20, 0.20], [0.27, -0.22, 0.22]])
UNITS = {
    **{f"class_il__naive__s{s}": summary("class_il", "naive", s, *NAIVE[s]) for s in range(3)},
    "class_il__ewc__s0": summary("class_il", "ewc", 0, task=1, step=7),
    "class_il__ewc__s1": summary("class_il", "ewc", 1, *EWC[0]),
    "class_il__ewc__s2": summary("class_il", "ewc", 2, *EWC[1]),
    "task_il__naive__s0": summary("task_il", "naive", 0, 0.48, -0.05, 0.05),
    "task_il__replay-big__s0": summary("task_il", "replay-big", 0, task=0, step=3),
}
ROWS = [{**row, "unit": unit} for unit, row in UNITS.items()]


def group(table: Table, scenario: str, label: str) -> Any:
    (row,) = table.where(scenario=scenario, label=label)
    return row


def test_grouped_means_and_intervals_equal_plain_numpy() -> None:
    table = summarise(ROWS)
    for label, values in (("naive", NAIVE), ("ewc", EWC)):
        row, n = group(table, "class_il", label), len(values)
        for m, column in zip(METRICS, values.T, strict=True):
            half = stats.t.ppf(0.975, n - 1) * column.std(ddof=1) / math.sqrt(n)
            assert row[m] == pytest.approx(column.mean(), abs=1e-15)
            assert row[LOW[m]] == pytest.approx(column.mean() - half, abs=1e-12)
            assert row[HIGH[m]] == pytest.approx(column.mean() + half, abs=1e-12)


def test_a_diverged_seed_is_counted_apart_and_left_out_of_the_means() -> None:
    table = summarise(ROWS)
    ewc = group(table, "class_il", "ewc")
    assert (ewc["n"], ewc["n_diverged"]) == (2, 1)
    assert ewc["avg_acc"] == pytest.approx(EWC[:, 0].mean())
    naive = group(table, "class_il", "naive")
    assert (naive["n"], naive["n_diverged"]) == (3, 0)
    every_seed_diverged = group(table, "task_il", "replay-big")
    assert (every_seed_diverged["n"], every_seed_diverged["n_diverged"]) == (0, 1)
    assert all(math.isnan(every_seed_diverged[c]) for c in INTERVALS)


def test_one_seed_has_a_mean_and_no_interval() -> None:
    row = group(summarise(ROWS), "task_il", "naive")
    assert (row["n"], row["n_diverged"], row["avg_acc"]) == (1, 0, 0.48)
    assert all(math.isnan(row[bound[m]]) for m in METRICS for bound in (LOW, HIGH))


def test_groups_keep_first_appearance_order_and_the_column_order() -> None:
    table = summarise(ROWS)
    assert table.columns == SUMMARY_COLUMNS
    assert SUMMARY_COLUMNS[:5] == ("scenario", "strategy", "label", "n", "n_diverged")
    assert [(r["scenario"], r["label"]) for r in table] == [
        ("class_il", "naive"),
        ("class_il", "ewc"),
        ("task_il", "naive"),
        ("task_il", "replay-big"),
    ]
    assert group(table, "task_il", "replay-big")["strategy"] == "replay"


def returning(row: dict[str, Any]) -> Callable[[Path], dict[str, Any]]:
    """A phase body that writes no file and stores ``row`` as its summary."""

    def compute(out: Path) -> dict[str, Any]:
        return row

    return compute


def stored_run(root: Path) -> Run:
    """A run directory holding the fabricated units' ``stream`` phases."""
    run = Run(root / "run")
    run.path.mkdir()
    for unit, row in UNITS.items():
        run.phase(unit, PHASE, phase_key("test", unit), returning(row))
    return run


def test_analyse_writes_tables_that_read_back_typed(tmp_path: Path) -> None:
    run = stored_run(tmp_path)
    written = analyse(run, list(UNITS))
    read = read_tables(run)
    assert read.results.columns == RESULT_COLUMNS and read.summary.columns == SUMMARY_COLUMNS
    assert read.results.column("unit") == list(UNITS)
    (diverged,) = read.results.where(diverged=True, scenario="class_il")
    assert (diverged["unit"], diverged["diverged_task"], diverged["diverged_step"]) == (
        "class_il__ewc__s0",
        1,
        7,
    )
    assert np.isnan(read.results.where(diverged=True).floats("avg_acc")).all()
    assert read.results.where(diverged=False).column("diverged_task") == [None] * 6
    for name in ("results", "summary"):
        before, after = getattr(written, name), getattr(read, name)
        for column in before.columns:
            if column in INTERVALS:
                np.testing.assert_array_equal(before.floats(column), after.floats(column))
            else:
                assert before.column(column) == after.column(column)


def test_headline_is_mean_average_accuracy_per_scenario_and_label(tmp_path: Path) -> None:
    metrics = headline(analyse(stored_run(tmp_path), list(UNITS)))
    assert list(metrics) == [
        "avg_acc/class_il/naive",
        "avg_acc/class_il/ewc",
        "avg_acc/task_il/naive",
        "avg_acc/task_il/replay-big",
    ]
    assert metrics["avg_acc/class_il/naive"] == pytest.approx(NAIVE[:, 0].mean())
    assert math.isnan(metrics["avg_acc/task_il/replay-big"])


def test_a_divergence_names_where_it_stopped_and_never_prints_none() -> None:
    row = {"unit": "u", "diverged_task": 2, "diverged_step": 17}
    assert where_diverged(row) == "u in task 2 at step 17"
    assert where_diverged(row | {"diverged_step": None}) == "u in task 2"
    assert "None" not in where_diverged(row | {"diverged_task": None, "diverged_step": None})
    results = Table.of(
        [{"unit": "a", "diverged": False}, {"unit": "b", "diverged": True}],
    )
    assert ContinualTables(results, Table((), ())).diverged.column("unit") == ["b"]
