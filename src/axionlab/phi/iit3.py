"""Exact integrated information Φ of IIT 3.0 for small binary systems.

Follows Oizumi, Albantakis & Tononi (2014), PLoS Comput Biol 10, e1003588, with the conventions of
PyPhi 1.2 under its IIT 3.0 defaults (Mayner et al. 2018):

- TPMs are state-by-node, rows in little-endian order (row ``Σ_i s_i 2^i``); ``cm[i, j] = 1`` is an
  edge ``i → j``. Nodes outside the subsystem are fixed at their current state (background).
- Repertoires use virtual elements: a node's inputs outside the mechanism (effect) or purview
  (cause) are marginalised uniformly; cause repertoires are normalised products over mechanism
  nodes.
- Concept φ: for cause and effect, the minimum over mechanism-purview bipartitions of the Hamming
  EMD between the repertoire and the partitioned repertoire, maximised over purviews (ties: the
  larger purview, then the first in size-then-lexicographic order); ``φ = min(φ_cause, φ_effect)``.
  Effect repertoires are products, so their EMD is the sum of the marginal differences.
- Big Φ: the minimum over unidirectional cuts ``from → to`` of the extended EMD between the cause-
  effect structures of the uncut and the cut system: concepts carry mass φ, the ground distance is
  the cause EMD plus the effect EMD of their repertoires, the null concept (unconstrained
  repertoires) absorbs the difference of total φ. Concepts present in both structures cancel. As in
  PyPhi, the cut structure is evaluated only for mechanisms that were concepts or that the cut
  splits; systems whose connectivity is not strongly connected and single nodes have Φ = 0.

When the cut structure carries more φ than the uncut one the excess is taken from the null concept
(PyPhi would put a negative mass on it).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
from numba import njit
from numpy.typing import ArrayLike, NDArray

from axionlab.errors import InputError
from axionlab.phi import emd
from axionlab.phi.networks import (
    all_states,
    background_rows,
    bits,
    subsystem_node_tpm,
    validate_network,
)

Array = NDArray[np.float64]
MAX_NODES = 8
_DIGITS = 10  # φ values are rounded so that ties are decided exactly


@dataclass(frozen=True, eq=False)
class Concept:
    """A mechanism with φ > 0, its core cause and effect and their system-wide repertoires."""

    mechanism: tuple[int, ...]
    phi: float
    phi_cause: float
    phi_effect: float
    cause_purview: tuple[int, ...]
    effect_purview: tuple[int, ...]
    cause_repertoire: Array  # (2^k,) over subsystem states, uniform outside the purview
    effect_marginals: Array  # (k,) P(node ON), unconstrained outside the purview


@dataclass(frozen=True)
class SystemIrreducibility:
    """Big Φ of a subsystem in a state, its minimum-information cut and its concepts.

    Node indices refer to the network; ``cut`` is ``(from, to)`` or ``None`` when Φ = 0 without a
    cut (reducible connectivity, a single node or no concepts). ``float(result)`` is Φ.
    """

    phi: float
    subsystem: tuple[int, ...]
    state: tuple[int, ...]
    cut: tuple[tuple[int, ...], tuple[int, ...]] | None
    concepts: tuple[Concept, ...]
    n_cuts_evaluated: int

    def __float__(self) -> float:
        return self.phi


@functools.cache
def _powerset_order(k: int) -> tuple[int, ...]:
    """Non-empty subsets of ``range(k)`` as masks, by size then lexicographically (PyPhi order)."""
    return tuple(
        sum(1 << i for i in combo)
        for r in range(1, k + 1)
        for combo in itertools.combinations(range(k), r)
    )


@functools.cache
def _averaging(k: int) -> Array:
    """``avg[P, x, y] = [x_P = y_P] / 2^(k − |P|)``: averages over the nodes outside ``P``."""
    xs = np.arange(2**k)
    masks = xs[:, None, None]
    agree = ((xs[None, :, None] ^ xs[None, None, :]) & masks) == 0
    sizes = np.array([bin(m).count("1") for m in xs])
    return np.asarray(agree / 2.0 ** (k - sizes)[:, None, None], dtype=np.float64)


@functools.cache
def _purview_code(k: int, purview: int) -> NDArray[np.int64]:
    """Index of each of the ``2^k`` subsystem states among the states of the purview."""
    nodes = list(bits(purview))
    return np.asarray(all_states(k)[:, nodes] @ (1 << np.arange(len(nodes))), dtype=np.int64)


@njit(cache=True)
def _marginalise(diffs, code, size):  # type: ignore[no-untyped-def]
    """Rows of full-state differences summed onto the purview, in increasing state order.

    A compiled loop rather than a product with the one-hot projection: the same sums, without a
    threaded BLAS call per block of concept pairs.
    """
    out = np.zeros((diffs.shape[0], size))
    for r in range(diffs.shape[0]):
        for x in range(diffs.shape[1]):
            out[r, code[x]] += diffs[r, x]
    return out


@njit(cache=True, error_model="numpy")  # 0/0 gives nan as numpy did, not an exception
def _partition_gaps(cause, mechanism, purview, parts, code, size):  # type: ignore[no-untyped-def]
    """Repertoire minus each normalised partitioned repertoire, summed onto the purview."""
    m1, p1, m2, p2 = parts
    whole = cause[mechanism, purview]
    out = np.zeros((m1.shape[0], size))
    product = np.empty(whole.shape[0])
    for r in range(m1.shape[0]):
        first, second = cause[m1[r], p1[r]], cause[m2[r], p2[r]]
        total = 0.0
        for x in range(whole.shape[0]):
            product[x] = first[x] * second[x]
            total += product[x]
        for x in range(whole.shape[0]):
            out[r, code[x]] += whole[x] - product[x] / total
    return out


@functools.cache
def _partitions(mechanism: int, purview: int) -> tuple[NDArray[np.int64], ...]:
    """Mechanism bipartitions × directed purview bipartitions with two non-empty parts."""
    top = 1 << (mechanism.bit_length() - 1)
    m1s, p1s = [], []
    sub_m = [m for m in range(mechanism + 1) if m & mechanism == m and not m & top]
    sub_p = [q for q in range(purview + 1) if q & purview == q]
    for m1 in sub_m:
        for p1 in sub_p:
            if (m1 or p1) and ((mechanism ^ m1) or (purview ^ p1)):
                m1s.append(m1)
                p1s.append(p1)
    m1_arr = np.array(m1s, dtype=np.int64)
    p1_arr = np.array(p1s, dtype=np.int64)
    return m1_arr, p1_arr, mechanism ^ m1_arr, purview ^ p1_arr


class _System:
    """Repertoire tables of one (possibly cut) subsystem in one state."""

    def __init__(self, node_tpm: Array, state: int, k: int) -> None:
        self.k = k
        n_states = 2**k
        xs = np.arange(n_states)
        on = ((state >> np.arange(k)) & 1).astype(bool)
        # cause factors c_i(x) = P(node i in its current state | x), averaged off each purview
        factors = np.where(on[:, None], node_tpm, 1.0 - node_tpm)  # (k, 2^k)
        per_purview = np.einsum("iy,pxy->ipx", factors, _averaging(k))  # (k, P, 2^k)
        rep = np.empty((n_states, n_states, n_states))  # (M, P, x) unnormalised
        rep[0] = 1.0
        for m in range(1, n_states):
            low = (m & -m).bit_length() - 1
            rep[m] = rep[m & (m - 1)] * per_purview[low]
        self.cause = rep / rep.sum(axis=2, keepdims=True)
        # effect table Q[M, j] = P(node j ON | mechanism M in its state), others averaged
        agree = ((xs[None, :] ^ state) & xs[:, None]) == 0  # (M, x)
        self.effect = (agree @ node_tpm.T) / agree.sum(axis=1, keepdims=True)  # (M, k)
        self.membership = ((xs[:, None] >> np.arange(k)[None, :]) & 1).astype(np.float64)

    def effect_phis(self, mechanism: int) -> Array:
        """Effect φ_MIP of the mechanism for every purview mask (index 0 unused)."""
        subs = np.array([m for m in range(mechanism + 1) if m & mechanism == m])
        diff = np.abs(self.effect[mechanism][None, :] - self.effect[subs])  # (S, k)
        by_sub = dict(zip(subs.tolist(), range(len(subs)), strict=True))
        top = 1 << (mechanism.bit_length() - 1)
        trivial = np.where(self.membership > 0, diff[by_sub[0]][None, :], np.inf).min(axis=1)
        best = trivial
        for m1 in subs:
            if m1 == 0 or m1 & top:
                continue
            cheapest = np.minimum(diff[by_sub[int(m1)]], diff[by_sub[mechanism ^ int(m1)]])
            best = np.minimum(best, self.membership @ cheapest)
        return np.asarray(np.round(best, _DIGITS), dtype=np.float64)

    def cause_phi(self, mechanism: int, purview: int) -> float:
        p = bin(purview).count("1")
        gaps = _partition_gaps(
            self.cause,
            mechanism,
            purview,
            _partitions(mechanism, purview),
            _purview_code(self.k, purview),
            2**p,
        )
        return round(emd.hamming_emd_min(gaps, p), _DIGITS)


def _pick_purview(phis: dict[int, float]) -> tuple[int, float]:
    """Maximal φ; ties go to the larger purview, then to the first in PyPhi's order."""
    best_mask, best_phi = 0, -1.0
    for mask, phi in phis.items():
        size = bin(mask).count("1")
        if phi > best_phi or (phi == best_phi and size > bin(best_mask).count("1")):
            best_mask, best_phi = mask, phi
    return best_mask, best_phi


