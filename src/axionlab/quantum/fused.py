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
        out = torch.einsum("aij,bkl->abikjl", out, one).reshape(
            4 * len(out), *2 * (2 * out.shape[-1],)
        )
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
    # Interleave each qubit's row and column axis, then transform them together (one copy).
    t = rho.reshape(-1, *(2,) * (2 * n))
    perm = [0, *(1 + a for q in range(n) for a in (q, n + q))]
    x = t.permute(perm).reshape(-1, 4**n)
    # A[μ, (i, j)] = P_μ[j, i], so that (A vec ρ_q)_μ = Tr(P_μ ρ_q).
    a = pauli_basis(1, dtype=rho.dtype, device=rho.device).transpose(-1, -2).reshape(4, 4)
    for q in range(n):
        x = _apply_op(x, a, (q,))
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
    x = r.reshape(-1, 4**n).to(cdtype)
    b = (
        pauli_basis(1, dtype=cdtype, device=r.device).reshape(4, 4).T / 2
    )  # B[(i, j), μ] = P_μ[i, j]/2
    for q in range(n):
        x = _apply_op(x, b, (q,))
    perm = [0, *(1 + 2 * q for q in range(n)), *(2 + 2 * q for q in range(n))]
    rho = x.reshape(-1, *(2,) * (2 * n)).permute(perm)
    return rho.reshape(*batch, 2**n, 2**n)


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
    """Apply a fused layer to a batch of Pauli coordinates ``(B, 4^n)`` (contiguous, unchecked)."""
    for op, qubits in layer.ops:
        r = _apply_op(r, op, qubits)
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
    return torch.matmul(op, x.view(lead, size, rest)).view(x.shape)


def _unitary_superoperator(u: Tensor) -> Tensor:
    # U ⊗ U* of a batch of unitaries (B, d, d), as kraus_superoperator builds it for one.
    d = u.shape[-1]
    return torch.einsum("zab,zcd->zacbd", u, u.conj()).reshape(-1, d * d, d * d)


def _ascending(op: Tensor, qubits: tuple[int, ...]) -> tuple[Tensor, tuple[int, ...]]:
    # A two-qubit matrix on (a, b) with a > b, re-indexed so its qubits ascend like the axes.
    a, b = qubits
    if a < b:
        return op, qubits
    return op.reshape(4, 4, 4, 4).permute(1, 0, 3, 2).reshape(16, 16), (b, a)


def _log4(size: int) -> int:
    return max(round(math.log(max(size, 1), 4)), 0)
