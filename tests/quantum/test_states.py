"""State measures against closed forms and QuTiP."""

from __future__ import annotations

import math

import numpy as np
import pytest
import qutip
import torch

from axionlab.errors import InputError
from axionlab.quantum import (
    basis_state,
    density_matrix,
    fidelity,
    haar_unitary,
    measurement_entropy,
    plus_state,
    purity,
    trace_distance,
    von_neumann_entropy,
)


def random_rho(d: int, gen: torch.Generator, batch: tuple[int, ...] = ()) -> torch.Tensor:
    u = haar_unitary(d, gen, batch_shape=batch)
    lam = torch.rand((*batch, d), generator=gen, dtype=torch.float64)
    lam = (lam / lam.sum(-1, keepdim=True)).to(u.dtype)
    return (u * lam.unsqueeze(-2)) @ u.conj().transpose(-1, -2)


def random_psi(d: int, gen: torch.Generator) -> torch.Tensor:
    return haar_unitary(d, gen)[:, 0]


def test_fidelity_symmetric_and_matches_qutip() -> None:
    gen = torch.Generator().manual_seed(1)
    rho, sigma = random_rho(4, gen, (5,)), random_rho(4, gen, (5,))
    f = fidelity(rho, sigma)
    torch.testing.assert_close(f, fidelity(sigma, rho), atol=1e-12, rtol=0)
    for i in range(5):
        ref = qutip.fidelity(qutip.Qobj(rho[i].numpy()), qutip.Qobj(sigma[i].numpy())) ** 2
        assert f[i].item() == pytest.approx(ref, abs=1e-10)
    torch.testing.assert_close(fidelity(rho, rho), torch.ones(5, dtype=torch.float64))


def test_fidelity_of_pure_states_is_squared_overlap() -> None:
    gen = torch.Generator().manual_seed(2)
    psi, phi = random_psi(8, gen), random_psi(8, gen)
    expected = torch.vdot(psi, phi).abs() ** 2
    got = fidelity(density_matrix(psi), density_matrix(phi))
    assert got.item() == pytest.approx(expected.item(), abs=1e-10)


def test_trace_distance_closed_forms() -> None:
    gen = torch.Generator().manual_seed(3)
    # Commuting (diagonal) states: half the L1 distance of the eigenvalue vectors.
    p = torch.tensor([0.5, 0.2, 0.2, 0.1], dtype=torch.float64)
    q = torch.tensor([0.1, 0.4, 0.3, 0.2], dtype=torch.float64)
    u = haar_unitary(4, gen)
    rho = u @ torch.diag(p).to(u.dtype) @ u.conj().T
    sigma = u @ torch.diag(q).to(u.dtype) @ u.conj().T
    assert trace_distance(rho, sigma).item() == pytest.approx(0.5 * (p - q).abs().sum().item())
    # Pure states: sqrt(1 - |<ψ|φ>|²).
    psi, phi = random_psi(4, gen), random_psi(4, gen)
    expected = math.sqrt(1 - torch.vdot(psi, phi).abs().item() ** 2)
    got = trace_distance(density_matrix(psi), density_matrix(phi)).item()
    assert got == pytest.approx(expected, abs=1e-12)


def test_purity_and_entropies_closed_forms() -> None:
    d = 8
    mixed = torch.eye(d, dtype=torch.complex128) / d
    pure = density_matrix(plus_state(3))
    assert purity(mixed).item() == pytest.approx(1 / d)
    assert purity(pure).item() == pytest.approx(1.0)
    assert von_neumann_entropy(mixed).item() == pytest.approx(math.log(d))
    assert abs(von_neumann_entropy(pure).item()) < 1e-10
    assert measurement_entropy(pure).item() == pytest.approx(3 * math.log(2))
    assert measurement_entropy(density_matrix(basis_state(3, 5))).item() == 0.0
    p = np.array([0.5, 0.25, 0.125, 0.125])
    rho = torch.diag(torch.tensor(p, dtype=torch.complex128))
    shannon = -(p * np.log(p)).sum()
    assert von_neumann_entropy(rho).item() == pytest.approx(shannon)
    assert measurement_entropy(rho).item() == pytest.approx(shannon)


def test_invalid_density_matrices_raise() -> None:
    rho = torch.tensor([[0.5, 0.3], [0.1, 0.5]], dtype=torch.complex128)
    with pytest.raises(InputError, match="not Hermitian"):
        purity(rho)
    with pytest.raises(InputError, match="trace differs from 1"):
        von_neumann_entropy(torch.eye(2, dtype=torch.complex128))
    with pytest.raises(InputError, match="equal shapes"):
        fidelity(torch.eye(2, dtype=torch.complex128) / 2, torch.eye(4, dtype=torch.complex128) / 4)
    with pytest.raises(InputError, match="index must be in"):
        basis_state(2, 4)
