"""HuggingFace models as plain ``x -> logits`` modules, so the landscape probes run on them as is.

The landscape library (:mod:`axionlab.landscape`) evaluates ``loss_fn(model(x), y)`` functionally
over ``(x, y)`` pairs. :class:`HFLogits` wraps a ``transformers`` model so that
``forward(input_ids)`` returns its logits (with an all-ones attention mask: packed rows hold no
padding), :func:`token_cross_entropy` is the causal-LM loss on those logits (equal to
``model(**batch).loss``), and :func:`probe_data` turns a batch dict into the pair
``(input_ids, labels)``. Then ``loss_plane``, ``loss_line``, ``interpolate``,
``hessian_top_eigenvalues``, ``hessian_trace``, ``hessian_density``, ``sharpness`` and the basin
probes run unchanged::

    probe = HFLogits(model)
    data = probe_data(split.batch(range(8)))
    surface = loss_plane(probe, token_cross_entropy, data, random_directions(probe))

Tied weights (GPT-2's ``wte``/``lm_head``) are one parameter: ``named_parameters()`` yields it
once, so directions hold it once, and ``torch.func.functional_call`` (``tie_weights=True``)
substitutes the perturbed value into both uses. Parameter names are the wrapped model's, prefixed
with ``model.``.

Fisher information per sequence (EWC's "per example" for language models) is
:func:`sequence_fisher_diagonal` on HuggingFace-convention pairs (``labels == input_ids``), or
:func:`~axionlab.landscape.fisher_diagonal` on next-token pairs
(:func:`axionlab.data.text.next_token_pairs`: targets aligned with the logits, no shift), which
gives the same empirical Fisher and also the ``"sampled"`` kind.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import grad, vmap

from axionlab.checks import check_choice
from axionlab.errors import InputError
from axionlab.landscape._common import (
    Data,
    Params,
    eval_semantics,
    forward,
    iter_batches,
    model_device,
    split_parameters,
)
from axionlab.models.hf import IGNORE_INDEX

ComputeDtype = Literal["float32", "bfloat16"]
COMPUTE_DTYPES: tuple[ComputeDtype, ...] = get_args(ComputeDtype)


class HFLogits(nn.Module):
    """A ``transformers`` model seen as ``forward(input_ids) -> logits``.

    Parameters
    ----------
    model
        A causal LM (logits ``(B, L, V)``) or a sequence classifier (logits ``(B, C)``; decoder
        models need ``config.pad_token_id`` for batches of more than one row, as in
        ``transformers``). It becomes the submodule ``model``; its weights are shared, not copied.
    compute_dtype
        ``"float32"`` (default), or ``"bfloat16"``: the forward pass runs under
        ``torch.autocast`` (bf16 matmuls with fp32 accumulation, fp32 master weights, reductions
        such as softmax and LayerNorm in fp32) and the logits are returned in float32, so that the
        loss is accumulated in fp32.
    """

    def __init__(self, model: nn.Module, *, compute_dtype: ComputeDtype = "float32") -> None:
        super().__init__()
        check_choice("compute_dtype", compute_dtype, COMPUTE_DTYPES)
        self.model = model
        self.compute_dtype = compute_dtype
        self._padding_checks = [
            m for m in model.modules() if hasattr(m, "warn_if_padding_and_no_attention_mask")
        ]

    def forward(self, input_ids: Tensor) -> Tensor:
        """Logits of ``input_ids`` ``(B, L)`` int64 with an all-ones attention mask, as float32.

        The mask is passed as ``None``, which ``transformers`` reads as "no padding" (the same
        logits as an all-ones tensor) without the data-dependent check ``mask.all()`` that
        ``torch.func.vmap`` (per-example gradients, batched plane points) cannot run. For the
        same reason its padding warning (a look for ``config.pad_token_id`` in the ids, which
        packed rows never hold as padding) is switched off for the call, and only for it.
        """
        context = (
            torch.autocast(input_ids.device.type, dtype=torch.bfloat16)
            if self.compute_dtype == "bfloat16"
            else nullcontext()
        )
        with context, _without_padding_warning(self._padding_checks):
            logits: Tensor = self.model(input_ids=input_ids, attention_mask=None).logits
        return logits.float()


@contextmanager
def _without_padding_warning(modules: list[nn.Module]) -> Iterator[None]:
    """``transformers``' padding warning silenced on ``modules`` (instance attributes, removed
    afterwards, so the model is as it was)."""
    for module in modules:
        object.__setattr__(module, "warn_if_padding_and_no_attention_mask", _no_warning)
    try:
        yield
    finally:
        for module in modules:
            object.__delattr__(module, "warn_if_padding_and_no_attention_mask")


def _no_warning(*args: object, **kwargs: object) -> None:
    return None


def token_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean next-token cross-entropy in nats over the shifted positions whose label is not -100.

    Equal to a causal LM's ``model(**batch).loss`` (logits at position ``t`` predict
    ``labels[:, t + 1]``), computed in float32.

    Parameters
    ----------
    logits
        ``(B, L, V)`` (or ``(L, V)`` for one sequence).
    labels
        ``(B, L)`` (or ``(L,)``) int64, usually equal to ``input_ids``.

    Returns
    -------
    Tensor
        A scalar that carries gradients; ``nan`` when no position is counted (as in
        ``transformers``).
    """
    shifted = logits[..., :-1, :].reshape(-1, logits.shape[-1]).float()
    targets = labels[..., 1:].reshape(-1)
    return F.cross_entropy(shifted, targets, ignore_index=IGNORE_INDEX)


