from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from axionlab.errors import InputError
from axionlab.landscape import (
    hessian_density,
    hessian_directions,
    hessian_top_eigenvalues,
    hessian_trace,
)


def _setup(tiny):
    """A float64 MLP (3-4-3, with BatchNorm and Dropout) and its exact dense eval-mode Hessian."""
    model = tiny.make_mlp(d_in=3, hidden=4, classes=3).double()
    x, y = tiny.make_data(n=31, d_in=3, classes=3)
    x = x.double()
    hessian = tiny.dense_hessian(model, x, y)
    return model, (x, y), hessian, torch.linalg.eigvalsh(hessian).numpy()


def test_top_eigenvalues_match_dense(tiny):
    model, data, _, exact = _setup(tiny)
    snap = tiny.snapshot(model)
    result = hessian_top_eigenvalues(model, F.cross_entropy, data, k=3, batch_size=8)
    np.testing.assert_allclose(result.eigenvalues, exact[::-1][:3], rtol=1e-4)
    assert result.converged and np.all(result.residuals <= 1e-5)
    assert result.n_hvp <= len(exact)
    tiny.assert_unchanged(model, snap)


def test_eigenvectors_are_unit_eigenvectors(tiny):
    model, data, hessian, exact = _setup(tiny)
    (v,) = hessian_directions(model, F.cross_entropy, data, n=1)
    flat = torch.cat([t.reshape(-1) for t in v.values()])
    assert float(flat.norm()) == pytest.approx(1.0, rel=1e-6)
    assert float(flat @ hessian @ flat) == pytest.approx(exact[-1], rel=1e-4)


def test_hutchplusplus_exact_when_sketch_spans_space(tiny):
    model, data, hessian, _ = _setup(tiny)
    p = hessian.shape[0]
    result = hessian_trace(model, F.cross_entropy, data, method="hutch++", n_hvp=3 * p + 3)
    assert result.estimate == pytest.approx(float(hessian.trace()), rel=1e-4)
    assert result.std_error <= 1e-8


def test_hutchinson_unbiased_within_spread(tiny):
    model, data, hessian, _ = _setup(tiny)
    gen = torch.Generator().manual_seed(4)
    result = hessian_trace(
        model, F.cross_entropy, data, method="hutchinson", n_hvp=200, generator=gen
    )
    assert len(result.samples) == 200 and result.std_error > 0
    assert abs(result.estimate - float(hessian.trace())) <= 4 * result.std_error
    # Each sample is vᵀHv for a Rademacher v drawn from the same stream.
    signs = (
        torch.randint(
            0,
            2,
            (hessian.shape[0], 200),
            generator=torch.Generator().manual_seed(4),
            dtype=torch.float64,
        )
        * 2
        - 1
    )
    ref = (signs * (hessian @ signs)).sum(0).numpy()
    np.testing.assert_allclose(result.samples, ref, rtol=1e-8, atol=1e-10)


def test_density_integrates_to_one_and_matches_moments(tiny):
    model, data, hessian, exact = _setup(tiny)
    p = hessian.shape[0]
    gen = torch.Generator().manual_seed(5)
    density = hessian_density(
        model, F.cross_entropy, data, n_probes=3, lanczos_steps=p, generator=gen
    )
    np.testing.assert_allclose(density.weights.sum(1), 1.0, rtol=1e-10)
    grid = np.linspace(exact.min() - 1, exact.max() + 1, 20001)
    values = density.density(grid, sigma=0.02)
    assert float(np.sum(values) * (grid[1] - grid[0])) == pytest.approx(1.0, abs=1e-4)
    # Full-length Lanczos: the nodes are H's eigenvalues, and each probe's quadrature equals
    # vᵀ H^k v / vᵀv for its Rademacher start vector v.
    assert np.abs(np.sort(density.nodes[0])[-3:] - exact[-3:]).max() < 1e-8
    gen = torch.Generator().manual_seed(5)
    vs = [torch.randint(0, 2, (p,), generator=gen, dtype=torch.float64) * 2 - 1 for _ in range(3)]
    for power in (1, 2, 3):
        hk = torch.linalg.matrix_power(hessian, power)
        ref = np.mean([float(v @ hk @ v) / p for v in vs])
        assert density.moment(power) == pytest.approx(ref, rel=1e-6)
    # A short run keeps the first moments (exact up to degree 2m − 1 per probe).
    short = hessian_density(
        model,
        F.cross_entropy,
        data,
        n_probes=3,
        lanczos_steps=2,
        generator=torch.Generator().manual_seed(5),
    )
    assert short.moment(1) == pytest.approx(density.moment(1), rel=1e-6)
    assert short.moment(3) == pytest.approx(density.moment(3), rel=1e-6)


def test_batch_mode_uses_first_examples(tiny):
    model, (x, y), _, _ = _setup(tiny)
    batch = hessian_top_eigenvalues(model, F.cross_entropy, (x, y), max_examples=10)
    sub = hessian_top_eigenvalues(model, F.cross_entropy, (x[:10], y[:10]))
    assert batch.eigenvalues[0] == pytest.approx(sub.eigenvalues[0], rel=1e-8)


def test_errors(tiny):
    model, data, _, _ = _setup(tiny)
    with pytest.raises(InputError, match="k must be"):
        hessian_top_eigenvalues(model, F.cross_entropy, data, k=0)
    with pytest.raises(InputError, match="method must be"):
        hessian_trace(model, F.cross_entropy, data, method="hutch")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="n_hvp"):
        hessian_trace(model, F.cross_entropy, data, n_hvp=2)
    with pytest.raises(InputError, match="n_probes"):
        hessian_density(model, F.cross_entropy, data, n_probes=0)
