"""Ripser paths: the lab's grid graph (with and without vertex births) and Rips point clouds."""

from __future__ import annotations

import numpy as np
import pytest

from axionlab.errors import InputError
from axionlab.topology import (
    grid_graph_persistence,
    rips_persistence,
    sublevel_persistence,
    total_persistence,
)


def canon(d: np.ndarray) -> np.ndarray:
    return d[np.lexsort((d[:, 1], d[:, 0]))]


def float32_grid(seed: int, shape: tuple[int, int]) -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype(np.float32).astype(np.float64)


@pytest.mark.parametrize("seed", range(3))
def test_vertex_births_equal_cubical_top(seed: int) -> None:
    values = float32_grid(seed, (23, 31))
    graph = grid_graph_persistence(values)
    cubical = sublevel_persistence(values, construction="top")
    for a, b in zip(graph, cubical, strict=True):
        np.testing.assert_allclose(canon(a), canon(b), rtol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_published_statistic_identity(seed: int) -> None:
    """H0 total without vertex births = sum f - min f + true H0 total; H1 is unaffected."""
    values = float32_grid(seed, (17, 29)) + 0.1  # positive, as losses are
    legacy = grid_graph_persistence(values, vertex_births=False)
    true = sublevel_persistence(values)
    finite = legacy[0][np.isfinite(legacy[0][:, 1])]
    assert finite.shape[0] == values.size - 1
    expected = values.sum() - values.min() + total_persistence(true[0])
    np.testing.assert_allclose(total_persistence(legacy[0]), expected, rtol=1e-5)
    np.testing.assert_allclose(canon(legacy[1]), canon(true[1]), rtol=1e-6)


def test_graph_errors() -> None:
    with pytest.raises(InputError, match="finite 2-D"):
        grid_graph_persistence(np.array([[0.0, np.inf]]))
    with pytest.raises(InputError, match="too many for Ripser"):
        grid_graph_persistence(np.zeros((800, 800)))
    with pytest.raises(InputError, match="max_dim must be 0 or 1"):
        grid_graph_persistence(np.zeros((3, 3)), max_dim=2)


def test_rips_circle_has_one_dominant_loop() -> None:
    angles = np.random.default_rng(0).uniform(0, 2 * np.pi, 80)
    points = np.c_[np.cos(angles), np.sin(angles)]
    h0, h1 = rips_persistence(points)
    assert np.isinf(h0[:, 1]).sum() == 1
    life = np.sort(h1[:, 1] - h1[:, 0])
    assert life[-1] > 1.0 and (life.size == 1 or life[-2] < 0.2)
    with pytest.raises(InputError, match="points must be a finite"):
        rips_persistence(np.array([1.0, 2.0]))
