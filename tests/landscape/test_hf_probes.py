"""The landscape probes on HuggingFace models through the HFLogits adapter (issue 17)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("transformers")

from axionlab.landscape import (
    HFLogits,
    fisher_diagonal,
    hessian_top_eigenvalues,
    hessian_trace,
    loss_line,
    loss_plane,
    probe_data,
    random_directions,
    seeded_directions,
    sequence_fisher_diagonal,
    sharpness,
    token_cross_entropy,
)
from axionlab.models import build_model

VOCAB, SEQ = 64, 16


def _gpt2(seed: int = 0, **extra: object) -> nn.Module:
    config = {
        "model_type": "gpt2",
        "n_layer": 2,
        "n_embd": 32,
        "n_head": 2,
        "n_positions": SEQ,
        "vocab_size": VOCAB,
        "bos_token_id": 0,
        "eos_token_id": 0,
        **extra,
    }
    gen = torch.Generator().manual_seed(seed)
    return build_model("hf", (SEQ,), int(config["vocab_size"]), config=config, generator=gen)


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
    gen = torch.Generator().manual_seed(seed)
    return build_model("hf", (SEQ,), VOCAB, config=config, generator=gen)


def _batch(n: int = 3, seed: int = 1) -> dict[str, torch.Tensor]:
    ids = torch.randint(1, VOCAB, (n, SEQ), generator=torch.Generator().manual_seed(seed))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}


def _in_place_plane(model, batch, directions, coefs):
    """The reference: write θ + a·d₁ + b·d₂ into the HF model and call model(**batch).loss."""
    names = dict(model.named_parameters())  # tied weights once, as the wrapper's
    center = {n: p.detach().clone() for n, p in names.items()}
    was = model.training
    model.eval()
    out = np.empty((len(coefs), len(coefs)))
    try:
        with torch.no_grad():
            for i, a in enumerate(coefs):
                for j, b in enumerate(coefs):
                    for n, p in names.items():
                        d1, d2 = directions[0][f"model.{n}"], directions[1][f"model.{n}"]
                        p.copy_(center[n] + a * d1 + b * d2)
                    out[i, j] = float(model(**batch).loss)
    finally:
        with torch.no_grad():
            for n, p in names.items():
                p.copy_(center[n])
        model.train(was)
    return out


@pytest.mark.parametrize("make", [_gpt2, _llama], ids=["gpt2", "llama"])
def test_plane_equals_in_place_loop_and_leaves_model_untouched(make, tiny):
    model = make()
    model.train()
    batch = _batch()
    probe = HFLogits(model)
    snap = tiny.snapshot(model)
    gen = torch.Generator().manual_seed(3)
    directions = random_directions(probe, 2, generator=gen)
    surface = loss_plane(probe, token_cross_entropy, probe_data(batch), directions, steps=3)
    tiny.assert_unchanged(model, snap)
    expected = _in_place_plane(model, batch, directions, [-1.0, 0.0, 1.0])
    np.testing.assert_allclose(surface.values, expected, atol=1e-5, rtol=0)
    with torch.no_grad():
        center = float(model.eval()(**batch).loss)
    assert surface.center_loss == pytest.approx(center, abs=1e-5)


def test_token_cross_entropy_is_hf_loss_with_ignored_labels():
    model = _gpt2().eval()
    batch = _batch()
    batch["labels"][0, 5:9] = -100
    with torch.no_grad():
        ours = token_cross_entropy(HFLogits(model)(batch["input_ids"]), batch["labels"])
        torch.testing.assert_close(ours, model(**batch).loss, atol=1e-6, rtol=0)


def test_tied_weights_perturbed_once():
    model = _gpt2()
    assert model.transformer.wte.weight is model.lm_head.weight
    probe = HFLogits(model)
    names = [n for n, _ in probe.named_parameters()]
    assert "model.transformer.wte.weight" in names
    assert "model.lm_head.weight" not in names
    batch = _batch()
    # only the tied embedding moves: if functional_call untied it, the head would keep θ
    only = {n: torch.zeros_like(p) for n, p in probe.named_parameters()}
    wte = model.transformer.wte.weight
    only["model.transformer.wte.weight"] = 0.3 * torch.randn(
        wte.shape, generator=torch.Generator().manual_seed(0)
    )
    zero = {n: torch.zeros_like(t) for n, t in only.items()}
    line = loss_line(probe, token_cross_entropy, probe_data(batch), only, steps=3)
    reference = _in_place_plane(model, batch, [only, zero], [-1.0, 0.0, 1.0])[:, 1]
    np.testing.assert_allclose(line.values, reference, atol=1e-5, rtol=0)
    assert wte is model.lm_head.weight


def test_conv1d_filters_are_output_columns():
    model = _gpt2()
    probe = HFLogits(model)
    (d,) = random_directions(probe, 1, generator=torch.Generator().manual_seed(1))
    for name, module in probe.named_modules():
        if type(module).__name__ == "Conv1D":
            w, dw = module.weight.detach(), d[f"{name}.weight"]  # (in, out)
            torch.testing.assert_close(dw.norm(dim=0), w.norm(dim=0))
        if isinstance(module, nn.Embedding):
            w, dw = module.weight.detach(), d[f"{name}.weight"]  # (tokens, hidden): rows
            torch.testing.assert_close(dw.norm(dim=1), w.norm(dim=1))
    ln = "model.transformer.h.0.ln_1.weight"
    assert torch.count_nonzero(d[ln]) == 0


def test_seeded_directions_reproducible_and_order_free():
    probe = HFLogits(_llama())
    first = seeded_directions(probe, 7, 2)
    again = seeded_directions(HFLogits(_llama()), 7, 2)
    for a, b in zip(first, again, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(first[0]["model.lm_head.weight"], first[1]["model.lm_head.weight"])

    from axionlab.repro import torch_generator

    name = "model.model.layers.1.mlp.up_proj.weight"
    raw = seeded_directions(probe, 7, 1, normalization="none")[0][name]
    assert torch.equal(
        raw, torch.randn(raw.shape, generator=torch_generator(7, "direction", name, 0))
    )


def test_seeded_directions_ignore_parameter_order():
    lin = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    swapped = nn.Sequential()
    swapped.add_module("1", lin[1])
    swapped.add_module("0", lin[0])
    a = seeded_directions(lin, 5, 1)[0]
    b = seeded_directions(swapped, 5, 1)[0]
    assert list(a) != list(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_hessian_top_eigenvalue_matches_dense_hessian():
    model = _gpt2(n_layer=1, n_embd=8, n_head=2, vocab_size=16)
    probe = HFLogits(model)
    for name, p in probe.named_parameters():  # a small subset keeps the dense Hessian cheap
        p.requires_grad_(name.endswith("h.0.mlp.c_fc.weight"))
    ids = torch.randint(0, 16, (2, 8), generator=torch.Generator().manual_seed(0))
    data = (ids, ids)
    result = hessian_top_eigenvalues(probe, token_cross_entropy, data, k=2, tol=1e-9)
    (name, weight) = next((n, p) for n, p in probe.named_parameters() if p.requires_grad)

    def loss(flat: torch.Tensor) -> torch.Tensor:
        out = torch.func.functional_call(probe, {name: flat.reshape(weight.shape)}, (ids,))
        return token_cross_entropy(out, ids)

    probe.eval()
    dense = torch.autograd.functional.hessian(loss, weight.detach().flatten())
    top = torch.linalg.eigvalsh(dense.double()).flip(0)[:2].numpy()
    np.testing.assert_allclose(result.eigenvalues, top, atol=1e-4, rtol=1e-4)


def test_hessian_trace_equals_dense_trace_on_final_layer_norm():
    probe = HFLogits(_gpt2(n_layer=1, n_embd=8, n_head=2, vocab_size=16))
    subset = ("model.transformer.ln_f.weight", "model.transformer.ln_f.bias")  # 16 entries
    for name, p in probe.named_parameters():
        p.requires_grad_(name in subset)
    ids = torch.randint(0, 16, (2, 8), generator=torch.Generator().manual_seed(0))
    # Hutch++ with a 16-column sketch spans all 16 dimensions: the trace is then exact
    result = hessian_trace(probe, token_cross_entropy, (ids, ids), method="hutch++", n_hvp=48)
    weights = {n: p.detach() for n, p in probe.named_parameters() if n in subset}

    def loss(w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = torch.func.functional_call(probe, {subset[0]: w, subset[1]: b}, (ids,))
        return token_cross_entropy(out, ids)

    probe.eval()
    blocks = torch.autograd.functional.hessian(loss, (weights[subset[0]], weights[subset[1]]))
    dense = float(torch.diagonal(blocks[0][0]).sum() + torch.diagonal(blocks[1][1]).sum())
    assert result.estimate == pytest.approx(dense, abs=1e-4, rel=1e-4)


def test_sequence_fisher_equals_per_sequence_loop():
    probe = HFLogits(_llama())
    ids, labels = probe_data(_batch(4))
    fisher = sequence_fisher_diagonal(probe, (ids, labels), batch_size=3)
    params = dict(probe.named_parameters())
    expected = {n: torch.zeros_like(p) for n, p in params.items()}
    probe.eval()
    for i in range(4):
        loss = token_cross_entropy(probe(ids[i : i + 1]), labels[i : i + 1])
        grads = torch.autograd.grad(loss, list(params.values()))
        for n, g in zip(params, grads, strict=True):
            expected[n] += g.square() / 4
    for n in params:
        torch.testing.assert_close(fisher[n], expected[n], atol=1e-9, rtol=1e-4)


def test_sharpness_equals_in_place_sam_step(tiny):
    model = _gpt2()
    batch = _batch()
    snap = tiny.snapshot(model)
    result = sharpness(HFLogits(model), token_cross_entropy, probe_data(batch), rho=0.05)
    tiny.assert_unchanged(model, snap)
    model.eval()
    params = list(model.parameters())  # the tied embedding once
    center = model(**batch).loss
    grads = torch.autograd.grad(center, params)
    scale = 0.05 / torch.sqrt(sum(g.double().square().sum() for g in grads))
    saved = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p, g in zip(params, grads, strict=True):
            p.add_(scale.float() * g)
        perturbed = float(model(**batch).loss)
        for p, s in zip(params, saved, strict=True):
            p.copy_(s)
    model.train()
    assert result.center_loss == pytest.approx(float(center), abs=1e-5)
    assert result.perturbed_loss == pytest.approx(perturbed, abs=1e-5)
    assert result.value > 0


def test_bf16_compute_deviation_from_fp32_is_small():
    model = _gpt2()
    ids, labels = probe_data(_batch(8))
    with torch.no_grad():
        fp32 = float(token_cross_entropy(HFLogits(model).eval()(ids), labels))
        bf16 = HFLogits(model, compute_dtype="bfloat16").eval()
        low = float(token_cross_entropy(bf16(ids), labels))
    # bf16 keeps 8 mantissa bits (relative step 2^-8 = 0.4%) and the logits move by that much,
    # but with fp32 accumulation and an fp32 loss the errors average out: measured 1e-5
    # relative here, 1e-5 (GPT-2) and 1.4e-4 (LLaMA) with weights scaled 10x
    assert low != fp32
    assert abs(low - fp32) < 1e-3 * fp32


def test_sequence_classification_logits_and_fisher():
    config = {"model_type": "llama", "num_hidden_layers": 1, "hidden_size": 16}
    config |= {"intermediate_size": 32, "num_attention_heads": 2, "num_key_value_heads": 2}
    config |= {"vocab_size": VOCAB, "pad_token_id": 0, "bos_token_id": 0, "eos_token_id": 0}
    gen = torch.Generator().manual_seed(0)
    model = build_model(
        "hf", (SEQ,), 3, config=config, task="sequence_classification", generator=gen
    ).eval()
    ids = _batch(4)["input_ids"]  # ids >= 1: no padding token
    y = torch.tensor([0, 2, 1, 2])
    probe = HFLogits(model)
    with torch.no_grad():
        torch.testing.assert_close(probe(ids), model(input_ids=ids, labels=y).logits)
        hf_loss = float(model(input_ids=ids, labels=y).loss)
    (d,) = random_directions(probe, 1)
    line = loss_line(probe, nn.functional.cross_entropy, (ids, y), d, steps=3)
    assert line.center_loss == pytest.approx(hf_loss, abs=1e-6)
    fisher = fisher_diagonal(probe, (ids, y))
    params = dict(probe.named_parameters())
    name = "model.score.weight"
    expected = torch.zeros_like(params[name])
    for i in range(4):
        loss = nn.functional.cross_entropy(probe(ids[i : i + 1]), y[i : i + 1])
        expected += torch.autograd.grad(loss, params[name])[0].square() / 4
    torch.testing.assert_close(fisher[name], expected, atol=1e-9, rtol=1e-4)


def test_per_sequence_fisher_runs_when_the_config_names_a_pad_token() -> None:
    # transformers looks for pad_token_id in the ids to warn about padding; under vmap that
    # data-dependent look cannot run, so HFLogits switches the warning off for its own calls
    model = _gpt2(pad_token_id=0)
    ids = torch.randint(0, VOCAB, (3, SEQ), generator=torch.Generator().manual_seed(3))
    ids[:, 0] = 0
    fisher = sequence_fisher_diagonal(HFLogits(model), (ids, ids), batch_size=3)
    assert all(torch.isfinite(v).all() for v in fisher.values())
    assert not any("warn_if_padding_and_no_attention_mask" in vars(m) for m in model.modules())
