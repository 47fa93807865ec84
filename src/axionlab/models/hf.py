"""HuggingFace transformers as a model source: local checkpoints or architectures from a config.

``build_model("hf", input_shape, num_classes, path=DIR)`` loads a local checkpoint with
``from_pretrained(DIR, local_files_only=True, use_safetensors=True)``;
``build_model("hf", ..., config={"model_type": "gpt2", ...})`` builds a randomly initialised model
of a named architecture, its weights drawn from the ``init`` generator. The result is the
``transformers.PreTrainedModel`` itself (so ``model(**batch).loss`` works and parameter names are
HuggingFace's), carrying the zoo's ``family`` and ``head_name`` attributes so that
:func:`~axionlab.models.core.get_head` finds its output layer.

Trust and network. Weights are read from ``*.safetensors`` only: a pickle checkpoint
(``pytorch_model.bin``) can execute code when loaded and is refused. The hub is never contacted:
``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` are forced before ``transformers`` is imported (and the
hub's offline flag is set should it have been imported earlier), every load passes
``local_files_only=True``, and ``trust_remote_code`` stays off.

Losses are in nats per predicted token: for a causal LM, ``labels`` equal ``input_ids`` and the
model shifts them inside (token ``t`` predicts token ``t + 1``); positions with label ``-100`` or
attention mask ``0`` are not counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor, nn

from axionlab.checks import check_choice
from axionlab.data.offline import import_transformers
from axionlab.errors import ConfigError, DataError, InputError, did_you_mean
from axionlab.models.core import MODELS, Builder

if TYPE_CHECKING:
    from transformers import PreTrainedModel

TASKS = ("causal_lm", "sequence_classification", "image_classification")
"""Values of the ``task`` option; each maps to a ``transformers`` auto class."""

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16}
"""Values of the ``dtype`` option."""

IGNORE_INDEX = -100
"""Label value that the loss and the accuracy skip (HuggingFace's convention)."""

_AUTO_CLASSES = {
    "causal_lm": "AutoModelForCausalLM",
    "sequence_classification": "AutoModelForSequenceClassification",
    "image_classification": "AutoModelForImageClassification",
}


def check_checkpoint(path: str | Path) -> Path:
    """The checkpoint directory ``path`` after checking it holds a config and safetensors weights.

    Parameters
    ----------
    path
        A directory written by ``model.save_pretrained(path)``.

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    DataError
        The directory is missing, has no ``config.json`` (or one that is not a JSON object with a
        ``model_type``), or has no ``*.safetensors`` weights (pickle ``.bin`` weights are refused).
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "does not exist"
        raise DataError(
            f"hf checkpoint {root} {what}; set options.path to a local HuggingFace checkpoint "
            "directory (written by save_pretrained)"
        )
    config = root / "config.json"
    if not config.is_file():
        raise DataError(
            f"hf checkpoint {root} has no config.json; save the model with "
            "model.save_pretrained(DIR)"
        )
    try:
        loaded = json.loads(config.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"hf checkpoint {config} is not valid JSON: {err}") from None
    if not isinstance(loaded, dict) or not isinstance(loaded.get("model_type"), str):
        raise DataError(
            f"hf checkpoint {config} has no 'model_type'; re-save the model with save_pretrained"
        )
    if not any(root.glob("*.safetensors")):
        pickles = sorted(p.name for p in root.glob("*.bin"))
        if pickles:
            raise DataError(
                f"hf checkpoint {root} has only pickle weights ({', '.join(pickles)}), which can "
                "execute code when loaded; convert them once with "
                "model.save_pretrained(DIR, safe_serialization=True)"
            )
        raise DataError(
            f"hf checkpoint {root} has no *.safetensors weights; save the model with "
            "model.save_pretrained(DIR)"
        )
    return root


def _config_from_dict(transformers: ModuleType, options: Mapping[str, Any]) -> Any:
    options = dict(options)
    model_type = options.pop("model_type", None)
    known = sorted(transformers.CONFIG_MAPPING.keys())
    if not isinstance(model_type, str):
        raise ConfigError(
            "hf: options.config needs a 'model_type' (e.g. 'gpt2', 'llama', 'gpt_neox')"
        )
    if model_type not in transformers.CONFIG_MAPPING:
        raise ConfigError(
            f"hf: unknown config.model_type {model_type!r}.{did_you_mean(model_type, known)} "
            "Examples: gpt2, llama, gpt_neox, vit"
        )
    try:
        return transformers.AutoConfig.for_model(model_type, **options)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"hf: invalid config for {model_type!r}: {_one_line(err)}") from None


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text[:300] + ("…" if len(text) > 300 else "")


def _fit_config(
    config: Any, given: Iterable[str], task: str, input_shape: tuple[int, ...], num_classes: int
) -> None:
    """Fill in the task's sizes that the user's config dict (keys ``given``) leaves out."""
    given = set(given)
    if task == "causal_lm" and "vocab_size" not in given:
        config.vocab_size = num_classes
    if task == "sequence_classification":
        config.num_labels = num_classes
    if task == "image_classification":
        config.num_labels = num_classes
        if len(input_shape) == 3:
            if hasattr(config, "num_channels") and "num_channels" not in given:
                config.num_channels = input_shape[0]
            if hasattr(config, "image_size") and "image_size" not in given:
                config.image_size = input_shape[1]


def _check_sizes(config: Any, task: str, input_shape: tuple[int, ...], num_classes: int) -> None:
    if task == "causal_lm":
        vocab = getattr(config, "vocab_size", None)
        if isinstance(vocab, int) and num_classes > vocab:
            raise InputError(
                f"hf: the data has {num_classes} token ids but the model's vocab_size is {vocab}; "
                "use the model's own tokenizer"
            )
    if task in ("causal_lm", "sequence_classification") and len(input_shape) == 1:
        limit = getattr(config, "max_position_embeddings", None) or getattr(
            config, "n_positions", None
        )
        if isinstance(limit, int) and input_shape[0] > limit:
            raise InputError(
                f"hf: sequences of {input_shape[0]} tokens exceed the model's {limit} positions; "
                "lower seq_len"
            )


def _seed_from(generator: torch.Generator) -> int:
    return int(torch.randint(0, 2**62, (1,), generator=generator, dtype=torch.int64))


def _head_name(model: nn.Module, task: str, num_classes: int) -> str:
    """Attribute path of the output ``nn.Linear`` (``lm_head``, ``embed_out``, ``score``, ...)."""
    if task == "causal_lm":
        target = model.get_output_embeddings()  # type: ignore[operator]
        for name, module in model.named_modules():
            if module is target:
                return str(name)
    linears = [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and module.out_features == num_classes
    ]
    if not linears:
        raise InputError(
            f"hf: no output layer with {num_classes} outputs in {type(model).__name__}"
        )
    return str(linears[-1])


def hf(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    path: str | None = None,
    config: Mapping[str, Any] | None = None,
    task: str = "causal_lm",
    dtype: str = "float32",
    generator: torch.Generator,
    device: str | torch.device = "cpu",
) -> PreTrainedModel:
    """A HuggingFace model: a local checkpoint (``path``) or a fresh architecture (``config``).

    Called by :func:`~axionlab.models.core.build_model` as ``build_model("hf", input_shape,
    num_classes, path=DIR)`` or ``build_model("hf", ..., config={"model_type": "gpt2", ...})``.

    Parameters
    ----------
    input_shape
        ``(seq_len,)`` for language tasks (checked against the model's positions), ``(C, H, W)``
        for images.
    num_classes
        Causal LM: the number of token ids the data uses (at most the model's ``vocab_size``; a
        config without ``vocab_size`` gets this one). Classification: ``num_labels``.
    path
        Checkpoint directory with ``config.json`` and ``*.safetensors`` (see
        :func:`check_checkpoint`).
    config
        ``{"model_type": NAME, **fields}`` of a ``transformers`` config (``gpt2``, ``llama``,
        ``gpt_neox``, ...); the weights are HuggingFace's own init, drawn with torch's RNG forked
        and seeded from ``generator``, so equal generators give equal weights whatever the global
        RNG state, and the global state is left untouched.
    task
        One of :data:`TASKS`.
    dtype
        ``"float32"`` or ``"bfloat16"`` (weights are initialised in float32, then cast).
    generator
        The ``init`` stream; also seeds a classification head that a checkpoint lacks.
    device
        Where the weights go; ``"meta"`` builds a shape-only model from the config alone.

    Returns
    -------
    transformers.PreTrainedModel
        In eval mode for a checkpoint, train mode for a fresh model (as ``transformers`` does),
        with ``family`` (the config's ``model_type``) and ``head_name`` set.

    Raises
    ------
    ConfigError
        Both or neither of ``path``/``config``, an unknown ``task``, ``dtype`` or ``model_type``,
        an invalid config, or the ``hf`` extra is missing.
    DataError
        The checkpoint directory is missing or incomplete, or ``transformers`` cannot load it.
    InputError
        ``input_shape`` or ``num_classes`` does not fit the model.
    """
    check_choice("hf: task", task, tuple(TASKS), error=ConfigError)
    check_choice("hf: dtype", dtype, tuple(DTYPES), error=ConfigError)
    if (path is None) == (config is None):
        raise ConfigError(
            "hf: give exactly one of options.path (a local checkpoint directory) or "
            "options.config (a dict with model_type)"
        )
    transformers = import_transformers()
    auto = getattr(transformers, _AUTO_CLASSES[task])
    meta = torch.device(device).type == "meta"
    seed = _seed_from(generator)
    if config is not None:
        cfg = _config_from_dict(transformers, config)
        _fit_config(cfg, config, task, input_shape, num_classes)
        _check_sizes(cfg, task, input_shape, num_classes)
        model = _from_config(auto, cfg, seed, meta)
    else:
        root = check_checkpoint(str(path))
        cfg = _load_config(transformers, root)
        if task != "causal_lm":
            cfg.num_labels = num_classes
        _check_sizes(cfg, task, input_shape, num_classes)
        model = (
            _from_config(auto, cfg, seed, meta)
            if meta
            else _from_pretrained(auto, root, cfg, seed, DTYPES[dtype], task != "causal_lm")
        )
    if not meta:
        model = model.to(device=device, dtype=DTYPES[dtype])
    model.family = str(cfg.model_type)
    model.head_name = _head_name(model, task, num_classes)
    return model  # type: ignore[no-any-return]


# ``build_model`` hands this builder the generator and device instead of building it on ``meta``
# and re-initialising it with the zoo's rules. Its result is not a ``Classifier`` but carries the
# same ``family``/``head_name`` metadata, hence the cast.
hf.initialises_itself = True  # type: ignore[attr-defined]
MODELS.add("hf", cast(Builder, hf))


def _load_config(transformers: ModuleType, root: Path) -> Any:
    try:
        return transformers.AutoConfig.from_pretrained(str(root), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(
            f"hf checkpoint {root}: cannot read config.json: {_one_line(err)}"
        ) from None


def _from_config(auto: Any, cfg: Any, seed: int, meta: bool) -> Any:
    if meta:
        with torch.device("meta"):
            return auto.from_config(cfg)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            with torch.device("cpu"):
                return auto.from_config(cfg)
    except ValueError as err:  # e.g. an architecture that has no model for this task
        raise ConfigError(f"hf: {_one_line(err)}") from None


def _from_pretrained(
    auto: Any, root: Path, cfg: Any, seed: int, dtype: torch.dtype, head_may_differ: bool
) -> Any:
    from safetensors import SafetensorError

    try:
        # A head absent from the checkpoint (or of another size) is initialised from the seed.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return auto.from_pretrained(
                str(root),
                config=cfg,
                local_files_only=True,
                use_safetensors=True,
                trust_remote_code=False,
                # only a classification head (num_labels) may differ from the checkpoint
                ignore_mismatched_sizes=head_may_differ,
                dtype=dtype,
            )
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as err:
        raise DataError(f"hf checkpoint {root}: cannot load: {_one_line(err)}") from None


# --- language-model losses on a batch dict -------------------------------------------------------


def lm_loss(model: nn.Module, batch: Mapping[str, Tensor]) -> Tensor:
    """Mean next-token cross-entropy of ``model`` on ``batch``, in nats per predicted token.

    Parameters
    ----------
    model
        A ``transformers`` causal LM (anything whose ``model(**batch)`` has a ``.loss``).
    batch
        ``input_ids``, ``attention_mask`` and ``labels`` (``labels == input_ids``; the model
        shifts them), each ``(B, L)`` int64.

    Returns
    -------
    Tensor
        A scalar that carries gradients (the model's mode is left as it is).

    Raises
    ------
    InputError
        ``batch`` has no ``labels``.
    """
    if "labels" not in batch:
        raise InputError(f"lm_loss: batch needs 'labels', got keys {sorted(batch)}")
    loss = model(**batch).loss
    if not isinstance(loss, Tensor):
        raise InputError(f"lm_loss: {type(model).__name__} returned no loss for this batch")
    return loss


def _shifted(logits: Tensor, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    labels = batch["labels"][:, 1:]  # (B, L-1): token t+1 is predicted at position t
    valid = labels != IGNORE_INDEX
    mask = batch.get("attention_mask")
    if mask is not None:
        valid = valid & mask[:, 1:].bool()
    return logits[:, :-1], labels, valid


def next_token_accuracy(model: nn.Module, batch: Mapping[str, Tensor]) -> Tensor:
    """Fraction of predicted positions whose argmax token is the next token, in [0, 1].

    Same positions as :func:`lm_loss` (labels ``-100`` and masked positions are skipped); computed
    without gradients.
    """
    with torch.no_grad():
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        logits, labels, valid = _shifted(logits, batch)
        hits = (logits.argmax(dim=-1) == labels) & valid
        return hits.sum() / valid.sum().clamp_min(1)


@dataclass(frozen=True)
class LMScore:
    """Token-weighted language-model metrics over several batches.

    Attributes
    ----------
    loss
        Mean cross-entropy in nats per predicted token.
    accuracy
        Next-token accuracy in [0, 1].
    tokens
        Number of predicted positions counted.
    """

    loss: float
    accuracy: float
    tokens: int


def evaluate_lm(model: nn.Module, batches: Iterable[Mapping[str, Tensor]]) -> LMScore:
    """Loss and next-token accuracy of a causal LM over ``batches``, weighted by token count.

    One forward pass per batch in eval mode without gradients; the model's train/eval mode is
    restored afterwards. A batch's loss is recomputed from its logits (in float32) so that
    batches with different numbers of valid tokens are weighted correctly.

    Raises
    ------
    InputError
        ``batches`` is empty or holds no predicted position.
    """
    was_training = model.training
    model.eval()
    total_loss = 0.0
    hits = 0
    tokens = 0
    try:
        with torch.no_grad():
            for batch in batches:
                logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
                logits, labels, valid = _shifted(logits, batch)
                losses = nn.functional.cross_entropy(
                    logits.float().transpose(1, 2), labels.clamp_min(0), reduction="none"
                )  # (B, L-1)
                total_loss += float(losses[valid].sum())
                hits += int(((logits.argmax(dim=-1) == labels) & valid).sum())
                tokens += int(valid.sum())
    finally:
        model.train(was_training)
    if tokens == 0:
        raise InputError("evaluate_lm: no predicted tokens in the batches")
    return LMScore(loss=total_loss / tokens, accuracy=hits / tokens, tokens=tokens)
