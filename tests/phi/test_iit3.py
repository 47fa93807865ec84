"""Exact IIT 3.0 Φ against PyPhi 1.2 reference values, values recorded from earlier code and
structural properties."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from axionlab.errors import InputError
from axionlab.phi.iit3 import iit_phi
from axionlab.phi.networks import all_states
from axionlab.repro import numpy_rng


def logic_tpm(*gates):  # gate: function of the state tuple -> 0/1
    return np.array([[g(s) for g in gates] for s in all_states(len(gates))], dtype=float)


BASIC = logic_tpm(lambda s: s[1] | s[2], lambda s: s[2], lambda s: s[0] ^ s[1])
BASIC_CM = [[0, 0, 1], [1, 0, 1], [1, 1, 0]]
RING_CM = [[0, 1, 1], [1, 0, 1], [1, 1, 0]]


def test_basic_network_reference():
    res = iit_phi(BASIC, (1, 0, 0), BASIC_CM)
    assert res.phi == pytest.approx(2.3125, abs=1e-4)
    assert float(res) == res.phi
    # PyPhi's concepts: B, C, AB, ABC with φ = 1/4, 1/2, 1/3, 1/2
    assert [c.mechanism for c in res.concepts] == [(1,), (2,), (0, 1), (0, 1, 2)]
    assert [c.phi for c in res.concepts] == pytest.approx([0.25, 0.5, 1 / 3, 0.5], abs=1e-6)


def test_basic_network_without_cm_is_the_same():
    assert iit_phi(BASIC, (1, 0, 0)).phi == pytest.approx(2.3125, abs=1e-4)


def test_xor_network_reference():
    xor = logic_tpm(lambda s: s[1] ^ s[2], lambda s: s[0] ^ s[2], lambda s: s[0] ^ s[1])
    assert iit_phi(xor, (0, 0, 0), RING_CM).phi == pytest.approx(1.875, abs=1e-4)


def test_fig4_network_reference():
    fig4 = logic_tpm(lambda s: s[1] | s[2], lambda s: s[0] & s[2], lambda s: s[0] ^ s[1])
    assert iit_phi(fig4, (1, 0, 0), RING_CM).phi == pytest.approx(1.916666, abs=1e-4)


@pytest.mark.parametrize("cm", [None, [[0, 1, 1], [0, 0, 1], [0, 0, 0]]])
def test_feed_forward_is_zero(cm):
    # A is a coin with no inputs, B copies A, C = AND(A, B): a DAG
    tpm = logic_tpm(lambda s: 0.5, lambda s: s[0], lambda s: s[0] & s[1])
    for state in [(0, 0, 0), (1, 0, 0), (0, 1, 1)]:
        assert iit_phi(tpm, state, cm).phi == pytest.approx(0.0, abs=1e-9)


def test_major_complex_of_basic_network_is_the_whole_system():
    res = iit_phi(BASIC, (1, 0, 0), BASIC_CM, major_complex=True)
    assert res.subsystem == (0, 1, 2)
    assert res.phi == pytest.approx(2.3125, abs=1e-4)


def test_subsystem_fixes_external_nodes():
    res = iit_phi(BASIC, (1, 0, 0), BASIC_CM, subsystem=[0, 2])
    assert res.subsystem == (0, 2)
    assert res.phi >= 0


@pytest.mark.parametrize(
    ("tpm", "state", "cm", "match"),
    [
        (np.zeros((4, 3)), (0, 0, 0), None, "shape"),
        (np.full((4, 2), 1.5), (0, 0), None, r"\[0, 1\]"),
        (BASIC, (1, 0), None, "state"),
        (BASIC, (1, 0, 0), np.ones((2, 2)), "cm"),
        (logic_tpm(lambda s: 0, lambda s: 0), (1, 0), None, "reachable"),
    ],
)
def test_invalid_input(tpm, state, cm, match):
    with pytest.raises(InputError, match=match):
        iit_phi(tpm, state, cm)


# Random systems whose Φ was computed with PyPhi 1.2.0 (IIT 3.0 defaults) in this repository's
# cross-check (docs/benchmarks/phi.md): one deterministic, one stochastic TPM.
PYPHI_CASES = [
    (
        [[0, 0, 0], [0, 0, 0], [1, 0, 1], [0, 0, 0], [0, 1, 1], [1, 1, 0], [1, 1, 1], [1, 0, 1]],
        (0, 1, 1),
        2.853883,
    ),
    (
        [
            [0.25, 1.0, 0.25],
            [0.5, 0.25, 0.5],
            [0.5, 0.5, 0.25],
            [0.5, 0.5, 0.75],
            [0.25, 0.75, 0.25],
            [1.0, 0.5, 0.25],
            [1.0, 0.0, 1.0],
            [1.0, 0.75, 0.5],
        ],
        (0, 0, 1),
        0.455975,
    ),
]


@pytest.mark.parametrize(("tpm", "state", "expected"), PYPHI_CASES)
def test_random_systems_match_pyphi(tpm, state, expected):
    assert iit_phi(np.array(tpm), state).phi == pytest.approx(expected, abs=1e-4)


def test_relabelling_nodes_leaves_phi_unchanged():
    perm = [2, 0, 1]  # new node q is old node perm[q]
    states = all_states(3)
    old_rows = states[:, np.argsort(perm)] @ (1 << np.arange(3))
    relabelled = BASIC[old_rows][:, perm]
    state = tuple((1, 0, 0)[p] for p in perm)
    assert iit_phi(relabelled, state).phi == pytest.approx(2.3125, abs=1e-9)


def _recorded_systems():
    path = Path(__file__).parent / "data" / "iit3_reference.json"
    return json.loads(path.read_text())["systems"]


@pytest.mark.parametrize("system", _recorded_systems(), ids=lambda s: s["system"])
def test_phi_equals_recorded_values(system):
    # Φ, cut and concept φ of 4-5 node systems recorded at 5262925, before the primal-dual EMD:
    # concept φ (rounded to 10 digits) exactly, Φ to rounding (the flows sum in another order)
    res = iit_phi(np.array(system["tpm"]), tuple(system["state"]))
    assert res.phi == pytest.approx(system["phi"], rel=0, abs=1e-12)
    assert [list(part) for part in res.cut] == system["cut"]
    assert [list(c.mechanism) for c in res.concepts] == system["mechanisms"]
    assert [c.phi for c in res.concepts] == system["concept_phis"]


@pytest.mark.slow
def test_six_node_benchmark_network_unchanged():
    # benchmarks/phi.py's 6-node network; Φ recorded at 5262925 (92 s then)
    rng = numpy_rng(0, "benchmark", "phi", 6)
    tpm = rng.integers(0, 2, size=(64, 6)).astype(float)
    state = tuple(int(v) for v in tpm[int(rng.integers(64))])
    res = iit_phi(tpm, state)
    assert res.phi == pytest.approx(10.023557417319248, rel=0, abs=1e-12)
    assert len(res.concepts) == 63
