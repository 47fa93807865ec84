"""EXP-01's report: figures and text from the run's typed tables (and its stored phase arrays).

Every statistic and finding it states (correlations, surviving tests, single-basin units, the
legacy statistic's agreement) comes from :mod:`axionlab.protocols.exp01.analysis`; this module
only lays them out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from axionlab.protocols.base import provenance, require_phase
from axionlab.protocols.exp01.analysis import (
    CORRELATIONS_CSV,
    DEPARTURES_CSV,
    EXCLUSION_COLUMNS,
    EXCLUSIONS_CSV,
    RIDGE_CSV,
    SIGNIFICANCE,
    STABILITY_COLUMNS,
    STABILITY_CSV,
    STRUCTURE_CSV,
    UNITS_CSV,
    Exp01Tables,
    aurc_column,
    benefit_column,
    benefit_labels,
    diverged_column,
    effective_strength_column,
    forget_phase,
    outcome_columns,
    plane_phase,
    predictor_columns,
    stability_ratio_column,
    strategy_labels,
    topology_phase,
)
from axionlab.protocols.exp01.config import Exp01Config
from axionlab.protocols.exp01.published import DEPARTURE_COLUMNS
from axionlab.report import Document, figures
from axionlab.report.correlations import correlation_heatmap, correlation_scatter
from axionlab.runs import Run, Table, read_npz
from axionlab.runs.tables import Cell
from axionlab.topology import topological_profile

SCATTER_PREDICTORS = (
    "h0_total_persistence_norm",
    "h1_total_persistence_norm",
    "legacy_h0_total",
    "window_mean_loss",
    "hessian_top_eig",
    "log_params",
)
MAX_PLANES = 16
MAX_SURFACES = 4  # interactive ones: each carries its plane's values into report.html
CORRELATION_SHOWN = (
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
)
STRUCTURE_SHOWN = ("predictor", "outcome", "n", "rho", "ci_low", "ci_high", "perm_p", "p_holm")
RIDGE_SHOWN = (
    "outcome",
    "baseline",
    "extra",
    "n",
    "mae_baseline",
    "mae_full",
    "improvement",
    "perm_p",
    "reason",
)


def build_report(run: Run, config: Exp01Config, tables: Exp01Tables) -> Path:
    report_dir = run.path / "report"
    fig_dir = report_dir / "figures"
    units = tables.units
    pooled = tables.pooled
    outcomes = outcome_columns(config)
    doc = Document(f"EXP-01 — landscape topology vs forgetting ({config.name or run.path.name})")

    doc.heading("Summary")
    doc.paragraph(_summary_text(config, tables))
    doc.paragraph(_trust_text(config, tables))
    if len(tables.exclusions):
        doc.table(tables.exclusions.rows, EXCLUSION_COLUMNS, source=EXCLUSIONS_CSV)

    doc.heading("Departures from the published protocol")
    doc.paragraph(
        "Every setting where this run differs from the lab's published EXP-01 protocol "
        "(Feb 2026), and every choice the publication leaves open, with the value used."
    )
    doc.table(tables.departures.rows, DEPARTURE_COLUMNS, source=DEPARTURES_CSV)

    trained = tables.trained
    doc.heading("Loss planes and persistence diagrams")
    doc.figure(
        _planes_figure(
            run, [str(u) for u in trained.column("unit")][:MAX_PLANES], fig_dir / "planes.png"
        ),
        f"Task-A test loss on slice 0 (red + = trained weights) and its cubical "
        f"persistence diagram, first {min(len(trained), MAX_PLANES)} units.",
        source=f"units/<unit>/{plane_phase(0)}/plane.npz, {topology_phase(0)}/diagrams.npz",
    )

    doc.heading("Merge trees and topological profiles")
    construction = config.topology.construction
    doc.figure(
        _trees_figure(
            run,
            [str(u) for u in trained.column("unit")][:MAX_PLANES],
            construction,
            fig_dir / "merge_trees.png",
        ),
        f"Merge tree of the task-A loss on slice 0 (construction={construction!r}: its branches "
        "are the H0 pairs of the diagrams above) and the topological profile drawing it as "
        "nested basins (Landscaper's figure), first "
        f"{min(len(trained), MAX_PLANES)} units; a NaN loss enters last, as +inf.",
        source=f"units/<unit>/{plane_phase(0)}/plane.npz",
    )

    doc.heading("Loss surfaces")
    _surfaces(doc, run, [str(u) for u in trained.column("unit")][:MAX_SURFACES], fig_dir)

    doc.heading("Forgetting curves")
    doc.figure(
        _curves_figure(run, config, trained, fig_dir / "forgetting.png"),
        "Task-A retention acc_A(k)/acc_A(0) while training task B, per architecture "
        "(line: mean over seeds and datasets; band: min–max).",
        source=f"units/<unit>/{forget_phase('<strategy>')}/curve.npz",
    )

    doc.heading("Predictors vs outcomes")
    doc.figure(
        correlation_heatmap(
            pooled.rows,
            predictor_columns(config),
            outcomes,
            fig_dir / "correlations.png",
            alpha=SIGNIFICANCE,
        ),
        f"Spearman ρ over all units (pooled over datasets); * = Holm-adjusted permutation "
        f"p < {SIGNIFICANCE}.",
        source=CORRELATIONS_CSV,
    )
    doc.figure(
        correlation_scatter(
            units.rows, pooled.rows, SCATTER_PREDICTORS, outcomes, fig_dir / "scatter.png"
        ),
        "Selected predictors against each outcome, with ρ over all units and its bootstrap 95% CI.",
        source=f"{UNITS_CSV}, {CORRELATIONS_CSV}",
    )
    doc.table(pooled.rows, CORRELATION_SHOWN, source=CORRELATIONS_CSV)

    if config.structure.enabled:
        structure = tables.structure_pooled
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
            + _surviving_text(tables.structure_surviving, len(structure))
        )
        doc.table(structure.rows, STRUCTURE_SHOWN, source=STRUCTURE_CSV)
        doc.table(units.rows, ["unit", *config.structure.columns()], source=UNITS_CSV)

    doc.heading("Does topology add to size and curvature? (leave-one-architecture-out ridge)")
    doc.table(tables.ridge.rows, RIDGE_SHOWN, source=RIDGE_CSV)

    if len(tables.stability):
        doc.heading("Slice-to-slice stability of each feature")
        doc.table(tables.stability.rows, STABILITY_COLUMNS, source=STABILITY_CSV)

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
        columns += [aurc_column(label), diverged_column(label), effective_strength_column(label)]
    columns += [benefit_column(label) for label in benefit_labels(config)]
    doc.table(units.rows, [c for c in columns if c in units.columns], source=UNITS_CSV)
    doc.paragraph(provenance(run, "raw arrays under units/."))
    return doc.write(report_dir)


def _summary_text(config: Exp01Config, tables: Exp01Tables) -> str:
    units = tables.units
    parts = [
        f"{len(units)} units ({len(tables.architectures)} architectures × "
        f"{len(tables.datasets)} "
        f"dataset(s) × {len(config.seeds)} seed(s)); {config.landscape.slices} slices of "
        f"{config.landscape.steps}² per unit."
    ]
    parts.append(_surviving_text(tables.pooled_surviving, len(tables.correlations)))
    single = tables.single_basin
    if single:
        parts.append(
            f"In {len(single)} of {len(units)} units every slice is a single basin without "
            f"loops (finite H0 and H1 total persistence 0: {', '.join(sorted(set(single)))}); "
            "topological features are then constant and correlations involving them undefined "
            "(nan), which is a finding about these landscapes, not a failure."
        )
    legacy = tables.legacy
    if legacy is not None:
        parts.append(
            f"The lab's legacy H0 statistic (Ripser without vertex births) tracks the mean loss "
            f"of the plane with Spearman ρ = {legacy.rho:.3f} across "
            f"these {legacy.n_units} units: it measures Σloss − min loss, not topology."
        )
    if len(units) < 10:
        parts.append("With this few units, correlations are illustrative only.")
    return " ".join(parts)


def _surviving_text(surviving: Table, family: int) -> str:
    """The correlations over all units that survive Holm correction, or that none does."""
    if not len(surviving):
        return (
            f"No correlation over all units survives Holm correction (permutation p) at "
            f"α = {SIGNIFICANCE}, family of {family} tests."
        )
    listed = "; ".join(
        f"{r['predictor']} ~ {r['outcome']} (ρ = {r['rho']:.2f}, Holm p = {r['p_holm']:.3g})"
        for r in surviving
    )
    return (
        f"Correlations over all units surviving Holm correction (permutation p) at "
        f"α = {SIGNIFICANCE}, family of {family} tests: {listed}."
    )


def _step(step: Cell) -> str:
    """A divergence step as the old CSV text showed it ('' when unknown)."""
    return "" if step is None else str(step)


def _trust_text(config: Exp01Config, tables: Exp01Tables) -> str:
    """Divergence, stability and exclusions, named unit by unit (never a footnote)."""
    parts = []
    diverged = tables.divergences
    if len(diverged):
        listed = "; ".join(f"{e['unit']} {e['what']} at step {_step(e['step'])}" for e in diverged)
        parts.append(
            f"Diverged (a non-finite loss or weight; training stopped there, its outcomes are "
            f"nan and excluded from every statistic): {listed}."
        )
    else:
        parts.append("No task-A or task-B training diverged.")
    for label in strategy_labels(config):
        unstable = [
            f"{r['unit']} (lr·curvature / limit = {r[stability_ratio_column(label)]:.3g})"
            for r in tables.unstable(label)
        ]
        scaled = [
            f"{r['unit']} λ = {r[effective_strength_column(label)]:.4g}"
            for r in tables.scaled(label)
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
    undefined = tables.undefined
    if len(undefined):
        parts.append(
            f"{len(undefined)} further outcome(s) or feature families are undefined and excluded "
            "(reasons in the table below); each correlation's n counts the defined rows only."
        )
    return " ".join(parts)


def _plane(run: Run, unit: str) -> dict[str, np.ndarray]:
    """Slice 0's stored plane arrays (``alphas``, ``betas``, ``values``)."""
    return read_npz(require_phase(run, unit, plane_phase(0)).path / "plane.npz")


