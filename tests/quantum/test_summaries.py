"""Sequence summaries and ordering-vs-entropy: closed forms, commuting pools, NaN handling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from axionlab.errors import InputError
from axionlab.quantum import (
    CLOSED_FORM_QUANTITIES,
    DECAYING_CURVES,
    NOISE_MODELS,
    NONFINITE_CURVE,
    SEQUENCE_CURVES,
    SequenceResult,
    decay_rate,
    ordering_vs_entropy,
    sequence_experiment,
    summarise_sequence,
)

LENGTHS = [1, 2, 4, 8]


def _experiment(
    n: int, pool: str, noise: str, *, k: int = 3, max_qubits_diversity: int = 6
) -> SequenceResult:
    return sequence_experiment(
        n,
        LENGTHS,
        ordering="random",
        diversity=k,
        noise=noise,
        strength=0.1,
        pool=pool,
        n_orderings=3,
        generator=torch.Generator().manual_seed(7),
        max_qubits_diversity=max_qubits_diversity,
    )


# --- decay_rate -------------------------------------------------------------------------------


def test_decay_rate_recovers_an_exact_exponential() -> None:
    m = np.array([1, 2, 4, 8, 16])
    rate = decay_rate(m, 0.3 * 0.8**m + 0.5)
    assert rate.rate == pytest.approx(-math.log(0.8), abs=1e-8)
    assert rate.reason == ""


def test_decay_rate_of_a_flat_curve_is_zero() -> None:
    assert decay_rate([1, 2, 4], [0.7, 0.7, 0.7]).rate == 0.0


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_decay_rate_of_a_nonfinite_curve_is_nan_with_its_reason(bad: float) -> None:
    rate = decay_rate([1, 2, 4], torch.tensor([1.0, 0.5, bad], dtype=torch.float64))
    assert math.isnan(rate.rate)
    assert rate.reason == NONFINITE_CURVE


def test_decay_rate_needs_three_points() -> None:
    with pytest.raises(InputError, match="length >= 3"):
        decay_rate([1, 2], [1.0, 0.5])


# --- summarise_sequence -----------------------------------------------------------------------


def test_one_qubit_depolarizing_rates_match_the_closed_forms() -> None:
    """Purity 1/2 + (1/2)(1 − p)^{2m} and echo 1/2 + (1/2)(1 − p)^m decay at −2 ln(1 − p) and
    −ln(1 − p) per step."""
    result = _experiment(1, "haar", "depolarizing")
    s = summarise_sequence(result)
    assert s.decay["purity"].rate == pytest.approx(-2 * math.log(0.9), abs=1e-6)
    assert s.decay["loschmidt_echo"].rate == pytest.approx(-math.log(0.9), abs=1e-6)
    assert s.closed_form_quantities == ("purity", "loschmidt_echo", "von_neumann_entropy")
    assert s.closed_form
    assert math.isnan(s.closed_form_deviation["fidelity"])
    assert s.closed_form_max_dev == max(
        s.closed_form_deviation[q] for q in s.closed_form_quantities
    )
    assert s.closed_form_max_dev <= 1e-10


def test_summary_reads_every_curve_at_the_longest_length() -> None:
    result = _experiment(2, "haar", "amplitude_damping")
    s = summarise_sequence(result)
    assert set(s.final) == set(SEQUENCE_CURVES)
    assert set(s.decay) == set(DECAYING_CURVES)
    for curve in SEQUENCE_CURVES:
        assert s.final[curve] == float(getattr(result, curve)[-1])
    assert s.n_distinct == 3
    assert np.isfinite([s.frame_potential_1, s.frame_potential_2, s.commutator_norm]).all()


def test_beyond_closed_form_has_nan_deviations() -> None:
    s = summarise_sequence(_experiment(2, "haar", "dephasing"))
    assert not s.closed_form
    assert s.closed_form_quantities == ()
    assert math.isnan(s.closed_form_max_dev)
    assert set(s.closed_form_deviation) == set(CLOSED_FORM_QUANTITIES)
    assert all(math.isnan(v) for v in s.closed_form_deviation.values())


def test_diversity_above_the_size_limit_is_nan() -> None:
    s = summarise_sequence(_experiment(2, "haar", "none", max_qubits_diversity=1))
    assert s.n_distinct == 3
    assert math.isnan(s.frame_potential_1) and math.isnan(s.frame_potential_2)
    assert math.isnan(s.commutator_norm)


@pytest.mark.parametrize("noise", NOISE_MODELS)
def test_commuting_pool_has_no_ordering_effect(noise: str) -> None:
    """z rotations commute and every noise model is covariant under them: orderings agree."""
    summaries = [
        summarise_sequence(_experiment(n, "z_rotation", noise, k=k)) for n in (1, 2) for k in (2, 4)
    ]
    td = [s.final["ordering_trace_distance"] for s in summaries]
    assert max(td) <= 1e-12
    for s in summaries:
        assert s.closed_form_quantities == CLOSED_FORM_QUANTITIES
        assert s.closed_form_deviation["ordering_trace_distance"] <= 1e-12
    found = ordering_vs_entropy(
        td,
        [s.final["ordering_entropy_var"] for s in summaries],
        order_threshold=0.05,
        entropy_threshold=0.01,
    )
    assert found.n_units == 4
    assert found.order_dependent == 0 and found.entropy_blind == 0
    assert math.isnan(found.entropy_blind_fraction)


# --- ordering_vs_entropy ----------------------------------------------------------------------


def test_ordering_vs_entropy_by_hand() -> None:
    found = ordering_vs_entropy(
        [0.01, 0.2, 0.3, 0.5],
        [0.0, 1e-6, 0.01, math.nan],  # the last unit is undefined: left out
        order_threshold=0.05,
        entropy_threshold=0.01,
    )
    assert found.n_units == 3
    assert found.trace_distance_mean == pytest.approx((0.01 + 0.2 + 0.3) / 3)
    assert found.trace_distance_max == 0.3
    assert found.entropy_sd_mean == pytest.approx((0.0 + 1e-3 + 0.1) / 3)
    # dependent: 0.2, 0.3; of those only the first keeps its entropy sd (1e-3) below 0.01
    assert (found.order_dependent, found.entropy_blind) == (2, 1)
    assert found.entropy_blind_fraction == 0.5


def test_thresholds_are_strict() -> None:
    found = ordering_vs_entropy(
        [0.05, 0.06], [0.0, 0.01**2], order_threshold=0.05, entropy_threshold=0.01
    )
    assert found.order_dependent == 1  # 0.05 is not above 0.05
    assert found.entropy_blind == 0  # sd 0.01 is not below 0.01


def test_no_usable_unit_gives_nan_and_zero_counts() -> None:
    found = ordering_vs_entropy(
        [math.nan, math.inf], [0.1, 0.1], order_threshold=0.05, entropy_threshold=0.01
    )
    assert (found.n_units, found.order_dependent, found.entropy_blind) == (0, 0, 0)
    assert math.isnan(found.trace_distance_mean) and math.isnan(found.trace_distance_max)
    assert math.isnan(found.entropy_sd_mean) and math.isnan(found.entropy_blind_fraction)


def test_ordering_vs_entropy_refuses_bad_input() -> None:
    with pytest.raises(InputError, match="same length"):
        ordering_vs_entropy([0.1], [0.1, 0.2], order_threshold=0.05, entropy_threshold=0.01)
    with pytest.raises(InputError, match="entropy_var must be >= 0"):
        ordering_vs_entropy([0.1], [-0.1], order_threshold=0.05, entropy_threshold=0.01)
    with pytest.raises(InputError, match="order_threshold"):
        ordering_vs_entropy([0.1], [0.1], order_threshold=0.0, entropy_threshold=0.01)


values = st.lists(
    st.tuples(
        st.floats(0, 1) | st.just(math.nan),
        st.floats(0, 0.5) | st.just(math.nan),
    ),
    max_size=20,
)


@settings(max_examples=60, deadline=None)
@given(values, st.floats(0.01, 0.9), st.floats(0.001, 0.5))
def test_counts_are_nested_and_monotone_in_the_threshold(
    pairs: list[tuple[float, float]], order_threshold: float, entropy_threshold: float
) -> None:
    td = [p[0] for p in pairs]
    var = [p[1] for p in pairs]
    found = ordering_vs_entropy(
        td, var, order_threshold=order_threshold, entropy_threshold=entropy_threshold
    )
    assert found.entropy_blind <= found.order_dependent <= found.n_units <= len(pairs)
    if found.order_dependent:
        assert 0.0 <= found.entropy_blind_fraction <= 1.0
    stricter = ordering_vs_entropy(
        td, var, order_threshold=order_threshold * 1.5, entropy_threshold=entropy_threshold
    )
    assert stricter.order_dependent <= found.order_dependent


def test_a_variance_rounded_below_zero_reads_as_zero() -> None:
    result = ordering_vs_entropy([0.2], [-1e-17], order_threshold=0.05, entropy_threshold=0.01)
    assert result.entropy_sd_mean == 0.0 and result.entropy_blind == 1
