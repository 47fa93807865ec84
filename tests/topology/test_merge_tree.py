"""merge_tree: its elder-rule branches are sublevel_persistence's H0, and it is a join tree."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from tests.topology.test_cubical import canon

from axionlab.errors import InputError
from axionlab.topology import sublevel_persistence
from axionlab.topology.merge_tree import MergeTree, merge_tree


def value_grids(shapes: st.SearchStrategy[tuple[int, ...]]) -> st.SearchStrategy[np.ndarray]:
    """Integer (ties, plateaus), float32-valued and ±inf-laden grids of the given shapes."""
    elements = [
        st.integers(-2, 2).map(float),
        st.floats(-1e6, 1e6, allow_nan=False, width=32),
        st.sampled_from([-np.inf, -1.0, 0.0, 1.0, np.inf]),
    ]
    return st.one_of(
        *(shapes.flatmap(lambda s, e=e: arrays(np.float64, s, elements=e)) for e in elements)
    )


any_grid = value_grids(
    st.one_of(
        st.tuples(st.integers(1, 40)),
        st.tuples(st.integers(1, 12), st.integers(1, 12)),
        st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6)),
    )
)


def assert_join_tree(tree: MergeTree, values: np.ndarray) -> None:
    """One root, parents after children (so acyclic), values rising, kinds matching degrees."""
    m = tree.vertex.size
    children = np.bincount(tree.parent[tree.parent >= 0], minlength=m)
    assert np.count_nonzero(tree.parent < 0) == 1 and tree.parent[-1] == -1
    assert np.all(tree.parent[:-1] > np.arange(m - 1))
    assert np.all(tree.value[tree.parent[:-1]] >= tree.value[:-1])
    np.testing.assert_array_equal(tree.value, values.ravel()[tree.vertex])
    assert np.all((tree.kind == 0) == (children == 0))
    assert np.all(children[tree.kind == 1] >= 2)
    assert m == 1 or (tree.kind[-1] == 2 and tree.value[-1] == values.max())
    # Every vertex lies on its arc: at or above the arc's lower node, at or below its upper one.
    lower = tree.value[tree.arc]
    upper = np.where(tree.parent[tree.arc] >= 0, tree.value[tree.parent[tree.arc]], np.inf)
    assert tree.arc.shape == (values.size,)
    assert np.all(lower <= values.ravel()) and np.all(values.ravel() <= upper)
    np.testing.assert_array_equal(tree.arc[tree.vertex], np.arange(m))


@settings(max_examples=150, deadline=None)
@given(values=any_grid, construction=st.sampled_from(["vertex", "top"]))
def test_branches_are_sublevel_h0_and_the_tree_is_a_join_tree(
    values: np.ndarray, construction: str
) -> None:
    tree = merge_tree(values, construction=construction)
    h0 = sublevel_persistence(values, construction=construction, max_dim=0)[0]
    branches = tree.branches()
    assert branches.dtype == np.float64 and branches.shape[1:] == (2,)
    np.testing.assert_array_equal(canon(branches), canon(h0))
    assert tree.shape == values.shape
    assert_join_tree(tree, values)


@pytest.mark.parametrize("construction", ["vertex", "top"])
@pytest.mark.parametrize("shape", [(201,), (61, 47), (1, 9, 33), (2, 2, 2), (7, 5, 3), (17, 13, 9)])
def test_smooth_and_rounded_fields_of_odd_shapes(construction: str, shape: tuple[int, ...]) -> None:
    grids = np.meshgrid(*(np.arange(s) / 3.0 for s in shape), indexing="ij")
    smooth = sum(np.sin(g * (1.0 + 0.3 * i)) for i, g in enumerate(grids))
    for values in (smooth, np.round(smooth, 1)):  # the second one has plateaus and ties
        tree = merge_tree(values, construction=construction)
        h0 = sublevel_persistence(values, construction=construction, max_dim=0)[0]
        np.testing.assert_array_equal(canon(tree.branches()), canon(h0))
        assert_join_tree(tree, values)


def wells(shape: tuple[int, ...], centres: np.ndarray) -> np.ndarray:
    """A field whose basins are Gaussian wells of different depths at ``centres``."""
    grid = np.stack(np.meshgrid(*(np.arange(s, dtype=float) for s in shape), indexing="ij"), -1)
    depth = 1.0 + np.arange(len(centres)) / len(centres)
    dist2 = ((grid[..., None, :] - centres) ** 2).sum(-1)
    return -(depth * np.exp(-dist2 / 8.0)).sum(-1)


@pytest.mark.parametrize(
    ("shape", "centres"),
    [
        ((40, 30), [(5, 5), (5, 24), (20, 15), (34, 4), (34, 25)]),
        ((24, 20, 16), [(4, 4, 4), (18, 15, 4), (12, 10, 12)]),
    ],
)
def test_k_wells_give_k_leaves(shape: tuple[int, ...], centres: list[tuple[int, ...]]) -> None:
    values = wells(shape, np.array(centres, dtype=float))
    for field in (values, np.maximum(values, -0.95)):  # the second: flat-bottomed wells
        tree = merge_tree(field)
        leaves = tree.vertex[tree.kind == 0]
        assert leaves.size == len(centres) == tree.branches().shape[0]
        if field is values:
            found = {tuple(int(c) for c in np.unravel_index(v, shape)) for v in leaves}
            assert found == set(centres)


def test_four_dimensional_leaves_are_the_strict_local_minima() -> None:
    values = np.random.default_rng(3).random((5, 4, 6, 3))
    tree = merge_tree(values)
    padded = np.pad(values, 1, constant_values=np.inf)
    inner = (slice(1, -1),) * 4
    minimum = np.ones(values.shape, bool)
    for axis in range(4):
        for shift in (-1, 1):
            minimum &= values < np.roll(padded, shift, axis)[inner]
    np.testing.assert_array_equal(np.sort(tree.vertex[tree.kind == 0]), np.flatnonzero(minimum))
    assert tree.branches().shape == (minimum.sum(), 2)
    assert_join_tree(tree, values)


def test_small_cases() -> None:
    lone = merge_tree(np.array([[2.5]]))
    np.testing.assert_array_equal(lone.parent, [-1])
    np.testing.assert_array_equal(lone.kind, [0])
    np.testing.assert_array_equal(lone.branches(), [[2.5, np.inf]])
    two_wells = merge_tree(np.array([0.0, 5.0, 1.0]))
    np.testing.assert_array_equal(two_wells.vertex, [0, 2, 1])
    np.testing.assert_array_equal(two_wells.parent, [2, 2, -1])
    np.testing.assert_array_equal(two_wells.kind, [0, 0, 2])
    np.testing.assert_array_equal(canon(two_wells.branches()), [[0, np.inf], [1, 5]])
    flat = merge_tree(np.full((3, 4), 7.0))
    np.testing.assert_array_equal(flat.vertex, [0, 11])
    np.testing.assert_array_equal(flat.branches(), [[7.0, np.inf]])
    # A U-shaped plateau is one basin: its two arms meet at their own level.
    u_shape = np.array([[0.0, 9.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(merge_tree(u_shape).kind, [0, 2])


def test_errors() -> None:
    with pytest.raises(InputError, match="NaN"):
        merge_tree(np.array([[0.0, np.nan]]))
    with pytest.raises(InputError, match="scalar"):
        merge_tree(3.0)
    with pytest.raises(InputError, match="at least one element"):
        merge_tree(np.zeros((0, 3)))
    with pytest.raises(InputError, match="construction must be one of 'top', 'vertex'"):
        merge_tree(np.zeros((2, 2)), construction="freudenthal")
