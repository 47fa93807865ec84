"""Fused layers in Pauli coordinates against the unfused tensor path and explicit references."""

from __future__ import annotations

import pytest
import torch

from axionlab.errors import InputError
from axionlab.quantum import (
    DENSE_MAX_QUBITS,
    Layer,
    amplitude_damping_kraus,
    apply_fused,
    apply_layer,
    apply_local_superoperator,
    cnot,
    depolarizing_kraus,
    draw_pool,
    from_pauli,
    fuse_layer,
    fused,
    haar_unitary,
    kraus_superoperator,
    pauli,
    pauli_basis,
    pauli_transfer_matrix,
    run_sequence,
    run_sequences,
    to_pauli,
)


def mixed_states(n: int, batch: int, gen: torch.Generator) -> torch.Tensor:
    """Random full-rank density matrices ``(batch, 2^n, 2^n)``: ``A A† / Tr``."""
    d = 2**n
    a = torch.complex(
        torch.randn(batch, d, d, generator=gen, dtype=torch.float64),
        torch.randn(batch, d, d, generator=gen, dtype=torch.float64),
    )
    rho = a @ a.conj().transpose(-1, -2)
    return rho / torch.diagonal(rho, dim1=-2, dim2=-1).sum(-1)[:, None, None]


def unfused(rho: torch.Tensor, layer: Layer, superop: torch.Tensor | None) -> torch.Tensor:
    """The layer, then the channel on every qubit, one local tensor operation at a time."""
    rho = apply_layer(rho, layer)
    for q in range(layer.n_qubits if superop is not None else 0):
        rho = apply_local_superoperator(rho, superop, [q], layer.n_qubits)
    return rho


NOISES = {
    "none": None,
    "depolarizing": kraus_superoperator(depolarizing_kraus(0.2)),
    "amplitude_damping": kraus_superoperator(amplitude_damping_kraus(0.3)),
}


