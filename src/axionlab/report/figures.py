"""Report figures (matplotlib, Agg backend): a public API over our result objects, and helpers.

Each public figure takes a result object (a loss plane, persistence diagrams, a spectral
density, …) and returns a matplotlib :class:`~matplotlib.figure.Figure`; pass ``ax`` to draw into
an existing panel of :func:`grid` instead. Nothing is shown or written: :func:`save` writes a PNG
atomically. Results are read through the attributes they share (:class:`Plane`, :class:`Spectrum`,
:class:`Tree`, :class:`Profile`), so this layer never imports the libraries that compute them; a
plane can also be the mapping of arrays a run stores (``alphas``, ``betas``, ``values``).

Non-finite values (a diverged loss, an essential class) are never drawn as numbers: plane cells
that are NaN or ±inf are left out (gaps); essential classes, merges and levels at ±inf sit on a
marked line beyond the finite range. :func:`surface_3d_html` gives the same surface as an
interactive plotly fragment for report.html (plotly.js itself is copied once next to the report,
never fetched from a CDN).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d import Axes3D
from mpl_toolkits.mplot3d.art3d import Poly3DCollection

from axionlab.errors import InputError
from axionlab.runs.io import write_bytes


class Plane(Protocol):
    """A loss plane: ``values[i, j]`` at ``alphas[i]·D1 + betas[j]·D2`` (e.g. ``LossSurface``)."""

    @property
    def alphas(self) -> np.ndarray: ...
    @property
    def betas(self) -> np.ndarray: ...
    @property
    def values(self) -> np.ndarray: ...


class Grid(Protocol):
    """A loss grid of k directions: ``values[i1, …, ik]`` (e.g. ``LossGrid``); planes need k = 2."""

    @property
    def axes(self) -> tuple[np.ndarray, ...]: ...
    @property
    def values(self) -> np.ndarray: ...


class Spectrum(Protocol):
    """A smoothed spectral measure (e.g. ``SpectralDensity`` of the Hessian)."""

    @property
    def nodes(self) -> np.ndarray: ...
    @property
    def n_hvp(self) -> int: ...
    def density(self, grid: np.ndarray, sigma: float | None = None) -> np.ndarray: ...


class Tree(Protocol):
    """A merge tree (e.g. ``topology.MergeTree``): nodes in filtration order, children first.

    ``kind`` is 0 for a leaf (a minimum), 1 for a merge (a saddle), 2 for the root; ``parent``
    is -1 at the root; ``value`` is the function value at each node.
    """

    @property
    def value(self) -> np.ndarray: ...
    @property
    def parent(self) -> np.ndarray: ...
    @property
    def kind(self) -> np.ndarray: ...


class Profile(Protocol):
    """A topological profile (e.g. ``topology.TopologicalProfile``): one polygon per tree node."""

    @property
    def tree(self) -> Tree: ...
    def polygons(self) -> list[np.ndarray]: ...


PlaneLike = Plane | Grid | Mapping[str, np.ndarray]
_PLANE_KEYS = ("alphas", "betas", "values")
_SIZE = (4.2, 3.4)
_DENSITY_FLOOR = 1e-6
_LEAF, _MERGE, _ROOT = 0, 1, 2  # merge-tree node kinds (axionlab.topology.merge_tree's codes)
_KIND_STYLE = {
    _LEAF: ("minimum", "v", "C0"),
    _MERGE: ("merge", "o", "C1"),
    _ROOT: ("root", "s", "C3"),
}


def save(fig: Figure, path: Path) -> Path:
    """Save ``fig`` as PNG atomically and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return write_bytes(path, buffer.getvalue())


