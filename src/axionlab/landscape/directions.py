"""Directions in parameter space for slicing a loss landscape.

A direction is a ``dict[str, Tensor]`` keyed like the model's trainable ``named_parameters()``.
Random directions follow Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets" (§4,
filter normalisation); trajectory directions follow their §6 (PCA of the optimisation path).

A "filter" is one output unit: a slice along dim 0 for ``nn.Linear``/``nn.Conv*`` weights
(``(out, in, ...)``) and for embeddings (one row per token), and a column for the ``Conv1D`` of
HuggingFace's GPT-2 family, which stores its weight transposed as ``(in, out)``. ``Conv1D`` is
recognised by its class name, so this module never imports ``transformers``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch
from torch import Tensor, nn

from axionlab.checks import check_choice, check_count
from axionlab.errors import InputError
from axionlab.landscape._common import Params, check_keys, dot, split_parameters, unflatten
from axionlab.repro import torch_generator

Normalization = Literal["filter", "layer", "none"]
NORMALIZATIONS: tuple[Normalization, ...] = get_args(Normalization)
_EPS = 1e-10
_TRANSPOSED_LAYERS = frozenset({"Conv1D"})
"""Class names of layers whose ``weight`` is stored ``(in, out)`` (transformers' GPT-2 Conv1D)."""


def parameters_of(source: nn.Module | Mapping[str, Tensor]) -> Params:
    """Detached trainable parameters of a model, or a copy of an existing parameter dictionary."""
    if isinstance(source, nn.Module):
        return split_parameters(source)[0]
    return {n: t.detach() for n, t in source.items()}


def random_directions(
    model: nn.Module,
    n: int = 2,
    *,
    normalization: Normalization = "filter",
    ignore_1d: bool = True,
    orthogonalize: bool = False,
    generator: torch.Generator | None = None,
) -> list[Params]:
    """Gaussian random directions, normalised to the scale of the model's weights.

    Parameters
    ----------
    model
        Model whose trainable parameters define the keys, shapes and scales; not modified.
    n
        Number of directions.
    normalization
        ``"filter"``: each output filter/row (slice along dim 0; a column for a ``Conv1D``
        weight stored ``(in, out)``) is rescaled to the norm of the matching weight filter (Li et
        al. 2018, §4); ``"layer"``: each tensor is rescaled to the
        norm of its weight tensor; ``"none"``: raw standard normal draws.
    ignore_1d
        Zero 1-D parameters (biases, normalisation scales), as Li et al. do. When kept, a 1-D
        parameter counts as one filter under ``"filter"``.
    orthogonalize
        Gram–Schmidt the directions against each other (after normalisation); each is rescaled to
        its pre-projection norm, so filter norms then hold only approximately.
    generator
        CPU random stream; draws are made on CPU in float32 so results do not depend on the device.
        ``None`` means a fresh stream seeded with 0.

    Returns
    -------
    list[dict[str, Tensor]]
        ``n`` directions on the model's device and dtype.

    Raises
    ------
    InputError
        For ``n < 1`` or an unknown ``normalization``.
    """
    check_count("n", n, minimum=1)
    check_choice("normalization", normalization, NORMALIZATIONS)
    shared = torch.Generator().manual_seed(0) if generator is None else generator
    # one stream for every tensor, drawn even for ignored ones so ignore_1d never shifts the rest
    directions = _directions(
        model, n, normalization, ignore_1d, lambda i, name: shared, draw_ignored=True
    )
    return _orthogonalize(directions) if orthogonalize else directions


def seeded_directions(
    model: nn.Module,
    seed: int,
    n: int = 2,
    *,
    normalization: Normalization = "filter",
    ignore_1d: bool = True,
) -> list[Params]:
    """Random directions whose every element is a function of (seed, parameter name, index).

    Direction ``i``'s tensor for parameter ``name`` is the flat standard normal vector of
    :func:`seeded_normal` (``seed``, ``("direction", name, i)``), reshaped and normalised as in
    :func:`random_directions`. A plane is thus re-derived from ``(seed, n, normalization)`` and
    the model alone, a tensor's draw does not depend on which other parameters the model has,
    and any row range of it can be drawn alone: a rank of a sharded model draws its own shard
    (:func:`seeded_direction_rows`), so a plane does not depend on the world size.

    Parameters
    ----------
    model
        Model whose trainable parameters define the names, shapes and scales; not modified.
    seed
        Root seed of the ``direction`` streams.
    n, normalization, ignore_1d
        As in :func:`random_directions` (no orthogonalisation: that would couple the tensors).

    Returns
    -------
    list[dict[str, Tensor]]
        ``n`` directions on the model's device and dtype.

    Raises
    ------
    InputError
        For ``n < 1`` or an unknown ``normalization``.
    """
    check_count("n", n, minimum=1)
    check_choice("normalization", normalization, NORMALIZATIONS)
    params = split_parameters(model)[0]
    transposed = transposed_weights(model)
    return [
        {
            name: seeded_direction_rows(
                seed,
                i,
                name,
                weight,
                weight.shape,
                0,
                normalization=normalization,
                ignore_1d=ignore_1d,
                transposed=name in transposed,
            )
            for name, weight in params.items()
        }
        for i in range(n)
    ]


SEEDED_BLOCK = 1 << 20
"""Elements per independently seeded block of a :func:`seeded_normal` vector."""


def seeded_normal(
    seed: int, names: tuple[str | int, ...], numel: int, start: int, stop: int
) -> Tensor:
    """Elements ``[start, stop)`` of a standard normal float32 vector of length ``numel``.

    The vector is cut into blocks of :data:`SEEDED_BLOCK` elements; block ``k`` is drawn whole
    from ``torch_generator(seed, *names)`` (``k = 0``) or ``torch_generator(seed, *names, k)``,
    so element ``j`` depends only on ``(seed, names, numel, j)`` and a slice never costs more
    than its blocks (at most two blocks beyond it).
    """
    out = torch.empty(stop - start, dtype=torch.float32)
    for block in range(start // SEEDED_BLOCK, -(-stop // SEEDED_BLOCK)):
        low, high = block * SEEDED_BLOCK, min((block + 1) * SEEDED_BLOCK, numel)
        stream = (
            torch_generator(seed, *names) if block == 0 else torch_generator(seed, *names, block)
        )
        draw = torch.randn(high - low, generator=stream, dtype=torch.float32)
        a, b = max(start, low), min(stop, high)
        out[a - start : b - start] = draw[a - low : b - low]
    return out


def seeded_direction_rows(
    seed: int,
    index: int,
    name: str,
    weight_rows: Tensor,
    shape: torch.Size,
    first_row: int,
    *,
    normalization: Normalization = "filter",
    ignore_1d: bool = True,
    transposed: bool = False,
    reduce: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """Rows ``first_row : first_row + len(weight_rows)`` of :func:`seeded_directions`' tensor.

    ``weight_rows`` are those rows of the weight (of full ``shape``), e.g. one rank's dim-0
    shard under FSDP2. Filters along dim 0 (Linear, Conv, Embedding rows) are normalised from
    these rows alone, so shards are bit-identical to the unsharded tensor; scales that span rows
    (a 1-D parameter, a ``Conv1D`` column, ``"layer"``) sum float64 partial squares and pass
    them through ``reduce`` (the sum over the ranks holding the other rows; ``None``: these are
    all the rows), so they agree with the unsharded ones to float64 rounding.
    """
    if weight_rows.dim() <= 1 and ignore_1d:
        return torch.zeros_like(weight_rows)
    row = int(np.prod(shape[1:], dtype=np.int64))
    numel = row * int(shape[0]) if len(shape) else 1
    start = first_row * row if len(shape) else 0
    draw = seeded_normal(
        seed, ("direction", name, index), numel, start, start + weight_rows.numel()
    )
    draw = draw.reshape(weight_rows.shape).to(device=weight_rows.device, dtype=weight_rows.dtype)
    local_filters = normalization == "filter" and weight_rows.dim() >= 2 and not transposed
    if normalization == "none" or local_filters:
        return _normalize(draw, weight_rows, normalization)
    dims = (0,) if normalization == "filter" else tuple(range(weight_rows.dim()))
    squares = torch.stack(
        [t.double().square().sum(dim=dims, keepdim=True) for t in (weight_rows, draw)]
    )
    if reduce is not None:
        squares = reduce(squares)
    scale = squares[0].sqrt() / (squares[1].sqrt() + _EPS)
    return draw * scale.to(draw.dtype)


def _directions(
    model: nn.Module,
    n: int,
    normalization: Normalization,
    ignore_1d: bool,
    stream: Callable[[int, str], torch.Generator],
    *,
    draw_ignored: bool,
) -> list[Params]:
    """``n`` normalised Gaussian directions; ``stream(i, name)`` gives the generator of direction
    ``i``'s tensor ``name`` (float32 CPU draws, so results do not depend on the device)."""
    params = split_parameters(model)[0]
    transposed = transposed_weights(model)
    directions = []
    for i in range(n):
        direction = {}
        for name, weight in params.items():
            ignored = weight.dim() <= 1 and ignore_1d
            if ignored and not draw_ignored:
                direction[name] = torch.zeros_like(weight)
                continue
            draw = torch.randn(weight.shape, generator=stream(i, name), dtype=torch.float32)
            draw = draw.to(device=weight.device, dtype=weight.dtype)
            direction[name] = (
                torch.zeros_like(weight)
                if ignored
                else _normalize(draw, weight, normalization, name in transposed)
            )
        directions.append(direction)
    return directions


def transposed_weights(model: nn.Module) -> frozenset[str]:
    """Names of the 2-D weights stored ``(in, out)``, whose filters are columns (GPT-2 Conv1D)."""
    names = set()
    for prefix, module in model.named_modules():
        weight = getattr(module, "weight", None)
        # the MRO, since FSDP2 makes a sharded Conv1D an instance of a new class FSDPConv1D
        names_of = {c.__name__ for c in type(module).__mro__}
        if names_of & _TRANSPOSED_LAYERS and isinstance(weight, Tensor):
            if weight.dim() == 2:
                names.add(f"{prefix}.weight" if prefix else "weight")
    return frozenset(names)


def _normalize(
    draw: Tensor, weight: Tensor, normalization: Normalization, transposed: bool = False
) -> Tensor:
    if normalization == "none":
        return draw
    if normalization == "layer" or weight.dim() <= 1:
        dims: tuple[int, ...] = tuple(range(weight.dim()))
    elif transposed:
        dims = (0,)  # (in, out): one filter per output column
    else:
        dims = tuple(range(1, weight.dim()))
    norm = torch.linalg.vector_norm
    scale: Tensor = norm(weight, dim=dims, keepdim=True) / (
        norm(draw, dim=dims, keepdim=True) + _EPS
    )
    return draw * scale


def _orthogonalize(directions: list[Params]) -> list[Params]:
    done: list[Params] = []
    for direction in directions:
        norm = dot(direction, direction).sqrt()
        current = dict(direction)
        for basis in done:
            coef = (dot(current, basis) / dot(basis, basis)).item()
            current = {k: v - coef * basis[k] for k, v in current.items()}
        new_norm = dot(current, current).sqrt()
        if new_norm <= _EPS * max(norm.item(), 1.0):
            raise InputError("directions are linearly dependent; cannot orthogonalize them")
        factor = (norm / new_norm).item()
        done.append({k: v * factor for k, v in current.items()})
    return done


def difference_direction(
    start: nn.Module | Mapping[str, Tensor], end: nn.Module | Mapping[str, Tensor]
) -> Params:
    """The direction ``end - start`` between two parameter sets (e.g. two trained models).

    Raises
    ------
    InputError
        If the two sets do not have the same keys and shapes.
    """
    a, b = parameters_of(start), parameters_of(end)
    check_keys(a, b, "end")
    return {k: b[k] - a[k] for k in a}


@dataclass(frozen=True)
class TrajectoryPCA:
    """Principal directions of an optimisation trajectory around its final point.

    ``directions[i]`` has unit norm; ``explained_variance_ratio[i]`` is the fraction of the
    trajectory's variance (around the final point) it captures.
    """

    directions: list[Params]
    explained_variance_ratio: np.ndarray


def trajectory_directions(
    center: nn.Module | Mapping[str, Tensor],
    trajectory: Sequence[nn.Module | Mapping[str, Tensor]],
    n: int = 2,
) -> TrajectoryPCA:
    """Top ``n`` principal directions of ``trajectory - center`` (Li et al. 2018, §6).

    Parameters
    ----------
    center
        The point the plane is drawn around (typically the final weights).
    trajectory
        Parameter sets visited during training (models or parameter dictionaries).
    n
        Number of principal directions.

    Raises
    ------
    InputError
        If fewer than ``n`` snapshots are given or their keys/shapes differ from ``center``.
    """
    base = parameters_of(center)
    if n < 1 or len(trajectory) < n:
        raise InputError(f"need n >= 1 and at least n snapshots, got n={n}, {len(trajectory)}")
    rows = []
    for snapshot in trajectory:
        point = parameters_of(snapshot)
        check_keys(base, point, "trajectory snapshot")
        rows.append(torch.cat([(point[k] - base[k]).reshape(-1).double().cpu() for k in base]))
    matrix = torch.stack(rows)  # (T, P)
    _, singular, vh = torch.linalg.svd(matrix, full_matrices=False)
    energy = singular.square()
    ratio = (energy[:n] / energy.sum().clamp_min(_EPS)).numpy()
    directions = [unflatten(vh[i], base) for i in range(n)]
    return TrajectoryPCA(directions=directions, explained_variance_ratio=ratio)
