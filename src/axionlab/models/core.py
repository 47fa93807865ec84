"""The model registry, the common classifier shell, deterministic initialisation and head surgery.

Every model is a :class:`Classifier`: a ``body`` mapping inputs to a feature vector and a final
``nn.Linear`` ``head``. Continual-learning code reaches the head through :func:`get_head`,
:func:`set_head` and :func:`expand_head` and never needs to know the architecture.

Models are constructed on the ``meta`` device (no memory, no global RNG draws) and then
materialised and initialised from an explicit ``torch.Generator``, so two builds with equal
generators are bit-identical whatever else used torch's global RNG.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from axionlab.errors import ConfigError, InputError, did_you_mean
from axionlab.registry import Registry
from axionlab.repro import torch_generator

Builder = Callable[..., "Classifier"]
"""A builder is called as ``builder(input_shape, num_classes, **options)``."""

MODELS: Registry[Builder] = Registry[Builder]("model")


class Classifier(nn.Module):
    """``head(body(x))`` with the metadata shared by every architecture in the zoo.

    Attributes
    ----------
    family
        Architecture family (``"resnet"``, ``"vit"``, ...), used to group results.
    head_name
        Attribute path of the final ``nn.Linear`` (always ``"head"`` here).
    """

    head_name: str = "head"

    def __init__(self, family: str, body: nn.Module, head: nn.Linear) -> None:
        super().__init__()
        self.family = family
        self.body = body
        self.head = head

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))  # type: ignore[no-any-return]


def image_shape(family: str, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """``(C, H, W)`` from ``input_shape``, or :class:`InputError` for non-image inputs."""
    if len(input_shape) != 3:
        raise InputError(
            f"{family} models need image input_shape (C, H, W), got {input_shape}; "
            "for (C, L) sequences use mlp, cnn, cnn1d or gru"
        )
    c, h, w = input_shape
    return c, h, w


def build_model(
    name: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
    **options: Any,
) -> Classifier:
    """Build the registered model ``name`` for inputs of ``input_shape`` and ``num_classes``.

    Parameters
    ----------
    name
        A name in :data:`MODELS`.
    input_shape
        Shape of one example, e.g. ``(1, 8, 8)``, ``(3, 32, 32)`` or ``(1, 40)``.
    num_classes
        Outputs of the linear head.
    generator
        Source of the initial weights; ``None`` uses the fixed stream ``torch_generator(0,
        "init")`` so that builds are reproducible by default.
    device
        Where to materialise the weights; ``"meta"`` builds a shape-only model (for counting
        parameters of large models at no cost) and skips initialisation.
    **options
        Architecture options overriding the registered preset (``width``, ``depth``, ...).

    Returns
    -------
    Classifier
        For ``hf``, a ``transformers.PreTrainedModel`` with the same ``family`` and
        ``head_name`` attributes instead (see :mod:`axionlab.models.hf`).

    Raises
    ------
    UnknownNameError
        ``name`` is not registered.
    ConfigError
        An option is unknown for this model.
    InputError
        ``input_shape`` does not suit the architecture or ``num_classes < 1``.
    """
    builder = MODELS.get(name)
    # A builder that loads weights (the ``hf`` source) initialises and places them itself.
    own_init = bool(getattr(builder, "initialises_itself", False))
    reserved = ("input_shape", "num_classes", *(("generator", "device") if own_init else ()))
    accepted = [p for p in inspect.signature(builder).parameters if p not in reserved]
    for key in options:
        if key not in accepted:
            raise ConfigError(
                f"model '{name}' has no option '{key}'.{did_you_mean(key, accepted)} "
                f"Options: {', '.join(accepted) or 'none'}"
            )
    if num_classes < 1:
        raise InputError(f"num_classes must be at least 1, got {num_classes}")
    input_shape = tuple(int(d) for d in input_shape)
    if own_init:
        gen = generator if generator is not None else torch_generator(0, "init")
        return builder(input_shape, num_classes, generator=gen, device=device, **options)
    with torch.device("meta"):
        model = builder(input_shape, num_classes, **options)
    if torch.device(device).type == "meta":
        return model
    # Initialise on the CPU so the weights do not depend on the device's random generator.
    model = model.to_empty(device="cpu")
    init_parameters(model, generator if generator is not None else torch_generator(0, "init"))
    return model.to(device)


def _uniform_(tensor: Tensor, bound: float, generator: torch.Generator) -> None:
    nn.init.uniform_(tensor, -bound, bound, generator=generator)


def init_linear_(layer: nn.Linear, generator: torch.Generator) -> None:
    """PyTorch's default ``nn.Linear`` init (``U(±1/sqrt(fan_in))``), drawn from ``generator``."""
    bound = 1.0 / math.sqrt(layer.in_features) if layer.in_features else 0.0
    _uniform_(layer.weight, bound, generator)
    if layer.bias is not None:
        _uniform_(layer.bias, bound, generator)


