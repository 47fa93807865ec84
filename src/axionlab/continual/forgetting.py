"""The forgetting curve of one strategy: task A learnt, task B trained, task A scored on the way.

:func:`learn_task` trains a fresh model on task A and scores it; a diverged training (a
non-finite loss or weight) is a state the caller checks (``diverged``), not a score.
:func:`forgetting_curve` is EXP-01's task-B protocol for one strategy on one trained model: the
strategy consolidates task A (its ``after_task`` hook), its penalty's step stability is checked
under task B's optimizer (:func:`~axionlab.continual.stability.check_penalty_stability`), then
task B is trained by :func:`~axionlab.continual.retention_curve` (the head grows to every class:
class-incremental) and task A is scored at the evaluation steps. Retention ret(k) =
acc_A(k)/acc_A(0) and the AURC are a state, not a number, when undefined: a diverged training or
an ``acc_A(0) = 0`` gives ``nan`` with the reason.

Language tasks (:func:`axionlab.data.text.next_token_dataset`: token ids and per-token targets,
a model returning ``(B, T, V)`` such as :class:`~axionlab.landscape.hf.HFLogits`) run through the
same functions: accuracies are task A's next-token accuracy, so ``ret@k = acc_A(k)/acc_A(0)``,
losses are nats per token, and task A's loss increase ``Δloss(k) = loss_A(k) − loss_A(0)`` is
:attr:`ForgettingCurve.delta_loss` (with :meth:`ForgettingCurve.loss_arrays`; it is recorded for
classification too, and kept out of :meth:`~ForgettingCurve.arrays` and
:meth:`~ForgettingCurve.summary`, whose keys the protocols write).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from axionlab.continual.metrics import DIVERGED, RetentionOutcome
from axionlab.continual.stability import StabilityCheck, StabilityMode, check_penalty_stability
from axionlab.continual.strategies import Strategy, TaskContext
from axionlab.continual.stream import RetentionResult, retention_curve
from axionlab.data import Dataset, Task
from axionlab.errors import ConfigError, UserError
from axionlab.execute.distributed import DistributedSpec, Ranks, launch, shard_model
from axionlab.train import Augment, TrainConfig, TrainResult, all_finite, evaluate, train

FORGETTING_STREAMS = ("strategy", "task_b")
"""The stream names :func:`forgetting_curve` asks for: the strategy's own draws while it
consolidates task A, and task B's data order, strategy draws and new head rows."""


class PenaltyStabilityError(ConfigError):
    """The stability check of a strategy's penalty refused it (``stability="error"``, or a
    setting the check cannot evaluate); the caller adds which unit and config key."""


@dataclass(frozen=True, eq=False)
class LearntTask:
    """What :func:`learn_task` returns.

    Attributes
    ----------
    history
        The training history (per-step loss and accuracy, where it diverged).
    accuracy, loss
        Test accuracy and mean cross-entropy (nats; per token on language tasks) after
        training (``nan`` when diverged).
    diverged
        Training stopped at a non-finite loss, or left a non-finite weight.
    """

    history: TrainResult
    accuracy: float
    loss: float
    diverged: bool

    def arrays(self) -> dict[str, np.ndarray]:
        """The per-step training ``loss`` and ``accuracy``."""
        return {"loss": self.history.loss, "accuracy": self.history.accuracy}

    def summary(self, prefix: str = "") -> dict[str, Any]:
        """``<prefix>acc``, ``<prefix>loss``, ``<prefix>diverged`` and ``<prefix>diverged_step``."""
        return {
            f"{prefix}acc": self.accuracy,
            f"{prefix}loss": self.loss,
            f"{prefix}diverged": self.diverged,
            f"{prefix}diverged_step": self.history.diverged_step,
        }