def _arrays(surface: PlaneLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(alphas, betas, values)`` of a plane, a 2-D grid or a stored mapping of its arrays."""
    if isinstance(surface, Mapping):
        missing = [k for k in _PLANE_KEYS if k not in surface]
        if missing:
            raise InputError(f"surface must hold arrays {list(_PLANE_KEYS)}; missing {missing}")
        alphas, betas, values = (np.asarray(surface[k], dtype=np.float64) for k in _PLANE_KEYS)
    elif hasattr(surface, "axes"):
        if len(surface.axes) != 2:
            raise InputError(
                f"surface must be a grid of 2 directions, got {len(surface.axes)}; "
                "draw a 2-D slice of its values instead"
            )
        alphas, betas, values = (
            np.asarray(a, dtype=np.float64) for a in (*surface.axes, surface.values)
        )
    else:
        alphas, betas, values = (
            np.asarray(a, dtype=np.float64) for a in (surface.alphas, surface.betas, surface.values)
        )
    if values.shape != (len(alphas), len(betas)):
        raise InputError(
            f"surface values have shape {values.shape}, expected ({len(alphas)}, {len(betas)})"
        )
    return alphas, betas, values


def _panel(ax: Axes | None) -> tuple[Figure, Axes]:
    """``ax`` and its figure, or a new figure (not registered with pyplot) with one panel."""
    if ax is None:
        fig = Figure(figsize=_SIZE, layout="constrained")
        return fig, fig.add_subplot()
    return _figure_of(ax), ax


def _panel_3d(ax: Axes | None) -> tuple[Figure, Axes3D]:
    """:func:`_panel` for a 3-D panel."""
    if ax is None:
        fig = Figure(figsize=_SIZE, layout="constrained")
        ax = fig.add_subplot(projection="3d")
    if not isinstance(ax, Axes3D):
        raise InputError("ax must be a 3-D axes (add_subplot(projection='3d')) for surface_3d")
    return _figure_of(ax), ax


def _figure_of(ax: Axes) -> Figure:
    fig = ax.get_figure(root=True)
    if not isinstance(fig, Figure):
        raise InputError("ax must belong to a figure")
    return fig


def _label_plane(ax: Axes, title: str) -> None:
    ax.set_xlabel("β (direction 2)")
    ax.set_ylabel("α (direction 1)")
    ax.set_title(title, fontsize=9)


def contour(surface: PlaneLike, *, ax: Axes | None = None, title: str = "") -> Figure:
    """Filled contour of a loss plane, the trained point marked (Li et al. 2018, Fig. 1 style).

    Parameters
    ----------
    surface
        A ``LossSurface``, a ``LossGrid`` of two directions, or a mapping with a plane's
        ``alphas``, ``betas`` and ``values`` arrays.
    ax
        Panel to draw into; ``None`` makes a new figure.
    title
        Panel title.

    Returns
    -------
    Figure
        Row i of the values is drawn at α = ``alphas[i]``; non-finite cells are gaps; levels are
        quantiles of the finite values (they resolve the basin, where a linear scale spends every
        level on the rim), with a colour bar.
    """
    fig, ax = _panel(ax)
    alphas, betas, values = _arrays(surface)
    grid = np.ma.masked_invalid(values)
    finite = grid.compressed()
    levels = np.unique(np.quantile(finite, np.linspace(0, 1, 21))) if finite.size else finite
    cs = ax.contourf(betas, alphas, grid, levels=levels if levels.size >= 2 else 10, cmap="viridis")
    ax.plot([0], [0], marker="+", color="red", markersize=10)
    _label_plane(ax, title)
    fig.colorbar(cs, ax=ax, shrink=0.8, format="%.3g", label="loss")
    return fig


def surface_3d(surface: PlaneLike, *, ax: Axes | None = None, title: str = "") -> Figure:
    """The loss plane as a 3-D surface (Li et al. 2018, Fig. 1 right), coloured by loss.

    Parameters
    ----------
    surface
        A ``LossSurface``, a ``LossGrid`` of two directions, or a mapping with a plane's
        ``alphas``, ``betas`` and ``values`` arrays.
    ax
        A 3-D panel (``projection="3d"``) to draw into; ``None`` makes a new figure.
    title
        Panel title.

    Returns
    -------
    Figure
        One quadrilateral per grid cell whose four corners are finite (a cell touching a NaN or
        ±inf value is left out, never drawn at a substituted height), with a colour bar.

    Raises
    ------
    InputError
        For an ``ax`` that is not 3-D, or values not shaped ``(len(alphas), len(betas))``.
    """
    fig, ax3 = _panel_3d(ax)
    alphas, betas, values = _arrays(surface)
    b, a = np.meshgrid(betas, alphas)
    corners = np.stack([b, a, values], axis=-1)  # (S1, S2, 3)
    quads = np.stack(
        [corners[:-1, :-1], corners[:-1, 1:], corners[1:, 1:], corners[1:, :-1]], axis=2
    ).reshape(-1, 4, 3)  # (cells, 4 corners, xyz)
    quads = quads[np.isfinite(quads[..., 2]).all(axis=1)]
    poly = Poly3DCollection(list(quads), cmap="viridis", edgecolor="none")
    poly.set_array(quads[..., 2].mean(axis=1))
    ax3.add_collection3d(poly)
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    ax3.set(xlim=(betas[0], betas[-1]), ylim=(alphas[0], alphas[-1]))
    ax3.set_zlim(low, high if high > low else low + 1.0)
    _label_plane(ax3, title)
    ax3.set_zlabel("loss", labelpad=8)
    fig.colorbar(poly, ax=ax3, shrink=0.6, format="%.3g", label="loss")
    return fig


def surface_3d_html(surface: PlaneLike, *, div_id: str, title: str = "") -> str:
    """The loss plane as an interactive plotly surface: an HTML fragment for report.html.

    Parameters
    ----------
    surface
        A ``LossSurface``, a ``LossGrid`` of two directions, or a mapping with a plane's
        ``alphas``, ``betas`` and ``values`` arrays.
    div_id
        The fragment's element id, unique in its page (fixed, so a rebuilt report is identical).
    title
        Figure title.

    Returns
    -------
    str
        A ``<div>`` and the ``<script>`` drawing into it; it needs ``Plotly`` loaded by the page
        (:class:`~axionlab.report.Document` references the bundled ``plotly.min.js``). Non-finite
        values are gaps.
    """
    import plotly.graph_objects as go

    alphas, betas, values = _arrays(surface)
    z = np.where(np.isfinite(values), values, np.nan)
    fig = go.Figure(
        go.Surface(x=betas, y=alphas, z=z, colorscale="Viridis", colorbar={"title": "loss"})
    )
    fig.update_layout(
        title=title,
        template="none",
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
        scene={
            "xaxis_title": "β (direction 2)",
            "yaxis_title": "α (direction 1)",
            "zaxis_title": "loss",
        },
    )
    fragment: str = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        default_height="520px",
        config={"displaylogo": False},
    )
    return fragment


def _value_range(
    arrays: Sequence[np.ndarray], value_range: tuple[float, float] | None
) -> tuple[float, float, float]:
    """``(low, high, top)``: the axis range of the arrays' finite values and the line above it
    where ``+inf`` (an essential class, a merge at ``inf``) is drawn."""
    flat = [np.asarray(a, dtype=np.float64).ravel() for a in arrays]
    values = np.concatenate(flat) if flat else np.zeros(0)
    finite = values[np.isfinite(values)]
    if value_range is not None:
        lo, hi = value_range
    else:
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi, hi + 0.05 * (hi - lo + 1e-12)


def _on_lines(y: np.ndarray, lo: float, hi: float, top: float) -> np.ndarray:
    """``y`` with ``+inf`` on the top line and ``-inf`` on the matching line below ``lo``."""
    return np.where(y == np.inf, top, np.where(y == -np.inf, lo - (top - hi), y))


def persistence_diagram(
    diagrams: Sequence[np.ndarray],
    *,
    ax: Axes | None = None,
    title: str = "",
    value_range: tuple[float, float] | None = None,
) -> Figure:
    """Birth–death scatter per homology dimension; essential classes drawn on a top line.

    Parameters
    ----------
    diagrams
        Per dimension an ``(n, 2)`` array of (birth, death), essential classes with death ``inf``.
    ax
        Panel to draw into; ``None`` makes a new figure.
    title
        Panel title.
    value_range
        The filtered function's (min, max): fixes the axes, so a diagram with a single essential
        class still shows where it sits in the function's range.

    Returns
    -------
    Figure
        One scatter per non-empty dimension (labelled ``H<k>``), the diagonal and the top line.
    """
    fig, ax = _panel(ax)
    lo, _, top = _value_range(diagrams, value_range)
    for dim, diagram in enumerate(diagrams):
        diagram = np.asarray(diagram).reshape(-1, 2)
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
    return fig


def barcode(
    diagrams: Sequence[np.ndarray],
    *,
    ax: Axes | None = None,
    title: str = "",
    value_range: tuple[float, float] | None = None,
) -> Figure:
    """Persistence barcode (Ghrist 2008): one bar from birth to death per pair, by dimension.

    Parameters as :func:`persistence_diagram`.

    Returns
    -------
    Figure
        One bar container per non-empty dimension (labelled ``H<k>``): its finite bars by birth,
        then its essential classes, whose bars run to the dotted top line and are hatched.
    """
    fig, ax = _panel(ax)
    _, _, top = _value_range(diagrams, value_range)
    row = 0
    for dim, diagram in enumerate(diagrams):
        diagram = np.asarray(diagram).reshape(-1, 2)
        if not len(diagram):
            continue
        # finite bars by birth, then the essential classes: they end the dimension's block
        diagram = diagram[np.lexsort((diagram[:, 0], ~np.isfinite(diagram[:, 1])))]
        essential = ~np.isfinite(diagram[:, 1])
        ends = np.where(essential, top, diagram[:, 1])
        rows = row + np.arange(len(diagram))
        bars = ax.barh(
            rows,
            ends - diagram[:, 0],
            left=diagram[:, 0],
            height=0.8,
            label=f"H{dim}",
            color=f"C{dim}",
        )
        for patch, open_ended in zip(bars.patches, essential, strict=True):
            if open_ended:
                patch.set_hatch("///")
        row += len(diagram)
    ax.axvline(top, color="grey", lw=0.5, ls=":")
    ax.set_yticks([])
    ax.set_xlabel("filtration value (birth → death)")
    ax.set_ylabel("pairs")
    ax.set_title(title, fontsize=9)
    if row:
        ax.legend(fontsize=7)
    return fig


def _leaf_order(parent: np.ndarray, value: np.ndarray) -> np.ndarray:
    """x position of every node: leaves 0, 1, … in depth-first order (the deeper subtree first),
    a merge at the mean of its children's positions."""
    m = len(parent)
    children: list[list[int]] = [[] for _ in range(m)]
    deepest = value.astype(np.float64).copy()
    for i in range(m):  # children come before their parent
        if parent[i] >= 0:
            children[parent[i]].append(i)
            deepest[parent[i]] = min(deepest[parent[i]], deepest[i])
    x = np.zeros(m)
    next_leaf = 0
    stack = [(int(r), False) for r in np.flatnonzero(parent < 0)[::-1]]
    while stack:
        node, expanded = stack.pop()
        below = sorted(children[node], key=lambda c: (deepest[c], c))
        if not below:
            x[node], next_leaf = next_leaf, next_leaf + 1
        elif expanded:
            x[node] = float(np.mean(x[below]))
        else:
            stack.append((node, True))
            stack.extend((c, False) for c in reversed(below))
    return x


def merge_tree(tree: Tree, *, ax: Axes | None = None, title: str = "") -> Figure:
    """A merge (join) tree drawn as a dendrogram at the heights of its nodes (Carr et al. 2003).

    Parameters
    ----------
    tree
        A ``MergeTree`` (``value``, ``parent``, ``kind`` per node).
    ax
        Panel to draw into; ``None`` makes a new figure.
    title
        Panel title.

    Returns
    -------
    Figure
        One elbow line per parent link (up from the child, across to the parent) and one marker
        per node, styled by kind (minima, merges, the root); a node at ``±inf`` sits on a dotted
        line beyond the finite range. Leaves are laid out depth first, deeper basins left.
    """
    fig, ax = _panel(ax)
    value = np.asarray(tree.value, dtype=np.float64)
    parent = np.asarray(tree.parent, dtype=np.int64)
    kind = np.asarray(tree.kind)
    lo, hi, top = _value_range([value], None)
    y = _on_lines(value, lo, hi, top)
    x = _leaf_order(parent, value)
    child = np.flatnonzero(parent >= 0)
    elbows = [
        [(x[c], y[c]), (x[c], y[p]), (x[p], y[p])]
        for c, p in zip(child, parent[child], strict=True)
    ]
    ax.add_collection(LineCollection(elbows, colors="0.3", linewidths=1))
    for code, (label, marker, color) in _KIND_STYLE.items():
        chosen = kind == code
        if chosen.any():
            ax.scatter(
                x[chosen], y[chosen], s=14, marker=marker, color=color, label=label, zorder=3
            )
    if not np.isfinite(value).all():
        ax.axhline(top, color="grey", lw=0.5, ls=":")
    ax.autoscale_view()
    ax.set_xticks([])
    ax.set_xlabel("minima (depth first)")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return fig


def topological_profile(profile: Profile, *, ax: Axes | None = None, title: str = "") -> Figure:
    """The topological profile of a landscape: its merge tree as nested basins (Landscaper's
    figure; Geniesse et al., arXiv 2602.07135).

    Parameters
    ----------
    profile
        A ``TopologicalProfile`` (its ``polygons()``, one per node of its ``tree``).
    ax
        Panel to draw into; ``None`` makes a new figure.
    title
        Panel title.

    Returns
    -------
    Figure
        One filled polygon per basin (at height y a basin is as wide as it has grid points below
        y), parents behind their children, coloured by the level where the basin spills into
        its neighbour (its top), with a colour bar; levels at ``±inf`` sit on lines beyond the
        finite range.
    """
    fig, ax = _panel(ax)
    polygons = [np.asarray(p, dtype=np.float64) for p in profile.polygons()]
    lo, hi, top = _value_range([p[:, 1] for p in polygons], None)
    drawn = [np.column_stack([p[:, 0], _on_lines(p[:, 1], lo, hi, top)]) for p in polygons]
    spills = np.array([p[:, 1].max() for p in drawn])
    # parents come after their children: draw in reverse so every child lies on top
    basins = PolyCollection(drawn[::-1], cmap="viridis", edgecolors="0.2", linewidths=0.4)
    basins.set_array(spills[::-1])
    ax.add_collection(basins)
    ax.autoscale_view()
    ax.set_xlabel("basin width (grid points)")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=9)
    fig.colorbar(basins, ax=ax, shrink=0.8, format="%.3g", label="spill level")
    return fig


