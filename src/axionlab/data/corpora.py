"""Procedurally generated language corpora and a locally trained tokenizer (no network).

Two domains with different statistics, each deterministic from a seed:

- ``prose``: sentences from a small probabilistic context-free grammar over an English-like
  lexicon (determiners, adjectives, nouns, verbs, prepositions; words drawn Zipf-like within each
  class), two to five sentences per document, one document per line of ``train.txt``/``test.txt``.
- ``code``: Python-like functions (assignments, arithmetic, ``if``/``for``/``return`` with
  indentation), one multi-line document per line of ``train.jsonl``/``test.jsonl`` (field
  ``"text"``).

Both are written in the layout :func:`~axionlab.data.text.load_text_tasks` reads (one folder per
domain), so the same files exercise both readers. :func:`build_tokenizer` trains a byte-level BPE
with ``tokenizers`` on the train splits and saves it as a ``PreTrainedTokenizerFast`` directory
(``tokenizer.json``), loadable with ``from_pretrained(dir, local_files_only=True)``.
:func:`prepare_text_demo` does both, for the tests and the demo config.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from axionlab.data.offline import INSTALL_HINT, import_transformers
from axionlab.data.text import domain_file, read_documents
from axionlab.errors import ConfigError, did_you_mean
from axionlab.repro import numpy_rng

SPECIAL_TOKENS = ("<pad>", "<unk>", "<eos>")
"""Special tokens of :func:`build_tokenizer` (ids 0, 1, 2); ``<eos>`` separates packed documents."""

_DET = ("the", "a", "every", "some", "this", "that", "no", "each")
_ADJ = ("small", "old", "green", "quiet", "bright", "heavy", "strange", "warm", "slow", "tall",
        "empty", "broken", "silver", "gentle", "distant", "round")  # fmt: skip
_NOUN = ("cat", "river", "house", "child", "stone", "garden", "window", "bird", "road", "tree",
         "letter", "market", "teacher", "boat", "lamp", "field", "door", "song", "island", "city",
         "dog", "mountain", "friend", "clock", "forest", "king", "table", "cloud")  # fmt: skip
_VERB = ("sees", "finds", "carries", "follows", "remembers", "builds", "watches", "opens",
         "paints", "crosses", "hears", "keeps", "leaves", "visits", "sells", "reads")  # fmt: skip
_PREP = ("near", "under", "beyond", "with", "behind", "across", "inside")
_CONJ = ("and", "but", "while", "because")

_NAMES = ("x", "y", "n", "total", "count", "value", "acc", "tmp", "result", "k")
_ARGS = ("a", "b", "c", "data", "items", "size")
_FUNCS = ("add", "scale", "merge", "update", "step", "reduce", "check", "score", "fold")
_OPS = ("+", "-", "*", "//", "%")
_CMP = ("<", ">", "==", "!=", "<=", ">=")


def _zipf(rng: np.random.Generator, words: Sequence[str]) -> str:
    weights = 1.0 / np.arange(1, len(words) + 1)
    return words[int(rng.choice(len(words), p=weights / weights.sum()))]


def _noun_phrase(rng: np.random.Generator, depth: int) -> list[str]:
    words = [_zipf(rng, _DET)]
    if rng.random() < 0.4:
        words.append(_zipf(rng, _ADJ))
    words.append(_zipf(rng, _NOUN))
    if words[0] == "a" and words[1][0] in "aeiou":
        words[0] = "an"
    if depth < 2 and rng.random() < 0.25:
        words += [_zipf(rng, _PREP), *_noun_phrase(rng, depth + 1)]
    return words


def _clause(rng: np.random.Generator) -> list[str]:
    words = [*_noun_phrase(rng, 0), _zipf(rng, _VERB)]
    r = rng.random()
    if r < 0.65:
        words += _noun_phrase(rng, 0)
    elif r < 0.85:
        words += [_zipf(rng, _PREP), *_noun_phrase(rng, 1)]
    return words


def _prose_document(rng: np.random.Generator) -> str:
    sentences = []
    for _ in range(int(rng.integers(2, 6))):
        words = _clause(rng)
        if rng.random() < 0.3:
            words += [_zipf(rng, _CONJ), *_clause(rng)]
        sentences.append(" ".join(words).capitalize() + ".")
    return " ".join(sentences)


def _expr(rng: np.random.Generator, names: Sequence[str]) -> str:
    left = _zipf(rng, names)
    right = str(int(rng.integers(0, 100))) if rng.random() < 0.5 else _zipf(rng, names)
    return f"{left} {_zipf(rng, _OPS)} {right}"


def _statements(rng: np.random.Generator, names: list[str], indent: str, depth: int) -> list[str]:
    lines = []
    for _ in range(int(rng.integers(1, 4))):
        r = rng.random()
        if r < 0.45 or depth >= 2:
            target = _zipf(rng, _NAMES)
            lines.append(f"{indent}{target} = {_expr(rng, names)}")
            if target not in names:
                names.append(target)
        elif r < 0.7:
            lines.append(f"{indent}if {_zipf(rng, names)} {_zipf(rng, _CMP)} {_expr(rng, names)}:")
            lines += _statements(rng, names, indent + "    ", depth + 1)
        else:
            lines.append(f"{indent}for i in range({int(rng.integers(1, 20))}):")
            lines += _statements(rng, [*names, "i"], indent + "    ", depth + 1)
    return lines


def _code_document(rng: np.random.Generator) -> str:
    n_args = int(rng.integers(1, 4))
    args = [str(a) for a in rng.choice(_ARGS, size=n_args, replace=False)]
    name = f"{_zipf(rng, _FUNCS)}_{int(rng.integers(0, 10))}"
    lines = [f"def {name}({', '.join(args)}):"]
    lines += _statements(rng, list(args), "    ", 0)
    lines.append(f"    return {_expr(rng, args)}")
    return "\n".join(lines)


CORPORA: dict[str, tuple[Callable[[np.random.Generator], str], str]] = {
    "prose": (_prose_document, "txt"),
    "code": (_code_document, "jsonl"),
}
"""Domain name -> (document generator, file format written by :func:`write_corpora`)."""


def generate_documents(domain: str, n: int, rng: np.random.Generator) -> list[str]:
    """``n`` documents of ``domain`` (a key of :data:`CORPORA`) drawn from ``rng``.

    Raises
    ------
    ConfigError
        ``domain`` is not a known corpus.
    """
    if domain not in CORPORA:
        raise ConfigError(
            f"unknown corpus {domain!r}.{did_you_mean(domain, CORPORA)} "
            f"Available: {', '.join(sorted(CORPORA))}"
        )
    make = CORPORA[domain][0]
    return [make(rng) for _ in range(n)]


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def write_corpora(
    root: str | Path,
    *,
    seed: int = 0,
    n_train: int = 1000,
    n_test: int = 200,
    domains: Iterable[str] = ("prose", "code"),
) -> Path:
    """Write each domain's ``train``/``test`` files under ``root/<domain>/``; return ``root``.

    Each (domain, split) draws from its own stream ``numpy_rng(seed, "corpus", domain, split)``,
    so the files are byte-identical for equal arguments and adding a domain shifts no other.

    Raises
    ------
    ConfigError
        An unknown domain, or ``n_train``/``n_test`` below 1.
    """
    if n_train < 1 or n_test < 1:
        raise ConfigError(
            f"write_corpora: n_train and n_test must be >= 1, got {n_train}, {n_test}"
        )
    root = Path(root)
    for domain in domains:
        fmt = CORPORA[domain][1] if domain in CORPORA else "txt"
        for split, n in (("train", n_train), ("test", n_test)):
            docs = generate_documents(domain, n, numpy_rng(seed, "corpus", domain, split))
            if fmt == "jsonl":
                text = "".join(json.dumps({"text": d}) + "\n" for d in docs)
            else:
                text = "".join(d + "\n" for d in docs)
            _write_atomic(root / domain / f"{split}.{fmt}", text)
    return root


def build_tokenizer(
    corpora: str | Path,
    out_dir: str | Path,
    *,
    vocab_size: int = 512,
    domains: Iterable[str] | None = None,
) -> Path:
    """Train a byte-level BPE on the train splits under ``corpora`` and save it to ``out_dir``.

    The saved directory is a ``PreTrainedTokenizerFast`` (``tokenizer.json`` plus its config)
    with ``<pad>``, ``<unk>`` and ``<eos>`` as ids 0-2; byte-level pre-tokenisation keeps spaces
    and newlines, so decoding gives the text back exactly.

    Parameters
    ----------
    corpora
        A root in the layout of :func:`write_corpora`.
    out_dir
        Where to save; created if missing.
    vocab_size
        Target vocabulary including the 256 byte tokens and the specials.
    domains
        Folders to train on; ``None`` uses every folder of ``corpora``.

    Raises
    ------
    DataError
        A domain has no train file (see :func:`~axionlab.data.text.domain_file`).
    ConfigError
        ``vocab_size`` is below 260 or ``transformers``/``tokenizers`` are not installed.
    """
    if vocab_size < 260:
        raise ConfigError(
            f"build_tokenizer: vocab_size must be >= 260 (bytes + specials), got {vocab_size}"
        )
    try:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    except ImportError:
        raise ConfigError(f"build_tokenizer needs the hf extra: {INSTALL_HINT}") from None
    transformers = import_transformers()
    root = Path(corpora)
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    docs: list[str] = []
    for domain in names if domains is None else list(domains):
        docs += read_documents(domain_file(root, domain, "train"))
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(docs, trainer=trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", eos_token="<eos>"
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out))
    return out


@dataclass(frozen=True)
class TextDemo:
    """Where :func:`prepare_text_demo` put things.

    Attributes
    ----------
    corpora
        Root with one folder per domain (``prose``, ``code``).
    tokenizer
        Directory of the locally trained tokenizer.
    """

    corpora: Path
    tokenizer: Path


def prepare_text_demo(
    root: str | Path,
    *,
    seed: int = 0,
    n_train: int = 1000,
    n_test: int = 200,
    vocab_size: int = 512,
) -> TextDemo:
    """Write the shipped corpora to ``root/corpora`` and their tokenizer to ``root/tokenizer``.

    Idempotent: a second call with the same arguments finds a stamp and returns at once.
    """
    root = Path(root)
    demo = TextDemo(corpora=root / "corpora", tokenizer=root / "tokenizer")
    stamp = root / ".text-demo.json"
    wanted = json.dumps(
        {"seed": seed, "n_train": n_train, "n_test": n_test, "vocab_size": vocab_size}
    )
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == wanted:
        return demo
    write_corpora(demo.corpora, seed=seed, n_train=n_train, n_test=n_test)
    build_tokenizer(demo.corpora, demo.tokenizer, vocab_size=vocab_size)
    _write_atomic(stamp, wanted)
    return demo
