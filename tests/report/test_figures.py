from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from matplotlib.collections import LineCollection, PathCollection, PolyCollection
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d.art3d import Poly3DCollection

from axionlab.errors import InputError
from axionlab.landscape import LossSurface, SpectralDensity
from axionlab.landscape.grid import LossGrid
from axionlab.report import figures
from axionlab.topology import merge_tree, topological_profile

A = np.linspace(-1, 1, 5)


def _surface(values: np.ndarray) -> LossSurface:
    return LossSurface(
        alphas=A,
        betas=A.copy(),
        values=values,
        center_loss=float(values[2, 2]),
        n_nonfinite=int((~np.isfinite(values)).sum()),
        seconds=0.0,
        device="cpu",
        strategy="loop",
        n_examples=1,
    )


def _bowl() -> np.ndarray:
    return np.add.outer(A**2, 2 * A**2)


def _colorbars(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


@pytest.fixture
def no_files(tmp_path, monkeypatch):
    """Run in an empty directory and check nothing was written there."""
    monkeypatch.chdir(tmp_path)
    yield
    assert list(tmp_path.iterdir()) == []


def test_contour_masks_nonfinite_cells_and_has_a_colorbar(no_files):
    values = _bowl()
    values[1, 3] = np.nan
    values[3, 1] = np.inf
    fig = figures.contour(_surface(values), title="plane")
    assert isinstance(fig, Figure) and len(_colorbars(fig)) == 1
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == (
        "β (direction 2)",
        "α (direction 1)",
        "plane",
    )
    (filled,) = [c for c in ax.collections if hasattr(c, "levels")]
    finite = values[np.isfinite(values)]
    assert filled.levels[0] == finite.min() and filled.levels[-1] == finite.max()

    def covered(beta: float, alpha: float) -> bool:  # inside some filled region
        return any(p.contains_point((beta, alpha)) for p in filled.get_paths())

    for d in (-0.1, 0.0, 0.1):  # at and around the non-finite grid points: gaps
        assert not covered(0.5 + d, -0.5 + d) and not covered(-0.5 + d, 0.5 - d)
    assert covered(0.75, 0.75) and covered(-0.75, -0.75)  # cells with four finite corners


def test_contour_reads_stored_plane_arrays_and_2d_grids_like_the_result():
    values = _bowl()
    stored = {"alphas": A, "betas": A, "values": values}
    by_result = figures.contour(_surface(values)).axes[0].collections[0]
    by_arrays = figures.contour(stored).axes[0].collections[0]
    assert np.array_equal(by_result.levels, by_arrays.levels)
    grid = LossGrid((A, A), values, float(values[2, 2]), 0, 0.0, "cpu", "loop", 1)
    by_grid = figures.contour(grid).axes[0].collections[0]
    assert np.array_equal(by_result.levels, by_grid.levels)
    cube = LossGrid((A, A, A), np.zeros((5, 5, 5)), 0.0, 0, 0.0, "cpu", "loop", 1)
    with pytest.raises(InputError, match="grid of 2 directions, got 3"):
        figures.surface_3d(cube)
    with pytest.raises(InputError, match=r"missing \['betas'\]"):
        figures.contour({"alphas": A, "values": values})
    with pytest.raises(InputError, match=r"shape \(5, 4\)"):
        figures.contour({"alphas": A, "betas": A, "values": values[:, :4]})


def test_surface_3d_leaves_out_every_cell_touching_a_nonfinite_value(no_files):
    values = _bowl()
    values[1, 3] = np.nan  # an interior point: its 4 cells go
    values[0, 0] = -np.inf  # a corner: its 1 cell goes
    fig = figures.surface_3d(_surface(values), title="bowl")
    ax = fig.axes[0]
    (poly,) = [c for c in ax.collections if isinstance(c, Poly3DCollection)]
    heights = poly.get_array()
    assert len(heights) == 16 - 4 - 1 and np.isfinite(heights).all()
    clean = figures.surface_3d(_surface(_bowl())).axes[0].collections[0].get_array()
    # cell (i, j) is coloured by the mean of its 4 corners: the centre cell (1, 1)
    assert clean[1 * 4 + 1] == pytest.approx(_bowl()[1:3, 1:3].mean())
    assert ax.get_zlabel() == "loss" and ax.get_title() == "bowl" and len(_colorbars(fig)) == 1
    assert ax.get_zlim() == (values[np.isfinite(values)].min(), values[np.isfinite(values)].max())
    with pytest.raises(InputError, match="3-D axes"):
        figures.surface_3d(_surface(values), ax=figures.grid(1, 1)[1][0])


def test_surface_3d_html_is_a_plotly_fragment_with_gaps_for_nonfinite_values():
    values = _bowl()
    values[1, 3] = np.inf
    fragment = figures.surface_3d_html(_surface(values), div_id="s-7", title="t")
    assert fragment.startswith("<div") and 'id="s-7"' in fragment
    assert '"type":"surface"' in fragment and "Plotly.newPlot(" in fragment
    assert "<script src" not in fragment and "http" not in fragment
    # the same inputs give the same fragment (a rebuilt report is identical)
    assert fragment == figures.surface_3d_html(_surface(values), div_id="s-7", title="t")


DIAGRAMS = [
    np.array([[0.0, np.inf], [0.3, 0.9], [0.1, 0.4]]),  # H0: one essential, two finite
    np.array([[0.5, 0.7]]),  # H1
    np.zeros((0, 2)),  # H2: empty
]


def test_barcode_draws_one_bar_per_finite_or_essential_pair(no_files):
    fig = figures.barcode(DIAGRAMS, title="bars", value_range=(0.0, 1.0))
    ax = fig.axes[0]
    bars = [patch for container in ax.containers for patch in container]
    assert len(bars) == 4  # 3 in H0, 1 in H1; the empty H2 draws nothing
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["H0", "H1"]
    top = 1.0 + 0.05 * (1.0 + 1e-12)
    spans = sorted((round(p.get_x(), 9), round(p.get_x() + p.get_width(), 9)) for p in bars)
    assert spans == [(0.0, round(top, 9)), (0.1, 0.4), (0.3, 0.9), (0.5, 0.7)]
    hatched = [p.get_y() for p in bars if p.get_hatch()]
    assert hatched == [max(p.get_y() for p in ax.containers[0])]  # H0's essential class, last
    assert ax.get_xlabel().startswith("filtration value") and ax.get_title() == "bars"
    assert not _colorbars(fig)


def test_persistence_diagram_puts_essential_classes_on_the_top_line(no_files):
    fig = figures.persistence_diagram(DIAGRAMS, value_range=(0.0, 1.0))
    ax = fig.axes[0]
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    h0, h1 = (s.get_offsets() for s in scatters)
    assert len(scatters) == 2 and len(h0) == 3 and len(h1) == 1
    top = 1.0 + 0.05 * (1.0 + 1e-12)
    assert np.allclose(h0[0], [0.0, top]) and np.allclose(h0[1], [0.3, 0.9])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("birth", "death")


def test_hessian_density_draws_the_smoothed_spectrum_on_a_log_scale(no_files):
    nodes = np.array([[0.0, 1.0, 10.0], [0.5, 1.0, 9.0]])
    weights = np.array([[0.5, 0.4, 0.1], [0.6, 0.3, 0.1]])
    spectrum = SpectralDensity(nodes=nodes, weights=weights, n_hvp=6, seconds=0.0)
    fig = figures.hessian_density(spectrum, title="H", sigma=0.5, points=101)
    ax = fig.axes[0]
    (line,) = ax.get_lines()
    x, y = line.get_data()
    assert x[0] == pytest.approx(-0.5) and x[-1] == pytest.approx(10.5) and len(x) == 101
    np.testing.assert_allclose(np.ma.filled(y, np.nan), spectrum.density(x, 0.5), rtol=1e-12)
    assert ax.get_yscale() == "log" and ax.get_title() == "H (6 HVPs)"
    assert ax.get_ylim()[0] == pytest.approx(1e-6 * y.max())
    assert ax.get_xlabel() == "eigenvalue λ"


@dataclass(frozen=True)
class _Spike:
    """A spectrum whose smoothed density underflows to 0 away from its one node."""

    nodes: np.ndarray
    n_hvp: int = 1

    def density(self, grid: np.ndarray, sigma: float | None = None) -> np.ndarray:
        return np.where(np.abs(grid) < 0.1, 1.0, 0.0)


def test_hessian_density_leaves_out_points_where_the_density_is_zero():
    fig = figures.hessian_density(_Spike(np.array([[-1.0, 1.0]])), points=21)
    y = fig.axes[0].get_lines()[0].get_data()[1]
    assert np.ma.count_masked(y) == 20 and y.compressed().tolist() == [1.0]


def test_figures_draw_into_a_given_panel_and_write_only_on_save(tmp_path, no_files):
    fig, axes = figures.grid(3, 3)
    assert figures.contour(_surface(_bowl()), ax=axes[0]) is fig
    assert figures.barcode(DIAGRAMS, ax=axes[1]) is fig
    assert figures.persistence_diagram(DIAGRAMS, ax=axes[2]) is fig
    png = figures.save(fig, tmp_path / "out" / "f.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    png.unlink()
    png.parent.rmdir()


# two basins: minima 0 (at [0, 0]) and 1 (at [0, 2]) merge at 2, the root (maximum) is 4
FIELD = np.array([[0.0, 2.0, 1.0], [3.0, 4.0, 3.5]])


def _scatters(ax) -> dict[str, np.ndarray]:
    return {
        c.get_label(): np.asarray(c.get_offsets())
        for c in ax.collections
        if isinstance(c, PathCollection)
    }


def test_merge_tree_draws_one_elbow_per_parent_link_and_one_marker_per_node(no_files):
    tree = merge_tree(FIELD)
    fig = figures.merge_tree(tree, title="tree")
    ax = fig.axes[0]
    (links,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    elbows = [np.asarray(s).tolist() for s in links.get_segments()]
    # leaves depth first, the deeper first: minimum 0 at x = 0, minimum 1 at x = 1
    assert elbows == [
        [[0.0, 0.0], [0.0, 2.0], [0.5, 2.0]],
        [[1.0, 1.0], [1.0, 2.0], [0.5, 2.0]],
        [[0.5, 2.0], [0.5, 4.0], [0.5, 4.0]],
    ]
    nodes = _scatters(ax)
    assert nodes["minimum"].tolist() == [[0.0, 0.0], [1.0, 1.0]]
    assert nodes["merge"].tolist() == [[0.5, 2.0]] and nodes["root"].tolist() == [[0.5, 4.0]]
    assert ax.get_ylabel() == "loss" and ax.get_title() == "tree"


def test_merge_tree_puts_a_node_at_inf_on_the_line_above_the_finite_range():
    field = FIELD.copy()
    field[1, 1] = np.inf  # the root: the last vertex to enter the filtration
    ax = figures.merge_tree(merge_tree(field)).axes[0]
    (root,) = _scatters(ax)["root"]
    top = 2.0 + 0.05 * (2.0 + 1e-12)  # the finite nodes span [0, 2]
    assert root.tolist() == [0.5, top]
    assert any(line.get_ydata()[0] == top for line in ax.get_lines())  # the dotted line


def test_topological_profile_fills_one_polygon_per_basin_children_on_top(no_files):
    profile = topological_profile(FIELD)
    fig = figures.topological_profile(profile, title="profile")
    ax = fig.axes[0]
    (basins,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    paths, polygons = basins.get_paths(), profile.polygons()[::-1]
    assert len(paths) == len(profile.tree.value) == 4
    for path, polygon in zip(paths, polygons, strict=True):  # the root (whole grid) first
        np.testing.assert_array_equal(path.vertices[: len(polygon)], polygon)
    assert basins.get_array().tolist() == [4.0, 4.0, 2.0, 2.0]  # each basin's spill level
    assert len(_colorbars(fig)) == 1 and ax.get_ylabel() == "loss"


def test_topological_profile_puts_levels_at_inf_on_the_line_above_the_finite_range():
    field = FIELD.copy()
    field[1, 1] = np.inf
    ax = figures.topological_profile(topological_profile(field)).axes[0]
    (basins,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    heights = np.concatenate([path.vertices[:, 1] for path in basins.get_paths()])
    assert np.isfinite(heights).all() and heights.max() == 3.5 + 0.05 * (3.5 + 1e-12)
