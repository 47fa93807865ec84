"""EXP-01 outcomes are never artefacts: divergence and undefined outcomes are recorded states.

Each test runs the smoke config through the CLI with a deliberately degenerate unit beside
healthy ones and checks that the run completes, the unit's outcomes are nan with their reason,
the correlations count only defined rows, and the report names the exclusion.
"""

import math
import pickle
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

import axionlab.collapse.structure as structure
from axionlab.cli import main
from axionlab.errors import InputError
from axionlab.models import MODELS
from axionlab.models.core import Classifier
from axionlab.protocols.exp01.analysis import (
    NAIVE,
    Exp01Tables,
    aurc_column,
    benefit_column,
    diverged_column,
    diverged_step_column,
    effective_strength_column,
    forget_phase,
    read_tables,
    reason_column,
    retention_column,
    stability_action_column,
    stability_ratio_column,
)
from axionlab.protocols.exp01.config import Exp01Config
from axionlab.protocols.exp01.published import protocol_departures
from axionlab.protocols.runner import load_config
from axionlab.runs import Run, read_npz
from axionlab.runs.tables import Cell

ROOT = Path(__file__).resolve().parents[3]
SMOKE = ROOT / "configs" / "exp01" / "smoke.yaml"
FAST = [
    "--set",
    "curvature.enabled=false",
    "--set",
    "landscape.slices=1",
    "--set",
    "analysis.n_permutations=50",
    "--set",
    "analysis.n_bootstrap=50",
]
# mixer_mini's EWC penalty is unstable at lambda = 1000 (lr * lambda * max F ~ 6.7 > 2) and
# overflows within 150 steps; mlp and cnn stay below the limit (ratio ~0.8).
LONG_TASK_B = ["--set", "task_b.eval_steps=[0,5,10,150]", "--set", "task_b.aurc_max_step=150"]


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Path:
    assert main(["run", str(SMOKE), "--runs-dir", str(tmp_path), *FAST, *args]) == 0
    return Path(capsys.readouterr().out.strip().splitlines()[-1])


def _tables(run: Path) -> Exp01Tables:
    config = load_config(run / "config.yaml")
    assert isinstance(config, Exp01Config)
    return read_tables(Run(run), config)


def _by_unit(run: Path) -> dict[str, Mapping[str, Cell]]:
    return {str(r["arch"]): r for r in _tables(run).units}


def _n(tables: Exp01Tables, outcome: str) -> set[Cell]:
    """The counts of defined rows of every correlation of ``outcome``."""
    return set(tables.correlations.where(outcome=outcome).column("n"))


def _float(cell: Cell) -> float:
    assert isinstance(cell, float), cell
    return cell


EWC = "ewc"