def test_pauli_transfer_matrices_of_known_channels() -> None:
    p = 0.3
    ptm = pauli_transfer_matrix(NOISES["depolarizing"])
    torch.testing.assert_close(ptm, torch.diag(torch.tensor([1, 0.8, 0.8, 0.8])).double())
    eye = torch.eye(16, dtype=torch.complex128)
    torch.testing.assert_close(pauli_transfer_matrix(eye), torch.eye(16, dtype=torch.float64))
    # Amplitude damping: T = (0, 0, γ) and the X, Y, Z contractions √(1−γ), √(1−γ), 1 − γ.
    ad = pauli_transfer_matrix(kraus_superoperator(amplitude_damping_kraus(p)))
    expected = torch.diag(torch.tensor([1, (1 - p) ** 0.5, (1 - p) ** 0.5, 1 - p])).double()
    expected[3, 0] = p
    torch.testing.assert_close(ad, expected)
    labels = [a + b for a in "IXYZ" for b in "IXYZ"]
    torch.testing.assert_close(pauli_basis(2), torch.stack([pauli(s) for s in labels]))


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_pauli_coordinates_round_trip_and_are_traces(n: int) -> None:
    rho = mixed_states(n, 3, torch.Generator().manual_seed(n))
    r = to_pauli(rho)
    assert r.shape == (3, 4**n) and r.dtype == torch.float64
    torch.testing.assert_close(r[:, 0], torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(from_pauli(r), rho, atol=1e-15, rtol=0)
    if n <= 3:
        direct = torch.einsum("pab,zba->zp", pauli_basis(n), rho).real
        torch.testing.assert_close(r, direct, atol=1e-14, rtol=0)


def test_non_hermitian_states_and_bad_shapes_raise() -> None:
    with pytest.raises(InputError, match="rho must be Hermitian"):
        to_pauli(torch.tensor([[1, 1], [0, 0]], dtype=torch.complex128))
    with pytest.raises(InputError, match=r"rho must have shape \(\.\.\., 2\^n, 2\^n\)"):
        to_pauli(torch.eye(3, dtype=torch.complex128))
    with pytest.raises(InputError, match=r"superop must have shape"):
        pauli_transfer_matrix(torch.eye(8, dtype=torch.complex128))


@pytest.mark.parametrize("noise", list(NOISES))
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_fused_layer_equals_the_unfused_path(n: int, noise: str) -> None:
    gen = torch.Generator().manual_seed(10 + n)
    rho = mixed_states(n, 2, gen)
    for layer in draw_pool(n, 3, "haar", gen):  # both brick offsets at n >= 3
        expected = torch.stack([unfused(r, layer, NOISES[noise]) for r in rho])
        for dense in (0, DENSE_MAX_QUBITS):  # local matrices only; one dense matrix up to 4
            fused = fuse_layer(layer, NOISES[noise], dense_max_qubits=dense)
            got = from_pauli(apply_fused(to_pauli(rho), fused))
            torch.testing.assert_close(got, expected, atol=1e-13, rtol=0)


@pytest.mark.parametrize("pairs", [((2, 0),), ((1, 3), (0, 2)), ((0, 1), (1, 2)), ((3, 2), (1, 0))])
def test_reversed_distant_and_overlapping_pairs(pairs: tuple[tuple[int, int], ...]) -> None:
    gen = torch.Generator().manual_seed(7)
    layer = Layer(
        haar_unitary(2, gen, batch_shape=(4,)),
        pairs,
        haar_unitary(4, gen, batch_shape=(len(pairs),)),
    )
    rho = mixed_states(4, 1, gen)
    superop = NOISES["amplitude_damping"]
    expected = unfused(rho[0], layer, superop)
    for dense in (0, 4):
        got = from_pauli(
            apply_fused(to_pauli(rho), fuse_layer(layer, superop, dense_max_qubits=dense))
        )
        torch.testing.assert_close(got[0], expected, atol=1e-13, rtol=0)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_batched_sequences_equal_one_by_one(n: int) -> None:
    gen = torch.Generator().manual_seed(20 + n)
    layers = draw_pool(n, 3, "haar", gen)
    superop = NOISES["depolarizing"]
    rows = [[0, 1, 2, 1], [2], [], [1, 1, 0], [0, 2, 1, 0, 2]]
    starts = mixed_states(n, len(rows), gen)
    got = run_sequences(starts, layers, rows, superop)
    shared = run_sequences(starts[0], layers, rows, superop)
    for b, row in enumerate(rows):
        ref, ref0 = starts[b], starts[0]
        for i in row:
            ref, ref0 = unfused(ref, layers[i], superop), unfused(ref0, layers[i], superop)
        torch.testing.assert_close(got[b], ref, atol=1e-13, rtol=0)
        torch.testing.assert_close(shared[b], ref0, atol=1e-13, rtol=0)
        torch.testing.assert_close(run_sequence(starts[b], layers, row, superop), got[b])


def test_cnot_layer_matches_a_dense_kraus_sum() -> None:
    gen = torch.Generator().manual_seed(3)
    n, kraus = 3, amplitude_damping_kraus(0.25)
    layer = Layer(haar_unitary(2, gen, batch_shape=(n,)), ((0, 1),), cnot().expand(1, 4, 4))
    u = torch.kron(torch.kron(layer.single[0], layer.single[1]), layer.single[2])
    u = torch.kron(cnot(), torch.eye(2, dtype=u.dtype)) @ u
    full = [torch.kron(torch.kron(a, b), c) for a in kraus for b in kraus for c in kraus]
    rho = mixed_states(n, 1, gen)[0]
    expected = sum(k @ u @ rho @ u.conj().T @ k.conj().T for k in full)
    got = run_sequence(rho, [layer], [0], kraus_superoperator(kraus))
    torch.testing.assert_close(got, expected, atol=1e-14, rtol=0)


def test_invalid_sequences_raise() -> None:
    gen = torch.Generator().manual_seed(0)
    layers = draw_pool(2, 2, "haar", gen)
    rho = mixed_states(2, 1, gen)[0]
    with pytest.raises(InputError, match=r"indices must lie in \[0, 2\)"):
        run_sequences(rho, layers, [[0, 2]], None)
    with pytest.raises(InputError, match=r"rho must be \(4, 4\) or \(2, 4, 4\)"):
        run_sequences(rho[:2, :2], layers, [[0], [1]], None)
    with pytest.raises(InputError, match="one register size"):
        run_sequences(rho, [*layers, *draw_pool(3, 1, "haar", gen)], [[0, 2]], None)
    with pytest.raises(InputError, match=r"noise_superop must be a \(4, 4\)"):
        fuse_layer(layers[0], torch.eye(16, dtype=torch.complex128))


@pytest.mark.parametrize("n", [3, 5, 6])
def test_blocked_in_place_path_and_split_interleave_equal_the_plain_ones(
    n: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    gen = torch.Generator().manual_seed(30 + n)
    rho = mixed_states(n, 2, gen)
    superop = NOISES["amplitude_damping"]
    layers = draw_pool(n, 3, "haar", gen)
    plain = [from_pauli(apply_fused(to_pauli(rho), fuse_layer(lay, superop))) for lay in layers]
    # Every state blocked, in blocks of 64 bytes, and every interleave split down to one qubit.
    monkeypatch.setattr(fused, "_BLOCKED_BYTES", 0)
    monkeypatch.setattr(fused, "_BLOCK_BYTES", 64)
    monkeypatch.setattr(fused, "_INTERLEAVE_QUBITS", 1)
    for layer, expected in zip(layers, plain, strict=True):
        r = to_pauli(rho)
        out = apply_fused(r, fuse_layer(layer, superop, dense_max_qubits=0))
        assert out.data_ptr() == r.data_ptr()  # updated in place
        torch.testing.assert_close(from_pauli(out), expected, atol=1e-13, rtol=0)
    torch.testing.assert_close(from_pauli(to_pauli(rho)), rho, atol=1e-15, rtol=0)


def test_from_pauli_never_writes_the_callers_coordinates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Complex coordinates are not copied by ``.to`` and large states are updated in place: the
    caller's tensor must still come back unchanged (blocking forced on a small state)."""
    monkeypatch.setattr(fused, "_BLOCKED_BYTES", 0)
    monkeypatch.setattr(fused, "_BLOCK_BYTES", 64)
    rho = mixed_states(3, 2, torch.Generator().manual_seed(7))
    r = to_pauli(rho).to(torch.complex128)
    kept = r.clone()
    torch.testing.assert_close(from_pauli(r), rho, atol=1e-15, rtol=0)
    assert torch.equal(r, kept)
