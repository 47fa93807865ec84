"""The continual protocol's tables: ``results.csv`` (one row per unit) and ``summary.csv``
(mean and 95% Student-t interval over seeds per scenario × strategy).

A unit whose training diverged keeps its row in ``results.csv`` (``diverged`` true, metrics
``nan``); the summary averages only the other seeds (``n``) and counts it in ``n_diverged``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from axionlab.protocols.base import phase_summary
from axionlab.runs import (
    Run,
    Table,
    parse_bool,
    parse_float,
    parse_int,
    parse_optional_int,
    read_table,
)
from axionlab.runs.tables import Parser
from axionlab.stats import summarise_groups

PHASE = "stream"
"""The one phase of a unit: its summary holds the unit's row of ``results.csv``."""
RESULTS_FILE = "results.csv"
SUMMARY_FILE = "summary.csv"

METRICS = ("avg_acc", "bwt", "forgetting")
DIVERGENCE = ("diverged", "diverged_task", "diverged_step")
GROUP = ("scenario", "strategy", "label")
"""A summary group; ``label`` alone names a strategy, so ``strategy`` only rides along."""
RESULT_COLUMNS = (*GROUP, "seed", *METRICS, *DIVERGENCE, "unit")
LOW = {metric: f"{metric}_low" for metric in METRICS}
HIGH = {metric: f"{metric}_high" for metric in METRICS}
INTERVALS = tuple(column for m in METRICS for column in (m, LOW[m], HIGH[m]))
"""Each metric's mean over seeds and its interval bounds, in ``summary.csv``'s order."""
SUMMARY_COLUMNS = (*GROUP, "n", "n_diverged", *INTERVALS)

RESULT_SCHEMA: Mapping[str, Parser] = {
    "seed": parse_int,
    **dict.fromkeys(METRICS, parse_float),
    "diverged": parse_bool,
    "diverged_task": parse_optional_int,
    "diverged_step": parse_optional_int,
}
SUMMARY_SCHEMA: Mapping[str, Parser] = {
    "n": parse_int,
    "n_diverged": parse_int,
    **dict.fromkeys(INTERVALS, parse_float),
}


@dataclass(frozen=True)
class ContinualTables:
    """The run's two tables, as written (typed cells)."""

    results: Table
    summary: Table

    @property
    def diverged(self) -> Table:
        """The units whose stream diverged (their metrics are nan and left out of the summary)."""
        return self.results.where(diverged=True)


def where_diverged(row: Mapping[str, Any]) -> str:
    """Where a diverged unit's stream stopped, as the report states it: ``<unit> in task <t> at
    step <s>``; a task or step the unit did not record is left out rather than shown as None."""
    text = str(row["unit"])
    if row["diverged_task"] is not None:
        text += f" in task {row['diverged_task']}"
    if row["diverged_step"] is not None:
        text += f" at step {row['diverged_step']}"
    return text


def result_row(summary: Mapping[str, Any], unit: str) -> dict[str, Any]:
    """One row of ``results.csv`` from the summary a unit's ``stream`` phase stored."""
    return {**{column: summary[column] for column in RESULT_COLUMNS[:-1]}, "unit": unit}


def summarise(results: Iterable[Mapping[str, Any]]) -> Table:
    """``summary.csv``: each metric's mean and 95% Student-t interval over the seeds of a
    scenario × strategy that did not diverge, in order of first appearance."""
    groups = summarise_groups(results, GROUP, METRICS, include=lambda row: not row["diverged"])
    rows = []
    for group in groups:
        row: dict[str, Any] = {**group.key, "n": len(group.rows), "n_diverged": group.n_excluded}
        for metric, (mean, low, high, _) in group.metrics.items():
            row.update({metric: mean, LOW[metric]: low, HIGH[metric]: high})
        rows.append(row)
    return Table.of(rows, SUMMARY_COLUMNS)


def analyse(run: Run, unit_ids: Iterable[str]) -> ContinualTables:
    """Read each unit's stored phase summary, build both tables and write them under the run."""
    results = Table.of(
        [result_row(phase_summary(run, unit, PHASE), unit) for unit in unit_ids], RESULT_COLUMNS
    )
    tables = ContinualTables(results, summarise(results))
    tables.results.write(run.path / RESULTS_FILE)
    tables.summary.write(run.path / SUMMARY_FILE)
    return tables


def headline(tables: ContinualTables) -> dict[str, float]:
    """The tracker's metrics: mean average accuracy per scenario and strategy label."""
    summary = tables.summary
    return {
        f"avg_acc/{scenario}/{label}": value
        for scenario, label, value in zip(
            summary.column("scenario"),
            summary.column("label"),
            summary.floats("avg_acc").tolist(),
            strict=True,
        )
    }


def read_tables(run: Run) -> ContinualTables:
    """The tables :func:`analyse` wrote, parsed into typed cells (for the report)."""
    return ContinualTables(
        read_table(run.path / RESULTS_FILE, RESULT_SCHEMA),
        read_table(run.path / SUMMARY_FILE, SUMMARY_SCHEMA),
    )