def learn_task(
    model: nn.Module,
    task: Dataset,
    config: TrainConfig,
    *,
    generator: torch.Generator,
    augment: Augment | None = None,
) -> LearntTask:
    """Train ``model`` in place on ``task``'s training split, then score its test split.

    Parameters
    ----------
    model
        A fresh model with a head over the task's classes.
    task
        The task (e.g. task A of :func:`~axionlab.data.split_classes`).
    config, generator, augment
        As :func:`axionlab.train.train` (``generator``: the data order and augmentation draws).
    """
    history = train(
        model,
        (task.x_train, task.y_train),
        config,
        generator=generator,
        augment=augment,
        progress=False,
    )
    loss, accuracy = evaluate(model, (task.x_test, task.y_test), batch_size=1024)
    diverged = history.diverged or not all_finite(model.parameters())
    return LearntTask(history, accuracy, loss, diverged)


@dataclass(frozen=True, eq=False)
class ForgettingCurve:
    """What :func:`forgetting_curve` returns.

    Attributes
    ----------
    curve
        Task-A and task-B accuracies at the evaluated steps and task B's training history.
    outcome
        Retention curve and AURC up to the ``aurc_max_step`` given, ``nan`` with a reason when
        undefined.
    stability
        The penalty stability check made before task B.
    per_token
        A language task (per-token targets): its task-A loss increase is an outcome too, so
        :meth:`summary` adds ``dloss@<step>`` and :meth:`arrays` ``loss_a`` and ``delta_loss``.
    """

    curve: RetentionResult
    outcome: RetentionOutcome
    stability: StabilityCheck
    per_token: bool = False

    @property
    def diverged(self) -> bool:
        """Task B diverged: a stopped step, or non-finite scores without one (e.g. non-finite
        BatchNorm buffers)."""
        return self.curve.diverged_step is not None or self.outcome.reason == DIVERGED

    def arrays(self) -> dict[str, np.ndarray]:
        """``steps``, ``acc_a``, ``acc_b``, ``retention`` and task B's per-step ``loss``; on a
        language task also ``loss_a`` and ``delta_loss`` at the steps."""
        arrays = {
            "steps": self.curve.steps,
            "acc_a": self.curve.acc_a,
            "acc_b": self.curve.acc_b,
            "retention": self.outcome.retention,
            "loss": self.curve.history.loss,
        }
        if self.per_token:
            arrays |= {"loss_a": self.curve.loss_a, "delta_loss": self.curve.delta_loss}
        return arrays

    @property
    def delta_loss(self) -> np.ndarray:
        """Task A's loss increase ``Δloss(k) = loss_A(k) − loss_A(0)`` (nats) at the steps."""
        return self.curve.delta_loss

    def loss_arrays(self) -> dict[str, np.ndarray]:
        """``steps``, ``loss_a``, ``loss_b`` and ``delta_loss`` (task A's loss increase)."""
        return {
            "steps": self.curve.steps,
            "loss_a": self.curve.loss_a,
            "loss_b": self.curve.loss_b,
            "delta_loss": self.curve.delta_loss,
        }

    def summary(self) -> dict[str, Any]:
        """AURC, reason, divergence, first and last accuracies, the stability check,
        ``ret@<step>`` for every evaluated step and, on a language task, ``dloss@<step>``
        (JSON-ready scalars)."""
        curve, stability = self.curve, self.stability
        summary: dict[str, Any] = {
            "aurc": self.outcome.aurc,
            "reason": self.outcome.reason,
            "diverged": self.diverged,
            "diverged_step": curve.diverged_step,
            "acc_a0": float(curve.acc_a[0]),
            "acc_b_final": float(curve.acc_b[-1]),
            "strength": stability.strength,
            "effective_strength": stability.effective_strength,
            "stability_ratio": stability.ratio,
            "stability_action": stability.action,
        }
        for step, ret in zip(curve.steps, self.outcome.retention, strict=True):
            summary[f"ret@{int(step)}"] = float(ret)
        if self.per_token:
            for step, rise in zip(curve.steps, self.delta_loss, strict=True):
                summary[f"dloss@{int(step)}"] = float(rise)
        return summary


