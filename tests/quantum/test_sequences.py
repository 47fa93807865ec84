"""Sequence experiments: closed forms, a full-matrix reference, decay fits, ordering measures."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from axionlab.errors import InputError
from axionlab.quantum import (
    NOISE_MODELS,
    SequenceResult,
    amplitude_damping_kraus,
    apply_kraus,
    density_matrix,
    draw_pool,
    fit_decay,
    layer_unitary,
    noise_kraus,
    ordered_indices,
    plus_state,
    repeated_amplitude_damping_gamma,
    repeated_depolarizing,
    sequence_experiment,
)

CLOSED = (
    "fidelity",
    "purity",
    "loschmidt_echo",
    "measurement_entropy",
    "von_neumann_entropy",
    "ordering_trace_distance",
)


def _assert_closed_forms(res: SequenceResult, expected_present: set[str]) -> None:
    cf = res.closed_form
    present = {name for name in CLOSED if getattr(cf, name) is not None}
    assert present == expected_present
    for name in present:
        torch.testing.assert_close(getattr(res, name), getattr(cf, name), atol=1e-12, rtol=0)


@pytest.mark.parametrize("noise", NOISE_MODELS)
def test_commuting_pool_matches_closed_forms(noise: str) -> None:
    gen = torch.Generator().manual_seed(1)
    res = sequence_experiment(
        3,
        [1, 3, 8],
        ordering="random",
        diversity=3,
        noise=noise,
        strength=0.2,
        generator=gen,
        pool="z_rotation",
        n_orderings=4,
    )
    _assert_closed_forms(res, set(CLOSED))
    assert res.ordering_variance.abs().max().item() < 1e-24
    assert res.diversity.mean_commutator_norm == 0.0


@pytest.mark.parametrize("pool", ["haar", "clifford"])
def test_single_qubit_depolarizing_closed_forms(pool: str) -> None:
    gen = torch.Generator().manual_seed(2)
    res = sequence_experiment(
        1,
        [1, 2, 5, 9],
        ordering="fixed",
        diversity=4,
        noise="depolarizing",
        strength=0.1,
        generator=gen,
        pool=pool,
        n_orderings=3,
    )
    _assert_closed_forms(res, {"purity", "loschmidt_echo", "von_neumann_entropy"})
    echo, pur = repeated_depolarizing(2, 0.1, torch.tensor([1, 2, 5, 9]))
    torch.testing.assert_close(res.purity, pur)
    torch.testing.assert_close(res.loschmidt_echo, echo)


def test_noiseless_closed_forms_and_single_operator_has_no_ordering_effect() -> None:
    gen = torch.Generator().manual_seed(3)
    res = sequence_experiment(
        2,
        [2, 4],
        ordering="reversed",
        diversity=1,
        noise="none",
        strength=0.0,
        generator=gen,
        n_orderings=3,
    )
    _assert_closed_forms(res, {"purity", "loschmidt_echo", "von_neumann_entropy"})
    assert res.ordering_trace_distance.abs().max().item() < 1e-12
    assert res.ordering_entropy_var.abs().max().item() < 1e-20


@pytest.mark.parametrize("ordering", ["fixed", "random", "reversed"])
def test_sequence_matches_full_matrix_reference(ordering: str) -> None:
    n, k, gamma, lengths = 2, 3, 0.15, [1, 4, 7]
    res = sequence_experiment(
        n,
        lengths,
        ordering=ordering,
        diversity=k,
        noise="amplitude_damping",
        strength=gamma,
        generator=torch.Generator().manual_seed(4),
        n_orderings=2,
    )
    # Replay the generator's draws in the documented order and simulate with 4×4 matrices.
    gen = torch.Generator().manual_seed(4)
    layers = draw_pool(n, k, "haar", gen)
    ad = amplitude_damping_kraus(gamma)
    kraus = torch.stack([torch.kron(a, b) for a in (ad[0], ad[1]) for b in (ad[0], ad[1])])
    psi0 = plus_state(n)
    for j, m in enumerate(lengths):
        idx = ordered_indices(m, k, ordering, gen)
        ordered_indices(m, k, "random", gen)  # the two ordering-sensitivity draws
        ordered_indices(m, k, "random", gen)
        rho, psi = density_matrix(psi0), psi0
        for i in idx:
            u = layer_unitary(layers[i])
            rho, psi = apply_kraus(u @ rho @ u.conj().T, kraus), u @ psi
        assert res.fidelity[j].item() == pytest.approx(
            torch.vdot(psi0, rho @ psi0).real.item(), abs=1e-12
        )
        assert res.loschmidt_echo[j].item() == pytest.approx(
            torch.vdot(psi, rho @ psi).real.item(), abs=1e-12
        )


def test_fit_decay_recovers_depolarizing_rate() -> None:
    p = 0.07
    res = sequence_experiment(
        1,
        list(range(1, 40, 3)),
        ordering="random",
        diversity=5,
        noise="depolarizing",
        strength=p,
        generator=torch.Generator().manual_seed(5),
        n_orderings=2,
    )
    m = torch.tensor(res.lengths)
    a, q, b = fit_decay(m, res.loschmidt_echo)
    assert (a, q, b) == pytest.approx((0.5, 1 - p, 0.5), abs=1e-8)
    fit = fit_decay(m, res.purity)
    assert fit.p == pytest.approx((1 - p) ** 2, abs=1e-8)
    assert fit.rate == pytest.approx(-2 * math.log(1 - p), abs=1e-7)
    f4, _ = repeated_depolarizing(4, 0.03, torch.arange(0, 60, 4))
    assert fit_decay(torch.arange(0, 60, 4), f4).p == pytest.approx(0.97, abs=1e-8)


def test_fit_decay_of_a_flat_curve_is_no_decay() -> None:
    flat = [1.0, 1.0, 1.0 - 1e-16, 1.0]
    assert fit_decay([1, 2, 4, 8], flat) == pytest.approx((0.0, 1.0, 1.0))
    assert math.copysign(1.0, fit_decay([1, 2, 4, 8], flat).rate) == 1.0  # +0.0, not -0.0


def test_repeated_amplitude_damping_gamma() -> None:
    rho = density_matrix(plus_state(1))
    state = rho
    for _ in range(6):
        state = apply_kraus(state, amplitude_damping_kraus(0.3))
    g6 = float(repeated_amplitude_damping_gamma(0.3, 6))
    torch.testing.assert_close(state, apply_kraus(rho, amplitude_damping_kraus(g6)))


def test_full_clifford_pool_is_a_two_design_and_runs_are_reproducible() -> None:
    kwargs: dict[str, Any] = dict(
        ordering="random", diversity=24, noise="dephasing", strength=0.1, pool="clifford"
    )
    a = sequence_experiment(1, [3, 6], generator=torch.Generator().manual_seed(6), **kwargs)
    b = sequence_experiment(1, [3, 6], generator=torch.Generator().manual_seed(6), **kwargs)
    assert a.diversity.frame_potential == pytest.approx((1.0, 2.0), abs=1e-10)
    torch.testing.assert_close(a.ordering_trace_distance, b.ordering_trace_distance, atol=0, rtol=0)
    torch.testing.assert_close(a.fidelity, b.fidelity, atol=0, rtol=0)


def test_invalid_arguments_raise() -> None:
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(InputError, match="Did you mean 'depolarizing'"):
        noise_kraus("depolarising", 0.1)
    with pytest.raises(InputError, match=r"strength must be in \[0, 1\]"):
        noise_kraus("dephasing", 1.2)
    with pytest.raises(InputError, match="Did you mean 'reversed'"):
        sequence_experiment(
            1, [1], ordering="reverse", diversity=1, noise="none", strength=0, generator=gen
        )
    with pytest.raises(InputError, match="<= 24 distinct Clifford layers"):
        draw_pool(1, 25, "clifford", gen)
    with pytest.raises(InputError, match="positive integers"):
        sequence_experiment(
            1, [0], ordering="fixed", diversity=1, noise="none", strength=0, generator=gen
        )
    with pytest.raises(InputError, match="m and f must have equal length >= 3"):
        fit_decay([1, 2], [0.5, 0.4])


def test_closed_form_deviation_lists_exactly_the_predicted_quantities() -> None:
    def run(n: int, pool: str, noise: str) -> SequenceResult:
        gen = torch.Generator().manual_seed(4)
        return sequence_experiment(
            n,
            [1, 3, 6],
            ordering="fixed",
            diversity=2,
            noise=noise,
            strength=0.1,
            generator=gen,
            pool=pool,
            n_orderings=3,
        )

    exact = run(2, "z_rotation", "amplitude_damping").closed_form_deviation()
    assert set(exact) == set(CLOSED) and max(exact.values()) < 1e-12
    partial = run(1, "haar", "depolarizing").closed_form_deviation()
    assert set(partial) == {"purity", "loschmidt_echo", "von_neumann_entropy"}
    assert max(partial.values()) < 1e-12
    assert run(2, "haar", "dephasing").closed_form_deviation() == {}
