"""Kraus channels and local application against closed forms, explicit kron products and QuTiP."""

from __future__ import annotations

from functools import reduce

import numpy as np
import pytest
import qutip
import torch

from axionlab.errors import InputError
from axionlab.quantum import (
    amplitude_damping_kraus,
    apply_kraus,
    apply_local_kraus,
    apply_local_unitary,
    check_kraus,
    cnot,
    density_matrix,
    dephasing_kraus,
    depolarizing_kraus,
    fidelity,
    haar_unitary,
    purity,
)


def random_rho(d: int, gen: torch.Generator) -> torch.Tensor:
    u = haar_unitary(d, gen)
    lam = torch.rand(d, generator=gen, dtype=torch.float64)
    return (u * (lam / lam.sum()).to(u.dtype)) @ u.conj().T


def embed(op: torch.Tensor, targets: list[int], n: int) -> torch.Tensor:
    """Reference full-space operator: kron with identities, then permute qubits into place."""
    k = len(targets)
    rest = [q for q in range(n) if q not in targets]
    full = torch.kron(op, torch.eye(2 ** (n - k), dtype=op.dtype))  # order: targets, rest
    order = targets + rest
    perm = [order.index(q) for q in range(n)]
    t = full.reshape((2,) * (2 * n)).permute(perm + [n + p for p in perm])
    return t.reshape(2**n, 2**n)


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_kraus_sets_are_complete(p: float) -> None:
    for kraus in (
        depolarizing_kraus(p),
        depolarizing_kraus(p, d=3),
        dephasing_kraus(p),
        dephasing_kraus(p, d=4),
        amplitude_damping_kraus(p),
    ):
        gram = torch.einsum("kba,kbc->ac", kraus.conj(), kraus)
        torch.testing.assert_close(gram, torch.eye(kraus.shape[-1], dtype=kraus.dtype))
        check_kraus(kraus)


def test_invalid_kraus_and_probabilities_raise() -> None:
    with pytest.raises(InputError, match="not trace preserving"):
        apply_kraus(torch.eye(2, dtype=torch.complex128) / 2, 1.1 * amplitude_damping_kraus(0.2))
    with pytest.raises(InputError, match=r"p must be in \[0, 1\]"):
        depolarizing_kraus(1.5)
    with pytest.raises(InputError, match=r"gamma must be in \[0, 1\]"):
        amplitude_damping_kraus(-0.1)
    with pytest.raises(InputError, match="distinct qubits"):
        apply_local_unitary(torch.zeros(8, dtype=torch.complex128), cnot(), [1, 1], 3)


@pytest.mark.parametrize("d", [2, 3, 4])
def test_depolarizing_definition_and_repeated_closed_form(d: int) -> None:
    gen = torch.Generator().manual_seed(d)
    p = 0.15
    kraus = depolarizing_kraus(p, d=d)
    rho = random_rho(d, gen)
    eye = torch.eye(d, dtype=rho.dtype)
    torch.testing.assert_close(apply_kraus(rho, kraus), (1 - p) * rho + p * eye / d)
    start = density_matrix(haar_unitary(d, gen)[:, 0])
    state = start
    for n in range(1, 16):
        state = apply_kraus(state, kraus)
        lam = (1 - p) ** n
        assert purity(state).item() == pytest.approx(1 / d + (1 - 1 / d) * lam**2, abs=1e-12)
        assert fidelity(state, start).item() == pytest.approx(1 / d + (1 - 1 / d) * lam, abs=1e-10)


def test_dephasing_shrinks_coherences() -> None:
    gen = torch.Generator().manual_seed(7)
    rho = random_rho(3, gen)
    out = apply_kraus(rho, dephasing_kraus(0.4, d=3))
    expected = 0.6 * rho + 0.4 * torch.diag(torch.diagonal(rho))
    torch.testing.assert_close(out, expected)