class _Evaluator:
    """Concepts of the uncut and cut systems, caching cause φ across cuts."""

    def __init__(self, node_tpm: Array, cm: NDArray[np.bool_], state: int, k: int) -> None:
        self.node_tpm = node_tpm
        self.cm = cm
        self.state = state
        self.k = k
        # key: mechanism, purview and, per mechanism node, the purview nodes cut off from it
        self._cause_cache: dict[tuple[int, int, tuple[int, ...]], float] = {}

    def system(self, source: int, target: int) -> _System:
        tpm = self.node_tpm.copy()
        if source:
            axes = tuple(self.k - 1 - i for i in bits(source))
            for j in bits(target):
                cube = tpm[j].reshape((2,) * self.k)
                tpm[j] = np.broadcast_to(cube.mean(axis=axes, keepdims=True), cube.shape).ravel()
        return _System(tpm, self.state, self.k)

    def concept(
        self, system: _System, mechanism: int, severed_into: tuple[int, ...]
    ) -> Concept | None:
        effect_phis = system.effect_phis(mechanism)
        order = _powerset_order(self.k)
        effect_purview, phi_effect = _pick_purview({p: float(effect_phis[p]) for p in order})
        if phi_effect <= 0:
            return None
        cause_phis = {}
        into = [severed_into[j] for j in bits(mechanism)]
        for purview in order:
            key = (mechanism, purview, tuple(m & purview for m in into))
            if key not in self._cause_cache:
                self._cause_cache[key] = system.cause_phi(mechanism, purview)
            cause_phis[purview] = self._cause_cache[key]
        cause_purview, phi_cause = _pick_purview(cause_phis)
        phi = min(phi_cause, phi_effect)
        if phi <= 0:
            return None
        marginals = system.effect[0].copy()
        on = list(bits(effect_purview))
        marginals[on] = system.effect[mechanism, on]
        return Concept(
            mechanism=bits(mechanism),
            phi=phi,
            phi_cause=phi_cause,
            phi_effect=phi_effect,
            cause_purview=bits(cause_purview),
            effect_purview=bits(effect_purview),
            cause_repertoire=system.cause[mechanism, cause_purview],
            effect_marginals=marginals,
        )

    def ces(self, source: int, target: int, mechanisms: Sequence[int]) -> dict[int, Concept]:
        system = self.system(source, target)
        severed_into = tuple(
            sum(1 << i for i in bits(source) if self.cm[i, j]) if (target >> j) & 1 else 0
            for j in range(self.k)
        )
        out = {}
        for mechanism in mechanisms:
            concept = self.concept(system, mechanism, severed_into)
            if concept is not None:
                out[mechanism] = concept
        return out


