"""Class subsets, two-task splits and continual-learning task streams.

Scenarios follow van de Ven & Tolias, "Three scenarios for continual learning" (2019) and Hsu et
al., "Re-evaluating continual learning scenarios" (2018):

- ``task_il``: the task identity is known at test time; labels keep their values and
  :attr:`Task.classes` says which outputs belong to the task.
- ``class_il``: one growing output space; every task brings new label values.
- ``domain_il``: the output space is shared by all tasks; only the input distribution changes.

Variants build the tasks:

- ``split``: consecutive groups of the sorted classes (Split-MNIST style). Under ``domain_il`` the
  labels are remapped to the index within the task group.
- ``permuted``: all classes in every task, inputs shuffled by a fixed seeded permutation of the
  input positions (Goodfellow et al. 2013; Kirkpatrick et al. 2017). Task 0 is unpermuted.
- ``rotated``: all classes, images rotated by ``t · 180° / n_tasks`` for task ``t`` (Lopez-Paz &
  Ranzato 2017), bilinear sampling with border padding so no artificial background value appears.

For ``permuted`` and ``rotated`` under ``class_il`` task ``t`` shifts labels by
``t · num_classes`` (van de Ven & Tolias 2019), so a model needs ``n_tasks · num_classes`` outputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from axionlab.checks import check_choice, check_count
from axionlab.data.core import Dataset, check_memory
from axionlab.errors import InputError
from axionlab.repro import torch_generator

Scenario = Literal["class_il", "task_il", "domain_il"]
Variant = Literal["split", "permuted", "rotated"]
SCENARIOS: tuple[Scenario, ...] = get_args(Scenario)
VARIANTS: tuple[Variant, ...] = get_args(Variant)


@dataclass(frozen=True)
class Task:
    """One task of a continual-learning stream.

    Attributes
    ----------
    index
        Position in the stream, from 0.
    classes
        Label values the task's targets can take (what a task-IL head should keep).
    train, test
        ``(inputs, labels)`` pairs.
    source_classes
        Labels of the underlying dataset the task was drawn from (differs from ``classes`` after
        domain-IL remapping or class-IL offsets).
    """

    index: int
    classes: tuple[int, ...]
    train: tuple[Tensor, Tensor]
    test: tuple[Tensor, Tensor]
    source_classes: tuple[int, ...] = ()


def _check_classes(ds: Dataset, classes: Sequence[int], what: str) -> tuple[int, ...]:
    chosen = tuple(sorted({int(c) for c in classes}))
    missing = sorted(set(chosen) - set(ds.classes))
    if missing:
        raise InputError(
            f"{what}: classes {missing} are not in dataset '{ds.name}' (it has {list(ds.classes)})"
        )
    if not chosen:
        raise InputError(f"{what}: give at least one class")
    return chosen


def class_subset(ds: Dataset, classes: Sequence[int]) -> Dataset:
    """The examples of ``ds`` whose label is in ``classes``, labels and ``num_classes`` unchanged.

    Raises
    ------
    InputError
        A class is not present in ``ds`` or ``classes`` is empty.
    """
    chosen = _check_classes(ds, classes, "class_subset")
    keep = torch.tensor(chosen)
    tr, te = torch.isin(ds.y_train, keep), torch.isin(ds.y_test, keep)
    return replace(
        ds,
        name=f"{ds.name}[{','.join(map(str, chosen))}]",
        x_train=ds.x_train[tr],
        y_train=ds.y_train[tr],
        x_test=ds.x_test[te],
        y_test=ds.y_test[te],
        classes=chosen,
    )


def random_subset(
    x: Tensor, y: Tensor, count: int | None, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """``count`` examples of ``(x, y)`` drawn without replacement; all of them when ``count`` is
    None or not below their number (then in their original order, without drawing)."""
    if count is None or count >= x.shape[0]:
        return x, y
    index = torch.randperm(x.shape[0], generator=generator)[:count]
    return x[index], y[index]


def split_classes(ds: Dataset, first: int | Sequence[int]) -> tuple[Dataset, Dataset]:
    """Split ``ds`` into task A (``first``) and task B (the remaining classes).

    Parameters
    ----------
    first
        Either a count ``k`` (task A = the ``k`` smallest labels) or an explicit list of classes.

    Raises
    ------
    InputError
        ``k`` leaves one side empty, or a listed class is not in ``ds``.
    """
    if isinstance(first, int):
        if not 0 < first < len(ds.classes):
            raise InputError(
                f"split_classes: first must be in 1..{len(ds.classes) - 1} for "
                f"dataset '{ds.name}' with {len(ds.classes)} classes, got {first}"
            )
        a = ds.classes[:first]
    else:
        a = _check_classes(ds, first, "split_classes")
    b = tuple(c for c in ds.classes if c not in a)
    if not b:
        raise InputError(f"split_classes: first lists every class of '{ds.name}'; leave some for B")
    return class_subset(ds, a), class_subset(ds, b)


def _rotate(x: Tensor, degrees: float) -> Tensor:
    if degrees == 0.0:
        return x
    theta = math.radians(degrees)
    cos, sin = math.cos(theta), math.sin(theta)
    matrix = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=x.dtype)
    grid = F.affine_grid(matrix.expand(len(x), 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def make_stream(
    ds: Dataset,
    scenario: Scenario,
    n_tasks: int,
    *,
    variant: Variant = "split",
    seed: int = 0,
) -> list[Task]:
    """Cut ``ds`` into a stream of ``n_tasks`` tasks for continual learning.

    Parameters
    ----------
    ds
        Source dataset.
    scenario
        ``"class_il"``, ``"task_il"`` or ``"domain_il"`` (see the module docstring).
    n_tasks
        Number of tasks; for ``split`` at most the number of classes (groups differ in size by at
        most one when it does not divide).
    variant
        ``"split"``, ``"permuted"`` or ``"rotated"``.
    seed
        Seed of the permutation stream (``permuted`` only; the other variants are fixed).

    Returns
    -------
    list[Task]

    Raises
    ------
    InputError
        Unknown scenario/variant, bad ``n_tasks``, or ``rotated`` on non-image inputs.
    """
    check_choice("scenario", scenario, SCENARIOS)
    check_choice("variant", variant, VARIANTS)
    n_tasks = check_count("n_tasks", n_tasks, minimum=1)
    if variant == "split":
        return _split_stream(ds, scenario, n_tasks)
    # every permuted or rotated task holds its own copy of the inputs
    per_copy = (ds.x_train.numel() + ds.x_test.numel()) * ds.x_train.element_size()
    check_memory("n_tasks", n_tasks * per_copy)
    if variant == "rotated" and len(ds.input_shape) != 3:
        raise InputError(
            f"variant 'rotated' needs image inputs (C, H, W); dataset '{ds.name}' "
            f"has input_shape {ds.input_shape}"
        )
    tasks = []
    gen = torch_generator(seed, "stream", "permuted")
    size = math.prod(ds.input_shape)
    for t in range(n_tasks):
        if variant == "permuted":
            perm = torch.arange(size) if t == 0 else torch.randperm(size, generator=gen)
            xs = [x.flatten(1)[:, perm].reshape(x.shape) for x in (ds.x_train, ds.x_test)]
        else:
            xs = [_rotate(x, t * 180.0 / n_tasks) for x in (ds.x_train, ds.x_test)]
        offset = t * ds.num_classes if scenario == "class_il" else 0
        tasks.append(
            Task(
                index=t,
                classes=tuple(c + offset for c in ds.classes),
                train=(xs[0], ds.y_train + offset),
                test=(xs[1], ds.y_test + offset),
                source_classes=ds.classes,
            )
        )
    return tasks


def _split_stream(ds: Dataset, scenario: Scenario, n_tasks: int) -> list[Task]:
    if n_tasks > len(ds.classes):
        raise InputError(
            f"n_tasks={n_tasks} exceeds the {len(ds.classes)} classes of "
            f"'{ds.name}' for variant 'split'"
        )
    groups = torch.tensor(ds.classes).tensor_split(n_tasks)
    tasks = []
    for t, group in enumerate(groups):
        sub = class_subset(ds, group.tolist())
        y_train, y_test = sub.y_train, sub.y_test
        classes = sub.classes
        if scenario == "domain_il":
            y_train, y_test = (torch.searchsorted(group, y) for y in (y_train, y_test))
            classes = tuple(range(len(group)))
        tasks.append(
            Task(
                index=t,
                classes=classes,
                train=(sub.x_train, y_train),
                test=(sub.x_test, y_test),
                source_classes=sub.classes,
            )
        )
    return tasks
