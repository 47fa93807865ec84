"""Tile-by-tile sublevel persistence of a 2-D grid and the global merge of the tiles' leftovers.

Each tile runs union-find on its own cells (:func:`axionlab.topology._kernels.tile_h0`). A pair
whose dying component never contained a tile-border cell is final: that component is a component
of the global sublevel set too and dies into an elder one at the same cell. Every other component
is summarised by its contracted merge tree (births, merges and border cells at their values);
the trees of all tiles, glued by the grid edges that cross tile borders, form a small graph whose
H0 supplies the remaining pairs (:func:`axionlab.topology._kernels.merge_h0`). H1 uses the same
machinery on the dual filtration (descending order, complementary connectivity, the +inf frame as
one shared node).

The scheme runs on two levels: a task tile (what an executor distributes) is cut into sub-tiles of
about 25k cells, whose union-find arrays stay in the L2 cache, and their trees are merged down to
the tree of the task tile's own border, which is all the global merge sees. The monolithic
:func:`~axionlab.topology.sublevel_persistence` is the case of one task tile.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from axionlab.errors import InputError
from axionlab.execute import Executor
from axionlab.topology import _kernels
from axionlab.topology._diagrams import Diagram

_CACHE_SIDE = 160
_CACHE_CELLS = _CACHE_SIDE**2


@dataclass(frozen=True)
class MemmapSource:
    """Where a worker finds a memory-mapped array, so tasks carry a path instead of the data."""

    path: str
    dtype: str
    shape: tuple[int, ...]
    offset: int
    fortran: bool

    @classmethod
    def of(cls, array: NDArray[np.generic]) -> MemmapSource | None:
        """Describe ``array`` if it maps a whole file region; None for views that do not."""
        path = getattr(array, "filename", None)
        # Only a memmap created from the file owns the mmap; its slices keep the parent's
        # filename and offset, which no longer describe them.
        if path is None or not isinstance(array.base, mmap.mmap):
            return None
        return cls(
            str(path),
            array.dtype.str,
            tuple(array.shape),
            int(getattr(array, "offset", 0)),
            not array.flags.c_contiguous,
        )

    def open(self) -> NDArray[np.generic]:
        """Map the array read-only."""
        mapped: NDArray[np.generic] = np.memmap(
            self.path,
            dtype=np.dtype(self.dtype),
            mode="r",
            offset=self.offset,
            shape=self.shape,
            order="F" if self.fortran else "C",
        )
        return mapped


@dataclass(frozen=True)
class TileTask:
    """One tile: its values (or the memmap holding them), its corner and the grid's shape."""

    values: NDArray[np.generic] | MemmapSource
    rows: tuple[int, int]
    cols: tuple[int, int]
    grid_shape: tuple[int, int]
    conn8: bool
    max_dim: int


@dataclass(frozen=True)
class MergeTree:
    """Contracted merge tree of a tile's unfinished components: global cell ids (rows*cols is the
    frame), values, and each node's parent position in these arrays (-1 for a root)."""

    ids: NDArray[np.int64]
    values: NDArray[np.float64]
    parent: NDArray[np.int32]


@dataclass(frozen=True)
class TileResult:
    """Final pairs per dimension and the merge tree per dimension that the global merge needs."""

    final: tuple[Diagram, ...]
    trees: tuple[MergeTree, ...]


def persist_tile(task: TileTask) -> TileResult:
    """One tile's final pairs and merge trees (module level, so process pools can pickle it)."""
    r0, r1 = task.rows
    c0, c1 = task.cols
    if isinstance(task.values, MemmapSource):
        block = task.values.open()[r0:r1, c0:c1]
    else:
        block = task.values
    if np.isnan(block).any():
        raise InputError(
            f"values contains NaN (in rows {r0}:{r1}, columns {c0}:{c1}); replace NaN losses "
            "explicitly (e.g. with np.inf) before calling"
        )
    sub = cache_tile(block.shape)
    corners = [(i, j) for i in range(0, r1 - r0, sub[0]) for j in range(0, c1 - c0, sub[1])]
    parts = [_persist_part(block[i : i + sub[0], j : j + sub[1]], task, i, j) for i, j in corners]
    final: list[Diagram] = []
    trees: list[MergeTree] = []
    for dim in range(task.max_dim + 1):
        found, tree = _merge(
            [p[1][dim] for p in parts], (r0, r1, c0, c1), sub, task.grid_shape, task.conn8, dim == 1
        )
        final.append(np.concatenate([*(p[0][dim] for p in parts), found]))
        trees.append(tree)
    return TileResult(tuple(final), tuple(trees))


def _persist_part(
    part: NDArray[np.generic], task: TileTask, i: int, j: int
) -> tuple[list[Diagram], list[MergeTree]]:
    """Final pairs and merge tree per dimension of the sub-tile at offset (i, j) of the task."""
    r0, c0 = task.rows[0] + i, task.cols[0] + j
    nrows, ncols = task.grid_shape
    order, values, before, after = _kernels.prepare_tile(part, r0, c0, nrows, ncols)
    final: list[Diagram] = []
    trees: list[MergeTree] = []
    for dim in range(task.max_dim + 1):
        dual = dim == 1
        h, w = part.shape
        found, ids, vals, tree = _kernels.tile_h0(
            values,
            order,
            after if dual else before,
            task.conn8 != dual,
            dual,
            dual,
            h,
            w,
            r0,
            c0,
            nrows,
            ncols,
        )
        final.append(found)
        trees.append(MergeTree(ids, vals, tree))
    return final, trees


