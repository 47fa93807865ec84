"""The penalty stability check against the SGD/heavy-ball limit, and divergence as a state."""

import math
from types import SimpleNamespace

import pytest
import torch

from axionlab.continual import EWC, L2, MemoryAwareSynapses, Strategy, retention_curve
from axionlab.continual.stability import STABLE_FRACTION, check_penalty_stability, step_limit
from axionlab.errors import ConfigError
from axionlab.train import TrainConfig


def _consolidated(cl: SimpleNamespace, strategy: Strategy) -> tuple[torch.nn.Module, Strategy]:
    model = cl.make_model(2)
    strategy.after_task(model, cl.make_task(0, (0, 1)), cl.context())
    return model, strategy


def test_limits_follow_heavy_ball_theory() -> None:
    assert step_limit(TrainConfig(optimizer="sgd", momentum=0.0)) == 2.0
    assert step_limit(TrainConfig(optimizer="sgd", momentum=0.9)) == pytest.approx(3.8)
    assert step_limit(TrainConfig(optimizer="adam")) is None


def test_curvature_of_each_penalty_form(cl: SimpleNamespace) -> None:
    _, ewc = _consolidated(cl, EWC(strength=10.0, fisher_samples=None))
    assert isinstance(ewc, EWC)
    max_f = max(float(f.max()) for f in ewc.terms[0][0].values())
    assert ewc.max_curvature() == pytest.approx(10.0 * max_f)  # (λ/2)F → λF
    _, full = _consolidated(cl, EWC(strength=10.0, fisher_samples=None, penalty="full"))
    assert isinstance(full, EWC)
    assert full.max_curvature() == pytest.approx(20.0 * max_f)
    _, mas = _consolidated(cl, MemoryAwareSynapses(strength=3.0))
    assert isinstance(mas, MemoryAwareSynapses)
    max_omega = max(float(w.max()) for w in mas.terms[0][0].values())
    assert mas.max_curvature() == pytest.approx(6.0 * max_omega)  # λΩ → 2λΩ
    _, l2 = _consolidated(cl, L2(strength=4.0))
    assert isinstance(l2, L2)
    assert l2.max_curvature() == pytest.approx(4.0)  # (λ/2)‖Δ‖² → λ


def test_warn_error_and_scale(cl: SimpleNamespace) -> None:
    sgd = TrainConfig(optimizer="sgd", lr=0.1, momentum=0.5, weight_decay=0.01)
    _, l2 = _consolidated(cl, L2(strength=100.0))
    warned = check_penalty_stability(l2, sgd, mode="warn")
    assert warned.action == "warned" and not warned.stable
    assert warned.ratio == pytest.approx(0.1 * (100.0 + 0.01) / 3.0)
    with pytest.raises(ConfigError, match="unstable under SGD"):
        check_penalty_stability(l2, sgd, mode="error")
    scaled = check_penalty_stability(l2, sgd, mode="scale")
    assert scaled.action == "scaled" and scaled.strength == 100.0
    assert isinstance(l2, L2) and l2.strength == scaled.effective_strength
    # the scaled strength sits at the stated fraction of the limit
    assert 0.1 * (l2.max_curvature() + 0.01) / 3.0 == pytest.approx(STABLE_FRACTION)
    stable = check_penalty_stability(L2(strength=1.0), sgd)
    assert stable.action == "none"  # nothing consolidated yet: weight decay alone
    assert stable.ratio == pytest.approx(0.1 * 0.01 / 3.0)
    adam = check_penalty_stability(l2, TrainConfig(optimizer="adam", lr=0.1))
    assert adam.limit is None and math.isnan(adam.ratio) and adam.stable
    naive = check_penalty_stability(Strategy(), sgd)
    assert naive.action == "none" and math.isnan(naive.effective_strength)


def test_an_unstable_penalty_diverges_and_scaling_keeps_it_finite(cl: SimpleNamespace) -> None:
    sgd = TrainConfig(optimizer="sgd", lr=0.5, batch_size=30)
    curves = {}
    for mode in ("warn", "scale"):
        model, l2 = _consolidated(cl, L2(strength=1e4))
        check_penalty_stability(l2, sgd, mode=mode)  # type: ignore[arg-type]
        task_a, task_b = cl.make_task(0, (0, 1)), cl.make_task(1, (2, 3))
        curves[mode] = retention_curve(
            model,
            task_a.test,
            task_b.train,
            l2,
            eval_steps=[0, 5, 20, 40],
            train_config=sgd,
            generator=torch.Generator().manual_seed(0),
        )
    warn = curves["warn"]
    assert warn.diverged_step is not None and warn.diverged_step <= 40
    outcome = warn.outcome(max_step=40)
    assert outcome.reason == "diverged" and math.isnan(outcome.aurc)
    assert math.isnan(warn.acc_a[-1])  # a step never reached is nan, not a stale score
    scale = curves["scale"]
    assert scale.diverged_step is None and math.isfinite(scale.aurc(max_step=40))


def test_scale_never_claims_stability_that_weight_decay_prevents(cl: SimpleNamespace) -> None:
    _, l2 = _consolidated(cl, L2(strength=100.0))
    decay_bound = TrainConfig(optimizer="sgd", lr=1.0, weight_decay=1.9)  # lr·wd > 0.9·2
    check = check_penalty_stability(l2, decay_bound, mode="scale")
    assert check.action == "warned" and not check.stable
    assert isinstance(l2, L2) and l2.strength == 100.0  # left as configured
