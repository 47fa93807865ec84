"""IIT 4.0 system integrated information φ_s: a reference value, hand-derived values and
structural properties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from axionlab.errors import InputError
from axionlab.phi.iit4 import system_phi_iit4
from axionlab.phi.networks import all_states


def logic_tpm(*gates):  # gate: function of the state tuple -> P(ON)
    return np.array([[g(s) for g in gates] for s in all_states(len(gates))], dtype=float)


# PyPhi's basic network (pyphi.examples.basic_network): A = OR(B, C), B = COPY(C), C = XOR(A, B)
BASIC = logic_tpm(lambda s: s[1] | s[2], lambda s: s[2], lambda s: s[0] ^ s[1])
BASIC_CM = [[0, 0, 1], [1, 0, 1], [1, 1, 0]]
SWAP = logic_tpm(lambda s: s[1], lambda s: s[0])  # two units copying each other


def permuted(tpm, perm):
    """TPM of the same network with new node a = old node perm[a]."""
    n = len(perm)
    new_states = all_states(n)
    old_rows = sum(new_states[:, a] << perm[a] for a in range(n))
    return np.asarray(tpm)[old_rows][:, list(perm)]


def test_basic_network_reference():
    # PyPhi IIT 4.0 (IIT_4_0_2023: GID + SET_UNI/BI) golden fixture basic_iit4_2023.json
    # (wmayner/pyphi, test/data/golden/v1): φ_s = 0.41503749927884376 = log2(4/3), MIP cuts
    # B→A and C→A, cause state ABc = (1, 1, 0), effect state abC = (0, 0, 1)
    res = system_phi_iit4(BASIC, (1, 0, 0), BASIC_CM)
    assert res.phi_s == pytest.approx(np.log2(4 / 3), abs=1e-12)
    assert float(res) == res.phi_s
    assert res.cut == ((1, 0), (2, 0))
    assert res.partition == (((0,), "inputs"), ((1, 2), "outputs"))
    assert res.cause_state == (1, 1, 0)
    assert res.effect_state == (0, 0, 1)
    assert (res.ii_cause, res.ii_effect) == pytest.approx((3.0, 3.0))
    # φ_c = π_c(ABc|s)·log2[1 / (3/4)] (A's noised OR is ON w.p. 3/4), φ_e = log2[1 / (1/4)]
    assert res.direction == "cause"
    assert (res.phi_cause, res.phi_effect) == pytest.approx((np.log2(4 / 3), 2.0))
    assert res.normalized_phi == pytest.approx(np.log2(4 / 3) / 2)
    assert res.n_partitions == 22


def test_basic_network_without_cm_is_the_same():
    assert system_phi_iit4(BASIC, (1, 0, 0)).phi_s == pytest.approx(np.log2(4 / 3), abs=1e-12)


def test_swap_pair_hand_value():
    # each single cut halves one unit's probability: φ = 1 over 1 connection; the complete cut
    # gives φ = 2 over 2 connections; equal normalised values go to the larger φ
    res = system_phi_iit4(SWAP, (1, 0))
    assert res.phi_s == pytest.approx(2.0)
    assert res.cut == ((0, 1), (1, 0))
    assert (res.cause_state, res.effect_state) == ((0, 1), (0, 1))


@pytest.mark.parametrize("n", [3, 4])
def test_and_pool_phi_is_number_of_connections(n):
    # every unit is the AND of all others; at all-ON every cut input becomes a fair coin, so every
    # partition has φ = (connections cut) and the minimum partition is the complete one
    pool = logic_tpm(
        *[lambda s, j=j: float(all(s[i] for i in range(n) if i != j)) for j in range(n)]
    )
    assert system_phi_iit4(pool, (1,) * n).phi_s == pytest.approx(n * (n - 1))


def test_single_unit_with_self_loop():
    assert system_phi_iit4([[0.0], [1.0]], (1,)).phi_s == pytest.approx(1.0)
    assert system_phi_iit4([[0.5], [0.5]], (1,)).phi_s == 0.0


@pytest.mark.parametrize("cm", [None, [[0, 1, 1], [0, 0, 1], [0, 0, 0]]])
def test_feed_forward_is_zero(cm):
    # A is a coin with no inputs, B copies A, C = AND(A, B): a DAG
    tpm = logic_tpm(lambda s: 0.5, lambda s: s[0], lambda s: s[0] & s[1])
    for state in [(0, 0, 0), (1, 0, 0), (0, 1, 1), (1, 1, 1)]:
        assert system_phi_iit4(tpm, state, cm).phi_s == 0.0


def test_feed_forward_chain_of_loops_is_zero():
    # a swap pair (A, B) driving a swap-like pair (C, D) that never feeds back
    tpm = logic_tpm(lambda s: s[1], lambda s: s[0], lambda s: s[0] ^ s[3], lambda s: s[2] | s[1])
    for state in [(1, 0, 0, 1), (0, 1, 1, 1)]:
        assert system_phi_iit4(tpm, state).phi_s == pytest.approx(0.0, abs=1e-12)


def test_disconnected_parts_are_zero_and_each_part_is_not():
    # two independent swap pairs (A, B) and (C, D)
    tpm = logic_tpm(lambda s: s[1], lambda s: s[0], lambda s: s[3], lambda s: s[2])
    res = system_phi_iit4(tpm, (1, 0, 0, 1))
    assert res.phi_s == 0.0
    part = system_phi_iit4(tpm, (1, 0, 0, 1), subsystem=(2, 3))
    assert part.phi_s == pytest.approx(2.0)
    assert part.subsystem == (2, 3)
    assert part.cut == ((2, 3), (3, 2))
    assert part.cause_state == (1, 0) and part.effect_state == (1, 0)


def test_no_intrinsic_information_is_zero_without_partition():
    res = system_phi_iit4(np.full((8, 3), 0.5), (0, 1, 0))
    assert res.phi_s == 0.0 and res.partition is None and res.cut is None
    assert res.direction is None


def test_non_negative_on_random_systems():
    rng = np.random.default_rng(7)
    for n in (2, 3, 4):
        for _ in range(6):
            tpm = np.clip(rng.random((2**n, n)) ** 3 + (rng.random((2**n, n)) > 0.5) * 0.7, 0, 1)
            state = tuple(int(v) for v in rng.integers(0, 2, n))
            res = system_phi_iit4(tpm, state)
            assert res.phi_s >= 0.0
            assert res.phi_s == pytest.approx(min(res.phi_cause, res.phi_effect))


@pytest.mark.parametrize("perm", [(2, 0, 1), (1, 2, 0), (0, 2, 1)])
def test_invariant_to_relabelling_basic(perm):
    state = (1, 0, 0)
    cm = np.array(BASIC_CM)[np.ix_(perm, perm)]
    res = system_phi_iit4(permuted(BASIC, perm), tuple(state[p] for p in perm), cm)
    assert res.phi_s == pytest.approx(np.log2(4 / 3), abs=1e-12)
    assert res.cause_state == tuple((1, 1, 0)[p] for p in perm)
    assert res.effect_state == tuple((0, 0, 1)[p] for p in perm)
    assert set(res.cut or ()) == {(perm.index(1), perm.index(0)), (perm.index(2), perm.index(0))}


def test_invariant_to_relabelling_noisy_four_nodes():
    rng = np.random.default_rng(0)
    tpm = np.where(rng.random((16, 4)) > 0.5, 0.9, 0.1)
    state = (1, 0, 1, 1)
    ref = system_phi_iit4(tpm, state)
    assert ref.phi_s > 0
    for perm in [(3, 1, 0, 2), (1, 0, 3, 2)]:
        res = system_phi_iit4(permuted(tpm, perm), tuple(state[p] for p in perm))
        assert res.phi_s == pytest.approx(ref.phi_s, abs=1e-10)
        assert (res.ii_cause, res.ii_effect) == pytest.approx((ref.ii_cause, ref.ii_effect))


def brute_force_phi_s(tpm, state):
    """Direct transcription of the definitions: loops, explicit cut TPMs, no caching."""
    n = tpm.shape[1]
    states = [tuple(int(v) for v in row) for row in all_states(n)]

    def prob(t, x, y):  # π(y | x) under node TPM t
        return float(np.prod([t[x, j] if y[j] else 1 - t[x, j] for j in range(n)]))

    s = states.index(tuple(state))
    fwd = np.array([[prob(tpm, x, states[y]) for y in range(2**n)] for x in range(2**n)])
    pe, unc_e = fwd[s], fwd.mean(axis=0)
    ii_e = [pe[y] * np.log2(pe[y] / unc_e[y]) if pe[y] > 0 else 0.0 for y in range(2**n)]
    pc = fwd[:, s] / fwd[:, s].sum()
    ii_c = [
        pc[x] * np.log2(fwd[x, s] / fwd[:, s].mean()) if pc[x] > 0 else 0.0 for x in range(2**n)
    ]
    e, c = int(np.argmax(ii_e)), int(np.argmax(ii_c))
    best = None
    for labels in itertools.product(range(n), repeat=n):
        parts = sorted(
            {frozenset(i for i in range(n) if labels[i] == b) for b in set(labels)}, key=min
        )
        if len(parts) < 2:
            continue
        for dirs in itertools.product(("in", "out", "both"), repeat=len(parts)):
            cut = np.zeros((n, n), dtype=bool)
            for part, d in zip(parts, dirs, strict=True):
                for i in range(n):
                    for j in range(n):
                        if (i in part) != (j in part):
                            cut[i, j] |= (d != "out" and j in part) or (d != "in" and i in part)
            t = np.array(
                [
                    [
                        np.mean(
                            [
                                tpm[z, j]
                                for z in range(2**n)
                                if all(
                                    states[z][i] == states[x][i] for i in range(n) if not cut[i, j]
                                )
                            ]
                        )
                        for j in range(n)
                    ]
                    for x in range(2**n)
                ]
            )
            phi_e = max(pe[e] * np.log2(pe[e] / prob(t, s, states[e])), 0.0)
            phi_c = max(pc[c] * np.log2(fwd[c, s] / prob(t, c, states[s])), 0.0)
            phi = min(phi_c, phi_e)
            key = (round(phi / cut.sum(), 12), -round(phi, 12))
            if best is None or key < best[0]:
                best = (key, phi)
    return best[1]


def test_matches_brute_force_transcription():
    # noisy random logic: unique maximal states, φ_s > 0 for 4 of the 7 systems
    rng = np.random.default_rng(5)
    n_positive = 0
    for n in (2, 3, 3, 3, 3, 3, 3):
        tpm = np.clip(
            np.where(rng.random((2**n, n)) > 0.5, 0.98, 0.02) + rng.normal(0, 0.01, (2**n, n)), 0, 1
        )
        state = tuple(int(v) for v in rng.integers(0, 2, n))
        res = system_phi_iit4(tpm, state)
        assert res.phi_s == pytest.approx(brute_force_phi_s(tpm, state), abs=1e-10)
        n_positive += res.phi_s > 0
    assert n_positive >= 3


@pytest.mark.parametrize(
    ("tpm", "state", "kwargs", "match"),
    [
        (np.zeros((8, 2)), (0, 0), {}, "shape"),
        (np.full((4, 2), 1.5), (0, 0), {}, r"\[0, 1\]"),
        (np.full((4, 2), np.nan), (0, 0), {}, r"\[0, 1\]"),
        (SWAP, (0, 1, 0), {}, "state"),
        (SWAP, (0, 2), {}, "state"),
        (SWAP, (0, 1), {"cm": np.ones((3, 3))}, "cm"),
        (SWAP, (0, 1), {"cm": [[0, 2], [1, 0]]}, "cm"),
        (SWAP, (0, 1), {"subsystem": (0, 2)}, "subsystem"),
        (SWAP, (0, 1), {"subsystem": ()}, "subsystem"),
        (np.zeros((256, 8)), (0,) * 8, {}, "at most"),
        (logic_tpm(lambda s: 1.0, lambda s: s[0]), (0, 1), {}, "reached"),
    ],
)
def test_input_errors(tpm, state, kwargs, match):
    with pytest.raises(InputError, match=match):
        system_phi_iit4(tpm, state, **kwargs)
