"""3-D sublevel_persistence by our own kernels, against GUDHI's cubical complexes."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.topology.test_cubical import assert_same, canon, gudhi_diagrams
from tests.topology.test_merge_tree import value_grids

from axionlab.topology import sublevel_persistence


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
    "shape", [(1, 9, 13), (8, 1, 11), (9, 12, 1), (2, 2, 2), (7, 5, 3), (1, 1, 17), (19, 14, 11)]
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
