"""Earth mover's distances used by IIT 3.0.

Hamming EMD between distributions on ``{0, 1}^p`` is solved through its Kantorovich dual,
``max_f Σ_x f(x) (q(x) − r(x))`` over 1-Lipschitz ``f`` (Hamming metric). The constraint matrix is
a graph incidence matrix, so the optimum is attained at an integer vertex of that polytope: a
function whose tight edges (``|f(x) − f(y)| = 1``) connect the cube. For ``p ≤ 4`` we enumerate
those vertices (2, 6, 38 and 990 of them for p = 1..4) and the EMD of a whole batch of differences
is one matrix product. Larger cubes, and every minimum over rows, are solved in the primal as a
min-cost flow on the cube's edges: successive shortest paths with integer potentials, several
paths per Dijkstra (the primal-dual algorithm; Ahuja, Magnanti & Orlin 1993, §9.7-9.8), the
Dijkstra on a bucket queue of bitsets (Dial 1969), compiled. A minimum over many rows (the
partitions of one purview) solves rows in increasing order of the coordinate-function bound and
skips those that the optimal dual of an already solved row bounds above the running minimum.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.optimize
import scipy.sparse
from numba import njit
from numpy.typing import NDArray

Array = NDArray[np.float64]
MAX_ENUMERATED_BITS = 4


@functools.cache
def _lipschitz_functions(p: int) -> NDArray[np.int8]:
    """All integer 1-Lipschitz ``f`` on ``{0,1}^p`` with ``f(0) = 0``, rows little-endian."""
    if p == 0:
        return np.zeros((1, 1), dtype=np.int8)
    lower = _lipschitz_functions(p - 1)
    # f = (g on bit p-1 = 0, h + c on bit p-1 = 1) with |g - (h + c)| ≤ 1 everywhere
    ok = np.ones((lower.shape[0], lower.shape[0], 3), dtype=bool)
    for x in range(lower.shape[1]):  # loop over states keeps the (F, F, 3) temporaries small
        gap = (
            lower[:, None, x, None] - lower[None, :, x, None] - np.array([-1, 0, 1], dtype=np.int8)
        )
        ok &= np.abs(gap) <= 1
    gi, hi, ci = np.nonzero(ok)
    upper = lower[hi] + (ci - 1).astype(np.int8)[:, None]
    return np.concatenate([lower[gi], upper], axis=1)


@functools.cache
def dual_vertices(p: int) -> Array:
    """Vertices of the 1-Lipschitz polytope on ``{0,1}^p`` (with ``f(0) = 0``), as float rows."""
    funcs = _lipschitz_functions(p)
    nbr = np.arange(2**p)[:, None] ^ (1 << np.arange(p))[None, :]  # (2^p, p)
    tight = np.abs(funcs[:, :, None] - funcs[:, nbr]) == 1  # (F, 2^p, p)
    touched = tight.any(axis=2).all(axis=1)  # necessary: no vertex without a tight edge
    funcs, tight = funcs[touched], tight[touched]
    # connected components of the tight edges by min-label propagation
    labels = np.broadcast_to(np.arange(2**p), funcs.shape).copy()
    while True:
        reach = np.where(tight, labels[:, nbr], 2**p).min(axis=2)
        new = np.minimum(labels, reach)
        if np.array_equal(new, labels):
            break
        labels = new
    connected = np.all(labels == 0, axis=1)
    return np.asarray(funcs[connected], dtype=np.float64)


_EPS = 1e-14  # masses below this are treated as zero (inputs are probabilities)
_SLACK = 1e-12  # a bound this close to the current minimum does not prune (rounding of the bound)
_MAX_DUALS = 16  # optimal duals of solved rows kept as lower bounds for the rows still to solve
_UNREACHED = np.iinfo(np.int64).max


@njit(cache=True)
def _lowest_bit(word):  # type: ignore[no-untyped-def]
    """Index of the lowest set bit of a non-zero uint64 (a power of two converts exactly)."""
    return math.frexp(float(word & (~word + np.uint64(1))))[1] - 1


@njit(cache=True)
def _workspace(n, p):  # type: ignore[no-untyped-def]
    return (
        np.empty(n),  # excess
        np.empty((n, p)),  # flow[u, i]: mass on the arc u -> u ^ (1 << i)
        np.empty(n, np.int64),  # potential
        np.empty(n, np.int64),  # dist (reduced costs)
        np.empty(n, np.bool_),  # settled (Dijkstra), then dead end (path search)
        np.empty(n, np.bool_),  # on the current path
        np.empty(n, np.int64),  # next arc to try from each node
        np.empty(n + 1, np.int64),  # path nodes
        np.empty(n + 1, np.int64),  # path[k] -> path[k + 1] is along bit path_bit[k]
        np.empty((2 * p + 1, (n + 63) // 64), np.uint64),  # buckets[d]: bitset of nodes at d
    )


@njit(cache=True)
def _reduced_cost(u, i, flow, potential):  # type: ignore[no-untyped-def]
    """Reduced cost of moving mass ``u -> u ^ (1 << i)``: cancelling opposite flow (−1) first."""
    v = u ^ (1 << i)
    return (-1 if flow[v, i] > _EPS else 1) + potential[u] - potential[v]


@njit(cache=True)
def _reprice(p, work):  # type: ignore[no-untyped-def]
    """Dijkstra from all excess nodes to the nearest deficit; potentials += min(dist, that dist).

    Reduced costs are non-negative integers and no reduced distance exceeds 2p (a residual path
    costs at most the Hamming distance, and feasible potentials differ by at most the distance
    back), so the queue is 2p + 1 buckets of bitsets. Returns False when no deficit is reachable.
    """
    excess, flow, potential, dist, settled = work[0], work[1], work[2], work[3], work[4]
    buckets = work[9]
    dist[:] = _UNREACHED
    settled[:] = False
    buckets[:] = 0
    for s in range(excess.shape[0]):
        if excess[s] > _EPS:
            dist[s] = 0
            buckets[0, s >> 6] |= np.uint64(1) << np.uint64(s & 63)
    level, reach = 0, -1
    while level < buckets.shape[0] and reach < 0:
        u = -1
        for w in range(buckets.shape[1]):
            word = buckets[level, w]
            if word:
                u = 64 * w + _lowest_bit(word)
                buckets[level, w] = word & (word - np.uint64(1))
                break
        if u < 0:
            level += 1
            continue
        settled[u] = True
        if excess[u] < -_EPS:
            reach = dist[u]
            continue
        for i in range(p):
            v = u ^ (1 << i)
            d = dist[u] + _reduced_cost(u, i, flow, potential)
            if not settled[v] and d < dist[v]:
                bit = np.uint64(1) << np.uint64(v & 63)
                if dist[v] != _UNREACHED:
                    buckets[dist[v], v >> 6] &= ~bit
                buckets[d, v >> 6] |= bit
                dist[v] = d
    for v in range(excess.shape[0]):
        potential[v] += dist[v] if settled[v] else reach
    return reach >= 0


@njit(cache=True)
def _admissible_path(s, p, work):  # type: ignore[no-untyped-def]
    """Depth-first path of zero reduced cost from ``s`` to a deficit; its last index, or -1."""
    excess, flow, potential = work[0], work[1], work[2]
    dead, on_path, next_arc, path, path_bit = work[4], work[5], work[6], work[7], work[8]
    top = 0
    path[0] = s
    on_path[s] = True
    while top >= 0 and excess[path[top]] >= -_EPS:
        u = path[top]
        while next_arc[u] < p:
            i = next_arc[u]
            v = u ^ (1 << i)
            if not dead[v] and not on_path[v] and _reduced_cost(u, i, flow, potential) == 0:
                break
            next_arc[u] += 1
        if next_arc[u] < p:
            path_bit[top] = next_arc[u]
            top += 1
            path[top] = u ^ (1 << next_arc[u])
            on_path[path[top]] = True
        else:  # no way on from u in this phase
            dead[u] = True
            on_path[u] = False
            top -= 1
            if top >= 0:
                next_arc[path[top]] += 1
    return top


@njit(cache=True)
def _augment(p, work):  # type: ignore[no-untyped-def]
    """Push from every excess node along admissible paths until none is left in this phase.

    Pushing along zero-reduced-cost arcs keeps every residual reduced cost non-negative, so each
    phase keeps the optimality conditions of successive shortest paths.
    """
    excess, flow = work[0], work[1]
    dead, on_path, next_arc, path, path_bit = work[4], work[5], work[6], work[7], work[8]
    dead[:] = False
    on_path[:] = False
    next_arc[:] = 0
    for s in range(excess.shape[0]):
        while excess[s] > _EPS and not dead[s]:
            top = _admissible_path(s, p, work)
            if top < 0:
                break
            t = path[top]
            push = min(excess[s], -excess[t])
            for k in range(top):
                if flow[path[k + 1], path_bit[k]] > _EPS:
                    push = min(push, flow[path[k + 1], path_bit[k]])
            for k in range(top):
                u, v, i = path[k], path[k + 1], path_bit[k]
                if flow[v, i] > _EPS:
                    flow[v, i] -= push
                    if flow[v, i] <= _EPS:
                        flow[v, i] = 0.0
                else:
                    flow[u, i] += push
                on_path[v] = False
            on_path[s] = False
            excess[s] -= push
            excess[t] += push
            if abs(excess[s]) <= _EPS:
                excess[s] = 0.0
            if abs(excess[t]) <= _EPS:
                excess[t] = 0.0


@njit(cache=True)
def _transport(diff, p, work):  # type: ignore[no-untyped-def]
    """Exact Hamming EMD of one difference row by a primal-dual min-cost flow on the p-cube.

    Hamming distance is the shortest-path metric of the cube graph, so the transport problem is an
    uncapacitated min-cost flow on its ``p 2^(p-1)`` unit-cost edges. Each phase reprices by a
    Dijkstra from all excess nodes and then pushes along every admissible path (successive
    shortest paths, several per phase); path costs are integers in 1..p, so there are few phases.
    On return ``work[2]`` holds integer potentials ``π`` with ``−π`` an optimal 1-Lipschitz dual:
    it bounds the EMD of any other row from below.
    """
    excess, flow, potential = work[0], work[1], work[2]
    excess[:] = diff
    flow[:] = 0.0
    potential[:] = 0
    while excess.max() > _EPS and _reprice(p, work):
        _augment(p, work)
    return flow.sum()


@njit(cache=True)
def _hamming_emd_ssp(diffs, p):  # type: ignore[no-untyped-def]
    """Exact Hamming EMDs of the rows of ``diffs`` (see ``_transport``)."""
    work = _workspace(diffs.shape[1], p)
    out = np.empty(diffs.shape[0])
    for r in range(diffs.shape[0]):
        out[r] = _transport(diffs[r], p, work)
    return out


@njit(cache=True)
def _coordinate_bounds(diffs, p):  # type: ignore[no-untyped-def]
    """``Σ_i |marginal gap_i|`` per row: the EMD lower bound of the coordinate functions ±x_i.

    The gap of the top bit is the sum of the upper half; folding the halves together leaves a
    (p−1)-cube with the same gaps on the lower bits.
    """
    out = np.zeros(diffs.shape[0])
    folded = np.empty(diffs.shape[1])
    for r in range(diffs.shape[0]):
        folded[:] = diffs[r]
        half = diffs.shape[1] // 2
        while half:
            gap = 0.0
            for x in range(half):
                gap += folded[half + x]
                folded[x] += folded[half + x]
            out[r] += abs(gap)
            half //= 2
    return out


@njit(cache=True)
def _hamming_emd_ssp_min(diffs, p):  # type: ignore[no-untyped-def]
    """Minimum exact EMD over rows, in increasing order of their coordinate bounds.

    Rows are solved until the next bound reaches the running minimum; a row is skipped when the
    optimal dual of an earlier solved row already bounds it there (duals are 1-Lipschitz, so
    ``f · d ≤ EMD(d)`` for every row).
    """
    n = diffs.shape[1]
    work = _workspace(n, p)
    duals = np.empty((_MAX_DUALS, n))
    n_duals = 0
    best = np.inf
    lower = _coordinate_bounds(diffs, p)
    for r in np.argsort(lower, kind="mergesort"):
        if lower[r] >= best - _SLACK:
            break
        row = diffs[r]
        bounded = False
        for k in range(min(n_duals, _MAX_DUALS)):
            if np.dot(duals[k], row) >= best - _SLACK:
                bounded = True
                break
        if not bounded:
            best = min(best, _transport(row, p, work))
            duals[n_duals % _MAX_DUALS] = -work[2]
            n_duals += 1
    return best


def hamming_emd_batch(diffs: Array, p: int) -> Array:
    """Exact Hamming EMDs of rows ``q − r`` (each summing to 0) of a ``(B, 2^p)`` array."""
    if p <= MAX_ENUMERATED_BITS:
        return np.asarray(np.maximum((diffs @ dual_vertices(p).T).max(axis=1), 0.0))
    return np.asarray(_hamming_emd_ssp(np.ascontiguousarray(diffs, dtype=np.float64), p))


def hamming_emd_min(diffs: Array, p: int) -> float:
    """``min`` over rows of the Hamming EMD, solving as few exact transports as the bounds allow."""
    return float(_hamming_emd_ssp_min(np.ascontiguousarray(diffs, dtype=np.float64), p))


def transport_cost(source: Array, target: Array, cost: Array) -> float:
    """Optimal transport cost between non-negative masses of equal total (balanced EMD).

    HiGHS without presolve: on these small dense transports presolve costs as much
    as the solve and the optimum is the same (to 1e-14 on the 6-node benchmark's 62 cuts).
    """
    a, b = source.shape[0], target.shape[0]
    rows = scipy.sparse.kron(scipy.sparse.eye(a), np.ones((1, b)))
    cols = scipy.sparse.kron(np.ones((1, a)), scipy.sparse.eye(b))
    a_eq = scipy.sparse.vstack([rows, cols]).tocsr()
    res = scipy.optimize.linprog(
        cost.ravel(),
        A_eq=a_eq,
        b_eq=np.concatenate([source, target]),
        bounds=(0, None),
        method="highs",
        options={"presolve": False},
    )
    return float(res.fun)
