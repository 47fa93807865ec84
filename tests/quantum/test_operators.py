"""Unitaries: Clifford group, Haar moments, frame potentials, commutators."""

from __future__ import annotations

import math

import pytest
import torch

from axionlab.errors import InputError
from axionlab.quantum import (
    clifford_group,
    cnot,
    commutator_norm,
    cz,
    frame_potential,
    haar_unitary,
    mean_commutator_norm,
    pauli,
    pauli_rotation,
)


def _is_unitary(u: torch.Tensor) -> bool:
    eye = torch.eye(u.shape[-1], dtype=u.dtype)
    return bool(torch.allclose(u @ u.conj().transpose(-1, -2), eye.expand_as(u), atol=1e-12))


def _mc_close(samples: torch.Tensor, expected: float, z: float = 4.5) -> None:
    """Sample mean within z standard errors of the exact value."""
    se = samples.std().item() / math.sqrt(samples.numel())
    assert abs(samples.mean().item() - expected) < z * se, (samples.mean().item(), expected, se)


def test_clifford_group_is_the_24_element_group() -> None:
    g = clifford_group()
    assert g.shape == (24, 2, 2) and _is_unitary(g)
    # Distinct modulo phase, and closed: every product is an element up to phase.
    overlap = torch.einsum("iab,jab->ij", g.conj(), g).abs()
    assert int((overlap > 2 - 1e-9).sum()) == 24
    prods = torch.einsum("iab,jbc->ijac", g, g).reshape(-1, 2, 2)
    best = torch.einsum("pab,kab->pk", prods.conj(), g).abs().amax(1)
    assert torch.allclose(best, torch.full_like(best, 2.0), atol=1e-12)


@pytest.mark.parametrize(("t", "value"), [(1, 1), (2, 2), (3, 5), (4, 15)])
def test_clifford_frame_potential(t: int, value: int) -> None:
    assert frame_potential(clifford_group(), t) == pytest.approx(value, abs=1e-10)


@pytest.mark.parametrize(("t", "value"), [(1, 1), (2, 2), (3, 5), (4, 14)])
def test_haar_qubit_moments_match_frame_potential(t: int, value: int) -> None:
    # For Haar U(2), F_t = E|Tr U|^{2t} (the Catalan numbers); Tr(U_i† U_j) is itself Haar-traced.
    gen = torch.Generator().manual_seed(10 + t)
    u = haar_unitary(2, gen, batch_shape=(40000,))
    tr = torch.diagonal(u, dim1=-2, dim2=-1).sum(-1).abs() ** (2 * t)
    _mc_close(tr, value)


def test_haar_trace_power_moments() -> None:
    # Diaconis & Shahshahani 1994: E|Tr Uⁿ|² = min(n, d) on U(d).
    gen = torch.Generator().manual_seed(4)
    d = 3
    u = haar_unitary(d, gen, batch_shape=(20000,))
    assert _is_unitary(u[:50])
    for n in range(1, 6):
        un = torch.linalg.matrix_power(u, n)
        _mc_close(torch.diagonal(un, dim1=-2, dim2=-1).sum(-1).abs() ** 2, min(n, d))


def test_swapping_small_rotations_is_second_order_in_commutator() -> None:
    # e^{-itA} e^{-itB} − e^{-itB} e^{-itA} = −t² [A, B] + O(t³).
    gen = torch.Generator().manual_seed(5)
    h = haar_unitary(4, gen, batch_shape=(2,))
    a, b = (x + x.conj().T for x in h)
    psi = haar_unitary(4, gen)[:, 0]
    comm = a @ b - b @ a
    for t in (1e-2, 1e-3):
        ua, ub = torch.linalg.matrix_exp(-1j * t * a), torch.linalg.matrix_exp(-1j * t * b)
        diff = ua @ ub - ub @ ua
        ratio = torch.linalg.matrix_norm(diff, ord=2) / (t**2 * commutator_norm(a, b))
        assert abs(ratio.item() - 1) < 20 * t
        state_ratio = torch.linalg.vector_norm(diff @ psi) / (
            t**2 * torch.linalg.vector_norm(comm @ psi)
        )
        assert abs(state_ratio.item() - 1) < 20 * t
    # Pauli rotations: Rx(θ)Ry(θ) vs Ry(θ)Rx(θ) with A = X/2, B = Y/2, ‖[A, B]‖ = 1/2.
    th = 1e-3
    rx, ry = pauli_rotation("X", th), pauli_rotation("Y", th)
    swap = torch.linalg.matrix_norm(rx @ ry - ry @ rx, ord=2).item()
    assert swap == pytest.approx(th**2 / 2, rel=1e-5)


def test_paulis_gates_and_commutators() -> None:
    x, y, z = pauli("X"), pauli("Y"), pauli("Z")
    torch.testing.assert_close(x @ y, 1j * z)
    torch.testing.assert_close(pauli("XZ"), torch.kron(x, z))
    assert commutator_norm(x, y).item() == pytest.approx(2.0)
    assert commutator_norm(pauli("ZI"), pauli("IZ")).item() == 0.0
    torch.testing.assert_close(cnot() @ cnot(), torch.eye(4, dtype=torch.complex128))
    hh = torch.kron(torch.eye(2), torch.tensor([[1, 1], [1, -1]]) / math.sqrt(2)).to(
        torch.complex128
    )
    torch.testing.assert_close(hh @ cz() @ hh, cnot())
    diag = torch.stack([pauli_rotation("Z", 0.3), pauli_rotation("Z", 1.1), z])
    assert mean_commutator_norm(diag) == 0.0
    with pytest.raises(InputError, match="over 'IXYZ'"):
        pauli("XA")
    with pytest.raises(InputError, match="t must be >= 1"):
        frame_potential(clifford_group(), 0)
