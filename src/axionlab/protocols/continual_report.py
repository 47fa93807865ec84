"""The continual protocol's report: built only from a run's stored tables and phase outputs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes

from axionlab.protocols.base import Unit, provenance, require_phase
from axionlab.protocols.continual import METRICS, ContinualConfig
from axionlab.report import Document, figures
from axionlab.runs import Run, read_csv, read_npz

HEATMAP_COLUMNS = 5


def _percent(mean: str, high: str) -> str:
    """``mean ± half-width`` in %, the half-width omitted when undefined (one seed)."""
    m, h = 100 * float(mean), 100 * float(high)
    return f"{m:.1f}" if math.isnan(h) else f"{m:.1f} ± {h - m:.1f}"


def build_report(run: Run, config: ContinualConfig, units: list[Unit]) -> Path:
    report_dir = run.path / "report"
    fig_dir = report_dir / "figures"
    summary = read_csv(run.path / "summary.csv")
    doc = Document(
        f"Continual learning — {config.dataset.name}, {config.stream.n_tasks} tasks "
        f"({config.name or run.path.name})"
    )

    doc.heading("Summary")
    doc.paragraph(
        f"{len(units)} units: {len(config.stream.scenarios)} scenario(s) × "
        f"{len(config.strategies)} strategies × {len(config.seeds)} seed(s) "
        f"{config.seeds}; {config.stream.variant} stream of {config.stream.n_tasks} tasks from "
        f"'{config.dataset.name}', model {config.architecture.display}. Cells: mean ± half-width "
        "of the 95% Student-t interval over seeds, in %."
    )
    results = read_csv(run.path / "results.csv")
    diverged = [r for r in results if r["diverged"] == "True"]
    doc.paragraph(
        "Diverged (a non-finite loss or weight; the stream stopped there, its metrics are nan "
        "and excluded from the summary): "
        + "; ".join(
            f"{r['unit']} in task {r['diverged_task']} at step {r['diverged_step']}"
            for r in diverged
        )
        + "."
        if diverged
        else "No unit's training diverged."
    )
    rows = [
        {
            "scenario": r["scenario"],
            "strategy": r["label"],
            "n": r["n"],
            "n_diverged": r["n_diverged"],
            **{m: _percent(r[m], r[f"{m}_high"]) for m in METRICS},
        }
        for r in summary
    ]
    doc.table(rows, ["scenario", "strategy", "n", "n_diverged", *METRICS], source="summary.csv")

    doc.heading("Average accuracy")
    doc.figure(
        _bars_figure(config, summary, fig_dir / "avg_acc.png"),
        "Final average accuracy per strategy (bar: mean over seeds; whisker: 95% "
        "Student-t interval).",
        source="summary.csv",
    )

    seed = config.seeds[0]
    doc.heading(f"Accuracy matrices (seed {seed})")
    doc.figure(
        _matrices_figure(
            run,
            [u for u in units if u.params["seed"] == seed],
            config,
            fig_dir / "accuracy_matrices.png",
        ),
        "R[i, j]: test accuracy on task j (column) after training task i (row); blank "
        "under class-IL for tasks not yet seen.",
        source="units/<unit>/stream/accuracy.npz",
    )

    doc.heading("Units")
    doc.table(
        results,
        ["scenario", "label", "seed", *METRICS, "diverged", "unit"],
        source="results.csv",
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


def _bars_figure(config: ContinualConfig, summary: list[dict[str, str]], path: Path) -> Path:
    fig, axes = figures.grid(len(config.stream.scenarios), 3, size=(4.5, 3.2))
    for ax, scenario in zip(axes, config.stream.scenarios, strict=False):
        rows = [r for r in summary if r["scenario"] == scenario]
        values = {
            k: np.array([float(r[k]) for r in rows])
            for k in ("avg_acc", "avg_acc_low", "avg_acc_high")
        }
        _bars(
            ax,
            [r["label"] for r in rows],
            values["avg_acc"],
            values["avg_acc_low"],
            values["avg_acc_high"],
            scenario,
        )
    return figures.save(fig, path)


def _matrices_figure(run: Run, units: list[Unit], config: ContinualConfig, path: Path) -> Path:
    fig, axes = figures.grid(len(units), HEATMAP_COLUMNS, size=(2.8, 2.4))
    tasks = [f"T{t}" for t in range(config.stream.n_tasks)]
    for ax, unit in zip(axes, units, strict=False):
        matrix = read_npz(require_phase(run, unit.id, "stream") / "accuracy.npz")["accuracy"]
        label = config.strategies[unit.params["strategy"]].display
        figures.heatmap(ax, matrix, tasks, tasks, f"{unit.params['scenario']} / {label}")
    return figures.save(fig, path)
