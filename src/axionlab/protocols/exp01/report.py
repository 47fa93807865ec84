"""EXP-01's report: built only from a run's stored tables and phase outputs."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from axionlab.protocols.base import Unit, provenance, require_phase
from axionlab.protocols.exp01 import (
    EXCLUSION_COLUMNS,
    Exp01Config,
    outcome_columns,
    pooled_rows,
    predictor_columns,
    strategy_labels,
)
from axionlab.report import Document, figures
from axionlab.report.correlations import cell_float, correlation_heatmap, correlation_scatter
from axionlab.runs import Run, read_csv, read_json, read_npz

SCATTER_PREDICTORS = (
    "h0_total_persistence_norm",
    "h1_total_persistence_norm",
    "legacy_h0_total",
    "window_mean_loss",
    "hessian_top_eig",
    "log_params",
)
MAX_PLANES = 16
ALPHA = 0.05


def build_report(run: Run, config: Exp01Config, units: list[Unit]) -> Path:
    report_dir = run.path / "report"
    fig_dir = report_dir / "figures"
    rows = read_csv(run.path / "units.csv")
    table = read_csv(run.path / "correlations.csv")
    pooled = pooled_rows(table)
    doc = Document(f"EXP-01 — landscape topology vs forgetting ({config.name or run.path.name})")

    exclusions = read_csv(run.path / "tables" / "exclusions.csv")
    doc.heading("Summary")
    doc.paragraph(_summary_text(run, config, rows, pooled, table))
    doc.paragraph(_trust_text(config, rows, exclusions))
    if exclusions:
        doc.table(exclusions, EXCLUSION_COLUMNS, source="tables/exclusions.csv")

    doc.heading("Departures from the published protocol")
    doc.paragraph(
        "Every setting where this run differs from the lab's published EXP-01 protocol "
        "(Feb 2026), and every choice the publication leaves open, with the value used."
    )
    doc.table(
        read_csv(run.path / "tables" / "departures.csv"),
        ["setting", "published", "used", "note"],
        source="tables/departures.csv",
    )

    trained = {r["unit"] for r in rows if r["task_a_diverged"] != "True"}
    units = [u for u in units if u.id in trained]
    doc.heading("Loss planes and persistence diagrams")
    doc.figure(
        _planes_figure(run, units[:MAX_PLANES], fig_dir / "planes.png"),
        f"Task-A test loss on slice 0 (red + = trained weights) and its cubical "
        f"persistence diagram, first {min(len(units), MAX_PLANES)} units.",
        source="units/<unit>/plane_0/plane.npz, topology_0/diagrams.npz",
    )

    doc.heading("Forgetting curves")
    doc.figure(
        _curves_figure(run, config, units, fig_dir / "forgetting.png"),
        "Task-A retention acc_A(k)/acc_A(0) while training task B, per architecture "
        "(line: mean over seeds and datasets; band: min–max).",
        source="units/<unit>/forget_<strategy>/curve.npz",
    )

    doc.heading("Predictors vs outcomes")
    doc.figure(
        correlation_heatmap(
            pooled,
            predictor_columns(config),
            outcome_columns(config),
            fig_dir / "correlations.png",
            alpha=ALPHA,
        ),
        f"Spearman ρ over all units (pooled over datasets); * = Holm-adjusted permutation "
        f"p < {ALPHA}.",
        source="correlations.csv",
    )
    doc.figure(
        correlation_scatter(
            rows, pooled, SCATTER_PREDICTORS, outcome_columns(config), fig_dir / "scatter.png"
        ),
        "Selected predictors against each outcome, with ρ over all units and its bootstrap 95% CI.",
        source="units.csv, correlations.csv",
    )
    doc.table(
        pooled,
        [
            "predictor",
            "outcome",
            "n",
            "rho",
            "ci_low",
            "ci_high",
            "p",
            "perm_p",
            "p_holm",
            "partial_rho",
            "partial_p",
        ],
        source="correlations.csv",
    )

    if config.structure.enabled:
        structure = pooled_rows(read_csv(run.path / "tables" / "correlations_structure.csv"))
        doc.heading("Structural predictors: weight spectra, neural collapse, basins")
        doc.paragraph(
            "A second family of predictors that needs no topology: HT-SR weight-spectrum "
            "summaries (mean over layers of α, weighted α, log norms, stable rank; "
            "WeightWatcher 0.7.7's definitions), neural collapse NC1–NC4 of the penultimate "
            "task-A training features (Papyan, Han & Donoho 2020), basin radii (mean over "
            f"{config.structure.basin_directions} filter-normalised directions of the first "
            "radius where the task-A loss rises by δ) and the fraction of slice 0 covered by the "
            "centre's sublevel-set component at the same rise. Holm corrects over this family "
            f"alone ({len(structure)} tests), so it never moves the p-values above. "
            + _surviving_text(structure)
        )
        doc.table(
            structure,
            ["predictor", "outcome", "n", "rho", "ci_low", "ci_high", "perm_p", "p_holm"],
            source="tables/correlations_structure.csv",
        )
        doc.table(
            rows,
            ["unit", *config.structure.columns()],
            source="units.csv",
        )

    doc.heading("Does topology add to size and curvature? (leave-one-architecture-out ridge)")
    doc.table(
        read_csv(run.path / "tables" / "ridge.csv"),
        [
            "outcome",
            "baseline",
            "extra",
            "n",
            "mae_baseline",
            "mae_full",
            "improvement",
            "perm_p",
            "reason",
        ],
        source="tables/ridge.csv",
    )

    stability = read_csv(run.path / "tables" / "stability.csv")
    if stability:
        doc.heading("Slice-to-slice stability of each feature")
        doc.table(
            stability,
            ["feature", "icc_3_1", "icc_2_1", "icc_p", "n_units", "n_slices"],
            source="tables/stability.csv",
        )

    doc.heading("Units")
    columns = [
        "unit",
        "family",
        "params",
        "task_a_acc",
        "h0_total_persistence_norm",
        "h1_total_persistence_norm",
        "legacy_h0_total",
        "window_mean_loss",
    ]
    if config.curvature.enabled:
        columns += ["hessian_top_eig", "hessian_trace", "fisher_trace"]
    for label in strategy_labels(config):
        columns += [f"aurc_{label}", f"diverged_{label}", f"effective_strength_{label}"]
    columns += [c for c in outcome_columns(config) if c.endswith("_benefit")]
    doc.table(rows, [c for c in columns if c in rows[0]], source="units.csv")
    doc.paragraph(provenance(run, "raw arrays under units/."))
    return doc.write(report_dir)


def _summary_text(
    run: Run,
    config: Exp01Config,
    rows: list[dict[str, str]],
    pooled: list[dict[str, str]],
    table: list[dict[str, str]],
) -> str:
    n_datasets = len({r["dataset"] for r in rows})
    parts = [
        f"{len(rows)} units ({len({r['arch'] for r in rows})} architectures × {n_datasets} "
        f"dataset(s) × {len(config.seeds)} seed(s)); {config.landscape.slices} slices of "
        f"{config.landscape.steps}² per unit."
    ]
    parts.append(_surviving_text(pooled, len(table)))
    trivial = [
        r["arch"]
        for r in rows
        if cell_float(r["h0_total_persistence"]) == 0.0
        and cell_float(r["h1_total_persistence"]) == 0.0
    ]
    if trivial:
        parts.append(
            f"In {len(trivial)} of {len(rows)} units every slice is a single basin without "
            f"loops (finite H0 and H1 total persistence 0: {', '.join(sorted(set(trivial)))}); "
            "topological features are then constant and correlations involving them undefined "
            "(nan), which is a finding about these landscapes, not a failure."
        )
    summary = read_json(run.path / "tables" / "summary.json")
    if summary:
        parts.append(
            f"The lab's legacy H0 statistic (Ripser without vertex births) tracks the mean loss "
            f"of the plane with Spearman ρ = {summary['legacy_vs_window_mean_rho']:.3f} across "
            f"these {summary['n_units']} units: it measures Σloss − min loss, not topology."
        )
    if len(rows) < 10:
        parts.append("With this few units, correlations are illustrative only.")
    return " ".join(parts)


def _surviving_text(pooled: list[dict[str, str]], family: int | None = None) -> str:
    """The correlations over all units that survive Holm correction, or that none does."""
    surviving = [r for r in pooled if cell_float(r["p_holm"]) < ALPHA]
    size = len(pooled) if family is None else family
    if not surviving:
        return (
            f"No correlation over all units survives Holm correction (permutation p) at "
            f"α = {ALPHA}, family of {size} tests."
        )
    listed = "; ".join(
        f"{r['predictor']} ~ {r['outcome']} (ρ = {cell_float(r['rho']):.2f}, "
        f"Holm p = {cell_float(r['p_holm']):.3g})"
        for r in surviving
    )
    return (
        f"Correlations over all units surviving Holm correction (permutation p) at "
        f"α = {ALPHA}, family of {size} tests: {listed}."
    )


def _trust_text(
    config: Exp01Config, rows: list[dict[str, str]], exclusions: list[dict[str, str]]
) -> str:
    """Divergence, stability and exclusions, named unit by unit (never a footnote)."""
    parts = []
    diverged = [e for e in exclusions if e["reason"] in ("diverged", "task_a_diverged")]
    if diverged:
        listed = "; ".join(f"{e['unit']} {e['what']} at step {e['step']}" for e in diverged)
        parts.append(
            f"Diverged (a non-finite loss or weight; training stopped there, its outcomes are "
            f"nan and excluded from every statistic): {listed}."
        )
    else:
        parts.append("No task-A or task-B training diverged.")
    for label in strategy_labels(config):
        unstable = [
            f"{r['unit']} (lr·curvature / limit = {cell_float(r[f'stability_ratio_{label}']):.3g})"
            for r in rows
            if r[f"stability_action_{label}"] == "warned"
        ]
        scaled = [
            f"{r['unit']} λ = {cell_float(r[f'effective_strength_{label}']):.4g}"
            for r in rows
            if r[f"stability_action_{label}"] == "scaled"
        ]
        if unstable:
            parts.append(
                f"Strategy {label}: the penalty step is unstable under task B's optimizer "
                f"(task_b.stability = {config.task_b.stability}; run as configured) in "
                f"{len(unstable)} unit(s): {', '.join(unstable)}."
            )
        if scaled:
            parts.append(
                f"Strategy {label}: strength lowered to the largest stable value "
                f"(task_b.stability = scale) in {len(scaled)} unit(s): {', '.join(scaled)}."
            )
    others = [e for e in exclusions if e not in diverged]
    if others:
        parts.append(
            f"{len(others)} further outcome(s) or feature families are undefined and excluded "
            "(reasons in the table below); each correlation's n counts the defined rows only."
        )
    return " ".join(parts)


def _planes_figure(run: Run, units: list[Unit], path: Path) -> Path:
    fig, axes = figures.grid(2 * len(units), 4)
    for i, unit in enumerate(units):
        plane = read_npz(require_phase(run, unit.id, "plane_0") / "plane.npz")
        diagrams = read_npz(require_phase(run, unit.id, "topology_0") / "diagrams.npz")
        figures.plane_contour(
            axes[2 * i], plane["alphas"], plane["betas"], plane["values"], unit.id
        )
        finite = plane["values"][np.isfinite(plane["values"])]
        value_range = (float(finite.min()), float(finite.max())) if finite.size else None
        figures.persistence_diagram(
            axes[2 * i + 1],
            [diagrams.get(f"h{k}", np.zeros((0, 2))) for k in (0, 1)],  # none without finite loss
            "cubical PH",
            value_range,
        )
    return figures.save(fig, path)


def _curves_figure(run: Run, config: Exp01Config, units: list[Unit], path: Path) -> Path:
    by_arch: dict[str, dict[str, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
    steps = np.zeros(0)
    for unit in units:
        arch = config.architectures[unit.params["arch"]].display
        for label in strategy_labels(config):
            curve = read_npz(require_phase(run, unit.id, f"forget_{label}") / "curve.npz")
            by_arch[arch][label].append(curve["retention"])
            steps = curve["steps"]
    fig, axes = figures.grid(len(by_arch), 4)
    for ax, (arch, series) in zip(axes, by_arch.items(), strict=False):
        figures.curves(ax, steps, {k: np.stack(v) for k, v in series.items()}, arch, "retention")
    return figures.save(fig, path)
