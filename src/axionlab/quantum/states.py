"""States and the scalar measures of one state (purity, fidelity, entropies, trace distance).

Density matrices are ``(..., d, d)`` complex tensors; every measure accepts leading batch dimensions
and returns a real float64 tensor of the batch shape. Qubit ``0`` is the most significant bit of a
basis index (the ``(2,) * n`` row-major layout, as in QuTiP's ``tensor``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from axionlab.errors import InputError

_ATOL = 1e-8


def basis_state(
    n_qubits: int,
    index: int = 0,
    *,
    dtype: torch.dtype = torch.complex128,
    device: torch.device | str | None = None,
) -> Tensor:
    """The computational-basis state ``|index>`` of ``n_qubits`` qubits, shape ``(2**n,)``."""
    _check_n_qubits(n_qubits)
    d = 2**n_qubits
    if not 0 <= index < d:
        raise InputError(f"index must be in [0, {d}), got {index}")
    psi = torch.zeros(d, dtype=dtype, device=device)
    psi[index] = 1
    return psi


def plus_state(
    n_qubits: int,
    *,
    dtype: torch.dtype = torch.complex128,
    device: torch.device | str | None = None,
) -> Tensor:
    """The product state ``|+>^{⊗n}`` (uniform superposition), shape ``(2**n,)``."""
    _check_n_qubits(n_qubits)
    d = 2**n_qubits
    return torch.full((d,), 1 / math.sqrt(d), dtype=dtype, device=device)


def density_matrix(psi: Tensor) -> Tensor:
    """``|ψ><ψ|`` for a state vector ``psi`` of shape ``(..., d)``."""
    return psi.unsqueeze(-1) * psi.conj().unsqueeze(-2)


def check_density_matrix(rho: Tensor, *, atol: float = _ATOL, name: str = "rho") -> None:
    """Raise :class:`InputError` unless ``rho`` is square, Hermitian and of unit trace.

    Positivity is not checked here (it needs an eigendecomposition); the entropies clamp
    eigenvalues at zero, so round-off negatives of order ``atol`` are harmless.
    """
    if rho.ndim < 2 or rho.shape[-1] != rho.shape[-2]:
        raise InputError(f"{name} must have shape (..., d, d), got {tuple(rho.shape)}")
    herm = (rho - rho.conj().transpose(-1, -2)).abs().amax().item() if rho.numel() else 0.0
    if herm > atol:
        raise InputError(
            f"{name} is not a valid density matrix: not Hermitian (max |ρ − ρ†| = {herm:.2e})"
        )
    tr = torch.diagonal(rho, dim1=-2, dim2=-1).sum(-1)
    off = (tr - 1).abs().amax().item() if tr.numel() else 0.0
    if off > atol * rho.shape[-1]:
        raise InputError(f"{name} is not a valid density matrix: trace differs from 1 by {off:.2e}")


def purity(rho: Tensor) -> Tensor:
    """Purity ``Tr ρ²`` (1 for pure states, ``1/d`` for the maximally mixed state).

    Raises
    ------
    InputError
        If ``rho`` is not Hermitian with unit trace.
    """
    check_density_matrix(rho)
    return (rho.abs() ** 2).sum((-2, -1))


def fidelity(rho: Tensor, sigma: Tensor) -> Tensor:
    """Uhlmann fidelity in the squared convention, ``(Tr |√ρ √σ|)²`` (1 for equal states).

    Computed from the singular values of ``√ρ √σ``, which makes it symmetric to round-off and equal
    to ``|<ψ|φ>|²`` for pure states (Nielsen & Chuang 2010, §9.2.2; Jozsa 1994).

    Raises
    ------
    InputError
        If either argument is not a density matrix or their shapes differ.
    """
    _check_pair(rho, sigma)
    s = torch.linalg.svdvals(_psd_sqrt(rho) @ _psd_sqrt(sigma))
    out: Tensor = s.sum(-1) ** 2
    return out


def von_neumann_entropy(rho: Tensor) -> Tensor:
    """Von Neumann entropy ``−Tr ρ ln ρ`` in nats (0 for pure states, ``ln d`` maximally mixed).

    Raises
    ------
    InputError
        If ``rho`` is not Hermitian with unit trace.
    """
    check_density_matrix(rho)
    lam = torch.linalg.eigvalsh(rho).clamp(min=0)
    return _shannon(lam)


def measurement_entropy(rho: Tensor) -> Tensor:
    """Shannon entropy (nats) of the computational-basis outcome distribution ``diag ρ``.

    Raises
    ------
    InputError
        If ``rho`` is not Hermitian with unit trace.
    """
    check_density_matrix(rho)
    p = torch.diagonal(rho, dim1=-2, dim2=-1).real.clamp(min=0)
    return _shannon(p)


def _check_pair(rho: Tensor, sigma: Tensor) -> None:
    check_density_matrix(rho)
    check_density_matrix(sigma, name="sigma")
    if rho.shape != sigma.shape:
        raise InputError(
            f"rho and sigma must have equal shapes, got {tuple(rho.shape)} and {tuple(sigma.shape)}"
        )


def trace_distance(rho: Tensor, sigma: Tensor) -> Tensor:
    """Trace distance ``½ ‖ρ − σ‖₁ = ½ Σ |λᵢ(ρ − σ)|`` (Nielsen & Chuang 2010, §9.2.1).

    Raises
    ------
    InputError
        If either argument is not a density matrix or their shapes differ.
    """
    _check_pair(rho, sigma)
    out: Tensor = 0.5 * torch.linalg.eigvalsh(rho - sigma).abs().sum(-1)
    return out


def _shannon(p: Tensor) -> Tensor:
    out: Tensor = -torch.special.xlogy(p, p).sum(-1)
    return out


def _psd_sqrt(rho: Tensor) -> Tensor:
    lam, vec = torch.linalg.eigh(rho)
    # Round-off eigenvalues (~d·eps) would become ~1e-8 under the square root and bias the
    # fidelity of near-pure states by as much; treat them as exact zeros.
    tol = rho.shape[-1] * torch.finfo(lam.dtype).eps * lam.abs().amax(-1, keepdim=True)
    root = torch.where(lam > tol, lam, 0).sqrt().to(rho.dtype)
    out: Tensor = (vec * root.unsqueeze(-2)) @ vec.conj().transpose(-1, -2)
    return out


def _check_n_qubits(n_qubits: int) -> None:
    if n_qubits < 1:
        raise InputError(f"n_qubits must be >= 1, got {n_qubits}")