def _cause_of(concept: Concept | None, uniform: Array) -> Array:
    return uniform if concept is None else concept.cause_repertoire


def _purview_mask(concept: Concept | None) -> int:
    return 0 if concept is None else sum(1 << i for i in concept.cause_purview)


class _Distances:
    """Ground distances between concepts: cause EMD plus effect EMD of their repertoires."""

    def __init__(self, null_effect: Array, k: int) -> None:
        self.null_effect = null_effect
        self.k = k

    def matrix(self, sources: list[Concept | None], targets: list[Concept | None]) -> Array:
        uniform = np.full(2**self.k, 2.0**-self.k)
        causes, effects, masks = [], [], []
        for side in (sources, targets):
            causes.append(np.array([_cause_of(c, uniform) for c in side]))
            effects.append(
                np.array([self.null_effect if c is None else c.effect_marginals for c in side])
            )
            masks.append(np.array([_purview_mask(c) for c in side]))
        out = np.abs(effects[0][:, None, :] - effects[1][None, :, :]).sum(axis=2)
        union = masks[0][:, None] | masks[1][None, :]  # cause EMDs are measured on this purview
        for mask in np.unique(union[union > 0]):
            a, b = np.nonzero(union == mask)
            out[a, b] += _cause_emd_rows(causes[0][a] - causes[1][b], self.k, int(mask))
        return np.asarray(out, dtype=np.float64)


