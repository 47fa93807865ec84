"""The CLI's contract for user mistakes (issue 14): one ``error:`` line on stderr, exit 2, no
traceback, nothing written; bugs keep their traceback. Every bad input is built here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from axionlab import cli
from axionlab.cli import main
from axionlab.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
CONTINUAL = CONFIGS / "continual" / "smoke.yaml"
EXP01 = CONFIGS / "exp01" / "smoke.yaml"
EXP02 = CONFIGS / "exp02" / "smoke.yaml"
EXP03 = CONFIGS / "exp03" / "smoke.yaml"
EXP04 = CONFIGS / "exp04" / "smoke.yaml"


def _one_error(capsys: pytest.CaptureFixture[str], code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def _check(capsys: pytest.CaptureFixture[str], config: Path, *overrides: str) -> str:
    args = ["check", str(config)]
    for item in overrides:
        args += ["--set", item]
    return _one_error(capsys, main(args))


# --- item 2: names that become paths ------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "override", "field"),
    [
        (
            EXP01,
            "architectures.0.label=x/../../victim/run1/units/digits__mlp",
            "architectures.0.label",
        ),
        (EXP03, "architectures.3.label=../mlp", "architectures.3.label"),
        (CONTINUAL, "strategies.1.label=.hidden", "strategies.1.label"),
        (CONTINUAL, "architecture.label=/etc", "architecture.label"),
    ],
)
def test_traversal_labels_refused_before_any_run_dir(tmp_path, capsys, config, override, field):
    code = main(["run", str(config), "--runs-dir", str(tmp_path / "runs"), "--set", override])
    line = _one_error(capsys, code)
    assert line.startswith(f"error: {field}: must be at most 128 ASCII letters"), line
    assert not (tmp_path / "runs").exists()
    assert _check(capsys, config, override) == line


# --- item 5: non-finite and absurd values -------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "override", "start"),
    [
        (CONTINUAL, "train.lr=.inf", "error: train.lr: Input should be a finite number, got inf"),
        (CONTINUAL, "train.momentum=.nan", "error: train.momentum: Input should be a finite"),
        (
            CONTINUAL,
            "strategies.1.options.strength=.nan",
            "error: strategies.1.options: 'strength'",
        ),
        (
            EXP01,
            "task_a.weight_decay=-.inf",
            "error: task_a.weight_decay: Input should be a finite",
        ),
        (EXP03, "robustness.noise_sigma=.nan", "error: robustness.noise_sigma: Input should be a"),
        (EXP04, "analysis.ci=.nan", "error: analysis.ci: Input should be a finite number"),
        (EXP02, "bisection.p_max_per_param=.inf", "error: bisection.p_max_per_param: Input"),
        (CONTINUAL, "torch_threads=1.0e+20", "error: torch_threads: "),
        (CONTINUAL, "torch_threads=100000", "error: torch_threads: Input should be less than"),
        (CONTINUAL, "torch_threads=1e20", "error: torch_threads: Input should be a valid integer"),
        (CONTINUAL, "executor.workers=1000000", "error: executor.workers: Input should be less"),
    ],
)
def test_non_finite_and_absurd_values_name_the_key(capsys, config, override, start):
    assert _check(capsys, config, override).startswith(start)


@pytest.mark.parametrize(
    ("config", "override", "field"),
    [
        (EXP02, "family.0.widths=[100000]", "family.0"),
        (EXP02, "bisection.p_max_per_param=1.0e+12", "bisection.p_max_per_param"),
        (EXP02, "cover.dims=[1000000]", "cover.dims"),
        (EXP03, "analysis.n_permutations=100000000000000", "analysis.n_permutations"),
        (EXP04, "sweep.lengths=[1,2,100000000000]", "sweep.lengths"),
        (EXP04, "sweep.diversities=[1000000000]", "sweep.diversities"),
        (EXP03, "architectures.3.options.width=1000000000", "architectures.3.options"),
    ],
)
def test_allocations_beyond_memory_refused_with_the_estimate(
    tmp_path, capsys, config, override, field
):
    code = main(["run", str(config), "--runs-dir", str(tmp_path / "runs"), "--set", override])
    line = _one_error(capsys, code)
    assert line.startswith(f"error: {field}: ") and "more than this machine's" in line, line
    assert f"; lower {field}" in line and "needs about" in line
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("config", "override", "needle"),
    [
        (EXP02, "family.0.widths=[0]", "family.0.widths.0: Input should be greater than"),
        (EXP03, "architectures.3.options.width=-3", "mlp needs width >= 1"),
        (EXP03, "architectures.0.options.hidden=40", "hidden size 40 must lie in"),
        (EXP03, "seeds=[0,0]", "seeds must not repeat"),
        (EXP04, "sweep.lengths=[2,2,4]", "lengths must not repeat"),
    ],
)
def test_check_rejects_what_run_rejects(tmp_path, capsys, config, override, needle):
    line = _check(capsys, config, override)
    assert needle in line, line
    code = main(["run", str(config), "--runs-dir", str(tmp_path / "runs"), "--set", override])
    assert _one_error(capsys, code) == line
    assert not (tmp_path / "runs").exists()


def test_check_reads_inputs_unless_told_not_to(tmp_path, capsys):
    paper = CONFIGS / "exp01" / "paper-cifar100.yaml"
    missing = f"datasets.0.root={tmp_path / 'missing'}"
    line = _check(capsys, paper, missing)
    assert line.startswith("error: datasets.0.root: ") and "cifar100" in line
    assert main(["check", "--no-inputs", str(paper), "--set", missing]) == 0
    assert "protocol: exp01" in capsys.readouterr().out


# --- item 5/6: the config file itself -----------------------------------------------------------


def _alias_bomb() -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "protocol: continual\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (_alias_bomb().encode(), "more than 100000 values once aliases are expanded"),
        (CONTINUAL.read_text().encode("utf-16"), "must be UTF-8 text"),
        (b"protocol: contin\xfcal\n", "must be UTF-8 text"),
        (("a: " + "[" * 3000 + "]" * 3000 + "\n").encode(), "nested deeper than 64 levels"),
        (b"protocol: continual\nseed: 1\nseed: 2\n", "line 3: duplicate key 'seed'"),
        (b"protocol: continual\ntrain: {lr: [1,\n", "fix the YAML syntax"),
        (b"- 1\n- 2\n", "the top level must be a mapping"),
    ],
)
def test_bad_config_files_are_one_line_naming_the_file(tmp_path, capsys, content, needle):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    line = _check(capsys, path)
    assert str(path) in line and needle in line, line


def test_missing_or_directory_config(tmp_path, capsys):
    assert "does not exist" in _check(capsys, tmp_path / "nope.yaml")
    assert "is a directory" in _check(capsys, tmp_path)


def test_unreadable_config(tmp_path, capsys, monkeypatch):
    path = tmp_path / "locked.yaml"
    path.write_text("protocol: continual\n")

    def denied(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", denied)  # chmod 0 does not stop root
    line = _check(capsys, path)
    assert line.startswith(f"error: cannot read config file {path}: Permission denied")


def test_invalid_stored_config_on_report(tmp_path, capsys):
    run = tmp_path / "exp04" / "run1"
    run.mkdir(parents=True)
    info = {"protocol": "exp04", "version": "1", "config_hash": "0" * 12, "status": "complete"}
    (run / "run.json").write_text(json.dumps(info))
    (run / "config.yaml").write_text("protocol: exp04\nsweep: {qubits: [1,\n")
    line = _one_error(capsys, main(["report", str(run)]))
    assert str(run / "config.yaml") in line, line


def test_subprocess_prints_exactly_one_line(tmp_path):
    path = tmp_path / "utf16.yaml"
    path.write_bytes("protocol: continual\n".encode("utf-16"))
    done = subprocess.run(
        [sys.executable, "-m", "axionlab.cli", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"error: config file {path} must be UTF-8 text, got UTF-16 or binary data (NUL bytes); "
        "re-save it as UTF-8"
    ]


# --- item 6: what is and is not a user error ----------------------------------------------------


def test_multi_line_user_messages_are_folded(capsys, monkeypatch):
    def fail(args: object) -> int:
        raise ConfigError("first line\n  second line")

    monkeypatch.setattr(cli, "_dispatch", fail)
    assert _one_error(capsys, main(["check", "x.yaml"])) == "error: first line second line"


def test_bugs_keep_their_traceback(monkeypatch):
    def bug(args: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "_dispatch", bug)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["check", "x.yaml"])


def test_debug_raises_user_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        main(["--debug", "check", str(tmp_path / "nope.yaml")])
