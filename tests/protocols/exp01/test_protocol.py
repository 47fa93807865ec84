"""EXP-01 end to end on the smoke config: determinism, resume after SIGKILL, outputs, errors."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from axionlab.cli import main
from axionlab.protocols.runner import execute, load_config
from axionlab.runs import read_csv, read_npz

ROOT = Path(__file__).resolve().parents[3]
SMOKE = ROOT / "configs" / "exp01" / "smoke.yaml"
pytestmark = pytest.mark.slow


def test_outputs_and_columns(smoke_run):
    rows = read_csv(smoke_run.path / "units.csv")
    assert [r["arch"] for r in rows] == ["mlp", "cnn", "mixer_mini"]
    for column in (
        "dataset",
        "family",
        "params",
        "seed",
        "task_a_acc",
        "h0_total_persistence",
        "h1_total_persistence",
        "legacy_h0_total",
        "window_mean_loss",
        "hessian_top_eig",
        "hessian_trace",
        "fisher_trace",
        "aurc_naive",
        "aurc_ewc",
        "ret@10_naive",
        "ewc_benefit",
        "h0_total_persistence_std",
    ):
        assert column in rows[0], column
    for r in rows:
        assert 0.0 <= float(r["task_a_acc"]) <= 1.0
        assert float(r["ewc_benefit"]) == pytest.approx(
            float(r["aurc_ewc"]) - float(r["aurc_naive"])
        )
    table = read_csv(smoke_run.path / "correlations.csv")
    assert list(table[0]) == [
        "predictor",
        "outcome",
        "dataset",
        "n",
        "rho",
        "p",
        "tau",
        "perm_p",
        "ci_low",
        "ci_high",
        "p_holm",
        "p_bonf",
        "partial_rho",
        "partial_p",
    ]
    # One dataset: no pooled rows, which would duplicate these and double the Holm family.
    assert {r["dataset"] for r in table} == {"digits"}
    report = smoke_run.path / "report"
    html = (report / "report.html").read_text()
    for figure in ("planes", "forgetting", "correlations", "scatter"):
        assert (report / "figures" / f"{figure}.png").stat().st_size > 1000
        assert f"figures/{figure}.png" in html


def test_plane_centre_is_trained_point_and_legacy_identity(smoke_run):
    rows = read_csv(smoke_run.path / "units.csv")
    for unit in (r["unit"] for r in rows):
        plane = read_npz(smoke_run.path / "units" / unit / "plane_0" / "plane.npz")
        mid = len(plane["alphas"]) // 2
        assert plane["alphas"][mid] == 0.0 and plane["betas"][mid] == 0.0
        values = plane["values"]
        diagrams = read_npz(smoke_run.path / "units" / unit / "topology_0" / "diagrams.npz")
        h0 = diagrams["h0"]
        true_total = np.sum(np.diff(h0[np.isfinite(h0[:, 1])], axis=1))
        legacy = diagrams["legacy_h0"]
        legacy_total = np.sum(np.diff(legacy[np.isfinite(legacy[:, 1])], axis=1))
        # Ripser computes in float32, hence the tolerance.
        expected = values.sum() - values.min() + true_total
        assert legacy_total == pytest.approx(expected, rel=1e-5)
        assert len(legacy[np.isfinite(legacy[:, 1])]) == values.size - 1


def test_same_config_and_seed_identical_tables(smoke_run, tmp_path):
    again = execute(load_config(SMOKE), runs_dir=tmp_path)
    for name in ("units.csv", "correlations.csv"):
        assert (again.path / name).read_bytes() == (smoke_run.path / name).read_bytes()


def _manifests(run_dir: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in run_dir.glob("units/*/*/manifest.json")}


def test_sigkill_then_resume_finishes_with_same_numbers(smoke_run, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "axionlab.cli", "run", str(SMOKE), "--runs-dir", str(tmp_path)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    run_dir = None
    while time.monotonic() < deadline and proc.poll() is None:
        dirs = list((tmp_path / "exp01").glob("*")) if (tmp_path / "exp01").is_dir() else []
        if dirs and len(_manifests(dirs[0])) >= 6:
            run_dir = dirs[0]
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    assert run_dir is not None and proc.returncode == -signal.SIGKILL, "run ended before the kill"
    before = _manifests(run_dir)
    total = 3 * (1 + 2 * 2 + 1 + 1 + 2)  # task A, planes + topology, curvature, structure, B
    assert 6 <= len(before) < total
    resumed = subprocess.run(
        [*cmd, "--resume", str(run_dir)], env=env, capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip().splitlines()[-1] == str(run_dir)
    after = _manifests(run_dir)
    assert len(after) == total
    assert all(after[p] == mtime for p, mtime in before.items()), "complete phases were redone"
    for name in ("units.csv", "correlations.csv"):
        assert (run_dir / name).read_bytes() == (smoke_run.path / name).read_bytes()


def test_user_errors(tmp_path, capsys):
    assert main(["check", str(SMOKE), "--set", "landscape.steps=8"]) == 2
    assert "landscape.steps: must be odd" in capsys.readouterr().err
    assert main(["check", str(SMOKE), "--set", "architectures.0.name=mpl"]) == 2
    assert "Unknown model 'mpl'. Did you mean 'mlp'?" in capsys.readouterr().err
    assert main(["check", str(SMOKE), "--set", "task_b.strategies=[{name: si}]"]) == 2
    assert "'si' must watch task A" in capsys.readouterr().err
    paper = ROOT / "configs" / "exp01" / "paper-cifar100.yaml"
    code = main(
        [
            "run",
            str(paper),
            "--runs-dir",
            str(tmp_path),
            "--set",
            f"datasets.0.root={tmp_path / 'missing'}",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and "cifar100" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "exp01").exists()


def test_structure_predictors_join_units_and_have_their_own_family(smoke_run):
    rows = read_csv(smoke_run.path / "units.csv")
    config = load_config(SMOKE)
    columns = config.structure.columns()  # type: ignore[attr-defined]
    assert "basin_radius_abs0.1" in columns and "nc1" in columns and "spectra_alpha" in columns
    for r in rows:
        assert r["structure_reason"] == ""
        for c in columns:
            assert np.isfinite(float(r[c])), c
        assert 0.0 <= float(r["nc4"]) <= 1.0 and 0.0 < float(r["basin_area_abs0.1"]) <= 1.0
        # a larger rise is reached no sooner along the same directions
        assert float(r["basin_radius_abs0.5"]) >= float(r["basin_radius_abs0.1"])
    family = read_csv(smoke_run.path / "tables" / "correlations_structure.csv")
    assert {r["predictor"] for r in family} == set(columns)
    ridge = read_csv(smoke_run.path / "tables" / "ridge.csv")
    baselines = {r["baseline"] for r in ridge}
    assert len(baselines) == 2 and any("nc1" in b and "spectra_alpha" in b for b in baselines)
    assert "Structural predictors" in (smoke_run.path / "report" / "report.md").read_text()
