"""Executors map a function over independent work items; protocols never know which one runs them.

``InProcessExecutor`` (default) runs items in order in this process; ``ProcessPoolExecutor`` fans
them out to worker processes (each limited to ``threads_per_worker`` torch threads, which scales
better than intra-op threads on a busy box); ``RayExecutor`` sends them to a Ray cluster (the
``ray`` extra), local or the one ``address`` points at. All return results in input order.
Functions and items must be picklable (module-level functions, plain data).
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

from axionlab.errors import ConfigError
from axionlab.registry import Registry

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """Anything that maps a function over items and returns the results in order."""

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]: ...


class InProcessExecutor:
    """Run every item sequentially in the calling process."""

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        return [fn(item) for item in items]

    def close(self) -> None:
        """Nothing to stop (every executor has ``close``)."""


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _init_pool_worker(threads: int, parent: int, death_signal: bool) -> None:
    """Start a pool worker that exits when the driver ``parent`` dies, however it dies."""
    exit_with_parent(parent, death_signal=death_signal)
    _init_worker(threads)


def exit_with_parent(parent: int, *, death_signal: bool = True, interval: float = 0.25) -> None:
    """Make this process exit within ``interval`` seconds of the death of process ``parent``.

    A killed driver cannot stop its workers, and orphans would go on writing its run directory
    (racing a resumed run). On Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` has the kernel kill
    this process when its parent dies; it is tied to the parent *thread* that started this
    process, so callers pass ``death_signal=False`` when that thread may end before the process.
    Everywhere, a daemon thread polls ``os.getppid()`` and calls ``os._exit`` once this process
    has been re-parented.

    Parameters
    ----------
    parent
        The pid of the process whose death ends this one (the pool's driver).
    death_signal
        Also ask the Linux kernel for the parent-death signal.
    interval
        Seconds between two polls of the parent pid.
    """
    if death_signal and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still applies
    if os.getppid() != parent:  # died before the signal was armed
        os._exit(1)
    threading.Thread(
        target=_watch_parent, args=(parent, interval), name="axionlab-exit-with-parent", daemon=True
    ).start()


def _watch_parent(parent: int, interval: float) -> None:
    while os.getppid() == parent:
        time.sleep(interval)
    os._exit(1)


class ProcessPoolExecutor:
    """Run items in ``workers`` processes (spawned, so CUDA and torch threads start clean).

    The workers start on the first ``map`` with more than one item and are kept for later calls,
    so repeated work (several loss planes, tiles of many diagrams) pays the start-up (importing
    torch, ~1-3 s per worker) once. ``close()`` or a ``with`` block stops them; otherwise they
    stop when the executor is garbage-collected or the interpreter exits, and within a second
    of the driver's death, even by SIGKILL (:func:`exit_with_parent`).
    """

    def __init__(self, workers: int | None = None, threads_per_worker: int = 1) -> None:
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        if self.workers < 1:
            raise ConfigError(f"executor.workers must be >= 1, got {self.workers}")
        self.threads_per_worker = threads_per_worker
        self.death_signal = True
        """Arm Linux's parent-death signal in workers (else only the parent-pid watchdog)."""
        self._pool: cf.ProcessPoolExecutor | None = None

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        items = list(items)
        if len(items) <= 1 or self.workers == 1:
            return [fn(item) for item in items]
        if self._pool is None:
            # The parent-death signal follows the thread that spawns a worker (the one calling
            # map); only the main thread is sure to live as long as the process.
            main = threading.current_thread() is threading.main_thread()
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=mp.get_context("spawn"),
                initializer=_init_pool_worker,
                initargs=(self.threads_per_worker, os.getpid(), main and self.death_signal),
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

    def close(self) -> None:
        """Leave the Ray instance running (other work may share it)."""


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