def _cause_emd_rows(diffs: Array, k: int, purview: int) -> Array:
    """Hamming EMD of every row of full-state differences, measured on the purview."""
    p = bin(purview).count("1")
    return emd.hamming_emd_batch(_marginalise(diffs, _purview_code(k, purview), 2**p), p)


def _same(a: Concept, b: Concept) -> bool:
    return (
        a.phi == b.phi
        and a.cause_purview == b.cause_purview
        and a.effect_purview == b.effect_purview
        and np.allclose(a.cause_repertoire, b.cause_repertoire, rtol=0, atol=1e-12)
        and np.allclose(a.effect_marginals, b.effect_marginals, rtol=0, atol=1e-12)
    )


def _ces_distance(uncut: dict[int, Concept], cut: dict[int, Concept], dist: _Distances) -> float:
    only_uncut = [c for m, c in uncut.items() if m not in cut or not _same(c, cut[m])]
    only_cut = [c for m, c in cut.items() if m not in uncut or not _same(c, uncut[m])]
    if not only_uncut and not only_cut:
        return 0.0
    excess = sum(c.phi for c in only_uncut) - sum(c.phi for c in only_cut)
    source_mass = np.array([c.phi for c in only_uncut] + [max(-excess, 0.0)])
    target_mass = np.array([c.phi for c in only_cut] + [max(excess, 0.0)])
    cost = dist.matrix([*only_uncut, None], [*only_cut, None])
    return emd.transport_cost(source_mass, target_mass, cost)


def _strongly_connected(cm: NDArray[np.bool_]) -> bool:
    n_comp, _ = scipy.sparse.csgraph.connected_components(
        scipy.sparse.csr_matrix(cm.astype(np.int8)), directed=True, connection="strong"
    )
    return int(n_comp) == 1


def _reachable(tpm: Array, state: tuple[int, ...], nodes: tuple[int, ...]) -> bool:
    sub = tpm[background_rows(tpm.shape[1], state, nodes)][:, list(nodes)]
    return bool(np.any(np.all(np.abs(sub - np.array([state[i] for i in nodes])) < 1, axis=1)))


