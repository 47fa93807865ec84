"""SQLite index of runs, units and phases under a runs root (``<root>/index.db``).

The index is a cache of the manifests in the run directories: ``axionlab ls`` reads it, and
:func:`rebuild_index` recreates it from the files alone. WAL mode and a busy timeout make it safe
for several processes (a process-pool executor, two runs side by side) to write at once.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_dir TEXT PRIMARY KEY, protocol TEXT, config_hash TEXT, status TEXT,
    created TEXT, updated TEXT);
CREATE TABLE IF NOT EXISTS phases (
    run_dir TEXT, unit TEXT, phase TEXT, key TEXT, status TEXT, updated TEXT,
    PRIMARY KEY (run_dir, unit, phase));
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunIndex:
    """Read and write the index database of one runs root."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.path = self.root / "index.db"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.root.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=60)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=60000")
            conn.executescript(SCHEMA)
            with conn:
                yield conn
        finally:
            conn.close()

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
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(run_dir) DO UPDATE SET "
                "status=excluded.status, updated=excluded.updated",
                (str(run_dir), protocol, config_hash, status, created or now, now),
            )

    def record_phase(self, run_dir: Path, unit: str, phase: str, key: str, status: str) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO phases VALUES (?, ?, ?, ?, ?, ?)",
                (str(run_dir), unit, phase, key, status, _now()),
            )

    def runs(self) -> list[dict[str, Any]]:
        """Every run with its status and phase counts, newest first."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT r.run_dir, r.protocol, r.status, r.created, "
                "COUNT(DISTINCT p.unit), SUM(p.status = 'complete') "
                "FROM runs r LEFT JOIN phases p ON p.run_dir = r.run_dir "
                "GROUP BY r.run_dir ORDER BY r.created DESC, r.run_dir DESC"
            ).fetchall()
        keys = ("run_dir", "protocol", "status", "created", "units", "phases_complete")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def phases(self, run_dir: Path) -> list[dict[str, Any]]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT unit, phase, key, status FROM phases WHERE run_dir = ? "
                "ORDER BY unit, phase",
                (str(run_dir),),
            ).fetchall()
        return [dict(zip(("unit", "phase", "key", "status"), row, strict=True)) for row in rows]


def rebuild_index(root: str | Path) -> RunIndex:
    """Recreate ``index.db`` from the run directories' ``run.json`` and phase manifests."""
    index = RunIndex(root)
    index.path.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(str(index.path) + suffix).unlink(missing_ok=True)
    for run_json in sorted(Path(root).glob("*/*/run.json")):
        run_dir = run_json.parent
        info = json.loads(run_json.read_text())
        index.record_run(
            run_dir,
            info["protocol"],
            info["config_hash"],
            info["status"],
            created=info.get("created"),
        )
        for manifest in sorted(run_dir.glob("units/*/*/manifest.json")):
            entry = json.loads(manifest.read_text())
            index.record_phase(run_dir, entry["unit"], entry["phase"], entry["key"], "complete")
    return index