def cache_tile(shape: tuple[int, ...]) -> tuple[int, int]:
    """A sub-tile of about 25k cells: its union-find arrays stay in the CPU cache (L2), and the
    merge of the sub-tiles' borders stays small."""
    nrows, ncols = shape
    if nrows == 1 or ncols == 1:
        return min(nrows, _CACHE_CELLS), min(ncols, _CACHE_CELLS)
    return min(nrows, _CACHE_SIDE), min(ncols, _CACHE_SIDE)


def plan_tiles(
    values: NDArray[np.generic], tile: tuple[int, int], conn8: bool, max_dim: int
) -> list[TileTask]:
    """Cut ``values`` into tasks of at most ``tile`` cells each (row-major tile order)."""
    nrows, ncols = values.shape
    source = MemmapSource.of(values) if isinstance(values, np.memmap) else None
    tasks = []
    for r0 in range(0, nrows, tile[0]):
        for c0 in range(0, ncols, tile[1]):
            r1, c1 = min(r0 + tile[0], nrows), min(c0 + tile[1], ncols)
            data = source if source is not None else values[r0:r1, c0:c1]
            tasks.append(TileTask(data, (r0, r1), (c0, c1), (nrows, ncols), conn8, max_dim))
    return tasks


def run_tiles(
    values: NDArray[np.generic],
    tile: tuple[int, int],
    conn8: bool,
    max_dim: int,
    executor: Executor,
) -> list[Diagram]:
    """Persistence diagrams of a 2-D grid computed tile by tile through ``executor``."""
    results = executor.map(persist_tile, plan_tiles(values, tile, conn8, max_dim))
    return merge_tiles(results, values.shape, tile, conn8)


def merge_tiles(
    results: list[TileResult], shape: tuple[int, int], tile: tuple[int, int], conn8: bool
) -> list[Diagram]:
    """The diagrams of a grid from its tiles' results, which are consumed (``results`` is left
    empty and each tile's pairs are released once copied), so the pairs of a 10⁸-cell grid are
    not held twice."""
    dims = range(len(results[0].final))
    finals = [[r.final[dim] for r in results] for dim in dims]
    trees = [[r.trees[dim] for r in results] for dim in dims]
    results.clear()
    diagrams = []
    for dim in dims:
        found, tree = _merge(trees[dim], (0, shape[0], 0, shape[1]), tile, shape, conn8, dim == 1)
        trees[dim] = []
        if dim == 1:  # the frame's class is the only root: reduced homology drops it
            diagrams.append(_gather(finals[dim], found))
        else:
            roots = tree.values[tree.parent < 0]
            essential = np.stack([roots, np.full(roots.size, np.inf)], axis=1)
            diagrams.append(_gather(finals[dim], found, essential))
    return diagrams


def _gather(parts: list[Diagram], *more: Diagram) -> Diagram:
    """Concatenate ``parts`` and ``more`` into one diagram, emptying ``parts`` as it goes."""
    out = np.empty((sum(len(p) for p in parts) + sum(len(m) for m in more), 2))
    parts.reverse()
    parts += reversed(more)
    at = 0
    while parts:
        part = parts.pop()
        out[at : at + len(part)] = part
        at += len(part)
    return out


def _cross_edges(
    box: tuple[int, int, int, int], tile: tuple[int, int], ncols: int, conn8: bool
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Grid edges between cells of different tiles of ``box`` (r0, r1, c0, c1), tiles cut from
    its corner, as pairs of global cell ids."""
    r0, r1, c0, c1 = box
    us: list[NDArray[np.int64]] = []
    vs: list[NDArray[np.int64]] = []
    r = np.arange(r0, r1, dtype=np.int64)
    c = np.arange(c0, c1, dtype=np.int64)
    for cut in range(c0 + tile[1], c1, tile[1]):
        us.append(r * ncols + cut - 1)
        vs.append(r * ncols + cut)
        if conn8:
            us += [r[:-1] * ncols + cut - 1, r[1:] * ncols + cut - 1]
            vs += [r[1:] * ncols + cut, r[:-1] * ncols + cut]
    for cut in range(r0 + tile[0], r1, tile[0]):
        us.append((cut - 1) * ncols + c)
        vs.append(cut * ncols + c)
        if conn8:
            us += [(cut - 1) * ncols + c[:-1], (cut - 1) * ncols + c[1:]]
            vs += [cut * ncols + c[1:], cut * ncols + c[:-1]]
    empty = np.empty(0, np.int64)
    return np.concatenate([empty, *us]), np.concatenate([empty, *vs])


def _merge(
    trees: list[MergeTree],
    box: tuple[int, int, int, int],
    tile: tuple[int, int],
    shape: tuple[int, int],
    conn8: bool,
    dual: bool,
) -> tuple[Diagram, MergeTree]:
    """The pairs of the tiles of ``box`` glued by their cross-tile edges, and the contracted merge
    tree of the components that touch the border of ``box`` (see ``_kernels.merge_h0``)."""
    starts = np.cumsum([0] + [t.ids.size for t in trees[:-1]])
    above = np.concatenate(
        [np.where(t.parent >= 0, t.parent + s, -1) for t, s in zip(trees, starts, strict=True)]
    )
    edges = _cross_edges(box, tile, shape[1], conn8 != dual)
    found, ids, vals, tree = _kernels.merge_h0(
        np.concatenate([t.ids for t in trees]),
        np.concatenate([t.values for t in trees]),
        above,
        edges[0],
        edges[1],
        dual,
        box,
        *shape,
    )
    return found, MergeTree(ids, vals, tree)
