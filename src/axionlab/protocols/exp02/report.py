"""EXP-02's report: built only from a run's stored tables (results, fits, verdicts, calibration)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes

from axionlab.protocols.base import provenance
from axionlab.protocols.exp02 import (
    AREA_MEASURES,
    EXCLUSION_COLUMNS,
    HYPOTHESES,
    VOLUME_MEASURES,
    Exp02Config,
)
from axionlab.report import Document, figures
from axionlab.report.correlations import cell_float
from axionlab.runs import Run, read_csv, read_json

CAPACITY_TASKS = {"mem": "memorization of random labels", "cut": "cross-partition labels"}


def build_report(run: Run, config: Exp02Config) -> Path:
    report_dir = run.path / "report"
    fig_dir = report_dir / "figures"
    rows = read_csv(run.path / "results.csv")
    fits = read_csv(run.path / "fits.csv")
    verdicts = read_json(run.path / "verdict.json")
    cover = read_csv(run.path / "tables" / "cover.csv")
    readout = read_csv(run.path / "tables" / "readout.csv")
    doc = Document(
        f"EXP-02 — information capacity: area law or volume law? ({config.name or run.path.name})"
    )

    doc.heading("Verdicts")
    doc.bullets(
        [f"{h} ({CAPACITY_TASKS[p]}): {verdicts[h]['verdict']}" for h, p in HYPOTHESES.items()]
    )
    doc.paragraph(
        f"{len(rows)} architectures × {len(config.seeds)} seed(s); capacity = the largest number "
        f"of samples fitted to train accuracy ≥ {config.fit.threshold:g} ({config.fit.method}, "
        f"≤ {config.fit.max_steps} steps), by bisection over nested draws, in bits (samples × "
        f"log2 {config.n_classes}). ΔAIC compares the best power law in a volume measure "
        f"({', '.join(VOLUME_MEASURES)}) with the best in an area measure "
        f"({', '.join(AREA_MEASURES)}); |ΔAIC| < {config.analysis.aic_margin:g} is "
        f"inconclusive. Censored capacities are left out of the fits."
    )
    exclusions_path = run.path / "tables" / "exclusions.csv"
    exclusions = read_csv(exclusions_path) if exclusions_path.exists() else []
    doc.paragraph(_exclusion_text(exclusions))
    if exclusions:
        doc.table(exclusions, EXCLUSION_COLUMNS, source="tables/exclusions.csv")

    doc.heading("Calibration: Cover's theorem")
    doc.figure(
        _cover_figure(read_csv(run.path / "tables" / "cover_curve.csv"), fig_dir / "cover.png"),
        "Fraction of random labellings a perceptron separates (exact LP; bars: binomial "
        "SE) against Cover's closed form C(P, N)/2^P, whose 50% point is P = 2N.",
        source="tables/cover_curve.csv",
    )
    doc.table(
        cover,
        ["N", "trials", "p50", "p50_expected", "p50_se", "p50_z", "max_abs_dev", "lps"],
        source="tables/cover.csv",
    )

    doc.heading("Readout on frozen random features: bits per trainable parameter")
    doc.table(
        readout,
        [
            "unit",
            "trainable_params",
            "exact_bits",
            "exact_bits_per_param",
            "trained_bits",
            "trained_bits_per_param",
            "trainability_gap_bits",
            "exact_n_censored",
            "trained_n_censored",
        ],
        source="tables/readout.csv",
    )
    doc.paragraph(
        "Exact = LP separability of the frozen features (Cover: ≈ 2 bits per weight); "
        "trained = the configured optimizer; the difference is the trainability gap."
    )

    for hypothesis, prefix in HYPOTHESES.items():
        scope = verdicts[hypothesis]["scope"]
        ranked = [f for f in fits if f["hypothesis"] == hypothesis and f["scope"] == scope]
        doc.heading(f"{hypothesis}: capacity for {CAPACITY_TASKS[prefix]}")
        doc.figure(
            _capacity_figure(rows, ranked, prefix, fig_dir / f"{prefix}_capacity.png"),
            f"Capacity (bits, mean and {config.bisection.confidence:.0%} t interval over "
            f"seeds; hollow = censored) against each measure, log–log, with the power "
            f"law fitted over scope '{scope}'.",
            source="results.csv, fits.csv",
        )
        doc.table(
            ranked,
            [
                "predictor",
                "law",
                "n",
                "exponent",
                "exponent_low",
                "exponent_high",
                "r2",
                "aic",
                "delta_aic",
                "delta_bic",
                "akaike_weight",
                "cv_rmse",
                "reason",
            ],
            source="fits.csv",
        )

    doc.heading("Architectures")
    doc.table(
        rows,
        [
            "unit",
            "kind",
            "group",
            "widths",
            "total_params",
            "trainable_params",
            "interface_params",
            "hidden_min_cut",
            "bottleneck_width",
            "cut_params",
            "partition_cut",
            "mem_bits",
            "mem_bits_ci_low",
            "mem_bits_ci_high",
            "mem_n_censored",
            "bits_per_param",
            "bits_per_trainable_param",
            "cut_bits",
            "cut_bits_ci_low",
            "cut_bits_ci_high",
            "cut_n_censored",
        ],
        source="results.csv",
    )
    doc.paragraph(
        provenance(
            run,
            "per-seed capacities under units/<unit>/<phase>/*.npz. Every fit, per kind and "
            "pooled: fits.csv.",
        )
    )
    return doc.write(report_dir)


def _cover_figure(curve: list[dict[str, str]], path: Path) -> Path:
    dims = list(dict.fromkeys(r["N"] for r in curve))
    fig, axes = figures.grid(1, 1, size=(5.0, 3.6))
    ax = axes[0]
    for n in dims:
        part = [r for r in curve if r["N"] == n]
        ratio = np.array([cell_float(r["P"]) for r in part]) / float(n)
        line = ax.plot(ratio, [cell_float(r["closed_form"]) for r in part], lw=1, label=f"N = {n}")
        ax.errorbar(
            ratio,
            [cell_float(r["fraction"]) for r in part],
            yerr=[cell_float(r["stderr"]) for r in part],
            fmt="o",
            ms=2,
            color=line[0].get_color(),
            alpha=0.6,
        )
    ax.axvline(2.0, color="grey", ls=":", lw=0.8)
    ax.axhline(0.5, color="grey", ls=":", lw=0.8)
    ax.set_xlabel("P / N")
    ax.set_ylabel("fraction separable")
    ax.set_title("Cover (1965): line = closed form, dots = LP", fontsize=9)
    ax.legend(fontsize=7)
    return figures.save(fig, path)


def _capacity_figure(
    rows: list[dict[str, str]], ranked: list[dict[str, str]], prefix: str, path: Path
) -> Path:
    measures = [*VOLUME_MEASURES, *AREA_MEASURES]
    fits = {f["predictor"]: f for f in ranked}
    fig, axes = figures.grid(len(measures), 4)
    for ax, measure in zip(axes, measures, strict=False):
        _loglog_panel(ax, rows, measure, prefix, fits.get(measure))
    axes[0].legend(fontsize=6)
    return figures.save(fig, path)


def _loglog_panel(
    ax: Axes, rows: list[dict[str, str]], measure: str, prefix: str, fit: dict[str, str] | None
) -> None:
    for group in dict.fromkeys(f"{r['kind']}-{r['group']}" for r in rows):
        part = [r for r in rows if f"{r['kind']}-{r['group']}" == group]
        x = np.array([cell_float(r[measure]) for r in part])
        y = np.array([cell_float(r[f"{prefix}_bits"]) for r in part])
        low = np.array([cell_float(r[f"{prefix}_bits_ci_low"]) for r in part])
        high = np.array([cell_float(r[f"{prefix}_bits_ci_high"]) for r in part])
        censored = np.array([cell_float(r[f"{prefix}_n_censored"]) > 0 for r in part])
        shown = (x > 0) & (y > 0)
        line = ax.errorbar(
            x[shown],
            y[shown],
            yerr=[np.maximum(y - low, 0)[shown], np.maximum(high - y, 0)[shown]],
            fmt="o",
            ms=4,
            label=group,
            mfc="none",
        )
        color = line[0].get_color()
        keep = shown & ~censored
        ax.plot(x[keep], y[keep], "o", ms=4, color=color)
    title = measure
    if fit is not None and math.isfinite(cell_float(fit["exponent"])):
        xs = np.array([cell_float(r[measure]) for r in rows])
        xs = np.geomspace(xs[xs > 0].min(), xs[xs > 0].max(), 50)
        ax.plot(xs, cell_float(fit["a"]) * xs ** cell_float(fit["exponent"]), "k-", lw=1)
        exponent, delta = cell_float(fit["exponent"]), cell_float(fit["delta_aic"])
        title = f"{measure}: exp {exponent:.2f}, ΔAIC {delta:.1f}"
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.minorticks_off()  # minor log ticks dominate the drawing time of a many-panel figure
    ax.set_xlabel(measure, fontsize=8)
    ax.set_ylabel(f"{prefix} capacity (bits)", fontsize=8)
    ax.set_title(title, fontsize=8)


def _exclusion_text(exclusions: list[dict[str, str]]) -> str:
    """Every capacity or architecture left out of the fits, named one by one."""
    if not exclusions:
        return "Every architecture's capacities and measures enter the fits; none is excluded."
    listed = "; ".join(f"{e['unit']} {e['what']}: {e['reason']}" for e in exclusions)
    return (
        f"Excluded from the fits ({len(exclusions)}; each fit counts only defined rows, its n "
        f"says how many): {listed}."
    )
