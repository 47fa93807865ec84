"""Running strategies over task streams: one task, a stream, one experiment, a retention curve.

Heads by scenario (labels as :func:`axionlab.data.splits.make_stream` gives them):

- ``class_il``: one shared head that grows (:func:`axionlab.models.expand_head`) to the classes seen
  so far, as in the lab's EXP-01; tasks not yet seen cannot be scored (``nan`` in the matrix).
- ``task_il``: one head over all classes with masked logits, each example scored only among its
  task's classes (equivalent to one head per task).
- ``domain_il``: one shared head of the size of a task's label set.

Language tasks (per-token targets ``(N, T)``, :func:`axionlab.data.text.next_token_pairs`; the
model returns ``(B, T, V)``, e.g. :class:`~axionlab.landscape.hf.HFLogits`): the output layer is
the vocabulary and never grows, accuracies are next-token accuracies and losses nats per token
(:func:`axionlab.train.evaluate`); ``class_il`` and ``domain_il`` run them, ``task_il`` does not
apply. :class:`RetentionResult` records task A's loss beside its accuracy (``loss_a``,
``delta_loss``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from axionlab.checks import check_choice
from axionlab.continual.metrics import (
    RetentionOutcome,
    average_accuracy,
    backward_transfer,
    forgetting,
    forward_transfer,
    retention_outcome,
)
from axionlab.continual.strategies import Data, Strategy, TaskContext, build_strategy
from axionlab.data.core import Dataset
from axionlab.data.splits import SCENARIOS, Scenario, Task, Variant, make_stream
from axionlab.errors import InputError
from axionlab.models import build_model, expand_head, get_head
from axionlab.repro import torch_generator
from axionlab.train import TrainConfig, TrainResult, evaluate, train


def _child(generator: torch.Generator) -> torch.Generator:
    """An independent generator seeded from the next draw of ``generator``."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return torch.Generator().manual_seed(seed)


def _per_token(data: Data) -> bool:
    """Whether ``data`` holds per-position targets ``(N, T)`` (a language task)."""
    return data[1].dim() == 2


def _grow_head(model: nn.Module, classes: Sequence[int], generator: torch.Generator) -> None:
    """Grow the head so that every label in ``classes`` has an output unit."""
    needed = max(classes) + 1
    if get_head(model).out_features < needed:
        expand_head(model, needed, generator=generator)


def train_task(
    model: nn.Module,
    task: Task,
    strategy: Strategy,
    config: TrainConfig,
    *,
    scenario: Scenario,
    generator: torch.Generator,
    class_groups: Sequence[Sequence[int]] | None = None,
    progress: bool | None = None,
) -> TrainResult:
    """Learn one task through ``strategy``'s hooks: grow head, before, train, after.

    Parameters
    ----------
    model
        Trained in place. Under ``class_il`` it needs a growable head (``build_model`` models).
    task
        The task to learn.
    strategy
        Its state is updated (consolidation happens in ``after_task``).
    config
        Training hyper-parameters.
    scenario
        Decides the head handling (module docstring).
    generator
        Source of all randomness (data order, strategy draws, new head rows).
    class_groups
        ``task_il`` only: the label groups of all tasks (default: this task's classes alone).
    progress
        Progress bar switch passed to :func:`axionlab.train.train`.

    Returns
    -------
    TrainResult
        The history of the training on this task.
    """
    check_choice("scenario", scenario, SCENARIOS)
    train_gen, strategy_gen, head_gen = _child(generator), _child(generator), _child(generator)
    groups: tuple[tuple[int, ...], ...] | None = None
    if scenario == "task_il":
        groups = tuple(tuple(g) for g in (class_groups or [task.classes]))
    if scenario == "class_il" and not _per_token(task.train):  # a vocabulary does not grow
        _grow_head(model, task.classes, head_gen)
    context = TaskContext(scenario=scenario, class_groups=groups, generator=strategy_gen)
    strategy.before_task(model, task, context)
    result = train(
        model,
        strategy.train_data(task),
        config,
        generator=train_gen,
        class_groups=groups,
        penalty=strategy.penalty,
        batch_penalty=strategy.batch_penalty,
        on_step=lambda step, info: strategy.on_step(model, step),
        progress=progress,
    )
    strategy.after_task(model, task, context)
    return result


