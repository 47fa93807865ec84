"""Names that become paths, and the check that a path stays inside its run directory.

Unit ids, phase names, protocol names and run labels become folder names under a run directory.
They must match :data:`NAME_PATTERN` (ASCII letters, digits, ``_``, ``.``, ``-``, not starting
with ``.``), so no name can climb out of the run (``..``, ``/``) or hide as a dot-file; the store
also refuses any path that resolves (symbolic links included) outside the run directory before it
writes or deletes anything there.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeGuard

from axionlab.config import MAX_NAME_LENGTH, NAME_PATTERN, is_safe_name
from axionlab.errors import ConfigError

__all__ = ["NAME_PATTERN", "check_name", "contained", "is_valid_name"]


def is_valid_name(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a string usable as a path component of the run store."""
    return is_safe_name(value)


def check_name(kind: str, value: object) -> str:
    """Return ``value`` if it is a valid path name, else raise a one-line :class:`ConfigError`.

    Parameters
    ----------
    kind
        What the name is, for the message (``"unit id"``, ``"architectures.0.label"``, ...).
    value
        The candidate name.

    Raises
    ------
    ConfigError
        When ``value`` is not a string matching :data:`NAME_PATTERN` of at most
        :data:`MAX_NAME_LENGTH` characters.
    """
    if is_valid_name(value):
        return value
    raise ConfigError(
        f"{kind} {value!r} is not a valid name: it becomes a folder name, so use at most "
        f"{MAX_NAME_LENGTH} ASCII letters, digits, '_', '.' or '-', starting with a letter or digit"
    )


def contained(base: Path, path: Path, what: str) -> Path:
    """``path`` if it resolves inside ``base`` (links followed), else a one-line ConfigError."""
    root = base.resolve()
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        raise ConfigError(
            f"{what} {path} resolves to {resolved}, outside the run directory {root}; refusing "
            "to write or delete there"
        )
    return path
