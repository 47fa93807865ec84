"""EXP-02 end to end on the smoke config: determinism, tables, the Cover calibration, errors."""

import dataclasses
import json
import math
from pathlib import Path

import pytest

import axionlab.capacity.profile as profile
import axionlab.protocols.exp02.protocol as exp02
from axionlab.capacity import cover_probability
from axionlab.cli import main
from axionlab.protocols.runner import execute, load_config
from axionlab.runs import read_csv

ROOT = Path(__file__).resolve().parents[3]
SMOKE = ROOT / "configs" / "exp02" / "smoke.yaml"
pytestmark = pytest.mark.slow


def test_same_config_and_seed_identical_tables(smoke_run, tmp_path):
    again = execute(load_config(SMOKE), runs_dir=tmp_path)
    for name in ("results.csv", "fits.csv", "verdict.json"):
        assert (again.path / name).read_bytes() == (smoke_run.path / name).read_bytes()


def test_results_fits_and_verdicts(smoke_run):
    rows = read_csv(smoke_run.path / "results.csv")
    assert len({r["unit"] for r in rows}) == len(rows) == 7
    for column in (
        "kind",
        "group",
        "total_params",
        "trainable_params",
        "interface_params",
        "hidden_min_cut",
        "bottleneck_width",
        "cut_params",
        "partition_cut",
        "mem_samples",
        "mem_bits",
        "mem_bits_ci_low",
        "mem_bits_ci_high",
        "mem_n_censored",
        "bits_per_param",
        "bits_per_trainable_param",
        "cut_bits",
        "cut_bits_ci_low",
        "cut_bits_ci_high",
    ):
        assert column in rows[0], column
    for r in rows:
        assert float(r["bits_per_param"]) == pytest.approx(
            float(r["mem_bits"]) / float(r["total_params"])
        )
        assert float(r["mem_bits_ci_low"]) <= float(r["mem_bits"]) <= float(r["mem_bits_ci_high"])
        if r["group"] == "frozen":
            assert int(r["trainable_params"]) < int(r["total_params"])
    fits = read_csv(smoke_run.path / "fits.csv")
    assert {(f["hypothesis"], f["scope"]) for f in fits} == {
        (h, s) for h in ("H-mem", "H-cut") for s in ("mlp", "cnn", "all")
    }
    pooled = [f for f in fits if f["hypothesis"] == "H-mem" and f["scope"] == "all"]
    assert {f["law"] for f in pooled} == {"volume", "area"}
    assert min(float(f["delta_aic"]) for f in pooled) == 0.0
    verdicts = json.loads((smoke_run.path / "verdict.json").read_text())
    for hypothesis in ("H-mem", "H-cut"):
        v = verdicts[hypothesis]
        assert v["preferred"] in ("volume", "area", "inconclusive")
        assert v["verdict"].startswith(
            "inconclusive" if v["preferred"] == "inconclusive" else f"{v['preferred']} law"
        )
        assert (abs(v["delta_aic"]) < 2) == (v["preferred"] == "inconclusive")
    html = (smoke_run.path / "report" / "report.html").read_text()
    for figure in ("cover", "mem_capacity", "cut_capacity"):
        assert (smoke_run.path / "report" / "figures" / f"{figure}.png").stat().st_size > 1000
        assert f"figures/{figure}.png" in html


def test_cover_fifty_percent_point_is_two_n(smoke_run):
    for row in read_csv(smoke_run.path / "tables" / "cover.csv"):
        n, trials = int(row["N"]), int(row["trials"])
        # Three binomial SEs of the fraction at ½, turned into points by the closed form's slope.
        slope = (cover_probability(2 * n - 1, n) - cover_probability(2 * n + 1, n)) / 2
        tolerance = 3 * math.sqrt(0.25 / trials) / float(slope)
        assert abs(float(row["p50"]) - 2 * n) <= tolerance
    readout = read_csv(smoke_run.path / "tables" / "readout.csv")
    for r in readout:
        assert float(r["trainability_gap_bits"]) == pytest.approx(
            float(r["exact_bits"]) - float(r["trained_bits"])
        )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["family.0.kind=rnn"], "family.0.kind"),
        (["input_shape=[8]"], "a cnn needs input_shape (C, H, W)"),
        (["fit.threshold=1.5"], "threshold must be in (0, 1]"),
        (["n_classes=3", "cross.kind=bilinear"], "cross.kind 'bilinear' is binary"),
    ],
)
def test_user_errors(overrides, message, capsys):
    args = [arg for override in overrides for arg in ("--set", override)]
    assert main(["check", str(SMOKE), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err
    assert len(err.strip().splitlines()) == 1


def test_degenerate_unit_is_a_recorded_state(tmp_path, monkeypatch):
    """One censored memorization search and one architecture with a zero partition cut: both
    are recorded (reasons) and left out of the fits, the run completes and the report names them.
    """
    real_mem, real_cut = exp02.memorization_capacity, profile.partition_cut
    censored_unit = "mlp-depth-1"

    def never_separates(spec, **kw):
        result = real_mem(spec, **kw)
        if spec.name == censored_unit:
            return dataclasses.replace(result, censored=(True,) * len(result.seeds))
        return result

    def zero_cut(model, input_shape, mask, **kw):
        # The cnn family's models: a degenerate (zero) cut between the input halves.
        if any(type(m).__name__ == "Conv2d" for m in model.modules()):
            return 0
        return real_cut(model, input_shape, mask, **kw)

    monkeypatch.setattr(exp02, "memorization_capacity", never_separates)
    monkeypatch.setattr(profile, "partition_cut", zero_cut)
    args = ["run", str(SMOKE), "--runs-dir", str(tmp_path), "--set", "seeds=[0]"]
    assert main(args) == 0
    (run,) = [p.parent for p in tmp_path.glob("*/*/results.csv")]
    rows = {r["unit"]: r for r in read_csv(run / "results.csv")}
    assert rows[censored_unit]["mem_bits_reason"] == "censored"
    cnn = [u for u, r in rows.items() if r["kind"] == "cnn"]
    assert cnn and all("nonpositive_partition_cut" in rows[u]["measures_reason"] for u in cnn)
    assert all(math.isnan(float(rows[u]["cut_bits_per_partition_cut"])) for u in cnn)
    fitted = [u for u, r in rows.items() if r["kind"] == "mlp" and not r["mem_bits_reason"]]
    pooled = [
        r for r in read_csv(run / "fits.csv") if r["hypothesis"] == "H-mem" and r["scope"] == "all"
    ]
    assert {r["n"] for r in pooled} == {str(len(fitted))}
    exclusions = read_csv(run / "tables" / "exclusions.csv")
    assert {"unit": censored_unit, "what": "H-mem (mem_bits)", "reason": "censored"} in exclusions
    assert {e["unit"] for e in exclusions} >= {censored_unit, *cnn}
    report = (run / "report" / "report.md").read_text()
    assert f"{censored_unit} H-mem (mem_bits): censored" in report
    assert f"{cnn[0]} every fit" in report
