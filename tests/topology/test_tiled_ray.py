"""The tiled persistence runs unchanged on a Ray cluster (a local one here)."""

import numpy as np
import pytest

from axionlab.topology import sublevel_persistence, sublevel_persistence_tiled


@pytest.mark.slow
def test_tiled_on_ray_equals_monolithic():
    ray = pytest.importorskip("ray")
    from axionlab.execute import RayExecutor

    values = np.random.default_rng(3).integers(0, 20, size=(61, 47)).astype(float)
    try:
        tiled = sublevel_persistence_tiled(values, tile=16, executor=RayExecutor())
    finally:
        ray.shutdown()
    for got, want in zip(tiled, sublevel_persistence(values), strict=True):
        assert np.array_equal(got[np.lexsort(got.T[::-1])], want[np.lexsort(want.T[::-1])])
