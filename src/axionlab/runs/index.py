"""SQLite index of runs, units and phases under a runs root (``<root>/index.db``).

The index is a cache of the manifests in the run directories: ``axionlab ls`` reads it, and
:func:`rebuild_index` recreates it from the files alone. WAL mode and a busy timeout make it safe
for several processes (a process-pool executor, two runs side by side) to write at once.

Reading never writes: ``ls`` opens the database read-only, so a read-only archive lists; where
no index exists (or SQLite cannot open it read-only) the listing is built in memory from the
manifests. A file that is not an SQLite index raises a one-line error that names the repair,
``axionlab ls --rebuild``, which builds the new index beside the old one and swaps it in
atomically, skipping (and reporting) unreadable ``run.json`` and manifest files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from axionlab.runs.errors import IndexCorrupt, StorageError, storage_error

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_dir TEXT PRIMARY KEY, protocol TEXT, config_hash TEXT, status TEXT,
    created TEXT, updated TEXT);
CREATE TABLE IF NOT EXISTS phases (
    run_dir TEXT, unit TEXT, phase TEXT, key TEXT, status TEXT, updated TEXT,
    PRIMARY KEY (run_dir, unit, phase));
"""
_UPSERT_RUN = (
    "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(run_dir) DO UPDATE SET "
    "status=excluded.status, updated=excluded.updated"
)
_UPSERT_PHASE = "INSERT OR REPLACE INTO phases VALUES (?, ?, ?, ?, ?, ?)"
log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunIndex:
    """Read and write the index database of one runs root.

    After :func:`rebuild_index`, ``skipped`` lists the files it could not read, one line each.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.path = self.root / "index.db"
        self.skipped: list[str] = []

    def _corrupt(self, err: sqlite3.DatabaseError) -> IndexCorrupt:
        return IndexCorrupt(
            f"{self.path} is not a readable run index ({err}); 'axionlab ls --rebuild "
            f"--runs-dir {self.root}' rebuilds it from the manifests"
        )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, timeout=60)
        except sqlite3.OperationalError as err:
            raise StorageError(
                f"cannot open {self.path} ({err}); use a writable --runs-dir"
            ) from None
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=60000")
            conn.executescript(SCHEMA)
            with conn:
                yield conn
        except sqlite3.OperationalError as err:
            if "locked" in str(err) or "busy" in str(err):
                raise
            raise StorageError(
                f"writing {self.path} failed ({err}); use a writable --runs-dir"
            ) from None
        except sqlite3.DatabaseError as err:
            raise self._corrupt(err) from None
        finally:
            conn.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection; in memory from the manifests where none can be opened."""
        conn = self._open_read_only()
        try:
            yield conn
        finally:
            conn.close()

    def _open_read_only(self) -> sqlite3.Connection:
        if self.path.is_file():
            uri = self.path.resolve().as_uri()
            wal = Path(f"{self.path}-wal")
            modes = ["mode=ro"]
            if not wal.exists() or wal.stat().st_size == 0:
                modes.append("immutable=1")  # read-only directory: no -shm can be made
            for mode in modes:
                conn = sqlite3.connect(f"{uri}?{mode}", uri=True, timeout=60)
                try:
                    conn.execute("SELECT 1 FROM runs LIMIT 1").fetchall()
                    conn.execute("SELECT 1 FROM phases LIMIT 1").fetchall()
                    return conn
                except sqlite3.OperationalError:
                    conn.close()
                except sqlite3.DatabaseError as err:
                    conn.close()
                    raise self._corrupt(err) from None
        conn = sqlite3.connect(":memory:")
        conn.executescript(SCHEMA)
        with conn:
            self.skipped = _fill(conn, self.root)
        return conn

    def record_run(
        self,
        run_dir: Path,
        protocol: str,
        config_hash: str,
        status: str,
        created: str | None = None,
    ) -> None:
        now = _now()
        with self._connect() as conn:
            conn.execute(
                _UPSERT_RUN, (str(run_dir), protocol, config_hash, status, created or now, now)
            )

    def record_phase(self, run_dir: Path, unit: str, phase: str, key: str, status: str) -> None:
        with self._connect() as conn:
            conn.execute(_UPSERT_PHASE, (str(run_dir), unit, phase, key, status, _now()))

    def runs(self) -> list[dict[str, Any]]:
        """Every run with its status and phase counts, newest first."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT r.run_dir, r.protocol, r.status, r.created, "
                "COUNT(DISTINCT p.unit), SUM(p.status = 'complete') "
                "FROM runs r LEFT JOIN phases p ON p.run_dir = r.run_dir "
                "GROUP BY r.run_dir ORDER BY r.created DESC, r.run_dir DESC"
            ).fetchall()
        keys = ("run_dir", "protocol", "status", "created", "units", "phases_complete")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def phases(self, run_dir: Path) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT unit, phase, key, status FROM phases WHERE run_dir = ? "
                "ORDER BY unit, phase",
                (str(run_dir),),
            ).fetchall()
        return [dict(zip(("unit", "phase", "key", "status"), row, strict=True)) for row in rows]


def rebuild_index(root: str | Path) -> RunIndex:
    """Recreate ``index.db`` from the run directories' ``run.json`` and phase manifests.

    The new index is written to a temporary file beside the old one and renamed over it, so a
    failure leaves the old index in place. Unreadable ``run.json`` or manifest files are skipped,
    logged as warnings and listed in the returned index's ``skipped``.

    Raises
    ------
    StorageError
        When the runs directory cannot be written (read-only, full, no permission).
    """
    index = RunIndex(root)
    tmp = index.root / f".index.db.rebuild-{os.getpid()}.tmp"
    try:
        tmp.unlink(missing_ok=True)
        conn = sqlite3.connect(tmp)
        try:
            conn.executescript(SCHEMA)
            with conn:
                index.skipped = _fill(conn, index.root)
        finally:
            conn.close()
        # A WAL left by the old database must not be replayed onto the new one.
        for suffix in ("-wal", "-shm"):
            Path(f"{index.path}{suffix}").unlink(missing_ok=True)
        os.replace(tmp, index.path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if mapped := storage_error(err, "rebuilding the index:"):
            raise mapped from None
        raise
    for line in index.skipped:
        log.warning("skipped %s", line)
    return index


def _read_fields(path: Path, keys: tuple[str, ...]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The JSON object at ``path`` and its string fields ``keys``; raises on anything else."""
    entry = json.loads(path.read_text(encoding="utf-8"))
    fields = tuple(entry[k] for k in keys)
    if not all(isinstance(v, str) for v in fields):
        raise TypeError(f"{'/'.join(keys)} are not strings")
    return entry, fields


_UNREADABLE = (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError)


def _fill(conn: sqlite3.Connection, root: Path) -> list[str]:
    """Insert every readable run and manifest under ``root``; return what was skipped."""
    skipped = []
    for run_json in sorted(root.glob("*/*/run.json")):
        run_dir = run_json.parent
        try:
            info, row = _read_fields(run_json, ("protocol", "config_hash", "status"))
        except _UNREADABLE as err:
            skipped.append(f"{run_json}: unreadable run.json ({_short(err)})")
            continue
        created = info.get("created") if isinstance(info.get("created"), str) else None
        conn.execute(_UPSERT_RUN, (str(run_dir), *row, created or _now(), _now()))
        for manifest in sorted(run_dir.glob("units/*/*/manifest.json")):
            try:
                _, fields = _read_fields(manifest, ("unit", "phase", "key"))
            except _UNREADABLE as err:
                skipped.append(f"{manifest}: unreadable manifest ({_short(err)})")
                continue
            conn.execute(_UPSERT_PHASE, (str(run_dir), *fields, "complete", _now()))
    return skipped


def _short(err: BaseException) -> str:
    return " ".join(str(err).split())[:200] or type(err).__name__
