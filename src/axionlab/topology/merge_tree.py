"""Merge (join) trees of the sublevel-set filtration of a grid of any dimension.

The join tree of ``f`` records how the connected components of the sublevel sets
``{x : f(x) <= t}`` are born at local minima (leaves) and merge at saddles (merge nodes) as ``t``
grows, up to the global maximum (the root) where one component covers the grid (Carr, Snoeyink &
Axen, "Computing contour trees in all dimensions", 2003, section 3). Vertices are processed in the
total order ``(value, flat C-order index)`` of the persistence kernels, the components are kept in
the same union-find, and a merge keeps the elder (earlier-born) component, so reading the tree by
the elder rule (Edelsbrunner & Harer, *Computational Topology*, VII.1) gives exactly the H0 diagram
of :func:`~axionlab.topology.sublevel_persistence` with the same construction.

Ties make the order-exact tree carry branches of zero persistence (two corners of a flat basin
meeting at their own level). The tree returned has them contracted: a subtree that dies at its own
level is folded into the node it merges at, and a merge left with one child is spliced out, so a
field with ``k`` basins of positive depth (plus the deepest one) has ``k`` leaves.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

from axionlab.checks import check_choice
from axionlab.errors import InputError
from axionlab.topology._diagrams import CONSTRUCTIONS, Diagram, as_grid, concat, pairs
from axionlab.topology._kernels import _UNSEEN, _find_root, stable_argsort

LEAF, MERGE, ROOT = 0, 1, 2  # the codes of MergeTree.kind


@dataclass(frozen=True, eq=False)
class MergeTree:
    """What :func:`merge_tree` returns: the contracted, augmented join tree of a grid.

    Attributes
    ----------
    shape
        Shape of the grid.
    vertex
        ``(m,)`` int64 flat C-order grid index of each node.
    value
        ``(m,)`` float64 function value at each node.
    parent
        ``(m,)`` int64 index of each node's parent node, ``-1`` for the root. Nodes are listed in
        filtration order, so a parent always comes after its children.
    kind
        ``(m,)`` int8: ``0`` leaf (local minimum), ``1`` merge (saddle), ``2`` root (the global
        maximum; on a one-cell grid the lone node is a leaf without parent).
    arc
        ``(n,)`` int64, one entry per grid vertex (flat C order): the node whose arc (the edge from
        that node up to its parent) holds the vertex, i.e. the component it joins; a node's own
        vertex lies on its own arc. This is the augmentation the topological profile needs.
    """

    shape: tuple[int, ...]
    vertex: NDArray[np.int64]
    value: NDArray[np.float64]
    parent: NDArray[np.int64]
    kind: NDArray[np.int8]
    arc: NDArray[np.int64]

    def branches(self) -> Diagram:
        """The ``(k, 2)`` (birth, death) pairs of the tree's branches by the elder rule.

        At every merge the child subtree holding the earliest-born leaf continues; each other
        child's branch dies there. The branch of the earliest leaf of all never dies (death
        ``inf``, even when born at ``inf``). Zero-length finite pairs are dropped, so this is
        exactly the H0 diagram of :func:`~axionlab.topology.sublevel_persistence` with the
        tree's construction.
        """
        elder = _subtree_elder(self.parent, self.kind)
        child = np.flatnonzero(self.parent >= 0)
        dies = child[elder[child] != elder[self.parent[child]]]
        root = np.flatnonzero(self.parent < 0)
        essential = np.stack([self.value[elder[root]], np.full(root.size, np.inf)], axis=1)
        return concat(pairs(self.value[elder[dies]], self.value[self.parent[dies]]), essential)


def merge_tree(values: ArrayLike, construction: str = "vertex") -> MergeTree:
    """The join tree of the sublevel-set filtration of a grid of any dimension.

    Parameters
    ----------
    values
        Array of function values with at least one axis; ``±inf`` is allowed (a merge at
        ``+inf`` gives a branch dying at ``inf``, as in :func:`sublevel_persistence`), NaN is
        refused (decide first what a NaN loss means, e.g. replace it by ``np.inf``).
    construction
        ``"vertex"``: entries are vertices joined along the axes (4-connected in 2-D, 6 in 3-D;
        GUDHI's V-construction); ``"top"``: entries are top-dimensional cells joined when they
        share a corner (8-connected in 2-D, 26 in 3-D; the T-construction).

    Returns
    -------
    MergeTree
        Nodes (leaves, merges, the root) with parent links and the arc of every grid vertex;
        ``.branches()`` equals ``sublevel_persistence(values, construction=...)[0]``.

    Raises
    ------
    InputError
        On a scalar, an empty array, NaN or an unknown construction.
    """
    check_choice("construction", construction, CONSTRUCTIONS)
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        raise InputError("values must be an array with at least one axis, got a scalar")
    flat = np.ascontiguousarray(as_grid(array.reshape(-1)))
    padded = tuple(s + 2 for s in array.shape)
    # Padded layout: a ring of never-seen cells around the grid, so neighbours need no bounds.
    size = int(np.prod(padded))
    where = np.arange(size).reshape(padded)[(slice(1, -1),) * array.ndim].ravel()
    strides = np.cumprod((1, *padded[:0:-1]))[::-1]
    if construction == "vertex":
        offsets = [sign * int(s) for s in strides for sign in (-1, 1)]
    else:
        steps = itertools.product((-1, 0, 1), repeat=array.ndim)
        offsets = [int(np.dot(step, strides)) for step in steps if any(step)]
    vertex, parent, kind, arc = _join_tree(
        flat, stable_argsort(flat), where, np.array(offsets, np.int64), size
    )
    vertex, parent, kind, arc = _contract(flat[vertex], vertex, parent, kind, arc)
    return MergeTree(tuple(array.shape), vertex, flat[vertex], parent, kind, arc)


@njit(cache=True)
def _join_tree(flat, order, where, offsets, size):  # type: ignore[no-untyped-def]
    """Order-exact join tree: node vertices, parents, kinds and the node arc of every vertex."""
    n = flat.size
    uf = np.full(size, _UNSEEN, np.int64)  # a root stores -2 - t, t = the step it was born at
    top = np.empty(size, np.int64)  # the highest node of a root's component
    vertex = np.empty(n + 1, np.int64)
    parent = np.full(n + 1, -1, np.int64)
    kind = np.empty(n + 1, np.int8)
    arc = np.empty(n, np.int64)
    roots = np.empty(offsets.size, np.int64)
    m = 0
    for t in range(n):
        k = order[t]
        kp = where[k]
        n_roots = 0
        elder = -1
        for o in offsets:
            q = kp + o
            if uf[q] == _UNSEEN:
                continue
            r = _find_root(uf, q)
            seen = False
            for s in range(n_roots):
                seen = seen or roots[s] == r
            if not seen:
                roots[n_roots] = r
                n_roots += 1
                if elder < 0 or uf[r] > uf[elder]:
                    elder = r
        if n_roots == 0:
            uf[kp] = -2 - t
            top[kp] = m
        elif n_roots == 1:
            uf[kp] = elder
            arc[k] = top[elder]
            continue
        else:
            uf[kp] = elder
            for s in range(n_roots):
                parent[top[roots[s]]] = m
                if roots[s] != elder:
                    uf[roots[s]] = elder
            top[elder] = m
        vertex[m] = k
        kind[m] = LEAF if n_roots == 0 else MERGE
        arc[k] = m
        m += 1
    last = order[n - 1]
    if n > 1 and vertex[m - 1] == last:
        kind[m - 1] = ROOT
    elif n > 1:
        parent[top[_find_root(uf, where[last])]] = m
        vertex[m] = last
        kind[m] = ROOT
        arc[last] = m
        m += 1
    return vertex[:m], parent[:m], kind[:m], arc


@njit(cache=True)
def _subtree_elder(parent, kind):  # type: ignore[no-untyped-def]
    """Earliest-born leaf below every node (nodes are in filtration order: children first)."""
    m = parent.size
    elder = np.full(m, m, np.int64)
    for i in range(m):
        if kind[i] == LEAF:
            elder[i] = min(elder[i], i)
        p = parent[i]
        if p >= 0 and elder[i] < elder[p]:
            elder[p] = elder[i]
    return elder


@njit(cache=True)
def _contract(value, vertex, parent, kind, arc):  # type: ignore[no-untyped-def]
    """Fold zero-persistence subtrees into the node they merge at and splice one-child merges."""
    m = parent.size
    elder = _subtree_elder(parent, kind)
    folded = np.zeros(m, np.bool_)
    for i in range(m - 1, -1, -1):  # parents first
        p = parent[i]
        if p >= 0:
            folded[i] = folded[p] or (elder[i] != elder[p] and value[elder[i]] == value[p])
    live = np.zeros(m, np.int64)
    for i in range(m):
        if parent[i] >= 0 and not folded[i]:
            live[parent[i]] += 1
    kept = np.zeros(m, np.bool_)
    land = np.arange(m)  # the kept node whose arc takes over a node's arc
    for i in range(m):
        kept[i] = not folded[i] and (kind[i] != MERGE or live[i] >= 2)
    for i in range(m):  # a spliced merge hands its arc to its one live child
        p = parent[i]
        if p >= 0 and not folded[i] and not kept[p]:
            land[p] = land[i]
    up = np.full(m, -1, np.int64)
    for i in range(m - 1, -1, -1):
        p = parent[i]
        if p >= 0:
            up[i] = p if kept[p] else up[p]
            if folded[i]:
                land[i] = land[p]
    index = np.cumsum(kept) - 1
    out_parent = np.where(up >= 0, index[np.maximum(up, 0)], -1)[kept]
    return vertex[kept], out_parent, kind[kept], index[land[arc]]
