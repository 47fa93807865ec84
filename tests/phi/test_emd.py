"""Hamming EMDs of axionlab.phi.emd against the dense transport linear program and against values
recorded from the earlier linear-scan kernel."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from axionlab.phi import emd
from axionlab.phi.networks import all_states

DATA = Path(__file__).parent / "data"


def _hamming_cost(p):
    states = all_states(p)
    return np.abs(states[:, None, :] - states[None, :, :]).sum(axis=2).astype(float)


def _test_distributions(p, rng):
    """Dense, sparse (point masses, ties) and coarsely quantised pairs of distributions."""
    pairs = [(rng.dirichlet(np.ones(2**p)), rng.dirichlet(np.ones(2**p))) for _ in range(4)]
    pairs.append((np.eye(2**p)[0], np.eye(2**p)[-1]))  # antipodal point masses: EMD = p
    pairs.append((np.full(2**p, 2.0**-p), np.full(2**p, 2.0**-p)))  # equal: EMD = 0
    sparse = rng.dirichlet(np.ones(2**p)) * (rng.random(2**p) < 0.3)
    sparse[0] += 0.5
    quantised = np.round(rng.dirichlet(np.ones(2**p)) * 4)
    quantised[-1] += 1
    pairs.append((sparse / sparse.sum(), quantised / quantised.sum()))
    return pairs


@pytest.mark.parametrize("p", [1, 2, 3, 4, 5, 6])
def test_hamming_emd_equals_transport_linear_program(p):
    pairs = _test_distributions(p, np.random.default_rng(p))
    diffs = np.array([q - r for q, r in pairs])
    reference = [emd.transport_cost(q, r, _hamming_cost(p)) for q, r in pairs]
    np.testing.assert_allclose(emd.hamming_emd_batch(diffs, p), reference, atol=1e-9)
    np.testing.assert_allclose(emd._hamming_emd_ssp(diffs, p), reference, atol=1e-9)
    assert emd.hamming_emd_min(diffs, p) == pytest.approx(min(reference), abs=1e-9)
    assert reference[4] == pytest.approx(p) and reference[5] == pytest.approx(0.0, abs=1e-12)


def _masses(p, quantum):
    """Distributions on the p-cube: integer weights (many ties) or weights 0 or in [1e-3, 1].

    Masses below HiGHS's feasibility tolerance (1e-7) would make the linear program, not the
    flow, the inexact side of the comparison.
    """
    weights = st.integers(0, 3) if quantum else st.one_of(st.just(0.0), st.floats(1e-3, 1.0))
    return st.lists(weights, min_size=2**p, max_size=2**p).filter(lambda w: sum(w) > 0)


@st.composite
def _cube_pairs(draw):
    p = draw(st.integers(1, 6))
    quantum = draw(st.booleans())
    rows = draw(st.integers(1, 4))
    pairs = []
    for _ in range(rows):
        q, r = (np.array(draw(_masses(p, quantum)), dtype=float) for _ in range(2))
        pairs.append((q / q.sum(), r / r.sum()))
    return p, pairs


@settings(max_examples=40, deadline=None)
@given(_cube_pairs())
def test_bucket_queue_transport_equals_dense_linear_program(case):
    # random and tied (integer-weight) distributions on the 1- to 6-cube
    p, pairs = case
    diffs = np.array([q - r for q, r in pairs])
    reference = np.array([emd.transport_cost(q, r, _hamming_cost(p)) for q, r in pairs])
    np.testing.assert_allclose(emd._hamming_emd_ssp(diffs, p), reference, atol=1e-9)
    np.testing.assert_allclose(emd.hamming_emd_batch(diffs, p), reference, atol=1e-9)
    assert emd.hamming_emd_min(diffs, p) == pytest.approx(reference.min(), abs=1e-9)


@pytest.mark.parametrize("p", [1, 2, 3, 4])
def test_flow_equals_enumerated_dual_vertices(p):
    # the minimum path solves flows for every p, the batch path enumerates duals for p <= 4
    rng = np.random.default_rng(100 + p)
    q, r = rng.dirichlet(np.ones(2**p), 200), rng.dirichlet(np.ones(2**p), 200)
    tied = np.round(q * 3) + np.eye(2**p)[0]
    diffs = np.concatenate([q - r, tied / tied.sum(axis=1, keepdims=True) - r])
    np.testing.assert_allclose(
        emd._hamming_emd_ssp(diffs, p), emd.hamming_emd_batch(diffs, p), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("p", [4, 5, 6])
def test_minimum_over_near_partitions_equals_minimum_of_all_flows(p):
    # rows close to one another, as the partitions of one purview: the duals of solved rows prune
    rng = np.random.default_rng(200 + p)
    base = rng.dirichlet(np.ones(2**p))
    perturbed = base * np.exp(0.05 * rng.standard_normal((300, 2**p)))
    diffs = base - perturbed / perturbed.sum(axis=1, keepdims=True)
    assert emd.hamming_emd_min(diffs, p) == emd._hamming_emd_ssp(diffs, p).min()


def _recorded_cubes():
    return json.loads((DATA / "emd_reference.json").read_text())["cubes"]


@pytest.mark.parametrize("cube", _recorded_cubes(), ids=lambda c: f"p{c['p']}")
def test_equals_linear_scan_kernel(cube):
    # values of the one-path-per-Dijkstra kernel of 8223694 on dense, sparse, quantised and near
    # rows: equal up to the order in which the flows are summed
    diffs, p = np.array(cube["diffs"]), cube["p"]
    np.testing.assert_allclose(emd.hamming_emd_batch(diffs, p), cube["emd"], rtol=0, atol=1e-12)
    assert emd.hamming_emd_min(diffs, p) == pytest.approx(cube["min"], rel=0, abs=1e-12)


def test_dual_vertex_counts():
    assert [emd.dual_vertices(p).shape for p in (1, 2, 3)] == [(2, 2), (6, 4), (38, 8)]


def test_product_distributions_emd_is_sum_of_marginal_gaps():
    a, b = np.array([0.2, 0.7, 0.5]), np.array([0.6, 0.1, 0.5])
    states = all_states(3)
    joint = lambda m: np.prod(np.where(states == 1, m, 1 - m), axis=1)  # noqa: E731
    value = emd.hamming_emd_batch((joint(a) - joint(b))[None], 3)[0]
    assert value == pytest.approx(np.abs(a - b).sum())
