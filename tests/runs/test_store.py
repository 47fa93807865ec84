import json
import multiprocessing as mp
import os
from pathlib import Path

import numpy as np
import pytest

from axionlab.errors import UserError
from axionlab.runs import (
    Run,
    RunIndex,
    phase_key,
    read_csv,
    read_npz,
    rebuild_index,
    write_csv,
    write_json,
    write_npz,
)


def make_run(tmp_path: Path) -> Run:
    return Run.create(tmp_path, "toy", "1", "protocol: toy\n", "abc123")


def test_layout_and_provenance(tmp_path):
    run = make_run(tmp_path)
    assert run.path.parent == tmp_path / "toy"
    assert (run.path / "config.yaml").read_text() == "protocol: toy\n"
    env = json.loads((run.path / "env.json").read_text())
    assert "packages" in env and "git_commit" in env
    assert run.info["status"] == "running"
    assert RunIndex(tmp_path).runs()[0]["status"] == "running"


def test_phase_computed_once_and_reused_untouched(tmp_path):
    run = make_run(tmp_path)
    calls = []

    def compute(d: Path):
        calls.append(1)
        write_npz(d / "a.npz", {"x": np.arange(3.0)})
        return {"total": 3.0}

    key = phase_key("1", {"lr": 0.1})
    rec = run.phase("u0", "train", key, compute)
    mtime = (rec.path / "a.npz").stat().st_mtime_ns
    again = run.phase("u0", "train", key, compute)
    assert calls == [1] and again.reused and again.summary == {"total": 3.0}
    assert (again.path / "a.npz").stat().st_mtime_ns == mtime
    manifest = json.loads((rec.path / "manifest.json").read_text())
    assert set(manifest["files"]) == {"a.npz"} and manifest["key"] == key


def test_changed_key_recomputes(tmp_path):
    run = make_run(tmp_path)
    run.phase("u0", "p", phase_key("1", {"a": 1}), lambda d: {"v": 1})
    rec = run.phase("u0", "p", phase_key("1", {"a": 2}), lambda d: {"v": 2})
    assert rec.summary == {"v": 2} and not rec.reused
    upstream = run.phase("u0", "p", phase_key("2", {"a": 2}), lambda d: {"v": 3})
    assert phase_key("1", {}, [upstream]) != phase_key("1", {}, [rec])


def test_failed_phase_leaves_nothing_complete(tmp_path):
    run = make_run(tmp_path)

    def boom(d: Path):
        (d / "partial.txt").write_text("half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run.phase("u0", "p", "k", boom)
    assert run.completed("u0", "p") is None
    assert not list(run.unit_dir("u0").glob(".*tmp*"))
    assert RunIndex(tmp_path).phases(run.path)[0]["status"] == "failed"


def _die_mid_phase(run_dir: str) -> None:
    run = Run(run_dir)

    def compute(d: Path):
        (d / "partial.txt").write_text("half")
        os._exit(9)  # like SIGKILL: no cleanup runs

    run.phase("u0", "p", "k", compute)


def test_killed_phase_is_redone_and_scratch_cleaned(tmp_path):
    run = make_run(tmp_path)
    proc = mp.get_context("spawn").Process(target=_die_mid_phase, args=(str(run.path),))
    proc.start()
    proc.join()
    assert proc.exitcode == 9
    assert run.completed("u0", "p") is None
    run.clean_scratch()
    assert not list(run.unit_dir("u0").iterdir())
    assert run.phase("u0", "p", "k", lambda d: {"ok": True}).summary == {"ok": True}


def test_open_rejects_non_run(tmp_path):
    with pytest.raises(UserError, match="is not a run directory"):
        Run.open(tmp_path)


def test_index_rebuilt_from_manifests(tmp_path):
    run = make_run(tmp_path)
    run.phase("u0", "a", "k1", lambda d: None)
    run.phase("u1", "a", "k2", lambda d: None)
    run.set_status("complete")
    before = RunIndex(tmp_path).runs()
    (tmp_path / "index.db").unlink()
    after = rebuild_index(tmp_path).runs()
    assert (
        [(r["run_dir"], r["status"], r["units"], r["phases_complete"]) for r in before]
        == [(r["run_dir"], r["status"], r["units"], r["phases_complete"]) for r in after]
        == [(str(run.path), "complete", 2, 2)]
    )


def _hammer_index(args: tuple[str, int]) -> None:
    root, worker = args
    index = RunIndex(root)
    for i in range(40):
        index.record_phase(Path(root) / "r", f"u{worker}", f"p{i}", "k", "complete")


def test_index_safe_for_concurrent_writers(tmp_path):
    with mp.get_context("spawn").Pool(2) as pool:
        pool.map(_hammer_index, [(str(tmp_path), 0), (str(tmp_path), 1)])
    assert len(RunIndex(tmp_path).phases(tmp_path / "r")) == 80


def test_atomic_writers_round_trip(tmp_path):
    write_json(tmp_path / "a.json", {"x": np.float32(1.5), "n": float("nan")})
    assert json.loads((tmp_path / "a.json").read_text())["x"] == 1.5
    arr = np.random.default_rng(0).random((3, 4))
    write_npz(tmp_path / "b.npz", {"a": arr})
    assert np.array_equal(read_npz(tmp_path / "b.npz")["a"], arr)
    write_csv(tmp_path / "c.csv", [{"a": 0.1 + 0.2, "b": "x"}, {"a": 1}])
    rows = read_csv(tmp_path / "c.csv")
    assert float(rows[0]["a"]) == 0.1 + 0.2 and rows[1]["b"] == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.npz", "c.csv"]