@pytest.mark.slow
def test_diverged_task_b_is_excluded_named_and_scale_keeps_it_finite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run(tmp_path / "warn", capsys, *LONG_TASK_B)
    tables = _tables(run)
    rows = {str(r["arch"]): r for r in tables.units}
    mixer = rows["mixer_mini"]
    step = mixer[diverged_step_column(EWC)]
    assert mixer[diverged_column(EWC)] is True and isinstance(step, int) and step > 0
    assert mixer[stability_action_column(EWC)] == "warned"
    assert _float(mixer[stability_ratio_column(EWC)]) > 1.0
    ewc_outcomes = [
        aurc_column(EWC),
        benefit_column(EWC),
        *(retention_column(k, EWC) for k in (10, 150)),
    ]
    for column in ewc_outcomes:
        assert math.isnan(_float(mixer[column])), column
    assert mixer[reason_column(benefit_column(EWC))] == "ewc: diverged"
    for arch in ("mlp", "cnn"):
        assert rows[arch][diverged_column(EWC)] is False
        assert rows[arch][diverged_step_column(EWC)] is None
        assert math.isfinite(_float(rows[arch][benefit_column(EWC)]))
    curve = read_npz(run / "units" / "digits__mixer_mini__s0" / forget_phase(EWC) / "curve.npz")
    assert np.isnan(curve["acc_a"][-1])  # never an accuracy from non-finite logits
    # no finite accuracy anywhere from a diverged model; correlations count defined rows only
    assert _n(tables, benefit_column(EWC)) == {2}
    assert _n(tables, aurc_column(NAIVE)) == {3}
    assert [(e["unit"], e["reason"]) for e in tables.exclusions] == [
        ("digits__mixer_mini__s0", "diverged")
    ]
    summary = (run / "report" / "report.md").read_text().split("## ")[1]
    assert "digits__mixer_mini__s0 task B with ewc at step" in summary
    assert "unstable under task B's optimizer" in summary

    scaled = _run(tmp_path / "scale", capsys, *LONG_TASK_B, "--set", "task_b.stability=scale")
    mixer = _by_unit(scaled)["mixer_mini"]
    assert mixer[diverged_column(EWC)] is False
    assert mixer[stability_action_column(EWC)] == "scaled"
    effective = mixer[effective_strength_column(EWC)]
    assert isinstance(effective, float) and 0 < effective < 1000.0
    assert math.isfinite(_float(mixer[benefit_column(EWC)]))
    assert f"{effective:.4g}" in (scaled / "report" / "report.md").read_text()
    # the stable units keep the configured strength
    assert _by_unit(scaled)["mlp"][effective_strength_column(EWC)] == 1000.0

    assert main(["run", str(SMOKE), "--runs-dir", str(tmp_path / "error"), *FAST,
                 *LONG_TASK_B, "--set", "task_b.stability=error"]) == 2  # fmt: skip
    assert "task_b.stability" in capsys.readouterr().err


@pytest.mark.slow
def test_diverged_task_a_completes_the_run_without_planes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run(tmp_path, capsys, "--set", "task_a.lr=1.0e+8")
    tables = _tables(run)
    assert set(tables.units.column("task_a_diverged")) == {True}
    assert np.isnan(tables.units.floats("task_a_acc")).all()
    assert set(tables.units.column(reason_column("topology"))) == {"task_a_diverged"}
    unit = run / "units" / "digits__mlp__s0"
    assert (unit / "task_a").is_dir() and not (unit / "plane_0").exists()
    assert set(tables.correlations.column("n")) == {0}
    assert (
        "task A (every predictor and outcome) at step" in (run / "report" / "report.md").read_text()
    )


