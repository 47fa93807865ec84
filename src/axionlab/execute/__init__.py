"""Executors map a function over independent work items; protocols never know which one runs them.

``InProcessExecutor`` (default) runs items in order in this process; ``ProcessPoolExecutor`` fans
them out to worker processes (each limited to ``threads_per_worker`` torch threads, which scales
better than intra-op threads on a busy box). Both return results in input order. Functions and
items must be picklable for the pool (module-level functions, plain data).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

from axionlab.errors import ConfigError
from axionlab.registry import Registry

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """Anything that maps a function over items and returns the results in order."""

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]: ...


class InProcessExecutor:
    """Run every item sequentially in the calling process."""

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        return [fn(item) for item in items]


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


class ProcessPoolExecutor:
    """Run items in ``workers`` processes (spawned, so CUDA and torch threads start clean)."""

    def __init__(self, workers: int | None = None, threads_per_worker: int = 1) -> None:
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        if self.workers < 1:
            raise ConfigError(f"executor.workers must be >= 1, got {self.workers}")
        self.threads_per_worker = threads_per_worker

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        items = list(items)
        if len(items) <= 1 or self.workers == 1:
            return [fn(item) for item in items]
        ctx = mp.get_context("spawn")
        with cf.ProcessPoolExecutor(
            max_workers=min(self.workers, len(items)), mp_context=ctx,
            initializer=_init_worker, initargs=(self.threads_per_worker,),
        ) as pool:
            return list(pool.map(fn, items))


EXECUTORS: Registry[Callable[..., Any]] = Registry("executor")
EXECUTORS.add("inprocess", InProcessExecutor)
EXECUTORS.add("process", ProcessPoolExecutor)


def make_executor(name: str = "inprocess", **options: Any) -> Executor:
    """Build a registered executor by name (``inprocess``, ``process``)."""
    factory = EXECUTORS.get(name)
    result: Executor = factory(**options)
    return result
