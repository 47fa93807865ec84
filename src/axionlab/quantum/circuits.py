"""Random circuit layers: the operators that sequences repeat, reorder and draw pools from.

A :class:`Layer` is one single-qubit gate on every qubit followed by two-qubit gates on disjoint
neighbouring pairs (a brick). Pools:

- ``"haar"``: Haar single-qubit gates, then CZ on pairs ``(o, o+1), (o+2, o+3), ...`` with a random
  offset ``o ∈ {0, 1}``;
- ``"clifford"``: uniform single-qubit Cliffords (of the 24), then the same CZ brick;
- ``"z_rotation"``: ``Rz(θ)``, ``θ ~ U[0, 2π)`` on every qubit and no entangler — a commuting pool
  that keeps product states product, used as the closed-form control.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from axionlab.checks import check_choice, check_count
from axionlab.errors import InputError
from axionlab.quantum.channels import (
    _act,
    apply_local_superoperator,
    apply_local_unitary,
    kraus_superoperator,
)
from axionlab.quantum.operators import clifford_group, cz, haar_unitary

POOLS = ("haar", "clifford", "z_rotation")


@dataclass(frozen=True)
class Layer:
    """Gates ``single`` ``(n, 2, 2)`` on every qubit, then ``two`` ``(P, 4, 4)`` on ``pairs``."""

    single: Tensor
    pairs: tuple[tuple[int, int], ...]
    two: Tensor

    @property
    def n_qubits(self) -> int:
        return int(self.single.shape[0])


def random_layer(
    n_qubits: int, pool: str, generator: torch.Generator, *, dtype: torch.dtype = torch.complex128
) -> Layer:
    """Draw one :class:`Layer` from ``pool`` (see the module docstring) on the generator's device.

    Raises
    ------
    InputError
        If ``pool`` is unknown or ``n_qubits < 1``.
    """
    return draw_pool(n_qubits, 1, pool, generator, dtype=dtype)[0]


def draw_pool(
    n_qubits: int,
    k: int,
    pool: str,
    generator: torch.Generator,
    *,
    dtype: torch.dtype = torch.complex128,
) -> tuple[Layer, ...]:
    """Draw ``k`` distinct layers from ``pool`` (Clifford layers are drawn without repetition).

    Raises
    ------
    InputError
        If ``pool`` is unknown, ``k < 1``, or ``k`` exceeds the number of distinct Clifford layers.
    """
    check_choice("pool", pool, POOLS)
    check_count("n_qubits", n_qubits, minimum=1)
    check_count("k", k, minimum=1)
    dev = generator.device
    if pool == "z_rotation":
        theta = (
            2
            * math.pi
            * torch.rand((k, n_qubits), generator=generator, dtype=torch.float64, device=dev)
        )
        phase = torch.exp(0.5j * theta).to(dtype)
        single = torch.zeros((k, n_qubits, 2, 2), dtype=dtype, device=dev)
        single[..., 0, 0] = phase.conj()
        single[..., 1, 1] = phase
        empty = torch.zeros((0, 4, 4), dtype=dtype, device=dev)
        return tuple(Layer(single[i], (), empty) for i in range(k))
    n_offsets = 1 if n_qubits == 1 else 2
    if pool == "haar":
        singles = haar_unitary(2, generator, batch_shape=(k, n_qubits), dtype=dtype)
        offsets = torch.randint(n_offsets, (k,), generator=generator, device=dev).tolist()
    else:
        n_distinct = 24**n_qubits * n_offsets
        if k > n_distinct:
            raise InputError(
                f"k must be <= {n_distinct} distinct Clifford layers on {n_qubits} qubits, got {k}"
            )
        group = clifford_group(dtype=dtype, device=dev)
        seen: set[tuple[int, ...]] = set()
        keys: list[tuple[int, ...]] = []
        while len(keys) < k:
            idx = torch.randint(24, (n_qubits,), generator=generator, device=dev).tolist()
            off = int(torch.randint(n_offsets, (1,), generator=generator, device=dev))
            key = (*idx, off)
            if key not in seen:
                seen.add(key)
                keys.append(key)
        singles = torch.stack([group[list(key[:-1])] for key in keys])
        offsets = [key[-1] for key in keys]
    gate = cz(dtype=dtype, device=dev)
    layers = []
    for i, off in enumerate(offsets):
        pairs = tuple((q, q + 1) for q in range(off, n_qubits - 1, 2))
        layers.append(Layer(singles[i], pairs, gate.expand(len(pairs), 4, 4)))
    return tuple(layers)


def apply_layer(state: Tensor, layer: Layer) -> Tensor:
    """Apply ``layer`` to a state vector ``(2^n,)`` or density matrix ``(2^n, 2^n)``."""
    n = layer.n_qubits
    for q in range(n):
        if state.ndim == 2:
            # One pass over ρ with U ⊗ U* instead of two (left, then right).
            sup = kraus_superoperator(layer.single[q].unsqueeze(0))
            state = apply_local_superoperator(state, sup, [q], n)
        else:
            state = apply_local_unitary(state, layer.single[q], [q], n)
    for pair, gate in zip(layer.pairs, layer.two, strict=True):
        state = apply_local_unitary(state, gate, list(pair), n)
    return state


def layer_unitary(layer: Layer) -> Tensor:
    """The full ``(2^n, 2^n)`` unitary of ``layer`` (for diversity measures on small ``n`` only)."""
    n = layer.n_qubits
    d = 2**n
    u = torch.eye(d, dtype=layer.single.dtype, device=layer.single.device).reshape((2,) * n + (d,))
    for q in range(n):
        u = _act(u, layer.single[q], [q], 1)
    for pair, gate in zip(layer.pairs, layer.two, strict=True):
        u = _act(u, gate, list(pair), 2)
    return u.reshape(d, d)
