"""Exact sublevel-set persistent homology of 1-, 2- and 3-D arrays (cubical complexes).

Two constructions, as in GUDHI's ``CubicalComplex``:

- ``"top"`` (T-construction): entries are top-dimensional cells; in 2-D, H0 is 8-connected.
- ``"vertex"`` (V-construction): entries are vertices; in 2-D, H0 is 4-connected.

1-D and 2-D arrays use our own kernels: H0 by union-find with the elder rule (Edelsbrunner &
Harer, *Computational Topology*, VII.1) and H1 by Alexander duality: pad the array with a +inf
frame, take H0 of the negated array under the complementary connectivity and map each finite pair
(b, d) to (-d, -b) (Garin et al., "Duality in persistent homology of images", 2020).

3-D arrays use the kernels of :mod:`axionlab.topology._kernels3d` on the V-construction: H0 by
union-find, H2 by union-find on the dual cells, H1 by a reduction of the squares left negative
(clearing). The T-construction of ``f`` is computed as the V-construction of ``-f`` framed by
``-inf`` (the same duality): its H_k pairs are the (-d, -b) of the dual's H_{2-k} pairs, the
frame's void giving the essential H0 class. GUDHI, cripser and a textbook reduction are only the
references of the tests.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from axionlab.checks import check_choice
from axionlab.execute import InProcessExecutor
from axionlab.topology._diagrams import (
    CONSTRUCTIONS,
    Diagram,
    as_grid,
    check_max_dim,
    concat,
    pairs,
)
from axionlab.topology._kernels import stable_argsort
from axionlab.topology._kernels3d import vertex_persistence
from axionlab.topology._tiles import run_tiles


def sublevel_persistence(
    values: ArrayLike, *, construction: str = "top", max_dim: int | None = None
) -> list[Diagram]:
    """Persistence diagrams of the sublevel-set filtration of a 1-, 2- or 3-D array.

    Parameters
    ----------
    values
        Array of function values; ``±inf`` is allowed, NaN is refused (decide first what a NaN
        loss means, e.g. replace it by ``np.inf``).
    construction
        ``"top"``: entries are top-dimensional cells (GUDHI
        ``CubicalComplex(top_dimensional_cells=values)``, 8-connected H0 in 2-D); ``"vertex"``:
        entries are vertices (``CubicalComplex(vertices=values)``, 4-connected H0 in 2-D).
    max_dim
        Highest homology dimension to compute; default ``values.ndim - 1``.

    Returns
    -------
    list of (n, 2) float64 arrays
        Index ``k`` holds the (birth, death) pairs of H_k; essential classes die at ``inf``;
        zero-length pairs are dropped. The multiset of pairs equals GUDHI's; in 3-D it also equals
        cripser's and a textbook reduction's, which agree with it where GUDHI 3.13 swaps the
        deaths of two H1 classes (``tests/topology/test_cubical3d.py``).

    Raises
    ------
    InputError
        On NaN, empty or >3-D input, an unknown construction or an out-of-range ``max_dim``.
    """
    check_choice("construction", construction, CONSTRUCTIONS)
    array = as_grid(values)
    top_dim = check_max_dim(max_dim, array.ndim)
    if array.ndim == 3:
        return _persistence_3d(array, construction, top_dim)
    grid = array.reshape(1, -1) if array.ndim == 1 else array
    # One tile: persist_tile cuts it into cache-sized sub-tiles and merges them itself.
    return run_tiles(grid, grid.shape, construction == "top", top_dim, InProcessExecutor())


def _persistence_3d(array: NDArray[np.float64], construction: str, top_dim: int) -> list[Diagram]:
    """Our 3-D kernels; the T-construction through its dual V-construction (module docstring)."""
    if construction == "vertex":
        grid = np.ascontiguousarray(array)
        dims = np.arange(3) <= top_dim
        b0, d0, b1, d1, b2, d2 = vertex_persistence(grid, stable_argsort(grid.ravel()), dims)
        essential = np.array([[grid.min(), np.inf]])
        return [concat(pairs(b0, d0), essential), pairs(b1, d1), pairs(b2, d2)][: top_dim + 1]
    # The frame's void in the dual dies at -min(values): it maps to the essential H0 class.
    dual = -np.pad(array, 1, constant_values=np.inf)
    dims = 2 - np.arange(3) <= top_dim
    b0, d0, b1, d1, b2, d2 = vertex_persistence(dual, stable_argsort(dual.ravel()), dims)
    h0 = pairs(-d2, -b2)
    if not np.isinf(h0[:, 1]).any():  # an all-+inf grid: (inf, inf) was dropped as zero-length
        h0 = concat(h0, np.array([[array.min(), np.inf]]))
    return [h0, pairs(-d1, -b1), pairs(-d0, -b0)][: top_dim + 1]
