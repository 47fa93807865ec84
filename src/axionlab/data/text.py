"""Language-modelling tasks: text domains tokenised once, packed, cached as memory-mapped arrays.

Layout. ``root`` holds one folder per domain, each with ``train`` and ``test`` files, either
``.txt`` (one document per non-blank line) or ``.jsonl`` (one JSON object per line with a string
field ``"text"``; documents may span lines there)::

    root/prose/train.txt   root/prose/test.txt
    root/code/train.jsonl  root/code/test.jsonl

Packing. Each document is tokenised without special tokens and followed by the tokenizer's EOS
token; the concatenated stream is cut into ``seq_len``-token rows, the remainder dropped (GPT-2
style packing: a row may span documents, and every position is a real token, so the attention
mask is all ones). For a causal LM ``labels == input_ids``: the model shifts them inside.

Cache. The token stream of each file is written once as ``.npy`` (uint16 when the vocabulary
fits, else uint32) under ``cache_dir`` and reopened with ``mmap_mode="r"``. The cache key is the
SHA-256 of the file's bytes, of the tokenizer's files and of this module's packing format, so a
changed file or tokenizer gets a new entry and an unchanged one is never re-tokenised.

This is not a :class:`~axionlab.data.core.Dataset` (float inputs standardised per channel, class
labels): language tasks have their own typed records, :class:`TextTasks` and :class:`TextSplit`.

Next-token pairs. The generic training loop (:func:`axionlab.train.train`, ``evaluate`` and the
continual-learning strategies) takes ``(x, y)`` with per-position targets aligned to the model's
outputs. :func:`next_token_pairs` shifts once, ``input_ids = rows[:, :-1]`` and
``targets = rows[:, 1:]``, so position ``t``'s logits are scored against ``targets[:, t]`` without
a shift inside the loss; a causal model's logits on ``rows[:, :-1]`` are its logits on the full
rows at positions ``0..L-2`` (the last position predicts nothing), so the loss equals
``model(**batch).loss``. :func:`next_token_dataset` wraps a domain's pairs in a
:class:`~axionlab.data.core.Dataset` for the continual-learning runners.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from axionlab.data.core import Dataset
from axionlab.data.offline import INSTALL_HINT
from axionlab.errors import ConfigError, DataError, InputError, did_you_mean

TEXT_FORMATS = ("txt", "jsonl")
"""File suffixes read for a split, in this order of preference (both present is an error)."""

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
)
"""Files of a tokenizer directory that enter the cache key (a model's weights do not)."""

PACKING_VERSION = "1"
"""Bumped when the token stream of the same file and tokenizer would change."""

_CHUNK = 2048  # documents per encode_batch call: bounded memory, still batched in Rust


def domain_file(root: str | Path, domain: str, split: str) -> Path:
    """The ``split`` file (``train`` or ``test``) of ``domain`` under ``root``.

    Raises
    ------
    DataError
        ``root`` or the domain folder is missing, the split has no ``.txt``/``.jsonl`` file, or
        has both.
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(
            f"text root {base} does not exist; point root at a folder with one subfolder per "
            "domain (or write the shipped corpora with axionlab.data.corpora.write_corpora)"
        )
    folder = base / domain
    if not folder.is_dir():
        found = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
        raise DataError(
            f"text domain '{domain}' not found: no folder {folder}.{did_you_mean(domain, found)} "
            f"Domains: {', '.join(found) or 'none'}"
        )
    present = [
        folder / f"{split}.{fmt}" for fmt in TEXT_FORMATS if (folder / f"{split}.{fmt}").is_file()
    ]
    if not present:
        raise DataError(
            f"text domain folder {folder} has no {split}.txt or {split}.jsonl; add one "
            "(.txt: one document per line; .jsonl: objects with a 'text' field)"
        )
    if len(present) > 1:
        raise DataError(
            f"text domain folder {folder} has both {split}.txt and {split}.jsonl; keep one"
        )
    return present[0]


def read_documents(path: str | Path) -> list[str]:
    """The documents of a ``.txt`` (non-blank lines) or ``.jsonl`` (``"text"`` fields) file.

    Raises
    ------
    DataError
        The file is not UTF-8, a ``.jsonl`` line is not a JSON object with a string ``"text"``,
        the suffix is neither, or the file holds no document.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".")
    if fmt not in TEXT_FORMATS:
        raise DataError(f"text file {path} must end in .txt or .jsonl")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise DataError(f"text file {path} is not UTF-8 (byte {err.start}); re-encode it") from None
    except OSError as err:
        raise DataError(f"text file {path} cannot be read: {err.strerror}") from None
    docs: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if fmt == "txt":
            docs.append(line)
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"text file {path} line {number}: not valid JSON ({err.msg})") from None
        text = record.get("text") if isinstance(record, dict) else None
        if not isinstance(text, str):
            raise DataError(
                f"text file {path} line {number}: needs a string field 'text', "
                f"got {type(record).__name__ if not isinstance(record, dict) else sorted(record)}"
            )
        docs.append(text)
    if not docs:
        raise DataError(f"text file {path} holds no document")
    return docs


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of the bytes of ``path``."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class TextTokenizer:
    """A fast tokenizer read from a HuggingFace tokenizer directory.

    Attributes
    ----------
    path
        The directory (``tokenizer.json`` plus its config).
    backend
        The ``tokenizers.Tokenizer`` defined by ``tokenizer.json``.
    eos_token_id
        Id of the token appended to every document.
    vocab_size
        Number of token ids, added tokens included.
    fingerprint
        SHA-256 over :data:`TOKENIZER_FILES` present in ``path``.
    """

    path: Path
    backend: Any
    eos_token_id: int
    vocab_size: int
    fingerprint: str

    def encode(self, docs: Sequence[str]) -> list[list[int]]:
        """Token ids of each document, without special tokens."""
        return [e.ids for e in self.backend.encode_batch(list(docs), add_special_tokens=False)]


