"""EXP-03 end to end on the smoke config: determinism, columns, measure properties, user errors."""

import math
from pathlib import Path

import pytest

from axionlab.cli import main
from axionlab.protocols.exp03.analysis import GAUSSIAN_COLUMNS, read_tables, unit_columns
from axionlab.protocols.runner import execute, load_config
from axionlab.runs import Run, read_csv

ROOT = Path(__file__).resolve().parents[3]
SMOKE = ROOT / "configs" / "exp03" / "smoke.yaml"
pytestmark = pytest.mark.slow


def test_outputs_and_columns(smoke_run):
    rows = read_csv(smoke_run.path / "units.csv")
    assert list(rows[0]) == unit_columns()
    assert [(r["dataset"], r["arch"], r["kind"]) for r in rows] == [
        ("mnist1d", "elman", "recurrent"),
        ("mnist1d", "gru", "recurrent"),
        ("mnist1d", "rmlp", "recurrent"),
        ("digits", "mlp", "feedforward"),
    ]
    table = read_csv(smoke_run.path / "correlations.csv")
    assert {r["dataset"] for r in table} == {"mnist1d", "digits", "all"}
    assert {r["outcome"] for r in table} == {"gap", "test_acc", "noise_acc", "fgsm_acc"}
    assert {"phi_g_mib", "big_phi", "ei", "log_params"} <= {r["predictor"] for r in table}
    html = (smoke_run.path / "report" / "report.html").read_text()
    for figure in ("null", "correlations", "scatter"):
        assert (smoke_run.path / "report" / "figures" / f"{figure}.png").stat().st_size > 1000
        assert f"figures/{figure}.png" in html


def test_measure_properties(smoke_run):
    for r in read_csv(smoke_run.path / "units.csv"):
        v = {
            k: float(r[k])
            for k in (
                "train_acc",
                "test_acc",
                "gap",
                "noise_acc",
                "fgsm_acc",
                "ei",
                *GAUSSIAN_COLUMNS,
            )
        }
        assert v["gap"] == pytest.approx(v["train_acc"] - v["test_acc"])
        assert all(0 <= v[k] <= 1 for k in ("train_acc", "test_acc", "noise_acc", "fgsm_acc"))
        assert 0 <= v["ei"] <= 3  # 3 binary nodes carry at most 3 bits
        if r["kind"] == "feedforward":
            assert all(math.isnan(v[c]) for c in GAUSSIAN_COLUMNS)
            continue
        assert r["reason"] == ""
        assert int(r["n_transitions"]) == int(r["n_trials"]) * 39
        for p in ("atomic", "mib"):
            assert 0 <= v[f"phi_g_{p}"] <= v[f"si_{p}"] + 1e-9
            assert 0 <= v[f"phi_star_{p}"] <= v["mi"] + 1e-9
        assert float(r["big_phi"]) <= float(r["big_phi_max"])


def test_same_config_and_seed_identical_tables(smoke_run, tmp_path):
    again = execute(load_config(SMOKE), runs_dir=tmp_path)
    for name in ("units.csv", "correlations.csv"):
        assert (again.path / name).read_bytes() == (smoke_run.path / name).read_bytes()


def test_user_errors(tmp_path, capsys):
    assert main(["check", str(SMOKE), "--set", "datasets.1.architectures=[mpl]"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert "['mpl'], which are not architecture labels" in err
    assert main(["check", str(SMOKE), "--set", "phi_exact.nodes=6"]) == 2
    assert "phi_exact.nodes" in capsys.readouterr().err
    code = main(
        [
            "run",
            str(SMOKE),
            "--runs-dir",
            str(tmp_path),
            "--set",
            "datasets.1.architectures=[elman]",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "architecture 'elman' on dataset 'digits'" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "exp03").exists()


def test_degenerate_unit_is_a_recorded_state(tmp_path, monkeypatch):
    """One diverged net: its outcomes and measures are nan with reasons, the others analysed."""
    import dataclasses

    import torch

    import axionlab.protocols.exp03.protocol as exp03

    real = exp03.train

    def diverging(model, data, config, **kw):
        result = real(model, data, config, **kw)
        if getattr(model, "family", "") == "gru":
            with torch.no_grad():
                next(model.parameters()).fill_(math.nan)
            return dataclasses.replace(result, diverged_step=result.steps)
        return result

    monkeypatch.setattr(exp03, "train", diverging)
    assert main(["run", str(SMOKE), "--runs-dir", str(tmp_path), "--set", "train.epochs=1"]) == 0
    (run,) = [p.parent for p in tmp_path.glob("*/*/units.csv")]
    tables = read_tables(Run(run))
    rows = {r["arch"]: r for r in tables.units}
    bad = rows["gru"]
    assert bad["diverged"] is True and bad["train_reason"] == "train_diverged"
    for column in ("test_acc", "gap", "noise_acc", "fgsm_acc", "big_phi", "ei", *GAUSSIAN_COLUMNS):
        value = bad[column]
        assert isinstance(value, float) and math.isnan(value), column
    assert bad["reason"] == bad["phi_exact_reason"] == bad["robustness_reason"] == "train_diverged"
    for arch in ("elman", "rmlp", "mlp"):
        gap = rows[arch]["gap"]
        assert rows[arch]["train_reason"] == "" and isinstance(gap, float) and math.isfinite(gap)
    pooled = tables.pooled.where(predictor="log_params", outcome="gap")
    assert pooled.column("n") == [3]
    exclusions = read_csv(run / "tables" / "exclusions.csv")
    assert [(e["unit"], e["reason"]) for e in exclusions] == [
        ("mnist1d__gru__s0", "train_diverged")
    ]
    report = (run / "report" / "report.md").read_text()
    assert "mnist1d__gru__s0 training (every outcome and measure): train_diverged" in report
