"""Reusable report figures (matplotlib, Agg backend), saved atomically as PNG."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from axionlab.runs.io import write_bytes


def save(fig: Figure, path: Path) -> Path:
    """Save ``fig`` as PNG atomically and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return write_bytes(path, buffer.getvalue())


def plane_contour(
    ax: Axes, alphas: np.ndarray, betas: np.ndarray, values: np.ndarray, title: str
) -> None:
    """Filled contour of a loss plane (row i = alphas[i]); non-finite points shown as gaps."""
    grid = np.ma.masked_invalid(values)
    finite = grid.compressed()
    # Quantile levels resolve the basin, where a linear scale spends every level on the rim.
    levels = np.unique(np.quantile(finite, np.linspace(0, 1, 21))) if finite.size else finite
    cs = ax.contourf(betas, alphas, grid, levels=levels if levels.size >= 2 else 10, cmap="viridis")
    ax.plot([0], [0], marker="+", color="red", markersize=10)
    ax.set_xlabel("β (direction 2)")
    ax.set_ylabel("α (direction 1)")
    ax.set_title(title, fontsize=9)
    ax.figure.colorbar(cs, ax=ax, shrink=0.8, format="%.3g")


def persistence_diagram(
    ax: Axes,
    diagrams: Sequence[np.ndarray],
    title: str,
    value_range: tuple[float, float] | None = None,
) -> None:
    """Birth–death scatter per homology dimension; essential classes drawn on a top line.

    ``value_range`` (the filtered function's min and max) fixes the axes, so a diagram with a
    single essential class still shows where it sits in the function's range.
    """
    pairs = np.concatenate([np.asarray(d).reshape(-1, 2) for d in diagrams] or [np.zeros((0, 2))])
    finite = pairs[np.isfinite(pairs)]
    if value_range is not None:
        lo, hi = value_range
    else:
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    top = hi + 0.05 * (hi - lo + 1e-12)
    for dim, diagram in enumerate(diagrams):
        if not len(diagram):
            continue
        deaths = np.where(np.isfinite(diagram[:, 1]), diagram[:, 1], top)
        ax.scatter(diagram[:, 0], deaths, s=10, label=f"H{dim}", alpha=0.8)
    ax.plot([lo, top], [lo, top], color="grey", lw=0.8)
    ax.axhline(top, color="grey", lw=0.5, ls=":")
    ax.set_xlabel("birth")
    ax.set_ylabel("death")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


def curves(
    ax: Axes,
    steps: np.ndarray,
    series: Mapping[str, np.ndarray],
    title: str,
    ylabel: str,
    log_x: bool = True,
) -> None:
    """Mean ± min/max band per series; ``series[name]`` is (repeats, len(steps))."""
    x = np.where(steps > 0, steps, 0.5) if log_x else steps
    for name, values in series.items():
        values = np.atleast_2d(values)
        ax.plot(x, values.mean(axis=0), marker="o", ms=3, label=name)
        if values.shape[0] > 1:
            ax.fill_between(x, values.min(axis=0), values.max(axis=0), alpha=0.2)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("step" + (" (0 drawn at 0.5)" if log_x else ""))
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


def scatter(
    ax: Axes,
    x: np.ndarray,
    y: np.ndarray,
    labels: Sequence[str],
    xlabel: str,
    ylabel: str,
    title: str,
) -> None:
    """Labelled scatter of one predictor against one outcome."""
    ax.scatter(x, y, s=18)
    for xi, yi, label in zip(x, y, labels, strict=True):
        ax.annotate(label, (xi, yi), fontsize=6, alpha=0.7)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=8)


def heatmap(
    ax: Axes,
    matrix: np.ndarray,
    rows: Sequence[str],
    cols: Sequence[str],
    title: str,
    marks: np.ndarray | None = None,
) -> None:
    """Signed heatmap in [-1, 1] with values printed; ``marks`` adds '*' to chosen cells."""
    im = ax.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            if np.isfinite(matrix[i, j]):
                star = "*" if marks is not None and marks[i, j] else ""
                ax.text(j, i, f"{matrix[i, j]:.2f}{star}", ha="center", va="center", fontsize=6)
    ax.set_title(title, fontsize=9)
    ax.figure.colorbar(im, ax=ax, shrink=0.8)


def grid(n: int, ncols: int, size: tuple[float, float] = (3.2, 2.8)) -> tuple[Figure, np.ndarray]:
    """A figure with ``n`` axes in rows of ``ncols`` (unused axes hidden)."""
    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(size[0] * ncols, size[1] * nrows),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()
