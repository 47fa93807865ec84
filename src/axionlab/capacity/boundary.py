"""Boundary measures of a feed-forward architecture: interface parameters, min-cuts, bottlenecks.

The model is traced once (eval mode, no grad, modes restored) with forward hooks on its leaf
modules, which must run as one chain, each consuming the previous one's output. Supported leaves:
``Linear`` (on ``(batch, features)``), ``Conv1d``/``Conv2d`` (``groups=1``, zero padding),
max/average pooling and their adaptive forms (1-D/2-D), ``Flatten`` (from dim 1), and elementwise
layers (activations, dropout, batch norm, identity). Residual connections, attention and
functional ops between modules cannot be seen by hooks and are not supported.

The *unit graph* has one node per spatial position of every convolution or pooling output
(capacity = its channel count: channels at one position share all their connections, so a cut
takes all of them or none) and one node per ``Linear`` layer (capacity = its width); a vector input
has one node per feature (capacity 1), a ``(C, ...)`` input one per position (capacity C). Edges
follow the receptive fields and are uncut-able. Min vertex cuts are max-flows (networkx) on the
node-split graph. Between input and output this is the narrowest channel information can pass
(Baldi & Vershynin 2019 treat such bottlenecks); between two parts of the input, with edges taken
both ways, it is the min-cut that bounds the separation rank of a network's function across that
partition in Levine et al. (2018).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import networkx as nx
import numpy as np
import numpy.typing as npt
import torch
from networkx.algorithms import flow
from torch import nn

from axionlab.errors import InputError, did_you_mean

_ELEMENTWISE = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.Softplus,
    nn.Identity,
    nn.Dropout,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
)
_CONV = (nn.Conv1d, nn.Conv2d)
_POOL = (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)
_ADAPTIVE = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)
_WEIGHT_LAYERS = (nn.Linear, *_CONV)
_NODE_TYPES = frozenset(c.__name__ for c in (nn.Linear, *_CONV, *_POOL, *_ADAPTIVE))


@dataclass(frozen=True)
class LayerInfo:
    """One traced leaf module: its name, type, parameter counts and per-sample output shape."""

    name: str
    type: str
    params: int
    trainable: int
    out_shape: tuple[int, ...]

    @property
    def units(self) -> int:
        """Activations per sample at this layer's output."""
        return math.prod(self.out_shape)


@dataclass(frozen=True)
class BoundaryMeasures:
    """Total and boundary parameter counts and cut widths of one architecture.

    ``min_cut`` counts input and output units as cuttable; ``hidden_min_cut`` cuts hidden units
    only and ``bottleneck_width`` is the narrowest hidden layer (both None without hidden layers).
    ``cut_params`` sums the parameters of the weight layers on either side of the named ``cut``.
    """

    total_params: int
    trainable_params: int
    interface_params: int
    min_cut: int
    hidden_min_cut: int | None
    bottleneck_width: int | None
    cut: str | None
    cut_params: int | None
    layers: tuple[LayerInfo, ...] = field(repr=False)


@dataclass
class _UnitGraph:
    edges: list[tuple[int, int]]
    capacity: list[int]
    inputs: npt.NDArray[np.int64]
    outputs: list[int]
    layers: list[LayerInfo]
    modules: list[nn.Module]


def _trace(
    model: nn.Module, input_shape: tuple[int, ...]
) -> list[tuple[str, nn.Module, tuple[int, ...], tuple[int, ...]]]:
    calls: list[tuple[str, nn.Module, tuple[int, ...], tuple[int, ...]]] = []
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    handles = [
        m.register_forward_hook(
            lambda mod, args, out, name=n: calls.append(
                (name, mod, tuple(args[0].shape[1:]), tuple(out.shape[1:]))
            )
        )
        for n, m in leaves
    ]
    modes = {m: m.training for m in model.modules()}
    first = next(model.parameters(), None)
    x = torch.zeros(
        (1, *input_shape),
        dtype=first.dtype if first is not None else torch.float32,
        device=first.device if first is not None else "cpu",
    )
    try:
        model.eval()
        with torch.no_grad():
            out = model(x)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    shape = input_shape
    for name, _, in_shape, out_shape in calls:
        if in_shape != shape:
            raise InputError(
                f"model is not a chain of modules: '{name}' receives {in_shape}, previous output "
                f"is {shape}"
            )
        shape = out_shape
    if not calls or tuple(out.shape[1:]) != shape:
        raise InputError("model output does not come from its last leaf module; not a chain")
    return calls


