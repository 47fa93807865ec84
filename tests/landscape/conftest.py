"""Tiny self-made models and data shared by the landscape tests."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call


def make_mlp(seed: int = 0, d_in: int = 5, hidden: int = 8, classes: int = 3) -> nn.Module:
    """An MLP with BatchNorm and Dropout (to test eval semantics), left in train mode."""
    gen = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(d_in, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(hidden, classes),
    )
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
        bn = model[1]
        bn.running_mean.copy_(torch.randn(hidden, generator=gen) * 0.1)
        bn.running_var.copy_(torch.rand(hidden, generator=gen) + 0.5)
    model.train()
    return model


def make_data(n: int = 23, d_in: int = 5, classes: int = 3, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, d_in, generator=gen), torch.randint(0, classes, (n,), generator=gen)


def snapshot(model: nn.Module):
    """Everything a probe must leave unchanged."""
    return (
        copy.deepcopy(model.state_dict()),
        [m.training for m in model.modules()],
        [p.requires_grad for p in model.parameters()],
    )


def assert_unchanged(model: nn.Module, snap) -> None:
    state, training, requires = snap
    now = model.state_dict()
    assert state.keys() == now.keys()
    for k in state:
        assert torch.equal(state[k], now[k]), k
    assert [m.training for m in model.modules()] == training
    assert [p.requires_grad for p in model.parameters()] == requires
    assert all(p.grad is None for p in model.parameters())


def dense_hessian(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The exact eval-mode Hessian of the mean cross-entropy over all parameters (dense)."""
    ref = copy.deepcopy(model).eval()
    named = {n: p.detach() for n, p in ref.named_parameters()}
    flat = torch.cat([p.reshape(-1) for p in named.values()])

    def loss(v: torch.Tensor) -> torch.Tensor:
        params, offset = {}, 0
        for n, p in named.items():
            params[n] = v[offset : offset + p.numel()].reshape(p.shape)
            offset += p.numel()
        return F.cross_entropy(functional_call(ref, params, (x,)), y)

    return torch.autograd.functional.hessian(loss, flat)


@pytest.fixture
def tiny() -> SimpleNamespace:
    """The helpers above (importlib mode cannot import conftest from a test module)."""
    return SimpleNamespace(
        make_mlp=make_mlp,
        make_data=make_data,
        snapshot=snapshot,
        assert_unchanged=assert_unchanged,
        dense_hessian=dense_hessian,
    )
