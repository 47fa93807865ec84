"""The run index under faults: bad manifests on rebuild, a garbage index.db, a read-only archive."""

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from axionlab.runs import IndexCorrupt, Run, RunIndex, rebuild_index


def make_run(root: Path, units: int = 2) -> Run:
    run = Run.create(root, "toy", "1", "protocol: toy\n", "abc123")
    for i in range(units):
        run.phase(f"u{i}", "p", f"k{i}", lambda d: None)
    run.set_status("complete")
    return run


def rows(index: RunIndex) -> list[tuple]:
    return [(r["run_dir"], r["status"], r["units"], r["phases_complete"]) for r in index.runs()]


def test_rebuild_skips_and_reports_bad_manifests_and_run_json(tmp_path, caplog):
    good = make_run(tmp_path)
    broken = make_run(tmp_path)
    (broken.phase_dir("u0", "p") / "manifest.json").write_text('{"unit": "u0", "pha')
    bad_run = make_run(tmp_path)
    (bad_run.path / "run.json").write_bytes(b"\xff\xfe garbage")
    index = rebuild_index(tmp_path)
    assert sorted(rows(index)) == sorted(
        [(str(good.path), "complete", 2, 2), (str(broken.path), "complete", 1, 1)]
    )
    assert len(index.skipped) == 2 and "unreadable manifest" in " ".join(index.skipped)
    assert "skipped" in caplog.text and "run.json" in caplog.text
    assert not list(tmp_path.glob(".index.db.rebuild-*"))


def test_rebuild_that_fails_leaves_the_old_index(tmp_path, monkeypatch):
    run = make_run(tmp_path)
    before = rows(RunIndex(tmp_path))

    def boom(*args, **kwargs):
        raise RuntimeError("crash while rebuilding")

    monkeypatch.setattr("axionlab.runs.index._fill", boom)
    with pytest.raises(RuntimeError):
        rebuild_index(tmp_path)
    assert rows(RunIndex(tmp_path)) == before == [(str(run.path), "complete", 2, 2)]
    assert not list(tmp_path.glob(".index.db.rebuild-*"))


def test_garbage_index_says_rebuild_repairs_it(tmp_path):
    run = make_run(tmp_path)
    (tmp_path / "index.db").write_bytes(b"not sqlite at all" * 64)
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp_path / 'index.db'}{suffix}").unlink(missing_ok=True)
    with pytest.raises(IndexCorrupt, match=r"index\.db is not a readable run index.*ls --rebuild"):
        RunIndex(tmp_path).runs()
    with pytest.raises(IndexCorrupt, match="ls --rebuild"):
        run.set_status("failed")
    assert rows(rebuild_index(tmp_path)) == [(str(run.path), "failed", 2, 2)]


def test_listing_never_writes_and_scans_manifests_without_an_index(tmp_path):
    run = make_run(tmp_path)
    for name in ("index.db", "index.db-wal", "index.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert rows(RunIndex(tmp_path)) == [(str(run.path), "complete", 2, 2)]
    assert sorted(p.name for p in tmp_path.iterdir()) == before


_LS = "import sys; from axionlab.cli import main; sys.exit(main(['ls', '--runs-dir', sys.argv[1]]))"


def _read_only(cmd: list[str], root: Path) -> list[str]:
    """``cmd`` run with ``root`` read-only: chmod for users, a read-only bind mount for root."""
    if os.geteuid() != 0:
        for path in [root, *root.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        return cmd
    if shutil.which("unshare") is None:
        pytest.skip("root without unshare cannot make a read-only directory")
    script = f'mount --bind "{root}" "{root}" && mount -o remount,bind,ro "{root}" && exec "$@"'
    probe = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", "true"], check=False)
    if probe.returncode != 0:
        pytest.skip("no mount namespace here to make a read-only directory")
    return ["unshare", "-m", "sh", "-c", script, "sh", *cmd]


@pytest.mark.parametrize("index", ["checkpointed", "live-wal", "none"])
def test_ls_reads_a_read_only_archive(tmp_path, index):
    run = make_run(tmp_path)
    writer = sqlite3.connect(tmp_path / "index.db")
    if index == "none":
        (tmp_path / "index.db").unlink()
    elif index == "live-wal":  # copied while a writer had frames not yet checkpointed
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("UPDATE runs SET updated = 'later'")
        writer.commit()
        assert Path(f"{tmp_path / 'index.db'}-wal").stat().st_size > 0
    cmd = _read_only([sys.executable, "-c", _LS, str(tmp_path)], tmp_path)
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    finally:
        writer.close()
        for path in [tmp_path, *tmp_path.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
    assert result.returncode == 0, result.stderr
    assert "complete" in result.stdout and str(run.path) in result.stdout
    assert "Traceback" not in result.stderr
