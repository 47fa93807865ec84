"""What a protocol is, and the runner that drives any protocol from a config to a report.

A protocol is thin orchestration over the library: it *plans* independent units from a config,
*runs* each unit as a sequence of cached phases (through :meth:`Run.phase`), *analyses* the stored
phase outputs into tables and statistics, and *reports* them. The runner owns everything around
that: the run directory, seeding, the executor, resume, the index and the tracker. A protocol
never knows which executor runs its units.
"""

from __future__ import annotations

import logging
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from axionlab.config import RunConfig, apply_overrides, dump_yaml, read_yaml, validate
from axionlab.errors import ConfigError, UserError
from axionlab.execute import make_executor
from axionlab.registry import Registry
from axionlab.repro import seed_everything
from axionlab.runs import PhaseError, PhaseMissing, Run, StorageError, storage_error
from axionlab.runs.store import MANIFEST
from axionlab.track import make_tracker


@dataclass(frozen=True)
class Unit:
    """One independent piece of a run (e.g. EXP-01: architecture × dataset × seed)."""

    id: str
    params: Mapping[str, Any] = field(default_factory=dict)


class Protocol(ABC):
    """A research programme: plan units, run their phases, analyse, report."""

    name: ClassVar[str]
    VERSION: ClassVar[str]
    """Bumped whenever the same config would give different numbers (keys every phase)."""
    Config: ClassVar[type[RunConfig]]

    def check_inputs(self, config: RunConfig) -> None:  # noqa: B027 - optional hook
        """Fail early, before a run directory exists, on missing data directories etc."""

    @abstractmethod
    def plan(self, config: RunConfig) -> list[Unit]:
        """The independent units of a run, in a stable order."""

    @abstractmethod
    def run_unit(self, run: Run, config: RunConfig, unit: Unit) -> None:
        """Compute (or reuse) every phase of one unit."""

    @abstractmethod
    def analyse(self, run: Run, config: RunConfig) -> dict[str, float]:
        """Turn stored phase outputs into tables; return headline metrics for the tracker."""

    @abstractmethod
    def report(self, run: Run, config: RunConfig) -> Path:
        """Build the report from stored results alone; return the main report file."""


