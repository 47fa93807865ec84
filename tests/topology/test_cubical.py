"""sublevel_persistence and sublevel_persistence_tiled against GUDHI's cubical complexes."""

from __future__ import annotations

from pathlib import Path

import gudhi
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from axionlab.errors import InputError
from axionlab.execute import ProcessPoolExecutor
from axionlab.topology import sublevel_persistence, sublevel_persistence_tiled


def gudhi_diagrams(values: np.ndarray, construction: str) -> list[np.ndarray]:
    if construction == "top":
        cc = gudhi.CubicalComplex(top_dimensional_cells=values)
    else:
        cc = gudhi.CubicalComplex(vertices=values)
    cc.compute_persistence()
    return [cc.persistence_intervals_in_dimension(k).reshape(-1, 2) for k in range(values.ndim)]


def canon(diagram: np.ndarray) -> np.ndarray:
    d = np.asarray(diagram).reshape(-1, 2)
    return d[np.lexsort((d[:, 1], d[:, 0]))]


def assert_same(mine: list[np.ndarray], ref: list[np.ndarray]) -> None:
    assert len(mine) == len(ref)
    for a, b in zip(mine, ref, strict=True):
        assert a.dtype == np.float64 and a.shape[1:] == (2,)
        np.testing.assert_array_equal(canon(a), canon(b))


shapes = st.tuples(st.integers(1, 13), st.integers(1, 13))
integer_grids = shapes.flatmap(
    lambda s: arrays(np.float64, s, elements=st.integers(-2, 2).map(float))
)
real_grids = shapes.flatmap(
    lambda s: arrays(np.float64, s, elements=st.floats(-1e6, 1e6, allow_nan=False, width=32))
)
special_grids = shapes.flatmap(
    lambda s: arrays(np.float64, s, elements=st.sampled_from([-np.inf, -1.0, 0.0, 1.0, np.inf]))
)
any_grid = st.one_of(integer_grids, real_grids, special_grids)
tiles = st.tuples(st.integers(1, 6), st.integers(1, 6))


@settings(max_examples=100, deadline=None)
@given(values=any_grid, construction=st.sampled_from(["top", "vertex"]), tile=tiles)
def test_matches_gudhi_and_tiled_matches_monolithic(
    values: np.ndarray, construction: str, tile: tuple[int, int]
) -> None:
    mono = sublevel_persistence(values, construction=construction)
    assert_same(mono, gudhi_diagrams(values, construction))
    assert_same(sublevel_persistence_tiled(values, tile=tile, construction=construction), mono)


