"""The protocol runner and CLI, driven by a small protocol defined here."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from axionlab.cli import main
from axionlab.config import RunConfig, Section
from axionlab.protocols.base import Protocol, Unit, UnitContext, require_phase
from axionlab.protocols.catalog import PROTOCOLS
from axionlab.protocols.runner import execute, load_config, rebuild_report
from axionlab.runs import Run, read_csv, read_npz, write_csv, write_npz, write_text


class ToySection(Section):
    n: int = 4
    scale: float = 1.0


class ToyConfig(RunConfig):
    toy: ToySection = ToySection()
    units: list[str] = ["a", "b"]


class Toy(Protocol[ToyConfig, int]):
    name = "toy"
    VERSION = "1"
    Config = ToyConfig

    def plan(self, config: ToyConfig) -> list[Unit[int]]:
        return [Unit(u, i, seed=config.seed) for i, u in enumerate(config.units)]

    def run_unit(self, ctx: UnitContext[ToyConfig, int]) -> None:
        toy = ctx.config.toy

        def draw(d: Path) -> dict[str, float]:
            x = torch.randn(toy.n, generator=ctx.generator("toy", ctx.unit.id)).numpy() * toy.scale
            write_npz(d / "x.npz", {"x": x})
            return {"sum": float(x.sum())}

        ctx.phase("draw", toy.model_dump(), draw)

    def analyse(self, run: Run, config: ToyConfig) -> dict[str, float]:
        rows = [
            {
                "unit": u.id,
                "sum": float(read_npz(require_phase(run, u.id, "draw").path / "x.npz")["x"].sum()),
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


# --- faults: each builds its bad input, expects one error line or a healed run -----------------


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if not line.startswith("recomputing")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def _files(path: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_traversal_unit_id_is_refused_and_a_sibling_run_is_untouched(tmp_path, capsys):
    runs = tmp_path / "runs"
    victim = execute(load_config_text(tmp_path, "units: [a]"), runs_dir=runs)
    before = _files(victim.path)
    evil = f"x/../../../{victim.path.name}/units/a"
    config = load_config_text(tmp_path, f"units: ['{evil}']\ntoy:\n  n: 9")
    with pytest.raises(Exception, match="is not a valid folder name"):
        execute(config, runs_dir=runs)
    assert _files(victim.path) == before
    assert [r for r in runs.glob("toy/*") if r != victim.path] == []  # refused before creating one


def load_config_text(tmp_path: Path, body: str) -> Any:
    path = tmp_path / f"cfg{len(list(tmp_path.glob('cfg*.yaml')))}.yaml"
    path.write_text(f"protocol: toy\nseed: 3\n{body}\n")
    return load_config(path)


def _tamper(phase: Path) -> None:
    write_npz(phase / "x.npz", {"x": np.full(5, 666.0)})


def _truncate(phase: Path) -> None:
    (phase / "x.npz").write_bytes((phase / "x.npz").read_bytes()[:40])


def _delete(phase: Path) -> None:
    (phase / "x.npz").unlink()


def _short_manifest(phase: Path) -> None:
    (phase / "manifest.json").write_text('{"unit": "b", "phase": "draw", "key": "0123456789')


@pytest.mark.parametrize("fault", [_tamper, _truncate, _delete, _short_manifest])
def test_corrupted_phase_stops_report_and_resume_heals_it(tmp_path, config_file, capsys, fault):
    config = load_config(config_file)
    run = execute(config, runs_dir=tmp_path / "runs")
    table = (run.path / "tables/units.csv").read_bytes()
    fault(run.phase_dir("b", "draw"))
    assert main(["report", str(run.path)]) == 2
    line = _one_error_line(capsys)
    assert str(run.phase_dir("b", "draw")) in line and ("x.npz" in line or "manifest" in line)
    with pytest.raises(Exception, match=r"x\.npz|manifest\.json"):
        require_phase(Run(run.path), "b", "draw")
    execute(config, runs_dir=tmp_path / "runs", resume=run.path)
    assert run.info["status"] == "complete"
    assert (run.path / "tables/units.csv").read_bytes() == table  # healed, same numbers
    assert main(["report", str(run.path)]) == 0


def test_report_checks_phase_keys_against_the_config(tmp_path, config_file, capsys):
    run = execute(load_config(config_file), runs_dir=tmp_path / "runs")
    config_yaml = run.path / "config.yaml"
    config_yaml.write_text(config_yaml.read_text().replace("n: 5", "n: 6"))
    assert main(["report", str(run.path)]) == 2
    assert "does not match the key" in _one_error_line(capsys)


def test_report_refuses_invalid_stored_config(tmp_path, config_file, capsys):
    run = execute(load_config(config_file), runs_dir=tmp_path / "runs")
    (run.path / "config.yaml").write_text("protocol: [toy\n")
    assert main(["report", str(run.path)]) == 2
    assert "config.yaml is not a readable YAML config" in _one_error_line(capsys)


def test_user_fault_inside_a_unit_fails_the_run_with_its_reason(
    tmp_path, config_file, capsys, monkeypatch
):
    from axionlab.errors import DataError

    def bad_labels(self: Any, ctx: UnitContext[Any, Any]) -> None:
        raise DataError(f"labels of unit {ctx.unit.id} lie outside num_classes=10")

    monkeypatch.setattr(Toy, "run_unit", bad_labels)
    assert main(["run", str(config_file), "--runs-dir", str(tmp_path / "r")]) == 2
    assert "outside num_classes" in _one_error_line(capsys)
    (run_dir,) = (tmp_path / "r/toy").iterdir()
    info = Run(run_dir).info
    assert info["status"] == "failed" and "outside num_classes" in info["reason"]


def test_full_disk_is_one_line_and_the_run_says_failed(tmp_path, config_file, capsys, monkeypatch):
    import errno

    def no_space(self: Any, ctx: UnitContext[Any, Any]) -> None:
        def compute(d: Path) -> None:
            raise OSError(errno.ENOSPC, "No space left on device", str(d / "x.npz"))

        ctx.phase("draw", "k", compute)

    monkeypatch.setattr(Toy, "run_unit", no_space)
    assert main(["run", str(config_file), "--runs-dir", str(tmp_path / "r")]) == 2
    line = _one_error_line(capsys)
    assert "x.npz failed: no space left on the device" in line and "--resume" in line
    (run_dir,) = (tmp_path / "r/toy").iterdir()
    info = Run(run_dir).info
    assert info["status"] == "failed" and "no space left" in info["reason"]
    assert not list(run_dir.glob("units/*/.*tmp*"))


def test_failure_before_the_units_does_not_leave_the_run_running(
    tmp_path, config_file, monkeypatch
):
    def threads(config: Any) -> None:
        raise RuntimeError("set_num_threads: 100000000000000000000 is too large")

    monkeypatch.setattr("axionlab.protocols.runner._prepare", threads)
    with pytest.raises(RuntimeError):
        execute(load_config(config_file), runs_dir=tmp_path / "r")
    (run_dir,) = (tmp_path / "r/toy").iterdir()
    assert Run(run_dir).info["status"] == "failed"
    assert "too large" in Run(run_dir).info["reason"]


_HOLD = """
import sys, time
from axionlab.runs import Run
with Run(sys.argv[1]).writing():
    print("locked", flush=True)
    time.sleep(60)
