"""Exact sublevel-set persistent homology of 1-, 2- and 3-D arrays (cubical complexes).

Two constructions, as in GUDHI's ``CubicalComplex``:

- ``"top"`` (T-construction): entries are top-dimensional cells; in 2-D, H0 is 8-connected.
- ``"vertex"`` (V-construction): entries are vertices; in 2-D, H0 is 4-connected.

1-D and 2-D arrays use our own kernels: H0 by union-find with the elder rule (Edelsbrunner &
Harer, *Computational Topology*, VII.1) and H1 by Alexander duality: pad the array with a +inf
frame, take H0 of the negated array under the complementary connectivity and map each finite pair
(b, d) to (-d, -b) (Garin et al., "Duality in persistent homology of images", 2020). 3-D arrays
are delegated to GUDHI.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from axionlab.checks import check_choice
from axionlab.execute import InProcessExecutor
from axionlab.topology._diagrams import CONSTRUCTIONS, Diagram, as_grid, check_max_dim, pairs
from axionlab.topology._tiles import run_tiles

_CACHE_SIDE = 128
_CACHE_CELLS = _CACHE_SIDE**2


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
        zero-length pairs are dropped. The multiset of pairs equals GUDHI's.

    Raises
    ------
    InputError
        On NaN, empty or >3-D input, an unknown construction or an out-of-range ``max_dim``.
    """
    check_choice("construction", construction, CONSTRUCTIONS)
    array = as_grid(values)
    top_dim = check_max_dim(max_dim, array.ndim)
    if array.ndim == 3:
        return _gudhi_persistence(array, construction, top_dim)
    grid = array.reshape(1, -1) if array.ndim == 1 else array
    return run_tiles(
        grid, cache_tile(grid.shape), construction == "top", top_dim, InProcessExecutor()
    )


def cache_tile(shape: tuple[int, ...]) -> tuple[int, int]:
    """A tile of about 2**14 cells: its union-find arrays stay in the CPU cache."""
    nrows, ncols = shape
    if nrows == 1 or ncols == 1:
        return min(nrows, _CACHE_CELLS), min(ncols, _CACHE_CELLS)
    return min(nrows, _CACHE_SIDE), min(ncols, _CACHE_SIDE)


def _gudhi_persistence(
    array: NDArray[np.float64], construction: str, top_dim: int
) -> list[Diagram]:
    import gudhi

    if construction == "top":
        complex_ = gudhi.CubicalComplex(top_dimensional_cells=array)
    else:
        complex_ = gudhi.CubicalComplex(vertices=array)
    complex_.compute_persistence(homology_coeff_field=2, min_persistence=0.0)
    return [
        pairs(*np.reshape(complex_.persistence_intervals_in_dimension(k), (-1, 2)).T)
        for k in range(top_dim + 1)
    ]
