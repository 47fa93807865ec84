from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from axionlab.errors import InputError
from axionlab.landscape import sharpness


def _loss_at(model, x, y, shift):
    work = copy.deepcopy(model).eval()
    with torch.no_grad():
        for n, p in work.named_parameters():
            p.add_(shift[n])
        return F.cross_entropy(work(x), y).item()


def _grad(model, x, y):
    work = copy.deepcopy(model).eval()
    loss = F.cross_entropy(work(x), y)
    names = [n for n, _ in work.named_parameters()]
    return dict(zip(names, torch.autograd.grad(loss, list(work.parameters())), strict=True))


def test_sam_and_asam_match_reference_step(tiny):
    model, (x, y) = tiny.make_mlp(), tiny.make_data()
    snap = tiny.snapshot(model)
    g = _grad(model, x, y)
    rho = 0.05
    norm = torch.sqrt(sum((v**2).sum() for v in g.values()))
    sam_eps = {k: rho * v / norm for k, v in g.items()}
    result = sharpness(model, F.cross_entropy, (x, y), rho=rho)
    assert result.perturbed_loss == pytest.approx(_loss_at(model, x, y, sam_eps), abs=1e-5)
    assert result.value == pytest.approx(result.perturbed_loss - result.center_loss)
    assert result.value > 0
    scale = {n: p.detach().abs() + 0.01 for n, p in model.named_parameters()}
    tnorm = torch.sqrt(sum(((scale[k] * v) ** 2).sum() for k, v in g.items()))
    asam_eps = {k: rho * scale[k] ** 2 * v / tnorm for k, v in g.items()}
    adaptive = sharpness(model, F.cross_entropy, (x, y), rho=rho, adaptive=True)
    assert adaptive.perturbed_loss == pytest.approx(_loss_at(model, x, y, asam_eps), abs=1e-5)
    tiny.assert_unchanged(model, snap)


def test_adaptive_is_invariant_to_relu_rescaling(tiny):
    model, (x, y) = tiny.make_mlp(hidden=6), tiny.make_data()
    model = torch.nn.Sequential(model[0], model[2], model[4])  # Linear-ReLU-Linear
    rescaled = copy.deepcopy(model)
    with torch.no_grad():
        rescaled[0].weight.mul_(4.0)
        rescaled[0].bias.mul_(4.0)
        rescaled[2].weight.div_(4.0)
    a = sharpness(model, F.cross_entropy, (x, y), adaptive=True, eta=0.0)
    b = sharpness(rescaled, F.cross_entropy, (x, y), adaptive=True, eta=0.0)
    assert a.center_loss == pytest.approx(b.center_loss, rel=1e-5)
    assert a.value == pytest.approx(b.value, rel=1e-3)
    plain_a = sharpness(model, F.cross_entropy, (x, y))
    plain_b = sharpness(rescaled, F.cross_entropy, (x, y))
    assert abs(plain_a.value - plain_b.value) > 1e-3 * abs(plain_a.value)


def test_more_ascent_steps_stay_in_ball_and_do_not_lower(tiny):
    model, (x, y) = tiny.make_mlp(), tiny.make_data()
    one = sharpness(model, F.cross_entropy, (x, y), rho=0.1)
    many = sharpness(model, F.cross_entropy, (x, y), rho=0.1, ascent_steps=5)
    assert many.value >= one.value - 1e-6


def test_errors(tiny):
    model, (x, y) = tiny.make_mlp(), tiny.make_data()
    with pytest.raises(InputError, match="rho > 0"):
        sharpness(model, F.cross_entropy, (x, y), rho=0.0)
