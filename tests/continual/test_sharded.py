"""EWC / L2 task B on a tiny HF model sharded over 2 gloo ranks equals the single-process run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from axionlab.continual import build_strategy, forgetting_curve
from axionlab.continual.sharded import sharded_copy, sharded_strategy
from axionlab.continual.strategies import MemoryAwareSynapses
from axionlab.data import Dataset
from axionlab.errors import InputError
from axionlab.execute.distributed import DistributedSpec, Ranks, launch
from axionlab.landscape import HFLogits
from axionlab.models import build_model
from axionlab.repro import torch_generator
from axionlab.train import TrainConfig

VOCAB, SEQ = 16, 8
STEPS = (0, 3, 6)
CONFIG = TrainConfig(optimizer="sgd", lr=0.5, batch_size=8, steps=6)


def _model() -> nn.Module:
    config = {
        "model_type": "gpt2",
        "n_layer": 1,
        "n_embd": 8,
        "n_head": 2,
        "n_positions": SEQ,
        "vocab_size": VOCAB,
        "bos_token_id": 0,
        "eos_token_id": 0,
        # dropout draws from each process's global stream: off, so curves can be compared
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
    }
    gen = torch.Generator().manual_seed(0)
    return HFLogits(build_model("hf", (SEQ,), VOCAB, config=config, generator=gen))


def _task(name: str, offset: int) -> Dataset:
    gen = torch.Generator().manual_seed(offset)
    # a repeating pattern per task, so task B moves the weights away from task A's
    base = (torch.arange(SEQ + 1) * (offset + 1)) % VOCAB
    shifts = torch.randint(0, VOCAB, (48, 1), generator=gen)
    tokens = (base[None] + shifts) % VOCAB
    x, y = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()
    return Dataset(
        name=name,
        x_train=x[:32],
        y_train=y[:32],
        x_test=x[32:],
        y_test=y[32:],
        num_classes=VOCAB,
        input_shape=(SEQ,),
        classes=tuple(range(VOCAB)),
    )


def _curve(strategy: Any, distributed: DistributedSpec | None = None) -> dict[str, np.ndarray]:
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    curve = forgetting_curve(
        model,
        _task("a", 1),
        _task("b", 2),
        strategy,
        CONFIG,
        eval_steps=STEPS,
        aurc_max_step=6,
        streams=lambda name: torch_generator(5, name),
        distributed=distributed,
    )
    if distributed is not None:  # the ranks trained their own copies
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    return {**curve.arrays(), "penalty": curve.curve.history.penalty}


@pytest.mark.parametrize(
    ("name", "options"),
    [("ewc", {"strength": 50.0, "fisher_samples": 16}), ("l2", {"strength": 0.5})],
)
def test_task_b_curve_equals_the_single_process_curve(name: str, options: dict[str, Any]) -> None:
    want = _curve(build_strategy(name, **options))
    got = _curve(build_strategy(name, **options), DistributedSpec(world_size=2))
    assert np.all(want["penalty"][1:] > 0)  # the penalty acts once task B moves the weights
    for key in ("loss", "penalty", "loss_a", "delta_loss"):
        np.testing.assert_allclose(got[key], want[key], rtol=2e-5, atol=1e-6, err_msg=key)
    # accuracies are argmaxes: rounding may flip a near-tie, one of the 128 test tokens
    for key in ("acc_a", "acc_b"):
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=1 / 128 + 1e-9, err_msg=key)


def _refused(ranks: Ranks, payload: None) -> list[str]:
    messages = []
    for make in (
        lambda: sharded_strategy("si", ranks),
        lambda: sharded_copy(MemoryAwareSynapses(), ranks),
    ):
        try:
            make()
        except InputError as err:
            messages.append(str(err))
    return messages


def test_strategies_without_a_sharded_form_are_refused() -> None:
    by_name, by_copy = launch(_refused, None, DistributedSpec(world_size=1))
    assert "'si' has no sharded form" in by_name and "'ewc'" in by_name
    assert "'mas' has no sharded form" in by_copy
