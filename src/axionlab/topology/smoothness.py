"""SMAD, Landscaper's saddle-minimum average distance: how far a landscape's minima lie below the
critical points they first meet.

Definition (Landscaper 1.3.1, ``LossLandscape.smad``, by Chen, Hadler, Xie & Hnatyshyn,
doi:10.5281/zenodo.15874987, arXiv 2602.07135): build the contour tree of the grid (Carr,
Snoeyink & Axen, "Computing contour trees in all dimensions", 2003) on the critical points of its
join and split trees; a *saddle-minimum pair* is a contour-tree arc from a local minimum ``m`` to
a node ``s`` met by at least two arcs. Then

    SMAD = mean over pairs of |f(s) - f(m)|                          (``weighted=False``)
    SMAD = mean over pairs of |f(s) - f(m)| * |D(m)| / N             (``weighted=True``)

with ``|D(m)|`` the number of grid vertices whose steepest descent (to the lowest lower axis
neighbour: a unit-spaced grid) ends at ``m`` (topopy's unstable manifold) and ``N`` the grid size;
``normalize=True`` divides every gap by ``max f - min f``. A tree without a node met by two arcs
(one minimum, one maximum) has SMAD 0.

Landscaper's contour tree (topopy 1.0.4 ``ContourTree``, as Landscaper patches it) is built by
removing every upper leaf that appears, then every lower leaf, once each, and keeps the arcs found
so far: on most landscapes part of the tree is never built (76 of its 104 arcs on the random
13 x 11 grid of the tests, 14 of 19 on a smooth 31 x 27 one), and the pairs come from that
partial tree. ``contour_tree="landscaper"`` (default) reproduces it, so values equal Landscaper's;
``"complete"`` peels both kinds of leaves until one node is left, the contour tree of the
definition.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from numpy.typing import ArrayLike, NDArray

from axionlab.checks import check_choice
from axionlab.topology._kernels import stable_argsort
from axionlab.topology.merge_tree import MergeTree, merge_tree

CONTOUR_TREES = ("landscaper", "complete")


def smad(
    values: ArrayLike,
    *,
    normalize: bool = False,
    weighted: bool = False,
    contour_tree: str = "landscaper",
) -> float:
    """Saddle-minimum average distance of a grid (Landscaper's smoothness descriptor).

    Parameters
    ----------
    values
        Grid of losses of any dimension with unit spacing on every axis (neighbours along the
        axes, as Landscaper's Gabriel graph on a regular grid); NaN is refused. Ties are broken
        by the grid index, as in :func:`~axionlab.topology.merge_tree`.
    normalize
        Divide each gap by the range of ``values``.
    weighted
        Weight each gap by the fraction of the grid that descends to its minimum.
    contour_tree
        ``"landscaper"``: Landscaper's partially built contour tree (equal to its values);
        ``"complete"``: the whole contour tree (see the module docstring).

    Returns
    -------
    float
        SMAD as defined in this module's docstring; ``0.0`` for a contour tree without branching,
        ``nan`` when no minimum borders a branching node.

    Raises
    ------
    InputError
        As :func:`~axionlab.topology.merge_tree`, or on an unknown ``contour_tree``.
    """
    check_choice("contour_tree", contour_tree, CONTOUR_TREES)
    join = merge_tree(values)
    array = np.asarray(values, dtype=np.float64)
    flat = array.ravel()
    n = flat.size
    split = merge_tree(-array[(slice(None, None, -1),) * array.ndim])  # the exact reverse order
    split_vertex = n - 1 - split.vertex
    critical = np.union1d(join.vertex, split_vertex)
    up = _augmented_parents(join, join.vertex, join.arc, critical, flat, 1.0)
    down = _augmented_parents(split, split_vertex, split.arc[::-1], critical, flat, -1.0)
    edges = _contour_tree_edges(critical, up, down, complete=contour_tree == "complete")
    degree: defaultdict[int, int] = defaultdict(int)
    for a, b in edges:
        degree[a] += 1
        degree[b] += 1
    if not any(d >= 2 for d in degree.values()):
        return 0.0
    sinks, basin = _descent_basins(array)
    minima = set(sinks.tolist())
    gaps, volumes = [], []
    for a, b in edges:
        low, high = (a, b) if a in minima else (b, a)
        if low in minima and degree[high] >= 2:
            gaps.append(abs(flat[high] - flat[low]))
            volumes.append(basin[low] / n)
    if not gaps:
        return math.nan
    gap = np.array(gaps) / (flat.max() - flat.min() if normalize else 1.0)
    return float(np.mean(gap * np.array(volumes) if weighted else gap))


def _augmented_parents(
    tree: MergeTree,
    vertex: NDArray[np.int64],
    arc: NDArray[np.int64],
    critical: NDArray[np.int64],
    flat: NDArray[np.float64],
    sign: float,
) -> dict[int, int]:
    """Next critical vertex along the tree from each critical vertex (its arc, then the parent)."""
    is_node = np.isin(critical, vertex)
    # Along an arc in the tree's filtration order: (sign * value, sign * index), the node first.
    order = np.lexsort((sign * critical, sign * flat[critical], ~is_node, arc[critical]))
    chain = critical[order]
    arcs = arc[chain]
    parents: dict[int, int] = {}
    for i, x in enumerate(chain.tolist()):
        if i + 1 < chain.size and arcs[i + 1] == arcs[i]:
            parents[x] = int(chain[i + 1])
        elif tree.parent[arcs[i]] >= 0:
            parents[x] = int(vertex[tree.parent[arcs[i]]])
    return parents


def _contour_tree_edges(
    nodes: NDArray[np.int64], up: dict[int, int], down: dict[int, int], complete: bool
) -> list[tuple[int, int]]:
    """Carr-Snoeyink-Axen merge of the augmented join (``up``) and split (``down``) trees.

    ``complete``: peel upper and lower leaves until one node is left (the contour tree).
    Otherwise topopy's order: every upper leaf that appears, then every lower one, once.
    """
    below: dict[int, set[int]] = {int(x): set() for x in nodes}
    above: dict[int, set[int]] = {int(x): set() for x in nodes}
    for x, p in up.items():
        below[p].add(x)
    for x, p in down.items():
        above[p].add(x)
    edges: list[tuple[int, int]] = []
    passes = [(True, True)] if complete else [(False, True), (True, False)]
    for lower_ok, upper_ok in passes:
        queue = list(below)
        while queue and len(below) > 1:
            x = queue.pop()
            if x not in below:
                continue
            if lower_ok and not below[x] and len(above[x]) <= 1 and x in up:
                tree, other, ends, links = up, down, below, above  # leaves along its join arc
            elif upper_ok and not above[x] and len(below[x]) <= 1 and x in down:
                tree, other, ends, links = down, up, above, below  # along its split arc
            else:
                continue
            nxt = tree.pop(x)
            edges.append((x, nxt))
            ends[nxt].discard(x)
            child = next(iter(links[x]), None)  # at most one: x is regular in the other tree
            parent = other.pop(x, None)
            if child is not None:
                del other[child]
                if parent is not None:
                    other[child] = parent
            if parent is not None:
                links[parent].discard(x)
                if child is not None:
                    links[parent].add(child)
            del below[x], above[x]
            queue.extend(y for y in (nxt, child, parent) if y is not None)
    return edges


def _descent_basins(array: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Steepest-descent sinks and, per vertex index, how many vertices flow to it.

    "Lower" is the merge tree's order, (value, index): ties are broken by grid index, so a
    plateau drains to one sink, the leaf the merge tree has there.
    """
    flat = np.empty(array.size, dtype=np.int64)
    flat[stable_argsort(array.ravel())] = np.arange(array.size)  # rank in (value, index) order
    index = np.arange(flat.size).reshape(array.shape)
    target = index.ravel().copy()
    lowest = flat.copy()
    for axis in range(array.ndim):
        for shift in (1, -1):
            near = np.roll(index, shift, axis)
            edge: list[slice | int] = [slice(None)] * array.ndim
            edge[axis] = 0 if shift == 1 else -1  # np.roll wraps around: no neighbour there
            near[tuple(edge)] = index[tuple(edge)]
            better = flat[near.ravel()] < lowest
            lowest = np.where(better, flat[near.ravel()], lowest)
            target = np.where(better, near.ravel(), target)
    while not np.array_equal(target[target], target):
        target = target[target]
    sinks = np.flatnonzero(target == np.arange(flat.size))
    return sinks, np.bincount(target, minlength=flat.size)