@torch.no_grad()
def init_parameters(model: nn.Module, generator: torch.Generator) -> None:
    """(Re)initialise every parameter and normalisation buffer of ``model`` from ``generator``.

    Convolutions use He-normal (fan-out) init (He et al. 2015), linear and recurrent layers
    PyTorch's defaults, normalisation layers ones/zeros. Modules with parameters of their own (a
    class token, layer scale) implement ``init_own(generator)``. Raises ``TypeError`` when a
    parameter would be left uninitialised, so a new layer type cannot slip through silently.
    """
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._NormBase):
            module.reset_running_stats()
        own = list(module.parameters(recurse=False))
        if not own:
            continue
        init_own = getattr(module, "init_own", None)
        if callable(init_own):
            init_own(generator)
        elif isinstance(module, nn.Linear):
            init_linear_(module, generator)
        elif isinstance(module, nn.modules.conv._ConvNd):
            nn.init.kaiming_normal_(
                module.weight, mode="fan_out", nonlinearity="relu", generator=generator
            )
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)):
            for p in own:
                (nn.init.ones_ if p is module.weight else nn.init.zeros_)(p)
        elif isinstance(module, nn.RNNBase):
            for p in own:
                _uniform_(p, 1.0 / math.sqrt(module.hidden_size), generator)
        else:
            raise TypeError(f"init_parameters: no rule for parameters of {type(module).__name__}")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameter entries (works on ``meta`` models)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _parent_and_attr(model: nn.Module) -> tuple[nn.Module, str]:
    path = getattr(model, "head_name", None)
    if not isinstance(path, str):
        raise InputError(f"{type(model).__name__} has no 'head_name'; build it with build_model")
    *parents, attr = path.split(".")
    owner = model
    for part in parents:
        owner = getattr(owner, part)
    return owner, attr


def get_head(model: nn.Module) -> nn.Linear:
    """The final linear classifier of ``model`` (found through ``model.head_name``)."""
    owner, attr = _parent_and_attr(model)
    head = getattr(owner, attr)
    if not isinstance(head, nn.Linear):
        raise InputError(
            f"head '{model.head_name}' of {type(model).__name__} is "
            f"{type(head).__name__}, not nn.Linear"
        )
    return head


def set_head(model: nn.Module, new: nn.Module) -> None:
    """Replace the final classifier of ``model`` by ``new`` in place."""
    owner, attr = _parent_and_attr(model)
    setattr(owner, attr, new)


@torch.no_grad()
def expand_head(
    model: nn.Module, num_classes: int, *, generator: torch.Generator | None = None
) -> None:
    """Grow the head to ``num_classes`` outputs, keeping the trained rows (class-incremental).

    Rows of existing classes are copied; new rows get the default linear init drawn from
    ``generator`` (``None``: the fixed stream ``torch_generator(0, "init", "head")``).

    Raises
    ------
    InputError
        ``num_classes`` is smaller than the current number of outputs.
    """
    old = get_head(model)
    if num_classes < old.out_features:
        raise InputError(
            f"expand_head: num_classes={num_classes} is smaller than the current "
            f"{old.out_features} outputs; heads only grow"
        )
    new = nn.Linear(
        old.in_features,
        num_classes,
        bias=old.bias is not None,
        device=old.weight.device,
        dtype=old.weight.dtype,
    )
    init_linear_(new, generator if generator is not None else torch_generator(0, "init", "head"))
    new.weight[: old.out_features] = old.weight
    if old.bias is not None and new.bias is not None:
        new.bias[: old.out_features] = old.bias
    new.train(old.training)
    set_head(model, new)
