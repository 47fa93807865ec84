"""One writer per run directory, and liveness of the processes that own scratch files.

``run``, ``--resume`` and ``report`` hold an exclusive ``flock`` on ``<run>/.writer.lock`` (which
also records the holder's pid and host) while they write. The kernel drops the lock when its
holder dies, however it dies, so a lock left by a killed process is simply taken over; a second
live writer gets a one-line :class:`~axionlab.runs.errors.RunLocked` naming the holder.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from axionlab.runs.errors import RunLocked, storage_error

LOCK = ".writer.lock"
HOST = socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists on this host (zombies count as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (not Linux): signal 0 said it exists
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


@contextmanager
def writer_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run directory's writer lock for the ``with`` block.

    Raises
    ------
    RunLocked
        When another live process holds it.
    """
    import fcntl

    path = run_dir / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise (storage_error(err, "taking the run's writer lock:") or err) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLocked(
                f"{run_dir} is being written by {_holder(path)} (lock {path}); wait for it to "
                "finish or stop it, then run the command again"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": HOST}).encode())
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text())
        return f"process {int(info['pid'])} on {info['host']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
