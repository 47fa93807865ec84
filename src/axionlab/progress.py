"""One progress helper for long work (training, grids, sweeps); silent when not on a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(
    items: Iterable[T],
    *,
    description: str = "",
    total: int | None = None,
    enabled: bool | None = None,
) -> Iterator[T]:
    """Iterate over ``items`` with a rich progress bar when stderr is a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield from items
        return
    from rich.progress import track

    yield from track(items, description=description, total=total, transient=True)
