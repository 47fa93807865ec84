"""Atomic file writes: a reader never sees a half-written file, a crash never leaves one.

Each writer writes to a temporary file in the destination directory, flushes and fsyncs it, then
renames it over the destination (atomic on POSIX) and fsyncs the directory.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from axionlab.repro import as_plain


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Atomically write ``data`` to ``path`` (parents created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def fsync_dir(directory: Path) -> None:
    """Flush a directory entry (rename/creation) to disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode())


def write_json(path: str | Path, obj: Any) -> Path:
    """Atomically write JSON (NumPy values converted; NaN/inf written as JSON's NaN/Infinity)."""
    return write_text(path, json.dumps(as_plain(obj), indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def write_npz(path: str | Path, arrays: Mapping[str, Any]) -> Path:
    """Atomically write arrays to an uncompressed ``.npz`` (exact float round-trip)."""
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]
    return write_bytes(path, buffer.getvalue())


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def write_csv(
    path: str | Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None
) -> Path:
    """Atomically write rows as CSV with a fixed column order (floats in full precision)."""
    import csv

    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="raise", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k, "")) for k in columns})
    return write_text(path, buffer.getvalue())


def _csv_value(value: Any) -> Any:
    value = as_plain(value)
    if isinstance(value, float):
        return repr(value)
    return value


def read_csv(path: str | Path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))
