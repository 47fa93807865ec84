from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.optimize import brentq
from torch import nn

from axionlab.errors import InputError
from axionlab.landscape import (
    LossSurface,
    basin_area,
    basin_radii,
    basin_radius,
    random_directions,
)

_DATA = (torch.zeros(3, 1), torch.zeros(3))  # the analytic losses below ignore the data


class _Vector(nn.Module):
    """A model whose output is its parameter vector θ (the loss_fn defines the landscape)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.zeros(n, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.theta


def _bowl(lams, seed=0, offset=0.0):
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(lams), len(lams), generator=gen, dtype=torch.float64))
    h = q @ torch.diag(torch.tensor(lams, dtype=torch.float64)) @ q.T

    def loss_fn(theta, _y):
        return offset + 0.5 * theta @ h @ theta

    return _Vector(len(lams)), loss_fn, [{"theta": q[:, i]} for i in range(len(lams))]


def test_radius_on_a_quadratic_bowl_is_sqrt_2delta_over_lambda():
    lams = [0.5, 1.0, 2.0, 8.0]
    model, loss_fn, eigvecs = _bowl(lams)
    for delta in (0.1, 0.7):
        for lam, v in zip(lams, eigvecs, strict=True):
            r = basin_radius(model, loss_fn, _DATA, v, delta, max_radius=3.0, tol=1e-4)
            assert abs(r - math.sqrt(2 * delta / lam)) <= 1e-4
            assert r >= math.sqrt(2 * delta / lam)  # a point found outside the basin


def test_radii_summary_over_directions_and_relative_tolerances():
    lams = [0.5, 2.0, 8.0]
    model, loss_fn, eigvecs = _bowl(lams, offset=2.0)
    result = basin_radii(
        model, loss_fn, _DATA, eigvecs, deltas=[0.1, 50.0], relative=[0.25], max_radius=3.0
    )
    assert result.center_loss == pytest.approx(2.0)
    np.testing.assert_allclose(result.deltas, [0.1, 50.0, 0.5])
    assert result.relative.tolist() == [False, False, True]
    expected = np.sqrt(2 * result.deltas[None, :] / np.array(lams)[:, None])
    expected[expected > 3.0] = np.inf  # δ = 50 is never reached within max_radius
    finite = np.isfinite(expected)
    assert np.all(np.abs(result.radii[finite] - expected[finite]) <= 1e-4)
    assert np.isinf(result.radii[~finite]).all()
    np.testing.assert_allclose(result.min, result.radii.min(axis=0))
    np.testing.assert_allclose(result.max, result.radii.max(axis=0))
    assert result.mean[0] == pytest.approx(result.radii[:, 0].mean())
    assert result.n_unbounded.tolist() == [0, 3, 0]


def _profile(model_fn):
    def loss_fn(theta, _y):
        return model_fn(theta[0])

    return _Vector(1), loss_fn, {"theta": torch.ones(1, dtype=torch.float64)}


def test_non_monotone_profile_finds_the_first_crossing():
    def f(r):
        return 0.5 * r**2 + 1.0 * torch.exp(-(((r - 0.5) / 0.05) ** 2))

    model, loss_fn, d = _profile(f)
    delta = 0.6
    r = basin_radius(model, loss_fn, _DATA, d, delta, max_radius=2.0, tol=1e-6)

    def g(x):
        return 0.5 * x**2 + math.exp(-(((x - 0.5) / 0.05) ** 2)) - delta

    first = brentq(g, 0.3, 0.5)  # the bump's rising side, well before the bowl's sqrt(1.2)
    assert r == pytest.approx(first, abs=1e-6)


def test_non_finite_loss_counts_as_outside_and_inf_when_never_crossed():
    def f(r):
        return torch.where(r > 0.3, torch.tensor(float("nan"), dtype=r.dtype), 0.01 * r)

    model, loss_fn, d = _profile(f)
    assert basin_radius(model, loss_fn, _DATA, d, 5.0, max_radius=1.0) == pytest.approx(
        0.3, abs=1e-4
    )
    flat_model, flat, d = _profile(lambda r: 0.01 * r**2)
    assert basin_radius(flat_model, flat, _DATA, d, 1.0, max_radius=2.0) == math.inf


def test_model_is_left_untouched(tiny):
    model, data = tiny.make_mlp(), tiny.make_data()
    snap = tiny.snapshot(model)
    directions = random_directions(model, 2, generator=torch.Generator().manual_seed(0))
    result = basin_radii(
        model,
        F.cross_entropy,
        data,
        directions,
        deltas=[0.05],
        relative=[0.1],
        max_radius=2.0,
        steps=16,
        tol=1e-3,
        batch_size=7,
    )
    assert result.radii.shape == (2, 2) and (result.radii > 0).all()
    tiny.assert_unchanged(model, snap)
    # eval semantics: dropout off, running BatchNorm statistics
    with torch.no_grad():
        model.eval()
        assert result.center_loss == pytest.approx(float(F.cross_entropy(model(data[0]), data[1])))


def test_radius_errors():
    model, loss_fn, eigvecs = _bowl([1.0, 2.0])
    with pytest.raises(InputError, match="> 0"):
        basin_radius(model, loss_fn, _DATA, eigvecs[0], 0.0, max_radius=1.0)
    with pytest.raises(InputError, match="max_radius"):
        basin_radius(model, loss_fn, _DATA, eigvecs[0], 0.1, max_radius=-1.0)
    with pytest.raises(InputError, match="tol"):
        basin_radius(model, loss_fn, _DATA, eigvecs[0], 0.1, max_radius=1.0, tol=2.0)
    with pytest.raises(InputError, match="keyed like"):
        basin_radius(model, loss_fn, _DATA, {"other": torch.ones(2)}, 0.1, max_radius=1.0)
    with pytest.raises(InputError, match="positive centre loss"):
        basin_radii(model, loss_fn, _DATA, eigvecs, relative=[0.1], max_radius=1.0)
    with pytest.raises(InputError, match="at least one tolerance"):
        basin_radii(model, loss_fn, _DATA, eigvecs, max_radius=1.0)


def test_area_is_the_eight_connected_component_of_the_centre():
    values = np.full((7, 7), 10.0)
    values[3, 3] = 0.0
    values[2, 2] = values[1, 1] = 1.0  # diagonal chain: joined under 8-connectivity
    values[5, 1] = 1.0  # a separate low cell, not part of the basin
    values[3, 6] = np.nan
    result = basin_area(values, [-1.0, 0.5, 1.0, 10.0])
    assert result.center == (3, 3)
    assert result.cells.tolist() == [0, 1, 3, 48]  # the NaN cell is never inside
    np.testing.assert_allclose(result.fraction, result.cells / 49)
    assert result.touches_border.tolist() == [False, False, False, True]
    assert np.isnan(result.area).all()


def test_area_of_a_bowl_surface_in_coordinate_units():
    axis = np.linspace(-1.0, 1.0, 41)
    grid = axis[:, None] ** 2 + axis[None, :] ** 2
    surface = LossSurface(
        alphas=axis,
        betas=axis,
        values=grid,
        center_loss=0.0,
        n_nonfinite=0,
        seconds=0.0,
        device="cpu",
        strategy="loop",
        n_examples=1,
    )
    result = basin_area(surface, [0.25, 0.5])
    assert result.center == (20, 20)
    np.testing.assert_allclose(result.area, np.pi * np.array([0.25, 0.5]), rtol=0.05)
    assert not result.touches_border.any()
    with pytest.raises(InputError, match="2-D"):
        basin_area(np.zeros(5), [1.0])
    with pytest.raises(InputError, match="center"):
        basin_area(grid, [1.0], center=(50, 0))
