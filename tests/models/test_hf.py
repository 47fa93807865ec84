"""The ``hf`` model source: checkpoint round trip, seeded init, errors, LM losses, network off."""

from __future__ import annotations

import os
import shutil
import socket
import threading

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("transformers")

from axionlab.data.corpora import prepare_text_demo
from axionlab.data.text import load_text_tasks
from axionlab.errors import ConfigError, DataError, InputError
from axionlab.models import (
    build_model,
    count_parameters,
    evaluate_lm,
    get_head,
    lm_loss,
    next_token_accuracy,
)

SEQ = 16
TINY = {
    "gpt2": {"n_layer": 2, "n_embd": 32, "n_head": 2, "n_positions": 32, "bos_token_id": 2,
             "eos_token_id": 2},
    "llama": {"num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 2,
              "num_key_value_heads": 1, "intermediate_size": 64, "max_position_embeddings": 32},
    "gpt_neox": {"num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 2,
                 "intermediate_size": 64, "max_position_embeddings": 32},
}  # fmt: skip


def config(model_type: str) -> dict[str, object]:
    return {"model_type": model_type, **TINY[model_type]}


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return prepare_text_demo(tmp_path_factory.mktemp("demo"), n_train=60, n_test=20, vocab_size=300)


@pytest.fixture(scope="module")
def tasks(demo, tmp_path_factory):
    return load_text_tasks(
        demo.corpora,
        task_a="prose",
        task_b="code",
        tokenizer=demo.tokenizer,
        seq_len=SEQ,
        cache_dir=tmp_path_factory.mktemp("cache"),
    )


def tiny(model_type: str, vocab: int, seed: int = 0, **options):
    return build_model(
        "hf", (SEQ,), vocab, generator=gen(seed), config=config(model_type), **options
    )


def save_checkpoint(model, demo, path):
    model.save_pretrained(path)
    for file in demo.tokenizer.iterdir():
        shutil.copy(file, path / file.name)
    return path


@pytest.mark.parametrize("model_type", ["gpt2", "llama"])
def test_checkpoint_round_trip_gives_equal_logits(model_type, demo, tasks, tmp_path):
    model = tiny(model_type, tasks.vocab_size).eval()
    path = save_checkpoint(model, demo, tmp_path / model_type)
    assert sorted(p.name for p in path.glob("*.safetensors")) == ["model.safetensors"]
    loaded = build_model("hf", (SEQ,), tasks.vocab_size, path=str(path))
    assert (loaded.family, loaded.head_name, loaded.training) == (model_type, "lm_head", False)
    batch = tasks.task_a.test.batch(slice(0, 4))
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, loaded(**batch).logits)
    assert count_parameters(loaded) == count_parameters(model)
    # the tokenizer saved beside the weights is the model's own: the data loads through it
    again = load_text_tasks(
        demo.corpora, task_a="prose", task_b="code", tokenizer=path, seq_len=SEQ,
        cache_dir=tmp_path / "cache",
    )  # fmt: skip
    assert torch.equal(again.task_a.test.batch(slice(0, 4))["input_ids"], batch["input_ids"])