@dataclass(frozen=True, eq=False)
class StreamResult:
    """Outcome of :func:`run_stream`.

    Attributes
    ----------
    scenario, strategy
        What was run.
    accuracy
        ``R[i, j]``, shape ``(T, T)``: test accuracy on task ``j`` after training task ``i``
        (``nan`` for class-IL tasks not yet seen).
    initial_accuracy
        Test accuracy of the untrained model on each task (the forward-transfer baseline).
    histories
        The :class:`~axionlab.train.TrainResult` of each task trained; the stream stops after a
        task whose training diverged, and its row and every later row of ``accuracy`` stay
        ``nan``, so every metric of a diverged stream is ``nan``.
    """

    scenario: str
    strategy: str
    accuracy: np.ndarray
    initial_accuracy: np.ndarray
    histories: tuple[TrainResult, ...]

    @property
    def diverged_task(self) -> int | None:
        """Index of the task whose training diverged, or ``None``."""
        for i, history in enumerate(self.histories):
            if history.diverged:
                return i
        return None

    @property
    def diverged_step(self) -> int | None:
        """First non-finite optimizer step within :attr:`diverged_task`, or ``None``."""
        task = self.diverged_task
        return None if task is None else self.histories[task].diverged_step

    @property
    def avg_acc(self) -> float:
        """Average accuracy after the last task."""
        return average_accuracy(self.accuracy)

    @property
    def bwt(self) -> float:
        """Backward transfer (Lopez-Paz & Ranzato 2017)."""
        return backward_transfer(self.accuracy)

    @property
    def fwt(self) -> float:
        """Forward transfer against the untrained model (``nan`` under class-IL)."""
        return forward_transfer(self.accuracy, self.initial_accuracy)

    @property
    def forgetting(self) -> float:
        """Average forgetting (Chaudhry et al. 2018)."""
        return forgetting(self.accuracy)


def _accuracy_row(
    model: nn.Module, stream: Sequence[Task], scenario: str, batch_size: int
) -> np.ndarray:
    grows = scenario == "class_il" and not any(_per_token(task.test) for task in stream)
    outputs = get_head(model).out_features if grows else None
    row = np.full(len(stream), np.nan)
    for j, task in enumerate(stream):
        if outputs is not None and max(task.classes) >= outputs:
            continue
        mask = task.classes if scenario == "task_il" else None
        row[j] = evaluate(model, task.test, batch_size=batch_size, mask_classes=mask)[1]
    return row


def run_stream(
    model_factory: Callable[[int], nn.Module],
    stream: Sequence[Task],
    strategy: Strategy,
    train_config: TrainConfig,
    *,
    scenario: Scenario,
    generator: torch.Generator,
    eval_batch_size: int = 1024,
    progress: bool | None = None,
) -> StreamResult:
    """Train one model through a stream of tasks with ``strategy`` and score every task after each.

    Parameters
    ----------
    model_factory
        ``model_factory(num_outputs)`` builds the initial model (seed its init yourself). It gets
        the first task's label range under ``class_il`` (the head then grows) and the whole
        stream's otherwise.
    stream
        Tasks in order, labels as :func:`axionlab.data.splits.make_stream` gives them.
    strategy
        A fresh instance (it must not have seen any task).
    train_config
        Training hyper-parameters of every task.
    scenario
        ``"class_il"``, ``"task_il"`` or ``"domain_il"``.
    generator
        Source of the data order, the strategy's draws and new head rows.
    eval_batch_size
        Batch size of the test passes (memory only).
    progress
        Progress bar switch for each task's training.

    Returns
    -------
    StreamResult

    Raises
    ------
    InputError
        Empty stream, unknown scenario, or a strategy that already holds tasks.
    """
    check_choice("scenario", scenario, SCENARIOS)
    if not stream:
        raise InputError("stream is empty; pass at least one task")
    if strategy.tasks_seen:
        raise InputError(
            f"strategy '{strategy.name}' already holds {strategy.tasks_seen} tasks; "
            "build a fresh one per stream"
        )
    if scenario == "class_il":
        model = model_factory(max(stream[0].classes) + 1)
    else:
        model = model_factory(max(max(t.classes) for t in stream) + 1)
    groups = [t.classes for t in stream] if scenario == "task_il" else None
    initial = _accuracy_row(model, stream, scenario, eval_batch_size)
    matrix = np.full((len(stream), len(stream)), np.nan)
    histories = []
    for i, task in enumerate(stream):
        history = train_task(
            model,
            task,
            strategy,
            train_config,
            scenario=scenario,
            generator=generator,
            class_groups=groups,
            progress=progress,
        )
        histories.append(history)
        if history.diverged:
            break
        matrix[i] = _accuracy_row(model, stream, scenario, eval_batch_size)
    return StreamResult(
        scenario=scenario,
        strategy=strategy.name,
        accuracy=matrix,
        initial_accuracy=initial,
        histories=tuple(histories),
    )


