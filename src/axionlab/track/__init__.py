"""Experiment trackers: mirror a run's parameters, metrics and artifacts to the lab's tools.

Trackers observe; the run store always holds the primary copy, so a tracker can fail or be
switched off without losing a result. Backends:

- ``local`` (default): ``<run>/tracking/`` holds params.json, tags.json and metrics.jsonl.
- ``clearml``: a ClearML task, against the server in the user's ``clearml.conf`` or, with
  ``offline: true``, an offline session zip under ClearML's cache dir (``CLEARML_CACHE_DIR``).
- ``mlflow``: an MLflow run in ``sqlite:///<runs root>/mlflow.db`` with artifacts beside it, so
  ``mlflow ui --backend-store-uri sqlite:///runs/mlflow.db`` opens it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from axionlab.config import TrackerConfig
from axionlab.errors import ConfigError
from axionlab.repro import as_plain
from axionlab.runs.io import write_json


class Tracker(Protocol):
    """What every backend offers."""

    def log_params(self, params: Mapping[str, Any]) -> None: ...

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None: ...

    def log_artifact(self, path: Path) -> None: ...

    def set_tags(self, tags: Mapping[str, str]) -> None: ...

    def close(self) -> None: ...


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``; lists become JSON strings (trackers want scalars)."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            flat[name] = json.dumps(as_plain(value))
        else:
            flat[name] = value
    return flat


class LocalTracker:
    """Writes into the run directory itself (``tracking/``)."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = Path(run_dir) / "tracking"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._tags: dict[str, str] = {}
        self._artifacts: list[str] = []

    def log_params(self, params: Mapping[str, Any]) -> None:
        write_json(self.dir / "params.json", flatten(params))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        line = json.dumps({"step": step, **{k: float(v) for k, v in metrics.items()}})
        with open(self.dir / "metrics.jsonl", "a") as handle:
            handle.write(line + "\n")

    def log_artifact(self, path: Path) -> None:
        self._artifacts.append(str(path))
        write_json(self.dir / "artifacts.json", self._artifacts)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._tags.update(tags)
        write_json(self.dir / "tags.json", self._tags)

    def close(self) -> None:
        pass


class ClearMLTracker:
    """A ClearML task (online against the configured server, or offline)."""

    def __init__(self, project: str, name: str, offline: bool) -> None:
        try:
            from clearml import Task
            from clearml.backend_interface.task.task import Task as BackendTask
        except ImportError:
            raise ConfigError(
                "tracker.backend 'clearml' needs the clearml package; install "
                "it with pip install 'axionlab[clearml]'"
            ) from None
        # Reporting through a subprocess makes Task.close() wait 6-12 s for it to drain; we log
        # a handful of scalars, so in-process reporting costs nothing.
        BackendTask._report_subprocess_enabled = False  # type: ignore[assignment]
        if offline:
            Task.set_offline(True)
        self.task: Any = Task.init(
            project_name=project,
            task_name=name,
            reuse_last_task_id=False,
            auto_connect_arg_parser=False,
            auto_connect_frameworks=False,
            auto_resource_monitoring=False,
            auto_connect_streams=False,
        )
        self.logger: Any = self.task.get_logger()

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.task.connect(flatten(params), name="config")

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        for key, value in metrics.items():
            title, _, series = key.rpartition("/")
            self.logger.report_scalar(title or key, series, float(value), iteration=step or 0)

    def log_artifact(self, path: Path) -> None:
        self.task.upload_artifact(Path(path).name, artifact_object=str(path))

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.task.add_tags([f"{k}={v}" for k, v in tags.items()])

    def close(self) -> None:
        self.task.close()

    @property
    def offline_folder(self) -> Path:
        return Path(self.task.get_offline_mode_folder())


class MLflowTracker:
    """An MLflow run in a SQLite tracking store."""

    def __init__(self, project: str, name: str, tracking_uri: str, artifact_dir: Path) -> None:
        try:
            import mlflow
        except ImportError:
            raise ConfigError(
                "tracker.backend 'mlflow' needs the mlflow package; install it "
                "with pip install 'axionlab[mlflow]'"
            ) from None
        self.mlflow = mlflow
        self.client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        experiment = self.client.get_experiment_by_name(project)
        if experiment is None:
            experiment_id = self.client.create_experiment(
                project, artifact_location=artifact_dir.resolve().as_uri()
            )
        else:
            experiment_id = experiment.experiment_id
        self.run_id = self.client.create_run(experiment_id, run_name=name).info.run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        for key, value in flatten(params).items():
            self.client.log_param(self.run_id, key, str(value)[:6000])

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        for key, value in metrics.items():
            if math.isfinite(float(value)):
                self.client.log_metric(self.run_id, key, float(value), step=step or 0)

    def log_artifact(self, path: Path) -> None:
        self.client.log_artifact(self.run_id, str(path))

    def set_tags(self, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, value)

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


def make_tracker(config: TrackerConfig, run_dir: Path, name: str) -> Tracker:
    """Build the tracker a config asks for, for the run in ``run_dir``."""
    if config.backend == "clearml":
        return ClearMLTracker(config.project, name, config.offline)
    if config.backend == "mlflow":
        root = run_dir.parent.parent
        uri = config.tracking_uri or f"sqlite:///{(root / 'mlflow.db').resolve()}"
        return MLflowTracker(config.project, name, uri, root / "mlartifacts")
    return LocalTracker(run_dir)