@pytest.mark.parametrize("model_type", ["gpt2", "llama", "gpt_neox"])
def test_init_is_deterministic_and_leaves_global_rng_alone(model_type):
    state = torch.get_rng_state()
    a = tiny(model_type, 64, seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(12345)  # global state must not matter
    b = tiny(model_type, 64, seed=1)
    c = tiny(model_type, 64, seed=2)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    weights = [k for k in sa if sa[k].dim() == 2]
    assert all(not torch.equal(sa[k], sc[k]) for k in weights)


def test_tied_weights_are_counted_once():
    gpt2 = tiny("gpt2", 64)
    assert gpt2.lm_head.weight is gpt2.transformer.wte.weight
    unique = {p.data_ptr(): p.numel() for p in gpt2.parameters(recurse=True)}
    everything = sum(p.numel() for _, p in gpt2.named_parameters(remove_duplicate=False))
    assert count_parameters(gpt2) == sum(unique.values()) == everything - 64 * 32
    llama = tiny("llama", 64)  # untied: the head is its own matrix
    assert count_parameters(llama) == sum(p.numel() for p in llama.parameters())
    assert get_head(gpt2) is gpt2.lm_head


def test_meta_device_builds_shapes_only(tmp_path, demo):
    meta = build_model("hf", (SEQ,), 64, device="meta", config=config("gpt2"))
    assert next(meta.parameters()).device.type == "meta"
    assert count_parameters(meta) == count_parameters(tiny("gpt2", 64))
    path = save_checkpoint(tiny("llama", 64), demo, tmp_path / "ck")
    from_dir = build_model("hf", (SEQ,), 64, device="meta", path=str(path))
    assert count_parameters(from_dir) == count_parameters(tiny("llama", 64))


def test_sequence_classification_uses_num_classes_as_labels(tmp_path, demo):
    model = tiny("llama", 64, task="sequence_classification")
    assert (model.config.num_labels, model.head_name) == (64, "score")
    clf = build_model(
        "hf", (SEQ,), 3, generator=gen(0), config={**config("gpt2"), "pad_token_id": 0},
        task="sequence_classification",
    )  # fmt: skip
    assert clf.config.num_labels == 3 and get_head(clf).out_features == 3
    # a causal-LM checkpoint gets a fresh head, drawn from the generator
    path = save_checkpoint(tiny("gpt2", 64), demo, tmp_path / "lm")
    task = "sequence_classification"
    heads = [
        build_model("hf", (SEQ,), 4, generator=gen(s), path=str(path), task=task).score.weight
        for s in (7, 7, 8)
    ]
    assert heads[0].shape == (4, 32)
    assert torch.equal(heads[0], heads[1]) and not torch.equal(heads[0], heads[2])


def test_bfloat16(tasks):
    model = tiny("gpt2", tasks.vocab_size, dtype="bfloat16")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert torch.isfinite(lm_loss(model, tasks.task_a.test.batch(slice(0, 2))))


def one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def write(path, name, text):
    path.mkdir(parents=True, exist_ok=True)
    (path / name).write_text(text)
    return path


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        (lambda p: p / "absent", "does not exist"),
        (lambda p: write(p, "x", "") / "x", "is not a directory"),
        (lambda p: write(p / "ck", "model.safetensors", ""), "has no config.json"),
        (lambda p: write(p / "ck", "config.json", "{not json"), "is not valid JSON"),
        (lambda p: write(p / "ck", "config.json", "{}"), "has no 'model_type'"),
        (lambda p: write(p / "ck", "config.json", '{"model_type": "gpt2"}'), "no \\*.safetensors"),
    ],
)
def test_checkpoint_errors_are_one_line_naming_the_dir(tmp_path, setup, match):
    path = setup(tmp_path)
    with pytest.raises(DataError, match=match) as err:
        build_model("hf", (SEQ,), 64, path=str(path))
    assert str(path.parent if path.name == "config.json" else path) in one_line(err)


def test_pickle_only_checkpoint_is_refused(tmp_path):
    model = tiny("gpt2", 64)
    model.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(DataError, match=r"only pickle weights \(pytorch_model\.bin\)") as err:
        build_model("hf", (SEQ,), 64, path=str(tmp_path))
    assert str(tmp_path) in one_line(err)


def test_broken_safetensors_is_one_data_error(tmp_path):
    tiny("gpt2", 64).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot load") as err:
        build_model("hf", (SEQ,), 64, path=str(tmp_path))
    assert str(tmp_path) in one_line(err)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({}, ConfigError, "exactly one of options.path"),
        ({"path": "x", "config": {"model_type": "gpt2"}}, ConfigError, "exactly one"),
        ({"config": {"model_type": "gpt2"}, "task": "causal"}, ConfigError, "task must be one of"),
        ({"config": {"model_type": "gpt2"}, "dtype": "fp16"}, ConfigError, "dtype must be one of"),
        ({"config": {"n_layer": 2}}, ConfigError, "needs a 'model_type'"),
        ({"config": {"model_type": "gtp2"}}, ConfigError, "Did you mean 'gpt2'"),
        ({"config": {**TINY["gpt2"], "model_type": "gpt2", "n_positions": 8}}, InputError,
         "exceed the model's 8 positions"),
        ({"config": {**TINY["gpt2"], "model_type": "gpt2", "vocab_size": 10}}, InputError,
         "vocab_size is 10"),
        ({"pth": "x"}, ConfigError, "has no option 'pth'. Did you mean 'path'"),
    ],
)  # fmt: skip
def test_option_errors(options, error, match):
    with pytest.raises(error, match=match) as err:
        build_model("hf", (SEQ,), 64, **options)
    one_line(err)