@dataclass(frozen=True, eq=False)
class ContinualResult:
    """One scenario × strategy × seed of a continual-learning benchmark (:func:`run_continual`)."""

    dataset: str
    scenario: str
    strategy: str
    seed: int
    avg_acc: float
    bwt: float
    forgetting: float
    accuracy: np.ndarray
    diverged_task: int | None = None
    diverged_step: int | None = None

    def as_row(self) -> dict[str, Any]:
        """Flat record for a results table (the matrix as nested lists)."""
        row = dataclasses.asdict(self)
        row["accuracy"] = self.accuracy.tolist()
        return row


def run_continual(
    dataset: Dataset,
    *,
    scenario: Scenario,
    strategy: str,
    n_tasks: int,
    train_config: TrainConfig,
    seed: int,
    model: str = "mlp",
    model_options: Mapping[str, Any] | None = None,
    strategy_options: Mapping[str, Any] | None = None,
    variant: Variant = "split",
    progress: bool | None = None,
) -> ContinualResult:
    """Build stream, model and strategy from names and run one seed: the unit of a CL benchmark.

    Independent named streams of ``seed``: ``"init"`` (weights), ``"train"`` (data order, strategy
    draws, new head rows) and ``"stream"`` (the task permutations of ``variant="permuted"``).

    Parameters
    ----------
    dataset
        The source dataset (e.g. ``load_dataset("digits")``).
    scenario
        ``"class_il"``, ``"task_il"`` or ``"domain_il"``.
    strategy
        A name in :data:`~axionlab.continual.STRATEGIES`, built with ``strategy_options``.
    n_tasks
        Tasks in the stream.
    train_config
        Training hyper-parameters of every task.
    seed
        The run's seed.
    model, model_options
        A name in :data:`axionlab.models.MODELS` and its options.
    variant
        ``"split"``, ``"permuted"`` or ``"rotated"`` (:func:`~axionlab.data.splits.make_stream`).
    progress
        Progress bar switch for each task's training (``None``: only on a terminal).

    Returns
    -------
    ContinualResult
    """
    stream = make_stream(dataset, scenario, n_tasks, variant=variant, seed=seed)
    init = torch_generator(seed, "init")

    def factory(num_outputs: int) -> nn.Module:
        return build_model(
            model, dataset.input_shape, num_outputs, generator=init, **dict(model_options or {})
        )

    result = run_stream(
        factory,
        stream,
        build_strategy(strategy, **dict(strategy_options or {})),
        train_config,
        scenario=scenario,
        generator=torch_generator(seed, "train"),
        progress=progress,
    )
    return ContinualResult(
        dataset=dataset.name,
        scenario=scenario,
        strategy=strategy,
        seed=seed,
        avg_acc=result.avg_acc,
        bwt=result.bwt,
        forgetting=result.forgetting,
        accuracy=result.accuracy,
        diverged_task=result.diverged_task,
        diverged_step=result.diverged_step,
    )


@dataclass(frozen=True, eq=False)
class RetentionResult:
    """Task-A (and task-B) test accuracy while training on task B (:func:`retention_curve`).

    Attributes
    ----------
    steps
        Optimizer steps on task B at which both tasks were to be scored; starts at 0.
    acc_a, acc_b
        Accuracies at ``steps`` (next-token accuracies on language tasks); ``nan`` at the steps
        after a divergence (never reached) and wherever the model was non-finite.
    history
        The training history on task B (its ``diverged_step`` says where training stopped).
    loss_a, loss_b
        Mean cross-entropies (nats per example, or per token on language tasks) at ``steps``,
        ``nan`` where the accuracies are; empty when not recorded.
    """

    steps: np.ndarray
    acc_a: np.ndarray
    acc_b: np.ndarray
    history: TrainResult
    loss_a: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    loss_b: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))

    @property
    def delta_loss(self) -> np.ndarray:
        """Task A's loss increase ``Δloss(k) = loss_A(k) − loss_A(0)`` at ``steps`` (nats).

        ``nan`` where a loss is not finite (diverged, never reached); empty when no loss was
        recorded.
        """
        if len(self.loss_a) == 0:
            return np.zeros(0)
        out: np.ndarray = self.loss_a - self.loss_a[0]
        return out

    @property
    def diverged_step(self) -> int | None:
        """First non-finite optimizer step on task B, or ``None``."""
        return self.history.diverged_step

    def outcome(
        self, *, max_step: int = 500, rule: Literal["mean", "trapezoid"] = "mean"
    ) -> RetentionOutcome:
        """Retention curve and AURC, ``nan`` with a reason when undefined (diverged, acc_A(0)=0)."""
        return retention_outcome(
            self.steps,
            self.acc_a,
            max_step=max_step,
            rule=rule,
            diverged=self.diverged_step is not None,
        )

    @property
    def retention(self) -> np.ndarray:
        """``ret(k) = acc_A(k) / acc_A(0)``; all ``nan`` when undefined (see :meth:`outcome`)."""
        return self.outcome().retention

    def aurc(self, *, max_step: int = 500, rule: Literal["mean", "trapezoid"] = "mean") -> float:
        """Area under the retention curve (:func:`axionlab.continual.metrics.aurc`) or ``nan``."""
        return self.outcome(max_step=max_step, rule=rule).aurc


