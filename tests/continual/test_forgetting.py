"""learn_task and forgetting_curve: properties of one strategy's forgetting curve."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from axionlab.continual import (
    FORGETTING_STREAMS,
    L2,
    PenaltyStabilityError,
    Strategy,
    forgetting_curve,
    learn_task,
)
from axionlab.continual.metrics import DIVERGED
from axionlab.data import Dataset, Task
from axionlab.repro import torch_generator
from axionlab.train import TrainConfig

TASK_A = TrainConfig(optimizer="adam", lr=1e-2, epochs=5, batch_size=16)
TASK_B = TrainConfig(optimizer="sgd", lr=0.05, batch_size=30)
STEPS = [0, 5, 20, 40]


def _dataset(task: Task) -> Dataset:
    return Dataset(
        name=f"blobs{list(task.classes)}",
        x_train=task.train[0],
        y_train=task.train[1],
        x_test=task.test[0],
        y_test=task.test[1],
        num_classes=4,
        input_shape=(6,),
        classes=task.classes,
    )


def _trained(cl: SimpleNamespace) -> tuple[torch.nn.Module, Dataset, Dataset]:
    a, b = _dataset(cl.make_task(0, (0, 1))), _dataset(cl.make_task(1, (2, 3)))
    model = cl.make_model(num_classes=2)
    learnt = learn_task(model, a, TASK_A, generator=torch_generator(0, "train_a"))
    assert not learnt.diverged and learnt.accuracy > 0.5
    assert learnt.summary("task_a_") == {
        "task_a_acc": learnt.accuracy,
        "task_a_loss": learnt.loss,
        "task_a_diverged": False,
        "task_a_diverged_step": None,
    }
    assert set(learnt.arrays()) == {"loss", "accuracy"}
    return model, a, b


def _streams(name: str) -> torch.Generator:
    return torch_generator(0, name, "unit")


def test_retention_starts_at_one_and_the_head_covers_every_class(cl: SimpleNamespace) -> None:
    model, a, b = _trained(cl)
    result = forgetting_curve(model, a, b, Strategy(), TASK_B, eval_steps=STEPS, streams=_streams)
    assert result.curve.acc_a[0] > 0
    assert result.outcome.retention[0] == 1.0  # ret(0) = acc_A(0) / acc_A(0)
    assert list(result.curve.steps) == STEPS
    assert model(a.x_test[:2]).shape == (2, 4)  # class-incremental: A's and B's classes
    summary = result.summary()
    assert not result.diverged and summary["reason"] == "" and math.isfinite(summary["aurc"])
    assert [summary[f"ret@{k}"] for k in STEPS] == list(result.outcome.retention)
    assert summary["stability_action"] == "none"  # naive has no penalty to check
    assert set(result.arrays()) == {"steps", "acc_a", "acc_b", "retention", "loss"}
    assert not result.per_token and not any(k.startswith("dloss@") for k in summary)


def test_same_streams_same_curve(cl: SimpleNamespace) -> None:
    curves = []
    for _ in range(2):
        model, a, b = _trained(cl)
        curves.append(
            forgetting_curve(model, a, b, Strategy(), TASK_B, eval_steps=STEPS, streams=_streams)
        )
    np.testing.assert_array_equal(curves[0].curve.acc_a, curves[1].curve.acc_a)
    assert FORGETTING_STREAMS == ("strategy", "task_b")


def test_an_unstable_step_is_the_diverged_state_with_nan_aurc(cl: SimpleNamespace) -> None:
    unstable = TrainConfig(optimizer="sgd", lr=0.5, batch_size=30)  # lr·λ ≫ 2 for λ = 1e4
    model, a, b = _trained(cl)
    result = forgetting_curve(
        model,
        a,
        b,
        L2(strength=1e4),
        unstable,
        eval_steps=STEPS,
        aurc_max_step=40,
        streams=_streams,
    )
    summary = result.summary()
    assert result.diverged and summary["diverged"] and summary["diverged_step"] is not None
    assert summary["reason"] == DIVERGED and math.isnan(summary["aurc"])
    assert math.isnan(summary["ret@40"])
    assert summary["stability_action"] == "warned" and summary["stability_ratio"] >= 1.0
    model, a, b = _trained(cl)
    with pytest.raises(PenaltyStabilityError, match="unstable under SGD"):
        forgetting_curve(
            model,
            a,
            b,
            L2(strength=1e4),
            unstable,
            eval_steps=STEPS,
            stability="error",
            streams=_streams,
        )
    model, a, b = _trained(cl)
    scaled = forgetting_curve(
        model,
        a,
        b,
        L2(strength=1e4),
        unstable,
        eval_steps=STEPS,
        stability="scale",
        streams=_streams,
    )
    assert not scaled.diverged and math.isfinite(scaled.outcome.aurc)
    assert scaled.summary()["effective_strength"] < 1e4


def test_a_diverged_task_a_is_a_state(cl: SimpleNamespace) -> None:
    a = _dataset(cl.make_task(0, (0, 1)))
    model = cl.make_model(num_classes=2)
    with torch.no_grad():
        next(model.parameters()).fill_(math.inf)
    learnt = learn_task(model, a, TASK_A, generator=torch_generator(0, "train_a"))
    assert learnt.diverged and learnt.summary()["diverged"]
