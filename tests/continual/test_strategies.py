import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from axionlab.continual import (
    EWC,
    L2,
    STRATEGIES,
    Joint,
    LearningWithoutForgetting,
    MemoryAwareSynapses,
    OnlineEWC,
    Replay,
    Strategy,
    SynapticIntelligence,
    build_strategy,
    train_task,
)
from axionlab.errors import InputError, UnknownNameError
from axionlab.landscape.fisher import fisher_diagonal
from axionlab.models import expand_head
from axionlab.train import TrainConfig, train

SGD = TrainConfig(optimizer="sgd", lr=0.05, steps=8, batch_size=16)


def _learn(model, task, strategy, scenario="class_il", groups=None, seed=0):  # type: ignore[no-untyped-def]
    return train_task(
        model,
        task,
        strategy,
        SGD,
        scenario=scenario,
        class_groups=groups,
        generator=torch.Generator().manual_seed(seed),
    )


def _shift(model: torch.nn.Module, amount: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(amount)


def test_registry_names_and_errors(cl: SimpleNamespace) -> None:
    assert STRATEGIES.names() == [
        "ewc",
        "ewc_kfac",
        "joint",
        "l2",
        "lwf",
        "mas",
        "naive",
        "online_ewc",
        "replay",
        "si",
    ]
    assert type(build_strategy("naive")) is Strategy
    with pytest.raises(UnknownNameError, match="Did you mean 'ewc'"):
        build_strategy("ewk")
    with pytest.raises(InputError, match="bad options for strategy 'si'"):
        build_strategy("si", lam=3.0)
    with pytest.raises(InputError, match="fisher must be"):
        EWC(fisher="diagonal")  # type: ignore[arg-type]


def test_ewc_penalty_matches_definition_and_sums_over_tasks(cl: SimpleNamespace) -> None:
    model = cl.make_model(2)
    t0, t1 = cl.make_task(0, (0, 1)), cl.make_task(1, (2, 3))
    ewc = EWC(strength=10.0, fisher="exact", fisher_samples=None)
    assert ewc.penalty(model) is None
    _learn(model, t0, ewc)
    fisher0 = fisher_diagonal(model, t0.train, kind="exact")
    for name, f in fisher0.items():
        torch.testing.assert_close(ewc.terms[0][0][name], f)
    anchor0 = copy.deepcopy(model)
    _shift(model, 0.01)
    expected = 0.5 * 10.0 * sum(float((f * 0.01**2).sum()) for f in fisher0.values())
    assert float(ewc.penalty(model).detach()) == pytest.approx(expected, rel=1e-4)  # type: ignore[union-attr]

    _learn(model, t1, ewc)  # head grows to 4 outputs; old term covers only its 2 rows
    assert len(ewc.terms) == 2
    fisher1 = fisher_diagonal(model, t1.train, kind="exact")
    old = dict(anchor0.named_parameters())
    total = 0.0
    with torch.no_grad():
        for name, p in model.named_parameters():
            lead = p[tuple(slice(0, s) for s in old[name].shape)]
            total += float((fisher0[name] * (lead - old[name]).square()).sum())
            total += float((fisher1[name] * (p - ewc.terms[1][1][name]).square()).sum())
    assert float(ewc.penalty(model).detach()) == pytest.approx(0.5 * 10.0 * total, rel=1e-4)  # type: ignore[union-attr]


def test_new_head_rows_are_free_under_every_quadratic_penalty(cl: SimpleNamespace) -> None:
    model = cl.make_model(2)
    ewc = EWC(strength=5.0)
    _learn(model, cl.make_task(0, (0, 1)), ewc)
    expand_head(model, 4, generator=torch.Generator().manual_seed(0))
    _shift(model, 0.1)
    ewc.penalty(model).backward()  # type: ignore[union-attr]
    grad = model.head.weight.grad
    assert (
        grad is not None and float(grad[2:].abs().sum()) == 0.0 and float(grad[:2].abs().sum()) > 0
    )


def test_online_ewc_keeps_one_decayed_term(cl: SimpleNamespace) -> None:
    model = cl.make_model(2)
    t0, t1 = cl.make_task(0, (0, 1)), cl.make_task(1, (2, 3))
    online = OnlineEWC(strength=1.0, gamma=0.5, fisher="empirical", fisher_samples=None)
    _learn(model, t0, online)
    first = {n: f.clone() for n, f in online.terms[0][0].items()}
    _learn(model, t1, online)
    assert len(online.terms) == 1
    fisher1 = fisher_diagonal(model, t1.train, kind="empirical")
    w = online.terms[0][0]["head.weight"]
    torch.testing.assert_close(w[:2], 0.5 * first["head.weight"] + fisher1["head.weight"][:2])
    torch.testing.assert_close(w[2:], fisher1["head.weight"][2:])
    anchor = online.terms[0][1]
    assert all(torch.equal(anchor[n], p.detach()) for n, p in model.named_parameters())


def test_si_path_integral_is_lr_times_summed_squared_gradients_for_sgd(cl: SimpleNamespace) -> None:
    model = cl.make_model(2)
    task = cl.make_task(0, (0, 1))
    si = SynapticIntelligence(strength=1.0, damping=0.1)
    si.before_task(model, task, cl.context())
    squares = {n: torch.zeros_like(p) for n, p in model.named_parameters()}

    def record(step: int, info: dict[str, float]) -> None:
        for n, p in model.named_parameters():
            squares[n] += p.grad.square()  # type: ignore[union-attr]
        si.on_step(model, step)

    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    train(model, task.train, SGD, generator=torch.Generator().manual_seed(0), on_step=record)
    for n in squares:  # -g·Δθ = lr·g² for plain SGD
        torch.testing.assert_close(si.omega[n], SGD.lr * squares[n], rtol=1e-3, atol=1e-7)
    si.after_task(model, task, cl.context())
    importance, anchor = si.terms[0]
    assert all(float(w.sum()) > 0 for w in importance.values())
    for n, p in model.named_parameters():
        expected = si.omega[n] / ((p.detach() - start[n]).square() + 0.1)
        torch.testing.assert_close(importance[n], expected)
        assert anchor[n].data_ptr() != p.data_ptr()  # a copy, not a view of the live weights


def test_si_changes_what_is_learnt_next(cl: SimpleNamespace) -> None:
    t0, t1 = cl.make_task(0, (0, 1)), cl.make_task(1, (2, 3))
    drift = {}
    for strength in (0.0, 20.0):
        model = cl.make_model(2)
        si = SynapticIntelligence(strength=strength)
        _learn(model, t0, si)
        before = copy.deepcopy(model.body.state_dict())
        _learn(model, t1, si, seed=1)
        drift[strength] = sum(
            float((model.body.state_dict()[k] - v).square().sum()) for k, v in before.items()
        )
    assert drift[20.0] < 0.9 * drift[0.0]  # the importance is non-zero and pulls to the anchor
    with pytest.raises(InputError, match="si can only consolidate"):
        SynapticIntelligence().after_task(cl.make_model(2), t0, cl.context())


def test_mas_importance_matches_a_one_example_loop(cl: SimpleNamespace) -> None:
    model = cl.make_model(2)
    task = cl.make_task(0, (0, 1), n=12)
    mas = MemoryAwareSynapses(strength=2.0, samples=None, batch_size=5)
    mas.after_task(model, task, cl.context())
    reference = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for x in task.train[0]:
        model.zero_grad()
        model(x.unsqueeze(0)).square().sum().backward()
        for n, p in model.named_parameters():
            reference[n] += p.grad.abs() / 12  # type: ignore[union-attr]
    for n, w in mas.terms[0][0].items():
        torch.testing.assert_close(w, reference[n], rtol=1e-4, atol=1e-7)
    _shift(model, 0.02)
    expected = 2.0 * sum(float((w * 0.02**2).sum()) for w in reference.values())
    assert float(mas.penalty(model).detach()) == pytest.approx(expected, rel=1e-3)  # type: ignore[union-attr]


def test_l2_penalty_is_half_squared_distance(cl: SimpleNamespace) -> None:
    model = cl.make_model(2)
    l2 = L2(strength=3.0)
    l2.after_task(model, cl.make_task(0, (0, 1)), cl.context())
    _shift(model, 0.1)
    count = sum(p.numel() for p in model.parameters())
    assert float(l2.penalty(model).detach()) == pytest.approx(1.5 * count * 0.01, rel=1e-4)  # type: ignore[union-attr]


def test_task_il_importance_uses_the_task_head_only(cl: SimpleNamespace) -> None:
    model = cl.make_model(4)
    groups = ((0, 1), (2, 3))
    ewc = EWC(fisher="exact", fisher_samples=None)
    _learn(model, cl.make_task(0, (0, 1)), ewc, scenario="task_il", groups=groups)
    fisher = ewc.terms[0][0]
    assert set(fisher) == {n for n, _ in model.named_parameters()}
    assert float(fisher["head.weight"][2:].abs().sum()) == 0.0
    assert float(fisher["head.weight"][:2].abs().sum()) > 0.0


def test_lwf_distillation_is_teacher_entropy_at_the_teacher(cl: SimpleNamespace) -> None:
    model = cl.make_model(2)
    t0, t1 = cl.make_task(0, (0, 1)), cl.make_task(1, (2, 3))
    lwf = LearningWithoutForgetting(alpha=1.0, temperature=2.0)
    _learn(model, t0, lwf)
    expand_head(model, 4, generator=torch.Generator().manual_seed(0))
    lwf.before_task(model, t1, cl.context())
    x = t1.train[0]
    logits = model(x).detach().requires_grad_(True)
    loss = lwf.batch_penalty(x, logits)
    p = F.softmax(logits[:, :2].detach() / 2.0, dim=1)
    entropy = -(p * p.log()).sum(1).mean()
    assert float(loss.detach()) == pytest.approx(float(entropy), rel=1e-5)  # type: ignore[union-attr]
    loss.backward()  # type: ignore[union-attr]
    assert float(logits.grad.abs().max()) < 1e-6  # type: ignore[union-attr]
    # task-IL: one softmax per old task head
    lwf_t = LearningWithoutForgetting()
    lwf_t._old_groups = [(0, 1), (2, 3)]
    lwf_t.before_task(model, t1, cl.context("task_il", ((0, 1), (2, 3))))
    assert [g.tolist() for g in lwf_t._groups] == [[0, 1], [2, 3]]


def test_replay_and_joint_training_data(cl: SimpleNamespace) -> None:
    t0, t1 = cl.make_task(0, (0, 1), n=40), cl.make_task(1, (2, 3), n=40)
    replay, joint = Replay(memory=25), Joint()
    model = cl.make_model(2)
    for strategy in (replay, joint):
        assert strategy.train_data(t0)[0].shape[0] == 40
        strategy.after_task(model, t0, cl.context())
    x, y = replay.train_data(t1)
    assert x.shape[0] == 65 and set(y[40:].tolist()) <= {0, 1}
    balanced = Replay(memory=10, balance=True)
    balanced.after_task(model, t0, cl.context())
    x, y = balanced.train_data(t1)
    assert x.shape[0] == 40 + 4 * 10  # the buffer repeated to about the task's size
    x, y = joint.train_data(t1)
    assert x.shape[0] == 80 and torch.equal(y[:40], t0.train[1])


def test_ewc_fisher_estimates_and_penalty_forms_match_hand_values(cl: SimpleNamespace) -> None:
    from torch.func import functional_call

    model = cl.make_model(2)
    task = cl.make_task(0, (0, 1), n=10)
    x, y = task.train
    params = {n: p.detach() for n, p in model.named_parameters()}

    def grads(xb: torch.Tensor, yb: torch.Tensor) -> dict[str, torch.Tensor]:
        p = {n: t.clone().requires_grad_(True) for n, t in params.items()}
        loss = F.cross_entropy(functional_call(model, p, (xb,)), yb)
        return dict(zip(p, torch.autograd.grad(loss, list(p.values())), strict=True))

    # per example: mean over examples of squared one-example gradients (a plain loop)
    loop = [grads(x[i : i + 1], y[i : i + 1]) for i in range(10)]
    per_example = {n: torch.stack([g[n].square() for g in loop]).mean(0) for n in params}
    # batch mean (Avalanche): mean over batches of 4, 4, 2 of squared mean-loss gradients
    chunks = [grads(x[s : s + 4], y[s : s + 4]) for s in (0, 4, 8)]
    batch_mean = {n: torch.stack([g[n].square() for g in chunks]).mean(0) for n in params}

    for estimate, expected in (("per_example", per_example), ("batch_mean", batch_mean)):
        for penalty, factor in (("half", 0.5), ("full", 1.0)):
            ewc = EWC(
                strength=3.0,
                fisher_samples=None,
                fisher_estimate=estimate,  # type: ignore[arg-type]
                fisher_batch_size=4,
                penalty=penalty,  # type: ignore[arg-type]
            )
            ewc.after_task(model, task, cl.context())
            for n, f in expected.items():
                torch.testing.assert_close(ewc.terms[0][0][n], f, rtol=1e-4, atol=1e-7)
            _shift(model, 0.01)
            hand = factor * 3.0 * sum(float((f * 0.01**2).sum()) for f in expected.values())
            assert float(ewc.penalty(model).detach()) == pytest.approx(hand, rel=1e-4)  # type: ignore[union-attr]
            _shift(model, -0.01)
    ratio = sum(float(f.sum()) for f in per_example.values()) / sum(
        float(f.sum()) for f in batch_mean.values()
    )
    assert ratio > 1.0  # cross terms of the mean-loss gradient average out
    online = OnlineEWC(strength=1.0, fisher_estimate="batch_mean", penalty="full")
    assert online.factor == 1.0 and online.fisher_estimate == "batch_mean"
    with pytest.raises(InputError, match="needs fisher='empirical' or 'sampled'"):
        EWC(fisher="exact", fisher_estimate="batch_mean")
    with pytest.raises(InputError, match="penalty must be"):
        EWC(penalty="quarter")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="finite number"):
        EWC(strength=float("nan"))
