"""The topological profile of a landscape: its merge tree drawn as nested basins.

Definition (Landscaper 1.3.1, ``landscaper.topology_profile.generate_profile``, by Chen, Hadler,
Xie & Hnatyshyn, doi:10.5281/zenodo.15874987, arXiv 2602.07135): every node ``v`` of the augmented
merge tree gets the sorted loss *levels* of the grid vertices in its basin: the vertices on the
arcs strictly below ``v`` followed by the value of ``v``'s parent (the level where the basin
spills into its neighbour); the root's basin is the whole grid. Its *width* is the number of
levels. The root spans ``[0, width(root)]``; inside a node spanning ``[s, e]`` its children are
laid side by side, widest first, in a window of their total width centred on ``(s + e) / 2``, each
child's span being its width. A node centred at ``c`` with levels ``y_0 <= ... <= y_{w-1}`` is
drawn as the polygon ``(c - w + i, y_{w-1-i})`` then ``(c + i, y_i)``, ``i = 0 .. w-1``: at height
``y`` the basin is as wide as it has vertices below ``y``. Ties between siblings of equal width
are broken by the grid index of the child, as Landscaper's (topopy's) sorted edge set does, so on
the same merge tree the polygons equal Landscaper's. The levels take one float per vertex and
ancestor (the grid size times the tree depth at worst), as Landscaper's lists do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from axionlab.topology.merge_tree import MergeTree, merge_tree


@dataclass(frozen=True, eq=False)
class TopologicalProfile:
    """What :func:`topological_profile` returns; node ``i`` is node ``i`` of :attr:`tree`.

    Attributes
    ----------
    tree
        The merge tree the profile draws.
    center
        ``(m,)`` float64 horizontal centre of each node's basin.
    offsets
        ``(m + 1,)`` int64: node ``i``'s levels are ``levels[offsets[i]:offsets[i + 1]]``.
    levels
        Concatenated sorted levels of every basin (see the module docstring).
    """

    tree: MergeTree
    center: NDArray[np.float64]
    offsets: NDArray[np.int64]
    levels: NDArray[np.float64]

    @property
    def width(self) -> NDArray[np.int64]:
        """``(m,)`` number of levels of each basin (the root's is the grid size)."""
        return np.diff(self.offsets)

    def polygons(self) -> list[NDArray[np.float64]]:
        """One ``(2 w, 2)`` array of (x, y) points per node, children before parents."""
        out = []
        for i, c in enumerate(self.center):
            y = self.levels[self.offsets[i] : self.offsets[i + 1]]
            x = np.arange(y.size, dtype=np.float64)
            out.append(np.stack([np.concatenate([c - y.size + x, c + x]), np.r_[y[::-1], y]], 1))
        return out


def topological_profile(values: ArrayLike, *, construction: str = "vertex") -> TopologicalProfile:
    """The topological profile of a landscape (Landscaper's basin drawing of its merge tree).

    Parameters
    ----------
    values
        Grid of losses of any dimension (see :func:`~axionlab.topology.merge_tree`).
    construction
        Connectivity of the merge tree; ``"vertex"`` (axis neighbours) is Landscaper's on grids.

    Returns
    -------
    TopologicalProfile
        Centres and levels of every basin, defined in this module's docstring (Landscaper 1.3.1
        ``generate_profile``, arXiv 2602.07135).

    Raises
    ------
    InputError
        As :func:`~axionlab.topology.merge_tree`.
    """
    tree = merge_tree(values, construction=construction)
    flat = np.asarray(values, dtype=np.float64).ravel()
    offsets, levels = _basin_levels(tree.parent, tree.arc, flat, tree.value)
    width = np.diff(offsets)
    children = np.flatnonzero(tree.parent >= 0)
    children = children[
        np.lexsort((tree.vertex[children], -width[children], tree.parent[children]))
    ]
    first = np.searchsorted(tree.parent[children], np.arange(tree.parent.size + 1))
    return TopologicalProfile(tree, _centres(tree.parent, width, children, first), offsets, levels)


@njit(cache=True)
def _basin_levels(parent, arc, flat, value):  # type: ignore[no-untyped-def]
    """CSR offsets and sorted levels of every basin (vertices laid out subtree by subtree)."""
    m = parent.size
    n = flat.size
    own = np.bincount(arc, minlength=m)
    total = own.copy()
    for i in range(m):
        if parent[i] >= 0:
            total[parent[i]] += total[i]
    start = np.zeros(m, np.int64)
    cursor = np.zeros(m, np.int64)
    for i in range(m - 1, -1, -1):  # parents first: a subtree's own arc, then its children
        p = parent[i]
        if p >= 0:
            start[i] = cursor[p]
            cursor[p] += total[i]
        cursor[i] = start[i] + own[i]
    layout = np.empty(n, np.float64)
    filled = start.copy()
    for x in range(n):
        layout[filled[arc[x]]] = flat[x]
        filled[arc[x]] += 1
    width = np.where(parent >= 0, total - own + 1, n)
    offsets = np.zeros(m + 1, np.int64)
    offsets[1:] = np.cumsum(width)
    levels = np.empty(offsets[m], np.float64)
    for i in range(m):
        lo = 0 if parent[i] < 0 else start[i] + own[i]
        hi = start[i] + total[i]
        levels[offsets[i] : offsets[i] + hi - lo] = np.sort(layout[lo:hi])
        if parent[i] >= 0:
            levels[offsets[i + 1] - 1] = value[parent[i]]
    return offsets, levels


@njit(cache=True)
def _centres(parent, width, children, first):  # type: ignore[no-untyped-def]
    """Basin centres: children side by side under their parent, in the order of ``children``."""
    m = parent.size
    lo = np.zeros(m)
    hi = np.zeros(m)
    hi[m - 1] = width[m - 1]
    for p in range(m - 1, -1, -1):  # parents first; the root is the last node
        span = 0.0
        for j in range(first[p], first[p + 1]):
            span += width[children[j]]
        # Landscaper's arithmetic, kept operation for operation so the centres agree exactly.
        left = lo[p] + (hi[p] - lo[p]) / 2 - span / 2
        for j in range(first[p], first[p + 1]):
            c = children[j]
            part = span * (width[c] / span)
            lo[c] = left
            hi[c] = left + part
            left += part
    return (lo + hi) / 2
