"""Shared plumbing: data normalisation, eval-semantics functional calls, parameter dictionaries."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch.func import functional_call

from axionlab.data.text import IGNORE_INDEX
from axionlab.errors import InputError

Params = dict[str, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]
Data = tuple[Tensor, Tensor] | Iterable[tuple[Tensor, Tensor]]


def counted_targets(y: Tensor) -> int:
    """How many targets a mean loss averages over: one per example for labels ``(B,)``, the
    counted positions (target not -100) for per-token targets ``(B, T)``."""
    return int((y != IGNORE_INDEX).sum()) if y.dim() >= 2 else int(y.shape[0])


def is_pair(data: object) -> bool:
    """Whether ``data`` is one ``(x, y)`` tensor pair rather than an iterable of batches."""
    return (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and isinstance(data[0], Tensor)
        and isinstance(data[1], Tensor)
        and data[0].dim() > 0
        and data[1].dim() > 0
        and data[0].shape[0] == data[1].shape[0]
    )


def iter_batches(
    data: Data, batch_size: int, max_examples: int | None = None
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield ``(x, y)`` chunks of at most ``batch_size`` examples, up to ``max_examples`` in all."""
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    if max_examples is not None and max_examples < 1:
        raise InputError(f"max_examples must be >= 1 or None, got {max_examples}")
    source = [data] if is_pair(data) else data
    if not isinstance(source, Iterable):
        raise InputError(
            f"data must be an (x, y) tensor pair or an iterable of (x, y) batches, "
            f"got {type(data).__name__}"
        )
    left = max_examples
    for batch in source:
        if not (isinstance(batch, (tuple, list)) and len(batch) >= 2):
            raise InputError(
                f"data must yield (x, y) batches, got an item of type {type(batch).__name__}"
            )
        x, y = batch[0], batch[1]
        if x.shape[0] != y.shape[0]:
            raise InputError(
                f"data batch has {x.shape[0]} inputs but {y.shape[0]} targets; pass matching x, y"
            )
        for start in range(0, x.shape[0], batch_size):
            stop = start + batch_size if left is None else start + min(batch_size, left)
            xb, yb = x[start:stop], y[start:stop]
            yield xb, yb
            if left is not None:
                left -= xb.shape[0]
                if left <= 0:
                    return


def materialize(
    data: Data, max_examples: int | None, device: torch.device
) -> tuple[Tensor, Tensor]:
    """Concatenate ``data`` into one ``(x, y)`` pair on ``device`` (loaded once, used per point)."""
    xs, ys = [], []
    for x, y in iter_batches(data, batch_size=2**62, max_examples=max_examples):
        xs.append(x.to(device))
        ys.append(y.to(device))
    if not xs:
        raise InputError("data is empty; pass at least one (x, y) example")
    return torch.cat(xs), torch.cat(ys)


@contextmanager
def eval_semantics(model: nn.Module) -> Iterator[None]:
    """Put every submodule in eval mode and restore each one's own ``training`` flag afterwards."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, flag in flags:
            module.training = flag


def split_parameters(model: nn.Module) -> tuple[Params, Params]:
    """Detached ``(trainable, constants)``: ``requires_grad`` parameters; the rest plus buffers."""
    trainable = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    constants = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
    constants.update({n: b.detach() for n, b in model.named_buffers()})
    if not trainable:
        raise InputError("model has no parameters with requires_grad=True; nothing to probe")
    return trainable, constants


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a parameterless module)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def forward(model: nn.Module, params: Mapping[str, Tensor], constants: Params, x: Tensor) -> Tensor:
    """``model(x)`` with ``params`` substituted; call under :func:`eval_semantics`."""
    out: Tensor = functional_call(model, (dict(params), constants), (x,), strict=False)
    return out


def check_keys(model_params: Mapping[str, Tensor], other: Mapping[str, Tensor], what: str) -> None:
    """Raise unless ``other`` has exactly the keys, shapes and dtypes of ``model_params``
    (a float64 direction on a float32 model would be cast on one path and refused on another)."""
    missing = sorted(set(model_params) - set(other))
    extra = sorted(set(other) - set(model_params))
    if missing or extra:
        raise InputError(
            f"{what} must be keyed like the model's trainable named_parameters(); "
            f"missing {missing[:3]}, unexpected {extra[:3]}"
        )
    for name, p in model_params.items():
        if other[name].shape != p.shape:
            raise InputError(
                f"{what}['{name}'] has shape {tuple(other[name].shape)}, expected {tuple(p.shape)}"
            )
        if other[name].dtype != p.dtype:
            raise InputError(
                f"{what}['{name}'] has dtype {other[name].dtype}, the model's is {p.dtype}; "
                f"cast it with .to({p.dtype})"
            )


def dot(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> Tensor:
    """Inner product of two parameter dictionaries (float64 scalar)."""
    return sum(
        ((a[k].double() * b[k].double()).sum() for k in a), torch.zeros((), dtype=torch.float64)
    )


def flatten(params: Mapping[str, Tensor]) -> Tensor:
    """Concatenate a parameter dictionary into one float64 CPU vector (in key order)."""
    return torch.cat([t.detach().reshape(-1).double().cpu() for t in params.values()])


def unflatten(flat: Tensor, like: Mapping[str, Tensor]) -> Params:
    """Inverse of :func:`flatten`, with the shapes, device and dtype of ``like``."""
    out, offset = {}, 0
    for name, t in like.items():
        size = t.numel()
        out[name] = flat[offset : offset + size].reshape(t.shape).to(t.device, t.dtype)
        offset += size
    return out