def _axis_pairs(
    n_in: int, n_out: int, kernel: int, stride: int, pad: int, dilation: int
) -> list[tuple[int, int]]:
    return [
        (o, o * stride - pad + a * dilation)
        for o in range(n_out)
        for a in range(kernel)
        if 0 <= o * stride - pad + a * dilation < n_in
    ]


def _adaptive_pairs(n_in: int, n_out: int) -> list[tuple[int, int]]:
    return [
        (o, i)
        for o in range(n_out)
        for i in range((o * n_in) // n_out, -(-((o + 1) * n_in) // n_out))
    ]


def _as_tuple(value: int | tuple[int, ...], dims: int) -> tuple[int, ...]:
    return (value,) * dims if isinstance(value, int) else tuple(value)


def _local_pairs(
    layer: nn.Module, in_spatial: tuple[int, ...], out_spatial: tuple[int, ...]
) -> list[list[tuple[int, int]]]:
    dims = len(in_spatial)
    module = cast(Any, layer)  # conv and pooling modules share these attributes
    if isinstance(module, _ADAPTIVE):
        return [_adaptive_pairs(i, o) for i, o in zip(in_spatial, out_spatial, strict=True)]
    kernel = _as_tuple(module.kernel_size, dims)
    stride = _as_tuple(module.stride or module.kernel_size, dims)
    dilation = _as_tuple(getattr(module, "dilation", 1), dims)
    padding = module.padding
    if padding == "valid":
        padding = 0
    pad = (
        tuple(d * (k - 1) // 2 for d, k in zip(dilation, kernel, strict=True))
        if padding == "same"
        else _as_tuple(padding, dims)
    )
    return [
        _axis_pairs(*args)
        for args in zip(in_spatial, out_spatial, kernel, stride, pad, dilation, strict=True)
    ]


def _unit_graph(model: nn.Module, input_shape: tuple[int, ...]) -> _UnitGraph:
    if not input_shape or min(input_shape) < 1:
        raise InputError(f"input_shape must hold positive sizes, got {input_shape}")
    calls = _trace(model, input_shape)
    capacity: list[int] = []
    edges: list[tuple[int, int]] = []

    def new_nodes(shape: tuple[int, ...], cap: int) -> npt.NDArray[np.int64]:
        ids = np.arange(len(capacity), len(capacity) + math.prod(shape)).reshape(shape)
        capacity.extend([cap] * ids.size)
        return ids

    grid = len(input_shape) > 1
    frontier = new_nodes(input_shape[1:], input_shape[0]) if grid else new_nodes(input_shape, 1)
    inputs, outputs = frontier, [int(i) for i in frontier.ravel()]
    layers: list[LayerInfo] = []
    for name, module, in_shape, out_shape in calls:
        kind = type(module).__name__
        if isinstance(module, nn.Linear):
            if len(in_shape) != 1:
                raise InputError(f"'{name}': Linear must act on (batch, features), got {in_shape}")
            node = new_nodes((1,), module.out_features)
            edges += [(int(u), int(node[0])) for u in frontier.ravel()]
            frontier, grid = node, False
        elif isinstance(module, (*_CONV, *_POOL, *_ADAPTIVE)):
            if isinstance(module, _CONV) and (module.groups != 1 or module.padding_mode != "zeros"):
                raise InputError(f"'{name}': only groups=1 and zero padding are supported")
            if not grid or frontier.ndim != len(in_shape) - 1:
                raise InputError(f"'{name}': {kind} needs a (C, spatial...) input, got {in_shape}")
            nodes = new_nodes(out_shape[1:], out_shape[0])
            for combo in itertools.product(*_local_pairs(module, in_shape[1:], out_shape[1:])):
                out_idx = tuple(o for o, _ in combo)
                in_idx = tuple(i for _, i in combo)
                edges.append((int(frontier[in_idx]), int(nodes[out_idx])))
            frontier = nodes
        elif isinstance(module, nn.Flatten):
            if module.start_dim != 1 or module.end_dim != -1:
                raise InputError(f"'{name}': only Flatten(start_dim=1, end_dim=-1) is supported")
            frontier, grid = frontier.ravel(), False
        elif not isinstance(module, _ELEMENTWISE):
            raise InputError(
                f"'{name}': unsupported layer {kind}; supported are Linear, Conv1d/2d, pooling, "
                "Flatten and elementwise layers"
            )
        if isinstance(module, (nn.Linear, *_CONV, *_POOL, *_ADAPTIVE)):
            outputs = [int(i) for i in frontier.ravel()]
        layers.append(
            LayerInfo(
                name,
                kind,
                sum(p.numel() for p in module.parameters()),
                sum(p.numel() for p in module.parameters() if p.requires_grad),
                out_shape,
            )
        )
    return _UnitGraph(edges, capacity, inputs, outputs, layers, [c[1] for c in calls])


def _max_flow(
    graph: _UnitGraph,
    sources: Sequence[int],
    sinks: Sequence[int],
    *,
    uncut: frozenset[int] = frozenset(),
    undirected: bool = False,
) -> int:
    g = nx.DiGraph()
    for v, cap in enumerate(graph.capacity):
        # An edge without a capacity attribute is infinite for networkx.
        g.add_edge((v, 0), (v, 1), **({} if v in uncut else {"capacity": cap}))
    for u, v in graph.edges:
        g.add_edge((u, 1), (v, 0))
        if undirected:
            g.add_edge((v, 1), (u, 0))
    g.add_edges_from(("source", (s, 0)) for s in sources)
    g.add_edges_from(((t, 1), "sink") for t in sinks)
    return int(nx.maximum_flow_value(g, "source", "sink", flow_func=flow.boykov_kolmogorov))


def boundary_measures(
    model: nn.Module, input_shape: int | tuple[int, ...], *, cut: str | None = None
) -> BoundaryMeasures:
    """Parameter counts and cut widths of a chain of Linear/Conv/pooling layers.

    Parameters
    ----------
    model : feed-forward module (see the module docstring for what is supported); left unchanged.
    input_shape : per-sample input shape, ``d`` or ``(C, H, W)`` (``(C, L)`` for Conv1d).
    cut : name of a traced leaf module (as in ``named_modules``); the cut lies on its output, and
        ``cut_params`` counts the nearest weight layer at or before it plus the nearest after it.

    Returns
    -------
    BoundaryMeasures: interface parameters (first and last weight layer), min-cuts between input
    and output (Levine et al. 2018; Baldi & Vershynin 2019), bottleneck width, named-cut parameters.

    Raises
    ------
    InputError : unsupported layers, a model that is not a chain, or an unknown ``cut`` name.
    """
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    graph = _unit_graph(model, shape)
    weight_idx = [i for i, m in enumerate(graph.modules) if isinstance(m, _WEIGHT_LAYERS)]
    if not weight_idx:
        raise InputError("model has no Linear or Conv layer")
    ends = {weight_idx[0], weight_idx[-1]}
    interface = sum(graph.layers[i].params for i in ends)
    sources = [int(i) for i in graph.inputs.ravel()]
    terminals = frozenset(sources) | frozenset(graph.outputs)
    hidden = [v for v in range(len(graph.capacity)) if v not in terminals]
    min_cut = _max_flow(graph, sources, graph.outputs)
    hidden_cut = _max_flow(graph, sources, graph.outputs, uncut=terminals) if hidden else None
    node_layers = [
        layer.units
        for layer, m in zip(graph.layers, graph.modules, strict=True)
        if isinstance(m, (nn.Linear, *_CONV, *_POOL, *_ADAPTIVE))
    ]
    bottleneck = min(node_layers[:-1]) if len(node_layers) > 1 else None
    cut_params = None
    if cut is not None:
        names = [layer.name for layer in graph.layers]
        if cut not in names:
            raise InputError(f"Unknown cut '{cut}'.{did_you_mean(cut, names)} Available: {names}")
        at = names.index(cut)
        before = [i for i in weight_idx if i <= at][-1:]
        after = [i for i in weight_idx if i > at][:1]
        cut_params = sum(graph.layers[i].params for i in before + after)
    return BoundaryMeasures(
        total_params=sum(p.numel() for p in model.parameters()),
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        interface_params=interface,
        min_cut=min_cut,
        hidden_min_cut=hidden_cut,
        bottleneck_width=bottleneck,
        cut=cut,
        cut_params=cut_params,
        layers=tuple(graph.layers),
    )


def bottleneck_layer(measures: BoundaryMeasures) -> str | None:
    """Name of the first hidden layer as narrow as ``measures.bottleneck_width``.

    Parameters
    ----------
    measures : result of :func:`boundary_measures`.

    Returns
    -------
    The traced leaf name (a Linear, Conv or pooling layer) whose output is the bottleneck, to pass
    back as ``cut`` so that ``cut_params`` counts the weights next to the bottleneck; None when the
    model has no hidden layer.
    """
    if measures.bottleneck_width is None:
        return None
    nodes = [layer for layer in measures.layers if layer.type in _NODE_TYPES][:-1]
    return next(layer.name for layer in nodes if layer.units == measures.bottleneck_width)


def partition_cut(
    model: nn.Module,
    input_shape: int | tuple[int, ...],
    mask: npt.ArrayLike,
    *,
    cut_inputs: bool = True,
) -> int:
    """Min vertex cut of the unit graph separating input part A (``mask``) from part B (the rest).

    Parameters
    ----------
    model : feed-forward module (see the module docstring); left unchanged.
    input_shape : per-sample input shape.
    mask : boolean array over input features (vector input) or spatial positions (``(H, W)`` for a
        ``(C, H, W)`` input); True marks part A.
    cut_inputs : whether input units may be cut; with False the cut passes through hidden and
        output units only (the architecture's own cut, not limited by the size of A or B).

    Returns
    -------
    The number of units (input, hidden or output) that must be removed so no path joins A and B,
    edges taken in both directions: the min-cut that bounds the separation rank of the network
    with respect to the partition (Levine et al. 2018).

    Raises
    ------
    InputError : mask of the wrong shape or with an empty part, or an unsupported model.
    """
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    graph = _unit_graph(model, shape)
    part = np.asarray(mask, dtype=bool)
    if part.shape != graph.inputs.shape:
        raise InputError(f"mask must have shape {graph.inputs.shape}, got {part.shape}")
    if part.all() or not part.any():
        raise InputError("mask must mark a non-empty, proper part of the input")
    a = [int(v) for v in graph.inputs[part]]
    b = [int(v) for v in graph.inputs[~part]]
    uncut = frozenset() if cut_inputs else frozenset(a + b)
    return _max_flow(graph, a, b, uncut=uncut, undirected=True)


def half_mask(input_shape: int | tuple[int, ...]) -> npt.NDArray[np.bool_]:
    """Mask of the first half of the last axis: the first ``d // 2`` features or the left half.

    Parameters
    ----------
    input_shape : ``d`` or ``(C, *spatial)``.

    Returns
    -------
    Boolean array over features (``(d,)``) or spatial positions, for :func:`partition_cut`.

    Raises
    ------
    InputError : a last axis shorter than 2.
    """
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    nodes = shape if len(shape) == 1 else shape[1:]
    if not nodes or nodes[-1] < 2:
        raise InputError(f"the last axis must have length >= 2 to split, got shape {shape}")
    mask = np.zeros(nodes, dtype=bool)
    mask[..., : nodes[-1] // 2] = True
    return mask
