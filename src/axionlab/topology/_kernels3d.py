"""Numba kernels for the sublevel persistence of a 3-D grid in the vertex (V) construction.

Cells are vertices, axis edges, squares and cubes of the grid; a cell's value is the largest of
its vertices'. Every cell is filed under its *top vertex* (the vertex of highest ``(value,
index)`` rank among its corners, so the cell enters with it: the lower star), and cells are
ordered by ``(rank of the top vertex, dimension, cell id)``, a filtration refining the values, so
the three passes below see one and the same total order:

1. H0: union-find over vertices along the edges of each lower star (elder rule). An edge that
   joins two components is *negative*; the others are *positive* and create H1 classes.
2. H2 by duality: union-find, in the reverse order, over the cubes plus one outside node, joined
   across squares (a square between a cube and the outside joins that cube to it). A square that
   joins two dual components creates a void that dies at the younger component's first cube
   (the top-dimension pass of Kaji, Sudo & Ahara, "Cubical Ripser", 2020; the lower-star order
   is that of Wagner, Chen & Vuçini, "Efficient computation of persistent homology for cubical
   data", 2012). A dual root is the first cube of its component, so the elder is found from the
   cubes' top ranks. Every other square is negative in dimension 1; they are listed as they come,
   and pass 3 reads the list backwards, in ascending order, without enumerating stars again.
3. H1 by matrix reduction of the negative squares only (clearing: Chen & Kerber, "Persistent
   homology computation with a twist", 2011), over the rows of positive edges only: a negative
   edge is never the lowest entry of a column during the reduction, so dropping its row changes
   no pivot. A column whose lowest edge is still free is an apparent pair and is not copied; the
   other reduced columns are kept in a pool.

Cell ids: edge ``3 * u + a`` joins vertex ``u`` and ``u + stride[a]``; square ``3 * u + p`` has
lowest vertex ``u`` and normal axis ``p``; cube ``u`` has lowest vertex ``u``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from axionlab.topology._kernels import _find

_NONE = -1
_AHEAD = 32  # vertices ahead in the order whose stars are prefetched


def _prefetch_hint(typingctx, array, index):  # type: ignore[no-untyped-def]
    """Hint the CPU to load ``array[index]`` into the cache (the passes are DRAM-latency bound)."""

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        kind = signature.args[0]
        view = context.make_array(kind)(context, builder, args[0])
        item = cgutils.get_item_pointer(context, builder, kind, view, [args[1]])  # type: ignore[no-untyped-call]
        pointer = builder.bitcast(item, ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        hint = ir.FunctionType(ir.VoidType(), [pointer.type, i32, i32, i32])
        function = cgutils.get_or_insert_function(builder.module, hint, "llvm.prefetch.p0")  # type: ignore[no-untyped-call]
        read, keep, data = (ir.Constant(i32, c) for c in (0, 3, 1))  # llvm.prefetch's hints
        builder.call(function, [pointer, read, keep, data])
        return context.get_dummy_value()

    return types.void(array, index), codegen


_prefetch: Any = intrinsic(_prefetch_hint)  # called from kernels as _prefetch(array, index)


# The corners of a cell around a vertex (bit a: one step down axis a) by decreasing offset.
_CORNERS = (7, 3, 5, 1, 6, 2, 4, 0)


@njit(cache=True, inline="always")
def _coordinate(u, axis, shape, strides):  # type: ignore[no-untyped-def]
    return (u // strides[axis]) % shape[axis]


@njit(cache=True, inline="always")
def _other_axes(p):  # type: ignore[no-untyped-def]
    return (1, 2) if p == 0 else ((0, 2) if p == 1 else (0, 1))


@njit(cache=True, inline="always")
def _square_edges(sq, strides, out):  # type: ignore[no-untyped-def]
    u = sq // 3
    i, j = _other_axes(sq % 3)
    out[0] = 3 * u + i
    out[1] = 3 * u + j
    out[2] = 3 * (u + strides[j]) + i
    out[3] = 3 * (u + strides[i]) + j


@njit(cache=True)
def _edge_top(e, rank, strides):  # type: ignore[no-untyped-def]
    u = e // 3
    return max(rank[u], rank[u + strides[e % 3]])


@njit(cache=True, inline="always")
def _coordinates(k, shape, strides):  # type: ignore[no-untyped-def]
    return k // strides[0], _coordinate(k, 1, shape, strides), k % shape[2]


@njit(cache=True)
def _edge_star(k, t, rank, shape, strides, out):  # type: ignore[no-untyped-def]
    """Ids of the edges whose top vertex is ``k`` (rank ``t``), ascending, in ``out``."""
    count = 0
    at = _coordinates(k, shape, strides)
    for a in range(3):  # edges to lower neighbours first: their ids 3 * (k - stride) + a ascend
        if at[a] > 0 and rank[k - strides[a]] < t:
            out[count] = 3 * (k - strides[a]) + a
            count += 1
    for a in range(3):
        if at[a] < shape[a] - 1 and rank[k + strides[a]] < t:
            out[count] = 3 * k + a
            count += 1
    return count


@njit(cache=True)
def _cell_star(k, t, top, shape, strides, cubes, out):  # type: ignore[no-untyped-def]
    """Ids of the squares (cubes with ``cubes``) whose top vertex is ``k`` (rank ``t``), ascending.

    ``top`` holds the top-vertex rank of every such cell; they are written to ``out``.
    """
    count = 0
    at = _coordinates(k, shape, strides)  # once, not per corner
    for corner in _CORNERS:  # lowest vertex u = k - offset ascending, so ids 3 * u + p ascend
        for p in range(1 if cubes else 3):  # a square's normal axis; cubes span all three
            u = k
            ok = True
            for a in range(3):
                d = corner >> a & 1
                if cubes or a != p:
                    ok = ok and d <= at[a] < shape[a] - 1 + d
                    u -= d * strides[a]
                else:
                    ok = ok and d == 0
            cell = u if cubes else 3 * u + p
            if ok and top[cell] == t:
                out[count] = cell
                count += 1
    return count


@njit(cache=True)
def _tops(rank, shape, strides):  # type: ignore[no-untyped-def]
    """Rank of the top vertex of every square and cube (one sequential sweep over the grid)."""
    n = rank.size
    square_top = np.full(3 * n, -1, np.int32)
    cube_top = np.full(n, -1, np.int32)
    for u in range(n):
        inside = (
            u // strides[0] < shape[0] - 1,
            _coordinate(u, 1, shape, strides) < shape[1] - 1,
            u % shape[2] < shape[2] - 1,
        )
        for p in range(3):
            i, j = _other_axes(p)
            if inside[i] and inside[j]:
                square_top[3 * u + p] = max(
                    max(rank[u], rank[u + strides[i]]),
                    max(rank[u + strides[j]], rank[u + strides[i] + strides[j]]),
                )
        if inside[0] and inside[1] and inside[2]:
            top = rank[u]
            for v in range(1, 8):
                w = u + (v >> 2 & 1) * strides[0] + (v >> 1 & 1) * strides[1] + (v & 1)
                top = max(top, rank[w])
            cube_top[u] = top
    return square_top, cube_top


@njit(cache=True)
def _h0(flat, order, rank, shape, strides, positive):  # type: ignore[no-untyped-def]
    n = flat.size
    parent = np.empty(n, np.int32)
    births = np.empty(n, np.float64)
    deaths = np.empty(n, np.float64)
    star = np.empty(6, np.int64)
    m = 0
    for t in range(n):
        k = order[t]
        if t + _AHEAD < n:
            ahead = order[t + _AHEAD]
            for u in (ahead - strides[0], ahead - strides[1], ahead, ahead + strides[1]):
                if 0 <= u < n:
                    _prefetch(rank, u)
                    _prefetch(parent, u)
            if ahead + strides[0] < n:
                _prefetch(rank, ahead + strides[0])
                _prefetch(parent, ahead + strides[0])
        parent[k] = k
        a = k  # the root of k's component, kept up to date instead of found per edge
        for s in range(_edge_star(k, t, rank, shape, strides, star)):
            e = star[s]
            u = e // 3
            q = u if u != k else u + strides[e % 3]
            b = _find(parent, q)
            if a == b:
                positive[e] = True
                continue
            young, old = (a, b) if rank[a] > rank[b] else (b, a)
            parent[young] = old
            a = old
            births[m] = flat[young]  # a root is its component's first vertex
            deaths[m] = flat[k]
            m += 1
    return births[:m], deaths[:m]


@njit(cache=True)
def _h2(flat, order, square_top, cube_top, shape, strides):  # type: ignore[no-untyped-def]
    """H2 pairs; each positive square (it creates a void) is marked ``-2 - top`` in
    ``square_top`` (a cube root is its component's first cube)."""
    n = flat.size
    outside = n
    parent = np.arange(n + 1).astype(np.int32)
    births = np.empty(n, np.float64)
    deaths = np.empty(n, np.float64)
    star = np.empty(12, np.int64)
    m = 0
    for t in range(n - 1, -1, -1):
        k = order[t]
        if t >= _AHEAD:
            ahead = order[t - _AHEAD]
            for u in (
                ahead,
                ahead - strides[1],
                ahead - strides[0],
                ahead - strides[0] - strides[1],
            ):
                if u >= 0:
                    _prefetch(square_top, 3 * u)
                    _prefetch(parent, u)
        for s in range(_cell_star(k, t, square_top, shape, strides, False, star) - 1, -1, -1):
            sq = star[s]
            u = sq // 3
            p = sq % 3
            c = _coordinate(u, p, shape, strides)
            a = _find(parent, u if c < shape[p] - 1 else outside)
            b = _find(parent, u - strides[p] if c > 0 else outside)
            if a == b:
                continue
            # The elder root was born first in this descending order: larger (top rank, id).
            if b != outside and (a == outside or (cube_top[a], a) > (cube_top[b], b)):
                a, b = b, a
            parent[a] = b
            square_top[sq] = -2 - t  # positive: no later star reads it again (its top is t)
            births[m] = flat[k]
            deaths[m] = flat[order[cube_top[a]]]
            m += 1
    return births[:m], deaths[:m]


@njit(cache=True)
def _push(heap, size, key):  # type: ignore[no-untyped-def]
    if size == heap.size:
        grown = np.empty(2 * heap.size, np.int64)
        grown[:size] = heap[:size]
        heap = grown
    i = size
    heap[i] = key
    while i > 0 and heap[(i - 1) // 2] < heap[i]:
        j = (i - 1) // 2
        heap[i], heap[j] = heap[j], heap[i]
        i = j
    return heap, size + 1


@njit(cache=True)
def _pop(heap, size):  # type: ignore[no-untyped-def]
    top = heap[0]
    size -= 1
    heap[0] = heap[size]
    i = 0
    while True:
        big = i
        for c in (2 * i + 1, 2 * i + 2):
            if c < size and heap[c] > heap[big]:
                big = c
        if big == i:
            return top, size
        heap[i], heap[big] = heap[big], heap[i]
        i = big


@njit(cache=True)
def _pivot(heap, size):  # type: ignore[no-untyped-def]
    """Largest key of odd multiplicity (Z/2), left on top of the heap; -1 for a zero column."""
    while size > 0:
        top, size = _pop(heap, size)
        if size > 0 and heap[0] == top:
            _, size = _pop(heap, size)
            continue
        heap, size = _push(heap, size, top)
        return top, heap, size
    return _NONE, heap, size


@njit(cache=True, inline="always")
def _first_cofacet(e, at, t, sq, square_top, shape, strides):  # type: ignore[no-untyped-def]
    """Whether the negative square ``sq`` (top rank ``t``) precedes every other negative square on
    the edge ``e``, whose lowest vertex has the coordinates ``at``."""
    w = e // 3
    a = e % 3
    for p in range(3):
        if p == a:
            continue
        q = 3 - a - p  # the cofacet 3 * v + p spans axes a and q
        for v, ok in ((w, at[q] < shape[q] - 1), (w - strides[q], at[q] > 0)):
            if ok:
                c = 3 * v + p
                top = square_top[c]
                if top >= 0 and (top < t or (top == t and c < sq)):
                    return False
    return True


@njit(cache=True, inline="always")
def _top_corner(sq, t, rank, strides):  # type: ignore[no-untyped-def]
    """The vertex of rank ``t`` among the corners of square ``sq``."""
    u = sq // 3
    i, j = _other_axes(sq % 3)
    for v in (u, u + strides[i], u + strides[j], u + strides[i] + strides[j]):
        if rank[v] == t:
            return v
    return u


@njit(cache=True, inline="always")
def _edge_top_vertex(e, rank, strides):  # type: ignore[no-untyped-def]
    u, v = e // 3, e // 3 + strides[e % 3]
    return u if rank[u] > rank[v] else v


@njit(cache=True)
def _h1(flat, rank, square_top, shape, strides, positive):  # type: ignore[no-untyped-def]
    """H1 pairs of the negative squares (``square_top`` >= 0, H2 marked the positive ones).

    A raster sweep pairs each square with its youngest positive edge where it is that edge's
    oldest negative square (an apparent pair: no earlier column can hold the edge, so it is the
    pair whatever the order of the others); only the other squares are reduced, in ascending
    order. Zero-length pairs are not listed.
    """
    n = flat.size
    n_edges = 3 * n
    owner = np.full(n_edges, _NONE, np.int32)  # square id (its boundary) or -2 - pool column
    births = np.empty(n_edges, np.float64)
    deaths = np.empty(n_edges, np.float64)
    hard = np.empty(n_edges, np.int64)  # keys top rank * n_edges + id of the squares to reduce
    m = 0
    n_hard = 0
    for x in range(shape[0]):
        for y in range(shape[1]):
            for z in range(shape[2]):
                u = x * strides[0] + y * strides[1] + z
                for p in range(3):
                    sq = 3 * u + p
                    t = square_top[sq]
                    if t < 0:  # no square here, or a positive one
                        continue
                    i, j = _other_axes(p)
                    ui, uj = u + strides[i], u + strides[j]
                    r00, r10, r01, r11 = rank[u], rank[ui], rank[uj], rank[ui + strides[j]]
                    key = _NONE
                    lift = -1  # the axis one step up to the pivot edge's lowest vertex
                    for e, top, axis in (
                        (3 * u + i, max(r00, r10), -1),
                        (3 * u + j, max(r00, r01), -1),
                        (3 * uj + i, max(r01, r11), j),
                        (3 * ui + j, max(r10, r11), i),
                    ):
                        if positive[e] and top * n_edges + e > key:
                            key = top * n_edges + e
                            lift = axis
                    if key == _NONE:
                        raise RuntimeError("a negative square has no positive edge")
                    e = key % n_edges
                    at = (x + (lift == 0), y + (lift == 1), z + (lift == 2))
                    if not _first_cofacet(e, at, t, sq, square_top, shape, strides):
                        hard[n_hard] = t * n_edges + sq
                        n_hard += 1
                        continue
                    owner[e] = sq
                    birth = flat[_edge_top_vertex(e, rank, strides)]
                    death = flat[_top_corner(sq, t, rank, strides)]
                    if birth != death:
                        births[m] = birth
                        deaths[m] = death
                        m += 1
    hard = np.sort(hard[:n_hard])
    pool = np.empty(1024, np.int64)
    starts = np.zeros(1025, np.int64)
    n_pool = 0
    heap = np.empty(64, np.int64)
    edges = np.empty(4, np.int64)
    for h in range(n_hard):
        if h + _AHEAD < n_hard:
            ahead = hard[h + _AHEAD] % n_edges // 3
            for u in (
                ahead,
                ahead + strides[1],
                ahead + strides[0],
                ahead + strides[0] + strides[1],
            ):
                if u < n:
                    _prefetch(rank, u)
                    _prefetch(positive, 3 * u)
                    _prefetch(owner, 3 * u)
        sq = hard[h] % n_edges
        key = _NONE
        _square_edges(sq, strides, edges)
        for e in edges:
            if positive[e]:
                key = max(key, _edge_top(e, rank, strides) * n_edges + e)
        if owner[key % n_edges] == _NONE:  # the pivot is free: the column is the boundary itself
            owner[key % n_edges] = sq
        else:
            heap, pool, starts, key = _reduce(
                sq, owner, positive, rank, strides, heap, pool, starts, n_pool
            )
            owner[key % n_edges] = -2 - n_pool
            n_pool += 1
        birth = flat[_edge_top_vertex(key % n_edges, rank, strides)]
        death = flat[_top_corner(sq, hard[h] // n_edges, rank, strides)]
        if birth != death:
            births[m] = birth
            deaths[m] = death
            m += 1
    return births[:m], deaths[:m]


@njit(cache=True)
def _reduce(sq, owner, positive, rank, strides, heap, pool, starts, n_pool):  # type: ignore[no-untyped-def]
    """Reduce the column of square ``sq`` and store it as pool column ``n_pool``."""
    n_edges = owner.size
    edges = np.empty(4, np.int64)
    size = 0
    column = sq
    while True:
        if column >= 0:
            _square_edges(column, strides, edges)
            for e in edges:
                if positive[e]:
                    heap, size = _push(heap, size, _edge_top(e, rank, strides) * n_edges + e)
        else:
            c = -2 - column
            for j in range(starts[c], starts[c + 1]):
                heap, size = _push(heap, size, pool[j])
        key, heap, size = _pivot(heap, size)
        if key == _NONE:
            raise RuntimeError("a negative square reduced to zero")
        column = owner[key % n_edges]
        if column == _NONE:
            break
    end = starts[n_pool]
    while size > 0:
        entry, heap, size = _pivot(heap, size)
        if entry == _NONE:
            break
        _, size = _pop(heap, size)
        if end == pool.size:
            grown = np.empty(2 * pool.size, np.int64)
            grown[:end] = pool[:end]
            pool = grown
        pool[end] = entry
        end += 1
    if n_pool + 2 > starts.size:
        grown = np.zeros(2 * starts.size, np.int64)
        grown[: n_pool + 1] = starts[: n_pool + 1]
        starts = grown
    starts[n_pool + 1] = end
    return heap, pool, starts, key


@njit(cache=True)
def vertex_persistence(values, order, dims):  # type: ignore[no-untyped-def]
    """(births, deaths) of H0, H1, H2 of the V-construction of ``values`` (3-D, C order).

    ``order`` is the stable ascending argsort of the flat values; ``dims`` flags the dimensions
    wanted (H1 needs the other two passes' edge and square classes, so it runs all three).
    """
    shape = np.array(values.shape, np.int64)
    strides = np.array([shape[1] * shape[2], shape[2], 1], np.int64)
    flat = values.ravel()
    n = flat.size
    rank = np.empty(n, np.int32)
    rank[order] = np.arange(n)
    positive = np.zeros(3 * n, np.bool_)
    empty = np.empty(0, np.float64)
    b0, d0 = (
        _h0(flat, order, rank, shape, strides, positive) if dims[0] or dims[1] else (empty, empty)
    )
    square_top, cube_top = _tops(rank, shape, strides)
    b2, d2 = (
        _h2(flat, order, square_top, cube_top, shape, strides)
        if dims[1] or dims[2]
        else (empty, empty)
    )
    cube_top = np.empty(0, np.int32)  # freed before the reduction
    b1, d1 = _h1(flat, rank, square_top, shape, strides, positive) if dims[1] else (empty, empty)
    return b0, d0, b1, d1, b2, d2
