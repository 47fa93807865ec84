"""Shared helpers of the continual-learning tests: a tiny model, a tiny two-task stream."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import torch

from axionlab.continual import TaskContext
from axionlab.data import Task
from axionlab.models import build_model
from axionlab.repro import torch_generator


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    # tiny models on a shared 2-core box: intra-op threads only add contention
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_model(num_classes: int = 2, seed: int = 0) -> torch.nn.Module:
    return build_model(
        "mlp", (6,), num_classes, generator=torch_generator(seed, "init"), width=12, depth=1
    )


def make_task(index: int, classes: tuple[int, ...], n: int = 60, seed: int = 0) -> Task:
    """Gaussian blobs in 6-D, one per class, centres fixed by the class label."""
    gen = torch.Generator().manual_seed(seed * 100 + index)
    centres = torch.Generator().manual_seed(123)
    means = 2.0 * torch.randn(10, 6, generator=centres)
    splits = []
    for size in (n, n // 2):
        y = torch.tensor(classes)[torch.randint(0, len(classes), (size,), generator=gen)]
        splits.append((means[y] + torch.randn(size, 6, generator=gen), y))
    return Task(index=index, classes=classes, train=splits[0], test=splits[1])


def context(scenario: str = "class_il", groups=None, seed: int = 0) -> TaskContext:  # type: ignore[no-untyped-def]
    return TaskContext(
        scenario=scenario,
        class_groups=groups,  # type: ignore[arg-type]
        generator=torch.Generator().manual_seed(seed),
    )


@pytest.fixture
def cl() -> SimpleNamespace:
    """The helpers above (importlib mode cannot import conftest from a test module)."""
    return SimpleNamespace(make_model=make_model, make_task=make_task, context=context)
