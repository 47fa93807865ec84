"""EXP-04's report: built only from a run's stored tables and phase outputs."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from axionlab.protocols.base import Unit, provenance, require_phase
from axionlab.protocols.exp04 import (
    BEYOND_COLUMNS,
    DECAYS,
    EXCLUSION_COLUMNS,
    Exp04Config,
    group_rows,
    noise_level,
    ordering_unpredicted,
)
from axionlab.report import Document, figures
from axionlab.runs import Run, read_csv, read_npz

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


def _float(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return math.nan


def _levels(config: Exp04Config) -> list[str]:
    """Noise levels in config order, as :func:`noise_level` names them."""
    sweep = config.sweep
    return [
        noise_level({"noise": model, "strength": strength})
        for model in sweep.noise_models
        for strength in ([0.0] if model == "none" else sweep.strengths)
    ]


def _exclusion_text(exclusions: list[dict[str, str]]) -> str:
    """Every undefined outcome, named unit by unit: nan in results.csv, left out of every mean."""
    if not exclusions:
        return "Every unit's decay rates are defined; no unit is excluded."
    listed = "; ".join(f"{e['unit']} {e['what']}: {e['reason']}" for e in exclusions)
    return (
        f"Excluded ({len(exclusions)}; these values are nan in results.csv and every mean counts "
        f"only defined units, its n says how many): {listed}."
    )


def build_report(run: Run, config: Exp04Config, units: list[Unit]) -> Path:
    report_dir = run.path / "report"
    fig_dir = report_dir / "figures"
    rows = read_csv(run.path / "results.csv")
    entropy = read_csv(run.path / "tables" / "ordering_vs_entropy.csv")
    beyond = read_csv(run.path / "tables" / "beyond_closed_form.csv")
    analysis = config.analysis
    doc = Document(
        "EXP-04 — noisy quantum sequences: stability, ordering, diversity "
        f"({config.name or run.path.name})"
    )

    doc.heading("Summary")
    doc.bullets(_findings(config, rows, entropy))
    exclusions_path = run.path / "tables" / "exclusions.csv"
    exclusions = read_csv(exclusions_path) if exclusions_path.exists() else []
    doc.paragraph(_exclusion_text(exclusions))
    if exclusions:
        doc.table(exclusions, EXCLUSION_COLUMNS, source="tables/exclusions.csv")

    doc.heading("Stability: decay with sequence length")
    doc.figure(
        _decay_figure(run, config, units, fig_dir / "decay.png"),
        "Fidelity with the start state, purity and Loschmidt echo against sequence length "
        "m, per noise level (columns); one line per register size and pool (mean over "
        "diversities, orderings and seeds; band: min–max).",
        source="units/<unit>/sequence/curves.npz",
    )

    doc.heading("Ordering sensitivity and diversity")
    doc.figure(
        _map_figure(config, rows, "ordering_td", False, fig_dir / "ordering_map.png"),
        f"Mean pairwise trace distance between the outputs of {config.n_orderings} random "
        "orderings of the same operators at the longest length, over diversity k × noise "
        "level, per pool (mean over register sizes, orderings and seeds).",
        source="results.csv",
    )
    doc.figure(
        _map_figure(config, rows, "entropy_var", True, fig_dir / "entropy_var_map.png"),
        "Variance over the same orderings of the measurement entropy (nats²), divided by "
        "its largest value in the run (printed in each panel's title).",
        source="results.csv",
    )
    doc.paragraph(
        "Units with k ≥ 2 whose ordering effect has no closed form. Order-dependent: mean "
        f"trace distance > "
        f"{analysis.order_threshold}; entropy-blind: order-dependent while the "
        f"measurement entropy's standard deviation over orderings < "
        f"{analysis.entropy_threshold} nats."
    )
    doc.table(
        entropy,
        [
            "noise_level",
            "n_units",
            "ordering_td_mean",
            "ordering_td_max",
            "entropy_sd_mean",
            "order_dependent",
            "entropy_blind",
            "entropy_blind_fraction",
        ],
        source="tables/ordering_vs_entropy.csv",
    )

    doc.heading("Closed forms: measurement against theory")
    doc.paragraph(CLOSED_FORM_TEXT)
    doc.table(
        _closed_form_rows(rows),
        ["pool", "noise", "n_qubits", "n_units", "closed_form_quantities", "closed_form_max_dev"],
        source="results.csv",
    )

    doc.heading("Beyond closed form")
    doc.paragraph(
        f"{len(beyond)} sweep points have no closed form for any quantity; grouped "
        "below by pool, noise model and register size (every point is listed in the "
        "source table)."
    )
    doc.table(
        _beyond_groups(beyond),
        [
            "pool",
            "noise",
            "n_qubits",
            "n_points",
            "fidelity_rate_mean",
            "echo_rate_mean",
            "ordering_td_mean",
            "entropy_var_mean",
        ],
        source="tables/beyond_closed_form.csv",
    )
    doc.paragraph(
        f"Per-unit results: results.csv; mean and {analysis.ci:.0%} CI over seeds per "
        f"sweep point: summary.csv; columns of the beyond table: "
        f"{', '.join(BEYOND_COLUMNS)}. {provenance(run)}"
    )
    return doc.write(report_dir)


def _mean_by(rows: list[dict[str, str]], key: str, value: str) -> dict[str, float]:
    return {
        group[0][key]: float(np.mean([_float(r[value]) for r in group]))
        for group in group_rows(rows, key)
    }


def _findings(
    config: Exp04Config, rows: list[dict[str, str]], entropy: list[dict[str, str]]
) -> list[str]:
    """Plain statements of what this run measured (no expectation is written in)."""
    analysis = config.analysis
    points = {r["point"] for r in rows}
    closed = [r for r in rows if r["closed_form"] == "True"]
    out = [
        f"{len(rows)} units: {len(points)} sweep points × {len(config.seeds)} seed(s); lengths "
        f"{config.sweep.lengths}; {config.n_orderings} random orderings per length."
    ]
    if closed:
        dev = max(_float(r["closed_form_max_dev"]) for r in closed)
        out.append(
            f"{len({r['point'] for r in closed})} sweep points have a closed form for at "
            f"least one quantity; the measurement deviates from it by at most {dev:.2g}."
        )
    if entropy:
        ranked = sorted(entropy, key=lambda r: -_float(r["ordering_td_mean"]))
        listed = ", ".join(
            f"{r['noise_level']} {_float(r['ordering_td_mean']):.3f}" for r in ranked
        )
        out.append(
            f"Where ordering matters (k ≥ 2, no closed form; mean trace distance between "
            f"random orderings at the longest length): {listed}."
        )
    by_k = _mean_by([r for r in rows if ordering_unpredicted(r)], "diversity", "ordering_td")
    if by_k:
        out.append(
            "Same measure by diversity k (all noise levels): "
            + ", ".join(f"k = {k}: {v:.3f}" for k, v in by_k.items())
            + "."
        )
    predicted = [_float(r["ordering_td"]) for r in rows if not ordering_unpredicted(r)]
    if predicted:
        out.append(
            f"Where a closed form says ordering has no effect (commuting z_rotation pool), "
            f"the measured trace distance is at most {max(predicted):.2g}."
        )
    for r in entropy:
        if r["noise"] != "amplitude_damping":
            continue
        dependent, blind = int(r["order_dependent"]), int(r["entropy_blind"])
        verdict = (
            f"{blind} of them keep the measurement-entropy sd below "
            f"{analysis.entropy_threshold} nats, so entropy alone misses their order "
            "dependence"
            if blind
            else "entropy varies with the ordering in all of them"
        )
        out.append(
            f"{r['noise_level']}: {dependent} of {r['n_units']} units with k ≥ 2 are "
            f"order-dependent (trace distance > {analysis.order_threshold}); {verdict}."
        )
    others = [r for r in entropy if r["noise"] != "amplitude_damping" and int(r["order_dependent"])]
    if others:
        out.append(
            "Entropy-blind fraction of order-dependent units for the other noise "
            "levels: "
            + ", ".join(
                f"{r['noise_level']} {_float(r['entropy_blind_fraction']):.2f}" for r in others
            )
            + "."
        )
    echo = _mean_by(rows, "noise", "echo_rate")
    out.append(
        "Mean Loschmidt-echo decay rate −ln p per step: "
        + ", ".join(f"{k} {v:.3g}" for k, v in echo.items())
        + "."
    )
    return out


def _decay_figure(run: Run, config: Exp04Config, units: list[Unit], path: Path) -> Path:
    levels = _levels(config)
    several_pools = len(config.sweep.pools) > 1
    # (quantity, noise level) → series label → curves
    series: dict[tuple[str, str], dict[str, list[np.ndarray]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for unit in units:
        curves = read_npz(require_phase(run, unit.id, "sequence") / "curves.npz")
        p = unit.params
        label = f"n = {p['n_qubits']}" + (f" {p['pool']}" if several_pools else "")
        for quantity, curve in DECAYS.items():
            series[(quantity, noise_level(p))][label].append(curves[curve])
    fig, axes = figures.grid(len(DECAYS) * len(levels), len(levels))
    panels = [(quantity, level) for quantity in DECAYS for level in levels]
    for ax, (quantity, level) in zip(axes, panels, strict=True):
        figures.curves(
            ax,
            np.asarray(config.sweep.lengths),
            {k: np.stack(v) for k, v in series[(quantity, level)].items()},
            level,
            quantity,
        )
        ax.set_xlabel("length m")
    return figures.save(fig, path)


def _map_figure(
    config: Exp04Config, rows: list[dict[str, str]], metric: str, relative: bool, path: Path
) -> Path:
    levels = _levels(config)
    ks = config.sweep.diversities
    pools = config.sweep.pools
    cells: dict[tuple[str, int, str], list[float]] = defaultdict(list)
    for r in rows:
        cells[(r["pool"], int(r["diversity"]), noise_level(r))].append(_float(r[metric]))
    maps = {
        pool: np.array([[np.mean(cells[(pool, k, level)]) for level in levels] for k in ks])
        for pool in pools
    }
    scale = max(float(np.nanmax(m)) for m in maps.values()) if relative else 1.0
    fig, axes = figures.grid(len(pools), 2, size=(0.9 * len(levels) + 2.5, 0.5 * len(ks) + 2))
    for ax, (pool, matrix) in zip(axes, maps.items(), strict=False):
        title = f"{metric}, {pool}" + (f" (÷ {scale:.3g})" if relative else "")
        figures.heatmap(
            ax, matrix / scale if scale > 0 else matrix, [f"k = {k}" for k in ks], levels, title
        )
    return figures.save(fig, path)


def _closed_form_rows(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    out = []
    for group in group_rows(rows, "pool", "noise", "n_qubits"):
        quantities = sorted({r["closed_form_quantities"] for r in group})
        devs = [_float(r["closed_form_max_dev"]) for r in group if r["closed_form"] == "True"]
        out.append(
            {
                **{k: group[0][k] for k in ("pool", "noise", "n_qubits")},
                "n_units": len(group),
                "closed_form_quantities": " / ".join(q or "—" for q in quantities),
                "closed_form_max_dev": max(devs) if devs else math.nan,
            }
        )
    return out


def _beyond_groups(beyond: list[dict[str, str]]) -> list[dict[str, Any]]:
    out = []
    for group in group_rows(beyond, "pool", "noise", "n_qubits"):
        row: dict[str, Any] = {k: group[0][k] for k in ("pool", "noise", "n_qubits")}
        row["n_points"] = len(group)
        for column in (
            "fidelity_rate_mean",
            "echo_rate_mean",
            "ordering_td_mean",
            "entropy_var_mean",
        ):
            row[column] = float(np.mean([_float(r[column]) for r in group]))
        out.append(row)
    return out
