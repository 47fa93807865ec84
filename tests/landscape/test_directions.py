from __future__ import annotations

import pytest
import torch
from torch import nn

from axionlab.errors import InputError
from axionlab.landscape import (
    difference_direction,
    random_directions,
    trajectory_directions,
)


def _conv_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(16, 3))


def test_filter_normalization_matches_each_filter_norm(tiny):
    model = _conv_model()
    snap = tiny.snapshot(model)
    (d,) = random_directions(model, 1, generator=torch.Generator().manual_seed(1))
    for name, w in model.named_parameters():
        if w.dim() <= 1:
            assert torch.count_nonzero(d[name]) == 0, name
        else:
            got = d[name].flatten(1).norm(dim=1)
            torch.testing.assert_close(got, w.detach().flatten(1).norm(dim=1))
    tiny.assert_unchanged(model, snap)


def test_layer_none_and_kept_1d():
    model = _conv_model()
    gen = torch.Generator().manual_seed(1)
    (layer,) = random_directions(model, 1, normalization="layer", ignore_1d=False, generator=gen)
    for name, w in model.named_parameters():
        assert float(layer[name].norm()) == pytest.approx(float(w.detach().norm()), rel=1e-5)
    (raw,) = random_directions(
        model, 1, normalization="none", ignore_1d=False, generator=torch.Generator().manual_seed(1)
    )
    # "none" is the raw draw: rescaling it per tensor gives the "layer" direction.
    for name, w in model.named_parameters():
        torch.testing.assert_close(layer[name], raw[name] * (w.detach().norm() / raw[name].norm()))


def test_same_generator_same_directions_and_different_seeds_differ():
    model = _conv_model()
    a = random_directions(model, 2, generator=torch.Generator().manual_seed(7))
    b = random_directions(model, 2, generator=torch.Generator().manual_seed(7))
    c = random_directions(model, 2, generator=torch.Generator().manual_seed(8))
    assert all(torch.equal(a[i][k], b[i][k]) for i in range(2) for k in a[0])
    assert not torch.equal(a[0]["0.weight"], c[0]["0.weight"])
    assert not torch.equal(a[0]["0.weight"], a[1]["0.weight"])
    assert list(a[0]) == [n for n, _ in model.named_parameters()]


def test_orthogonalize():
    model = _conv_model()
    d1, d2 = random_directions(model, 2, orthogonalize=True)
    inner = sum(float((d1[k] * d2[k]).sum()) for k in d1)
    assert abs(inner) < 1e-5


def test_difference_and_trajectory_pca():
    model = _conv_model()
    center = {n: p.detach().clone() for n, p in model.named_parameters()}
    (u,) = random_directions(model, 1, normalization="none", ignore_1d=False)
    (v,) = random_directions(
        model, 1, normalization="none", ignore_1d=False, generator=torch.Generator().manual_seed(3)
    )
    end = {k: center[k] + u[k] for k in center}
    diff = difference_direction(model, end)
    assert all(torch.allclose(diff[k], u[k], atol=1e-6) for k in u)
    # A trajectory lying in span(u) with a small component along v.
    snaps = [
        {k: center[k] + t * u[k] + 0.01 * (-1) ** i * v[k] for k in center}
        for i, t in enumerate([-2.0, -1.0, 1.0, 2.0])
    ]
    pca = trajectory_directions(model, snaps, n=2)
    first = pca.directions[0]
    cos = sum(float((first[k] * u[k]).sum()) for k in u) / float(
        torch.sqrt(sum((u[k] ** 2).sum() for k in u))
    )
    assert abs(cos) > 0.999
    assert pca.explained_variance_ratio[0] > 0.99
    assert sum(float((first[k] ** 2).sum()) for k in first) == pytest.approx(1.0, rel=1e-5)


def test_errors():
    model = _conv_model()
    with pytest.raises(
        InputError, match="normalization must be one of 'filter', 'layer', 'none'; got 'filters'"
    ):
        random_directions(model, normalization="filters")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="n must be"):
        random_directions(model, 0)
    with pytest.raises(InputError, match="missing"):
        difference_direction(model, {"0.weight": torch.zeros(4, 2, 3, 3)})
    with pytest.raises(InputError, match="snapshots"):
        trajectory_directions(model, [model], n=2)


class Conv1D(nn.Module):
    """Stand-in for transformers' GPT-2 Conv1D: weight stored (in, out), found by class name."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight + self.bias


def test_conv1d_layout_normalises_output_columns():
    torch.manual_seed(0)
    model = nn.Sequential(Conv1D(5, 3), nn.Linear(3, 2))
    (d,) = random_directions(model, 1, generator=torch.Generator().manual_seed(1))
    w = model[0].weight.detach()
    torch.testing.assert_close(d["0.weight"].norm(dim=0), w.norm(dim=0))  # per output unit
    assert not torch.allclose(d["0.weight"].norm(dim=1), w.norm(dim=1))
    torch.testing.assert_close(d["1.weight"].norm(dim=1), model[1].weight.detach().norm(dim=1))
    assert torch.count_nonzero(d["0.bias"]) == 0


def test_seeded_directions_draw_per_name():
    from axionlab.landscape import seeded_directions
    from axionlab.repro import torch_generator

    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    (raw,) = seeded_directions(model, 5, 1, normalization="none")
    gen = torch_generator(5, "direction", "1.weight", 0)
    assert torch.equal(raw["1.weight"], torch.randn(2, 4, generator=gen))
    assert torch.count_nonzero(raw["0.bias"]) == 0
    with pytest.raises(InputError, match="normalization"):
        seeded_directions(model, 5, normalization="filters")  # type: ignore[arg-type]