def _token_content(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return str(value["content"])
    return None


def load_tokenizer(path: str | Path) -> TextTokenizer:
    """The tokenizer saved in directory ``path`` (by ``tokenizer.save_pretrained(path)``).

    Only data files are read (``tokenizer.json``, no pickle, no code); the EOS token comes from
    ``tokenizer_config.json`` (or ``special_tokens_map.json``).

    Raises
    ------
    DataError
        The directory or its ``tokenizer.json`` is missing or unreadable, or no EOS token is
        declared.
    ConfigError
        The ``hf`` extra (``tokenizers``) is not installed.
    """
    root = Path(path).expanduser()
    file = root / "tokenizer.json"
    if not root.is_dir():
        raise DataError(
            f"tokenizer dir {root} does not exist; set options.tokenizer to a local directory"
        )
    if not file.is_file():
        raise DataError(
            f"tokenizer dir {root} has no tokenizer.json (a fast tokenizer); save one with "
            "tokenizer.save_pretrained(DIR)"
        )
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ConfigError(f"text tasks need the hf extra: {INSTALL_HINT}") from None
    try:
        backend = Tokenizer.from_file(str(file))
    except Exception as err:  # tokenizers raises a bare Exception on a malformed file
        raise DataError(
            f"tokenizer {file} cannot be read: {' '.join(str(err).split())[:200]}"
        ) from None
    eos: str | None = None
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        meta = root / name
        if eos is None and meta.is_file():
            try:
                eos = _token_content(json.loads(meta.read_text(encoding="utf-8")).get("eos_token"))
            except (json.JSONDecodeError, AttributeError):
                raise DataError(f"tokenizer file {meta} is not a JSON object") from None
    eos_id = None if eos is None else backend.token_to_id(eos)
    if eos_id is None:
        raise DataError(
            f"tokenizer dir {root} declares no eos_token in tokenizer_config.json (or it is not "
            "in the vocabulary); documents are packed with EOS between them"
        )
    digest = hashlib.sha256()
    for name in TOKENIZER_FILES:
        if (root / name).is_file():
            digest.update(name.encode() + b"\0" + sha256_file(root / name).encode())
    return TextTokenizer(
        path=root,
        backend=backend,
        eos_token_id=int(eos_id),
        vocab_size=int(backend.get_vocab_size(with_added_tokens=True)),
        fingerprint=digest.hexdigest(),
    )


@dataclass(frozen=True)
class TokenFile:
    """The packed-ready token stream of one text file.

    Attributes
    ----------
    source
        The text file.
    cache
        The ``.npy`` holding the stream.
    tokens
        1-D read-only memory map of token ids (documents each followed by EOS).
    from_cache
        ``True`` when the stream was found in the cache (the file was not re-tokenised).
    """

    source: Path
    cache: Path
    tokens: np.ndarray
    from_cache: bool


def tokenize_file(path: str | Path, tokenizer: TextTokenizer, cache_dir: str | Path) -> TokenFile:
    """Tokenise ``path`` into a cached, memory-mapped token stream (see the module docstring).

    Raises
    ------
    DataError
        The file is unreadable or malformed (see :func:`read_documents`), or ``cache_dir``
        cannot be written.
    """
    source = Path(path)
    key = hashlib.sha256(
        f"{PACKING_VERSION}\0{tokenizer.fingerprint}\0{sha256_file(source)}".encode()
    ).hexdigest()[:24]
    cache = Path(cache_dir) / f"{source.parent.name}-{source.stem}-{key}.npy"
    if cache.is_file():
        return TokenFile(source, cache, np.load(cache, mmap_mode="r"), from_cache=True)
    dtype = np.uint16 if tokenizer.vocab_size <= 1 << 16 else np.uint32
    docs = read_documents(source)
    parts: list[np.ndarray] = []
    for start in range(0, len(docs), _CHUNK):
        for ids in tokenizer.encode(docs[start : start + _CHUNK]):
            parts.append(np.asarray([*ids, tokenizer.eos_token_id], dtype=dtype))
    stream = np.concatenate(parts)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=f".{cache.stem}.", suffix=".npy")
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, stream)
        os.replace(tmp, cache)
    except OSError as err:
        raise DataError(
            f"text cache dir {cache.parent} cannot be written ({err.strerror}); pass a writable "
            "cache_dir"
        ) from None
    return TokenFile(source, cache, np.load(cache, mmap_mode="r"), from_cache=False)