PROTOCOLS: Registry[type[Protocol]] = Registry("protocol")
log = logging.getLogger(__name__)


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML config, apply ``--set`` overrides and validate it against its protocol."""
    import axionlab.protocols  # noqa: F401 - registers the protocols

    data = apply_overrides(read_yaml(path), overrides or [])
    return config_from_data(data, source=str(path))


def config_from_data(data: Mapping[str, Any], source: str = "config") -> RunConfig:
    import axionlab.protocols  # noqa: F401 - registers the protocols

    name = data.get("protocol")
    if not isinstance(name, str):
        raise ConfigError(
            f"missing required key 'protocol' in {source}; one of: {', '.join(PROTOCOLS.names())}"
        )
    protocol = PROTOCOLS.get(name)
    return validate(protocol.Config, data, source=source)


def _prepare(config: RunConfig) -> None:
    seed_everything(config.seed, deterministic=config.deterministic)
    if config.torch_threads is not None:
        torch.set_num_threads(config.torch_threads)


def _run_unit_job(job: tuple[str, str, Unit]) -> str:
    """Executor job (module-level so process pools can pickle it)."""
    run_dir, source, unit = job
    run = Run(run_dir)
    config = config_from_data(run.config_data(), source=source)
    _prepare(config)
    PROTOCOLS.get(config.protocol)().run_unit(run, config, unit)
    return unit.id


def execute(
    config: RunConfig, *, runs_dir: str | Path = "runs", resume: str | Path | None = None
) -> Run:
    """Run (or resume) a protocol end to end and return its run directory.

    The run directory is held by one writer at a time (a second live ``--resume`` gets a one-line
    error). Any failure once the directory exists, from seeding to the report, leaves run.json
    ``failed`` with the reason; a full disk or unwritable directory becomes a one-line error.
    """
    protocol = PROTOCOLS.get(config.protocol)()
    protocol.check_inputs(config)
    config_yaml = dump_yaml(config)
    if resume is not None:
        run = Run.open(resume)
        stored = config_from_data(run.config_data(), source=str(run.path / "config.yaml"))
        if stored.config_hash() != config.config_hash():
            raise UserError(
                f"--resume {run.path}: the config differs from the run's "
                "config.yaml; resume with the same config and overrides, or start a "
                "new run"
            )
    else:
        run = Run.create(
            runs_dir, protocol.name, protocol.VERSION, config_yaml, config.config_hash()
        )
    with run.writing():
        executor: Any = None
        try:
            if resume is not None:
                run.clean_scratch()
                run.set_status("running")
            _prepare(config)
            units = protocol.plan(config)
            executor = make_executor(config.executor.kind, **_executor_options(config))
            executor.map(_run_unit_job, [(str(run.path), "config.yaml", unit) for unit in units])
            metrics = protocol.analyse(run, config)
            report = protocol.report(run, config)
        except BaseException as err:
            mapped = storage_error(err) or (err if isinstance(err, StorageError) else None)
            _mark_failed(run, mapped or err)
            if mapped is not None:
                raise StorageError(
                    f"{mapped}; then continue with 'axionlab run CONFIG --resume {run.path}'"
                ) from err
            raise
        finally:
            if executor is not None and hasattr(executor, "close"):
                executor.close()
        run.set_status("complete")
    mirror_to_tracker(run, config, metrics, report)
    return run


def _mark_failed(run: Run, err: BaseException) -> None:
    """Record the failure in run.json; a store that cannot even take that must not hide ``err``."""
    if isinstance(err, KeyboardInterrupt):
        reason = "interrupted"
    else:
        reason = " ".join(f"{type(err).__name__}: {err}".split())[:500]
    try:
        run.set_status("failed", reason=reason)
    except (OSError, UserError, sqlite3.Error):
        pass


def _executor_options(config: RunConfig) -> dict[str, Any]:
    executor = config.executor
    if executor.kind == "process":
        return {"workers": executor.workers, "threads_per_worker": executor.threads_per_worker}
    if executor.kind == "ray":
        return {"address": executor.address, "cpus_per_task": executor.threads_per_worker}
    return {}


def mirror_to_tracker(
    run: Run, config: RunConfig, metrics: Mapping[str, float], report: Path
) -> None:
    """Copy params, headline metrics and report files to the configured tracker."""
    tracker = make_tracker(config.tracker, run.path, config.name or run.path.name)
    try:
        tracker.log_params(config.model_dump(mode="json"))
        tracker.set_tags({"protocol": config.protocol, "run_dir": str(run.path)})
        tracker.log_metrics(metrics)
        for path in sorted(report.parent.glob("*")):
            if path.is_file():
                tracker.log_artifact(path)
    finally:
        tracker.close()


def rebuild_report(run_dir: str | Path) -> Path:
    """Re-analyse a run from its stored results and rebuild its report.

    Nothing is recomputed: every phase the config plans is first checked (verify-only
    :meth:`Run.phase`): its manifest exists, its key is the one the config gives it, its files
    match their checksums. Any mismatch stops with a one-line :class:`PhaseError` naming the file.
    """
    run = Run.open(run_dir)
    config = config_from_data(run.config_data(), source=str(run.path / "config.yaml"))
    protocol = PROTOCOLS.get(config.protocol)()
    with run.writing(), run.verifying():
        verify_phases(run, config, protocol)
        protocol.analyse(run, config)
        return protocol.report(run, config)


def verify_phases(run: Run, config: RunConfig, protocol: Protocol) -> None:
    """Check every planned phase of ``run`` against ``config`` without computing anything.

    Runs each unit with the store in verify-only mode, so keys come from the protocol's own code.
    A unit whose ``run_unit`` needs inputs that are absent here (a dataset directory) cannot have
    its keys recomputed: its stored phases are then checked against their checksums only, with a
    warning.

    Raises
    ------
    PhaseError
        When a phase is missing, has another key, or a file fails its checksum.
    """
    with run.verifying():
        for unit in protocol.plan(config):
            try:
                protocol.run_unit(run, config, unit)
            except PhaseError:
                raise
            except UserError as err:
                log.warning(
                    "phase keys of unit '%s' not checked against the config: %s", unit.id, err
                )
                for manifest in sorted(run.unit_dir(unit.id).glob(f"*/{MANIFEST}")):
                    run.verified(unit.id, manifest.parent.name)


def provenance(run: Run, outputs: str = "") -> str:
    """A report's closing line: protocol, version, and where the config, environment and
    ``outputs`` (the raw results, described by the caller) are stored."""
    text = (
        f"Protocol {run.info['protocol']} v{run.info['version']}; config: config.yaml; "
        "environment: env.json"
    )
    return f"{text}; {outputs}" if outputs else f"{text}."


def require_phase(run: Run, unit: str, phase: str) -> Path:
    """Directory of a complete phase whose files match their checksums.

    Raises
    ------
    PhaseMissing
        When the phase is not complete (the message says how to resume the run).
    PhaseError
        When its manifest is unreadable or a file does not match its checksum.
    """
    try:
        return run.verified(unit, phase).path
    except PhaseMissing:
        raise PhaseMissing(
            f"{run.path}: phase '{phase}' of unit '{unit}' is not complete; finish "
            f"the run with 'axionlab run CONFIG --resume {run.path}'"
        ) from None