def probe_data(batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
    """The probe pair ``(input_ids, labels)`` of a batch dict (e.g. ``TextSplit.batch``).

    Raises
    ------
    InputError
        ``batch`` lacks ``input_ids`` or ``labels``, or its attention mask has zeros (the
        adapter feeds an all-ones mask; mark padded positions with label -100 instead).
    """
    missing = [k for k in ("input_ids", "labels") if k not in batch]
    if missing:
        raise InputError(f"probe_data: batch needs {missing}, got keys {sorted(batch)}")
    mask = batch.get("attention_mask")
    if mask is not None and not bool(mask.bool().all()):
        raise InputError(
            "probe_data: the attention mask has zeros, but the probes feed an all-ones mask; "
            "pack rows without padding (or set padded labels to -100 and drop the mask)"
        )
    return batch["input_ids"], batch["labels"]


def sequence_fisher_diagonal(
    model: nn.Module,
    data: Data,
    *,
    batch_size: int = 16,
    max_examples: int | None = None,
) -> dict[str, Tensor]:
    """Empirical diagonal Fisher with one example per sequence, averaged over sequences.

    ``F_i = (1/N) Σ_n (∂ ℓ_n / ∂θ_i)²`` with ``ℓ_n`` the mean next-token cross-entropy of
    sequence ``n`` (:func:`token_cross_entropy` of that row alone), gradients taken per sequence
    with ``torch.func.vmap(grad(...))``, so the result does not depend on ``batch_size``.
    (Kirkpatrick et al. 2017 per example; the sequence is the example.)

    Parameters
    ----------
    model
        An :class:`HFLogits` causal LM (or any ``input_ids -> (B, L, V)`` module); evaluated
        functionally in eval semantics and never mutated.
    data
        ``(input_ids, labels)`` or an iterable of such batches (see :func:`probe_data`).
    batch_size
        Sequences per vectorised chunk (memory and speed only).
    max_examples
        Use at most this many sequences; ``None`` uses all.

    Returns
    -------
    dict[str, Tensor]
        Keyed like the trainable ``named_parameters()``, detached, on the model's device.

    Raises
    ------
    InputError
        Empty data or a non-positive ``batch_size``/``max_examples``.
    """
    params, constants = split_parameters(model)
    device = model_device(model)

    def loss(p: Params, x: Tensor, y: Tensor) -> Tensor:
        return token_cross_entropy(forward(model, p, constants, x.unsqueeze(0)), y.unsqueeze(0))

    per_sequence = vmap(grad(loss), in_dims=(None, 0, 0))
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    count = 0
    with eval_semantics(model):
        for xb, yb in iter_batches(data, batch_size, max_examples):
            grads = per_sequence(params, xb.to(device), yb.to(device))
            for n, g in grads.items():
                total[n] += g.square().sum(0)
            count += xb.shape[0]
    if count == 0:
        raise InputError("data is empty; pass at least one (input_ids, labels) sequence")
    return {n: t / count for n, t in total.items()}
