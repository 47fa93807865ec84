"""The continual protocol's report: built only from the run's tables and stored phase outputs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes

from axionlab.protocols.base import provenance, require_phase
from axionlab.protocols.continual.analysis import (
    HIGH,
    LOW,
    METRICS,
    PHASE,
    RESULTS_FILE,
    SUMMARY_FILE,
    ContinualTables,
    where_diverged,
)
from axionlab.protocols.continual.config import ContinualConfig
from axionlab.report import Document, figures
from axionlab.runs import Run, Table, read_npz

HEATMAP_COLUMNS = 5


def _percent(mean: float, high: float) -> str:
    """``mean ± half-width`` in %, the half-width omitted when undefined (one seed)."""
    m, h = 100 * mean, 100 * high
    return f"{m:.1f}" if math.isnan(h) else f"{m:.1f} ± {h - m:.1f}"


def build_report(run: Run, config: ContinualConfig, tables: ContinualTables) -> Path:
    """Write the run's report (``report/report.md``, ``report.html``, figures) from its typed
    tables and stored stream curves. Returns the HTML path."""
    report_dir = run.path / "report"
    fig_dir = report_dir / "figures"
    results, summary = tables.results, tables.summary
    doc = Document(
        f"Continual learning — {config.dataset.name}, {config.stream.n_tasks} tasks "
        f"({config.name or run.path.name})"
    )

    doc.heading("Summary")
    doc.paragraph(
        f"{len(results)} units: {len(config.stream.scenarios)} scenario(s) × "
        f"{len(config.strategies)} strategies × {len(config.seeds)} seed(s) "
        f"{config.seeds}; {config.stream.variant} stream of {config.stream.n_tasks} tasks from "
        f"'{config.dataset.name}', model {config.architecture.display}. Cells: mean ± half-width "
        "of the 95% Student-t interval over seeds, in %."
    )
    diverged = tables.diverged
    doc.paragraph(
        "Diverged (a non-finite loss or weight; the stream stopped there, its metrics are nan "
        "and excluded from the summary): " + "; ".join(where_diverged(r) for r in diverged) + "."
        if len(diverged)
        else "No unit's training diverged."
    )
    cells = {
        m: [
            _percent(mean, high)
            for mean, high in zip(
                summary.floats(m).tolist(), summary.floats(HIGH[m]).tolist(), strict=True
            )
        ]
        for m in METRICS
    }
    rows = [
        {
            "scenario": r["scenario"],
            "strategy": r["label"],
            "n": r["n"],
            "n_diverged": r["n_diverged"],
            **{m: cells[m][i] for m in METRICS},
        }
        for i, r in enumerate(summary)
    ]
    doc.table(rows, ["scenario", "strategy", "n", "n_diverged", *METRICS], source=SUMMARY_FILE)

    doc.heading("Average accuracy")
    doc.figure(
        _bars_figure(config, summary, fig_dir / "avg_acc.png"),
        "Final average accuracy per strategy (bar: mean over seeds; whisker: 95% "
        "Student-t interval).",
        source=SUMMARY_FILE,
    )

    seed = config.seeds[0]
    doc.heading(f"Accuracy matrices (seed {seed})")
    doc.figure(
        _matrices_figure(
            run, results.where(seed=seed), config.stream.n_tasks, fig_dir / "accuracy_matrices.png"
        ),
        "R[i, j]: test accuracy on task j (column) after training task i (row); blank "
        "under class-IL for tasks not yet seen.",
        source=f"units/<unit>/{PHASE}/accuracy.npz",
    )

    doc.heading("Units")
    doc.table(
        results.rows,
        ["scenario", "label", "seed", *METRICS, "diverged", "unit"],
        source=RESULTS_FILE,
    )
    doc.paragraph(provenance(run, "accuracy matrices under units/."))
    return doc.write(report_dir)


def _bars(
    ax: Axes, labels: list[str], means: np.ndarray, lows: np.ndarray, highs: np.ndarray, title: str
) -> None:
    x = np.arange(len(labels))
    ax.bar(x, means, color="tab:blue", alpha=0.8)
    # Intervals are NaN with one seed: draw no whisker then.
    errors = np.nan_to_num(np.stack([means - lows, highs - means]))
    ax.errorbar(x, means, yerr=errors, fmt="none", ecolor="black", capsize=3, lw=1)
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("average accuracy")
    ax.set_title(title, fontsize=9)


def _bars_figure(config: ContinualConfig, summary: Table, path: Path) -> Path:
    fig, axes = figures.grid(len(config.stream.scenarios), 3, size=(4.5, 3.2))
    for ax, scenario in zip(axes, config.stream.scenarios, strict=False):
        rows = summary.where(scenario=scenario)
        _bars(
            ax,
            [str(label) for label in rows.column("label")],
            rows.floats("avg_acc"),
            rows.floats(LOW["avg_acc"]),
            rows.floats(HIGH["avg_acc"]),
            scenario,
        )
    return figures.save(fig, path)


def _matrices_figure(run: Run, results: Table, n_tasks: int, path: Path) -> Path:
    """One heatmap of ``R[i, j]`` per row of ``results`` (read from the unit's phase)."""
    fig, axes = figures.grid(len(results), HEATMAP_COLUMNS, size=(2.8, 2.4))
    tasks = [f"T{t}" for t in range(n_tasks)]
    for ax, row in zip(axes, results, strict=False):
        record = require_phase(run, str(row["unit"]), PHASE)
        matrix = read_npz(record.path / "accuracy.npz")["accuracy"]
        figures.heatmap(ax, matrix, tasks, tasks, f"{row['scenario']} / {row['label']}")
    return figures.save(fig, path)
