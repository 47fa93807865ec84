"""Quantum state evolution under repeated, reordered and diverse noisy operators (EXP-04).

A torch simulator (CPU or CUDA, ``complex128`` by default, device taken from the inputs or the
generator) of n-qubit state vectors and density matrices. Local gates and channels act on the
``(2,) * n`` tensor layout by ``tensordot`` (:mod:`axionlab.quantum.channels`); noisy sequences run
as fused layers on real Pauli coordinates, many systems at once (:mod:`axionlab.quantum.fused`),
so 12-qubit density matrices are practical on a CPU. All randomness comes from an explicit
``torch.Generator``.

Definitions of the lab's notions (computed by :func:`sequence_experiment`):

Stability degradation
    For a start state ``ψ₀`` and the state ``ρₘ`` after ``m`` noisy steps: fidelity with the start
    ``<ψ₀|ρₘ|ψ₀>``, purity ``Tr ρₘ²`` and the Loschmidt echo ``<ψₘ|ρₘ|ψₘ>`` where ``ψₘ`` is the
    noiseless evolution (forward with noise, then the exact inverse). Each is fitted as
    ``A·pᵐ + B`` (:func:`fit_decay`); the decay rate is ``−ln p`` per step.
Ordering sensitivity
    For ``R`` random orderings of the same multiset of operators: the mean pairwise trace distance
    of the outputs and their variance ``(1/R) Σ_r ‖ρ_r − ρ̄‖²_F``. Zero for commuting operators
    with covariant noise.
Operator diversity
    The number ``k`` of distinct operators in the pool, their frame potential
    ``F_t = (1/k²) Σ_{ij} |Tr U_i† U_j|^{2t}`` and the mean commutator norm ``‖[U_i, U_j]‖``.
Behavioural uncertainty
    Measurement entropy (Shannon entropy of the computational-basis outcomes, nats): its mean and
    variance over orderings; plus the von Neumann entropy of the state. Entropies summarise one
    output at a time and can agree across orderings whose outputs differ: with amplitude damping
    (2 qubits, γ = 0.1, 16 Haar layers) the measurement entropies of random orderings agree to
    about 0.01 nats while the outputs stay about 0.2 apart in trace distance, and for one qubit
    under depolarizing noise the von Neumann entropy is exactly order independent. Ordering
    dependence is therefore read from the trace distance, not from entropy alone.

:func:`summarise_sequence` reduces a result to scalars (decay rates, values at the longest length,
diversity, closed-form deviations); :func:`ordering_vs_entropy` counts, over a set of units, how
often entropy misses an ordering effect the trace distance shows.

References: Nielsen & Chuang, *Quantum Computation and Quantum Information* (2010), ch. 8–9;
Mezzadri 2007 (Haar sampling); Gross, Audenaert & Eisert 2007 (frame potential); Magesan,
Gambetta & Emerson 2011 (decay fits).
"""

from axionlab.quantum.channels import (
    amplitude_damping_kraus,
    apply_kraus,
    apply_local_kraus,
    apply_local_superoperator,
    apply_local_unitary,
    check_kraus,
    dephasing_kraus,
    depolarizing_kraus,
    kraus_superoperator,
)
from axionlab.quantum.circuits import (
    POOLS,
    Layer,
    apply_layer,
    draw_pool,
    layer_unitary,
    random_layer,
)
from axionlab.quantum.fused import (
    DENSE_MAX_QUBITS,
    FusedLayer,
    apply_fused,
    from_pauli,
    fuse_layer,
    pauli_basis,
    pauli_transfer_matrix,
    run_sequences,
    to_pauli,
)
from axionlab.quantum.operators import (
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
from axionlab.quantum.sequences import (
    NOISE_MODELS,
    ORDERINGS,
    ClosedForm,
    DecayFit,
    Diversity,
    SequenceResult,
    fit_decay,
    noise_kraus,
    ordered_indices,
    repeated_amplitude_damping_gamma,
    repeated_depolarizing,
    run_sequence,
    sequence_experiment,
)
from axionlab.quantum.states import (
    basis_state,
    check_density_matrix,
    density_matrix,
    fidelity,
    measurement_entropy,
    plus_state,
    purity,
    trace_distance,
    von_neumann_entropy,
)
from axionlab.quantum.summaries import (
    CLOSED_FORM_QUANTITIES,
    DECAYING_CURVES,
    NONFINITE_CURVE,
    SEQUENCE_CURVES,
    DecayRate,
    OrderingVsEntropy,
    SequenceSummary,
    decay_rate,
    ordering_vs_entropy,
    summarise_sequence,
)

__all__ = [
    "CLOSED_FORM_QUANTITIES",
    "DECAYING_CURVES",
    "DENSE_MAX_QUBITS",
    "NOISE_MODELS",
    "NONFINITE_CURVE",
    "ORDERINGS",
    "POOLS",
    "SEQUENCE_CURVES",
    "ClosedForm",
    "DecayFit",
    "DecayRate",
    "Diversity",
    "FusedLayer",
    "Layer",
    "OrderingVsEntropy",
    "SequenceResult",
    "SequenceSummary",
    "amplitude_damping_kraus",
    "apply_fused",
    "apply_kraus",
    "apply_layer",
    "apply_local_kraus",
    "apply_local_superoperator",
    "apply_local_unitary",
    "basis_state",
    "check_density_matrix",
    "check_kraus",
    "clifford_group",
    "cnot",
    "commutator_norm",
    "cz",
    "decay_rate",
    "density_matrix",
    "dephasing_kraus",
    "depolarizing_kraus",
    "draw_pool",
    "fidelity",
    "fit_decay",
    "frame_potential",
    "from_pauli",
    "fuse_layer",
    "haar_unitary",
    "kraus_superoperator",
    "layer_unitary",
    "mean_commutator_norm",
    "measurement_entropy",
    "noise_kraus",
    "ordered_indices",
    "ordering_vs_entropy",
    "pauli",
    "pauli_basis",
    "pauli_rotation",
    "pauli_transfer_matrix",
    "plus_state",
    "purity",
    "random_layer",
    "repeated_amplitude_damping_gamma",
    "repeated_depolarizing",
    "run_sequence",
    "run_sequences",
    "sequence_experiment",
    "summarise_sequence",
    "to_pauli",
    "trace_distance",
    "von_neumann_entropy",
]
