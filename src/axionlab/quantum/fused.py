"""Noisy layers fused into Pauli transfer matrices, applied to real Pauli coordinates in batches.

A Hermitian n-qubit ``ρ`` has real coordinates ``r_P = Tr(P ρ)`` over the ``4^n`` Pauli strings
``P`` (qubit 0 most significant, each qubit's factor in the order I, X, Y, Z), and
``ρ = 2^{-n} Σ_P r_P P``. A channel ``E`` on ``k`` qubits acts on them through its real Pauli
transfer matrix ``R_PQ = 2^{-k} Tr(P E(Q))`` (Greenbaum 2015, arXiv:1509.02921, §3.3), on the
axes of its qubits in the ``(4,) * n`` view of ``r``. Why this representation:

- a qubit's row and column indices are one axis, so an operation on neighbouring qubits is a
  reshape and one matmul over contiguous memory, where the ``(2,) * 2n`` view of ``ρ`` needs a
  permute copy (its row and column axes of a qubit lie ``n`` axes apart);
- states and channels are real: half the bytes and a quarter of the flops of complex
  superoperators.

:func:`fuse_layer` turns a :class:`~axionlab.quantum.circuits.Layer` followed by a noise channel on
every qubit into one matrix per brick pair, ``(N ⊗ N) · G · (U_a ⊗ U_b)`` (16 × 16), and
``N · U_q`` for an unpaired qubit: the pairs are disjoint, so these commute and the layer's order
(gates, then the two-qubit gates, then the noise) holds inside each. Layers on up to
:data:`DENSE_MAX_QUBITS` qubits become one dense ``4^n × 4^n`` matrix, one matmul per step.
States of 4 MB and more are updated in place in two cache-blocked passes (:func:`apply_fused`),
and :func:`run_sequences` runs many sequences at once. Only Hermitian ``ρ`` have real
coordinates; :func:`to_pauli` refuses others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from axionlab.errors import InputError
from axionlab.quantum.channels import _act
from axionlab.quantum.circuits import Layer

DENSE_MAX_QUBITS = 4
"""Largest layer fused into one dense matrix (256 × 256 at 4 qubits; 1024² flops per state at 5
would cost more than the 2-3 local matmuls it saves)."""

_HERMITIAN_ATOL = 1e-8
_BLOCKED_BYTES = 2**22  # states from 4 MB on (an eighth of the benchmarked L3) are blocked
_BLOCK_BYTES = 2**21  # one block, kept in cache across the operations applied to it
_INTERLEAVE_QUBITS = 6
_MATMUL_MIN_REST = 64
_PAULI_1 = (((1, 0), (0, 1)), ((0, 1), (1, 0)), ((0, -1j), (1j, 0)), ((1, 0), (0, -1)))


@dataclass(frozen=True)
class FusedLayer:
    """A noisy layer as Pauli transfer matrices ``ops``: ``(matrix, qubits)``, applied in order.

    Each matrix is real ``(4^k, 4^k)`` on the ascending ``qubits`` (k of them, qubit order as in
    its index); disjoint entries commute.
    """

    n_qubits: int
    ops: tuple[tuple[Tensor, tuple[int, ...]], ...]


def pauli_basis(
    k: int, *, dtype: torch.dtype = torch.complex128, device: torch.device | str | None = None
) -> Tensor:
    """The ``4^k`` Pauli strings on ``k`` qubits, ``(4^k, 2^k, 2^k)``, in coordinate order."""
    one = torch.tensor(_PAULI_1, dtype=dtype, device=device)
    out = one
    for _ in range(k - 1):
        side = 2 * out.shape[-1]
        out = torch.einsum("aij,bkl->abikjl", out, one).reshape(4 * len(out), side, side)
    return out


def pauli_transfer_matrix(superop: Tensor) -> Tensor:
    """Real ``R_PQ = 2^{-k} Tr(P E(Q))`` of k-qubit superoperators ``(..., 4^k, 4^k)``.

    ``superop`` acts on row-major ``vec(ρ)`` as :func:`~axionlab.quantum.kraus_superoperator`
    builds it; ``R`` acts on Pauli coordinates (see the module docstring).

    Raises
    ------
    InputError
        If ``superop`` is not ``(..., 4^k, 4^k)`` for some ``k >= 1``.
    """
    k = _log4(superop.shape[-1])
    if superop.ndim < 2 or superop.shape[-2:] != (4**k, 4**k) or k < 1:
        raise InputError(f"superop must have shape (..., 4^k, 4^k), got {tuple(superop.shape)}")
    basis = pauli_basis(k, dtype=superop.dtype, device=superop.device).reshape(4**k, 4**k)
    # Tr(P E(Q)) = Σ_ac P[c, a] E(Q)[a, c] = vec(Pᵀ) · S vec(Q); Pᵀ = ±P, so vec(Pᵀ) = conj(vec P).
    ptm: Tensor = (basis.conj() @ superop @ basis.T).real / 2**k
    return ptm


def to_pauli(rho: Tensor) -> Tensor:
    """Pauli coordinates ``Tr(P ρ)`` of density matrices ``(..., d, d)``, real ``(..., 4^n)``.

    Raises
    ------
    InputError
        If ``d`` is not a power of two or ``ρ`` is not Hermitian (a coordinate has an imaginary
        part above 1e-8).
    """
    d = rho.shape[-1]
    n = _log4(d * d)
    if rho.ndim < 2 or rho.shape[-2] != d or d != 2**n:
        raise InputError(f"rho must have shape (..., 2^n, 2^n), got {tuple(rho.shape)}")
    batch = rho.shape[:-2]
    x = _interleave(rho.reshape(-1, 4**n), n, inverse=False)
    # A[μ, (i, j)] = P_μ[j, i], so that (A vec ρ_q)_μ = Tr(P_μ ρ_q).
    a = pauli_basis(1, dtype=rho.dtype, device=rho.device).transpose(-1, -2).reshape(4, 4)
    x = apply_fused(x, _product_layer(a, n))
    imag = float(x.imag.abs().amax()) if x.numel() else 0.0
    if imag > _HERMITIAN_ATOL:
        raise InputError(f"rho must be Hermitian, got Pauli coordinates with |Im| = {imag:.2e}")
    return x.real.reshape(*batch, 4**n).contiguous()


def from_pauli(r: Tensor) -> Tensor:
    """Density matrices ``2^{-n} Σ_P r_P P``, ``(..., 2^n, 2^n)``, of coordinates ``(..., 4^n)``.

    Raises
    ------
    InputError
        If the last dimension is not a power of four.
    """
    n = _log4(r.shape[-1])
    if r.ndim < 1 or r.shape[-1] != 4**n:
        raise InputError(f"r must have shape (..., 4^n), got {tuple(r.shape)}")
    batch = r.shape[:-1]
    cdtype = torch.promote_types(r.dtype, torch.complex64)
    # B[(i, j), μ] = P_μ[i, j] / 2, so that B r_q = vec ρ_q.
    b = pauli_basis(1, dtype=cdtype, device=r.device).reshape(4, 4).T / 2
    # a copy: apply_fused updates large inputs in place, and a complex r would be the caller's
    x = apply_fused(r.reshape(-1, 4**n).to(cdtype, copy=True), _product_layer(b, n))
    return _interleave(x, n, inverse=True).reshape(*batch, 2**n, 2**n)


def fuse_layer(
    layer: Layer, noise_superop: Tensor | None, *, dense_max_qubits: int = DENSE_MAX_QUBITS
) -> FusedLayer:
    """``layer`` followed by the single-qubit ``noise_superop`` on every qubit, fused.

    See the module docstring; two-qubit gates on overlapping pairs are applied one by one in
    their order, without fusion, as :func:`~axionlab.quantum.apply_layer` does.

    Raises
    ------
    InputError
        If ``noise_superop`` is not ``(4, 4)`` or a pair names a qubit outside the layer.
    """
    n = layer.n_qubits
    paired = [q for pair in layer.pairs for q in pair]
    if not all(0 <= q < n for q in paired):
        raise InputError(f"layer pairs must name qubits in [0, {n}), got {list(layer.pairs)}")
    if noise_superop is not None and noise_superop.shape != (4, 4):
        raise InputError(
            f"noise_superop must be a (4, 4) one-qubit superoperator, got "
            f"{tuple(noise_superop.shape)}"
        )
    singles = pauli_transfer_matrix(_unitary_superoperator(layer.single))  # (n, 4, 4)
    gates = pauli_transfer_matrix(_unitary_superoperator(layer.two))  # (P, 16, 16)
    noise = None if noise_superop is None else pauli_transfer_matrix(noise_superop)
    ops: list[tuple[Tensor, tuple[int, ...]]]
    if len(set(paired)) != len(paired):
        ops = [(s, (q,)) for q, s in enumerate(singles)]
        ops += [_ascending(g, pair) for g, pair in zip(gates, layer.pairs, strict=True)]
        ops += [] if noise is None else [(noise, (q,)) for q in range(n)]
    else:
        ops = []
        for g, (a, b) in zip(gates, layer.pairs, strict=True):
            m = g @ torch.kron(singles[a], singles[b])
            ops.append(_ascending(m if noise is None else torch.kron(noise, noise) @ m, (a, b)))
        for q in sorted(set(range(n)) - set(paired)):
            ops.append((singles[q] if noise is None else noise @ singles[q], (q,)))
    fused = FusedLayer(n, tuple(ops))
    if n > dense_max_qubits:
        return fused
    # Column ν of the dense matrix is the layer applied to the basis vector e_ν.
    eye = torch.eye(4**n, dtype=singles[0].dtype, device=singles[0].device)
    return FusedLayer(n, ((apply_fused(eye, fused).T.contiguous(), tuple(range(n))),))


def apply_fused(r: Tensor, layer: FusedLayer) -> Tensor:
    """Apply a fused layer to a batch of Pauli coordinates ``(B, 4^n)`` (contiguous, unchecked).

    ``r`` is consumed: use the returned tensor. States of 4 MB and more are updated in place,
    one cache-sized block at a time, in two passes over memory (the operations on the lower
    qubits, then those on the upper ones) instead of one pass per operation; this needs the
    operations to commute (disjoint qubits, as :func:`fuse_layer` makes them when it fuses).
    """
    qubits = [q for _, qs in layer.ops for q in qs]
    split = _split_qubit(layer)
    if (
        r.numel() * r.element_size() < _BLOCKED_BYTES
        or len(set(qubits)) != len(qubits)
        or not split
    ):
        for op, qs in layer.ops:
            r = _apply_op(r, op, qs)
        return r
    low = [(op, tuple(q - split for q in qs)) for op, qs in layer.ops if qs[0] >= split]
    high = [(op, qs) for op, qs in layer.ops if qs[0] < split]
    width = 4 ** (layer.n_qubits - split)
    # Lower qubits: blocks of whole rows of the (B·4^split, width) view, contiguous already.
    rows = r.view(-1, width)
    step = max(1, _BLOCK_BYTES // (width * r.element_size()))
    for start in range(0, rows.shape[0], step):
        block = rows[start : start + step]
        block.copy_(_apply_ops(block, low))
    # Upper qubits: blocks of columns, gathered with the upper axes leading and the block's
    # columns trailing (so the matmuls are wide), transformed in cache and written back.
    step = max(1, _BLOCK_BYTES // (4**split * r.element_size()))
    for state in r.view(-1, 4**split, width):
        for start in range(0, width, step):
            block = state[:, start : start + step]
            block.copy_(_apply_ops(block.reshape(1, -1), high).view(block.shape))
    return r


def run_sequences(
    rho: Tensor,
    layers: Sequence[Layer],
    indices: Sequence[Sequence[int]],
    noise_superop: Tensor | None,
) -> Tensor:
    """Final states of many noisy sequences at once, ``(B, d, d)`` for ``B = len(indices)``.

    Row ``b`` starts from ``rho`` (one ``(d, d)`` state for every row, or ``(B, d, d)``) and for
    each ``i`` in ``indices[b]`` applies ``layers[i]``, then ``noise_superop`` on every qubit.
    Each layer is fused once (:func:`fuse_layer`); rows are run together in Pauli coordinates,
    aligned at their last step, so every step is one matmul per distinct layer in use.

    Raises
    ------
    InputError
        If ``rho`` is not Hermitian, the shapes disagree or an index is outside ``layers``.
    """
    used = sorted({i for row in indices for i in row})
    if used and not 0 <= used[0] <= used[-1] < len(layers):
        raise InputError(f"indices must lie in [0, {len(layers)}), got {used[0]}..{used[-1]}")
    sizes = {layers[i].n_qubits for i in used}
    if len(sizes) > 1:
        raise InputError(f"layers must act on one register size, got sizes {sorted(sizes)}")
    d = 2 ** sizes.pop() if sizes else rho.shape[-1]
    batch = len(indices)
    if rho.shape not in ((d, d), (batch, d, d)):
        raise InputError(f"rho must be ({d}, {d}) or ({batch}, {d}, {d}), got {tuple(rho.shape)}")
    fused = {i: fuse_layer(layers[i], noise_superop) for i in used}
    order = sorted(range(batch), key=lambda b: -len(indices[b]))
    x = to_pauli(rho)
    x = x.expand(batch, -1).contiguous() if rho.ndim == 2 else x[order]
    longest = len(indices[order[0]]) if batch else 0
    for t in range(longest):
        groups: dict[int, list[int]] = {}
        for pos, b in enumerate(order):
            start = longest - len(indices[b])
            if t < start:
                break
            groups.setdefault(indices[b][t - start], []).append(pos)
        for i, rows in groups.items():
            if len(rows) == batch:
                x = apply_fused(x, fused[i])
            else:
                sel = torch.tensor(rows, device=x.device)
                x[sel] = apply_fused(x[sel], fused[i])
    out = torch.empty_like(x)
    out[order] = x
    return from_pauli(out)


def _apply_ops(x: Tensor, ops: Sequence[tuple[Tensor, tuple[int, ...]]]) -> Tensor:
    for op, qubits in ops:
        x = _apply_op(x, op, qubits)
    return x


def _apply_op(x: Tensor, op: Tensor, qubits: tuple[int, ...]) -> Tensor:
    # Consecutive qubits are one contiguous block of the (B * 4^first, 4^k, rest) view, so one
    # matmul suffices; others go through einsum on the (2,) * 2n view (two binary axes a qubit).
    size, first = op.shape[-1], qubits[0]
    if qubits != tuple(range(first, first + len(qubits))):
        axes = [1 + 2 * q + j for q in qubits for j in (0, 1)]
        n = _log4(x.shape[-1])
        return _act(x.reshape(-1, *(2,) * (2 * n)), op, axes, 2 * len(qubits)).reshape(x.shape)
    lead = x.shape[0] * 4**first
    rest = x.shape[-1] // (4**first * size)
    if rest == 1:
        return (x.view(lead, size) @ op.T).view(x.shape)
    block = x.view(lead, size, rest)
    if rest < _MATMUL_MIN_REST:
        # Thin blocks: matmul would issue `lead` tiny GEMMs; einsum makes one (2-3x faster).
        return torch.einsum("ij,ajb->aib", op, block).reshape(x.shape)
    return torch.matmul(op, block).view(x.shape)


def _unitary_superoperator(u: Tensor) -> Tensor:
    # U ⊗ U* of a batch of unitaries (B, d, d), as kraus_superoperator builds it for one.
    d = u.shape[-1]
    return torch.einsum("zab,zcd->zacbd", u, u.conj()).reshape(-1, d * d, d * d)


def _split_qubit(layer: FusedLayer) -> int:
    # The qubit nearest the middle that no operation straddles (0 if none): blocks of the qubits
    # below it and above it are then independent. Operations on distant qubits never block.
    n = layer.n_qubits
    spans = [(qs[0], qs[-1]) for _, qs in layer.ops]
    if any(hi - lo + 1 != len(qs) for (lo, hi), (_, qs) in zip(spans, layer.ops, strict=True)):
        return 0
    for h in sorted(range(1, n), key=lambda h: abs(2 * h - n)):
        if not any(lo < h <= hi for lo, hi in spans):
            return h
    return 0


def _product_layer(op: Tensor, n: int) -> FusedLayer:
    # The same one-qubit matrix on every qubit, as 16 × 16 pairs (half the passes of 4 × 4 ones).
    pair = torch.kron(op, op)
    ops = [(pair, (q, q + 1)) for q in range(0, n - 1, 2)]
    return FusedLayer(n, tuple(ops + [(op, (n - 1,))] * (n % 2)))


def _interleave(x: Tensor, n: int, *, inverse: bool, inner: int = 1) -> Tensor:
    # Row-major vec(ρ) (…, r_0..r_{n−1}, c_0..c_{n−1}, …) to (…, r_0, c_0, r_1, c_1, …, …), or back.
    # A 2n-axis permute copy is an order of magnitude slower than a copy at 12 qubits, so large
    # registers are split in halves: (R_hi, R_lo, C_hi, C_lo) <-> (R_hi, C_hi, R_lo, C_lo), then
    # each half is interleaved with the other as batch or as contiguous inner block.
    if n <= _INTERLEAVE_QUBITS:
        # A gather of whole `inner` runs by a precomputed index: permute copies with axes of
        # size 2 innermost run several times slower.
        std = [a for q in range(n) for a in (q, n + q)]
        perm = [std.index(a) for a in range(2 * n)] if inverse else std
        source = torch.arange(4**n, device=x.device).reshape((2,) * (2 * n)).permute(perm)
        return x.reshape(-1, 4**n, inner).index_select(1, source.reshape(-1)).reshape(x.shape)
    hi, lo = n // 2, n - n // 2
    halves = (-1, 2**hi, 2**lo, 2**hi, 2**lo, inner)
    if inverse:
        x = _interleave(x, lo, inverse=True, inner=inner)
        x = _interleave(x, hi, inverse=True, inner=inner * 4**lo)
        return x.reshape(-1, 2**hi, 2**hi, 2**lo, 2**lo, inner).transpose(2, 3).reshape(x.shape)
    x = x.reshape(halves).transpose(2, 3).reshape(x.shape)
    x = _interleave(x, hi, inverse=False, inner=inner * 4**lo)
    return _interleave(x, lo, inverse=False, inner=inner)


def _ascending(op: Tensor, qubits: tuple[int, ...]) -> tuple[Tensor, tuple[int, ...]]:
    # A two-qubit matrix on (a, b) with a > b, re-indexed so its qubits ascend like the axes.
    a, b = qubits
    if a < b:
        return op, qubits
    return op.reshape(4, 4, 4, 4).permute(1, 0, 3, 2).reshape(16, 16), (b, a)


def _log4(size: int) -> int:
    return max(round(math.log(max(size, 1), 4)), 0)
