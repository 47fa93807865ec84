"""EXP-03's report: built only from a run's stored tables (units.csv, correlations.csv)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from axionlab.protocols.base import provenance
from axionlab.protocols.exp03 import EXCLUSION_COLUMNS, OUTCOMES, PREDICTORS, Exp03Config
from axionlab.report import Document, figures
from axionlab.report.correlations import cell_float, correlation_heatmap, correlation_scatter
from axionlab.runs import Run, read_csv, read_json

SCATTER_PREDICTORS = ("phi_g_mib", "phi_star_mib", "big_phi", "ei", "log_params")
NULL_MEASURES = ("mi", "phi_g_mib", "phi_star_mib", "si_mib")
ALPHA = 0.05


def _exclusion_text(exclusions: list[dict[str, str]]) -> str:
    """Every undefined outcome, named unit by unit: nan in units.csv, left out of every test."""
    if not exclusions:
        return "Every unit's outcomes and measures are defined; no unit is excluded."
    listed = "; ".join(f"{e['unit']} {e['what']}: {e['reason']}" for e in exclusions)
    return (
        f"Excluded ({len(exclusions)}; these values are nan in units.csv and every correlation "
        f"counts only defined rows, its n says how many): {listed}."
    )


def build_report(run: Run, config: Exp03Config) -> Path:
    report_dir = run.path / "report"
    fig_dir = report_dir / "figures"
    rows = read_csv(run.path / "units.csv")
    table = read_csv(run.path / "correlations.csv")
    pooled = [r for r in table if r["dataset"] == "all"]
    measure = f"{config.phi_gaussian.measure}_mib"
    doc = Document(
        f"EXP-03 — integrated information vs generalization and robustness "
        f"({config.name or run.path.name})"
    )

    doc.heading("Summary")
    doc.paragraph(_summary_text(run, config, rows, table))
    exclusions_path = run.path / "tables" / "exclusions.csv"
    exclusions = read_csv(exclusions_path) if exclusions_path.exists() else []
    doc.paragraph(_exclusion_text(exclusions))
    if exclusions:
        doc.table(exclusions, EXCLUSION_COLUMNS, source="tables/exclusions.csv")

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
        _null_figure(rows, measure, fig_dir / "null.png"),
        f"Observed measures of recurrent units against their shuffled-time null (log "
        f"scale; bars on {measure}: bootstrap {config.phi_gaussian.level:.0%} CI).",
        source="units.csv",
    )

    doc.heading("Predictors vs outcomes")
    doc.figure(
        correlation_heatmap(
            pooled, PREDICTORS, OUTCOMES, fig_dir / "correlations.png", alpha=ALPHA
        ),
        f"Spearman ρ pooled over datasets; * = Holm-adjusted permutation p < {ALPHA}. "
        "Gaussian measures and Φ exist for recurrent units only.",
        source="correlations.csv",
    )
    doc.figure(
        correlation_scatter(rows, pooled, SCATTER_PREDICTORS, OUTCOMES, fig_dir / "scatter.png"),
        "Selected predictors against each outcome, with pooled ρ and bootstrap 95% CI.",
        source="units.csv, correlations.csv",
    )
    columns = [
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
    ]
    doc.table(pooled, columns, source="correlations.csv")
    per_dataset = [r for r in table if r["dataset"] != "all" and cell_float(r["perm_p"]) < ALPHA]
    if per_dataset:
        doc.paragraph(f"Per-dataset tests with unadjusted permutation p < {ALPHA}:")
        doc.table(per_dataset, columns, source="correlations.csv")

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
        f"{measure}_null",
        "ci_low",
        "ci_high",
        "big_phi",
        "ei",
        "spectral_radius",
    ]
    doc.table(rows, [c for c in shown if c in rows[0]], source="units.csv")
    doc.paragraph(provenance(run, "per-phase outputs under units/."))
    return doc.write(report_dir)


def _summary_text(
    run: Run, config: Exp03Config, rows: list[dict[str, str]], table: list[dict[str, str]]
) -> str:
    kinds = {k: sum(r["kind"] == k for r in rows) for k in ("recurrent", "feedforward")}
    parts = [
        f"{len(rows)} units ({kinds['recurrent']} recurrent, {kinds['feedforward']} "
        f"feed-forward; {len({r['arch'] for r in rows})} architectures, "
        f"{len({r['dataset'] for r in rows})} dataset(s), {len(config.seeds)} seed(s))."
    ]
    surviving = [r for r in table if cell_float(r["p_holm"]) < ALPHA]
    if surviving:
        listed = "; ".join(
            f"{r['predictor']} ~ {r['outcome']} [{r['dataset']}] "
            f"(ρ = {cell_float(r['rho']):.2f}, Holm p = {cell_float(r['p_holm']):.3g})"
            for r in surviving
        )
        parts.append(
            f"Correlations surviving Holm correction of permutation p-values at "
            f"α = {ALPHA} over all {len(table)} tests: {listed}."
        )
    else:
        parts.append(
            f"No correlation survives Holm correction of permutation p-values at "
            f"α = {ALPHA} over all {len(table)} tests (per dataset and pooled)."
        )
    bias = read_json(run.path / "tables" / "summary.json")
    if bias["n_recurrent"]:
        parts.append(
            f"{bias['measure']}: the CI lies above the shuffled-time null for "
            f"{bias['n_ci_above_null']} of {bias['n_recurrent']} recurrent units (median null "
            f"{bias['median_null']:.3g} nats, median observed/null {bias['median_ratio']:.3g})."
        )
    parts.append(
        "Pooled rows mix datasets and probe kinds (recurrent ±1 EI, layer 0/1 EI): a "
        "pooled correlation absent within each dataset reflects differences between "
        "datasets, not between networks."
    )
    size = [r for r in table if r["predictor"] == "log_params" and r["dataset"] == "all"]
    if size:
        parts.append(
            "Size alone (log_params) pooled: "
            + ", ".join(f"{r['outcome']} ρ = {cell_float(r['rho']):.2f}" for r in size)
            + "; partial_rho controls every measure for it."
        )
    if len(rows) < 20:
        parts.append(
            f"With n = {len(rows)} units (fewer per measure: Gaussian measures and Φ "
            "exist only for recurrent units), the tests have little power; read the "
            "correlations as illustrative."
        )
    return " ".join(parts)


def _null_figure(rows: list[dict[str, str]], measure: str, path: Path) -> Path:
    recurrent = [r for r in rows if r["kind"] == "recurrent"]
    fig, axes = figures.grid(len(NULL_MEASURES), len(NULL_MEASURES))
    positions = np.arange(len(recurrent))
    for ax, name in zip(axes, NULL_MEASURES, strict=False):
        ax.plot(positions, [cell_float(r[name]) for r in recurrent], "o", ms=4, label="observed")
        if name == measure:
            # percentile intervals of a biased estimator need not contain the estimate
            ax.vlines(
                positions,
                [cell_float(r["ci_low"]) for r in recurrent],
                [cell_float(r["ci_high"]) for r in recurrent],
                label="bootstrap CI",
            )
        null = [cell_float(r[f"{name}_null"]) for r in recurrent]
        ax.plot(positions, null, "x", label="shuffled-time null")
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_xticks(positions, [r["unit"] for r in recurrent], rotation=90, fontsize=5)
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=6)
    return figures.save(fig, path)
