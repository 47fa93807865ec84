"""EXP-04's report: figures and text from the run's tables (:class:`~.analysis.ReportTables`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from axionlab.protocols.base import provenance
from axionlab.protocols.exp04.analysis import (
    BEYOND_COLUMNS,
    BEYOND_FILE,
    BEYOND_GROUP_COLUMNS,
    CLOSED_GROUP_COLUMNS,
    DECAYS,
    ENTROPY_COLUMNS,
    ENTROPY_FILE,
    EXCLUSION_COLUMNS,
    EXCLUSIONS_FILE,
    RESULTS_FILE,
    SUMMARY_FILE,
    Findings,
    MetricMap,
    ReportTables,
)
from axionlab.protocols.exp04.config import AnalysisSection, Exp04Config
from axionlab.report import Document, figures
from axionlab.runs import Run

CLOSED_FORM_TEXT = (
    "closed_form is true at a unit when at least one measured quantity has an exact prediction; "
    "closed_form_quantities names them and dev_<quantity> is max over lengths of |measured − "
    "predicted| (NaN: no closed form). They exist for the commuting z_rotation pool (every "
    "quantity, all four noise models: a product state whose populations and coherences follow "
    "scalar recursions, ordering sensitivity exactly 0), for noiseless sequences (purity and "
    "echo 1, von Neumann entropy 0) and for one qubit under depolarizing noise with any pool "
    "(purity, echo, von Neumann entropy: the channel commutes with every unitary). A deviation at "
    "rounding level (≲ 1e-12) checks the simulator; everything else in this run is measurement "
    "only."
)
ENTROPY_SHOWN = tuple(c for c in ENTROPY_COLUMNS if c not in ("noise", "strength"))
"""The ordering-vs-entropy columns shown (the level's name stands for its model and strength)."""


def build_report(run: Run, config: Exp04Config, view: ReportTables) -> Path:
    """Write the run's report (``report/report.md``, ``report.html``, figures) from
    :func:`~.analysis.report_tables`; every finding it states is in ``view``. Returns the HTML
    path."""
    report_dir = run.path / "report"
    fig_dir = report_dir / "figures"
    tables = view.tables
    analysis = config.analysis
    doc = Document(
        "EXP-04 — noisy quantum sequences: stability, ordering, diversity "
        f"({config.name or run.path.name})"
    )

    doc.heading("Summary")
    doc.bullets(_findings(config, view.findings))
    doc.exclusions(
        tables.exclusions.rows,
        EXCLUSION_COLUMNS,
        source=EXCLUSIONS_FILE,
        none="Every unit's decay rates are defined; no unit is excluded.",
        counted="Excluded ({n}; these values are nan in results.csv and every mean counts only "
        "defined units, its n says how many)",
    )

    doc.heading("Stability: decay with sequence length")
    doc.figure(
        _decay_figure(config, view, fig_dir / "decay.png"),
        "Fidelity with the start state, purity and Loschmidt echo against sequence length "
        "m, per noise level (columns); one line per register size and pool (mean over "
        "diversities, orderings and seeds; band: min–max).",
        source="units/<unit>/sequence/curves.npz",
    )

    doc.heading("Ordering sensitivity and diversity")
    doc.figure(
        _map_figure(view.ordering_map, fig_dir / "ordering_map.png"),
        f"Mean pairwise trace distance between the outputs of {config.n_orderings} random "
        "orderings of the same operators at the longest length, over diversity k × noise "
        "level, per pool (mean over register sizes, orderings and seeds).",
        source=RESULTS_FILE,
    )
    doc.figure(
        _map_figure(view.entropy_var_map, fig_dir / "entropy_var_map.png"),
        "Variance over the same orderings of the measurement entropy (nats²), divided by "
        "its largest value in the run (printed in each panel's title).",
        source=RESULTS_FILE,
    )
    doc.paragraph(
        "Units with k ≥ 2 whose ordering effect has no closed form. Order-dependent: mean "
        f"trace distance > "
        f"{analysis.order_threshold}; entropy-blind: order-dependent while the "
        f"measurement entropy's standard deviation over orderings < "
        f"{analysis.entropy_threshold} nats."
    )
    doc.table(tables.entropy.rows, ENTROPY_SHOWN, source=ENTROPY_FILE)

    doc.heading("Closed forms: measurement against theory")
    doc.paragraph(CLOSED_FORM_TEXT)
    doc.table(view.closed_form.rows, CLOSED_GROUP_COLUMNS, source=RESULTS_FILE)

    doc.heading("Beyond closed form")
    doc.paragraph(
        f"{len(tables.beyond)} sweep points have no closed form for any quantity; grouped "
        "below by pool, noise model and register size (every point is listed in the "
        "source table)."
    )
    doc.table(view.beyond_groups.rows, BEYOND_GROUP_COLUMNS, source=BEYOND_FILE)
    doc.paragraph(
        f"Per-unit results: {RESULTS_FILE}; mean and {analysis.ci:.0%} CI over seeds per "
        f"sweep point: {SUMMARY_FILE}; columns of the beyond table: "
        f"{', '.join(BEYOND_COLUMNS)}. {provenance(run)}"
    )
    return doc.write(report_dir)


def _findings(config: Exp04Config, found: Findings) -> list[str]:
    """Plain statements of what this run measured (no expectation is written in)."""
    out = [
        f"{found.n_units} units: {found.n_points} sweep points × {len(config.seeds)} seed(s); "
        f"lengths {config.sweep.lengths}; {config.n_orderings} random orderings per length."
    ]
    if found.closed_form_points:
        out.append(
            f"{found.closed_form_points} sweep points have a closed form for at least one "
            f"quantity; the measurement deviates from it by at most "
            f"{found.closed_form_max_dev:.2g}."
        )
    if found.ordering_by_level:
        listed = ", ".join(f"{level} {td:.3f}" for level, td in found.ordering_by_level)
        out.append(
            f"Where ordering matters (k ≥ 2, no closed form; mean trace distance between "
            f"random orderings at the longest length): {listed}."
        )
    if found.ordering_by_diversity:
        out.append(
            "Same measure by diversity k (all noise levels): "
            + ", ".join(
                f"k = {m.key}: {m.mean:.3f} (n = {m.n})" for m in found.ordering_by_diversity
            )
            + "."
        )
    if found.predicted_ordering_max is not None:
        out.append(
            f"Where a closed form says ordering has no effect (commuting z_rotation pool), "
            f"the measured trace distance is at most {found.predicted_ordering_max:.2g}."
        )
    out.extend(_entropy_findings(config.analysis, found))
    out.append(
        "Mean Loschmidt-echo decay rate −ln p per step (over the units where it is defined): "
        + ", ".join(f"{m.key} {m.mean:.3g} (n = {m.n})" for m in found.echo_rate_by_noise)
        + "."
    )
    return out


def _entropy_findings(analysis: AnalysisSection, found: Findings) -> list[str]:
    out = []
    for level in found.entropy_levels:
        verdict = (
            f"{level.entropy_blind} of them keep the measurement-entropy sd below "
            f"{analysis.entropy_threshold} nats, so entropy alone misses their order "
            "dependence"
            if level.entropy_blind
            else "entropy varies with the ordering in all of them"
        )
        out.append(
            f"{level.noise_level}: {level.order_dependent} of {level.n_units} units with k ≥ 2 "
            f"are order-dependent (trace distance > {analysis.order_threshold}); {verdict}."
        )
    if found.entropy_blind_elsewhere:
        out.append(
            "Entropy-blind fraction of order-dependent units for the other noise "
            "levels: "
            + ", ".join(
                f"{level} {fraction:.2f}" for level, fraction in found.entropy_blind_elsewhere
            )
            + "."
        )
    return out


def _decay_figure(config: Exp04Config, view: ReportTables, path: Path) -> Path:
    levels = view.levels
    fig, axes = figures.grid(len(DECAYS) * len(levels), len(levels))
    panels = [(quantity, level) for quantity in DECAYS for level in levels]
    for ax, (quantity, level) in zip(axes, panels, strict=True):
        figures.curves(
            ax,
            np.asarray(config.sweep.lengths),
            view.decay.get((quantity, level), {}),
            level,
            quantity,
        )
        ax.set_xlabel("length m")
    return figures.save(fig, path)


def _map_figure(heat: MetricMap, path: Path) -> Path:
    levels, ks = heat.levels, heat.diversities
    fig, axes = figures.grid(len(heat.cells), 2, size=(0.9 * len(levels) + 2.5, 0.5 * len(ks) + 2))
    for ax, pool in zip(axes, heat.cells, strict=False):
        title = f"{heat.metric}, {pool}" + (f" (÷ {heat.scale:.3g})" if heat.relative else "")
        figures.heatmap(ax, heat.shown(pool), [f"k = {k}" for k in ks], list(levels), title)
    return figures.save(fig, path)
