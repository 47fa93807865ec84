"""EXP-02's report: built only from a run's stored tables (results, fits, verdicts, calibration)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes

from axionlab.protocols.base import provenance
from axionlab.protocols.exp02.analysis import (
    AREA_MEASURES,
    COVER,
    COVER_CURVE,
    EXCLUSION_COLUMNS,
    EXCLUSIONS,
    FITS,
    HYPOTHESES,
    MEASURES,
    READOUT,
    RESULTS,
    VOLUME_MEASURES,
    Exp02Tables,
    Prefix,
    capacity_column,
)
from axionlab.protocols.exp02.config import Exp02Config
from axionlab.report import Document, figures
from axionlab.runs import Run, Table
from axionlab.runs.tables import Cell

CAPACITY_TASKS = {"mem": "memorization of random labels", "cut": "cross-partition labels"}
READOUT_SHOWN = (
    "unit",
    "trainable_params",
    "exact_bits",
    "exact_bits_per_param",
    "trained_bits",
    "trained_bits_per_param",
    "trainability_gap_bits",
    "exact_n_censored",
    "trained_n_censored",
)
FIT_SHOWN = (
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
)
COVER_SHOWN = ("N", "trials", "p50", "p50_expected", "p50_se", "p50_z", "max_abs_dev", "lps")
CAPACITY_SHOWN = ("bits", "bits_ci_low", "bits_ci_high", "n_censored")
RESULTS_SHOWN = (
    "unit",
    "kind",
    "group",
    "widths",
    *MEASURES,
    *(capacity_column("mem", f) for f in CAPACITY_SHOWN),
    "bits_per_param",
    "bits_per_trainable_param",
    *(capacity_column("cut", f) for f in CAPACITY_SHOWN),
)


def build_report(run: Run, config: Exp02Config, tables: Exp02Tables) -> Path:
    """Write the run's report (``report/report.md``, ``report.html``, figures) from its typed
    tables (:func:`~.analysis.read_tables`). Returns the HTML path."""
    report_dir = run.path / "report"
    fig_dir = report_dir / "figures"
    rows, verdicts = tables.results, tables.verdicts
    doc = Document(
        f"EXP-02 — information capacity: area law or volume law? ({config.name or run.path.name})"
    )

    doc.heading("Verdicts")
    doc.bullets(
        [f"{h} ({CAPACITY_TASKS[p]}): {verdicts[h].verdict.verdict}" for h, p in HYPOTHESES.items()]
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
    doc.exclusions(
        tables.exclusions.rows,
        EXCLUSION_COLUMNS,
        source=EXCLUSIONS,
        none="Every architecture's capacities and measures enter the fits; none is excluded.",
        counted="Excluded from the fits ({n}; each fit counts only defined rows, its n says "
        "how many)",
    )

    doc.heading("Calibration: Cover's theorem")
    doc.figure(
        _cover_figure(tables.cover_curve, fig_dir / "cover.png"),
        "Fraction of random labellings a perceptron separates (exact LP; bars: binomial "
        "SE) against Cover's closed form C(P, N)/2^P, whose 50% point is P = 2N.",
        source=COVER_CURVE,
    )
    doc.table(tables.cover.rows, COVER_SHOWN, source=COVER)

    doc.heading("Readout on frozen random features: bits per trainable parameter")
    doc.table(tables.readout.rows, READOUT_SHOWN, source=READOUT)
    doc.paragraph(
        "Exact = LP separability of the frozen features (Cover: ≈ 2 bits per weight); "
        "trained = the configured optimizer; the difference is the trainability gap."
    )

    for hypothesis, prefix in HYPOTHESES.items():
        scope = verdicts[hypothesis].scope
        ranked = tables.fits.where(hypothesis=hypothesis, scope=scope)
        doc.heading(f"{hypothesis}: capacity for {CAPACITY_TASKS[prefix]}")
        doc.figure(
            _capacity_figure(rows, ranked, prefix, fig_dir / f"{prefix}_capacity.png"),
            f"Capacity (bits, mean and {config.bisection.confidence:.0%} t interval over "
            f"seeds; hollow = censored) against each measure, log–log, with the power "
            f"law fitted over scope '{scope}'.",
            source=f"{RESULTS}, {FITS}",
        )
        doc.table(ranked.rows, FIT_SHOWN, source=FITS)

    doc.heading("Architectures")
    doc.table(rows.rows, RESULTS_SHOWN, source=RESULTS)
    doc.paragraph(
        provenance(
            run,
            "per-seed capacities under units/<unit>/<phase>/*.npz. Every fit, per kind and "
            f"pooled: {FITS}.",
        )
    )
    return doc.write(report_dir)


def _cover_figure(curve: Table, path: Path) -> Path:
    fig, axes = figures.grid(1, 1, size=(5.0, 3.6))
    ax = axes[0]
    for n in dict.fromkeys(curve.column("N")):
        part = curve.where(N=n)
        ratio = part.floats("P") / part.floats("N")
        line = ax.plot(ratio, part.floats("closed_form"), lw=1, label=f"N = {n}")
        ax.errorbar(
            ratio,
            part.floats("fraction"),
            yerr=part.floats("stderr"),
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


def _capacity_figure(rows: Table, ranked: Table, prefix: Prefix, path: Path) -> Path:
    fits = {f["predictor"]: f for f in ranked}
    fig, axes = figures.grid(len(MEASURES), 4)
    for ax, measure in zip(axes, MEASURES, strict=False):
        _loglog_panel(ax, rows, measure, prefix, fits.get(measure))
    axes[0].legend(fontsize=6)
    return figures.save(fig, path)


def _loglog_panel(
    ax: Axes, rows: Table, measure: str, prefix: Prefix, fit: Mapping[str, Cell] | None
) -> None:
    groups = zip(rows.column("kind"), rows.column("group"), strict=True)
    for kind, group in dict.fromkeys(groups):
        part = rows.where(kind=kind, group=group)
        x = part.floats(measure)
        y, low, high = (part.floats(capacity_column(prefix, k)) for k in CAPACITY_SHOWN[:3])
        censored = part.floats(capacity_column(prefix, "n_censored")) > 0
        shown = (x > 0) & (y > 0)
        line = ax.errorbar(
            x[shown],
            y[shown],
            yerr=[np.maximum(y - low, 0)[shown], np.maximum(high - y, 0)[shown]],
            fmt="o",
            ms=4,
            label=f"{kind}-{group}",
            mfc="none",
        )
        color = line[0].get_color()
        keep = shown & ~censored
        ax.plot(x[keep], y[keep], "o", ms=4, color=color)
    title = measure
    exponent = math.nan if fit is None else _number(fit["exponent"])
    if fit is not None and math.isfinite(exponent):
        xs = rows.floats(measure)
        xs = np.geomspace(xs[xs > 0].min(), xs[xs > 0].max(), 50)
        ax.plot(xs, _number(fit["a"]) * xs**exponent, "k-", lw=1)
        title = f"{measure}: exp {exponent:.2f}, ΔAIC {_number(fit['delta_aic']):.1f}"
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.minorticks_off()  # minor log ticks dominate the drawing time of a many-panel figure
    ax.set_xlabel(measure, fontsize=8)
    ax.set_ylabel(f"{prefix} capacity (bits)", fontsize=8)
    ax.set_title(title, fontsize=8)


def _number(cell: Cell) -> float:
    """A float cell of a parsed table (its schema makes it a float)."""
    if not isinstance(cell, float):
        raise TypeError(f"expected a float cell, got {cell!r}")
    return cell