def _planes_figure(run: Run, units: Sequence[str], path: Path) -> Path:
    fig, axes = figures.grid(2 * len(units), 4)
    for i, unit in enumerate(units):
        plane = _plane(run, unit)
        diagrams = read_npz(require_phase(run, unit, topology_phase(0)).path / "diagrams.npz")
        figures.contour(plane, ax=axes[2 * i], title=unit)
        finite = plane["values"][np.isfinite(plane["values"])]
        value_range = (float(finite.min()), float(finite.max())) if finite.size else None
        figures.persistence_diagram(
            [diagrams.get(f"h{k}", np.zeros((0, 2))) for k in (0, 1)],  # none without finite loss
            ax=axes[2 * i + 1],
            title="cubical PH",
            value_range=value_range,
        )
    return figures.save(fig, path)


def _trees_figure(
    run: Run, units: Sequence[str], construction: Literal["top", "vertex"], path: Path
) -> Path:
    fig, axes = figures.grid(2 * len(units), 4)
    for i, unit in enumerate(units):
        values = _plane(run, unit)["values"]
        field = np.where(np.isnan(values), np.inf, values)  # as the topology phase filters it
        profile = topological_profile(field, construction=construction)
        figures.merge_tree(profile.tree, ax=axes[2 * i], title=unit)
        figures.topological_profile(profile, ax=axes[2 * i + 1], title="topological profile")
    return figures.save(fig, path)


