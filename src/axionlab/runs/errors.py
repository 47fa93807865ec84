"""Errors of the run store, each a one-line :class:`~axionlab.errors.UserError`.

A phase that is missing or fails verification raises :class:`PhaseError`; the store recomputes
such a phase when it may (``run`` and ``--resume``) and reports it when it may not (``report``).
Writing the store can fail for reasons the user fixes (a full disk, a read-only or foreign
directory): :func:`storage_error` turns those ``OSError``\\ s into :class:`StorageError`.
"""

from __future__ import annotations

import errno

from axionlab.errors import DataError, UserError


class PhaseError(DataError):
    """A stored phase is missing, unreadable, changed since it completed, or has another key."""


class PhaseMissing(PhaseError):
    """The phase has no manifest: it never completed."""


class StorageError(UserError):
    """The run store cannot be written (no space, read-only, no permission)."""


class RunLocked(UserError):
    """Another live process is writing the run directory."""


class IndexCorrupt(DataError):
    """``index.db`` is not a readable index."""


_USER_ERRNOS = {
    errno.ENOSPC: "no space left on the device; free some space",
    errno.EDQUOT: "disk quota exceeded; free some space",
    errno.EROFS: "the file system is read-only; use a writable --runs-dir",
    errno.EACCES: "permission denied; fix the permissions or use another --runs-dir",
    errno.EPERM: "operation not permitted; fix the permissions or use another --runs-dir",
}


def storage_error(err: BaseException, doing: str = "writing") -> StorageError | None:
    """The one-line :class:`StorageError` for an ``OSError`` the user can fix, else ``None``."""
    if not isinstance(err, OSError) or err.errno not in _USER_ERRNOS:
        return None
    where = f" {err.filename}" if err.filename else ""
    return StorageError(f"{doing}{where} failed: {_USER_ERRNOS[err.errno]}")
