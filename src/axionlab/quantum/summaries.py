"""What a sequence experiment says in a few numbers, and where its ordering escapes entropy.

:func:`summarise_sequence` reduces a :class:`~axionlab.quantum.sequences.SequenceResult` (curves per
sequence length) to scalars: the decay rate ``−ln p`` of each decaying curve (``A·pᵐ + B`` fit,
:func:`~axionlab.quantum.sequences.fit_decay`), every curve's value at the longest length, the
operator pool's diversity with NaN where it was not computed, and the deviation of the measurement
from each closed form that exists.

:func:`ordering_vs_entropy` compares two readings of ordering dependence over a set of units: the
mean pairwise trace distance between the outputs of random orderings (the definition) and the
measurement entropy's spread over the same orderings. Entropy summarises one output at a time, so
orderings whose outputs differ can leave it unchanged; the fraction of order-dependent units whose
entropy barely moves measures how often an entropy-only reading misses the dependence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt
from torch import Tensor

from axionlab.checks import check_positive, check_same_length
from axionlab.errors import InputError
from axionlab.quantum.sequences import ClosedForm, SequenceResult, fit_decay

SEQUENCE_CURVES = (
    "fidelity",
    "purity",
    "loschmidt_echo",
    "measurement_entropy",
    "von_neumann_entropy",
    "ordering_trace_distance",
    "ordering_variance",
    "ordering_entropy_mean",
    "ordering_entropy_var",
    "ordering_von_neumann_mean",
)
"""The per-length curves of a :class:`SequenceResult`, in its field order."""
DECAYING_CURVES = ("fidelity", "purity", "loschmidt_echo")
"""The curves that decay with sequence length and get an ``A·pᵐ + B`` fit."""
CLOSED_FORM_QUANTITIES = tuple(f.name for f in fields(ClosedForm))
"""The quantities that can have a closed form (:class:`ClosedForm` fields)."""
NONFINITE_CURVE = "nonfinite_curve"
"""Reason a decay rate is NaN: the curve holds a NaN or an infinity."""
VARIANCE_ROUNDING = 1e-12
"""How far below zero a computed variance may fall by rounding and still be read as 0 (nats²)."""


@dataclass(frozen=True)
class DecayRate:
    """Decay rate ``−ln p`` per step of a curve fitted as ``A·pᵐ + B``; NaN with a reason when
    the curve cannot be fitted (``reason`` is ``""`` when the rate is defined)."""

    rate: float
    reason: str


def decay_rate(
    lengths: Sequence[float] | np.ndarray | Tensor, curve: Sequence[float] | np.ndarray | Tensor
) -> DecayRate:
    """The decay rate of ``curve`` over ``lengths`` (:func:`fit_decay`), NaN for a non-finite curve.

    A flat curve has rate 0; ``p = 0`` gives ``inf``.

    Raises
    ------
    InputError
        If fewer than 3 points are given or the lengths differ (see :func:`fit_decay`).
    """
    values = np.asarray(curve.cpu() if isinstance(curve, Tensor) else curve, dtype=np.float64)
    if not np.isfinite(values).all():
        return DecayRate(math.nan, NONFINITE_CURVE)
    return DecayRate(fit_decay(lengths, values).rate, "")


@dataclass(frozen=True)
class SequenceSummary:
    """Scalars of one sequence experiment (see the module docstring).

    Attributes
    ----------
    decay
        :class:`DecayRate` of each of :data:`DECAYING_CURVES`.
    final
        Every curve of :data:`SEQUENCE_CURVES` at the longest length.
    n_distinct, frame_potential_1, frame_potential_2, commutator_norm
        The pool's diversity; the last three are NaN where the register was too large for full
        unitaries.
    closed_form_deviation
        ``max_m |measured − closed form|`` for each of :data:`CLOSED_FORM_QUANTITIES`, NaN where
        that quantity has no closed form.
    closed_form_quantities
        The quantities that have one, in :data:`CLOSED_FORM_QUANTITIES` order (empty: the
        measurement is beyond closed form).
    closed_form_max_dev
        The largest of their deviations (NaN when there is none).
    """

    decay: Mapping[str, DecayRate]
    final: Mapping[str, float]
    n_distinct: int
    frame_potential_1: float
    frame_potential_2: float
    commutator_norm: float
    closed_form_deviation: Mapping[str, float]
    closed_form_quantities: tuple[str, ...]
    closed_form_max_dev: float

    @property
    def closed_form(self) -> bool:
        """Whether at least one quantity has a closed form."""
        return bool(self.closed_form_quantities)


def summarise_sequence(result: SequenceResult) -> SequenceSummary:
    """Decay rates, values at the longest length, diversity and closed-form deviations of
    ``result`` (see :class:`SequenceSummary`)."""
    div = result.diversity
    f1, f2 = div.frame_potential or (math.nan, math.nan)
    commutator = div.mean_commutator_norm
    deviation = result.closed_form_deviation()
    return SequenceSummary(
        decay={c: decay_rate(result.lengths, getattr(result, c)) for c in DECAYING_CURVES},
        final={c: float(getattr(result, c)[-1]) for c in SEQUENCE_CURVES},
        n_distinct=div.n_distinct,
        frame_potential_1=f1,
        frame_potential_2=f2,
        commutator_norm=math.nan if commutator is None else commutator,
        closed_form_deviation={q: deviation.get(q, math.nan) for q in CLOSED_FORM_QUANTITIES},
        closed_form_quantities=tuple(deviation),
        closed_form_max_dev=max(deviation.values(), default=math.nan),
    )


@dataclass(frozen=True)
class OrderingVsEntropy:
    """Ordering dependence over a set of units, read by trace distance and by entropy.

    ``n_units`` counts the units used (both values finite); the means and maximum are NaN when it
    is 0, and ``entropy_blind_fraction`` (``entropy_blind / order_dependent``) is NaN when no unit
    is order-dependent.
    """

    n_units: int
    trace_distance_mean: float
    trace_distance_max: float
    entropy_sd_mean: float
    order_dependent: int
    entropy_blind: int
    entropy_blind_fraction: float


def ordering_vs_entropy(
    trace_distance: Sequence[float] | npt.ArrayLike,
    entropy_var: Sequence[float] | npt.ArrayLike,
    *,
    order_threshold: float,
    entropy_threshold: float,
) -> OrderingVsEntropy:
    """How far random orderings move each unit's output, and how often entropy misses it.

    Parameters
    ----------
    trace_distance
        Per unit, the mean pairwise trace distance between the outputs of random orderings of
        the same operators (``SequenceResult.ordering_trace_distance`` at one length).
    entropy_var
        Per unit, the variance of the measurement entropy over the same orderings (nats²).
    order_threshold
        A unit is order-dependent when its trace distance exceeds this (strictly).
    entropy_threshold
        An order-dependent unit is entropy-blind when its entropy standard deviation
        ``√entropy_var`` stays below this (strictly, nats).

    Returns
    -------
    OrderingVsEntropy
        Units where either value is NaN or infinite are left out (``n_units`` counts the rest).

    Raises
    ------
    InputError
        If the inputs differ in length, a variance is negative beyond rounding
        (:data:`VARIANCE_ROUNDING`, which is read as 0) or a threshold is not positive.
    """
    td = np.asarray(trace_distance, dtype=np.float64).ravel()
    var = np.asarray(entropy_var, dtype=np.float64).ravel()
    check_same_length(trace_distance=td, entropy_var=var)
    order_threshold = check_positive("order_threshold", order_threshold)
    entropy_threshold = check_positive("entropy_threshold", entropy_threshold)
    keep = np.isfinite(td) & np.isfinite(var)
    td, var = td[keep], var[keep]
    # a variance computed as E[x²] − E[x]² can land a rounding error below zero
    var = np.where((var < 0) & (var > -VARIANCE_ROUNDING), 0.0, var)
    if (var < 0).any():
        raise InputError(f"entropy_var must be >= 0, got {float(var.min())!r}")
    if td.size == 0:
        return OrderingVsEntropy(0, math.nan, math.nan, math.nan, 0, 0, math.nan)
    entropy_sd = np.sqrt(var)
    dependent = td > order_threshold
    blind = dependent & (entropy_sd < entropy_threshold)
    return OrderingVsEntropy(
        n_units=int(td.size),
        trace_distance_mean=float(td.mean()),
        trace_distance_max=float(td.max()),
        entropy_sd_mean=float(entropy_sd.mean()),
        order_dependent=int(dependent.sum()),
        entropy_blind=int(blind.sum()),
        entropy_blind_fraction=(
            float(blind.sum() / dependent.sum()) if dependent.any() else math.nan
        ),
    )
