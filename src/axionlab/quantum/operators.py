"""Unitaries (Haar, Pauli rotations, single-qubit Cliffords, CZ/CNOT) and diversity measures.

Frame potential of an ensemble ``{U_i}`` with uniform weights (Gross, Audenaert & Eisert 2007):
``F_t = (1/K²) Σ_{i,j} |Tr U_i† U_j|^{2t}``; for the Haar measure on U(d) it is the t-th moment
``E|Tr U|^{2t}`` (``t!`` for ``d ≥ t``; 1, 2, 5, 14 for ``d = 2``), and an ensemble is a unitary
t-design iff it attains that value. The single-qubit Clifford group is a 3-design, not a 4-design.
"""

from __future__ import annotations

import math
from functools import reduce

import torch
from torch import Tensor

from axionlab.errors import InputError

_PAULI = {
    "I": ((1, 0), (0, 1)),
    "X": ((0, 1), (1, 0)),
    "Y": ((0, -1j), (1j, 0)),
    "Z": ((1, 0), (0, -1)),
}


def pauli(
    label: str, *, dtype: torch.dtype = torch.complex128, device: torch.device | str | None = None
) -> Tensor:
    """The Pauli string ``label`` (e.g. ``"XZ"``, qubit 0 first) as a ``(2**n, 2**n)`` matrix."""
    if not label or any(c not in _PAULI for c in label):
        raise InputError(f"label must be a non-empty string over 'IXYZ', got {label!r}")
    mats = [torch.tensor(_PAULI[c], dtype=dtype, device=device) for c in label]
    return reduce(torch.kron, mats)


def pauli_rotation(
    label: str,
    theta: float,
    *,
    dtype: torch.dtype = torch.complex128,
    device: torch.device | str | None = None,
) -> Tensor:
    """``exp(−iθP/2) = cos(θ/2) I − i sin(θ/2) P`` for the Pauli string ``P = label``."""
    p = pauli(label, dtype=dtype, device=device)
    eye = torch.eye(p.shape[0], dtype=dtype, device=device)
    return math.cos(theta / 2) * eye - 1j * math.sin(theta / 2) * p


def cz(
    *, dtype: torch.dtype = torch.complex128, device: torch.device | str | None = None
) -> Tensor:
    """The controlled-Z gate, ``diag(1, 1, 1, −1)``."""
    return torch.diag(torch.tensor([1, 1, 1, -1], dtype=dtype, device=device))


def cnot(
    *, dtype: torch.dtype = torch.complex128, device: torch.device | str | None = None
) -> Tensor:
    """CNOT with the first target qubit as control."""
    perm = [0, 1, 3, 2]
    return torch.eye(4, dtype=dtype, device=device)[perm]


def haar_unitary(
    d: int,
    generator: torch.Generator,
    *,
    batch_shape: tuple[int, ...] = (),
    dtype: torch.dtype = torch.complex128,
) -> Tensor:
    """Haar-random unitaries of shape ``(*batch_shape, d, d)`` on the generator's device.

    QR of a complex Ginibre matrix with the phases of ``diag R`` moved into ``Q``
    (Mezzadri 2007, "How to generate random matrices from the classical compact groups").

    Raises
    ------
    InputError
        If ``d < 1``.
    """
    if d < 1:
        raise InputError(f"d must be >= 1, got {d}")
    real = torch.empty(0, dtype=dtype).real.dtype
    shape = (*batch_shape, d, d)
    z = torch.complex(
        torch.randn(shape, generator=generator, dtype=real, device=generator.device),
        torch.randn(shape, generator=generator, dtype=real, device=generator.device),
    )
    q, r = torch.linalg.qr(z)
    diag = torch.diagonal(r, dim1=-2, dim2=-1)
    out: Tensor = (q * (diag / diag.abs()).unsqueeze(-2)).contiguous()
    return out


def clifford_group(
    *, dtype: torch.dtype = torch.complex128, device: torch.device | str | None = None
) -> Tensor:
    """The 24 single-qubit Clifford unitaries (modulo global phase), shape ``(24, 2, 2)``.

    Generated from ``H`` and ``S`` by breadth-first closure; each element is stored with the phase
    that makes its first non-zero entry real and positive.
    """
    h = torch.tensor([[1, 1], [1, -1]], dtype=torch.complex128) / math.sqrt(2)
    s = torch.tensor([[1, 0], [0, 1j]], dtype=torch.complex128)
    found = [_canonical_phase(torch.eye(2, dtype=torch.complex128))]
    frontier = list(found)
    while frontier:
        new = []
        for g in frontier:
            for gen in (h, s):
                c = _canonical_phase(gen @ g)
                if not any(torch.allclose(c, f, atol=1e-12) for f in found):
                    found.append(c)
                    new.append(c)
        frontier = new
    return torch.stack(found).to(dtype=dtype, device=device)


def _canonical_phase(u: Tensor) -> Tensor:
    flat = u.flatten()
    first = flat[int(torch.nonzero(flat.abs() > 1e-9)[0])]
    return u * (first.abs() / first)


def frame_potential(unitaries: Tensor, t: int) -> float:
    """Frame potential ``F_t = (1/K²) Σ_{i,j} |Tr U_i† U_j|^{2t}`` of ``K`` unitaries ``(K, d, d)``.

    Includes the ``i = j`` terms (the uniform ensemble over the given set), so a finite group
    gives its exact value; for ``K`` Haar samples the diagonal adds a bias ``d^{2t}/K``.
    Gross, Audenaert & Eisert 2007, J. Math. Phys. 48, 052104.

    Raises
    ------
    InputError
        If ``unitaries`` is not ``(K, d, d)`` or ``t < 1``.
    """
    if unitaries.ndim != 3 or unitaries.shape[-1] != unitaries.shape[-2]:
        raise InputError(f"unitaries must have shape (K, d, d), got {tuple(unitaries.shape)}")
    if t < 1:
        raise InputError(f"t must be >= 1, got {t}")
    # Tr(U_i† U_j) = Σ_ab conj(U_i)_ab (U_j)_ab for all pairs at once.
    overlaps = torch.einsum("iab,jab->ij", unitaries.conj(), unitaries)
    return float((overlaps.abs() ** (2 * t)).mean())


def commutator_norm(a: Tensor, b: Tensor) -> Tensor:
    """Operator (spectral) norm ``‖[A, B]‖ = ‖AB − BA‖₂`` of ``(..., d, d)`` matrices."""
    if a.shape != b.shape or a.ndim < 2:
        raise InputError(
            f"a and b must be (..., d, d) of equal shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    out: Tensor = torch.linalg.matrix_norm(a @ b - b @ a, ord=2)
    return out


def mean_commutator_norm(unitaries: Tensor) -> float:
    """Mean of ``‖[U_i, U_j]‖`` over the unordered pairs ``i < j`` of ``(K, d, d)`` unitaries.

    0 for a commuting set, at most 2 for unitaries. ``K = 1`` gives 0.
    """
    if unitaries.ndim != 3:
        raise InputError(f"unitaries must have shape (K, d, d), got {tuple(unitaries.shape)}")
    k = unitaries.shape[0]
    if k < 2:
        return 0.0
    i, j = torch.triu_indices(k, k, offset=1)
    return float(commutator_norm(unitaries[i], unitaries[j]).mean())
