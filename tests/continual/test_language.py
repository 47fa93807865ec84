"""Issue 17, LM outcomes: training, evaluation, every CL strategy and the forgetting curve on tiny
HuggingFace causal LMs through HFLogits and next-token pairs (targets[:, t] = token t + 1)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

pytest.importorskip("transformers")

from axionlab.continual import (
    STRATEGIES,
    build_strategy,
    forgetting_curve,
    learn_task,
    run_stream,
)
from axionlab.continual.strategies import QuadraticStrategy
from axionlab.data import Task
from axionlab.data.corpora import prepare_text_demo
from axionlab.data.text import load_text_tasks, next_token_dataset, next_token_pairs
from axionlab.errors import InputError
from axionlab.landscape import HFLogits, fisher_diagonal, sequence_fisher_diagonal
from axionlab.models import build_model
from axionlab.models.hf import IGNORE_INDEX, evaluate_lm
from axionlab.train import IGNORE_INDEX as TRAIN_IGNORE
from axionlab.train import TrainConfig, evaluate, train

VOCAB, SEQ = 64, 16
NO_DROPOUT = {"resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0}


def _gpt2(seed: int = 0, vocab: int = VOCAB) -> nn.Module:
    config = {
        "model_type": "gpt2",
        "n_layer": 2,
        "n_embd": 32,
        "n_head": 2,
        "n_positions": SEQ,
        "vocab_size": vocab,
        "bos_token_id": 0,
        "eos_token_id": 0,
        **NO_DROPOUT,
    }
    return build_model(
        "hf", (SEQ,), vocab, config=config, generator=torch.Generator().manual_seed(seed)
    )


def _llama(seed: int = 0) -> nn.Module:
    config = {
        "model_type": "llama",
        "num_hidden_layers": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "max_position_embeddings": SEQ,
        "vocab_size": VOCAB,
        "bos_token_id": 0,
        "eos_token_id": 0,
    }
    return build_model(
        "hf", (SEQ,), VOCAB, config=config, generator=torch.Generator().manual_seed(seed)
    )


def _rows(n: int, seed: int, low: int = 1, high: int = VOCAB) -> torch.Tensor:
    return torch.randint(low, high, (n, SEQ), generator=torch.Generator().manual_seed(seed))


def _ignored(ids: torch.Tensor, seed: int) -> torch.Tensor:
    """``ids`` with a random, row-varying share of positions set to -100."""
    drop = torch.rand(ids.shape, generator=torch.Generator().manual_seed(seed)) < 0.3
    return torch.where(drop, IGNORE_INDEX, ids)


def test_ignore_index_is_huggingfaces() -> None:
    assert TRAIN_IGNORE == IGNORE_INDEX == -100


@pytest.mark.parametrize("make", [_gpt2, _llama], ids=["gpt2", "llama"])
def test_per_token_loss_of_train_and_evaluate_equals_hf_loss(make) -> None:  # type: ignore[no-untyped-def]
    model = make()
    ids = _rows(4, seed=1)
    labels = _ignored(ids, seed=2)
    model.eval()
    with torch.no_grad():
        reference = float(model(input_ids=ids, labels=labels).loss)
    probe = HFLogits(model)
    pairs = next_token_pairs(ids, labels=labels)
    loss, _ = evaluate(probe, pairs, batch_size=4)
    assert loss == pytest.approx(reference, abs=1e-5)
    # train's objective at its first step (before the update), one batch of every row
    one_step = TrainConfig(optimizer="sgd", lr=1e-3, steps=1, batch_size=4)
    history = train(probe, pairs, one_step, generator=torch.Generator().manual_seed(0))
    assert history.loss[0] == pytest.approx(reference, abs=1e-5)


def test_evaluate_accuracy_is_a_token_weighted_shifted_argmax() -> None:
    model = _gpt2()
    ids = _rows(5, seed=3)
    labels = _ignored(ids, seed=4)  # rows count different numbers of tokens
    hits = tokens = 0
    model.eval()
    with torch.no_grad():
        for row, lab in zip(ids, labels, strict=True):  # the plain loop: one full row at a time
            logits = model(input_ids=row[None]).logits[0]
            for t in range(SEQ - 1):
                if lab[t + 1] != IGNORE_INDEX:
                    hits += int(logits[t].argmax() == lab[t + 1])
                    tokens += 1
    loss, accuracy = evaluate(HFLogits(model), next_token_pairs(ids, labels=labels), batch_size=2)
    assert accuracy == pytest.approx(hits / tokens, abs=1e-12)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    score = evaluate_lm(model, [batch])
    assert accuracy == pytest.approx(score.accuracy) and loss == pytest.approx(score.loss, abs=1e-5)


def test_train_lowers_task_a_loss_deterministically() -> None:
    data = next_token_pairs(_rows(16, seed=5, high=9))  # a small alphabet: learnable unigram
    config = TrainConfig(optimizer="adam", lr=1e-2, steps=15, batch_size=8)
    states, results = [], []
    for _ in range(2):
        probe = HFLogits(_gpt2())
        before = evaluate(probe, data)[0]
        results.append(train(probe, data, config, generator=torch.Generator().manual_seed(3)))
        after = evaluate(probe, data)[0]
        assert after < before - 0.5
        states.append(probe.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    np.testing.assert_array_equal(results[0].loss, results[1].loss)
    assert np.isfinite(results[0].accuracy).all() and results[0].diverged_step is None


def test_sequence_targets_refuse_class_groups_mask_classes_and_augment() -> None:
    probe = HFLogits(_gpt2())
    data = next_token_pairs(_rows(4, seed=6))
    config = TrainConfig(steps=1, batch_size=4)
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(InputError, match="class_groups"):
        train(probe, data, config, generator=gen, class_groups=[[0, 1], [2, 3]])
    with pytest.raises(InputError, match="augment"):
        train(probe, data, config, generator=gen, augment=lambda x, g: x)
    with pytest.raises(InputError, match="mask_classes"):
        evaluate(probe, data, mask_classes=[0, 1])


def _per_sequence_loop(probe: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:  # type: ignore[type-arg]
    """The reference: one backward pass per sequence of its mean token cross-entropy."""
    params = dict(probe.named_parameters())
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    probe.eval()
    for n in range(x.shape[0]):
        probe.zero_grad()
        F.cross_entropy(probe(x[n : n + 1])[0], y[n], ignore_index=IGNORE_INDEX).backward()
        for name, p in params.items():
            total[name] += p.grad.square()
    return {n: t / x.shape[0] for n, t in total.items()}


def test_ewc_fisher_is_per_sequence() -> None:
    probe = HFLogits(_gpt2())
    ids = _rows(6, seed=7)
    x, y = next_token_pairs(ids, labels=_ignored(ids, seed=8))
    reference = _per_sequence_loop(probe, x, y)
    fisher = fisher_diagonal(probe, (x, y), batch_size=4)  # chunking must not matter
    assert fisher.keys() == reference.keys()
    assert "model.transformer.wte.weight" in fisher and "model.lm_head.weight" not in fisher
    for n in fisher:
        torch.testing.assert_close(fisher[n], reference[n], rtol=1e-4, atol=1e-9)
    # the HF-convention estimator on full rows (labels == input_ids, shifted inside)
    full = sequence_fisher_diagonal(probe, (ids, ids))
    plain = fisher_diagonal(probe, next_token_pairs(ids))
    for n in full:
        torch.testing.assert_close(plain[n], full[n], rtol=1e-4, atol=1e-9)
    # EWC consolidates exactly this Fisher over all parameters, the tied embedding once
    ewc = build_strategy("ewc", fisher_samples=None)
    task = Task(index=0, classes=tuple(range(VOCAB)), train=(x, y), test=(x, y))
    ewc.after_task(probe, task, _context())
    importance = ewc.terms[0][0]
    for n in fisher:
        torch.testing.assert_close(importance[n], reference[n], rtol=1e-4, atol=1e-9)
    with pytest.raises(InputError, match="exact"):
        fisher_diagonal(probe, (x, y), kind="exact")
    sampled = fisher_diagonal(probe, (x, y), kind="sampled", generator=torch.Generator())
    assert all(bool(torch.isfinite(t).all()) for t in sampled.values())


def _context(seed: int = 0):  # type: ignore[no-untyped-def]
    from axionlab.continual import TaskContext

    return TaskContext("class_il", None, torch.Generator().manual_seed(seed))


def _token_task(index: int, seed: int) -> Task:
    low, high = (1, 20) if index == 0 else (30, VOCAB)  # two "domains": disjoint alphabets
    train_pairs = next_token_pairs(_rows(8, seed=seed, low=low, high=high))
    test_pairs = next_token_pairs(_rows(4, seed=seed + 1, low=low, high=high))
    return Task(index=index, classes=tuple(range(VOCAB)), train=train_pairs, test=test_pairs)


OPTIONS = {
    "ewc": {"fisher_samples": 4},
    "online_ewc": {"fisher_samples": 4},
    "mas": {"samples": 4},
    "replay": {"memory": 4, "balance": True},
}
EMBEDDING = "model.transformer.wte.weight"


SEQUENCE_REFUSED = {"ewc_kfac"}
"""KFAC assumes (B, C) classifier outputs: it refuses per-token targets in one line."""


@pytest.mark.parametrize("name", sorted(set(STRATEGIES) - SEQUENCE_REFUSED))
def test_every_strategy_runs_a_token_stream_and_reaches_the_embedding(name: str) -> None:
    stream = [_token_task(0, seed=10), _token_task(1, seed=20)]
    strategy = build_strategy(name, **OPTIONS.get(name, {}))
    config = TrainConfig(optimizer="adam", lr=1e-3, steps=2, batch_size=4)
    result = run_stream(
        lambda outputs: HFLogits(_gpt2(vocab=outputs)),
        stream,
        strategy,
        config,
        scenario="class_il",
        generator=torch.Generator().manual_seed(0),
    )
    assert result.diverged_task is None
    assert np.isfinite(result.accuracy).all() and np.isfinite(result.initial_accuracy).all()
    probe = HFLogits(_gpt2(seed=1))  # another point: every penalty is away from its anchor
    if isinstance(strategy, QuadraticStrategy):
        importance = strategy.terms[-1][0]
        assert EMBEDDING in importance and "model.lm_head.weight" not in importance
        assert float(importance[EMBEDDING].abs().sum()) > 0
        term = strategy.penalty(probe)
    elif name == "lwf":
        x = stream[1].train[0][:2]
        term = strategy.batch_penalty(x, probe(x))
    else:
        term = None
    if term is not None:
        (gradient,) = torch.autograd.grad(term, [dict(probe.named_parameters())[EMBEDDING]])
        assert float(gradient.abs().sum()) > 0
    if name in ("replay", "joint"):  # earlier sequences travel with their targets
        x, y = strategy.train_data(stream[1])
        assert x.shape[1:] == y.shape[1:] == (SEQ - 1,)
        old = {tuple(r) for r in torch.cat([*stream[0].train], 1).tolist()}
        assert any(tuple(r) in old for r in torch.cat([x, y], 1).tolist())


def test_forgetting_curve_prose_to_code(tmp_path) -> None:  # type: ignore[no-untyped-def]
    demo = prepare_text_demo(tmp_path, n_train=60, n_test=20, vocab_size=300)
    tasks = load_text_tasks(
        demo.corpora, task_a="prose", task_b="code", tokenizer=demo.tokenizer, seq_len=SEQ
    )
    a = next_token_dataset(tasks.task_a, tasks.vocab_size)
    b = next_token_dataset(tasks.task_b, tasks.vocab_size)
    assert a.x_train.shape[1] == a.y_train.shape[1] == SEQ - 1
    config_a = TrainConfig(optimizer="adam", lr=1e-2, steps=60, batch_size=16)
    config = TrainConfig(optimizer="adam", lr=1e-2, steps=10, batch_size=16)
    outcomes = {}
    for name in ("naive", "ewc"):
        model = HFLogits(_gpt2(vocab=tasks.vocab_size))
        learnt = learn_task(model, a, config_a, generator=torch.Generator().manual_seed(0))
        assert not learnt.diverged and learnt.accuracy > 0
        options = {"fisher_samples": 8} if name == "ewc" else {}
        curve = forgetting_curve(
            model,
            a,
            b,
            build_strategy(name, **options),
            config,
            eval_steps=(0, 10, 20),
            streams=lambda s: torch.Generator().manual_seed(len(s)),
        )
        summary = curve.summary()
        assert summary["ret@0"] == 1.0 and math.isfinite(summary["aurc"])
        assert summary["acc_a0"] == pytest.approx(learnt.accuracy)
        assert curve.curve.loss_a[0] == pytest.approx(learnt.loss)
        delta = curve.delta_loss
        assert delta[0] == 0.0 and np.isfinite(delta).all()
        np.testing.assert_array_equal(curve.loss_arrays()["delta_loss"], delta)
        assert curve.per_token and summary["dloss@0"] == 0.0
        assert summary["dloss@20"] == pytest.approx(float(delta[-1]))
        arrays = curve.arrays()
        assert set(arrays) == {
            "steps",
            "acc_a",
            "acc_b",
            "retention",
            "loss",
            "loss_a",
            "delta_loss",
        }
        np.testing.assert_array_equal(arrays["delta_loss"], delta)
        outcomes[name] = delta[-1]
    assert outcomes["naive"] > 0  # code fine-tuning raises the prose loss


@pytest.mark.parametrize("name", sorted(SEQUENCE_REFUSED))
def test_strategies_for_classifiers_refuse_a_token_stream(name: str) -> None:
    stream = [_token_task(0, seed=10), _token_task(1, seed=20)]
    config = TrainConfig(optimizer="adam", lr=1e-3, steps=2, batch_size=4)
    with pytest.raises(InputError, match=r"per-token|sequence|\(B, C\)"):
        run_stream(
            lambda outputs: HFLogits(_gpt2(vocab=outputs)),
            stream,
            build_strategy(name),
            config,
            scenario="class_il",
            generator=torch.Generator().manual_seed(0),
        )
