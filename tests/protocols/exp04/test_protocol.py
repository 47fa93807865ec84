"""EXP-04 end to end on the smoke config: determinism, columns, closed forms, user errors."""

import math
from pathlib import Path

import pytest

import axionlab.protocols.exp04.protocol as exp04
from axionlab.cli import main
from axionlab.protocols.exp04.analysis import DEV, RESULT_COLUMNS, SUMMARY_COLUMNS, read_tables
from axionlab.protocols.runner import execute, load_config
from axionlab.runs import read_csv, read_npz

ROOT = Path(__file__).resolve().parents[3]
SMOKE = ROOT / "configs" / "exp04" / "smoke.yaml"
pytestmark = pytest.mark.slow


def test_same_config_and_seed_identical_tables(smoke_run, tmp_path):
    again = execute(load_config(SMOKE), runs_dir=tmp_path)
    for name in ("results.csv", "summary.csv", "tables/beyond_closed_form.csv"):
        assert (again.path / name).read_bytes() == (smoke_run.path / name).read_bytes()


def test_outputs_and_columns(smoke_run):
    config = load_config(SMOKE)
    assert list(read_csv(smoke_run.path / "results.csv")[0]) == list(RESULT_COLUMNS)
    tables = read_tables(smoke_run)
    rows = tables.results
    assert len(rows) == 2 * 2 * 2 * 2 * 2  # qubits × pools × k × orderings × noise levels
    first = str(rows.column("unit")[0])
    assert first == "n1_haar_k1_fixed_depolarizing0.1_s0"
    assert (
        (rows.floats("fidelity_final") >= 0.0) & (rows.floats("fidelity_final") <= 1 + 1e-12)
    ).all()
    assert (rows.floats("ordering_td") >= 0.0).all() and (rows.floats("entropy_var") >= 0.0).all()
    assert rows.column("n_distinct") == rows.column("diversity")
    curves = read_npz(smoke_run.path / "units" / first / "sequence" / "curves.npz")
    assert curves["lengths"].tolist() == config.sweep.lengths
    assert tables.summary.columns[-5:] == SUMMARY_COLUMNS[-5:]
    beyond = tables.beyond
    open_points = {r["point"] for r in rows if r["closed_form"] is False}
    assert set(beyond.column("point")) == open_points
    assert set(beyond.column("pool")) == {"haar"}
    report = smoke_run.path / "report"
    html = (report / "report.html").read_text()
    for figure in ("decay", "ordering_map", "entropy_var_map"):
        assert (report / "figures" / f"{figure}.png").stat().st_size > 1000
        assert f"figures/{figure}.png" in html


@pytest.mark.parametrize(
    "unit", ["n2_z_rotation_k3_random_depolarizing0.1_s0", "n1_haar_k3_fixed_depolarizing0.1_s0"]
)
def test_depolarizing_closed_forms_hold(smoke_run, unit):
    (row,) = read_tables(smoke_run).results.where(unit=unit)
    assert row["closed_form"] is True
    max_dev, dev = row["closed_form_max_dev"], row[DEV["purity"]]
    assert isinstance(max_dev, float) and max_dev <= 1e-10
    assert isinstance(dev, float) and not math.isnan(dev) and dev <= 1e-10


def test_commuting_control_has_no_ordering_effect_and_seeds_pair_the_operators(smoke_run):
    rows = {r["unit"]: r for r in read_csv(smoke_run.path / "results.csv")}
    control = rows["n2_z_rotation_k3_random_amplitude_damping0.1_s0"]
    assert float(control["ordering_td"]) <= 1e-12
    # Same seed, qubits, pool and k: the same operators whatever the ordering and noise.
    same = [
        rows[f"n2_haar_k3_{o}_{noise}_s0"]["frame_potential_2"]
        for o in ("fixed", "random")
        for noise in ("depolarizing0.1", "amplitude_damping0.1")
    ]
    assert len(set(same)) == 1


def test_user_errors(capsys):
    assert main(["check", str(SMOKE), "--set", "sweep.noise_models=[depolarising]"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert "sweep.noise_models must be one of" in err
    assert "'depolarising'. Did you mean 'depolarizing'?" in err
    assert main(["check", str(SMOKE), "--set", "sweep.lengths=[4,2,8]"]) == 2
    assert "lengths must increase" in capsys.readouterr().err
    assert main(["check", str(SMOKE), "--set", "sweep.lengths=[1,2]"]) == 2
    assert "sweep.lengths" in capsys.readouterr().err


def test_degenerate_unit_is_a_recorded_state(tmp_path, monkeypatch):
    """A non-finite fidelity curve in one unit: nan rate with its reason, the run completes."""
    import dataclasses

    import torch

    real = exp04.sequence_experiment
    bad = "n1_haar_k1_fixed_depolarizing0.1"

    def broken(n_qubits, lengths, **kw):
        result = real(n_qubits, lengths, **kw)
        if (n_qubits, kw["pool"], kw["diversity"], kw["ordering"], kw["noise"]) == (
            1,
            "haar",
            1,
            "fixed",
            "depolarizing",
        ) and kw["strength"] == pytest.approx(0.1):
            fidelity = result.fidelity.clone()
            fidelity[-1] = torch.nan
            return dataclasses.replace(result, fidelity=fidelity)
        return result

    monkeypatch.setattr(exp04, "sequence_experiment", broken)
    assert main(["run", str(SMOKE), "--runs-dir", str(tmp_path), "--set", "seeds=[0]"]) == 0
    (run,) = [p.parent for p in tmp_path.glob("*/*/results.csv")]
    rows = {r["unit"]: r for r in read_csv(run / "results.csv")}
    assert math.isnan(float(rows[f"{bad}_s0"]["fidelity_rate"]))
    assert rows[f"{bad}_s0"]["fidelity_rate_reason"] == "nonfinite_curve"
    healthy = [r for u, r in rows.items() if u != f"{bad}_s0"]
    assert all(math.isfinite(float(r["fidelity_rate"])) for r in healthy)
    assert all(r["fidelity_rate_reason"] == "" for r in healthy)
    summary = read_csv(run / "summary.csv")
    (cell,) = [r for r in summary if r["point"] == bad and r["metric"] == "fidelity_rate"]
    assert cell["n"] == "0" and cell["mean"] == "nan"
    exclusions = read_csv(run / "tables" / "exclusions.csv")
    assert exclusions == [
        {"unit": f"{bad}_s0", "what": "fidelity_rate", "reason": "nonfinite_curve"}
    ]
    report = (run / "report" / "report.md").read_text()
    assert f"{bad}_s0 fidelity_rate: nonfinite_curve" in report
