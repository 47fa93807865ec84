"""Faults against the run store: names that climb out, tampered or truncated phases, stale
downstream phases, scratch of live processes, concurrent writers."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from axionlab.errors import ConfigError, DataError
from axionlab.repro import stable_hash
from axionlab.runs import (
    PhaseError,
    PhaseMissing,
    Run,
    RunLocked,
    check_name,
    phase_key,
    read_npz,
    write_npz,
)
from axionlab.runs.lock import HOST


def make_run(root: Path) -> Run:
    return Run.create(root, "toy", "1", "protocol: toy\n", "abc123")


def write_x(value: float):
    def compute(d: Path) -> dict[str, float]:
        write_npz(d / "x.npz", {"x": np.full(3, value)})
        return {"value": value}

    return compute


@pytest.mark.parametrize(
    "name", ["x/../../victim", "..", ".hidden", "", "a b", "a\n", "ü", "x" * 129, "/abs", 3]
)
def test_check_name_refuses_path_like_names(name):
    with pytest.raises(ConfigError, match=r"is not a valid name.*folder name"):
        check_name("unit id", name)


@pytest.mark.parametrize("name", ["digits__mlp__s0", "plane_0", "n4_haar_k2_random_0.1", "A-1"])
def test_check_name_accepts_store_names(name):
    assert check_name("unit id", name) == name


def test_traversal_unit_id_never_touches_a_sibling_run(tmp_path):
    victim = make_run(tmp_path)
    victim.phase("digits__mlp", "train", "k", write_x(1.0))
    before = {p: p.read_bytes() for p in victim.path.rglob("*") if p.is_file()}
    attacker = make_run(tmp_path)
    evil = f"x/../../{victim.path.name}/units/digits__mlp"
    for unit, phase in [(evil, "train"), ("digits__mlp", "../../x"), ("u", "..")]:
        with pytest.raises(ConfigError, match="is not a valid name"):
            attacker.phase(unit, phase, "other", write_x(2.0))
    assert {p: p.read_bytes() for p in victim.path.rglob("*") if p.is_file()} == before


def test_symlinked_unit_dir_pointing_outside_is_refused(tmp_path):
    victim = make_run(tmp_path)
    victim.phase("u", "train", "k", write_x(1.0))
    attacker = make_run(tmp_path)
    (attacker.path / "units").mkdir()
    (attacker.path / "units" / "u").symlink_to(victim.unit_dir("u"))
    with pytest.raises(ConfigError, match="outside the run directory"):
        attacker.phase("u", "train", "other", write_x(2.0))
    assert read_npz(victim.phase_dir("u", "train") / "x.npz")["x"][0] == 1.0


def test_manifest_records_checksums_and_verified_reuse(tmp_path):
    run = make_run(tmp_path)
    rec = run.phase("u", "p", phase_key("1", {}), write_x(1.0))
    manifest = json.loads((rec.path / "manifest.json").read_text())
    assert set(manifest["files"]) == {"x.npz"} and len(manifest["files"]["x.npz"]) == 64
    assert manifest["format"] == 2 and "manifest_sha256" in manifest
    again = Run(run.path).phase("u", "p", phase_key("1", {}), write_x(9.0))
    assert again.reused and again.digest == rec.digest


def _tamper(path: Path) -> None:
    write_npz(path, {"x": np.full(3, 666.0)})


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:50])


def _delete(path: Path) -> None:
    path.unlink()


def _short_manifest(path: Path) -> None:
    (path.parent / "manifest.json").write_text('{"unit": "u", "phase": "p", "key": "')


def _edited_summary(path: Path) -> None:
    manifest = path.parent / "manifest.json"
    entry = json.loads(manifest.read_text())
    entry["summary"]["value"] = 666.0
    manifest.write_text(json.dumps(entry))


FAULTS = [_tamper, _truncate, _delete, _short_manifest, _edited_summary]


@pytest.mark.parametrize("fault", FAULTS)
def test_corrupt_phase_is_refused_when_verifying_and_redone_when_computing(tmp_path, fault):
    run = make_run(tmp_path)
    key = phase_key("1", {})
    rec = run.phase("u", "p", key, write_x(1.0))
    fault(rec.path / "x.npz")
    fresh = Run(run.path)
    assert fresh.completed("u", "p") is None
    with fresh.verifying(), pytest.raises(PhaseError, match=r"manifest\.json|x\.npz") as info:
        fresh.phase("u", "p", key, write_x(2.0))
    assert len(str(info.value).splitlines()) == 1
    healed = fresh.phase("u", "p", key, write_x(2.0))
    assert not healed.reused and read_npz(healed.path / "x.npz")["x"][0] == 2.0
    assert Run(run.path).verified("u", "p", key).summary == {"value": 2.0}


def test_verify_only_never_computes_and_checks_the_key(tmp_path):
    run = make_run(tmp_path)
    run.phase("u", "p", phase_key("1", {"a": 1}), write_x(1.0))
    checker = Run(run.path, verify_only=True)
    with pytest.raises(PhaseError, match=r"does not match the key .* the config gives"):
        checker.phase("u", "p", phase_key("1", {"a": 2}), write_x(2.0))
    with pytest.raises(PhaseMissing, match=r"not complete.*--resume"):
        checker.phase("u", "q", phase_key("1", {}), write_x(2.0))
    assert not run.phase_dir("u", "q").exists()
    assert checker.phase("u", "p", phase_key("1", {"a": 1}), write_x(2.0)).summary == {"value": 1.0}


def _chain(run: Run, value: float) -> tuple:
    up = run.phase("u", "up", phase_key("1", {}), write_x(value))

    def down(d: Path) -> dict[str, float]:
        x = read_npz(up.path / "x.npz")["x"]
        write_npz(d / "y.npz", {"y": 2 * x})
        return {"y": float(2 * x[0])}

    return up, run.phase("u", "down", phase_key("1", {}, [up]), down)


def test_recomputed_input_with_new_content_makes_downstream_stale(tmp_path):
    run = make_run(tmp_path)
    up, down = _chain(run, 1.0)
    _truncate(up.path / "x.npz")
    # A crash right after the upstream phase healed must still redo the downstream one.
    Run(run.path).phase("u", "up", phase_key("1", {}), write_x(5.0))
    with pytest.raises(PhaseError, match=r"inputs .*u/up.* changed"):
        _chain(Run(run.path, verify_only=True), 0.0)
    up2, down2 = _chain(Run(run.path), 7.0)
    assert up2.reused and not down2.reused and down2.summary == {"y": 10.0}
    assert down2.key == down.key  # keys are unchanged; the content digest decides


def test_untouched_chain_is_reused_and_keys_are_unchanged(tmp_path):
    run = make_run(tmp_path)
    up, down = _chain(run, 1.0)
    legacy = stable_hash({"version": "1", "config": {}, "inputs": [up.key]}, length=16)
    assert down.key == legacy  # the same keys as before digests were recorded
    up2, down2 = _chain(Run(run.path), 3.0)
    assert up2.reused and down2.reused and down2.summary == {"y": 2.0}


def test_format1_manifest_without_checksum_or_inputs_still_reads(tmp_path):
    run = make_run(tmp_path)
    rec = run.phase("u", "p", phase_key("1", {}), write_x(1.0))
    manifest = rec.path / "manifest.json"
    entry = json.loads(manifest.read_text())
    for field in ("format", "manifest_sha256", "inputs"):
        entry.pop(field)
    manifest.write_text(json.dumps(entry))
    assert Run(run.path).phase("u", "p", phase_key("1", {}), write_x(2.0)).reused


def test_scratch_of_a_live_owner_survives_cleanup(tmp_path):
    run = make_run(tmp_path)
    unit = run.unit_dir("u")
    unit.mkdir(parents=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        names = {
            "live": f".p.tmp-{HOST}-{live.pid}-abcd1234",
            "dead": f".p.tmp-{HOST}-{dead.pid}-abcd1234",
            "legacy": ".p.tmp-abcd1234",
            "other_host": f".p.tmp-elsewhere-{os.getpid()}-abcd1234",
        }
        for name in names.values():
            (unit / name).mkdir()
            (unit / name / "partial").write_text("half")
        removed = {p.name for p in Run(run.path).clean_scratch()}
        assert removed == {names["dead"], names["legacy"]}
        assert (unit / names["live"] / "partial").is_file()
        assert (unit / names["other_host"]).is_dir()
    finally:
        live.kill()
        live.wait()


_HOLD = """
import sys, time
from axionlab.runs import Run
with Run(sys.argv[1]).writing():
    print("locked", flush=True)
    time.sleep(60)
"""


def test_one_live_writer_per_run_and_a_dead_writers_lock_is_taken_over(tmp_path):
    run = make_run(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(run.path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLocked, match=f"being written by process {holder.pid} on"):
            with run.writing():
                pass
    finally:
        holder.kill()
        holder.wait()
    assert json.loads((run.path / ".writer.lock").read_text())["pid"] == holder.pid
    with run.writing():  # the dead holder's lock file is taken over
        assert json.loads((run.path / ".writer.lock").read_text())["pid"] == os.getpid()


def test_unreadable_run_json_and_config_are_one_line_errors(tmp_path):
    run = make_run(tmp_path)
    (run.path / "config.yaml").write_bytes("protocol: [toy\n".encode("utf-16"))
    with pytest.raises(ConfigError, match=r"config\.yaml is not a readable YAML config"):
        run.config_data()
    (run.path / "config.yaml").write_text("protocol: [toy\n")
    with pytest.raises(ConfigError, match=r"config\.yaml is not a readable YAML config"):
        run.config_data()
    (run.path / "run.json").write_text("{")
    with pytest.raises(DataError, match=r"run\.json is unreadable"):
        Run.open(run.path)