def manual_loss_and_accuracy(model, batch):
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"]).logits  # (B, L, V)
    pred, target = logits[:, :-1], batch["input_ids"][:, 1:]
    loss = F.cross_entropy(pred.reshape(-1, pred.shape[-1]), target.reshape(-1))
    return loss, (pred.argmax(-1) == target).float().mean(), target.numel()


@pytest.mark.parametrize("model_type", ["gpt2", "llama"])
def test_lm_loss_and_accuracy_equal_a_plain_shifted_cross_entropy(model_type, tasks):
    model = tiny(model_type, tasks.vocab_size).eval()
    batch = tasks.task_a.train.batch(slice(0, 5))
    loss, accuracy, _ = manual_loss_and_accuracy(model, batch)
    got = lm_loss(model, batch)
    assert got.requires_grad and abs(float(got.detach()) - float(loss)) < 1e-5
    assert abs(float(got.detach()) - float(torch.log(torch.tensor(float(tasks.vocab_size))))) < 0.5
    assert float(next_token_accuracy(model, batch)) == pytest.approx(float(accuracy), abs=1e-7)
    # token-weighted over uneven batches, and the train/eval mode comes back as it was
    parts = [tasks.task_b.test.batch(slice(0, 3)), tasks.task_b.test.batch(slice(3, 4))]
    manual = [manual_loss_and_accuracy(model, b) for b in parts]
    tokens = sum(n for *_, n in manual)
    model.train()
    score = evaluate_lm(model, parts)
    assert model.training
    assert score.tokens == tokens == 4 * (SEQ - 1)
    assert score.loss == pytest.approx(sum(float(lo) * n for lo, _, n in manual) / tokens, abs=1e-5)
    assert score.accuracy == pytest.approx(sum(float(a) * n for _, a, n in manual) / tokens)


def test_lm_loss_skips_ignored_labels(tasks):
    model = tiny("gpt2", tasks.vocab_size).eval()
    batch = tasks.task_a.train.batch(slice(0, 2))
    masked = {**batch, "labels": batch["labels"].clone()}
    masked["labels"][:, SEQ // 2 :] = -100
    logits = model(input_ids=batch["input_ids"]).logits[:, : SEQ // 2 - 1]
    target = batch["input_ids"][:, 1 : SEQ // 2]
    want = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
    assert lm_loss(model, masked).item() == pytest.approx(want.item(), abs=1e-5)
    with pytest.raises(InputError, match="needs 'labels'"):
        lm_loss(model, {"input_ids": batch["input_ids"]})


def test_hub_is_forced_offline(tmp_path):
    import huggingface_hub.constants

    tiny("gpt2", 64)
    assert os.environ["HF_HUB_OFFLINE"] == "1" and huggingface_hub.constants.HF_HUB_OFFLINE
    # a hub id is not a directory: refused before transformers could look it up
    with pytest.raises(DataError, match="gpt2 does not exist"):
        build_model("hf", (SEQ,), 64, path="gpt2")


def test_network_guard_bites_and_loopback_passes():
    for attempt in (
        lambda: socket.create_connection(("192.0.2.1", 80), timeout=0.1),
        lambda: socket.socket().connect(("192.0.2.1", 80)),
        lambda: socket.socket().connect_ex(("192.0.2.1", 80)),
        lambda: socket.socket(socket.AF_INET6).connect(("2001:db8::1", 80)),
        lambda: socket.socket().connect(("example.org", 80)),
    ):
        with pytest.raises(RuntimeError, match="network access in a test"):
            attempt()
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted = threading.Thread(target=lambda: server.accept()[0].close())
    accepted.start()
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    accepted.join(timeout=5)
    server.close()
