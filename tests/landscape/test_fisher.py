from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from axionlab.errors import InputError
from axionlab.landscape import fisher_diagonal, fisher_trace


def _one_example_loop(model, x, y, kind):
    """Reference: plain autograd, one example at a time, on an eval-mode copy."""
    ref = copy.deepcopy(model).eval()
    params = dict(ref.named_parameters())
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    for xi, yi in zip(x, y, strict=True):
        logp = F.log_softmax(ref(xi[None]), dim=-1)[0]
        if kind == "empirical":
            labels, weights = [int(yi)], [1.0]
        else:
            labels, weights = range(logp.shape[0]), logp.detach().exp().tolist()
        for c, w in zip(labels, weights, strict=True):
            grads = torch.autograd.grad(logp[c], list(params.values()), retain_graph=True)
            for n, g in zip(params, grads, strict=True):
                total[n] += w * g.square()
    return {n: t / len(x) for n, t in total.items()}


@pytest.mark.parametrize("kind", ["empirical", "exact"])
def test_matches_one_example_loop(kind, tiny):
    model, (x, y) = tiny.make_mlp(), tiny.make_data()
    snap = tiny.snapshot(model)
    got = fisher_diagonal(model, (x, y), kind=kind, batch_size=4)
    ref = _one_example_loop(model, x, y, kind)
    assert got.keys() == ref.keys()
    for n in ref:
        torch.testing.assert_close(got[n], ref[n], rtol=1e-5, atol=1e-7)
    tiny.assert_unchanged(model, snap)


@pytest.mark.parametrize("kind", ["empirical", "exact", "sampled"])
def test_independent_of_batch_size_and_source(kind, tiny):
    model, (x, y) = tiny.make_mlp(), tiny.make_data()
    loader = [(x[i : i + 5], y[i : i + 5]) for i in range(0, len(x), 5)]
    results = [
        fisher_diagonal(
            model, d, kind=kind, batch_size=b, generator=torch.Generator().manual_seed(3)
        )
        for d, b in [((x, y), 1), ((x, y), 7), ((x, y), 100), (loader, 3)]
    ]
    for other in results[1:]:
        for n in results[0]:
            torch.testing.assert_close(other[n], results[0][n], rtol=1e-5, atol=1e-7)


def test_mean_gradient_squared_is_much_smaller(tiny):
    """The module warning: squared mini-batch-mean gradients underestimate the Fisher."""
    model, (x, y) = tiny.make_mlp(classes=10, hidden=16), tiny.make_data(n=64, classes=10)
    per_example = fisher_trace(fisher_diagonal(model, (x, y)))
    ref = copy.deepcopy(model).eval()
    loss = F.cross_entropy(ref(x), y)
    mean_grad_sq = sum(float(g.square().sum()) for g in torch.autograd.grad(loss, ref.parameters()))
    assert per_example > 5 * mean_grad_sq


def test_sampled_is_reproducible_and_estimates_exact(tiny):
    model, (x, y) = tiny.make_mlp(), tiny.make_data(n=200)
    xs = x.repeat(20, 1)  # many draws per input
    a, b = (
        fisher_diagonal(
            model,
            (xs, y.repeat(20)),
            kind="sampled",
            batch_size=512,
            generator=torch.Generator().manual_seed(5),
        )
        for _ in range(2)
    )
    exact = fisher_trace(fisher_diagonal(model, (x, y), kind="exact"))
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert fisher_trace(a) == pytest.approx(exact, rel=0.1)


def test_max_examples_frozen_parameters_and_trace(tiny):
    model, (x, y) = tiny.make_mlp(), tiny.make_data()
    model[0].weight.requires_grad_(False)
    fisher = fisher_diagonal(model, (x, y), max_examples=10, batch_size=3)
    assert "0.weight" not in fisher and "0.bias" in fisher
    ref = fisher_diagonal(model, (x[:10], y[:10]))
    for n in ref:
        torch.testing.assert_close(fisher[n], ref[n])
    assert fisher_trace(fisher) == pytest.approx(sum(float(t.sum()) for t in fisher.values()))
    assert not model[0].weight.requires_grad


def test_errors(tiny):
    model, (x, y) = tiny.make_mlp(), tiny.make_data()
    with pytest.raises(InputError, match="kind must be"):
        fisher_diagonal(model, (x, y), kind="emprical")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="batch_size"):
        fisher_diagonal(model, (x, y), batch_size=0)
    with pytest.raises(InputError, match="empty"):
        fisher_diagonal(model, [])
    with pytest.raises(InputError, match="fisher is empty"):
        fisher_trace({})