def forgetting_curve(
    model: nn.Module,
    task_a: Dataset,
    task_b: Dataset,
    strategy: Strategy,
    train_config: TrainConfig,
    *,
    eval_steps: Sequence[int],
    aurc_max_step: int = 500,
    stability: StabilityMode = "warn",
    streams: Callable[[str], torch.Generator],
    distributed: DistributedSpec | None = None,
) -> ForgettingCurve:
    """Consolidate task A into ``strategy``, check its stability, train task B, score task A.

    Parameters
    ----------
    model
        Trained on task A (its head over task A's classes); trained on task B in place.
    task_a, task_b
        The two tasks (task A's test split is scored, task B's train split trained on and its
        test split scored).
    strategy
        A fresh strategy that needs no view of task A's training (not SI); it learns task A
        here through its ``after_task`` hook.
    train_config, eval_steps
        As :func:`~axionlab.continual.retention_curve` (training runs ``max(eval_steps)``
        steps).
    aurc_max_step
        Last step entering the AURC.
    stability
        ``"warn"``, ``"error"`` or ``"scale"`` (:func:`check_penalty_stability`).
    streams
        ``streams(name)`` for each name in :data:`FORGETTING_STREAMS`.
    distributed
        Run it as a collective job: every rank shards a copy of ``model`` with FSDP2 and trains
        it with the sharded form of ``strategy`` (:mod:`axionlab.continual.sharded`: naive, EWC
        or L2); ``model`` is left untouched. The same curve to rounding, except that dropout
        draws from a global stream seeded on every rank from the ``task_b`` stream (so the same
        at every world size, but not the unsharded run's draws).

    Raises
    ------
    PenaltyStabilityError
        When the stability check refuses the penalty (``stability="error"`` and an unstable
        step); no other error of this function is one.
    """
    if distributed is not None:
        drawn = {name: streams(name) for name in FORGETTING_STREAMS}
        job = _ForgettingJob(
            model,
            task_a,
            task_b,
            strategy,
            train_config,
            tuple(eval_steps),
            aurc_max_step,
            stability,
            drawn,
        )
        result: ForgettingCurve | PenaltyStabilityError = launch(_forgetting_job, job, distributed)
        if isinstance(result, PenaltyStabilityError):
            raise result
        return result
    learnt = Task(
        index=0,
        classes=tuple(task_a.classes),
        train=(task_a.x_train, task_a.y_train),
        test=(task_a.x_test, task_a.y_test),
    )
    context = TaskContext(scenario="class_il", class_groups=None, generator=streams("strategy"))
    strategy.after_task(model, learnt, context)
    try:
        check = check_penalty_stability(strategy, train_config, mode=stability)
    except UserError as err:
        raise PenaltyStabilityError(str(err)) from None
    # every strategy sees the same task-B data order and new head rows
    curve = retention_curve(
        model,
        (task_a.x_test, task_a.y_test),
        (task_b.x_train, task_b.y_train),
        strategy,
        eval_steps=eval_steps,
        train_config=train_config,
        generator=streams("task_b"),
        task_b_eval=(task_b.x_test, task_b.y_test),
        progress=False,
    )
    per_token = task_a.y_test.dim() == 2
    return ForgettingCurve(curve, curve.outcome(max_step=aurc_max_step), check, per_token)


@dataclass(frozen=True, eq=False)
class _ForgettingJob:
    model: nn.Module
    task_a: Dataset
    task_b: Dataset
    strategy: Strategy
    train_config: TrainConfig
    eval_steps: tuple[int, ...]
    aurc_max_step: int
    stability: StabilityMode
    streams: dict[str, torch.Generator]


def _forgetting_job(ranks: Ranks, job: _ForgettingJob) -> ForgettingCurve | PenaltyStabilityError:
    """One rank of a distributed :func:`forgetting_curve`; a refused penalty is returned (every
    rank refuses it alike: the bound is reduced over them) for the caller to raise."""
    from axionlab.continual.sharded import sharded_copy

    # dropout draws from the global stream: the same on every rank and at every world size
    torch.manual_seed(job.streams["task_b"].initial_seed())
    try:
        return forgetting_curve(
            shard_model(job.model, ranks),
            job.task_a,
            job.task_b,
            sharded_copy(job.strategy, ranks),
            job.train_config,
            eval_steps=job.eval_steps,
            aurc_max_step=job.aurc_max_step,
            stability=job.stability,
            streams=job.streams.__getitem__,
        )
    except PenaltyStabilityError as err:
        return err
