"""EXP-01 planes by a collective job: world sizes 1 and 2 (spawned, and under torchrun) agree."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from tests.protocols.exp01.test_language import CONFIG, MODELS

from axionlab.cli import main
from axionlab.data.corpora import prepare_text_demo
from axionlab.runs import read_npz

pytestmark = pytest.mark.slow


def _config(tmp_path: Path, world_size: int) -> Path:
    config = copy.deepcopy(CONFIG)
    config["architectures"] = [
        {"name": "hf", "label": "gpt2", "options": {"config": MODELS["gpt2"]}}
    ]
    distributed = {"world_size": world_size, "backend": "gloo"}
    config["landscape"] |= {"distributed": distributed}
    config["curvature"] |= {"distributed": distributed}
    config["structure"] = {"enabled": False}
    config["task_b"]["strategies"] = config["task_b"]["strategies"][:2]  # naive and ewc
    config["task_b"]["distributed"] = distributed
    path = tmp_path / f"w{world_size}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _phase(runs: Path, phase: str, name: str) -> dict[str, np.ndarray]:
    (run,) = (runs / "exp01").iterdir()
    (unit,) = [d for d in (run / "units").iterdir() if d.is_dir()]
    return read_npz(unit / phase / name)


def _plane(runs: Path) -> dict[str, np.ndarray]:
    return _phase(runs, "plane_0", "plane.npz")


def _curvature(runs: Path) -> dict[str, float]:
    (run,) = (runs / "exp01").iterdir()
    (unit,) = [d for d in (run / "units").iterdir() if d.is_dir()]
    values: dict[str, float] = json.loads((unit / "curvature" / "curvature.json").read_text())
    return values


def _curve(runs: Path) -> dict[str, np.ndarray]:
    return _phase(runs, "forget_ewc", "curve.npz")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    root = tmp_path_factory.mktemp("demo")
    corpora = prepare_text_demo(root, n_train=150, n_test=40)
    return [
        "--set",
        f"datasets.0.root={corpora.corpora}",
        "--set",
        f"datasets.0.options.tokenizer={corpora.tokenizer}",
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, demo: list[str]) -> dict[int, Path]:
    """EXP-01 through the CLI with every phase distributed over 1 and over 2 spawned ranks."""
    root = tmp_path_factory.mktemp("exp01-distributed")
    out = {world: root / f"runs{world}" for world in (1, 2)}
    for world, where in out.items():
        assert main(["run", str(_config(root, world)), "--runs-dir", str(where), *demo]) == 0
    return out


def test_plane_and_task_b_are_the_same_at_world_sizes_1_and_2(runs: dict[int, Path]) -> None:
    one, two = _plane(runs[1]), _plane(runs[2])
    np.testing.assert_array_equal(one["alphas"], two["alphas"])
    np.testing.assert_allclose(two["values"], one["values"], rtol=1e-5, atol=0)
    assert np.isfinite(one["values"]).all()
    one, two = (_curvature(runs[world]) for world in (1, 2))
    bound = 2 * max(one["fd_relative_error"], two["fd_relative_error"])  # each within its own
    for key in ("hessian_top_eig", "hessian_trace"):
        assert two[key] == pytest.approx(one[key], rel=bound), key
    assert two["fisher_trace"] == pytest.approx(one["fisher_trace"], rel=1e-4)
    one, two = _curve(runs[1]), _curve(runs[2])
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-4, atol=0)
    np.testing.assert_allclose(two["delta_loss"], one["delta_loss"], rtol=0, atol=1e-4)


def test_torchrun_world_runs_the_same_phases(
    tmp_path: Path, demo: list[str], runs: dict[int, Path]
) -> None:
    out = tmp_path / "torchrun"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += ["-m", "axionlab.cli", "run", str(_config(tmp_path, 2)), "--runs-dir", str(out), *demo]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "AXIONLAB_BACKEND": "gloo"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(list((out / "exp01").iterdir())) == 1  # rank 0 alone wrote the run store
    np.testing.assert_allclose(_plane(out)["values"], _plane(runs[2])["values"], rtol=1e-6, atol=0)
    np.testing.assert_allclose(_curve(out)["loss"], _curve(runs[2])["loss"], rtol=1e-5, atol=0)
    got, want = _curvature(out), _curvature(runs[2])
    assert got["hessian_top_eig"] == pytest.approx(want["hessian_top_eig"], rel=1e-6)
