"""User-facing errors.

Every mistake a user can make (bad config, missing data directory, unknown name) raises a
:class:`UserError` subclass whose message is one line naming the field or file and the fix. The CLI
prints it as ``error: <message>`` and exits 2; bugs raise ordinary exceptions with tracebacks.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """A mistake the user can fix; its message is a single line."""


class ConfigError(UserError):
    """Invalid configuration value, key or file."""


class UnknownNameError(UserError, KeyError):
    """A registry lookup with a name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DataError(UserError):
    """A dataset directory or file is missing or malformed."""


class InputError(UserError, ValueError):
    """An argument to a library function is invalid (wrong shape, NaN where refused, ...)."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""`` when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""