def test_amplitude_damping_composes() -> None:
    gen = torch.Generator().manual_seed(8)
    rho = random_rho(2, gen)
    gamma = 0.2
    state = rho
    for n in range(1, 12):
        state = apply_kraus(state, amplitude_damping_kraus(gamma))
        once = apply_kraus(rho, amplitude_damping_kraus(1 - (1 - gamma) ** n))
        torch.testing.assert_close(state, once, atol=1e-13, rtol=0)


@pytest.mark.parametrize("targets", [[0], [3], [2, 0], [1, 3], [3, 2]])
def test_local_operations_match_explicit_embedding(targets: list[int]) -> None:
    gen = torch.Generator().manual_seed(len(targets) * 10 + targets[0])
    n, k = 4, len(targets)
    u = haar_unitary(2**k, gen)
    rho = random_rho(2**n, gen)
    psi = haar_unitary(2**n, gen)[:, 0]
    full = embed(u, targets, n)
    torch.testing.assert_close(apply_local_unitary(psi, u, targets, n), full @ psi)
    torch.testing.assert_close(apply_local_unitary(rho, u, targets, n), full @ rho @ full.conj().T)
    kraus = depolarizing_kraus(0.3, d=2**k) if k == 2 else amplitude_damping_kraus(0.3)
    expected = sum(embed(kk, targets, n) @ rho @ embed(kk, targets, n).conj().T for kk in kraus)
    torch.testing.assert_close(apply_local_kraus(rho, kraus, targets, n), expected)


def test_random_noisy_sequence_matches_qutip() -> None:
    gen = torch.Generator().manual_seed(11)
    rng = np.random.default_rng(11)
    n = 4
    dims = [[2] * n, [2] * n]
    psi = haar_unitary(2**n, gen)[:, 0]
    rho = density_matrix(psi)
    ref = qutip.ket2dm(qutip.Qobj(psi.numpy(), dims=[[2] * n, [1] * n]))
    for _ in range(30):
        kind = rng.integers(5)
        qubits = [int(q) for q in rng.choice(n, size=2, replace=False)]
        if kind == 0:
            u = haar_unitary(2, gen)
            rho = apply_local_unitary(rho, u, qubits[:1], n)
            op = qutip.expand_operator(qutip.Qobj(u.numpy()), dims=[2] * n, targets=qubits[:1])
            ref = op * ref * op.dag()
        elif kind == 1:
            rho = apply_local_unitary(rho, cnot(), qubits, n)
            op = qutip.expand_operator(qutip.gates.cnot(), dims=[2] * n, targets=qubits)
            ref = op * ref * op.dag()
        else:
            strength = float(rng.uniform(0, 0.5))
            targets = qubits if kind == 4 else qubits[:1]
            kraus = {
                2: amplitude_damping_kraus(strength),
                3: dephasing_kraus(strength),
                4: depolarizing_kraus(strength, d=4),
            }[int(kind)]
            rho = apply_local_kraus(rho, kraus, targets, n)
            kdims = [[2] * len(targets)] * 2
            ops = [
                qutip.expand_operator(
                    qutip.Qobj(k.numpy(), dims=kdims), dims=[2] * n, targets=targets
                )
                for k in kraus
            ]
            ref = reduce(lambda a, b: a + b, [k * ref * k.dag() for k in ops])
    assert ref.dims == dims
    np.testing.assert_allclose(rho.numpy(), ref.full(), atol=1e-10, rtol=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_local_operations_on_cuda_match_cpu() -> None:
    gen = torch.Generator().manual_seed(12)
    rho, u = random_rho(32, gen), haar_unitary(4, gen)
    kraus = amplitude_damping_kraus(0.3)
    out = apply_local_kraus(apply_local_unitary(rho, u, [4, 1], 5), kraus, [2], 5)
    dev = torch.device("cuda")
    out_gpu = apply_local_kraus(
        apply_local_unitary(rho.to(dev), u.to(dev), [4, 1], 5), kraus.to(dev), [2], 5
    )
    assert out_gpu.device.type == "cuda"
    torch.testing.assert_close(out_gpu.cpu(), out, atol=1e-12, rtol=0)
