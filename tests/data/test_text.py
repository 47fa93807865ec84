"""Language tasks: procedural corpora, the local tokenizer, packing, the token cache and errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

pytest.importorskip("tokenizers")

from axionlab.data.corpora import (
    build_tokenizer,
    generate_documents,
    prepare_text_demo,
    write_corpora,
)
from axionlab.data.text import (
    TextTokenizer,
    load_text_domain,
    load_text_tasks,
    load_tokenizer,
    read_documents,
    tokenize_file,
)
from axionlab.errors import ConfigError, DataError
from axionlab.repro import numpy_rng

SEQ = 16


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return prepare_text_demo(tmp_path_factory.mktemp("demo"), n_train=80, n_test=20, vocab_size=320)


@pytest.fixture(scope="module")
def tok(demo):
    return load_tokenizer(demo.tokenizer)


def copy_corpora(demo, dst):
    write_corpora(dst, n_train=80, n_test=20)
    return dst


def test_corpora_are_deterministic_from_the_seed(tmp_path, demo):
    def contents(root):
        return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*.*")) if
                ".cache" not in p.parts}  # fmt: skip

    write_corpora(tmp_path / "a", n_train=80, n_test=20)
    write_corpora(tmp_path / "b", n_train=80, n_test=20, seed=1)
    same = contents(tmp_path / "a")
    assert same == contents(demo.corpora)
    assert set(same) == {
        p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.*")
    }  # the layout: prose/{train,test}.txt and code/{train,test}.jsonl
    assert all(same[k] != v for k, v in contents(tmp_path / "b").items())
    assert generate_documents("code", 3, numpy_rng(0, "x")) == generate_documents(
        "code", 3, numpy_rng(0, "x")
    )
    with pytest.raises(ConfigError, match="Did you mean 'prose'"):
        generate_documents("pros", 1, numpy_rng(0))


def unigram(split, vocab):
    counts = np.bincount(np.asarray(split.tokens).ravel(), minlength=vocab).astype(float) + 1.0
    return counts / counts.sum()


def test_the_two_domains_differ_in_their_token_statistics(demo, tok, tmp_path):
    tasks = load_text_tasks(
        demo.corpora, task_a="prose", task_b="code", tokenizer=demo.tokenizer, seq_len=SEQ,
        cache_dir=tmp_path,
    )  # fmt: skip
    p = unigram(tasks.task_a.train, tok.vocab_size)
    q = unigram(tasks.task_b.train, tok.vocab_size)
    kl_pq, kl_qp = float(np.sum(p * np.log(p / q))), float(np.sum(q * np.log(q / p)))
    # measured 2.2 and 2.9 nats (5.7 at the defaults); train vs test of one domain: 0.07
    assert min(kl_pq, kl_qp) > 1.5
    pt = unigram(tasks.task_a.test, tok.vocab_size)
    assert float(np.sum(pt * np.log(pt / p))) < 0.3


def test_tokenizer_loads_with_from_pretrained_and_round_trips(demo, tok):
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast.from_pretrained(str(demo.tokenizer), local_files_only=True)
    assert (fast.eos_token_id, fast.pad_token_id, tok.eos_token_id) == (2, 0, 2)
    assert len(fast) == tok.vocab_size == 320
    for split in ("prose/train.txt", "code/train.jsonl"):
        docs = read_documents(demo.corpora / split)[:5]
        ids = tok.encode(docs)
        assert ids == [fast(d, add_special_tokens=False)["input_ids"] for d in docs]
        assert [fast.decode(i) for i in ids] == docs


def test_tokenizer_build_is_deterministic(demo, tmp_path):
    build_tokenizer(demo.corpora, tmp_path / "t", vocab_size=320)
    assert (tmp_path / "t" / "tokenizer.json").read_bytes() == (
        demo.tokenizer / "tokenizer.json"
    ).read_bytes()


def test_packing_shapes_labels_and_stream(demo, tok, tmp_path):
    domain = load_text_domain(demo.corpora, "code", seq_len=SEQ, tokenizer=tok, cache_dir=tmp_path)
    docs = read_documents(demo.corpora / "code" / "train.jsonl")
    stream = [t for ids in tok.encode(docs) for t in [*ids, tok.eos_token_id]]
    n = len(stream) // SEQ
    assert domain.train.tokens.shape == (n, SEQ) and len(domain.train) == n
    assert isinstance(domain.train.tokens.base, np.memmap) or isinstance(
        domain.train.tokens, np.memmap
    )
    assert np.array_equal(np.asarray(domain.train.tokens).ravel(), stream[: n * SEQ])
    batch = domain.train.batch([3, 0, 5])
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    assert all(v.shape == (3, SEQ) and v.dtype == torch.int64 for v in batch.values())
    assert torch.equal(batch["labels"], batch["input_ids"])
    assert batch["labels"].data_ptr() != batch["input_ids"].data_ptr()
    assert torch.equal(batch["attention_mask"], torch.ones(3, SEQ, dtype=torch.int64))
    assert torch.equal(batch["input_ids"][1], torch.tensor(stream[:SEQ]))
    rows = [
        b["input_ids"] for b in domain.train.batches(7, generator=torch.Generator().manual_seed(0))
    ]
    again = [
        b["input_ids"] for b in domain.train.batches(7, generator=torch.Generator().manual_seed(0))
    ]
    assert all(torch.equal(a, b) for a, b in zip(rows, again, strict=True))
    assert sum(len(r) for r in rows) == n
    ordered = torch.cat([b["input_ids"] for b in domain.train.batches(7)])
    assert torch.equal(ordered, torch.from_numpy(np.asarray(domain.train.tokens, dtype=np.int64)))


def test_cache_is_reused_and_invalidated_by_a_changed_file(demo, tok, tmp_path, monkeypatch):
    root = copy_corpora(demo, tmp_path / "corpora")
    first = load_text_domain(root, "prose", seq_len=SEQ, tokenizer=tok)  # cache in root/.cache
    assert not first.train.from_cache
    cache_files = sorted((root / ".cache").iterdir())
    mtimes = [p.stat().st_mtime_ns for p in cache_files]
    calls = []
    monkeypatch.setattr(TextTokenizer, "encode", lambda self, docs: calls.append(docs) or [])
    second = load_text_domain(root, "prose", seq_len=SEQ, tokenizer=tok)
    assert second.train.from_cache and second.test.from_cache and not calls
    assert [p.stat().st_mtime_ns for p in cache_files] == mtimes
    assert np.array_equal(second.train.tokens, first.train.tokens)
    monkeypatch.undo()
    with (root / "prose" / "train.txt").open("a") as fh:
        fh.write("The cat sees the river.\n")
    third = load_text_domain(root, "prose", seq_len=SEQ, tokenizer=tok)
    assert not third.train.from_cache and third.test.from_cache
    assert len(list((root / ".cache").iterdir())) == len(cache_files) + 1


def test_cache_is_keyed_by_the_tokenizer(demo, tmp_path):
    other = build_tokenizer(demo.corpora, tmp_path / "tok", vocab_size=300)
    a = tokenize_file(demo.corpora / "prose" / "test.txt", load_tokenizer(demo.tokenizer), tmp_path)
    b = tokenize_file(demo.corpora / "prose" / "test.txt", load_tokenizer(other), tmp_path)
    assert not b.from_cache and a.cache != b.cache and len(b.tokens) > len(a.tokens)


def test_txt_and_jsonl_are_both_read(tmp_path):
    (tmp_path / "a.txt").write_text("first doc\n\n  \nsecond doc\n")
    (tmp_path / "b.jsonl").write_text(
        json.dumps({"text": "line one\nline two", "id": 1}) + "\n\n" + json.dumps({"text": "x"})
    )
    assert read_documents(tmp_path / "a.txt") == ["first doc", "second doc"]
    assert read_documents(tmp_path / "b.jsonl") == ["line one\nline two", "x"]


def one_line(err):
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('{"text": "ok"}\n{"text": 3}\n', "line 2: needs a string field 'text'"),
        ('{"txt": "ok"}\n', "line 1: needs a string field 'text', got \\['txt'\\]"),
        ('{"text": "ok"}\n{broken\n', "line 2: not valid JSON"),
        ("\n\n", "holds no document"),
    ],
)
def test_malformed_files_name_the_file_and_line(tmp_path, content, match):
    path = tmp_path / "train.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match=match) as err:
        read_documents(path)
    assert str(path) in one_line(err)


def test_non_utf8_file(tmp_path):
    (tmp_path / "train.txt").write_bytes(b"ok\n\xff\xfe\n")
    with pytest.raises(DataError, match="is not UTF-8"):
        read_documents(tmp_path / "train.txt")


def test_layout_and_option_errors(demo, tmp_path):
    root = copy_corpora(demo, tmp_path / "c")
    kw = {"tokenizer": demo.tokenizer, "seq_len": SEQ}
    cases = [
        (lambda: load_text_tasks(tmp_path / "nope", task_a="prose", task_b="code", **kw),
         DataError, "text root .*nope does not exist"),
        (lambda: load_text_tasks(root, task_a="prosa", task_b="code", **kw),
         DataError, "domain 'prosa' not found.*Did you mean 'prose'.*Domains: code, prose"),
        (lambda: load_text_tasks(root, task_a="code", task_b="code", **kw),
         ConfigError, "must be different domains"),
        (lambda: load_text_tasks(root, task_a="prose", task_b="code", tokenizer=demo.tokenizer,
                                 seq_len=1), ConfigError, "seq_len must be an integer >= 2"),
        (lambda: load_text_tasks(root, task_a="prose", task_b="code", tokenizer=tmp_path / "t",
                                 seq_len=SEQ), DataError, "tokenizer dir .*t does not exist"),
        (lambda: load_text_tasks(root, task_a="prose", task_b="code", tokenizer=root,
                                 seq_len=SEQ), DataError, "has no tokenizer.json"),
        (lambda: load_text_domain(root, "prose", seq_len=100_000, tokenizer=demo.tokenizer),
         DataError, "train.txt has .* tokens, fewer than seq_len=100000"),
    ]  # fmt: skip
    for call, error, match in cases:
        with pytest.raises(error, match=match) as err:
            call()
        one_line(err)
    (root / "code" / "train.txt").write_text("x\n")
    with pytest.raises(DataError, match=r"has both train\.txt and train\.jsonl"):
        load_text_domain(root, "code", **kw)
    os.remove(root / "prose" / "test.txt")
    with pytest.raises(DataError, match=r"prose has no test\.txt or test\.jsonl") as err:
        load_text_domain(root, "prose", **kw)
    assert str(root / "prose") in one_line(err)


def test_unwritable_cache_dir_is_a_data_error(demo, tok, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DataError, match=r"cannot be written.*pass a writable cache_dir"):
        tokenize_file(demo.corpora / "prose" / "test.txt", tok, blocker / "sub")


def test_prepare_text_demo_is_idempotent(demo):
    stamp = [p.stat().st_mtime_ns for p in sorted(demo.corpora.rglob("*.*"))]
    again = prepare_text_demo(demo.corpora.parent, n_train=80, n_test=20, vocab_size=320)
    assert again == demo
    assert [p.stat().st_mtime_ns for p in sorted(demo.corpora.rglob("*.*"))] == stamp
