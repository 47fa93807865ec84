"""Numba kernels for sublevel-set H0 on grids and graphs (union-find with the elder rule).

Every kernel processes cells in the total order ``(value, index)`` (ascending) or its exact reverse
(descending, used for the dual pass of H1), and breaks ties between roots with the same order, so
tile-local and global runs agree on which component is the elder.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_RADIX_BITS = 11
_RADIX_SIZE = 1 << _RADIX_BITS
_RADIX_PASSES = 6  # 6 * 11 >= 64


@njit(cache=True)
def stable_argsort(values):  # type: ignore[no-untyped-def]
    """Stable ascending argsort of a float64 vector (LSD radix sort on order-preserving keys)."""
    n = values.size
    keys = np.empty(n, np.uint64)
    bits = values.view(np.uint64)
    sign = np.uint64(1) << np.uint64(63)
    for i in range(n):
        b = bits[i]
        if values[i] == 0.0:  # -0.0 and 0.0 are equal values: give them one key
            b = np.uint64(0)
        keys[i] = ~b if b & sign else b | sign
    counts = np.zeros((_RADIX_PASSES, _RADIX_SIZE), np.int64)
    mask = np.uint64(_RADIX_SIZE - 1)
    for i in range(n):
        k = keys[i]
        for p in range(_RADIX_PASSES):
            counts[p, (k >> np.uint64(p * _RADIX_BITS)) & mask] += 1
    order = np.arange(n).astype(np.int64)
    tmp_keys = np.empty(n, np.uint64)
    tmp_order = np.empty(n, np.int64)
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
            tmp_order[j] = order[i]
        keys, tmp_keys = tmp_keys, keys
        order, tmp_order = tmp_order, order
    return order


@njit(cache=True, inline="always")
def _older(vals, ids, a, b, descending):  # type: ignore[no-untyped-def]
    va = vals[a]
    vb = vals[b]
    if descending:
        return va > vb or (va == vb and ids[a] > ids[b])
    return va < vb or (va == vb and ids[a] < ids[b])


@njit(cache=True, inline="always")
def _find(parent, x):  # type: ignore[no-untyped-def]
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


# In ``tile_h0`` a root stores ``-3 - t`` (t = the step at which its component was born; -2 for
# the frame node), so the elder of two roots is found without touching the values, and -1 marks an
# unprocessed cell.
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


@njit(cache=True)
def tile_h0(values, descending, conn8, frame, r0, c0, nrows, ncols):  # type: ignore[no-untyped-def]
    """H0 of one C-contiguous tile ``values`` (h, w) of an (nrows, ncols) grid with corner (r0, c0).

    Cells are processed in ``(value, index)`` order, reversed when ``descending``. With ``frame``
    the cells around the grid form one node F (value +inf) present from the start: the +inf frame
    of the duality construction, never materialised. Returns ``(births, deaths, ids, tree)``:
    the *final* pairs (dying component never contained a tile-border cell; zero-length dropped)
    and the contracted merge tree of the other components, as local flat indices (``h*w`` is F)
    and each node's parent position (-1 for a root).
    """
    h, w = values.shape
    n = h * w
    width = w + 2
    frame_node = (h + 2) * width
    flat = values.ravel()
    order = stable_argsort(flat)
    # Padded layout: a ring of cells around the tile, pointing at F where it lies outside the grid
    # (dual pass) and unseen otherwise, so the neighbour loop needs no bounds checks.
    parent = np.full(frame_node + 1, _UNSEEN, np.int32)
    if frame:
        parent[frame_node] = -2
        for jj in range(width):
            if r0 == 0:
                parent[jj] = frame_node
            if r0 + h == nrows:
                parent[frame_node - width + jj] = frame_node
        for ii in range(h + 2):
            if c0 == 0:
                parent[ii * width] = frame_node
            if c0 + w == ncols:
                parent[ii * width + width - 1] = frame_node
    if conn8:
        offsets = np.array([-width - 1, -width, -width + 1, -1, 1, width - 1, width, width + 1])
    else:
        offsets = np.array([-width, -1, 1, width])
    births = np.empty(n, np.float64)
    deaths = np.empty(n, np.float64)
    n_pairs = 0
    touched = np.zeros(frame_node + 1, np.bool_)
    terminal = np.zeros(frame_node + 1, np.bool_)
    top = np.full(frame_node + 1, -1, np.int32)
    tree_parent = np.full(frame_node + 1, -1, np.int32)
    pruned = np.zeros(frame_node + 1, np.bool_)
    nodes = np.empty(n + 1, np.int32)
    n_nodes = 0
    if frame:
        touched[frame_node] = True
        terminal[frame_node] = True
        top[frame_node] = frame_node
        nodes[0] = frame_node
        n_nodes = 1
    top_cut = r0 > 0
    bottom_cut = r0 + h < nrows
    left_cut = c0 > 0
    right_cut = c0 + w < ncols
    roots = np.empty(8, np.int64)
    for t in range(n):
        k = order[n - 1 - t] if descending else order[t]
        i = k // w
        j = k - i * w
        kp = k + width + 1 + 2 * i
        n_roots = 0
        elder = -1
        for m in range(offsets.size):
            q = kp + offsets[m]
            if parent[q] == _UNSEEN:
                continue
            r = _find_root(parent, q)
            seen = False
            for s in range(n_roots):
                if roots[s] == r:
                    seen = True
            if not seen:
                roots[n_roots] = r
                n_roots += 1
                if elder < 0 or parent[r] > parent[elder]:
                    elder = r
        border = (
            (i == 0 and top_cut)
            or (i == h - 1 and bottom_cut)
            or (j == 0 and left_cut)
            or (j == w - 1 and right_cut)
        )
        terminal[kp] = border
        if n_roots == 0:
            parent[kp] = -3 - t
            touched[kp] = border
            top[kp] = kp
            nodes[n_nodes] = kp
            n_nodes += 1
            continue
        parent[kp] = elder
        for s in range(n_roots):
            r = roots[s]
            if r == elder:
                continue
            parent[r] = elder
            tree_parent[top[r]] = kp
            if touched[r]:
                touched[elder] = True
                continue
            pruned[top[r]] = True
            birth = flat[r - width - 1 - 2 * (r // width - 1)]  # F never dies: it is the eldest
            if birth != flat[k]:
                births[n_pairs] = birth
                deaths[n_pairs] = flat[k]
                n_pairs += 1
        touched[elder] = touched[elder] or border
        if n_roots > 1 or border:
            nodes[n_nodes] = kp
            n_nodes += 1
            tree_parent[top[elder]] = kp
            top[elder] = kp
    ids, tree = _contract(nodes[:n_nodes], tree_parent, pruned, terminal)
    # Back from padded to tile-local flat indices (F becomes h*w).
    rows = ids // width - 1
    local = np.where(ids == frame_node, n, ids - width - 1 - 2 * rows)
    return births[:n_pairs], deaths[:n_pairs], local, tree


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
def graph_h0(vals, ids, order, indptr, indices, descending):  # type: ignore[no-untyped-def]
    """H0 of a vertex-valued graph (CSR adjacency) along ``order``: pairs and root indices."""
    n = vals.size
    parent = np.full(n, -1, np.int64)
    births = np.empty(n, np.float64)
    deaths = np.empty(n, np.float64)
    n_pairs = 0
    for t in range(n):
        u = order[n - 1 - t] if descending else order[t]
        parent[u] = u
        elder = u
        for e in range(indptr[u], indptr[u + 1]):
            q = indices[e]
            if parent[q] < 0 or q == u:
                continue
            r = _find(parent, q)
            e_root = _find(parent, elder)
            if r == e_root:
                continue
            if _older(vals, ids, r, e_root, descending):
                young, elder = e_root, r
            else:
                young, elder = r, e_root
            parent[young] = elder
            if young != u and vals[young] != vals[u]:
                births[n_pairs] = vals[young]
                deaths[n_pairs] = vals[u]
                n_pairs += 1
        parent[u] = _find(parent, u)
    roots = np.empty(n, np.int64)
    n_roots = 0
    for u in range(n):
        if parent[u] == u:
            roots[n_roots] = u
            n_roots += 1
    return births[:n_pairs], deaths[:n_pairs], roots[:n_roots]