def retention_curve(
    model: nn.Module,
    task_a_eval: Data,
    task_b_train: Data,
    strategy: Strategy,
    *,
    eval_steps: Sequence[int],
    train_config: TrainConfig,
    generator: torch.Generator,
    task_b_eval: Data | None = None,
    eval_batch_size: int = 1024,
    progress: bool | None = None,
) -> RetentionResult:
    """Train on task B for ``max(eval_steps)`` steps, scoring tasks A and B at ``eval_steps``.

    Class-incremental: the head grows to B's labels if needed (before step 0 is scored, so
    ``acc_A(0)`` already competes with B's untrained outputs) and scores are over all outputs.
    Language tasks (per-token targets) keep their vocabulary; task A's and B's losses are
    recorded beside the accuracies (``loss_a``, ``loss_b``, ``delta_loss``).
    ``strategy`` must already have learnt task A (:func:`train_task`, or its ``after_task`` hook
    for the strategies that only consolidate at the end: EWC, MAS, L2, LwF, replay, joint); the
    naive strategy needs nothing. Its ``before_task`` hook runs before B; ``after_task`` does not.

    Parameters
    ----------
    model
        Trained on task A; trained on B in place.
    task_a_eval
        Task-A test data ``(x, y)``.
    task_b_train
        Task-B training data.
    strategy
        The strategy regularising the training on B.
    eval_steps
        Non-negative optimizer steps; step 0 (before any update) is always scored.
    train_config
        Hyper-parameters on B; its length is replaced by ``max(eval_steps)`` steps.
    generator
        Source of the data order, strategy draws and new head rows.
    task_b_eval
        Task-B data to score (default: ``task_b_train``).
    eval_batch_size
        Batch size of the scoring passes.
    progress
        Progress bar switch.

    Returns
    -------
    RetentionResult

    Raises
    ------
    InputError
        Empty or negative ``eval_steps``, or a strategy that has not learnt task A.
    """
    steps = sorted({0, *(int(s) for s in eval_steps)})
    if steps[0] < 0 or steps[-1] == 0:
        raise InputError(
            f"eval_steps must be non-negative with a positive maximum, got {list(eval_steps)}"
        )
    if strategy.tasks_seen == 0 and type(strategy) is not Strategy:
        raise InputError(
            f"strategy '{strategy.name}' has not learnt task A; train A with "
            "train_task(...) or call its after_task hook first"
        )
    per_token = _per_token(task_b_train)
    labels = tuple(int(c) for c in torch.unique(task_b_train[1]) if not per_token or c >= 0)
    head_gen, strategy_gen, train_gen = _child(generator), _child(generator), _child(generator)
    if not per_token:  # a vocabulary does not grow
        _grow_head(model, labels, head_gen)
    task_b = Task(
        index=strategy.tasks_seen,
        classes=labels,
        train=task_b_train,
        test=task_b_eval if task_b_eval is not None else task_b_train,
    )
    context = TaskContext(scenario="class_il", class_groups=None, generator=strategy_gen)
    strategy.before_task(model, task_b, context)

    wanted = set(steps)
    scores: list[tuple[float, float, float, float]] = []

    def score() -> None:
        loss_a, acc_a = evaluate(model, task_a_eval, batch_size=eval_batch_size)
        loss_b, acc_b = evaluate(model, task_b.test, batch_size=eval_batch_size)
        scores.append((acc_a, acc_b, loss_a, loss_b))

    def on_step(step: int, info: dict[str, float]) -> None:
        strategy.on_step(model, step)
        if step in wanted:
            score()

    score()
    config = dataclasses.replace(train_config, epochs=None, steps=steps[-1])
    # A diverged run stops early: the steps it never reached are scored nan, not skipped.
    history = train(
        model,
        strategy.train_data(task_b),
        config,
        generator=train_gen,
        penalty=strategy.penalty,
        batch_penalty=strategy.batch_penalty,
        on_step=on_step,
        progress=progress,
    )
    table = np.full((len(steps), 4), np.nan)
    table[: len(scores)] = scores
    return RetentionResult(
        steps=np.array(steps),
        acc_a=table[:, 0],
        acc_b=table[:, 1],
        history=history,
        loss_a=table[:, 2],
        loss_b=table[:, 3],
    )
