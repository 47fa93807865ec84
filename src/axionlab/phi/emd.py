"""Earth mover's distances used by IIT 3.0.

Hamming EMD between distributions on ``{0, 1}^p`` is solved through its Kantorovich dual,
``max_f Σ_x f(x) (q(x) − r(x))`` over 1-Lipschitz ``f`` (Hamming metric). The constraint matrix is
a graph incidence matrix, so the optimum is attained at an integer vertex of that polytope: a
function whose tight edges (``|f(x) − f(y)| = 1``) connect the cube. For ``p ≤ 4`` we enumerate
those vertices (2, 6, 38 and 990 of them for p = 1..4) and the EMD of a whole batch of differences
is one matrix product. Larger cubes are solved in the primal as a min-cost flow on the cube's
edges (successive shortest paths, compiled), after a lower bound from lifted small-cube vertices
has pruned the candidates.
"""

from __future__ import annotations

import functools
import itertools

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
def hypercube_edges(p: int) -> NDArray[np.int64]:
    """``(p 2^(p-1), 2)`` edges ``(x, x + 2^i)`` of the p-cube."""
    xs = np.arange(2**p)
    pairs = [(x, x | (1 << i)) for i in range(p) for x in xs if not (x >> i) & 1]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


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


@functools.cache
def _lower_bound_functions(p: int) -> Array:
    """Lipschitz functions for p > 4: a small-cube vertex on some bits plus ±x_i on the rest."""
    q = MAX_ENUMERATED_BITS if p <= 5 else 3
    base = dual_vertices(q)
    states = (np.arange(2**p)[:, None] >> np.arange(p)[None, :]) & 1  # (2^p, p)
    rows = []
    for subset in itertools.combinations(range(p), q):
        rest = [i for i in range(p) if i not in subset]
        code = states[:, list(subset)] @ (1 << np.arange(q))
        lifted = base[:, code]  # (V, 2^p)
        for signs in itertools.product((-1.0, 1.0), repeat=len(rest)):
            rows.append(lifted + states[:, rest] @ np.array(signs))
    return np.concatenate(rows, axis=0)


_EPS = 1e-14  # masses below this are treated as zero (inputs are probabilities)


@njit(cache=True)
def _hamming_emd_ssp(diffs, p):  # type: ignore[no-untyped-def]
    """Exact Hamming EMDs of the rows of ``diffs`` by successive shortest paths on the p-cube.

    Hamming distance is the shortest-path metric of the cube graph, so the transport problem is
    an uncapacitated min-cost flow on its ``p 2^(p-1)`` unit-cost edges. Each step runs Dijkstra on
    reduced costs from the node of largest excess to the nearest deficit and pushes along the path,
    cancelling opposite flow first (arc cost −1). Potentials stay integers, so the distances are
    exact; the cost is the total flow.
    """
    rows, n = diffs.shape
    out = np.empty(rows)
    excess = np.empty(n)
    flow = np.empty((n, p))  # flow[u, i]: mass on the arc u -> u ^ (1 << i)
    potential = np.empty(n)
    dist = np.empty(n)
    settled = np.empty(n, np.bool_)
    prev = np.empty(n, np.int64)
    prev_bit = np.empty(n, np.int64)
    for r in range(rows):
        excess[:] = diffs[r]
        flow[:] = 0.0
        potential[:] = 0.0
        while True:
            s = np.argmax(excess)
            if excess[s] <= _EPS:
                break
            dist[:] = np.inf
            settled[:] = False
            dist[s] = 0.0
            t = -1
            for _ in range(n):
                u = -1
                best = np.inf
                for v in range(n):
                    if not settled[v] and dist[v] < best:
                        best = dist[v]
                        u = v
                if u < 0:
                    break
                settled[u] = True
                if excess[u] < -_EPS:
                    t = u
                    break
                for i in range(p):
                    v = u ^ (1 << i)
                    if settled[v]:
                        continue
                    arc_cost = -1.0 if flow[v, i] > _EPS else 1.0
                    d = dist[u] + arc_cost + potential[u] - potential[v]
                    if d < dist[v]:
                        dist[v] = d
                        prev[v] = u
                        prev_bit[v] = i
            if t < 0:  # unbalanced input: nothing left to send the excess to
                break
            for v in range(n):
                potential[v] += dist[v] if settled[v] else dist[t]
            push = min(excess[s], -excess[t])
            v = t
            while v != s:
                if flow[v, prev_bit[v]] > _EPS:
                    push = min(push, flow[v, prev_bit[v]])
                v = prev[v]
            v = t
            while v != s:
                u, i = prev[v], prev_bit[v]
                if flow[v, i] > _EPS:
                    flow[v, i] -= push
                    if flow[v, i] <= _EPS:
                        flow[v, i] = 0.0
                else:
                    flow[u, i] += push
                v = u
            excess[s] -= push
            excess[t] += push
            if abs(excess[s]) <= _EPS:
                excess[s] = 0.0
            if abs(excess[t]) <= _EPS:
                excess[t] = 0.0
        out[r] = flow.sum()
    return out


def hamming_emd_batch(diffs: Array, p: int) -> Array:
    """Exact Hamming EMDs of rows ``q − r`` (each summing to 0) of a ``(B, 2^p)`` array."""
    if p <= MAX_ENUMERATED_BITS:
        return np.asarray(np.maximum((diffs @ dual_vertices(p).T).max(axis=1), 0.0))
    return np.asarray(_hamming_emd_ssp(np.ascontiguousarray(diffs, dtype=np.float64), p))


def hamming_emd_min(diffs: Array, p: int) -> float:
    """``min`` over rows of the Hamming EMD, solving as few exact transports as the bounds allow."""
    # the coordinate functions ±x_i give the cheap bound Σ_i |marginal gap_i|
    states = (np.arange(2**p)[:, None] >> np.arange(p)[None, :]) & 1
    lower = np.abs(diffs @ states).sum(axis=1)
    first = int(np.argmin(lower))
    best = float(hamming_emd_batch(diffs[first : first + 1], p)[0])
    rest = diffs[lower < best - 1e-12]
    if rest.shape[0] == 0:
        return best
    if p <= MAX_ENUMERATED_BITS:
        return min(best, float(hamming_emd_batch(rest, p).min()))
    # larger cubes: exact flows only for the rows that the lifted small-cube bound keeps
    strong = (rest @ _lower_bound_functions(p).T).max(axis=1)
    rest = rest[strong < best - 1e-12]
    return min(best, float(hamming_emd_batch(rest, p).min())) if rest.shape[0] else best


def transport_cost(source: Array, target: Array, cost: Array) -> float:
    """Optimal transport cost between non-negative masses of equal total (balanced EMD)."""
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
    )
    return float(res.fun)
