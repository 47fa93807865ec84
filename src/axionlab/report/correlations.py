"""Figures of a correlation table (predictor × outcome rows from ``axionlab.stats``), typed or as
stored text (every cell goes through :func:`cell_float`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from axionlab.report import figures


def cell_float(value: object) -> float:
    """A CSV cell as a float; empty or non-numeric cells become nan."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def correlation_heatmap(
    table: Sequence[Mapping[str, object]],
    predictors: Sequence[str],
    outcomes: Sequence[str],
    path: Path,
    *,
    alpha: float = 0.05,
) -> Path:
    """Spearman ρ of each predictor (rows) with each outcome (columns); '*' marks Holm p < α."""
    present = [p for p in predictors if any(r["predictor"] == p for r in table)]
    rho = np.full((len(present), len(outcomes)), np.nan)
    marks = np.zeros_like(rho, dtype=bool)
    for r in table:
        if r["predictor"] in present and r["outcome"] in outcomes:
            i, j = present.index(str(r["predictor"])), list(outcomes).index(str(r["outcome"]))
            rho[i, j] = cell_float(r["rho"])
            marks[i, j] = cell_float(r["p_holm"]) < alpha
    size = (1.2 * len(outcomes) + 3, 0.35 * len(present) + 1.5)
    fig, axes = figures.grid(1, 1, size=size)
    figures.heatmap(axes[0], rho, present, list(outcomes), "Spearman ρ (all units)", marks)
    return figures.save(fig, path)


def correlation_scatter(
    units: Sequence[Mapping[str, object]],
    table: Sequence[Mapping[str, object]],
    predictors: Sequence[str],
    outcomes: Sequence[str],
    path: Path,
    *,
    label: str = "arch",
) -> Path:
    """One panel per predictor × outcome, titled with ρ, its bootstrap CI and n."""
    stats = {(r["predictor"], r["outcome"]): r for r in table}
    predictors = [p for p in predictors if p in units[0]]
    fig, axes = figures.grid(len(predictors) * len(outcomes), len(outcomes))
    labels = [str(u[label]) for u in units]
    for i, predictor in enumerate(predictors):
        for j, outcome in enumerate(outcomes):
            r = stats.get((predictor, outcome), {})
            title = (
                f"ρ = {cell_float(r.get('rho')):.2f} [{cell_float(r.get('ci_low')):.2f}, "
                f"{cell_float(r.get('ci_high')):.2f}] (n={r.get('n', 0)})"
            )
            figures.scatter(
                axes[i * len(outcomes) + j],
                np.array([cell_float(u[predictor]) for u in units]),
                np.array([cell_float(u[outcome]) for u in units]),
                labels,
                predictor,
                outcome,
                title,
            )
    return figures.save(fig, path)
