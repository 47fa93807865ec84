"""EXP-01 end to end on language tasks: local HF checkpoints (GPT-2, LLaMA) through the CLI.

The suite's autouse socket guard (tests/conftest.py) fails any non-loopback connection, so the
run proves that no hub call is made.
"""

import math
from pathlib import Path

import pytest
import yaml

from axionlab.cli import main
from axionlab.data.corpora import prepare_text_demo
from axionlab.models import build_model
from axionlab.repro import torch_generator
from axionlab.runs import read_csv

pytest.importorskip("transformers")
pytestmark = pytest.mark.slow

SEQ = 24
MODELS = {
    "gpt2": {"model_type": "gpt2", "n_layer": 1, "n_embd": 16, "n_head": 2, "n_positions": SEQ},
    "llama": {
        "model_type": "llama",
        "num_hidden_layers": 1,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "max_position_embeddings": SEQ,
    },
}

CONFIG = {
    "protocol": "exp01",
    "name": "lm-test",
    "seed": 0,
    "torch_threads": 1,
    "seeds": [0],
    "datasets": [{"name": "text", "options": {"seq_len": SEQ, "max_train": 48, "max_test": 16}}],
    "architectures": [{"name": "hf", "label": label} for label in MODELS],
    "task_a": {"optimizer": "adam", "lr": 0.01, "epochs": 2, "batch_size": 16},
    "landscape": {"slices": 1, "steps": 5, "max_examples": 8},
    "curvature": {"examples": 8, "max_hvp": 4, "trace_hvp": 3},
    "structure": {"examples": 8, "basin_directions": 1},
    "task_b": {
        "train": {"optimizer": "adam", "lr": 0.01, "batch_size": 16},
        "eval_steps": [0, 2, 4],
        "aurc_max_step": 4,
        "strategies": [
            {"name": "naive"},
            {"name": "ewc", "options": {"strength": 10.0, "fisher_samples": 16}},
        ],
    },
    "analysis": {
        "n_permutations": 10,
        "n_bootstrap": 10,
        "ridge_permutations": 2,
        "retention_steps": [2, 4],
    },
}


def _checkpoint(label: str, tokenizer: Path, out: Path) -> Path:
    """A fresh tiny model of ``label``'s architecture saved with the local tokenizer."""
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast.from_pretrained(str(tokenizer), local_files_only=True)
    gen = torch_generator(0, "test", label)
    model = build_model("hf", (SEQ - 1,), len(tok), config=MODELS[label], generator=gen)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    assert list(out.glob("*.safetensors")), "weights must be safetensors"
    return out


def test_exp01_runs_end_to_end_on_local_hf_checkpoints(tmp_path):
    demo = prepare_text_demo(tmp_path / "demo", n_train=150, n_test=40)
    dirs = {label: _checkpoint(label, demo.tokenizer, tmp_path / label) for label in MODELS}
    config = tmp_path / "lm.yaml"
    config.write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    runs = tmp_path / "runs"
    sets = [f"datasets.0.root={demo.corpora}", f"datasets.0.options.tokenizer={dirs['gpt2']}"]
    sets += [f"architectures.{i}.options.path={d}" for i, d in enumerate(dirs.values())]
    argv = ["run", str(config), "--runs-dir", str(runs)]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) in (0, None)

    (run,) = (runs / "exp01").iterdir()
    rows = read_csv(run / "units.csv")
    assert [r["arch"] for r in rows] == ["gpt2", "llama"]
    assert [r["family"] for r in rows] == ["gpt2", "llama"]
    for row in rows:
        assert 0.0 < float(row["task_a_acc"]) <= 1.0, row["arch"]
        for column in ("aurc_naive", "aurc_ewc", "hessian_top_eig", "spectra_alpha"):
            assert math.isfinite(float(row[column])), (row["arch"], column)
        # the task-A loss increase is an outcome of a language task: 0 at step 0, then finite
        assert float(row["dloss@0_naive"]) == 0.0
        assert math.isfinite(float(row["dloss@4_naive"])) and math.isfinite(
            float(row["dloss@4_ewc"])
        )
        assert math.isnan(float(row["nc1"]))  # neural collapse: undefined on per-token targets
        assert "neural collapse" in str(row["structure_reason"])
    assert (run / "report" / "report.html").is_file()
