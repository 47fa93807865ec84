"""3-D sublevel_persistence by our own kernels, against GUDHI's cubical complexes."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import cripser
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.topology.test_cubical import assert_same, canon, gudhi_diagrams
from tests.topology.test_merge_tree import value_grids

from axionlab.topology import sublevel_persistence
from axionlab.topology._diagrams import pairs


@settings(max_examples=120, deadline=None)
@given(
    values=value_grids(st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6))),
    construction=st.sampled_from(["top", "vertex"]),
)
def test_matches_gudhi(values: np.ndarray, construction: str) -> None:
    assert_same(
        sublevel_persistence(values, construction=construction),
        gudhi_diagrams(values, construction),
    )


def fields(shape: tuple[int, int, int], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*(np.arange(s) / 2.5 for s in shape), indexing="ij")
    smooth = np.sin(grids[0] + seed) * np.cos(0.7 * grids[1]) + np.sin(1.3 * grids[2] - grids[0])
    special = rng.choice([-np.inf, 0.0, 1.0, 2.0, np.inf], size=shape, p=[0.1, 0.3, 0.2, 0.3, 0.1])
    return {
        "random": rng.random(shape),
        "integer": rng.integers(0, 4, shape).astype(float),
        "inf": special,
        "rounded": np.round(smooth, 1),  # plateaus and ties
    }


@pytest.mark.parametrize("construction", ["top", "vertex"])
@pytest.mark.parametrize(
    "shape",
    [
        (1, 9, 13),
        (8, 1, 11),
        (9, 12, 1),
        (2, 2, 2),
        (7, 5, 3),
        (1, 1, 17),
        (19, 14, 11),
    ],
)
def test_odd_shapes_match_gudhi(construction: str, shape: tuple[int, int, int]) -> None:
    for values in fields(shape, seed=sum(shape)).values():
        assert_same(
            sublevel_persistence(values, construction=construction),
            gudhi_diagrams(values, construction),
        )


@pytest.mark.parametrize("construction", ["top", "vertex"])
def test_max_dim_gives_the_leading_diagrams(construction: str) -> None:
    values = fields((9, 8, 7), seed=3)["rounded"]
    full = sublevel_persistence(values, construction=construction)
    for max_dim in (0, 1):
        assert_same(
            sublevel_persistence(values, construction=construction, max_dim=max_dim),
            full[: max_dim + 1],
        )


def test_a_hollow_shell_has_one_void_and_needs_no_gudhi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gudhi", None)  # importing gudhi now fails
    shell = np.full((7, 7, 7), 5.0)
    shell[1:-1, 1:-1, 1:-1] = 1.0
    shell[2:-2, 2:-2, 2:-2] = 3.0  # a closed surface at 1 around a core at 3
    for construction in ("top", "vertex"):
        h0, h1, h2 = sublevel_persistence(shell, construction=construction)
        np.testing.assert_array_equal(h0, [[1.0, np.inf]])
        assert h1.shape == (0, 2)
        np.testing.assert_array_equal(canon(h2), [[1.0, 3.0]])


def reduce_by_hand(values: np.ndarray) -> list[np.ndarray]:
    """The textbook Z/2 column reduction of the whole V-construction: an independent reference."""
    shape = values.shape
    cells = []  # (value, dimension, lowest vertex, spanned axes)
    for low in itertools.product(*(range(s) for s in shape)):
        for axes in itertools.product((0, 1), repeat=3):
            if all(low[a] + axes[a] < s for a, s in enumerate(shape)):
                spans = [(c, c + d) if d else (c,) for c, d in zip(low, axes, strict=True)]
                corners = itertools.product(*spans)
                cells.append((max(values[c] for c in corners), sum(axes), low, axes))
    cells.sort(key=lambda cell: cell[:2])
    index = {(cell[2], cell[3]): i for i, cell in enumerate(cells)}
    owner: dict[int, int] = {}
    columns: list[set[int]] = []
    found: list[list[tuple[float, float]]] = [[], [], []]
    for j, (value, dim, low, axes) in enumerate(cells):
        column: set[int] = set()
        for a in (a for a in range(3) if axes[a]):
            face = tuple(0 if b == a else d for b, d in enumerate(axes))
            for step in (0, 1):
                column ^= {index[(tuple(c + step * (b == a) for b, c in enumerate(low)), face)]}
        while column and max(column) in owner:
            column ^= columns[owner[max(column)]]
        columns.append(column)
        if column:
            owner[max(column)] = j
            found[dim - 1].append((cells[max(column)][0], value))
    out = [pairs(*np.array(f).reshape(-1, 2).T) for f in found]
    out[0] = np.vstack([out[0], [[values.min(), np.inf]]])  # the essential class, even (inf, inf)
    return [canon(d) for d in out]


def cripser_diagrams(values: np.ndarray, construction: str) -> list[np.ndarray]:
    """cripser's diagrams in our format (its essential death is DBL_MAX; zero-length dropped)."""
    compute = cripser.computePH_T if construction == "top" else cripser.computePH
    found = compute(values, maxdim=2)
    out = []
    for k in range(3):
        births, deaths = found[found[:, 0] == k][:, 1:3].T
        out.append(canon(pairs(births, np.where(deaths > 1e300, np.inf, deaths))))
    return out


def test_where_gudhi_errs_the_textbook_reduction_and_cripser_agree_with_ours() -> None:
    # A 5 x 8 x 6 crop of a random field on which GUDHI 3.13 swaps the deaths of two H1 classes.
    values = np.load(Path(__file__).parent / "data" / "gudhi_h1_disagreement.npy")
    ours = sublevel_persistence(values, construction="vertex")
    for mine, ref in zip(ours, reduce_by_hand(values), strict=True):
        np.testing.assert_array_equal(canon(mine), ref)
    for mine, ref in zip(ours, cripser_diagrams(values, "vertex"), strict=True):
        np.testing.assert_array_equal(canon(mine), ref)


@settings(max_examples=40, deadline=None)
@given(values=value_grids(st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4))))
def test_vertex_construction_equals_the_textbook_reduction(values: np.ndarray) -> None:
    ours = sublevel_persistence(values, construction="vertex")
    for mine, ref in zip(ours, reduce_by_hand(values), strict=True):
        np.testing.assert_array_equal(canon(mine), ref)


def test_a_large_random_grid_equals_cripser_in_both_constructions() -> None:
    values = np.random.default_rng(100).random((40, 33, 27))  # GUDHI 3.13 errs on its H1 (top)
    for construction in ("vertex", "top"):
        ours = sublevel_persistence(values, construction=construction)
        for mine, ref in zip(ours, cripser_diagrams(values, construction), strict=True):
            np.testing.assert_array_equal(canon(mine), ref)


@pytest.mark.parametrize("construction", ["vertex", "top"])
def test_an_all_infinite_grid_keeps_its_essential_class(construction: str) -> None:
    """A fully diverged 3-D landscape (NaN read as +inf): one essential H0 class (inf, inf), as
    GUDHI, the 2-D kernels and the merge tree give it."""
    h0 = sublevel_persistence(np.full((3, 3, 3), np.inf), construction=construction)[0]
    np.testing.assert_array_equal(h0, [[np.inf, np.inf]])
