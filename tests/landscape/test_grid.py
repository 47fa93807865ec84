from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from axionlab.errors import InputError
from axionlab.landscape import loss_line, loss_plane, random_directions
from axionlab.landscape.grid import LossGrid, grid_bytes, loss_grid


def _triple_loop(model, x, y, dirs, axis):
    """θ* + a·d1 + b·d2 + c·d3 copied into a deep copy of the model, eval mode, one forward each."""
    work = copy.deepcopy(model).eval()
    center = {n: p.detach().clone() for n, p in model.named_parameters()}
    out = np.empty((len(axis),) * 3)
    with torch.no_grad():
        for i, a in enumerate(axis):
            for j, b in enumerate(axis):
                for k, c in enumerate(axis):
                    for n, p in work.named_parameters():
                        p.copy_(center[n] + a * dirs[0][n] + b * dirs[1][n] + c * dirs[2][n])
                    out[i, j, k] = F.cross_entropy(work(x), y).item()
    return out


@pytest.mark.parametrize("strategy", ["loop", "vmap"])
def test_3d_grid_equals_plain_triple_loop_and_leaves_the_model_alone(tiny, strategy):
    model, (x, y) = tiny.make_mlp(), tiny.make_data()
    snap = tiny.snapshot(model)
    dirs = random_directions(model, 3, generator=torch.Generator().manual_seed(4))
    grid = loss_grid(
        model, F.cross_entropy, (x, y), dirs, steps=5, strategy=strategy, points_per_batch=7
    )
    assert isinstance(grid, LossGrid) and grid.ndim == 3
    assert grid.values.shape == (5, 5, 5) and grid.values.dtype == np.float64
    assert all(np.array_equal(a, np.linspace(-1, 1, 5)) for a in grid.axes)
    ref = _triple_loop(model, x, y, dirs, grid.axes[0])
    assert np.abs(grid.values - ref).max() <= 1e-5
    assert grid.values[2, 2, 2] == pytest.approx(grid.center_loss, abs=1e-6)
    assert grid.n_nonfinite == 0 and grid.n_examples == len(x)
    assert grid.strategy.startswith(strategy)
    tiny.assert_unchanged(model, snap)


def test_two_directions_are_loss_plane_and_one_is_loss_line(tiny):
    model, (x, y) = tiny.make_mlp(), tiny.make_data()
    snap = tiny.snapshot(model)
    dirs = random_directions(model, 2, generator=torch.Generator().manual_seed(5))
    options = {"steps": 7, "span": (-0.5, 0.5), "strategy": "vmap", "points_per_batch": 4}
    grid = loss_grid(model, F.cross_entropy, (x, y), dirs, **options)
    plane = loss_plane(model, F.cross_entropy, (x, y), dirs, **options)
    assert np.array_equal(grid.values, plane.values)
    assert np.array_equal(grid.axes[0], plane.alphas) and np.array_equal(grid.axes[1], plane.betas)
    assert grid.center_loss == plane.center_loss and grid.strategy == plane.strategy

    line_grid = loss_grid(model, F.cross_entropy, (x, y), dirs[:1], **options)
    line = loss_line(model, F.cross_entropy, (x, y), dirs[0], **options)
    assert line_grid.values.shape == (7,) and np.array_equal(line_grid.values, line.values)
    assert line_grid.center_loss == line.center_loss
    tiny.assert_unchanged(model, snap)


def test_nonfinite_points_are_counted_never_replaced():
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    x, y = torch.ones(4, 1), torch.zeros(4)
    # weight = 1 + a + b + c over a 3³ grid of {-1, 0, 1}: sums -2 … 4
    dirs = [{"weight": torch.ones(1, 1)} for _ in range(3)]

    def log_output(out: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
        return torch.log(out).mean()

    grid = loss_grid(model, log_output, (x, y), dirs, steps=3, strategy="loop")
    a = grid.axes[0]
    weight = 1 + a[:, None, None] + a[None, :, None] + a[None, None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.log(weight)
    assert np.array_equal(np.isnan(grid.values), weight < 0)  # 4 points of weight −1 or −2
    assert np.array_equal(grid.values == -np.inf, weight == 0)  # 6 points of weight 0
    finite = weight > 0
    np.testing.assert_allclose(grid.values[finite], expected[finite], rtol=1e-6)
    assert grid.n_nonfinite == int((weight <= 0).sum()) == 10


def test_bad_directions_and_oversized_grids_are_refused(tiny):
    model, (x, y) = tiny.make_mlp(), tiny.make_data()
    dirs = random_directions(model, 3)
    with pytest.raises(InputError, match="at least 1 direction"):
        loss_grid(model, F.cross_entropy, (x, y), [])
    with pytest.raises(InputError, match="list of directions"):
        loss_grid(model, F.cross_entropy, (x, y), dirs[0])  # type: ignore[arg-type]
    missing = [dirs[0], dirs[1], {k: v for k, v in dirs[2].items() if k != "0.weight"}]
    with pytest.raises(InputError, match=r"directions\[2\].*missing \['0.weight'\]"):
        loss_grid(model, F.cross_entropy, (x, y), missing, steps=3)
    reshaped = [dirs[0], {**dirs[1], "0.bias": torch.zeros(3)}, dirs[2]]
    with pytest.raises(InputError, match=r"directions\[1\]\['0.bias'\] has shape \(3,\)"):
        loss_grid(model, F.cross_entropy, (x, y), reshaped, steps=3)
    with pytest.raises(InputError, match="steps=101 with 3 directions"):
        loss_grid(model, F.cross_entropy, (x, y), dirs, steps=101, memory_budget=2**20)
    with pytest.raises(InputError, match="steps must be"):
        loss_grid(model, F.cross_entropy, (x, y), dirs, steps=1)


def test_memory_estimate_counts_the_coefficient_table_values_and_one_batch():
    # 11³ points × (3·3 + 2) float64 + 8 points × 100 float32 weights
    assert grid_bytes(11, 3, 100, 8) == 11**3 * 11 * 8 + 8 * 100 * 4
    assert grid_bytes(51, 4, 0, 1) > 2**29  # 51⁴ points: the bookkeeping alone is ~0.7 GB


class _ThreeWorkers:
    """An executor that splits the grid into 3 chunks and maps them in-process."""

    workers = 3

    def map(self, fn, items):
        return [fn(item) for item in items]


def test_grid_split_over_workers_keeps_every_point_in_place(tiny):
    model, (x, y) = tiny.make_mlp(), tiny.make_data()
    dirs = random_directions(model, 3, generator=torch.Generator().manual_seed(6))
    local = loss_grid(model, F.cross_entropy, (x, y), dirs, steps=3, strategy="loop")
    split = loss_grid(
        model, F.cross_entropy, (x, y), dirs, steps=3, strategy="loop", executor=_ThreeWorkers()
    )
    assert np.abs(local.values - split.values).max() <= 1e-6
    assert split.center_loss == pytest.approx(local.center_loss, abs=1e-7)
