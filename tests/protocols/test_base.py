"""The protocol runner and CLI, driven by a small protocol defined here."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from axionlab.cli import main
from axionlab.config import RunConfig, Section
from axionlab.protocols.base import (
    PROTOCOLS,
    Protocol,
    Unit,
    execute,
    load_config,
    rebuild_report,
    require_phase,
)
from axionlab.repro import torch_generator
from axionlab.runs import Run, phase_key, read_csv, read_npz, write_csv, write_npz, write_text


class ToySection(Section):
    n: int = 4
    scale: float = 1.0


class ToyConfig(RunConfig):
    toy: ToySection = ToySection()
    units: list[str] = ["a", "b"]


class Toy(Protocol):
    name = "toy"
    VERSION = "1"
    Config = ToyConfig

    def plan(self, config: Any) -> list[Unit]:
        return [Unit(u, {"index": i}) for i, u in enumerate(config.units)]

    def run_unit(self, run: Run, config: Any, unit: Unit) -> None:
        def draw(d: Path) -> dict[str, float]:
            gen = torch_generator(config.seed, "toy", unit.id)
            x = torch.randn(config.toy.n, generator=gen).numpy() * config.toy.scale
            write_npz(d / "x.npz", {"x": x})
            return {"sum": float(x.sum())}

        run.phase(unit.id, "draw", phase_key(self.VERSION, config.toy.model_dump()), draw)

    def analyse(self, run: Run, config: Any) -> dict[str, float]:
        rows = [
            {
                "unit": u.id,
                "sum": float(read_npz(require_phase(run, u.id, "draw") / "x.npz")["x"].sum()),
            }
            for u in self.plan(config)
        ]
        write_csv(run.path / "tables" / "units.csv", rows)
        return {"total": sum(r["sum"] for r in rows)}

    def report(self, run: Run, config: Any) -> Path:
        rows = read_csv(run.path / "tables" / "units.csv")
        write_text(run.path / "report" / "report.md", f"{len(rows)} units\n")
        return write_text(run.path / "report" / "report.html", f"<p>{len(rows)} units</p>")


if "toy" not in PROTOCOLS:
    PROTOCOLS.add("toy", Toy)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "toy.yaml"
    path.write_text("protocol: toy\nseed: 3\ntoy:\n  n: 5\n")
    return path


def test_run_is_deterministic_and_self_describing(tmp_path, config_file):
    config = load_config(config_file)
    first = execute(config, runs_dir=tmp_path / "runs")
    second = execute(config, runs_dir=tmp_path / "runs")
    assert first.path != second.path and first.info["status"] == "complete"
    assert (first.path / "tables/units.csv").read_bytes() == (
        second.path / "tables/units.csv"
    ).read_bytes()
    stored = load_config(first.path / "config.yaml")
    assert stored == config and stored.toy.n == 5
    assert (first.path / "tracking/params.json").is_file()


def test_resume_reuses_complete_phases(tmp_path, config_file):
    config = load_config(config_file)
    run = execute(config, runs_dir=tmp_path / "runs")
    draw_a = run.phase_dir("a", "draw") / "x.npz"
    mtime = draw_a.stat().st_mtime_ns
    import shutil

    shutil.rmtree(run.phase_dir("b", "draw"))
    resumed = execute(config, runs_dir=tmp_path / "runs", resume=run.path)
    assert resumed.path == run.path and draw_a.stat().st_mtime_ns == mtime
    assert run.completed("b", "draw") is not None
    other = load_config(config_file, ["toy.n=6"])
    with pytest.raises(Exception, match="config differs"):
        execute(other, runs_dir=tmp_path / "runs", resume=run.path)


def test_report_rebuilt_from_stored_results(tmp_path, config_file):
    run = execute(load_config(config_file), runs_dir=tmp_path / "runs")
    (run.path / "report" / "report.html").unlink()
    assert rebuild_report(run.path) == run.path / "report" / "report.html"
    assert "2 units" in (run.path / "report/report.html").read_text()


def test_cli_run_prints_run_dir_last(tmp_path, config_file, capsys):
    assert (
        main(["run", str(config_file), "--runs-dir", str(tmp_path / "r"), "--set", "toy.scale=2"])
        == 0
    )
    out = capsys.readouterr().out.strip().splitlines()
    run_dir = Path(out[-1])
    assert run_dir.is_dir() and run_dir.parent.parent == tmp_path / "r"
    assert out[0] == f"report: {run_dir / 'report' / 'report.html'}"
    assert main(["ls", "--runs-dir", str(tmp_path / "r")]) == 0
    assert "complete" in capsys.readouterr().out
    assert main(["ls", "--runs-dir", str(tmp_path / "r"), "--rebuild"]) == 0
    assert str(run_dir) in capsys.readouterr().out


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["toi.n=3"], "error: unknown key 'toi' in .*toy.yaml; did you mean 'toy'?"),
        (["toy.n=many"], "error: toy.n: Input should be a valid integer.*got 'many'"),
        (["protocol=toi"], "error: Unknown protocol 'toi'. Did you mean 'toy'?"),
        (
            ["executor.kind=proces"],
            "error: executor.kind: Input should be 'inprocess', 'process' or",
        ),
    ],
)
def test_cli_user_errors_are_one_line_exit_2(config_file, capsys, overrides, message):
    args = ["check", str(config_file)]
    for item in overrides:
        args += ["--set", item]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    import re

    assert re.match(message, err), err


def test_cli_check_prints_resolved_config(config_file, capsys):
    assert main(["check", str(config_file), "--set", "seed=9"]) == 0
    out = capsys.readouterr().out
    assert "seed: 9" in out and "scale: 1.0" in out and "backend: local" in out


def test_cli_debug_shows_traceback(config_file):
    with pytest.raises(Exception, match="unknown key"):
        main(["--debug", "check", str(config_file), "--set", "bogus=1"])


def test_cli_missing_run_dir(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "is not a run directory" in capsys.readouterr().err
    assert main(["ls", "--runs-dir", str(tmp_path / "none")]) == 2


def test_units_draw_from_own_streams(tmp_path, config_file):
    run = execute(load_config(config_file), runs_dir=tmp_path / "runs")
    a = read_npz(run.phase_dir("a", "draw") / "x.npz")["x"]
    b = read_npz(run.phase_dir("b", "draw") / "x.npz")["x"]
    assert a.shape == (5,) and not np.allclose(a, b)


def test_provenance_line_names_protocol_version_and_stored_files():
    from types import SimpleNamespace

    from axionlab.protocols.base import provenance

    run = SimpleNamespace(info={"protocol": "exp01", "version": 3})
    stem = "Protocol exp01 v3; config: config.yaml; environment: env.json"
    assert provenance(run) == stem + "."
    assert provenance(run, "raw arrays under units/.") == stem + "; raw arrays under units/."
