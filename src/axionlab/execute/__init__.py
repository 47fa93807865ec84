"""Executors map a function over independent work items; protocols never know which one runs them.

``InProcessExecutor`` (default) runs items in order in this process; ``ProcessPoolExecutor`` fans
them out to worker processes (each limited to ``threads_per_worker`` torch threads, which scales
better than intra-op threads on a busy box); ``RayExecutor`` sends them to a Ray cluster (the
``ray`` extra), local or the one ``address`` points at. All return results in input order.
Functions and items must be picklable (module-level functions, plain data).
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
    """Run items in ``workers`` processes (spawned, so CUDA and torch threads start clean).

    The workers start on the first ``map`` with more than one item and are kept for later calls,
    so repeated work (several loss planes, tiles of many diagrams) pays the start-up (importing
    torch, ~1-3 s per worker) once. ``close()`` or a ``with`` block stops them; otherwise they
    stop when the executor is garbage-collected or the interpreter exits.
    """

    def __init__(self, workers: int | None = None, threads_per_worker: int = 1) -> None:
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        if self.workers < 1:
            raise ConfigError(f"executor.workers must be >= 1, got {self.workers}")
        self.threads_per_worker = threads_per_worker
        self._pool: cf.ProcessPoolExecutor | None = None

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        items = list(items)
        if len(items) <= 1 or self.workers == 1:
            return [fn(item) for item in items]
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=mp.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.threads_per_worker,),
            )
        try:
            return list(self._pool.map(fn, items))
        except cf.process.BrokenProcessPool:
            self.close()  # a worker died (killed, out of memory): start afresh next time
            raise

    def close(self) -> None:
        """Stop the worker processes (a later ``map`` starts new ones)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> ProcessPoolExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)  # absent when __init__ raised
        if pool is not None:
            pool.shutdown(wait=False)


class RayExecutor:
    """Run items as Ray tasks, each given ``cpus_per_task`` CPUs and that many torch threads.

    ``address=None`` starts (or joins) a local Ray instance; ``"auto"`` or ``"ray://host:port"``
    joins an existing cluster. Ray is imported lazily so the base install does not need it.
    """

    def __init__(self, address: str | None = None, cpus_per_task: int = 1) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError(
                "executor 'ray' needs the ray package; install it with pip install 'axionlab[ray]'"
            ) from None
        self._ray = ray
        self.cpus_per_task = cpus_per_task
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        remote: Any = self._ray.remote(num_cpus=self.cpus_per_task)(_call_with_threads)
        refs = [remote.remote(fn, item, self.cpus_per_task) for item in items]
        return list(self._ray.get(refs))


def _call_with_threads(fn: Callable[[T], R], item: T, threads: int) -> R:
    _init_worker(threads)
    return fn(item)


EXECUTORS: Registry[Callable[..., Any]] = Registry("executor")
EXECUTORS.add("inprocess", InProcessExecutor)
EXECUTORS.add("process", ProcessPoolExecutor)
EXECUTORS.add("ray", RayExecutor)


def make_executor(name: str = "inprocess", **options: Any) -> Executor:
    """Build a registered executor by name (``inprocess``, ``process``, ``ray``)."""
    factory = EXECUTORS.get(name)
    result: Executor = factory(**options)
    return result