@dataclass(frozen=True)
class TextSplit:
    """Fixed-length token rows of one split, backed by a memory map.

    Attributes
    ----------
    name
        ``"<domain>/<split>"``.
    tokens
        ``(N, seq_len)`` read-only view of the cached stream (unsigned ints).
    source
        The text file it came from.
    from_cache
        Whether the stream came from the cache.
    """

    name: str
    tokens: np.ndarray
    source: Path
    from_cache: bool

    @property
    def seq_len(self) -> int:
        return int(self.tokens.shape[1])

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    def batch(self, index: slice | Sequence[int] | np.ndarray | Tensor) -> dict[str, Tensor]:
        """Rows ``index`` as ``input_ids``, ``attention_mask``, ``labels``, each ``(B, L)`` int64.

        ``labels`` equal ``input_ids`` (a causal LM shifts them); the mask is all ones since
        packed rows hold no padding.
        """
        if isinstance(index, Tensor):
            index = index.cpu().numpy()
        rows = self.tokens[index] if isinstance(index, slice) else self.tokens[np.asarray(index)]
        ids = torch.from_numpy(np.asarray(rows, dtype=np.int64).reshape(-1, self.seq_len))
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}

    def batches(
        self, batch_size: int, *, generator: torch.Generator | None = None
    ) -> Iterator[dict[str, Tensor]]:
        """All rows in batches of ``batch_size`` (the last may be smaller), shuffled when a
        ``generator`` is given, in order otherwise."""
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        order = (
            torch.randperm(len(self), generator=generator).numpy()
            if generator is not None
            else np.arange(len(self))
        )
        for start in range(0, len(self), batch_size):
            yield self.batch(order[start : start + batch_size])


def pack(stream: np.ndarray, seq_len: int, source: Path) -> np.ndarray:
    """``(N, seq_len)`` view of the first ``N * seq_len`` tokens of ``stream``.

    Raises
    ------
    DataError
        ``stream`` is shorter than one row.
    """
    n = len(stream) // seq_len
    if n == 0:
        raise DataError(
            f"text file {source} has {len(stream)} tokens, fewer than seq_len={seq_len}; add text "
            "or lower seq_len"
        )
    return stream[: n * seq_len].reshape(n, seq_len)


@dataclass(frozen=True)
class TextDomain:
    """The train and test splits of one domain."""

    name: str
    train: TextSplit
    test: TextSplit


@dataclass(frozen=True)
class TextTasks:
    """Two language domains for continual fine-tuning: learn ``task_a``, then ``task_b``.

    Attributes
    ----------
    task_a, task_b
        The domains, packed to the same ``seq_len`` with the same tokenizer.
    seq_len
        Tokens per row.
    tokenizer
        Directory of the tokenizer used.
    vocab_size
        Token ids the tokenizer can emit (pass as ``num_classes`` to ``build_model("hf", ...)``).
    eos_token_id
        The separator appended to every document.
    """

    task_a: TextDomain
    task_b: TextDomain
    seq_len: int
    tokenizer: Path
    vocab_size: int
    eos_token_id: int


def _check_seq_len(seq_len: int) -> None:
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 2:
        raise ConfigError(f"text: seq_len must be an integer >= 2, got {seq_len!r}")