@pytest.mark.parametrize("construction", ["top", "vertex"])
@pytest.mark.parametrize("seed", range(3))
def test_smooth_odd_shapes_match_gudhi_across_cache_tiles(construction: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(170, 330, size=2)  # larger than the 160 x 160 cache tile
    y, x = np.mgrid[0:rows, 0:cols] / 17.0
    values = np.sin(x + seed) * np.cos(0.7 * y) + 0.3 * np.sin(2.3 * x * y / 40)
    values = np.round(values, 2)  # plateaus and ties
    mono = sublevel_persistence(values, construction=construction)
    assert_same(mono, gudhi_diagrams(values, construction))
    assert_same(sublevel_persistence_tiled(values, tile=(37, 64), construction=construction), mono)


@pytest.mark.parametrize("construction", ["top", "vertex"])
def test_tiles_larger_than_the_cache_tile_match_untiled_and_gudhi(construction: str) -> None:
    """Tiles of 170 x 333 are cut into 160 x 160 sub-tiles merged down to the tile's border, then
    merged across tiles: both levels, on plateaus, ties and ±inf, with partial tiles at the edge."""
    rng = np.random.default_rng(7)
    values = rng.integers(0, 4, (347, 411)).astype(float)
    values[rng.random(values.shape) < 0.03] = np.inf
    values[rng.random(values.shape) < 0.01] = -np.inf
    mono = sublevel_persistence(values, construction=construction)
    assert_same(mono, gudhi_diagrams(values, construction))
    tiled = sublevel_persistence_tiled(values, tile=(170, 333), construction=construction)
    assert_same(tiled, mono)


@pytest.mark.parametrize("construction", ["top", "vertex"])
def test_one_dimensional_and_three_dimensional(construction: str) -> None:
    rng = np.random.default_rng(0)
    line = rng.integers(0, 5, 400).astype(float)
    assert_same(
        sublevel_persistence(line, construction=construction), gudhi_diagrams(line, construction)
    )
    cube = rng.random((6, 7, 5))
    assert_same(
        sublevel_persistence(cube, construction=construction), gudhi_diagrams(cube, construction)
    )


def test_known_topology() -> None:
    constant = sublevel_persistence(np.full((5, 4), 2.0))
    np.testing.assert_array_equal(constant[0], [[2.0, np.inf]])
    assert constant[1].shape == (0, 2)
    ring = np.ones((7, 7))
    ring[1:-1, 1:-1] = 0.0
    ring[2:-2, 2:-2] = 3.0  # a loop of zeros around a high plateau: one H1 class (0, 3)
    h0, h1 = sublevel_persistence(ring, construction="vertex")
    np.testing.assert_array_equal(h0, [[0.0, np.inf]])
    np.testing.assert_array_equal(h1, [[0.0, 3.0]])
    two_wells = np.array([[0.0, 5.0, 1.0]])
    np.testing.assert_array_equal(canon(sublevel_persistence(two_wells)[0]), [[0, np.inf], [1, 5]])


def test_max_dim_zero_returns_h0_only() -> None:
    values = np.random.default_rng(1).random((20, 30))
    (h0,) = sublevel_persistence(values, max_dim=0)
    assert_same([h0], gudhi_diagrams(values, "top")[:1])


def _saved_grid(tmp_path: Path) -> tuple[np.ndarray, np.ndarray]:
    values = np.random.default_rng(2).integers(0, 9, (90, 70)).astype(np.float32)
    np.save(tmp_path / "grid.npy", values)
    return values, np.load(tmp_path / "grid.npy", mmap_mode="r")


def test_memmap_tiled_matches_monolithic(tmp_path: Path) -> None:
    values, mapped = _saved_grid(tmp_path)
    assert_same(sublevel_persistence_tiled(mapped, tile=32), sublevel_persistence(values))


@pytest.mark.slow  # spawning two workers that import torch and numba takes ~15-20 s here
def test_process_pool_tiles_match_monolithic(tmp_path: Path) -> None:
    values, mapped = _saved_grid(tmp_path)
    pooled = sublevel_persistence_tiled(
        mapped, tile=(40, 36), executor=ProcessPoolExecutor(workers=2)
    )
    assert_same(pooled, sublevel_persistence(values))


def test_errors() -> None:
    with pytest.raises(InputError, match="NaN"):
        sublevel_persistence(np.array([[0.0, np.nan]]))
    with pytest.raises(
        InputError, match="construction must be one of 'top', 'vertex'; got 'vertices'"
    ):
        sublevel_persistence(np.zeros((2, 2)), construction="vertices")
    with pytest.raises(
        InputError, match=r"max_dim for a 2-D array must be an integer in \[0, 1\], got 2"
    ):
        sublevel_persistence(np.zeros((2, 2)), max_dim=2)
    with pytest.raises(InputError, match="1-, 2- or 3-D"):
        sublevel_persistence(np.zeros((2, 2, 2, 2)))
    with pytest.raises(InputError, match="at least one element"):
        sublevel_persistence(np.zeros((0, 3)))
    with pytest.raises(InputError, match="must be 2-D for tiled"):
        sublevel_persistence_tiled(np.zeros(5))
    with pytest.raises(InputError, match="tile must be a positive"):
        sublevel_persistence_tiled(np.zeros((3, 3)), tile=0)
