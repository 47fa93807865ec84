"""Topological profile and SMAD: Landscaper's own output on shared grids, and their invariants."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from tests.topology.test_cubical import canon

from axionlab.errors import InputError
from axionlab.topology import merge_tree, smad, sublevel_persistence, topological_profile
from axionlab.topology import smoothness as smoothness_module

REFERENCE = json.loads((Path(__file__).parent / "data" / "landscaper_reference.json").read_text())
SMAD_GRIDS = ("random_13x11", "smooth_31x27", "wells_25x25")


def grid(name: str) -> np.ndarray:
    return np.array(REFERENCE[name]["values"], dtype=np.float64)


@pytest.mark.parametrize("name", ["random_13x11", "smooth_31x27"])
def test_profile_equals_landscaper(name: str) -> None:
    mine = sorted(p.tolist() for p in topological_profile(grid(name)).polygons())
    assert mine == sorted(REFERENCE[name]["profile"])


@pytest.mark.parametrize("name", SMAD_GRIDS)
def test_smad_equals_landscaper(name: str) -> None:
    for key, expected in REFERENCE[name]["smad"].items():
        normalize, weighted = (part.endswith("True") for part in key.split(","))
        # Landscaper sums in another order and weights through exp(log gap + log volume).
        assert smad(grid(name), normalize=normalize, weighted=weighted) == pytest.approx(
            expected, rel=1e-12
        )


def test_merge_tree_equals_landscapers_on_a_51_square_field() -> None:
    ref = REFERENCE["field_51x51"]
    values = grid("field_51x51")
    tree = merge_tree(values)
    child = np.flatnonzero(tree.parent >= 0)
    links = np.stack([tree.vertex[child], tree.vertex[tree.parent[child]]], axis=1)
    assert sorted(int(n) for n in ref["nodes"]) == sorted(tree.vertex.tolist())
    assert sorted(map(tuple, links.tolist())) == sorted(map(tuple, ref["edges"]))
    h0 = canon(np.array(ref["h0"], dtype=np.float64))
    assert h0.shape == (116, 2)
    np.testing.assert_array_equal(canon(tree.branches()), h0)
    np.testing.assert_array_equal(canon(sublevel_persistence(values, construction="vertex")[0]), h0)


real_grids = st.one_of(
    st.tuples(st.integers(1, 9), st.integers(1, 9)),
    st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5)),
).flatmap(lambda s: arrays(np.float64, s, elements=st.floats(-1e3, 1e3, width=32), unique=True))


@settings(max_examples=60, deadline=None)
@given(values=real_grids)
def test_profile_levels_widths_and_nesting(values: np.ndarray) -> None:
    profile = topological_profile(values)
    tree, width = profile.tree, profile.width
    root = tree.parent.size - 1
    np.testing.assert_array_equal(profile.levels[profile.offsets[root] :], np.sort(values.ravel()))
    on_arc = np.bincount(tree.arc, minlength=root + 1)
    below = np.zeros(root + 1, np.int64)  # vertices on the arcs strictly below each node
    for i in range(root):  # children come first, so their counts are final when added
        below[tree.parent[i]] += on_arc[i] + below[i]
    np.testing.assert_array_equal(width[:-1], below[:-1] + 1)
    for i in range(root):
        levels = profile.levels[profile.offsets[i] : profile.offsets[i + 1]]
        assert np.all(np.diff(levels) >= 0) and levels[-1] == tree.value[tree.parent[i]]
        p = tree.parent[i]  # a child's span lies inside its parent's
        assert abs(profile.center[i] - profile.center[p]) + width[i] / 2 <= width[p] / 2 + 1e-9
    for polygon, w in zip(profile.polygons(), width, strict=True):
        assert polygon.shape == (2 * w, 2)


def test_smad_by_hand() -> None:
    # Contour tree of a path is the path: minima 0 and 1 meet the branching nodes 3 and 3.
    line = np.array([0.0, 3.0, 1.0, 4.0])
    assert smad(line) == 2.5
    assert smad(line, weighted=True) == (3 * 0.5 + 2 * 0.5) / 2
    assert smad(line, normalize=True) == 2.5 / 4
    assert smad(line, contour_tree="complete") == 2.5
    ramp = np.add.outer(np.arange(9.0), 2 * np.arange(7.0))
    assert smad(ramp) == 0.0  # one minimum, one maximum: no branching


def contour_edges(values: np.ndarray, *, complete: bool) -> tuple[int, list[tuple[int, int]]]:
    """Critical vertices and contour-tree arcs, built as smad builds them."""
    flat = values.ravel()
    join = merge_tree(values)
    split = merge_tree(-values[(slice(None, None, -1),) * values.ndim])
    split_vertex = flat.size - 1 - split.vertex
    nodes = np.union1d(join.vertex, split_vertex)
    up = smoothness_module._augmented_parents(join, join.vertex, join.arc, nodes, flat, 1.0)
    down = smoothness_module._augmented_parents(
        split, split_vertex, split.arc[::-1], nodes, flat, -1.0
    )
    return nodes.size, smoothness_module._contour_tree_edges(nodes, up, down, complete=complete)


@settings(max_examples=40, deadline=None)
@given(values=real_grids)
def test_complete_contour_tree_is_a_spanning_tree(values: np.ndarray) -> None:
    n_nodes, edges = contour_edges(values, complete=True)
    assert len(edges) == n_nodes - 1
    component = {x: x for edge in edges for x in edge}

    def find(x: int) -> int:
        while component[x] != x:
            x = component[x]
        return x

    for a, b in edges:
        assert find(a) != find(b)  # n - 1 edges without a cycle: a spanning tree
        component[find(a)] = find(b)


def test_landscapers_partial_tree_differs_from_the_complete_one() -> None:
    values = grid("random_13x11")
    n_nodes, partial = contour_edges(values, complete=False)
    assert (n_nodes, len(partial), len(contour_edges(values, complete=True)[1])) == (105, 76, 104)
    assert smad(values) != smad(values, contour_tree="complete")


def test_errors() -> None:
    with pytest.raises(InputError, match="contour_tree must be one of 'landscaper', 'complete'"):
        smad(np.zeros((3, 3)), contour_tree="full")
    with pytest.raises(InputError, match="NaN"):
        topological_profile(np.array([[0.0, np.nan]]))


def test_smad_basins_break_ties_like_the_merge_tree() -> None:
    """Two flat-bottomed basins: descent drains each plateau to one sink (the merge tree's two
    leaves), so weighted SMAD counts two basins of six and four vertices, not eight sinks."""
    values = np.array([[0, 0, 2, 1, 1], [0, 0, 2, 1, 1], [3, 3, 3, 3, 3]], dtype=float)
    assert int((merge_tree(values).kind == 0).sum()) == 2
    assert smad(values, weighted=True) == pytest.approx(0.8)