"""


def test_resume_refuses_a_run_with_a_live_writer(tmp_path, config_file, capsys):
    import subprocess
    import sys

    run = execute(load_config(config_file), runs_dir=tmp_path / "runs")
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(run.path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        args = ["run", str(config_file), "--resume", str(run.path)]
        assert main(args) == 2
        assert f"being written by process {holder.pid}" in _one_error_line(capsys)
        assert run.info["status"] == "complete"  # the live writer's status is left alone
    finally:
        holder.kill()
        holder.wait()
    assert main(args) == 0  # the killed writer's lock is taken over


def test_garbage_index_is_one_line_naming_the_repair(tmp_path, config_file, capsys):
    runs = tmp_path / "runs"
    run = execute(load_config(config_file), runs_dir=runs)
    (runs / "index.db").write_bytes(b"\x00garbage" * 100)
    assert main(["ls", "--runs-dir", str(runs)]) == 2
    assert "axionlab ls --rebuild" in _one_error_line(capsys)
    assert main(["ls", "--runs-dir", str(runs), "--rebuild"]) == 0
    assert str(run.path) in capsys.readouterr().out


def test_two_units_with_one_id_are_refused_before_a_run_exists(tmp_path, config_file, capsys):
    code = main(
        ["run", str(config_file), "--runs-dir", str(tmp_path / "r"), "--set", "units=[a,a]"]
    )
    assert code == 2
    assert "two units are both named 'a'" in _one_error_line(capsys)
    assert not (tmp_path / "r").exists()
