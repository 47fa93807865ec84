"""Tiled, distributed sublevel persistence of 2-D grids (H0 and H1), identical to the monolithic
result; tiles can stream from a memory-mapped array and run on any :mod:`axionlab.execute`
executor (in-process, process pool, Ray)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from axionlab.checks import check_choice
from axionlab.errors import InputError
from axionlab.execute import Executor, InProcessExecutor
from axionlab.topology._diagrams import CONSTRUCTIONS, Diagram, as_grid, check_max_dim
from axionlab.topology._tiles import run_tiles


def sublevel_persistence_tiled(
    values: ArrayLike,
    *,
    tile: int | tuple[int, int] = 1024,
    construction: str = "top",
    max_dim: int | None = None,
    executor: Executor | None = None,
) -> list[Diagram]:
    """Sublevel persistence of a 2-D grid computed tile by tile, then merged once globally.

    Each tile pairs the components that never touch its border (those pairs are final); the
    merge trees of the rest are glued along the tile borders and reduced in one small global
    union-find (about 5/tile of the cells). Tiles are processed in cache-sized sub-tiles, so a
    large tile costs no more per cell than a small one. The result is the same multiset of pairs
    as :func:`sublevel_persistence`; 10⁸ cells (10001², a memory-mapped .npy) take about 16 CPU-s
    and 0.6-1.2 GB beyond the input, most of it the diagrams themselves
    (``docs/benchmarks/topology.md``).

    Parameters
    ----------
    values
        2-D array; an ``np.memmap`` (e.g. from ``np.load(path, mmap_mode="r")``) is read tile by
        tile, and process-pool workers open the file themselves instead of receiving the data.
    tile
        Tile side, or ``(rows, cols)``.
    construction, max_dim
        As in :func:`sublevel_persistence`; ``max_dim`` is 0 or 1.
    executor
        Runs the tiles (``executor.map``); default :class:`~axionlab.execute.InProcessExecutor`.

    Returns
    -------
    list of (n, 2) float64 arrays
        H0 (and H1) diagrams, essential classes with death ``inf``, zero-length pairs dropped.

    Raises
    ------
    InputError
        On a non-2-D array, NaN, a non-positive tile, an unknown construction or bad ``max_dim``.
    """
    check_choice("construction", construction, CONSTRUCTIONS)
    grid: NDArray[np.generic]
    if isinstance(values, np.memmap):
        if values.ndim != 2 or values.size == 0:
            raise InputError(f"values must be a non-empty 2-D array, got shape {values.shape}")
        grid = values  # NaN is checked tile by tile, so the file is read once
    else:
        grid = as_grid(values)
        if grid.ndim != 2:
            raise InputError(
                f"values must be 2-D for tiled persistence, got shape {grid.shape}; "
                "use sublevel_persistence for 1-D and 3-D arrays"
            )
    top_dim = check_max_dim(max_dim, 2)
    sides = (tile, tile) if isinstance(tile, int) else tuple(tile)
    if len(sides) != 2 or min(sides) < 1:
        raise InputError(f"tile must be a positive int or a pair of them, got {tile!r}")
    return run_tiles(
        grid,
        (int(sides[0]), int(sides[1])),
        construction == "top",
        top_dim,
        executor if executor is not None else InProcessExecutor(),
    )
