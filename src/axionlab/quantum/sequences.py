"""Repeated noisy operator sequences: the measurements of EXP-04 and their closed forms.

One step of a sequence applies a circuit layer (:mod:`axionlab.quantum.circuits`) and then the
noise channel on every qubit. The start state is ``|+>^{⊗n}`` so that the diagonal
``"z_rotation"`` pool acts non-trivially. The multiset of a length-``m`` sequence over a pool of
``k`` layers is fixed: position ``i`` of the ``"fixed"`` ordering holds layer ``i mod k``;
``"reversed"`` reverses it and ``"random"`` permutes it (one permutation per ``m``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from torch import Tensor

from axionlab.checks import check_choice, check_count, check_probability
from axionlab.errors import InputError
from axionlab.quantum.channels import (
    amplitude_damping_kraus,
    dephasing_kraus,
    depolarizing_kraus,
    kraus_superoperator,
)
from axionlab.quantum.circuits import POOLS, Layer, apply_layer, draw_pool, layer_unitary
from axionlab.quantum.fused import run_sequences
from axionlab.quantum.operators import frame_potential, mean_commutator_norm
from axionlab.quantum.states import (
    density_matrix,
    measurement_entropy,
    plus_state,
    purity,
    trace_distance,
    von_neumann_entropy,
)

NOISE_MODELS = ("none", "depolarizing", "dephasing", "amplitude_damping")
ORDERINGS = ("fixed", "random", "reversed")
_BATCH_BYTES = 2**26


class DecayFit(NamedTuple):
    """Least-squares fit of ``f ≈ A·pᵐ + B``; ``rate = −ln p`` is the decay rate per step."""

    a: float
    p: float
    b: float

    @property
    def rate(self) -> float:
        # + 0.0 turns the −0.0 of p = 1 into 0.0.
        return -math.log(self.p) + 0.0 if self.p > 0 else math.inf


def fit_decay(
    m: Sequence[float] | np.ndarray | Tensor, f: Sequence[float] | np.ndarray | Tensor
) -> DecayFit:
    """Fit ``f ≈ A·pᵐ + B`` with ``p ∈ [0, 1]`` by least squares; returns ``(A, p, B)``.

    A flat curve (spread within 1e-12 relative) gives ``(0, 1, mean)``: decay rate 0.

    Variable projection: for each ``p`` the optimal ``(A, B)`` is linear least squares, leaving a
    one-dimensional search over ``p`` (a grid, then bounded Brent refinement). This is the
    randomized-benchmarking decay model (Magesan, Gambetta & Emerson 2011, PRL 106, 180504).

    Raises
    ------
    InputError
        If fewer than 3 points are given, the lengths differ or values are not finite.
    """
    x = np.asarray(torch.as_tensor(m).cpu(), dtype=np.float64).ravel()
    y = np.asarray(torch.as_tensor(f).cpu(), dtype=np.float64).ravel()
    if x.shape != y.shape or x.size < 3:
        raise InputError(f"m and f must have equal length >= 3, got {x.size} and {y.size}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InputError("m and f must be finite")
    # A flat curve fits every p equally well (with A = 0): report no decay, not an arbitrary p.
    if np.ptp(y) <= 1e-12 * max(1.0, float(np.abs(y).max())):
        return DecayFit(0.0, 1.0, float(y.mean()))

    def solve(p: float) -> tuple[float, np.ndarray]:
        design = np.stack([p**x, np.ones_like(x)], axis=1)
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        return float(((design @ coef - y) ** 2).sum()), coef

    grid = np.linspace(0.0, 1.0, 201)
    best = int(np.argmin([solve(p)[0] for p in grid]))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]
    res = minimize_scalar(
        lambda p: solve(p)[0], bounds=(lo, hi), method="bounded", options={"xatol": 1e-13}
    )
    p = float(res.x) if res.fun <= solve(grid[best])[0] else float(grid[best])
    coef = solve(p)[1]
    return DecayFit(float(coef[0]), p, float(coef[1]))


def repeated_depolarizing(d: int, p: float, m: int | Tensor) -> tuple[Tensor, Tensor]:
    """Fidelity with a pure start and purity after ``m`` applications of ``(1 − p)ρ + p I/d``.

    ``F = 1/d + (1 − 1/d)(1 − p)ᵐ`` and ``Tr ρ² = 1/d + (1 − 1/d)(1 − p)^{2m}``; unchanged by
    interleaved unitaries for the echo (the channel commutes with every unitary).
    """
    lam = (1 - p) ** torch.as_tensor(m, dtype=torch.float64)
    return 1 / d + (1 - 1 / d) * lam, 1 / d + (1 - 1 / d) * lam**2


def repeated_amplitude_damping_gamma(gamma: float, m: int | Tensor) -> Tensor:
    """``γₘ = 1 − (1 − γ)ᵐ``: ``m`` amplitude-damping steps equal one step of strength ``γₘ``."""
    return 1 - (1 - gamma) ** torch.as_tensor(m, dtype=torch.float64)


@dataclass(frozen=True)
class Diversity:
    """Diversity of the operator pool: distinct count, frame potential ``(F₁, F₂)``, mean ‖[U, V]‖.

    ``frame_potential`` and ``mean_commutator_norm`` are ``None`` above ``max_qubits``
    (they need the full ``2^n × 2^n`` unitaries).
    """

    n_distinct: int
    frame_potential: tuple[float, float] | None
    mean_commutator_norm: float | None


@dataclass(frozen=True)
class ClosedForm:
    """Closed-form predictions per length (``(L,)`` float64), ``None`` where none exists.

    They exist for the ``"z_rotation"`` pool (every quantity; ordering sensitivity is exactly 0),
    for ``"none"`` noise (purity 1, echo 1, von Neumann entropy 0) and for depolarizing noise on one
    qubit with any pool (purity, echo, von Neumann entropy).
    """

    fidelity: Tensor | None
    purity: Tensor | None
    loschmidt_echo: Tensor | None
    measurement_entropy: Tensor | None
    von_neumann_entropy: Tensor | None
    ordering_trace_distance: Tensor | None


@dataclass(frozen=True)
class SequenceResult:
    """Measurements per sequence length; every tensor is ``(L,)`` float64 aligned with ``lengths``.

    ``fidelity`` is ``<ψ₀|ρₘ|ψ₀>``; ``loschmidt_echo`` is ``<ψₘ|ρₘ|ψₘ>`` with ``ψₘ`` the noiseless
    evolution (noisy forward, perfect backward). ``ordering_*`` summarise the outputs of
    ``n_orderings`` random orderings of the same multiset: mean pairwise trace distance, output
    variance ``mean_r ‖ρ_r − ρ̄‖²_F``, and mean/variance (ddof 0) of measurement entropy, mean of
    von Neumann entropy.
    """

    lengths: tuple[int, ...]
    fidelity: Tensor
    purity: Tensor
    loschmidt_echo: Tensor
    measurement_entropy: Tensor
    von_neumann_entropy: Tensor
    ordering_trace_distance: Tensor
    ordering_variance: Tensor
    ordering_entropy_mean: Tensor
    ordering_entropy_var: Tensor
    ordering_von_neumann_mean: Tensor
    diversity: Diversity
    closed_form: ClosedForm

    def closed_form_deviation(self) -> dict[str, float]:
        """``max_m |measured − closed form|`` for every quantity that has a closed form.

        Keys are :class:`ClosedForm` field names (the measured attribute of the same name); a
        quantity without a closed form is absent, so ``{}`` means "beyond closed form".
        """
        out = {}
        for f in fields(self.closed_form):
            predicted = getattr(self.closed_form, f.name)
            if predicted is not None:
                measured = getattr(self, f.name)
                out[f.name] = float((measured - predicted.to(measured)).abs().max())
        return out


def noise_kraus(
    noise: str,
    strength: float,
    *,
    dtype: torch.dtype = torch.complex128,
    device: torch.device | str | None = None,
) -> Tensor | None:
    """Single-qubit Kraus set of a named noise model (``None`` for ``"none"``).

    Raises
    ------
    InputError
        If ``noise`` is unknown or ``strength`` is outside [0, 1].
    """
    check_choice("noise", noise, NOISE_MODELS)
    check_probability("strength", strength)
    if noise == "depolarizing":
        return depolarizing_kraus(strength, dtype=dtype, device=device)
    if noise == "dephasing":
        return dephasing_kraus(strength, dtype=dtype, device=device)
    if noise == "amplitude_damping":
        return amplitude_damping_kraus(strength, dtype=dtype, device=device)
    return None


def ordered_indices(m: int, k: int, ordering: str, generator: torch.Generator) -> list[int]:
    """Pool indices of the length-``m`` sequence in ``ordering`` (see the module docstring)."""
    check_choice("ordering", ordering, ORDERINGS)
    base = [i % k for i in range(m)]
    if ordering == "reversed":
        return base[::-1]
    if ordering == "random":
        perm = torch.randperm(m, generator=generator, device=generator.device).tolist()
        return [base[i] for i in perm]
    return base


def run_sequence(
    rho: Tensor, layers: Sequence[Layer], indices: Sequence[int], noise_superop: Tensor | None
) -> Tensor:
    """For each ``i`` in ``indices``: apply ``layers[i]``, then the noise on every qubit.

    One row of :func:`~axionlab.quantum.fused.run_sequences` (fused layers, Pauli coordinates).
    """
    return run_sequences(rho, layers, [indices], noise_superop)[0]


def _final_states(
    rho: Tensor, layers: Sequence[Layer], rows: Sequence[Sequence[int]], superop: Tensor | None
) -> Iterator[Tensor]:
    # Rows are run together up to _BATCH_BYTES of states, so small registers take one batched
    # call while large ones hold no more density matrices than one at a time.
    step = max(1, _BATCH_BYTES // (16 * rho.numel()))
    for start in range(0, len(rows), step):
        yield from run_sequences(rho, layers, rows[start : start + step], superop)


def sequence_experiment(
    n_qubits: int,
    lengths: Sequence[int],
    *,
    ordering: str,
    diversity: int,
    noise: str,
    strength: float,
    generator: torch.Generator,
    pool: str = "haar",
    n_orderings: int = 8,
    max_qubits_diversity: int = 6,
    dtype: torch.dtype = torch.complex128,
) -> SequenceResult:
    """Measure stability, ordering sensitivity and uncertainty of noisy sequences, per length.

    Draws ``diversity`` distinct layers from ``pool``, then for each ``m`` in ``lengths`` runs the
    length-``m`` sequence in ``ordering`` and ``n_orderings`` random orderings of the same multiset,
    all on the generator's device. See the :mod:`axionlab.quantum` docstring for the measures.

    Parameters
    ----------
    n_qubits, lengths
        Register size and the sequence lengths ``m`` (positive, each run from the start state).
    ordering, diversity, noise, strength, pool
        ``"fixed" | "random" | "reversed"``; number ``k`` of distinct layers; noise model and its
        ``p``/``γ`` applied to every qubit after every layer; layer pool.
    generator
        Source of all randomness (pool, then per length the ordering and the ``n_orderings`` draws).
    n_orderings
        Random orderings used for ordering sensitivity (>= 2).
    max_qubits_diversity
        Largest ``n`` for which frame potential and commutator norms (full unitaries) are computed.

    Raises
    ------
    InputError
        On an unknown name, a strength outside [0, 1] or non-positive sizes.
    """
    kraus = noise_kraus(noise, strength, dtype=dtype, device=generator.device)
    check_choice("pool", pool, POOLS)
    check_choice("ordering", ordering, ORDERINGS)
    if not lengths or any(int(m) < 1 for m in lengths):
        raise InputError(
            f"lengths must be a non-empty list of positive integers, got {list(lengths)}"
        )
    check_count("n_orderings", n_orderings, minimum=2)
    lengths = tuple(int(m) for m in lengths)
    layers = draw_pool(n_qubits, diversity, pool, generator, dtype=dtype)
    superop = None if kraus is None else kraus_superoperator(kraus)
    psi0 = plus_state(n_qubits, dtype=dtype, device=generator.device)
    rho0 = density_matrix(psi0)

    runs: list[list[int]] = []  # per length: the ordering, then the random ones, in draw order
    for m in lengths:
        runs.append(ordered_indices(m, diversity, ordering, generator))
        runs += [ordered_indices(m, diversity, "random", generator) for _ in range(n_orderings)]
    finals = _final_states(rho0, layers, runs, superop)
    # The full unitaries, built for the diversity measures on small registers, also evolve the
    # noiseless ψ in one matvec per layer.
    us = (
        torch.stack([layer_unitary(layer) for layer in layers])
        if n_qubits <= max_qubits_diversity
        else None
    )

    rows: list[list[float]] = []
    for idx in runs[:: n_orderings + 1]:
        rho = next(finals)
        psi = psi0
        for i in idx:
            psi = apply_layer(psi, layers[i]) if us is None else us[i] @ psi
        outs = torch.stack([next(finals) for _ in range(n_orderings)])  # (R, d, d)
        pair_td = [
            float(trace_distance(outs[i], outs[j]))
            for i in range(n_orderings)
            for j in range(i + 1, n_orderings)
        ]
        ent = measurement_entropy(outs)
        rows.append(
            [
                float(torch.vdot(psi0, rho @ psi0).real),
                float(purity(rho)),
                float(torch.vdot(psi, rho @ psi).real),
                float(measurement_entropy(rho)),
                float(von_neumann_entropy(rho)),
                float(np.mean(pair_td)),
                float(((outs - outs.mean(0)).abs() ** 2).sum((-2, -1)).mean()),
                float(ent.mean()),
                float(ent.var(correction=0)),
                float(von_neumann_entropy(outs).mean()),
            ]
        )
    c = torch.tensor(rows, dtype=torch.float64).T  # (10, L)
    return SequenceResult(
        lengths=lengths,
        fidelity=c[0],
        purity=c[1],
        loschmidt_echo=c[2],
        measurement_entropy=c[3],
        von_neumann_entropy=c[4],
        ordering_trace_distance=c[5],
        ordering_variance=c[6],
        ordering_entropy_mean=c[7],
        ordering_entropy_var=c[8],
        ordering_von_neumann_mean=c[9],
        diversity=_diversity(us, len(layers)),
        closed_form=_closed_form(n_qubits, lengths, noise, strength, pool, layers),
    )


def _diversity(unitaries: Tensor | None, k: int) -> Diversity:
    if unitaries is None:
        return Diversity(k, None, None)
    return Diversity(
        k,
        (frame_potential(unitaries, 1), frame_potential(unitaries, 2)),
        mean_commutator_norm(unitaries),
    )


def _closed_form(
    n_qubits: int,
    lengths: tuple[int, ...],
    noise: str,
    strength: float,
    pool: str,
    layers: Sequence[Layer],
) -> ClosedForm:
    m = torch.tensor(lengths, dtype=torch.float64)
    if pool == "z_rotation":
        # Product state; per qubit the noise only rescales the population p1 and |ρ01| = c, and
        # Rz only adds the phase Φ to ρ01 (all four channels are covariant under Rz).
        q = 1 - strength
        p1 = torch.full_like(m, 0.5)
        c = torch.full_like(m, 0.5)
        if noise in ("depolarizing", "dephasing"):
            c = 0.5 * q**m
        elif noise == "amplitude_damping":
            p1, c = 0.5 * q**m, 0.5 * q ** (m / 2)
        # e^{iθ} per layer and qubit is the ratio of the Rz diagonal entries.
        step = torch.stack(
            [(lay.single[:, 1, 1] / lay.single[:, 0, 0]).cpu() for lay in layers]
        )  # (k, n)
        k = len(layers)
        cos_phi = torch.stack(
            [torch.prod(step[[i % k for i in range(mm)]], dim=0).real for mm in lengths]
        )  # (L, n)
        r = torch.sqrt((1 - 2 * p1) ** 2 + 4 * c**2)
        return ClosedForm(
            fidelity=torch.prod(0.5 + c[:, None] * cos_phi, dim=1),
            purity=((1 + r**2) / 2) ** n_qubits,
            loschmidt_echo=(0.5 + c) ** n_qubits,
            measurement_entropy=n_qubits * _binary_entropy(p1),
            von_neumann_entropy=n_qubits * _binary_entropy((1 + r) / 2),
            ordering_trace_distance=torch.zeros_like(m),
        )
    if noise == "none":
        return ClosedForm(
            None, torch.ones_like(m), torch.ones_like(m), None, torch.zeros_like(m), None
        )
    if noise == "depolarizing" and n_qubits == 1:
        # The depolarizing channel commutes with every unitary: ρₘ = λ Vρ₀V† + (1 − λ) I/2.
        lam = (1 - strength) ** m
        echo, pur = repeated_depolarizing(2, strength, m)
        return ClosedForm(None, pur, echo, None, _binary_entropy((1 + lam) / 2), None)
    return ClosedForm(None, None, None, None, None, None)


def _binary_entropy(x: Tensor) -> Tensor:
    out: Tensor = -torch.special.xlogy(x, x) - torch.special.xlogy(1 - x, 1 - x)
    return out
