"""ewc_kfac: the Kronecker-factored EWC penalty against its dense definition, and in a stream."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from axionlab.continual import EWCKFAC, STRATEGIES, Strategy, build_strategy, run_stream
from axionlab.continual.stability import STABLE_FRACTION, check_penalty_stability
from axionlab.data import Task
from axionlab.errors import InputError, UnknownNameError
from axionlab.landscape.operators import kfac_factors
from axionlab.models import expand_head
from axionlab.protocols.exp01.config import Exp01Strategy
from axionlab.protocols.sections import StrategySpec
from axionlab.train import TrainConfig

ADAM = TrainConfig(optimizer="adam", lr=1e-2, epochs=5, batch_size=16)


def dense_kfac(model: torch.nn.Module, data: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Block-diagonal ``kron(G, A)`` per weight (row-major vec) and ``G`` per bias, by hand."""
    kfac = kfac_factors(model, F.cross_entropy, data, fisher="empirical")
    blocks = {}
    for f in kfac.factors:
        blocks[f.weight] = torch.kron(f.gradient_covariance, f.input_covariance)
        blocks[f.bias] = f.gradient_covariance
    assert kfac.uncovered == ()
    return torch.block_diag(*(blocks[n] for n, _ in model.named_parameters()))


def flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def shift(model: torch.nn.Module, seed: int) -> torch.Tensor:
    """Move every parameter by a fixed random step; return the flat step."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
    return flat(model)


def penalty_and_gradient(strategy: EWCKFAC, model: torch.nn.Module) -> tuple[float, torch.Tensor]:
    value = strategy.penalty(model)
    assert value is not None
    grads = torch.autograd.grad(value, list(model.parameters()))
    return float(value.detach()), torch.cat([g.reshape(-1) for g in grads])


def test_registered_and_accepted_by_the_protocol_configs() -> None:
    assert STRATEGIES.get("ewc_kfac") is EWCKFAC
    built = build_strategy("ewc_kfac", strength=5.0, fisher="exact")
    assert isinstance(built, EWCKFAC) and built.strength == 5.0
    assert StrategySpec(name="ewc_kfac", options={"strength": 5.0}).name == "ewc_kfac"
    assert Exp01Strategy(name="ewc_kfac").display == "ewc_kfac"
    with pytest.raises(UnknownNameError, match="Did you mean 'ewc_kfac'"):
        build_strategy("ewc_kfak")
    with pytest.raises(InputError, match="fisher must be one of"):
        EWCKFAC(fisher="type-2")  # type: ignore[arg-type]


def test_penalty_and_gradient_equal_the_dense_kronecker_quadratic_form(
    cl: SimpleNamespace,
) -> None:
    model, task = cl.make_model(2), cl.make_task(0, (0, 1))
    strategy = EWCKFAC(strength=7.0, fisher="empirical", fisher_samples=None)
    assert strategy.penalty(model) is None
    strategy.after_task(model, task, cl.context())
    value, gradient = penalty_and_gradient(strategy, model)
    assert value == 0.0 and torch.count_nonzero(gradient) == 0  # zero at θ*
    matrix = dense_kfac(model, task.train)
    anchor = flat(model)
    delta = shift(model, 1) - anchor
    value, gradient = penalty_and_gradient(strategy, model)
    assert value == pytest.approx(0.5 * 7.0 * float(delta @ matrix @ delta), rel=1e-5)
    torch.testing.assert_close(gradient, 7.0 * matrix @ delta, rtol=1e-4, atol=1e-6)


def test_online_accumulation_sums_every_task_at_the_latest_anchor(cl: SimpleNamespace) -> None:
    model = cl.make_model(2)
    first, second = cl.make_task(0, (0, 1)), cl.make_task(1, (0, 1))
    strategy = EWCKFAC(strength=3.0, fisher_samples=None)
    strategy.after_task(model, first, cl.context())
    m_first = dense_kfac(model, first.train)
    shift(model, 2)  # "training" on the second task
    strategy.after_task(model, second, cl.context())
    m_second = dense_kfac(model, second.train)
    assert len(strategy.factors) == 4  # two layers, two tasks
    anchor = flat(model)
    delta = shift(model, 3) - anchor
    value, gradient = penalty_and_gradient(strategy, model)
    total = m_first + m_second
    assert value == pytest.approx(0.5 * 3.0 * float(delta @ total @ delta), rel=1e-5)
    torch.testing.assert_close(gradient, 3.0 * total @ delta, rtol=1e-4, atol=1e-6)


def test_new_head_rows_are_free_and_task_il_names_are_the_models(cl: SimpleNamespace) -> None:
    model, task = cl.make_model(2), cl.make_task(0, (0, 1))
    strategy = EWCKFAC(strength=2.0)
    strategy.after_task(model, task, cl.context())
    shift(model, 4)
    before = penalty_and_gradient(strategy, model)[0]
    expand_head(model, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.head.weight[2:] += 5.0
        model.head.bias[2:] -= 5.0
    assert penalty_and_gradient(strategy, model)[0] == pytest.approx(before)
    task_il = EWCKFAC(strength=2.0)
    task_il.after_task(model, task, cl.context("task_il", ((0, 1), (2, 3))))
    assert {f.weight for f in task_il.factors} == {"body.1.weight", "head.weight"}
    g_head = task_il.factors[-1].gradient_covariance  # (4, 4): other tasks' units untouched
    assert torch.count_nonzero(g_head[2:]) == 0 and torch.count_nonzero(g_head[:2, :2]) == 4


def test_max_curvature_is_exact_after_one_task_and_drives_the_stability_check(
    cl: SimpleNamespace,
) -> None:
    model, task = cl.make_model(2), cl.make_task(0, (0, 1))
    strategy = EWCKFAC(strength=50.0, fisher_samples=None)
    assert strategy.max_curvature() == 0.0
    strategy.after_task(model, task, cl.context())
    top = float(torch.linalg.eigvalsh(dense_kfac(model, task.train).double())[-1])
    assert strategy.max_curvature() == pytest.approx(50.0 * top, rel=1e-5)
    sgd = TrainConfig(optimizer="sgd", lr=0.05, steps=5, batch_size=16)
    check = check_penalty_stability(strategy, sgd, mode="scale")
    assert check.ratio > 1.0 and check.action == "scaled"
    assert strategy.max_curvature() * sgd.lr / check.limit == pytest.approx(STABLE_FRACTION)  # type: ignore[operator]


def test_two_task_run_forgets_less_than_naive_and_is_deterministic(cl: SimpleNamespace) -> None:
    stream = [cl.make_task(0, (0, 1)), cl.make_task(1, (2, 3))]

    def run(strategy: Strategy, seed: int) -> np.ndarray:
        result = run_stream(
            lambda n: cl.make_model(n, seed=seed),
            stream,
            strategy,
            ADAM,
            scenario="domain_il",
            generator=torch.Generator().manual_seed(seed),
        )
        return result.accuracy

    naive = [run(Strategy(), seed)[1, 0] for seed in range(3)]
    kfac = [run(EWCKFAC(strength=30.0), seed) for seed in range(3)]
    retained = [r[1, 0] for r in kfac]
    assert all(k >= n for k, n in zip(retained, naive, strict=True))
    assert np.mean(retained) > np.mean(naive)  # task A accuracy after task B
    assert np.array_equal(kfac[0], run(EWCKFAC(strength=30.0), 0))


def test_per_token_targets_are_refused(cl: SimpleNamespace) -> None:
    lm = torch.nn.Sequential(torch.nn.Embedding(5, 4), torch.nn.Linear(4, 5))
    tokens = torch.randint(0, 5, (6, 3), generator=torch.Generator().manual_seed(0))
    task = Task(index=0, classes=tuple(range(5)), train=(tokens, tokens), test=(tokens, tokens))
    with pytest.raises(InputError, match="kind='kfac' needs a classifier"):
        EWCKFAC().after_task(lm, task, cl.context())
