"""Numba kernels for sublevel-set H0 on grid tiles and on their merged trees (union-find with the
elder rule).

Every kernel processes cells in the total order ``(value, index)`` (ascending) or its exact reverse
(descending, used for the dual pass of H1), and breaks ties between roots with the same order, so
tile-local and global runs agree on which component is the elder.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros

_RADIX_BITS = 11
_RADIX_SIZE = 1 << _RADIX_BITS
_RADIX_PASSES = 6  # 6 * 11 >= 64


@njit(cache=True, inline="always")
def _key(value, bits):  # type: ignore[no-untyped-def]
    """Unsigned key of a float64 ``value`` with bit pattern ``bits``, in the order of the values
    (-0.0 and 0.0 share one key)."""
    sign = np.uint64(1) << np.uint64(63)
    b = np.uint64(0) if value == 0.0 else bits
    return ~b if b & sign else b | sign


@njit(cache=True)
def _float_keys(values):  # type: ignore[no-untyped-def]
    keys = np.empty(values.size, np.uint64)
    bits = values.view(np.uint64)
    for i in range(values.size):
        keys[i] = _key(values[i], bits[i])
    return keys


@njit(cache=True)
def _radix_sort(keys, payload):  # type: ignore[no-untyped-def]
    """``payload`` stably sorted by the unsigned ``keys`` (LSD radix sort; both are overwritten)."""
    n = keys.size
    counts = np.zeros((_RADIX_PASSES, _RADIX_SIZE), np.int64)
    mask = np.uint64(_RADIX_SIZE - 1)
    for i in range(n):
        k = keys[i]
        for p in range(_RADIX_PASSES):
            counts[p, (k >> np.uint64(p * _RADIX_BITS)) & mask] += 1
    tmp_keys = np.empty_like(keys)
    tmp_payload = np.empty_like(payload)
    offsets = np.empty(_RADIX_SIZE, np.int64)
    for p in range(_RADIX_PASSES):
        shift = np.uint64(p * _RADIX_BITS)
        if n == 0 or counts[p, (keys[0] >> shift) & mask] == n:
            continue  # this digit is constant: the pass would not move anything
        total = 0
        for d in range(_RADIX_SIZE):
            offsets[d] = total
            total += counts[p, d]
        for i in range(n):
            k = keys[i]
            d = (k >> shift) & mask
            j = offsets[d]
            offsets[d] = j + 1
            tmp_keys[j] = k
            tmp_payload[j] = payload[i]
        keys, tmp_keys = tmp_keys, keys
        payload, tmp_payload = tmp_payload, payload
    return payload


@njit(cache=True)
def stable_argsort(values):  # type: ignore[no-untyped-def]
    """Stable ascending argsort of a float64 vector."""
    return _radix_sort(_float_keys(values), np.arange(values.size))


@njit(cache=True, inline="always")
def _find(parent, x):  # type: ignore[no-untyped-def]
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


# A root stores ``-3 - t`` (t = the step at which its component was born; -2 for the frame node of
# ``tile_h0``), so the elder of two roots is found without touching the values; in the merge tree's
# union-find -1 marks an unprocessed cell.
_UNSEEN = -1


@njit(cache=True, inline="always")
def _find_root(parent, x):  # type: ignore[no-untyped-def]
    while True:
        p = parent[x]
        if p < 0:
            return x
        gp = parent[p]
        if gp < 0:
            return p
        parent[x] = gp
        x = gp


# A cell's neighbours as (row, column) steps around it, bit b for step b: consecutive ones are
# adjacent, and every other one (the odd bits) is an axis neighbour. Steps 0-2 and 7 point to
# lower indices.
_STEPS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))
_AXES = np.uint32(0b10101010)


@njit(cache=True, inline="always")
def _offsets(width):  # type: ignore[no-untyped-def]
    offsets = np.empty(8, np.int64)
    for b in range(8):
        offsets[b] = _STEPS[b][0] * width + _STEPS[b][1]
    return offsets


@njit(cache=True, inline="always")
def _run_starts(seen, conn8):  # type: ignore[no-untyped-def]
    """One neighbour bit per run of seen neighbours that are connected around the cell (one find
    per run instead of per neighbour): 8-adjacent steps are; two axis steps are through the seen
    diagonal between them."""
    turned = ((seen << np.uint32(1)) | (seen >> np.uint32(7))) & np.uint32(0xFF)
    if conn8:
        starts = seen & ~turned
    else:
        seen, diagonals = seen & _AXES, turned
        turned = ((seen << np.uint32(2)) | (seen >> np.uint32(6))) & np.uint32(0xFF)
        starts = seen & ~(turned & diagonals)
    return starts if starts or not seen else seen & (np.uint32(0) - seen)  # one run all around


@njit(cache=True)
def prepare_tile(tile, r0, c0, nrows, ncols):  # type: ignore[no-untyped-def]
    """The (h, w) tile (any float array) with corner (r0, c0) of an (nrows, ncols) grid in the
    padded layout of ``tile_h0`` (a ring of cells around it), computed once for both passes.

    Returns the cells' padded indices in ascending ``(value, index)`` order, the padded values and,
    per cell, the bits of its neighbours that come before it in the ascending pass (``before``:
    tile cells of lower order) and in the descending one (``after``: tile cells of higher order
    and ring cells outside the grid, which the dual pass joins into the +inf frame). Comparing
    values here, in raster order, is what lets the passes skip the neighbours not yet seen
    without a branch per neighbour.
    """
    h, w = tile.shape
    width = w + 2
    size = (h + 2) * width
    padded = np.empty(h * w, np.int32)
    values = np.full(size, np.inf)
    for i in range(h):
        for j in range(w):
            padded[i * w + j] = (i + 1) * width + j + 1
            values[(i + 1) * width + j + 1] = tile[i, j]
    keys = np.empty(h * w, np.uint64)
    bits = values.view(np.uint64)
    for t in range(h * w):
        keys[t] = _key(values[padded[t]], bits[padded[t]])
    order = _radix_sort(keys, padded)
    offsets = _offsets(width)
    before = np.zeros(size, np.uint8)
    for b in (0, 1, 2, 7):  # branch-free, so it vectorises; ties go to the lower index
        o, bit = offsets[b], np.uint8(b)
        for k in range(width, size - width):
            before[k] |= np.uint8(values[k + o] <= values[k]) << bit
    for b in range(3, 7):
        o, bit = offsets[b], np.uint8(b)
        for k in range(width, size - width):
            before[k] |= np.uint8(values[k + o] < values[k]) << bit
    after = ~before
    outside = (r0 == 0, r0 + h == nrows, c0 == 0, c0 + w == ncols)
    for i in range(1, h + 1):
        step = 1 if i == 1 or i == h else max(w - 1, 1)  # border cells only
        for j in range(1, w + 1, step):
            k = i * width + j
            for b in range(8):
                ii, jj = i + _STEPS[b][0], j + _STEPS[b][1]
                if 0 < ii <= h and 0 < jj <= w:
                    continue
                bit = np.uint8(1 << b)
                before[k] &= ~bit
                ring_outside = (
                    (ii == 0 and outside[0])
                    or (ii == h + 1 and outside[1])
                    or (jj == 0 and outside[2])
                    or (jj == w + 1 and outside[3])
                )
                after[k] = after[k] | bit if ring_outside else after[k] & ~bit
    return order, values, before, after


@njit(cache=True)
def tile_h0(values, order, bits, conn8, descending, frame, h, w, r0, c0, nrows, ncols):  # type: ignore[no-untyped-def]
    """H0 of the (h, w) tile with corner (r0, c0) of an (nrows, ncols) grid, from ``prepare_tile``.

    Cells are processed along ``order``, reversed when ``descending``, each joined to the
    neighbours that ``bits`` (``before`` or ``after``) marks, all eight or the axis ones. With
    ``frame`` the cells around the grid form one node F (value +inf) present from the start: the
    +inf frame of the duality construction, never materialised. Returns ``(pairs, ids, vals,
    tree)``: the (n, 2) *final* pairs, (death, birth) when ``descending`` (dying component never
    contained a tile-border cell; zero-length dropped), and the contracted merge tree of the other
    components: global cell ids (``nrows * ncols`` is F), values and each node's parent position
    (-1: root).
    """
    n = h * w
    width = w + 2
    frame_node = (h + 2) * width
    offsets = _offsets(width)
    parent = np.empty(frame_node + 1, np.int32)
    terminal = np.zeros(frame_node + 1, np.bool_)  # tile-border cells and F
    if frame:  # the ring cells outside the grid are F (the others are never joined)
        parent[:frame_node] = frame_node
    for jj in range(width):
        terminal[width + jj] |= r0 > 0
        terminal[frame_node - 2 * width + jj] |= r0 + h < nrows
    for ii in range(h + 2):
        terminal[ii * width + 1] |= c0 > 0
        terminal[ii * width + w] |= c0 + w < ncols
    births = np.empty(n, np.float64)
    deaths = np.empty(n, np.float64)
    n_pairs = 0
    touched = np.zeros(frame_node + 1, np.bool_)
    top = np.empty(frame_node + 1, np.int32)
    tree_parent = np.full(frame_node + 1, -1, np.int32)
    pruned = np.zeros(frame_node + 1, np.bool_)
    nodes = np.empty(n + 1, np.int32)
    n_nodes = 0
    if frame:
        parent[frame_node] = -2
        touched[frame_node] = True
        terminal[frame_node] = True
        top[frame_node] = frame_node
        nodes[0] = frame_node
        n_nodes = 1
    for t in range(n):
        kp = order[n - 1 - t] if descending else order[t]
        elder = -1
        merged = False
        inherits = False  # a root merged away here had touched the border
        m = _run_starts(np.uint32(bits[kp]), conn8)
        while m:
            q = kp + offsets[trailing_zeros(m)]  # type: ignore[call-arg]
            m &= m - np.uint32(1)
            r = _find_root(parent, q)
            if r == elder:
                continue
            if elder < 0:
                elder = r
                continue
            merged = True
            if parent[r] > parent[elder]:
                r, elder = elder, r
            parent[r] = elder
            tree_parent[top[r]] = kp
            # touched is only written after the loop, so it reads as before this cell.
            if touched[r]:
                inherits = True
            else:
                pruned[top[r]] = True
                if values[r] != values[kp]:  # F never dies: it is the eldest
                    births[n_pairs] = values[r]
                    deaths[n_pairs] = values[kp]
                    n_pairs += 1
        border = terminal[kp]
        if elder < 0:
            parent[kp] = -3 - t
            touched[kp] = border
            top[kp] = kp
            nodes[n_nodes] = kp
            n_nodes += 1
            continue
        parent[kp] = elder
        if inherits or border:
            touched[elder] = True
        if merged or border:
            nodes[n_nodes] = kp
            n_nodes += 1
            tree_parent[top[elder]] = kp
            top[elder] = kp
    found = _oriented(births[:n_pairs], deaths[:n_pairs], descending)
    local, tree = _contract(nodes[:n_nodes], tree_parent, pruned, terminal)
    ids = np.empty(local.size, np.int64)
    vals = np.empty(local.size, np.float64)
    for m in range(local.size):
        x = local[m]
        row = x // width - 1
        ids[m] = (
            nrows * ncols
            if x == frame_node
            else (r0 + row) * ncols + c0 + x - (row + 1) * width - 1
        )
        vals[m] = np.inf if x == frame_node else values[x]
    return found, ids, vals, tree


@njit(cache=True)
def _oriented(births, deaths, descending):  # type: ignore[no-untyped-def]
    """(n, 2) pairs, (death, birth) when ``descending`` (the dual pass maps them to H1 so)."""
    found = np.empty((births.size, 2), np.float64)
    found[:, int(descending)] = births
    found[:, 1 - int(descending)] = deaths
    return found


@njit(cache=True)
def _contract(nodes, tree_parent, pruned, terminal):  # type: ignore[no-untyped-def]
    """Drop pruned branches and pass-through nodes; return (local ids, parent positions)."""
    size = tree_parent.size
    kept = np.zeros(size, np.bool_)
    children = np.zeros(size, np.int32)
    for t in range(nodes.size - 1, -1, -1):  # parents are created after their children
        x = nodes[t]
        p = tree_parent[x]
        kept[x] = not pruned[x] and (p < 0 or kept[p])
        if kept[x] and p >= 0:
            children[p] += 1
    position = np.full(size, -1, np.int32)
    count = 0
    for t in range(nodes.size):
        x = nodes[t]
        if kept[x] and (terminal[x] or children[x] != 1):
            position[x] = count
            count += 1
    out_ids = np.empty(count, np.int32)
    out_parent = np.empty(count, np.int32)
    for t in range(nodes.size):
        x = nodes[t]
        if position[x] < 0:
            continue
        p = tree_parent[x]
        while p >= 0 and position[p] < 0:
            p = tree_parent[p]
        out_ids[position[x]] = x
        out_parent[position[x]] = position[p] if p >= 0 else -1
    return out_ids, out_parent


@njit(cache=True)
def merge_h0(ids, vals, above, edge_u, edge_v, descending, box, nrows, ncols):  # type: ignore[no-untyped-def]
    """H0 of merge-tree nodes glued by extra edges, in the format of ``tile_h0``.

    ``ids`` and ``vals`` list the nodes (global cell ids; equal ids, as the frame's in several
    trees, are one node), ``above`` each entry's parent entry (-1: none) and ``edge_u``,
    ``edge_v`` the cell ids joined by cross-tile edges. Nodes are processed in ``(value, id)``
    order, reversed when ``descending``. The nodes are the cells of the tile ``box`` (r0, r1, c0,
    c1) of an (nrows, ncols) grid: pairs whose component touched the box border towards the rest
    of the grid (or the frame) are left to the returned contracted tree, as in ``tile_h0``.
    """
    n = ids.size
    by_id = _radix_sort(ids.astype(np.uint64), np.arange(n))
    sorted_ids = ids[by_id]
    order = _radix_sort(_float_keys(vals[by_id]), by_id.copy())
    # A node's index is its rank in the processing order, so the elder of two roots is the one
    # with the smaller index (the larger when descending).
    node = np.empty(n, np.int64)
    node_ids = np.empty(n, np.int64)
    node_vals = np.empty(n, np.float64)
    m = -1
    for t in range(n):
        e = order[t]
        if t == 0 or ids[e] != ids[order[t - 1]]:
            m += 1
            node_ids[m] = ids[e]
            node_vals[m] = vals[e]
        node[e] = m
    m += 1
    indptr, neighbours = _adjacency(
        node,
        above,
        node[by_id[np.searchsorted(sorted_ids, edge_u)]],
        node[by_id[np.searchsorted(sorted_ids, edge_v)]],
        m,
    )
    r0, r1, c0, c1 = box
    terminal = np.empty(m, np.bool_)
    for u in range(m):
        row, col = node_ids[u] // ncols, node_ids[u] % ncols
        terminal[u] = (
            node_ids[u] == nrows * ncols
            or (row == r0 and r0 > 0)
            or (row == r1 - 1 and r1 < nrows)
            or (col == c0 and c0 > 0)
            or (col == c1 - 1 and c1 < ncols)
        )
    parent = np.empty(m, np.int64)
    births = np.empty(m, np.float64)
    deaths = np.empty(m, np.float64)
    n_pairs = 0
    touched = np.zeros(m, np.bool_)
    top = np.empty(m, np.int64)
    tree_parent = np.full(m, -1, np.int64)
    pruned = np.zeros(m, np.bool_)
    nodes = np.empty(m, np.int64)
    n_nodes = 0
    for t in range(m):
        u = m - 1 - t if descending else t
        elder = -1
        merged = False
        inherits = False
        for e in range(indptr[u], indptr[u + 1]):
            q = neighbours[e]
            if (q <= u) if descending else (q >= u):  # not processed yet (or a self-loop)
                continue
            r = _find_root(parent, q)
            if r == elder:
                continue
            if elder < 0:
                elder = r
                continue
            merged = True
            if parent[r] > parent[elder]:
                r, elder = elder, r
            parent[r] = elder
            tree_parent[top[r]] = u
            if touched[r]:
                inherits = True
            else:
                pruned[top[r]] = True
                if node_vals[r] != node_vals[u]:
                    births[n_pairs] = node_vals[r]
                    deaths[n_pairs] = node_vals[u]
                    n_pairs += 1
        border = terminal[u]
        if elder < 0:
            parent[u] = -3 - t
            touched[u] = border
            top[u] = u
            nodes[n_nodes] = u
            n_nodes += 1
            continue
        parent[u] = elder
        if inherits or border:
            touched[elder] = True
        if merged or border:
            nodes[n_nodes] = u
            n_nodes += 1
            tree_parent[top[elder]] = u
            top[elder] = u
    local, tree = _contract(nodes[:n_nodes], tree_parent, pruned, terminal)
    return (
        _oriented(births[:n_pairs], deaths[:n_pairs], descending),
        node_ids[local],
        node_vals[local],
        tree,
    )


@njit(cache=True)
def _adjacency(node, above, cross_u, cross_v, m):  # type: ignore[no-untyped-def]
    """CSR adjacency of ``m`` nodes: tree edges (entry -> ``above`` entry) and cross edges."""
    n_tree = 0
    for e in range(node.size):
        n_tree += above[e] >= 0
    n_edges = n_tree + cross_u.size
    src = np.empty(n_edges, np.int64)
    dst = np.empty(n_edges, np.int64)
    k = 0
    for e in range(node.size):
        if above[e] >= 0:
            src[k] = node[e]
            dst[k] = node[above[e]]
            k += 1
    src[n_tree:] = cross_u
    dst[n_tree:] = cross_v
    indptr = np.zeros(m + 1, np.int64)
    for e in range(n_edges):
        indptr[src[e] + 1] += 1
        indptr[dst[e] + 1] += 1
    for u in range(m):
        indptr[u + 1] += indptr[u]
    fill = indptr[:-1].copy()
    neighbours = np.empty(2 * n_edges, np.int64)
    for e in range(n_edges):
        neighbours[fill[src[e]]] = dst[e]
        fill[src[e]] += 1
        neighbours[fill[dst[e]]] = src[e]
        fill[dst[e]] += 1
    return indptr, neighbours
