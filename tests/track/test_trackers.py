import json
import zipfile
from pathlib import Path

import pytest

from axionlab.config import TrackerConfig
from axionlab.track import LocalTracker, flatten, make_tracker


def test_flatten():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": "x"}) == {"a.b": 1, "a.c": "[1, 2]", "d": "x"}


def test_local_tracker_writes_into_run(tmp_path):
    tracker = make_tracker(TrackerConfig(), tmp_path, "t")
    assert isinstance(tracker, LocalTracker)
    tracker.log_params({"train": {"lr": 0.1}})
    tracker.log_metrics({"acc": 0.5}, step=1)
    tracker.log_metrics({"acc": 0.75}, step=2)
    tracker.set_tags({"protocol": "toy"})
    tracker.close()
    assert json.loads((tmp_path / "tracking/params.json").read_text()) == {"train.lr": 0.1}
    lines = (tmp_path / "tracking/metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["acc"] for x in lines] == [0.5, 0.75]


@pytest.mark.slow
def test_clearml_offline_session(tmp_path, monkeypatch):
    pytest.importorskip("clearml")
    monkeypatch.setenv("CLEARML_CACHE_DIR", str(tmp_path / "cache"))
    run_dir = tmp_path / "root" / "toy" / "run"
    run_dir.mkdir(parents=True)
    (tmp_path / "artifact.txt").write_text("hello")
    tracker = make_tracker(TrackerConfig(backend="clearml", offline=True), run_dir, "t")
    tracker.log_params({"train": {"lr": 0.1}})
    tracker.log_metrics({"retention/ewc": 0.9}, step=3)
    tracker.log_artifact(tmp_path / "artifact.txt")
    tracker.close()
    zips = list((tmp_path / "cache" / "offline").glob("*.zip"))
    assert len(zips) == 1
    with zipfile.ZipFile(zips[0]) as archive:
        names = archive.namelist()
        metrics = "".join(archive.read(n).decode(errors="ignore") for n in names if "metric" in n)
    assert "retention" in metrics and "0.9" in metrics


@pytest.mark.slow
def test_mlflow_sqlite(tmp_path):
    mlflow = pytest.importorskip("mlflow")
    run_dir = tmp_path / "toy" / "run"
    run_dir.mkdir(parents=True)
    (tmp_path / "artifact.txt").write_text("hello")
    tracker = make_tracker(TrackerConfig(backend="mlflow", project="p"), run_dir, "t")
    tracker.log_params({"train": {"lr": 0.1}})
    tracker.log_metrics({"acc": 0.5, "nan": float("nan")}, step=2)
    tracker.log_artifact(tmp_path / "artifact.txt")
    tracker.close()
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.get_run(tracker.run_id)  # type: ignore[attr-defined]
    assert run.data.metrics == {"acc": 0.5} and run.data.params == {"train.lr": "0.1"}
    assert run.info.status == "FINISHED"
    artifact_root = Path(run.info.artifact_uri.removeprefix("file://"))
    assert (artifact_root / "artifact.txt").read_text() == "hello"
