"""The continual protocol end to end on the smoke config: determinism, tables, matrices, errors."""

import math
from pathlib import Path

import pytest

from axionlab.cli import main
from axionlab.continual import average_accuracy
from axionlab.protocols.continual.analysis import read_tables
from axionlab.protocols.runner import execute, load_config
from axionlab.runs import Run, read_csv, read_npz

ROOT = Path(__file__).resolve().parents[3]
SMOKE = ROOT / "configs" / "continual" / "smoke.yaml"
pytestmark = pytest.mark.slow


def test_same_config_and_seed_identical_tables(smoke_run, tmp_path):  # type: ignore[no-untyped-def]
    again = execute(load_config(SMOKE), runs_dir=tmp_path)
    for name in ("results.csv", "summary.csv"):
        assert (again.path / name).read_bytes() == (smoke_run.path / name).read_bytes()


def test_results_columns_and_names(smoke_run):  # type: ignore[no-untyped-def]
    rows = read_csv(smoke_run.path / "results.csv")
    assert list(rows[0])[:7] == [
        "scenario",
        "strategy",
        "label",
        "seed",
        "avg_acc",
        "bwt",
        "forgetting",
    ]
    assert [(r["scenario"], r["strategy"]) for r in rows] == [
        (scenario, strategy)
        for scenario in ("class_il", "task_il")
        for strategy in ("naive", "ewc", "replay")
    ]
    summary = read_csv(smoke_run.path / "summary.csv")
    assert len(summary) == len(rows)  # one seed: one summary row per unit
    assert {"avg_acc", "avg_acc_low", "avg_acc_high", "n"} <= set(summary[0])


def test_avg_acc_matches_stored_matrix(smoke_run):  # type: ignore[no-untyped-def]
    for row in read_csv(smoke_run.path / "results.csv"):
        matrix = read_npz(smoke_run.path / "units" / row["unit"] / "stream" / "accuracy.npz")[
            "accuracy"
        ]
        assert matrix.shape == (2, 2)
        assert 0.0 <= float(row["avg_acc"]) <= 1.0
        assert float(row["avg_acc"]) == average_accuracy(matrix)


def test_report_has_figures(smoke_run):  # type: ignore[no-untyped-def]
    report = smoke_run.path / "report"
    html = (report / "report.html").read_text()
    for figure in ("avg_acc", "accuracy_matrices"):
        assert (report / "figures" / f"{figure}.png").stat().st_size > 1000
        assert f"figures/{figure}.png" in html


def test_unknown_strategy_is_one_line_error(capsys):  # type: ignore[no-untyped-def]
    assert main(["check", str(SMOKE), "--set", "strategies.1.name=ewcc"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert "Did you mean 'ewc'" in err


def test_a_diverged_unit_is_recorded_excluded_and_named(tmp_path, capsys):  # type: ignore[no-untyped-def]
    args = ["run", str(SMOKE), "--runs-dir", str(tmp_path), "--set", "stream.scenarios=[class_il]"]
    args += ["--set", "train={optimizer: sgd, lr: 0.05, epochs: 1, batch_size: 128}"]
    args += ["--set", "strategies=[{name: naive}, {name: ewc, options: {strength: 1.0e+9}}]"]
    args += ["--set", "seeds=[0, 1]"]
    assert main(args) == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    tables = read_tables(Run(run))
    rows = {(r["label"], r["seed"]): r for r in tables.results}
    for seed in (0, 1):
        ewc, naive = rows[("ewc", seed)], rows[("naive", seed)]
        assert ewc["diverged"] is True and ewc["diverged_task"] == 1
        step, acc = ewc["diverged_step"], ewc["avg_acc"]
        assert isinstance(step, int) and step >= 1
        assert isinstance(acc, float) and math.isnan(acc)
        acc = naive["avg_acc"]
        assert naive["diverged"] is False and isinstance(acc, float) and acc > 0
    summary = {r["label"]: r for r in tables.summary}
    assert (summary["ewc"]["n"], summary["ewc"]["n_diverged"]) == (0, 2)
    assert (summary["naive"]["n"], summary["naive"]["n_diverged"]) == (2, 0)
    report = (run / "report" / "report.md").read_text()
    assert "class_il__ewc__s0 in task 1 at step" in report