def _surfaces(doc: Document, run: Run, units: Sequence[str], fig_dir: Path) -> None:
    """Slice 0 of each unit as a surface: turnable in report.html, a PNG in report.md."""
    for i, unit in enumerate(units):
        plane = _plane(run, unit)
        png = figures.save(figures.surface_3d(plane, title=unit), fig_dir / f"surface-{i}.png")
        doc.interactive(
            figures.surface_3d_html(plane, div_id=f"surface-{i}", title=unit),
            png,
            f"{unit}: task-A test loss on slice 0 as a surface (drag to turn it in report.html; "
            "non-finite points are gaps).",
            source=f"units/{unit}/{plane_phase(0)}/plane.npz",
        )


def _curves_figure(run: Run, config: Exp01Config, units: Table, path: Path) -> Path:
    """Retention curves of each strategy, grouped by architecture (``units``: trained rows)."""
    by_arch: dict[str, dict[str, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
    steps = np.zeros(0)
    for row in units:
        for label in strategy_labels(config):
            phase = require_phase(run, str(row["unit"]), forget_phase(label))
            curve = read_npz(phase.path / "curve.npz")
            by_arch[str(row["arch"])][label].append(curve["retention"])
            steps = curve["steps"]
    fig, axes = figures.grid(len(by_arch), 4)
    for ax, (arch, series) in zip(axes, by_arch.items(), strict=False):
        figures.curves(ax, steps, {k: np.stack(v) for k, v in series.items()}, arch, "retention")
    return figures.save(fig, path)
