"""TPMs of small recurrent nets."""

from __future__ import annotations

import numpy as np
import pytest

from axionlab.errors import InputError
from axionlab.phi.ei import effective_information
from axionlab.phi.iit3 import iit_phi
from axionlab.phi.networks import all_states, binarize_network, state_by_state


def test_threshold_net_reproduces_logic_gates():
    # unit 0 = OR(1, 2), unit 1 = COPY(2), unit 2 = AND(0, 1)
    weight = np.array([[0, 1, 1], [0, 0, 1], [1, 1, 0]], dtype=float)
    bias = np.array([-0.5, -0.5, -1.5])
    net = binarize_network(weight, bias)
    s = all_states(3)
    expected = np.stack([s[:, 1] | s[:, 2], s[:, 2], s[:, 0] & s[:, 1]], axis=1)
    np.testing.assert_array_equal(net.tpm, expected)
    np.testing.assert_array_equal(net.cm, (weight.T != 0).astype(int))
    assert iit_phi(net.tpm, (1, 0, 0), net.cm).phi >= 0


def test_sigmoid_net_with_signed_levels():
    net = binarize_network(
        np.array([[0.0, 2.0], [-2.0, 0.0]]),
        activation="sigmoid",
        levels=(-1.0, 1.0),
        temperature=0.5,
    )
    # state (OFF, ON) = (-1, +1): unit 0 drive +2 → σ(4), unit 1 drive +2 → σ(4)
    assert net.tpm[2] == pytest.approx([1 / (1 + np.exp(-4))] * 2)
    sbs = state_by_state(net.tpm)
    np.testing.assert_allclose(sbs.sum(axis=1), 1.0)
    assert 0 < effective_information(sbs) < 2


def test_state_by_state_of_a_permutation_has_full_ei():
    net = binarize_network(np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([-0.5, -0.5]))
    assert effective_information(state_by_state(net.tpm)) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weight": np.ones((2, 3))}, "square"),
        ({"weight": np.ones((9, 9))}, "1..8"),
        ({"weight": np.ones((2, 2)), "bias": np.ones(3)}, "bias"),
        ({"weight": np.ones((2, 2)), "activation": "relu"}, "activation"),
        ({"weight": np.ones((2, 2)), "temperature": 0.0}, "temperature"),
    ],
)
def test_invalid(kwargs, match):
    with pytest.raises(InputError, match=match):
        binarize_network(**kwargs)
