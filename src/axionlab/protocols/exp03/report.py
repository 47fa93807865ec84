"""EXP-03's report: figures and text from the run's typed tables (:func:`.analysis.read_tables`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from axionlab.phi.nulls import null_name
from axionlab.protocols.base import provenance
from axionlab.protocols.exp03.analysis import ALPHA, EXCLUSION_COLUMNS, PREDICTORS, Exp03Tables
from axionlab.protocols.exp03.config import OUTCOMES, Exp03Config
from axionlab.report import Document, figures
from axionlab.report.correlations import correlation_heatmap, correlation_scatter
from axionlab.runs import Run, Table

SCATTER_PREDICTORS = ("phi_g_mib", "phi_star_mib", "big_phi", "ei", "log_params")
NULL_MEASURES = ("mi", "phi_g_mib", "phi_star_mib", "si_mib")
CORRELATION_SHOWN = (
    "predictor",
    "outcome",
    "dataset",
    "n",
    "rho",
    "ci_low",
    "ci_high",
    "perm_p",
    "p_holm",
    "partial_rho",
    "partial_p",
)


def build_report(run: Run, config: Exp03Config, tables: Exp03Tables) -> Path:
    """Write the run's report (``report/report.md``, ``report.html``, figures) from its typed
    tables; every finding it states is a field of ``tables``. Returns the HTML path."""
    report_dir = run.path / "report"
    fig_dir = report_dir / "figures"
    units, pooled = tables.units, tables.pooled
    measure = tables.bias_measure
    doc = Document(
        f"EXP-03 — integrated information vs generalization and robustness "
        f"({config.name or run.path.name})"
    )

    doc.heading("Summary")
    doc.paragraph(_summary_text(config, tables))
    doc.exclusions(
        tables.exclusions.rows,
        EXCLUSION_COLUMNS,
        source="tables/exclusions.csv",
        none="Every unit's outcomes and measures are defined; no unit is excluded.",
        counted="Excluded ({n}; these values are nan in units.csv and every correlation counts "
        "only defined rows, its n says how many)",
    )

    doc.heading("Estimators and their bias")
    doc.paragraph(
        "Gaussian measures (nats) come from a least-squares VAR(1) fitted to the hidden-state "
        f"series of {config.phi_gaussian.examples} test sequences (trials), for the atomic "
        f"partition and the bipartition minimising {config.phi_gaussian.measure}. Finite-sample "
        "fits inflate every measure and the input drive is read as innovation noise; the "
        "shuffled-time null (time steps permuted within each trial) shows the bias at the same "
        "number of transitions. A one-channel input (MNIST-1D) drives every unit through one "
        "direction, so the innovations are nearly singular and MI is large. SI keeps a large "
        "null value because it counts equal-time correlations between parts "
        "(SI = Φ_WMS + Σ_k H(Y^k) − H(Y)), which shuffling preserves. Exact Φ (IIT 3.0, bits) "
        "is averaged over the "
        f"reachable states of the {config.phi_exact.nodes} most strongly connected units of the "
        "recurrent tanh path, binarised to ±1 threshold units with gates open and inputs at zero; "
        "feed-forward units get the effective information of their last layer binarised to 0/1 "
        "units instead (Φ of a feed-forward map is zero)."
    )
    doc.figure(
        _null_figure(tables.recurrent, measure, fig_dir / "null.png"),
        f"Observed measures of recurrent units against their shuffled-time null (log "
        f"scale; bars on {measure}: bootstrap {config.phi_gaussian.level:.0%} CI).",
        source="units.csv",
    )

    doc.heading("Predictors vs outcomes")
    over = "pooled over datasets" if tables.has_pooled else "over all units (one dataset)"
    doc.figure(
        correlation_heatmap(
            pooled.rows, PREDICTORS, OUTCOMES, fig_dir / "correlations.png", alpha=ALPHA
        ),
        f"Spearman ρ {over}; * = Holm-adjusted permutation p < {ALPHA}. "
        "Gaussian measures and Φ exist for recurrent units only.",
        source="correlations.csv",
    )
    doc.figure(
        correlation_scatter(
            units.rows, pooled.rows, SCATTER_PREDICTORS, OUTCOMES, fig_dir / "scatter.png"
        ),
        f"Selected predictors against each outcome, with {'pooled ' if tables.has_pooled else ''}"
        "ρ and bootstrap 95% CI.",
        source="units.csv, correlations.csv",
    )
    doc.table(pooled.rows, CORRELATION_SHOWN, source="correlations.csv")
    per_dataset = tables.per_dataset_significant
    if per_dataset:
        doc.paragraph(f"Per-dataset tests with unadjusted permutation p < {ALPHA}:")
        doc.table(per_dataset.rows, CORRELATION_SHOWN, source="correlations.csv")

    doc.heading("Units")
    shown = [
        "unit",
        "kind",
        "params",
        "train_acc",
        "test_acc",
        "gap",
        "noise_acc",
        "fgsm_acc",
        "mi",
        measure,
        null_name(measure),
        "ci_low",
        "ci_high",
        "big_phi",
        "ei",
        "spectral_radius",
    ]
    doc.table(units.rows, [c for c in shown if c in units.columns], source="units.csv")
    doc.paragraph(provenance(run, "per-phase outputs under units/."))
    return doc.write(report_dir)


def _summary_text(config: Exp03Config, tables: Exp03Tables) -> str:
    counts = tables.counts
    correlations = tables.correlations
    parts = [
        f"{counts.units} units ({counts.recurrent} recurrent, {counts.feedforward} "
        f"feed-forward; {counts.architectures} architectures, "
        f"{counts.datasets} dataset(s), {len(config.seeds)} seed(s))."
    ]
    surviving = tables.surviving
    if surviving:
        listed = "; ".join(
            f"{r['predictor']} ~ {r['outcome']} [{r['dataset']}] "
            f"(ρ = {r['rho']:.2f}, Holm p = {r['p_holm']:.3g})"
            for r in surviving
        )
        parts.append(
            f"Correlations surviving Holm correction of permutation p-values at "
            f"α = {ALPHA} over all {len(correlations)} tests: {listed}."
        )
    else:
        parts.append(
            f"No correlation survives Holm correction of permutation p-values at "
            f"α = {ALPHA} over all {len(correlations)} tests"
            + (" (per dataset and pooled)." if tables.has_pooled else ".")
        )
    bias = tables.bias
    if bias.n:
        parts.append(
            f"{tables.bias_measure}: the CI lies above the shuffled-time null for "
            f"{bias.n_ci_above_null} of {bias.n} recurrent units (median null "
            f"{bias.median_null:.3g} nats, median observed/null {bias.median_ratio:.3g})."
        )
    if tables.has_pooled:
        parts.append(
            "Pooled rows mix datasets and probe kinds (recurrent ±1 EI, layer 0/1 EI): a "
            "pooled correlation absent within each dataset reflects differences between "
            "datasets, not between networks."
        )
    size = tables.size_only
    if size:
        parts.append(
            f"Size alone (log_params){' pooled' if tables.has_pooled else ''}: "
            + ", ".join(f"{r['outcome']} ρ = {r['rho']:.2f}" for r in size)
            + "; partial_rho controls every measure for it."
        )
    if counts.units < 20:
        parts.append(
            f"With n = {counts.units} units (fewer per measure: Gaussian measures and Φ "
            "exist only for recurrent units), the tests have little power; read the "
            "correlations as illustrative."
        )
    return " ".join(parts)


def _null_figure(recurrent: Table, measure: str, path: Path) -> Path:
    fig, axes = figures.grid(len(NULL_MEASURES), len(NULL_MEASURES))
    positions = np.arange(len(recurrent))
    for ax, name in zip(axes, NULL_MEASURES, strict=False):
        ax.plot(positions, recurrent.floats(name), "o", ms=4, label="observed")
        if name == measure:
            # percentile intervals of a biased estimator need not contain the estimate
            ax.vlines(
                positions,
                recurrent.floats("ci_low"),
                recurrent.floats("ci_high"),
                label="bootstrap CI",
            )
        ax.plot(positions, recurrent.floats(null_name(name)), "x", label="shuffled-time null")
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_xticks(
            positions, [str(u) for u in recurrent.column("unit")], rotation=90, fontsize=5
        )
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=6)
    return figures.save(fig, path)
