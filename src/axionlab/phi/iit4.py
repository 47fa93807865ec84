"""System integrated information φ_s of IIT 4.0 for small binary systems.

Follows Albantakis et al. (2023), "Integrated information theory (IIT) 4.0: Formulating the
properties of phenomenal existence in physical terms", PLoS Comput Biol 19(10): e1011465, with the
conventions of PyPhi's ``IIT_4_0_2023`` formalism (``GENERALIZED_INTRINSIC_DIFFERENCE``,
``SET_UNI/BI`` system partitions); logarithms are base 2 (ibits).

Notation: ``S`` is the candidate system in current state ``s``; ``π_e(s̄ | s)`` the probability that
``S`` is in ``s̄`` next (product over units); ``π_e(s̄) = |Ω_S|⁻¹ Σ_x π_e(s̄ | x)`` its unconstrained
(uniformly perturbed) version; ``π_c(s̄ | s) = π_e(s | s̄) / Σ_x π_e(s | x)`` the cause probability
(Bayes inversion under a uniform prior).

- Information ("Information" postulate): intrinsic effect and cause information, each the product
  of a selectivity and an informativeness term (the intrinsic difference),
  ``ii_e(s, s̄) = π_e(s̄ | s) log₂[π_e(s̄ | s) / π_e(s̄)]`` and
  ``ii_c(s, s̄) = π_c(s̄ | s) log₂[π_e(s | s̄) / π_e(s)]``. The maximal effect and cause states
  ``s'_e``, ``s'_c`` maximise them. If the maximal cause or the maximal effect state has no
  positive intrinsic information the system has no intrinsic cause-effect power: ``φ_s = 0``,
  without a partition (as PyPhi).
- Integration: a directed system partition ``θ`` splits ``S`` into k ≥ 2 parts, each with its
  inputs, outputs or both cut; the cut connections are causally marginalised (the target unit's
  TPM is averaged uniformly over the states of the cut sources). With ``π^θ`` the partitioned
  probabilities (Eqs. 19–20, ``|x|₊ = max(x, 0)``)
  ``φ_e(s, θ) = π_e(s'_e | s) |log₂[π_e(s'_e | s) / π^θ_e(s'_e | s)]|₊``,
  ``φ_c(s, θ) = π_c(s'_c | s) |log₂[π_e(s | s'_c) / π^θ_e(s | s'_c)]|₊``,
  ``φ_s(s, θ) = min(φ_c, φ_e)``.
- The minimum partition ``θ'`` minimises ``φ_s(s, θ) / N_θ``, ``N_θ`` the number of potential
  directed connections ``θ`` cuts, whether or not ``cm`` has them (PyPhi's normalisation of the
  paper's "maximal possible φ_s for θ"); ties go to the larger unnormalised ``φ_s``, then to the
  first partition enumerated. ``φ_s(s) = φ_s(s, θ')``. Partitions that cut the same connections
  are evaluated once.
- Tied maximal states: the cause/effect state pair with the largest ``φ_s`` is selected (IIT 4.0,
  Eq. 12 and S1 Text); remaining ties go to the lowest little-endian state index.

Conventions (as :mod:`axionlab.phi.iit3`): state-by-node TPMs, rows in little-endian order
(row ``Σ_i s_i 2^i``), ``cm[i, j] = 1`` an edge ``i → j``; a unit's non-inputs are marginalised
out. Units outside the candidate system are background conditions fixed at their current state
for both causes and effects (PyPhi ≤ 1.2 and its original IIT 4.0 branch). The published paper
instead causally marginalises the background on the cause side (its Eqs. 3–4, PyPhi 2.0's
``CAUSAL_MARGINALIZATION``); the two agree whenever the system is the whole network. A single-unit
system is evaluated under its one partition, which cuts its self-connection.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from axionlab.errors import InputError
from axionlab.phi.networks import all_states, bits, subsystem_node_tpm, validate_network

Array = NDArray[np.float64]
MAX_NODES = 8  # network size (the TPM has 2^n rows)
MAX_SYSTEM_NODES = 7  # candidate system size (partitions grow like Σ_k S(n, k) 3^k)
_DIGITS = 12  # φ values are rounded when compared, so that ties are decided exactly
_TIE_TOL = 1e-12

CutDirection = Literal["inputs", "outputs", "both"]
_DIRECTIONS: tuple[CutDirection, ...] = ("inputs", "outputs", "both")


@dataclass(frozen=True)
class SystemIrreducibilityIIT4:
    """IIT 4.0 system integrated information of a candidate system in a state.

    Node indices and states refer to the network; ``cause_state`` and ``effect_state`` list the
    states of the ``subsystem`` nodes. ``partition`` is the minimum partition as
    ``((part, direction), ...)`` (direction: which connections of the part are cut) and ``cut``
    the directed edges ``(source, target)`` it severs; both are ``None`` when the system is
    reducible without a partition (no positive intrinsic cause or effect information).
    ``direction`` says which of ``φ_c``, ``φ_e`` attains ``φ_s`` at the minimum partition
    (``"cause"`` on ties). ``float(result)`` is ``φ_s``.
    """

    phi_s: float
    direction: Literal["cause", "effect"] | None
    phi_cause: float
    phi_effect: float
    normalized_phi: float
    partition: tuple[tuple[tuple[int, ...], CutDirection], ...] | None
    cut: tuple[tuple[int, int], ...] | None
    cause_state: tuple[int, ...]
    effect_state: tuple[int, ...]
    ii_cause: float
    ii_effect: float
    subsystem: tuple[int, ...]
    state: tuple[int, ...]
    n_partitions: int

    def __float__(self) -> float:
        return self.phi_s


def _set_partitions(k: int) -> Iterator[list[int]]:
    """Partitions of ``range(k)`` into blocks (bit masks), restricted-growth-string order."""

    def grow(i: int, blocks: list[int]) -> Iterator[list[int]]:
        if i == k:
            yield blocks
            return
        for b in range(len(blocks)):
            yield from grow(i + 1, [*blocks[:b], blocks[b] | (1 << i), *blocks[b + 1 :]])
        yield from grow(i + 1, [*blocks, 1 << i])

    yield from grow(0, [])


@functools.cache
def _system_partitions(
    k: int,
) -> tuple[NDArray[np.int64], NDArray[np.int64], tuple[tuple[tuple[int, CutDirection], ...], ...]]:
    """Distinct directed system partitions of ``k`` units.

    Returns ``kept`` (P, k): per partition and target unit, the mask of source units whose
    connection to it survives; ``n_cut`` (P,): the number of directed connections cut; and a
    label per partition, ``((part_mask, direction), ...)``, the first (partition, directions)
    enumerated that produces that cut. Different labels cutting the same connections are the
    same partition of the TPM and are kept once.
    """
    full = (1 << k) - 1
    seen: dict[tuple[int, ...], tuple[tuple[int, CutDirection], ...]] = {}
    if k == 1:
        seen[(1,)] = ((1, "both"),)  # the complete partition: the self-connection is cut
    for blocks in _set_partitions(k):
        if len(blocks) < 2:
            continue
        for dirs in itertools.product(_DIRECTIONS, repeat=len(blocks)):
            cut = [0] * k  # cut[j]: mask of sources whose connection to unit j is cut
            for part, d in zip(blocks, dirs, strict=True):
                if d in ("inputs", "both"):
                    for j in bits(part):
                        cut[j] |= full ^ part
                if d in ("outputs", "both"):
                    for j in bits(full ^ part):
                        cut[j] |= part
            key = tuple(cut)
            if key not in seen:
                seen[key] = tuple(zip(blocks, dirs, strict=True))
    cuts = np.array(list(seen), dtype=np.int64).reshape(len(seen), k)
    n_cut = np.array([sum(bin(int(m)).count("1") for m in row) for row in cuts], dtype=np.int64)
    return full ^ cuts, n_cut, tuple(seen.values())


def _kept_average(node_tpm: Array, points: NDArray[np.int64]) -> Array:
    """``avg[j, K, x]``: P(unit j ON | state points[x]) with sources outside mask ``K`` averaged."""
    n_states = node_tpm.shape[1]
    ys = np.arange(n_states)
    masks = np.arange(n_states)[:, None, None]
    agree = ((ys[None, None, :] ^ points[None, :, None]) & masks) == 0  # (K, x, y)
    weights = agree / agree.sum(axis=2, keepdims=True)
    return np.asarray(np.einsum("kxy,jy->jkx", weights, node_tpm), dtype=np.float64)


def _state_prob(on: Array, target: NDArray[np.int64]) -> Array:
    """Π_j P(unit j in state target_j) from ON probabilities ``on[..., j]``; target broadcasts."""
    return np.asarray(np.where(target == 1, on, 1.0 - on).prod(axis=-1), dtype=np.float64)


def _xlog2(weight: Array, num: Array, den: Array) -> Array:
    """``weight · log₂(num / den)`` (broadcast) with 0 where ``weight = 0``."""
    weight, num, den = (
        np.array(a, dtype=np.float64) for a in np.broadcast_arrays(weight, num, den)
    )
    ok = weight > 0
    ratio = np.divide(num, den, out=np.ones_like(num), where=ok & (den > 0))
    return np.asarray(np.where(ok, weight * np.log2(ratio, where=ok, out=np.zeros_like(ratio)), 0))


def _candidates(values: Array) -> NDArray[np.int64]:
    return np.flatnonzero(values >= values.max() - _TIE_TOL).astype(np.int64)


def _system_phi(
    tpm: Array, state: tuple[int, ...], cm: NDArray[np.bool_], nodes: tuple[int, ...]
) -> SystemIrreducibilityIIT4:
    k = len(nodes)
    node_tpm = subsystem_node_tpm(tpm, state, cm, nodes)
    states = all_states(k)
    s_code = sum(state[i] << pos for pos, i in enumerate(nodes))
    s_bits = states[s_code]
    forward = _state_prob(node_tpm.T[:, None, :], states[None, :, :])  # (x, y): π_e(y | x)

    # information: intrinsic effect / cause information over all candidate states
    pe = forward[s_code]
    ii_e = _xlog2(pe, pe, forward.mean(axis=0))
    into_s = forward[:, s_code]  # π_e(s | x)
    if into_s.sum() <= 0:
        raise InputError(f"state {state} cannot be reached from any state of the system")
    pc = into_s / into_s.sum()
    ii_c = _xlog2(pc, into_s, np.full_like(into_s, into_s.mean()))
    effect_cands, cause_cands = _candidates(ii_e), _candidates(ii_c)

    def result(
        phi: float, phi_c: float, phi_e: float, norm: float, label_idx: int | None, c: int, e: int
    ) -> SystemIrreducibilityIIT4:
        partition = cut = None
        direction: Literal["cause", "effect"] | None = None
        if label_idx is not None:
            label = _system_partitions(k)[2][label_idx]
            partition = tuple((tuple(nodes[i] for i in bits(m)), d) for m, d in label)
            kept = _system_partitions(k)[0][label_idx]
            cut = tuple(
                (nodes[i], nodes[j])
                for i in range(k)
                for j in range(k)
                if not (int(kept[j]) >> i) & 1
            )
            direction = "cause" if phi_c <= phi_e else "effect"
        return SystemIrreducibilityIIT4(
            phi_s=phi,
            direction=direction,
            phi_cause=phi_c,
            phi_effect=phi_e,
            normalized_phi=norm,
            partition=partition,
            cut=cut,
            cause_state=tuple(int(v) for v in states[c]),
            effect_state=tuple(int(v) for v in states[e]),
            ii_cause=float(ii_c[c]),
            ii_effect=float(ii_e[e]),
            subsystem=nodes,
            state=state,
            n_partitions=0 if label_idx is None else len(_system_partitions(k)[2]),
        )

    if ii_c.max() <= _TIE_TOL or ii_e.max() <= _TIE_TOL:  # no intrinsic cause or effect power
        return result(0.0, 0.0, 0.0, 0.0, None, int(cause_cands[0]), int(effect_cands[0]))

    # integration: partitioned probabilities for every partition (rows) and candidate (columns)
    kept, n_cut, _ = _system_partitions(k)
    points = np.concatenate([[s_code], cause_cands])
    avg = _kept_average(node_tpm, points)  # (j, K, x)
    on = avg[np.arange(k)[None, :, None], kept[:, :, None], np.arange(len(points))[None, None, :]]
    cut_e = _state_prob(on[:, :, :1].transpose(0, 2, 1), states[effect_cands][None, :, :])
    cut_c = _state_prob(on[:, :, 1:].transpose(0, 2, 1), s_bits)  # π^θ_e(s | c)
    phi_e = np.maximum(_xlog2(pe[effect_cands][None, :], pe[effect_cands][None, :], cut_e), 0.0)
    phi_c = np.maximum(
        _xlog2(pc[cause_cands][None, :], into_s[cause_cands][None, :], cut_c), 0.0
    )  # (P, candidates)

    best: tuple[float, int, int, int] | None = None  # (φ_s, partition, cause, effect)
    for ci, ei in itertools.product(range(len(cause_cands)), range(len(effect_cands))):
        phi = np.minimum(phi_c[:, ci], phi_e[:, ei])
        key = np.lexsort((-np.round(phi, _DIGITS), np.round(phi / n_cut, _DIGITS)))
        mip = int(key[0])
        if best is None or round(float(phi[mip]), _DIGITS) > round(best[0], _DIGITS):
            best = (float(phi[mip]), mip, ci, ei)
    if best is None:  # unreachable: every mechanism has at least one candidate purview
        raise RuntimeError("no candidate cause/effect purview to cut")
    phi_s, mip, ci, ei = best
    return result(
        phi_s,
        float(phi_c[mip, ci]),
        float(phi_e[mip, ei]),
        phi_s / float(n_cut[mip]),
        mip,
        int(cause_cands[ci]),
        int(effect_cands[ei]),
    )


def system_phi_iit4(
    tpm: ArrayLike,
    state: Sequence[int],
    cm: ArrayLike | None = None,
    subsystem: Sequence[int] | None = None,
) -> SystemIrreducibilityIIT4:
    """IIT 4.0 system integrated information ``φ_s`` of a binary system in a state.

    Parameters
    ----------
    tpm : (2^n, n) array
        State-by-node TPM, row ``Σ_i s_i 2^i``, entry ``[s, j] = P(node j ON at t+1 | s)``;
        ``n ≤ 8``.
    state : sequence of n ints in {0, 1}
        Current state of every network node.
    cm : (n, n) binary array, optional
        ``cm[i, j] = 1`` for an edge ``i → j``; all ones when omitted. A node's non-inputs are
        marginalised out of its TPM.
    subsystem : sequence of int, optional
        Nodes of the candidate system (default all, at most 7); the others are background
        conditions fixed at their current state.

    Returns
    -------
    SystemIrreducibilityIIT4
        ``φ_s`` in ibits, the minimum partition and cut, the side (cause/effect) that attains
        ``φ_s`` there, and the maximal cause and effect states with their intrinsic information.

    Raises
    ------
    InputError
        TPM not of shape ``(2^n, n)`` or outside [0, 1], bad state, ``cm`` of the wrong shape, a
        bad or too large subsystem, or a current state that no system state can lead to.

    Notes
    -----
    Definitions, equation numbers and conventions are in the module docstring. The partitions
    grow quickly (22, 150, 1061, 7896, 61888 for 3–7 units): about 0.01 s for
    5 units, 0.15 s for 6 and 1.5 s for 7 on first use, less once they are cached.
    """
    t, s, c = validate_network(tpm, state, cm, MAX_NODES)
    n = t.shape[1]
    if subsystem is None:
        nodes = tuple(range(n))
    else:
        try:
            nodes = tuple(sorted({int(i) for i in subsystem}))
        except (TypeError, ValueError):
            raise InputError(f"subsystem must be node indices, got {subsystem!r}") from None
        if not nodes or nodes[0] < 0 or nodes[-1] >= n:
            raise InputError(f"subsystem must be a non-empty subset of 0..{n - 1}, got {subsystem}")
    if len(nodes) > MAX_SYSTEM_NODES:
        raise InputError(
            f"candidate system has {len(nodes)} nodes; at most {MAX_SYSTEM_NODES} are supported"
        )
    return _system_phi(t, s, c, nodes)