def load_text_domain(
    root: str | Path,
    domain: str,
    *,
    seq_len: int,
    tokenizer: str | Path | TextTokenizer,
    cache_dir: str | Path | None = None,
) -> TextDomain:
    """The packed train and test splits of ``root/domain`` (see :func:`load_text_tasks`)."""
    _check_seq_len(seq_len)
    tok = tokenizer if isinstance(tokenizer, TextTokenizer) else load_tokenizer(tokenizer)
    cache = Path(root) / ".cache" if cache_dir is None else Path(cache_dir)
    splits = []
    for split in ("train", "test"):
        file = tokenize_file(domain_file(root, domain, split), tok, cache)
        splits.append(
            TextSplit(
                f"{domain}/{split}",
                pack(file.tokens, seq_len, file.source),
                file.source,
                file.from_cache,
            )
        )
    return TextDomain(domain, splits[0], splits[1])


def load_text_tasks(
    root: str | Path,
    *,
    task_a: str,
    task_b: str,
    tokenizer: str | Path,
    seq_len: int = 128,
    cache_dir: str | Path | None = None,
) -> TextTasks:
    """Load two domains of ``root`` as a continual-learning pair, tokenised once and cached.

    Parameters
    ----------
    root
        Folder with one subfolder per domain (layout in the module docstring).
    task_a, task_b
        Domain folder names; they must differ.
    tokenizer
        A tokenizer directory (``tokenizer.json``); for a pretrained model, usually its own
        checkpoint directory.
    seq_len
        Tokens per packed row.
    cache_dir
        Where token arrays are cached; ``None`` uses ``root/.cache``.

    Returns
    -------
    TextTasks

    Raises
    ------
    ConfigError
        ``task_a == task_b`` or ``seq_len < 2``.
    DataError
        A missing root, domain, split file or tokenizer, a malformed file, a split shorter than
        one row, or an unwritable cache; the message names the path and the fix.
    """
    _check_seq_len(seq_len)
    if task_a == task_b:
        raise ConfigError(f"text: task_a and task_b must be different domains, both are '{task_a}'")
    tok = load_tokenizer(tokenizer)
    a, b = (
        load_text_domain(root, d, seq_len=seq_len, tokenizer=tok, cache_dir=cache_dir)
        for d in (task_a, task_b)
    )
    return TextTasks(a, b, seq_len, tok.path, tok.vocab_size, tok.eos_token_id)


IGNORE_INDEX = -100
"""A target the losses skip (HuggingFace's convention, as :data:`axionlab.train.IGNORE_INDEX`)."""


def next_token_pairs(
    rows: Tensor | np.ndarray, *, labels: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """``(input_ids, targets)`` of token rows ``(N, L)``, shifted once: each ``(N, L - 1)`` int64.

    ``input_ids = rows[:, :-1]`` and ``targets[:, t] = labels[:, t + 1]`` (``labels`` default to
    ``rows``; mark positions not to score with -100 there, e.g. padding). Accepts a
    :attr:`TextSplit.tokens` memory map (copied into memory).

    Raises
    ------
    InputError
        ``rows`` is not 2-D with at least 2 tokens per row, or ``labels`` has another shape.
    """
    ids = (
        torch.as_tensor(np.asarray(rows, dtype=np.int64)) if isinstance(rows, np.ndarray) else rows
    )
    if ids.dim() != 2 or ids.shape[1] < 2:
        raise InputError(f"next_token_pairs needs rows (N, L) with L >= 2, got {tuple(ids.shape)}")
    ids = ids.long()
    if labels is not None and labels.shape != ids.shape:
        raise InputError(
            f"labels must have the rows' shape {tuple(ids.shape)}, got {tuple(labels.shape)}"
        )
    targets = (ids if labels is None else labels.long())[:, 1:]
    return ids[:, :-1].contiguous(), targets.contiguous().clone()


def next_token_dataset(domain: TextDomain, vocab_size: int) -> Dataset:
    """A domain's next-token pairs (:func:`next_token_pairs`) as a classification-shaped record.

    ``x_*`` are int64 token ids and ``y_*`` per-position targets, both ``(N, seq_len - 1)``;
    ``num_classes = vocab_size`` and ``classes = range(vocab_size)`` (every token id is an output
    unit), ``input_shape = (seq_len - 1,)``. What :func:`axionlab.continual.learn_task` and
    :func:`axionlab.continual.forgetting_curve` take for a language task.
    """
    x_train, y_train = next_token_pairs(domain.train.tokens)
    x_test, y_test = next_token_pairs(domain.test.tokens)
    return Dataset(
        name=domain.name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=vocab_size,
        input_shape=(x_train.shape[1],),
        classes=tuple(range(vocab_size)),
    )