class _SilentOnTaskA(Classifier):
    """A model whose task-A outputs always lose to any output added later: acc_A(0) = 0."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int) -> None:
        width = int(np.prod(input_shape))
        super().__init__("test", nn.Flatten(), nn.Linear(width, num_classes))
        self.silent = num_classes

    def forward(self, x: Tensor) -> Tensor:
        logits: Tensor = self.head(self.body(x))
        offset = torch.zeros(logits.shape[1])
        offset[: self.silent] = -1e3
        return logits + offset


def _cifar100(root: Path, per_class: int) -> None:
    base = root / "cifar-100-python"
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)
    prototypes = rng.integers(0, 200, (100, 3072))  # one learnable image per class
    for split, n in (("train", 2 * per_class), ("test", per_class)):
        labels = [c for c in range(100) for _ in range(n)]
        noise = rng.integers(0, 40, (len(labels), 3072))
        data = (prototypes[labels] + noise).astype(np.uint8)
        with open(base / split, "wb") as fh:
            pickle.dump({b"data": data, b"fine_labels": labels}, fh)


@pytest.mark.slow
def test_zero_accuracy_at_step_0_is_excluded_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if "silent_on_task_a" not in MODELS.names():
        MODELS.add("silent_on_task_a", _SilentOnTaskA)
    _cifar100(tmp_path / "data", per_class=2)
    run = _run(
        tmp_path / "runs",
        capsys,
        "--set",
        f"datasets=[{{name: cifar100, root: {tmp_path / 'data'}, task_a_classes: 50, "
        "options: {image_size: 8}}]",
        "--set",
        "architectures=[{name: mlp, options: {width: 16, depth: 1}}, "
        "{name: cnn}, {name: silent_on_task_a}]",
        "--set",
        "task_a.epochs=10",
    )
    tables = _tables(run)
    rows = {str(r["arch"]): r for r in tables.units}
    silent = rows["silent_on_task_a"]
    for outcome in (aurc_column(NAIVE), retention_column(5, NAIVE), benefit_column(EWC)):
        assert math.isnan(_float(silent[outcome])), outcome
    assert silent[reason_column(aurc_column(NAIVE))] == "zero_initial_accuracy"
    assert "zero_initial_accuracy" in str(silent[reason_column(benefit_column(EWC))])
    for arch in ("mlp", "cnn"):
        assert rows[arch][reason_column(aurc_column(NAIVE))] == ""
    assert _n(tables, aurc_column(NAIVE)) <= {2, 1, 0}
    assert ("cifar100__silent_on_task_a__s0", aurc_column(NAIVE), "zero_initial_accuracy") in {
        (e["unit"], e["what"], e["reason"]) for e in tables.exclusions
    }
    assert "zero_initial_accuracy" in (run / "report" / "report.md").read_text()


@pytest.mark.parametrize(
    "name", ["quick", "paper-cifar100", "paper-resisc45", "paper-cub200", "scale-pythia"]
)
def test_every_departure_from_the_published_protocol_is_listed(name: str) -> None:
    config = load_config(ROOT / "configs" / "exp01" / f"{name}.yaml")
    rows = protocol_departures(config.model_dump(mode="json"))
    settings = {r["setting"] for r in rows}
    # open choices and standing departures are always listed, with the value used
    assert {"task_a.augment", "task_b.train.momentum", "landscape mode", "divergence"} <= settings
    header = (ROOT / "configs" / "exp01" / f"{name}.yaml").read_text().split("\nprotocol:")[0]
    for row in rows:
        if row["setting"].startswith(("task_", "landscape.", "ewc.")):
            assert row["setting"] in header, f"{name}.yaml header misses {row['setting']}"
    if name.startswith("paper"):
        assert config.task_a.augment == "crop_flip"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("landscape.steps=1000001", "landscape.steps: the loss plane needs about"),
        ("landscape.span=[0,0]", "landscape.span: must be an increasing"),
        ("datasets.0.task_a_classes=1", "datasets.0.task_a_classes"),
        ("architectures.0.options.width=-3", "architectures.0.options: mlp needs width >= 1"),
        ("task_a.augment=crop_flip", None),  # digits are (1, 8, 8) images: allowed
        ("task_b.stability=clip", "task_b.stability"),
    ],
)
def test_check_rejects_what_run_would_reject(
    override: str, message: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", str(SMOKE), "--set", override])
    err = capsys.readouterr().err
    if message is None:
        assert code == 0
        return
    assert code == 2 and err.count("error:") == 1 and message in err and "Traceback" not in err


@pytest.mark.slow
def test_an_undefined_structure_family_is_a_state_not_a_failed_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_spectrum(model: nn.Module) -> list[object]:
        raise InputError("no layer has at least 8 eigenvalues")

    monkeypatch.setattr(structure, "layer_spectra", no_spectrum)
    run = _run(tmp_path, capsys, "--set", "landscape.span=[-0.5,1.0]", "--set", "landscape.steps=7")
    tables = _tables(run)
    for r in tables.units:
        assert str(r[reason_column("structure")]).startswith("spectra: no layer")
    assert np.isnan(tables.units.floats("spectra_alpha")).all()
    assert np.isfinite(tables.units.floats("nc1")).all()
    area = tables.units.floats("basin_area_abs0.1")
    assert ((0.0 < area) & (area <= 1.0)).all()  # centred on alpha = beta = 0
    assert "structure" in tables.exclusions.column("what")


def test_a_span_without_the_trained_point_on_its_grid_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check", str(SMOKE), "--no-inputs", "--set", "landscape.span=[-0.3,1.0]"]) == 2
    assert "no grid point at 0" in capsys.readouterr().err
    assert main(["check", str(SMOKE), "--no-inputs", "--set", "landscape.span=[-0.5,1.0]"]) == 0