def _subsystem_phi(
    tpm: Array, state: tuple[int, ...], cm: NDArray[np.bool_], nodes: tuple[int, ...]
) -> SystemIrreducibility:
    if not _reachable(tpm, state, nodes):
        raise InputError(f"state {state} is not reachable from any state under this tpm")
    k = len(nodes)
    node_tpm = subsystem_node_tpm(tpm, state, cm, nodes)
    sub_cm = cm[np.ix_(nodes, nodes)]
    sub_state = tuple(state[i] for i in nodes)

    def result(
        phi: float,
        cut: tuple[tuple[int, ...], tuple[int, ...]] | None,
        concepts: dict[int, Concept],
        n_cuts: int,
    ) -> SystemIrreducibility:
        return SystemIrreducibility(
            phi=phi,
            subsystem=nodes,
            state=state,
            cut=cut,
            concepts=tuple(concepts[m] for m in sorted(concepts, key=_powerset_order(k).index)),
            n_cuts_evaluated=n_cuts,
        )

    if k == 1 or not _strongly_connected(sub_cm):
        return result(0.0, None, {}, 0)
    sub_code = sum(s << i for i, s in enumerate(sub_state))
    evaluator = _Evaluator(node_tpm, sub_cm, sub_code, k)
    all_mechanisms = _powerset_order(k)
    uncut = evaluator.ces(0, 0, all_mechanisms)
    if not uncut:
        return result(0.0, None, uncut, 0)
    distances = _Distances(evaluator.system(0, 0).effect[0], k)
    full = 2**k - 1
    best_phi, best_cut, n_cuts = np.inf, None, 0
    for source in range(1, full):
        target = full ^ source
        splits = [m for m in all_mechanisms if m & source and m & target]
        mechanisms = sorted(set(uncut) | set(splits), key=all_mechanisms.index)
        cut_ces = evaluator.ces(source, target, mechanisms)
        phi = _ces_distance(uncut, cut_ces, distances)
        n_cuts += 1
        if phi < best_phi:
            best_phi = phi
            best_cut = (
                tuple(nodes[i] for i in bits(source)),
                tuple(nodes[i] for i in bits(target)),
            )
        if best_phi <= 0:
            break
    return result(max(float(best_phi), 0.0), best_cut, uncut, n_cuts)


def iit_phi(
    tpm: ArrayLike,
    state: Sequence[int],
    cm: ArrayLike | None = None,
    *,
    subsystem: Sequence[int] | None = None,
    major_complex: bool = False,
) -> SystemIrreducibility:
    """Exact IIT 3.0 big Φ of a binary system in a state (Oizumi et al. 2014).

    Parameters
    ----------
    tpm : (2^n, n) array
        State-by-node TPM, row ``Σ_i s_i 2^i``, entry ``[s, j] = P(node j ON at t+1 | s)``.
    state : sequence of n ints in {0, 1}
        Current state of every network node.
    cm : (n, n) binary array, optional
        ``cm[i, j] = 1`` for an edge ``i → j``; all ones when omitted.
    subsystem : sequence of int, optional
        Nodes of the candidate system (default all); the others are fixed background conditions.
    major_complex : bool
        Search every subset of the nodes that have inputs and outputs and whose state is reachable
        with the other nodes as background; return the one with maximal Φ (ties: the larger).

    Returns
    -------
    SystemIrreducibility
        Φ, the minimum-information cut and the cause-effect structure of the uncut system.

    Raises
    ------
    InputError
        TPM not of shape ``(2^n, n)`` or outside [0, 1], bad state, ``cm`` of the wrong shape,
        or a state that no state of the TPM can reach.

    Notes
    -----
    Conventions and the single deliberate deviation from PyPhi are listed in the module docstring.
    """
    t, s, c = validate_network(tpm, state, cm, MAX_NODES)
    n = t.shape[1]
    if major_complex:
        # as PyPhi: subsets of the nodes with inputs and outputs whose state is reachable, larger
        # subsystems first so that ties keep the larger one
        significant = sum(1 << i for i in range(n) if c[:, i].any() and c[i, :].any())
        candidates = [
            _subsystem_phi(t, s, c, bits(m))
            for m in reversed(_powerset_order(n))
            if m & significant == m and _reachable(t, s, bits(m))
        ]
        if not candidates:
            raise InputError(f"no subsystem of the network can reach state {s}")
        return max(candidates, key=lambda r: r.phi)
    if subsystem is None:
        nodes = tuple(range(n))
    else:
        nodes = tuple(sorted({int(i) for i in subsystem}))
        if not nodes or nodes[0] < 0 or nodes[-1] >= n:
            raise InputError(f"subsystem must be a non-empty subset of 0..{n - 1}, got {subsystem}")
    return _subsystem_phi(t, s, c, nodes)
