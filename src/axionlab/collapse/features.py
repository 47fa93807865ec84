"""Penultimate features: the input of a classifier's final linear layer, read by a forward hook."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from axionlab.errors import InputError
from axionlab.landscape._common import eval_semantics, model_device

# Final-layer names used by HuggingFace classifiers (``score``: GPT-2/Llama sequence
# classification; ``classifier``: BERT/ViT; ``lm_head``: causal LMs) and common vision models.
HEAD_NAMES = ("score", "classifier", "lm_head", "head", "fc")

Inputs = Tensor | Mapping[str, Tensor]


def find_head(model: nn.Module) -> nn.Linear:
    """The final linear classifier of ``model``.

    A zoo model's head (``model.head_name``, see :func:`axionlab.models.get_head`); otherwise the
    last ``nn.Linear`` in ``named_modules()`` order whose dotted name has a component in
    :data:`HEAD_NAMES` (e.g. ``classifier.out_proj`` of RoBERTa).

    Raises
    ------
    InputError
        When no such layer exists (pass ``head=`` to :func:`penultimate_features` then).
    """
    if isinstance(getattr(model, "head_name", None), str):
        from axionlab.models import get_head

        return get_head(model)
    found = [
        module
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and set(name.split(".")) & set(HEAD_NAMES)
    ]
    if not found:
        raise InputError(
            f"{type(model).__name__} has no nn.Linear named like {', '.join(HEAD_NAMES)}; "
            "pass head=<the final linear module>"
        )
    return found[-1]


def penultimate_features(
    model: nn.Module,
    x: Inputs,
    *,
    head: nn.Module | None = None,
    batch_size: int = 256,
) -> Tensor:
    """Inputs of the classifier head for every example of ``x``, in eval mode.

    Parameters
    ----------
    model
        The classifier; evaluated in eval mode under ``torch.no_grad`` and left as it was
        (weights, every submodule's ``training`` flag, ``requires_grad``).
    x
        ``(n, ...)`` inputs, or a mapping of ``(n, ...)`` tensors passed as keyword arguments
        (HuggingFace ``input_ids``/``attention_mask``); moved to the model's device per batch.
    head
        The module whose input is read; default :func:`find_head`.
    batch_size
        Examples per forward pass.

    Returns
    -------
    Tensor
        ``(n, d)`` float CPU tensor, features flattened after the batch dimension (a sequence
        classifier's head input ``(B, T, d)`` stays ``(B, T·d)``: pool it first, or pass the
        pooling module's successor as ``head``).

    Raises
    ------
    InputError
        For ``batch_size < 1``, empty inputs, mapping values of different lengths, a ``head``
        that is not a submodule of ``model`` or that the forward pass never calls.
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    target = find_head(model) if head is None else head
    if not any(module is target for module in model.modules()):
        raise InputError("head must be a submodule of model")
    n = _length(x)
    device = model_device(model)
    captured: list[Tensor] = []

    def grab(module: nn.Module, args: tuple[object, ...]) -> None:
        if not args or not isinstance(args[0], Tensor):
            raise InputError(f"head {type(module).__name__} was not called with a tensor input")
        captured.append(args[0].detach().reshape(args[0].shape[0], -1).float().cpu())

    handle = target.register_forward_pre_hook(grab)
    try:
        with eval_semantics(model), torch.no_grad():
            for start in range(0, n, batch_size):
                before = len(captured)
                batch = _slice(x, start, start + batch_size, device)
                model(**batch) if isinstance(batch, dict) else model(batch)
                if len(captured) != before + 1:
                    raise InputError(
                        f"the head was called {len(captured) - before} times in one forward pass; "
                        "pass head= a module called exactly once"
                    )
    finally:
        handle.remove()
    return torch.cat(captured)


def _length(x: Inputs) -> int:
    if isinstance(x, Tensor):
        sizes = {x.shape[0]} if x.dim() > 0 else {0}
    else:
        sizes = {v.shape[0] for v in x.values()}
    if len(sizes) != 1:
        raise InputError(f"inputs must share one batch dimension, got lengths {sorted(sizes)}")
    (n,) = sizes
    if n == 0:
        raise InputError("x is empty; pass at least one example")
    return int(n)


def _slice(x: Inputs, start: int, stop: int, device: torch.device) -> Tensor | dict[str, Tensor]:
    if isinstance(x, Tensor):
        return x[start:stop].to(device)
    return {k: v[start:stop].to(device) for k, v in x.items()}