def hessian_density(
    density: Spectrum,
    *,
    ax: Axes | None = None,
    title: str = "",
    sigma: float | None = None,
    points: int = 400,
) -> Figure:
    """Hessian eigenvalue density by stochastic Lanczos quadrature (Ghorbani et al. 2019, Fig. 1).

    Parameters
    ----------
    density
        A ``SpectralDensity`` (its ``nodes`` and ``density(grid, sigma)``).
    ax
        Panel to draw into; ``None`` makes a new figure.
    title
        Panel title (the number of Hessian-vector products is appended).
    sigma
        Gaussian smoothing width (``None``: the density's default, 1% of the node range).
    points
        Grid points over the node range (plus 5% each side).

    Returns
    -------
    Figure
        The smoothed density on a log scale (as Ghorbani et al. plot it: the bulk and the outliers
        differ by orders of magnitude), shown down to 10⁻⁶ of its peak (the Gaussian tails
        between isolated nodes fall far below anything readable); grid points where it
        underflows to 0 are left out.
    """
    fig, ax = _panel(ax)
    nodes = np.asarray(density.nodes, dtype=np.float64)
    low, high = float(nodes.min()), float(nodes.max())
    pad = 0.05 * max(high - low, 1e-12)
    grid = np.linspace(low - pad, high + pad, points)
    values = np.asarray(density.density(grid, sigma), dtype=np.float64)
    ax.plot(grid, np.ma.masked_less_equal(values, 0.0), lw=1)
    ax.set_yscale("log")
    peak = float(values.max())
    if peak > 0:
        ax.set_ylim(bottom=_DENSITY_FLOOR * peak)
    ax.set_xlabel("eigenvalue λ")
    ax.set_ylabel("density")
    ax.set_title(f"{title} ({density.n_hvp} HVPs)".strip(), fontsize=9)
    return fig


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
