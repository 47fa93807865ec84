"""Architecture families that decorrelate total parameters from boundary parameters.

Four groups per kind, so a capacity law can be fitted against either count:

- ``depth``: more hidden layers at a fixed width (total grows, interface and cut stay fixed);
- ``width``: wider hidden layers at a fixed depth (total, interface and cut all grow);
- ``bottleneck``: one narrow layer after (MLP: between) two wide ones (the min-cut is the narrow
  width while the total barely moves);
- ``frozen``: a frozen random first layer of growing width with a trained linear readout (trainable
  parameters equal the readout; the classical random-feature capacity setting).

MLPs are ``Linear``/``ReLU`` stacks (inputs of rank > 1 are flattened first). CNNs are ``Conv2d``
(kernel 3, padding 1) / ``ReLU`` stacks on ``(C, H, W)`` inputs, then global average pooling and a
linear readout. A binary task gets one output logit, a C-class task C logits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from axionlab.checks import check_choice, check_count
from axionlab.errors import InputError

Kind = Literal["mlp", "cnn"]
KINDS: tuple[Kind, ...] = ("mlp", "cnn")


@dataclass(frozen=True)
class ArchSpec:
    """One architecture of a family: hidden widths (MLP) or channels (CNN) and frozen layers.

    ``frozen`` is the number of leading hidden layers whose random weights are not trained.
    """

    name: str
    kind: Kind
    group: str
    input_shape: tuple[int, ...]
    widths: tuple[int, ...]
    n_classes: int = 2
    frozen: int = 0

    @property
    def outputs(self) -> int:
        """Number of output logits: 1 for a binary task, else ``n_classes``."""
        return 1 if self.n_classes == 2 else self.n_classes


def _check_spec(spec: ArchSpec) -> None:
    check_choice("kind", spec.kind, KINDS)
    if spec.kind == "cnn" and len(spec.input_shape) != 3:
        raise InputError(f"a cnn needs input_shape (C, H, W), got {spec.input_shape}")
    if not spec.input_shape or min(spec.input_shape) < 1:
        raise InputError(f"input_shape must hold positive sizes, got {spec.input_shape}")
    if spec.widths and min(spec.widths) < 1:
        raise InputError(f"widths must be positive, got {spec.widths}")
    check_count("n_classes", spec.n_classes, minimum=2)
    check_count("frozen", spec.frozen, maximum=len(spec.widths))


def _init_(layer: nn.Linear | nn.Conv2d, generator: torch.Generator) -> None:
    # He-uniform weights (suits ReLU) and torch's default bias range, drawn from `generator`.
    fan_in = layer.weight[0].numel()
    bound = math.sqrt(6.0 / fan_in)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        if layer.bias is not None:
            layer.bias.uniform_(-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in), generator=generator)


def build_model(spec: ArchSpec, generator: torch.Generator) -> nn.Sequential:
    """Build the ``nn.Sequential`` of ``spec`` with every weight drawn from ``generator``.

    Parameters
    ----------
    spec : architecture, e.g. one entry of :func:`capacity_family`.
    generator : CPU generator; the same seed gives bit-identical weights.

    Returns
    -------
    The model on CPU, its first ``spec.frozen`` hidden layers with ``requires_grad=False``.

    Raises
    ------
    InputError : an inconsistent spec (unknown kind, bad shapes or widths).
    """
    _check_spec(spec)
    hidden: list[nn.Linear | nn.Conv2d] = []
    modules: list[nn.Module] = []
    # Layers start on the meta device so construction never draws from torch's global RNG.
    if spec.kind == "mlp":
        if len(spec.input_shape) > 1:
            modules.append(nn.Flatten())
        width = math.prod(spec.input_shape)
        for w in spec.widths:
            hidden.append(nn.Linear(width, w, device="meta"))
            modules += [hidden[-1], nn.ReLU()]
            width = w
    else:
        width = spec.input_shape[0]
        for w in spec.widths:
            hidden.append(nn.Conv2d(width, w, 3, padding=1, device="meta"))
            modules += [hidden[-1], nn.ReLU()]
            width = w
        modules += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    readout = nn.Linear(width, spec.outputs, device="meta")
    model = nn.Sequential(*modules, readout).to_empty(device="cpu")
    for layer in (*hidden, readout):
        _init_(layer, generator)
    for layer in hidden[: spec.frozen]:
        layer.requires_grad_(False)
    return model


def capacity_family(
    kind: Kind,
    input_shape: int | tuple[int, ...],
    *,
    n_classes: int = 2,
    base_width: int | None = None,
    depths: tuple[int, ...] | None = None,
    widths: tuple[int, ...] | None = None,
    bottlenecks: tuple[int, ...] | None = None,
    frozen_widths: tuple[int, ...] | None = None,
) -> tuple[ArchSpec, ...]:
    """Named architectures spanning total vs boundary parameters (depth, width, bottleneck, frozen).

    Parameters
    ----------
    kind : ``"mlp"`` or ``"cnn"``.
    input_shape : feature count (MLP) or ``(C, H, W)`` (CNN; an MLP flattens it).
    n_classes : classes of the task the readout serves.
    base_width : width (channels) held fixed in the depth group and next to the bottleneck's
        narrow layer at twice this; default 32 (MLP) or 8 (CNN).
    depths : hidden-layer counts of the depth group at ``base_width``.
    widths : hidden widths of the width group (two hidden layers).
    bottlenecks : narrow widths next to two layers of ``2 * base_width`` (between them for an
        MLP, after them, before the global pooling, for a CNN).
    frozen_widths : widths of the frozen random layer under a trained readout.

    Returns
    -------
    Specs named ``<kind>-<group>-<value>``; pass one to :func:`build_model`. Architectures may
    repeat across groups (e.g. depth 2 = width ``base_width``) so each group is a complete sweep.

    Raises
    ------
    InputError : unknown kind, empty family, or non-positive sizes.
    """
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    check_choice("kind", kind, KINDS)
    mlp = kind == "mlp"
    base = base_width if base_width is not None else (32 if mlp else 8)
    depths = depths or ((1, 2, 3, 4) if mlp else (1, 2, 3))
    widths = widths or ((8, 16, 32, 64, 128) if mlp else (4, 8, 16))
    bottlenecks = bottlenecks or ((1, 2, 4, 8, 16) if mlp else (1, 2, 4))
    frozen_widths = frozen_widths or ((16, 32, 64, 128) if mlp else (8, 16, 32))
    groups: dict[str, list[tuple[str, tuple[int, ...], int]]] = {
        "depth": [(f"{d}", (base,) * d, 0) for d in depths],
        "width": [(f"{w}", (w, w), 0) for w in widths],
        # A CNN's global pooling is itself a cut of its last channel count, so a CNN's narrow
        # layer goes last; an MLP's sits between two wide layers.
        "bottleneck": [
            (f"{b}", (2 * base, b, 2 * base) if mlp else (2 * base, 2 * base, b), 0)
            for b in bottlenecks
        ],
        "frozen": [(f"{w}", (w,), 1) for w in frozen_widths],
    }
    specs = tuple(
        ArchSpec(f"{kind}-{group}-{label}", kind, group, shape, hidden, n_classes, frozen)
        for group, entries in groups.items()
        for label, hidden, frozen in entries
    )
    for spec in specs:
        _check_spec(spec)
    return specs
