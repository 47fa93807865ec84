"""The runner: drives any protocol from a validated config to a stored, reported run.

It owns everything a protocol does not: reading and validating the config, seeding, the run
directory and its status, the executor that maps units to workers, resume, report rebuilding,
and mirroring results to the tracker. A protocol never knows which executor runs its units.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from axionlab.config import (
    RunConfig,
    apply_overrides,
    dump_yaml,
    is_safe_name,
    read_yaml,
    validate,
)
from axionlab.errors import ConfigError, UserError
from axionlab.execute import make_executor
from axionlab.protocols.base import Protocol, Unit
from axionlab.protocols.catalog import PROTOCOLS
from axionlab.repro import seed_everything
from axionlab.runs import PhaseError, Run, StorageError, storage_error
from axionlab.runs.store import MANIFEST
from axionlab.track import make_tracker

log = logging.getLogger(__name__)

AnyProtocol = Protocol[Any, Any]


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML config, apply ``--set`` overrides and validate it against its protocol."""
    data = apply_overrides(read_yaml(path), overrides or [])
    return config_from_data(data, source=str(path))


def config_from_data(data: Mapping[str, Any], source: str = "config") -> RunConfig:
    """Validate ``data`` against the config schema of the protocol it names."""
    name = data.get("protocol")
    if not isinstance(name, str):
        raise ConfigError(
            f"missing required key 'protocol' in {source}; one of: {', '.join(PROTOCOLS.names())}"
        )
    config: RunConfig = validate(PROTOCOLS.get(name).Config, data, source=source)
    return config


def protocol_for(config: RunConfig) -> AnyProtocol:
    """A fresh instance of the protocol ``config`` belongs to."""
    return PROTOCOLS.get(config.protocol)()


def planned_units(protocol: AnyProtocol, config: RunConfig) -> list[Unit[Any]]:
    """The units ``protocol`` plans for ``config``, refused unless each id is a valid folder name
    and no two are the same (two units with one id would write one directory twice)."""
    units = protocol.plan(config)
    seen: set[str] = set()
    for unit in units:
        if not is_safe_name(unit.id):
            raise ConfigError(
                f"unit id {unit.id!r} is not a valid folder name; change the labels it is "
                "made of to ASCII letters, digits, '_', '.' or '-'"
            )
        if unit.id in seen:
            raise ConfigError(
                f"two units are both named {unit.id!r}; make the labels, datasets or seeds "
                "they are made of distinct"
            )
        seen.add(unit.id)
    return units


def _prepare(config: RunConfig) -> None:
    seed_everything(config.seed, deterministic=config.deterministic)
    if config.torch_threads is not None:
        torch.set_num_threads(config.torch_threads)


def _run_unit_job(job: tuple[str, str, Unit[Any]]) -> str:
    """Executor job (module-level so process pools can pickle it)."""
    run_dir, source, unit = job
    run = Run(run_dir)
    config = config_from_data(run.config_data(), source=source)
    _prepare(config)
    protocol = protocol_for(config)
    protocol.run_unit(protocol.context(run, config, unit))
    return unit.id


def execute(
    config: RunConfig, *, runs_dir: str | Path = "runs", resume: str | Path | None = None
) -> Run:
    """Run (or resume) a protocol end to end and return its run directory.

    The run directory is held by one writer at a time (a second live ``--resume`` gets a one-line
    error). Any failure once the directory exists, from seeding to the report, leaves run.json
    ``failed`` with the reason; a full disk or unwritable directory becomes a one-line error.
    """
    protocol = protocol_for(config)
    protocol.check_inputs(config)
    units = planned_units(protocol, config)
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
            runs_dir, protocol.name, protocol.VERSION, dump_yaml(config), config.config_hash()
        )
    with run.writing():
        executor: Any = None
        try:
            if resume is not None:
                run.clean_scratch()
                run.set_status("running")
            _prepare(config)
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
    protocol = protocol_for(config)
    with run.writing(), run.verifying():
        verify_phases(run, config, protocol)
        protocol.analyse(run, config)
        return protocol.report(run, config)


def verify_phases(run: Run, config: RunConfig, protocol: AnyProtocol) -> None:
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
                protocol.run_unit(protocol.context(run, config, unit))
            except PhaseError:
                raise
            except UserError as err:
                log.warning(
                    "phase keys of unit '%s' not checked against the config: %s", unit.id, err
                )
                for manifest in sorted(run.unit_dir(unit.id).glob(f"*/{MANIFEST}")):
                    run.verified(unit.id, manifest.parent.name)
