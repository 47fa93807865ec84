"""The run store: self-describing run directories with resumable, content-keyed phases.

Layout of one run::

    <root>/<protocol>/<UTC time>-<config hash>/
        config.yaml   resolved config (every default written out)
        env.json      versions, packages, git commit, hardware, argv
        run.json      protocol, VERSION, status
        units/<unit>/<phase>/   the phase's files + manifest.json (written last)
        tables/, report/ ...    written by the protocol's analysis and report

A phase is *complete* only once its ``manifest.json`` exists and holds the phase's key: the hash of
its config slice, the keys of its inputs and the protocol VERSION. A phase is computed in a
temporary directory that is renamed into place before the manifest is written, so a crash at any
moment leaves either a complete phase or nothing that is taken for one. Resuming skips complete
phases without touching their files and recomputes the rest.
"""

from __future__ import annotations

import hashlib
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from axionlab.errors import UserError
from axionlab.repro import capture_environment, stable_hash
from axionlab.runs.index import RunIndex
from axionlab.runs.io import fsync_dir, read_json, write_json, write_text

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class PhaseRecord:
    """A complete phase: where its files are, its key and the small summary it returned."""

    unit: str
    phase: str
    key: str
    path: Path
    summary: Mapping[str, Any] = field(default_factory=dict)
    reused: bool = False


def phase_key(version: str, config_slice: Any, inputs: list[PhaseRecord] | tuple[()] = ()) -> str:
    """Key of a phase: hash of the protocol VERSION, its config slice and its inputs' keys."""
    return stable_hash(
        {"version": version, "config": config_slice, "inputs": [rec.key for rec in inputs]},
        length=16,
    )


class Run:
    """One run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def root(self) -> Path:
        return self.path.parent.parent

    @property
    def index(self) -> RunIndex:
        return RunIndex(self.root)

    @classmethod
    def create(
        cls, root: str | Path, protocol: str, version: str, config_yaml: str, config_hash: str
    ) -> Run:
        """Make a new run directory and write its config, environment and status."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        run = cls(Path(root) / protocol / f"{stamp}-{config_hash[:10]}")
        run.path.mkdir(parents=True, exist_ok=False)
        write_text(run.path / "config.yaml", config_yaml)
        write_json(run.path / "env.json", capture_environment())
        info = {
            "protocol": protocol,
            "version": version,
            "config_hash": config_hash,
            "status": "running",
            "created": datetime.now(timezone.utc).isoformat(),
        }
        write_json(run.path / "run.json", info)
        run.index.record_run(run.path, protocol, config_hash, "running", created=info["created"])
        return run

    @classmethod
    def open(cls, path: str | Path) -> Run:
        """Open an existing run directory, with a clear error when it is not one."""
        run = cls(path)
        if not (run.path / "run.json").is_file() or not (run.path / "config.yaml").is_file():
            raise UserError(
                f"{run.path} is not a run directory (no run.json/config.yaml); pass a "
                "directory printed by 'axionlab run' or listed by 'axionlab ls'"
            )
        return run

    @property
    def info(self) -> dict[str, Any]:
        result: dict[str, Any] = read_json(self.path / "run.json")
        return result

    def config_data(self) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load((self.path / "config.yaml").read_text())
        return data

    def set_status(self, status: str) -> None:
        info = self.info
        info["status"] = status
        write_json(self.path / "run.json", info)
        self.index.record_run(
            self.path, info["protocol"], info["config_hash"], status, created=info.get("created")
        )

    def unit_dir(self, unit: str) -> Path:
        return self.path / "units" / unit

    def phase_dir(self, unit: str, phase: str) -> Path:
        return self.unit_dir(unit) / phase

    def completed(self, unit: str, phase: str, key: str | None = None) -> PhaseRecord | None:
        """The record of a complete phase (whose key matches, if given), else ``None``."""
        path = self.phase_dir(unit, phase)
        manifest = path / MANIFEST
        if not manifest.is_file():
            return None
        entry = read_json(manifest)
        if key is not None and entry["key"] != key:
            return None
        return PhaseRecord(unit, phase, entry["key"], path, entry.get("summary", {}), reused=True)

    def phase(
        self, unit: str, phase: str, key: str, compute: Callable[[Path], Mapping[str, Any] | None]
    ) -> PhaseRecord:
        """Return the complete phase ``(unit, phase)`` with ``key``, computing it if needed.

        ``compute(directory)`` writes the phase's files into ``directory`` and returns a small
        JSON-able summary stored in the manifest.
        """
        done = self.completed(unit, phase, key)
        if done is not None:
            return done
        final = self.phase_dir(unit, phase)
        final.parent.mkdir(parents=True, exist_ok=True)
        self.index.record_phase(self.path, unit, phase, key, "running")
        scratch = final.parent / f".{phase}.tmp-{uuid.uuid4().hex[:8]}"
        scratch.mkdir()
        start = time.perf_counter()
        try:
            summary = dict(compute(scratch) or {})
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            self.index.record_phase(self.path, unit, phase, key, "failed")
            raise
        if final.exists():
            shutil.rmtree(final)
        scratch.rename(final)
        fsync_dir(final.parent)
        files = {p.name: _sha256(p) for p in sorted(final.iterdir()) if p.is_file()}
        write_json(
            final / MANIFEST,
            {
                "unit": unit,
                "phase": phase,
                "key": key,
                "files": files,
                "summary": summary,
                "seconds": time.perf_counter() - start,
                "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            },
        )
        self.index.record_phase(self.path, unit, phase, key, "complete")
        return PhaseRecord(unit, phase, key, final, summary)

    def clean_scratch(self) -> None:
        """Remove temporary phase directories left by a killed process."""
        for scratch in self.path.glob("units/*/.*.tmp-*"):
            shutil.rmtree(scratch, ignore_errors=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
