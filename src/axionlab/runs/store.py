"""The run store: self-describing run directories with resumable, content-keyed phases.

Layout of one run::

    <root>/<protocol>/<UTC time>-<config hash>/
        config.yaml   resolved config (every default written out)
        env.json      versions, packages, git commit, hardware, argv
        run.json      protocol, VERSION, status (and, when failed, the reason)
        units/<unit>/<phase>/   the phase's files + manifest.json (written last)
        tables/, report/ ...    written by the protocol's analysis and report

A phase is *complete* only once its ``manifest.json`` exists and holds the phase's key: the hash of
its config slice, the keys of its inputs and the protocol VERSION. A phase is computed in a
temporary directory that is renamed into place before the manifest is written, so a crash at any
moment leaves either a complete phase or nothing that is taken for one.

Stored results are verified whenever they are used. The manifest records the sha256 of every file,
a checksum of itself, and the content digests of the phase's inputs (carried by the
:class:`PhaseKey` that :func:`phase_key` returns). A phase is reused only if its manifest parses,
its key matches, every file matches its checksum and every input still has the digest it had when
the phase was computed; otherwise it is recomputed (``run``, ``--resume``), and because its digest
then changes, every phase computed from it is recomputed too. In *verify-only* mode (``report``)
nothing is computed: a phase that fails any check raises a one-line :class:`PhaseError` naming the
file. Resuming skips verified phases without touching their files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from axionlab.errors import ConfigError, DataError, UserError
from axionlab.repro import as_plain, capture_environment, stable_hash
from axionlab.runs.errors import PhaseError, PhaseMissing, storage_error
from axionlab.runs.index import RunIndex
from axionlab.runs.io import fsync_dir, read_json, write_json, write_text
from axionlab.runs.lock import HOST, pid_alive, writer_lock
from axionlab.runs.names import check_name, contained, is_valid_name

MANIFEST = "manifest.json"
FORMAT = 2
"""Manifest format: 2 adds ``manifest_sha256`` and ``inputs``; format-1 manifests still read."""
_SCRATCH = ".tmp-"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhaseRecord:
    """A complete phase: where its files are, its key and the small summary it returned.

    ``digest`` fingerprints its content (files and summary); a phase computed from this one
    records it, so it is recomputed when this phase's content changes.
    """

    unit: str
    phase: str
    key: str
    path: Path
    summary: Mapping[str, Any] = field(default_factory=dict)
    reused: bool = False
    digest: str = ""


class PhaseKey(str):
    """A phase key (the hash string) that also carries its inputs' content digests.

    It compares, hashes and serialises as the plain key, so keys are unchanged; the store reads
    ``inputs`` to record and check what the phase was computed from.
    """

    inputs: tuple[tuple[str, str, str], ...]

    def __new__(cls, value: str, inputs: Iterable[tuple[str, str, str]] = ()) -> PhaseKey:
        self = super().__new__(cls, value)
        self.inputs = tuple(inputs)
        return self


def phase_key(
    version: str, config_slice: Any, inputs: list[PhaseRecord] | tuple[()] = ()
) -> PhaseKey:
    """Key of a phase: hash of the protocol VERSION, its config slice and its inputs' keys.

    The returned :class:`PhaseKey` also carries the inputs' content digests, which the store
    checks on reuse (an input recomputed with other content makes this phase stale).
    """
    value = stable_hash(
        {"version": version, "config": config_slice, "inputs": [rec.key for rec in inputs]},
        length=16,
    )
    return PhaseKey(value, [(rec.unit, rec.phase, rec.digest) for rec in inputs])


class Run:
    """One run directory.

    ``verify_only=True`` (or the :meth:`verifying` block) makes :meth:`phase` check stored phases
    instead of computing them.
    """

    def __init__(self, path: str | Path, *, verify_only: bool = False) -> None:
        self.path = Path(path)
        self.verify_only = verify_only
        self._verified: dict[
            tuple[str, str], tuple[tuple[Any, ...], PhaseRecord, list[Any] | None]
        ] = {}

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
        check_name("protocol name", protocol)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        run = cls(Path(root) / protocol / f"{stamp}-{check_name('config hash', config_hash[:10])}")
        info = {
            "protocol": protocol,
            "version": version,
            "config_hash": config_hash,
            "status": "running",
            "created": datetime.now(timezone.utc).isoformat(),
        }
        try:
            run.path.mkdir(parents=True, exist_ok=False)
            write_text(run.path / "config.yaml", config_yaml)
            write_json(run.path / "env.json", capture_environment())
            write_json(run.path / "run.json", info)
            run.index.record_run(
                run.path, protocol, config_hash, "running", created=info["created"]
            )
        except OSError as err:
            raise (storage_error(err, "creating the run directory:") or err) from err
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
        run.info  # noqa: B018 - fail now, in one line, on an unreadable run.json
        return run

    @property
    def info(self) -> dict[str, Any]:
        path = self.path / "run.json"
        try:
            result = read_json(path)
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise DataError(f"{path} is unreadable ({_short(err)}); restore it") from None
        if not isinstance(result, dict) or not {"protocol", "config_hash"} <= result.keys():
            raise DataError(f"{path} is not a run.json (no protocol/config_hash); restore it")
        return result

    def config_data(self) -> dict[str, Any]:
        """The stored config as data; a one-line ConfigError when it is not a YAML mapping."""
        path = self.path / "config.yaml"
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
            raise ConfigError(
                f"{path} is not a readable YAML config ({_short(err)}); restore the run's "
                "config.yaml"
            ) from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path} is not a YAML mapping; restore the run's config.yaml")
        return data

    def set_status(self, status: str, reason: str | None = None) -> None:
        """Write ``status`` (and the ``reason`` of a failure) to run.json and the index."""
        info = self.info
        info["status"] = status
        info.pop("reason", None)
        if reason:
            info["reason"] = reason
        write_json(self.path / "run.json", info)
        self.index.record_run(
            self.path, info["protocol"], info["config_hash"], status, created=info.get("created")
        )

    @contextmanager
    def writing(self) -> Iterator[Run]:
        """Hold the run's writer lock: one live writer per run directory (see runs.lock)."""
        with writer_lock(self.path):
            yield self

    @contextmanager
    def verifying(self) -> Iterator[Run]:
        """Inside the block :meth:`phase` only verifies stored phases; it never computes."""
        before, self.verify_only = self.verify_only, True
        try:
            yield self
        finally:
            self.verify_only = before

    def unit_dir(self, unit: str) -> Path:
        path = self.path / "units" / check_name("unit id", unit)
        return contained(self.path, path, f"unit '{unit}'")

    def phase_dir(self, unit: str, phase: str) -> Path:
        path = self.unit_dir(unit) / check_name("phase name", phase)
        return contained(self.path, path, f"phase '{phase}' of unit '{unit}'")

    def completed(self, unit: str, phase: str, key: str | None = None) -> PhaseRecord | None:
        """The record of a complete, verified phase (whose key matches, if given), else ``None``."""
        try:
            return self.verified(unit, phase, key)
        except PhaseError:
            return None

    def verified(self, unit: str, phase: str, key: str | None = None) -> PhaseRecord:
        """The record of a complete phase whose manifest, files and inputs check out.

        Parameters
        ----------
        unit, phase
            Which phase.
        key
            The key the config gives it (a :class:`PhaseKey` also checks its inputs); ``None``
            skips the key check.

        Raises
        ------
        PhaseMissing
            When the phase has no manifest.
        PhaseError
            When the manifest is unreadable, a file is missing or does not match its checksum,
            the key differs or an input changed since the phase was computed.
        """
        path = self.phase_dir(unit, phase)
        record, recorded = self._checked(unit, phase, path)
        if key is not None and record.key != key:
            raise PhaseError(
                f"{path / MANIFEST}: key {record.key} does not match the key {key} the config "
                "gives this phase (another config or version computed it); recompute it with "
                "'axionlab run CONFIG --resume RUN_DIR'"
            )
        if isinstance(key, PhaseKey) and recorded is not None:
            now = [list(item) for item in key.inputs]
            if recorded != now:
                raise PhaseError(
                    f"{path / MANIFEST}: its inputs ({_names(recorded)}) changed since it was "
                    "computed; recompute it with 'axionlab run CONFIG --resume RUN_DIR'"
                )
        return record

    def _checked(self, unit: str, phase: str, path: Path) -> tuple[PhaseRecord, list[Any] | None]:
        manifest = path / MANIFEST
        signature = _signature(path)
        cached = self._verified.get((unit, phase))
        if cached is not None and signature and cached[0] == signature:
            return cached[1], cached[2]
        entry = self._entry(manifest)
        if entry.get("unit") != unit or entry.get("phase") != phase:
            raise PhaseError(f"{manifest} belongs to another phase; recompute this one")
        files = entry["files"]
        for name, digest in files.items():
            if not is_valid_name(name):
                raise PhaseError(f"{manifest} lists an invalid file name {name!r}; recompute it")
            target = path / name
            try:
                actual = _sha256(target)
            except FileNotFoundError:
                raise PhaseError(
                    f"{target} is missing (listed in {manifest}); recompute the phase with "
                    "'axionlab run CONFIG --resume RUN_DIR'"
                ) from None
            except OSError as err:
                raise PhaseError(f"{target} is unreadable ({_short(err)})") from None
            if actual != digest:
                raise PhaseError(
                    f"{target} does not match its sha256 in {manifest} (changed or truncated "
                    "since the phase completed); recompute it with 'axionlab run CONFIG "
                    "--resume RUN_DIR'"
                )
        record = PhaseRecord(
            unit,
            phase,
            entry["key"],
            path,
            entry.get("summary", {}),
            reused=True,
            digest=_digest(files, entry.get("summary", {})),
        )
        inputs = entry.get("inputs")
        inputs = inputs if isinstance(inputs, list) else None  # format 1: not recorded
        self._verified[(unit, phase)] = (signature, record, inputs)
        return record, inputs

    def _entry(self, manifest: Path) -> dict[str, Any]:
        try:
            text = manifest.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PhaseMissing(
                f"phase '{manifest.parent.name}' of unit '{manifest.parent.parent.name}' is "
                f"not complete ({manifest} missing); finish the run with 'axionlab run CONFIG "
                f"--resume {self.path}'"
            ) from None
        except (OSError, UnicodeDecodeError) as err:
            raise PhaseError(f"{manifest} is unreadable ({_short(err)}); recompute it") from None
        try:
            entry = json.loads(text)
        except ValueError as err:
            raise PhaseError(
                f"{manifest} is not valid JSON ({_short(err)}); recompute the phase with "
                "'axionlab run CONFIG --resume RUN_DIR'"
            ) from None
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("key"), str)
            or not isinstance(entry.get("files"), dict)
            or not all(isinstance(v, str) for v in entry["files"].values())
            or not isinstance(entry.get("summary", {}), dict)
        ):
            raise PhaseError(f"{manifest} is not a phase manifest; recompute the phase")
        stored = entry.pop("manifest_sha256", None)
        if stored is not None and stored != _manifest_sha256(entry):
            raise PhaseError(
                f"{manifest} does not match its own checksum (edited since the phase "
                "completed); recompute the phase with 'axionlab run CONFIG --resume RUN_DIR'"
            )
        return entry

    def phase(
        self, unit: str, phase: str, key: str, compute: Callable[[Path], Mapping[str, Any] | None]
    ) -> PhaseRecord:
        """Return the complete phase ``(unit, phase)`` with ``key``, computing it if needed.

        ``compute(directory)`` writes the phase's files into ``directory`` and returns a small
        JSON-able summary stored in the manifest. A stored phase that fails verification (see
        :meth:`verified`) is recomputed, or, in verify-only mode, raises :class:`PhaseError`.
        """
        if self.verify_only:
            return self.verified(unit, phase, key)
        try:
            return self.verified(unit, phase, key)
        except PhaseMissing:
            pass
        except PhaseError as err:
            log.warning("recomputing phase '%s' of unit '%s': %s", phase, unit, err)
        try:
            return self._compute(unit, phase, key, compute)
        except OSError as err:
            raise (storage_error(err, f"phase '{phase}' of unit '{unit}': writing") or err) from err

    def _compute(
        self, unit: str, phase: str, key: str, compute: Callable[[Path], Mapping[str, Any] | None]
    ) -> PhaseRecord:
        final = self.phase_dir(unit, phase)
        final.parent.mkdir(parents=True, exist_ok=True)
        contained(self.path, final.parent, f"unit '{unit}'")
        self._verified.pop((unit, phase), None)
        self.index.record_phase(self.path, unit, phase, str(key), "running")
        scratch = final.parent / f".{phase}{_SCRATCH}{HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        scratch.mkdir()
        start = time.perf_counter()
        try:
            summary = dict(compute(scratch) or {})
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            self.index.record_phase(self.path, unit, phase, str(key), "failed")
            raise
        if final.is_symlink() or final.is_file():
            final.unlink()
        elif final.exists():
            # Move the old phase aside first: a crash then leaves no phase, never a mixed one.
            old = final.parent / f".{phase}{_SCRATCH}{HOST}-{os.getpid()}-old{uuid.uuid4().hex[:8]}"
            final.rename(old)
            shutil.rmtree(contained(self.path, old, "old phase"))
        scratch.rename(final)
        fsync_dir(final.parent)
        files = {p.name: _sha256(p) for p in sorted(final.iterdir()) if p.is_file()}
        entry = as_plain(
            {
                "format": FORMAT,
                "unit": unit,
                "phase": phase,
                "key": str(key),
                "inputs": [list(item) for item in getattr(key, "inputs", ())],
                "files": files,
                "summary": summary,
                "seconds": time.perf_counter() - start,
                "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
        )
        write_json(final / MANIFEST, {**entry, "manifest_sha256": _manifest_sha256(entry)})
        self.index.record_phase(self.path, unit, phase, str(key), "complete")
        record = PhaseRecord(
            unit, phase, str(key), final, summary, digest=_digest(files, entry["summary"])
        )
        reused = dataclasses.replace(record, reused=True)
        self._verified[(unit, phase)] = (_signature(final), reused, entry["inputs"])
        return record

    def clean_scratch(self) -> list[Path]:
        """Remove temporary phase directories whose owner process is dead; return them.

        A scratch directory is named after its owner (host and pid), so the scratch of a live
        process (another resume, a worker still running) is never removed; unnamed (old) ones
        and those of dead owners on this host are.
        """
        removed = []
        for scratch in sorted(self.path.glob(f"units/*/.*{_SCRATCH}*")):
            owner = scratch.name.rpartition(_SCRATCH)[2].split("-")
            host, pid = "-".join(owner[:-2]), owner[-2] if len(owner) >= 3 else ""
            if pid.isdigit() and (host != HOST or pid_alive(int(pid))):
                continue
            shutil.rmtree(contained(self.path, scratch, "scratch"), ignore_errors=True)
            removed.append(scratch)
        return removed


def _names(inputs: list[Any]) -> str:
    return ", ".join(f"{item[0]}/{item[1]}" for item in inputs if isinstance(item, list)) or "-"


def _short(err: BaseException) -> str:
    return " ".join(str(err).split())[:200] or type(err).__name__


def _signature(path: Path) -> tuple[Any, ...]:
    """Cheap fingerprint of a phase directory (names, sizes, mtimes) to skip re-hashing."""
    try:
        return tuple(
            (p.name, s.st_size, s.st_mtime_ns, s.st_ino)
            for p in sorted(path.iterdir())
            for s in [p.stat()]
        )
    except OSError:
        return ()


def _manifest_sha256(entry: Mapping[str, Any]) -> str:
    text = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _digest(files: Mapping[str, str], summary: Any) -> str:
    return stable_hash({"files": dict(files), "summary": summary}, length=16)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
