"""Basin geometry around a trained point: radii along lines and areas on planes.

Definitions followed here (losses in nats, radii in units of the given direction):

- **Radius.** For a direction d and a tolerance δ > 0, the basin radius is the smallest r > 0
  with L(θ* + r·d) ≥ L(θ*) + δ, or ``inf`` when no r ≤ ``max_radius`` qualifies. A non-finite
  loss (NaN or inf: the model diverged) counts as outside the basin. A relative tolerance is
  δ = fraction × L(θ*). The first crossing is bracketed on a grid that runs outward from 0 —
  geometric radii max_radius·2⁻¹⁶ … max_radius (sharp basins) merged with ``steps`` uniform
  ones — and refined by bisection to ``tol``. Two crossings closer together than the grid
  spacing can be taken for none (a spike the grid steps over is missed).
- **Area.** On a plane of losses, the δ-basin is the connected component containing the centre
  cell of the sublevel set {L ≤ t}, 8-connected as the topology code's T-construction
  (:func:`axionlab.topology.sublevel_persistence`, ``construction="top"``); NaN cells are outside.
  Its size is reported as a fraction of the grid and in coordinate units (cells × Δα·Δβ), and
  flagged when it touches the grid border (then the size is a lower bound).

Difference from the ICLR 2026 paper (Chen et al., "Unveiling the basin-like loss landscape in
large language models", arXiv:2505.17646): they measure a benchmark score (a 0–1 task metric,
lower is better), not the training loss, along random unit-normalised directions ("most-case")
and adversarial ones ("worst-case"), and read the basin as the perturbation range over which
that score stays essentially unchanged before it collapses; their bounds use the radius of a
Gaussian (randomized-smoothing) neighbourhood. Here the functional is the mean loss, the edge is a
fixed tolerance δ (absolute or relative) rather than a collapse read off a curve, the radius is a
first crossing along each given direction (random, Hessian or any other, in that direction's
units — pass filter-normalised ones for scale invariance), and the plane gives an area.

Every probe evaluates the model functionally (``torch.func.functional_call``) in eval semantics
and leaves it untouched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage
from torch import Tensor, nn

from axionlab.errors import InputError
from axionlab.landscape._common import (
    Data,
    LossFn,
    check_keys,
    eval_semantics,
    forward,
    materialize,
    model_device,
    split_parameters,
)
from axionlab.landscape.surface import LossSurface

_GEOMETRIC_OCTAVES = 16
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class BasinRadii:
    """Basin radii along several directions for several tolerances.

    ``radii[i, k]`` is the radius along direction i for tolerance k (``inf``: none up to
    ``max_radius``); ``deltas[k]`` is that tolerance in nats, ``requested[k]`` the value given and
    ``relative[k]`` whether it was a fraction of ``center_loss``. ``mean``/``min``/``max`` summarise
    over directions per tolerance (the mean is ``inf`` when any radius is); ``n_unbounded[k]``
    counts the directions that never left the basin.
    """

    center_loss: float
    deltas: NDArray[np.float64]
    requested: NDArray[np.float64]
    relative: NDArray[np.bool_]
    radii: NDArray[np.float64]
    mean: NDArray[np.float64]
    min: NDArray[np.float64]
    max: NDArray[np.float64]
    n_unbounded: NDArray[np.int64]
    max_radius: float
    tol: float


@dataclass(frozen=True)
class BasinArea:
    """Size of the centre's sublevel-set component at each threshold.

    ``cells[k]`` cells (``fraction[k]`` of the grid, ``area[k]`` in coordinate units, NaN for a
    bare array without coordinates); ``touches_border[k]``: the component reaches the grid edge,
    so the basin extends beyond the plane and its size is a lower bound.
    """

    thresholds: NDArray[np.float64]
    cells: NDArray[np.int64]
    fraction: NDArray[np.float64]
    area: NDArray[np.float64]
    touches_border: NDArray[np.bool_]
    center: tuple[int, int]


def basin_radius(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    direction: Mapping[str, Tensor],
    delta: float,
    *,
    max_radius: float,
    tol: float = 1e-4,
    steps: int = 64,
    batch_size: int | None = None,
    max_examples: int | None = None,
) -> float:
    """Smallest r > 0 with L(θ* + r·d) ≥ L(θ*) + δ, ``inf`` if none up to ``max_radius``.

    Parameters
    ----------
    model
        Model at θ*; evaluated functionally in eval semantics and never modified.
    loss_fn
        ``loss_fn(outputs, targets) -> scalar mean loss`` in nats.
    data
        An ``(x, y)`` pair or an iterable of ``(x, y)`` batches, loaded once.
    direction
        d, keyed like the model's trainable ``named_parameters()``; r is in units of d.
    delta
        Loss increase that marks the basin's edge, in nats (> 0).
    max_radius
        Largest radius searched (> 0); not limited to any plane's span.
    tol
        Bisection stops when the bracket is ≤ ``tol`` wide; the radius returned is the bracket's
        outer end (a point found outside the basin), within ``tol`` of the crossing.
    steps
        Uniform bracketing points in (0, max_radius], merged with geometric ones near 0.
    batch_size, max_examples
        Examples per forward pass (memory only) and how many to use (``None``: all).

    Returns
    -------
    float
        The radius; non-finite losses count as crossings (a diverged model is outside).

    Raises
    ------
    InputError
        For δ ≤ 0, bad ``max_radius``/``tol``/``steps``, mismatched direction keys or a
        non-finite loss at θ*.

    References
    ----------
    Definitions and the difference from Chen et al. (ICLR 2026) in the module notes.
    """
    result = basin_radii(
        model,
        loss_fn,
        data,
        [direction],
        deltas=[delta],
        max_radius=max_radius,
        tol=tol,
        steps=steps,
        batch_size=batch_size,
        max_examples=max_examples,
    )
    return float(result.radii[0, 0])


def basin_radii(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    directions: Sequence[Mapping[str, Tensor]],
    *,
    deltas: Sequence[float] = (),
    relative: Sequence[float] = (),
    max_radius: float,
    tol: float = 1e-4,
    steps: int = 64,
    batch_size: int | None = None,
    max_examples: int | None = None,
) -> BasinRadii:
    """Basin radii (see :func:`basin_radius`) along each direction for each tolerance.

    Parameters
    ----------
    directions
        One or more directions keyed like the model's trainable ``named_parameters()``.
    deltas
        Absolute tolerances δ in nats (> 0).
    relative
        Relative tolerances: δ = fraction × L(θ*) (fractions > 0; needs L(θ*) > 0).
    model, loss_fn, data, max_radius, tol, steps, batch_size, max_examples
        As :func:`basin_radius`. One bracketing grid per direction serves every tolerance.

    Returns
    -------
    BasinRadii
        ``radii`` of shape (directions, tolerances), absolute tolerances first, with the mean,
        min and max over directions.

    Raises
    ------
    InputError
        As :func:`basin_radius`; also for no directions or no tolerances.
    """
    _check_search(max_radius, tol, steps)
    if not directions:
        raise InputError("directions is empty; pass at least one direction")
    requested = np.array([*deltas, *relative], dtype=np.float64)
    is_relative = np.array([False] * len(deltas) + [True] * len(relative))
    if requested.size == 0:
        raise InputError("pass at least one tolerance in deltas= or relative=")
    if not (np.isfinite(requested).all() and (requested > 0).all()):
        raise InputError(f"deltas and relative must be finite and > 0, got {requested.tolist()}")
    line = _Line(model, loss_fn, data, batch_size, max_examples)
    for i, direction in enumerate(directions):
        check_keys(line.center, direction, f"directions[{i}]")
    with eval_semantics(model), torch.no_grad():
        center_loss = line.loss(None, 0.0)
        if not math.isfinite(center_loss):
            raise InputError(
                f"loss at the trained point is {center_loss}; the centre must be finite"
            )
        absolute = np.where(is_relative, requested * center_loss, requested)
        if not (absolute > 0).all():
            raise InputError(
                f"relative tolerances need a positive centre loss, got {center_loss}; use deltas="
            )
        grid = _bracket_grid(max_radius, steps)
        radii = np.empty((len(directions), absolute.size))
        for i, direction in enumerate(directions):
            d = {k: v.to(line.device) for k, v in direction.items()}
            values = np.array([line.loss(d, r) for r in grid])
            for k, delta in enumerate(absolute):
                radii[i, k] = _first_crossing(line, d, grid, values, center_loss + delta, tol)
    return BasinRadii(
        center_loss=center_loss,
        deltas=absolute,
        requested=requested,
        relative=is_relative,
        radii=radii,
        mean=radii.mean(axis=0),
        min=radii.min(axis=0),
        max=radii.max(axis=0),
        n_unbounded=np.isinf(radii).sum(axis=0),
        max_radius=float(max_radius),
        tol=float(tol),
    )


def basin_area(
    values: LossSurface | ArrayLike,
    thresholds: Sequence[float] | ArrayLike,
    *,
    center: tuple[int, int] | None = None,
) -> BasinArea:
    """Size of the sublevel-set component {L ≤ t} containing the centre, for each threshold t.

    Parameters
    ----------
    values
        A :class:`LossSurface` (areas in its coordinate units, centre at its (0, 0) cell) or a
        2-D array of losses (areas NaN, centre the middle cell). NaN counts as outside.
    thresholds
        Loss levels t in nats (e.g. ``surface.center_loss + δ``).
    center
        ``(i, j)`` of the centre cell, overriding the default.

    Returns
    -------
    BasinArea
        Cells, fraction of the grid and area per threshold; 0 where the centre itself is above t.
        Components are 8-connected, as the T-construction of :mod:`axionlab.topology`.

    Raises
    ------
    InputError
        For a non-2-D grid, NaN thresholds or a centre outside the grid.
    """
    if isinstance(values, LossSurface):
        grid = np.asarray(values.values, dtype=np.float64)
        cell = float(_spacing(values.alphas) * _spacing(values.betas))
        default = (int(np.argmin(np.abs(values.alphas))), int(np.argmin(np.abs(values.betas))))
    else:
        grid = np.asarray(values, dtype=np.float64)
        cell = math.nan
        default = (grid.shape[0] // 2, grid.shape[1] // 2) if grid.ndim == 2 else (0, 0)
    if grid.ndim != 2 or grid.size == 0:
        raise InputError(f"values must be a non-empty 2-D grid, got shape {grid.shape}")
    levels = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if levels.ndim != 1 or np.isnan(levels).any():
        raise InputError(f"thresholds must be a 1-D sequence of numbers without NaN, got {levels}")
    ci, cj = default if center is None else center
    if not (0 <= ci < grid.shape[0] and 0 <= cj < grid.shape[1]):
        raise InputError(f"center must be a cell of the {grid.shape} grid, got {(ci, cj)}")
    filled = np.where(np.isnan(grid), np.inf, grid)
    cells = np.zeros(levels.size, dtype=np.int64)
    border = np.zeros(levels.size, dtype=bool)
    for k, t in enumerate(levels):
        if not filled[ci, cj] <= t:
            continue
        labels, _ = ndimage.label(filled <= t, structure=_EIGHT_CONNECTED)
        component = labels == labels[ci, cj]
        cells[k] = int(component.sum())
        border[k] = bool(
            component[0].any()
            or component[-1].any()
            or component[:, 0].any()
            or component[:, -1].any()
        )
    return BasinArea(
        thresholds=levels,
        cells=cells,
        fraction=np.asarray(cells / grid.size, dtype=np.float64),
        area=np.asarray(cells * cell, dtype=np.float64),
        touches_border=border,
        center=(int(ci), int(cj)),
    )


@dataclass(frozen=True, eq=False)
class PlaneBasins:
    """What :func:`plane_basins` returns: radii along lines, areas of the same rises on a plane.

    ``thresholds[k]`` is the loss level of tolerance k on the plane: its centre loss plus
    ``radii.requested[k]`` (absolute) or times ``1 + radii.requested[k]`` (relative).
    """

    radii: BasinRadii
    area: BasinArea
    thresholds: NDArray[np.float64]

    def arrays(self) -> dict[str, NDArray[np.float64]]:
        """``radii`` (directions × tolerances) and the plane ``thresholds``."""
        return {"radii": self.radii.radii, "thresholds": self.thresholds}

    def features(self, names: Sequence[str]) -> dict[str, float | int | bool]:
        """A flat summary: ``basin_center_loss`` and, for tolerance k named ``names[k]``, the
        radius mean/min/max over directions, the unbounded count, the area fraction and whether
        the area touches the plane's border (``basin_radius_<name>``, ``..._min``, ...)."""
        if len(names) != len(self.thresholds):
            raise InputError(f"need {len(self.thresholds)} tolerance names, got {len(names)}")
        radii, area = self.radii, self.area
        result: dict[str, float | int | bool] = {"basin_center_loss": radii.center_loss}
        for k, name in enumerate(names):
            result[f"basin_radius_{name}"] = float(radii.mean[k])
            result[f"basin_radius_{name}_min"] = float(radii.min[k])
            result[f"basin_radius_{name}_max"] = float(radii.max[k])
            result[f"basin_unbounded_{name}"] = int(radii.n_unbounded[k])
            result[f"basin_area_{name}"] = float(area.fraction[k])
            result[f"basin_area_touches_border_{name}"] = bool(area.touches_border[k])
        return result


def plane_basins(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    directions: Sequence[Mapping[str, Tensor]],
    plane: Mapping[str, ArrayLike],
    *,
    deltas: Sequence[float] = (),
    relative: Sequence[float] = (),
    max_radius: float,
    tol: float = 1e-4,
) -> PlaneBasins:
    """Basin radii along ``directions`` (:func:`basin_radii`) and, for the same tolerances, the
    area of the trained point's sublevel component on a stored loss plane (:func:`basin_area`).

    Parameters
    ----------
    plane
        ``values``, ``alphas`` and ``betas`` of a plane through the trained weights (as
        :class:`LossSurface` names them); the trained point is the cell nearest to ``(0, 0)``,
        and its loss is the base of the area thresholds.
    model, loss_fn, data, directions, deltas, relative, max_radius, tol
        As :func:`basin_radii`.

    Raises
    ------
    InputError
        As :func:`basin_radii`, or when the plane's loss at the trained point is not finite.
    """
    radii = basin_radii(
        model,
        loss_fn,
        data,
        directions,
        deltas=deltas,
        relative=relative,
        max_radius=max_radius,
        tol=tol,
    )
    values = np.asarray(plane["values"], dtype=np.float64)
    center = (int(np.argmin(np.abs(plane["alphas"]))), int(np.argmin(np.abs(plane["betas"]))))
    center_loss = float(values[center])
    if not math.isfinite(center_loss):
        raise InputError(f"the plane's loss at the trained point is {center_loss}")
    thresholds = np.where(
        radii.relative, center_loss * (1.0 + radii.requested), center_loss + radii.requested
    )
    area = basin_area(values, thresholds, center=center)
    return PlaneBasins(radii, area, np.asarray(thresholds, dtype=np.float64))


class _Line:
    """Loss at θ* + r·d on data loaded once, in eval semantics (the caller holds the context)."""

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        data: Data,
        batch_size: int | None,
        max_examples: int | None,
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise InputError(f"batch_size must be >= 1 or None, got {batch_size}")
        self.model, self.loss_fn = model, loss_fn
        self.center, self.constants = split_parameters(model)
        self.device = model_device(model)
        x, y = materialize(data, max_examples, self.device)
        size = batch_size or x.shape[0]
        self.chunks = [(x[i : i + size], y[i : i + size]) for i in range(0, x.shape[0], size)]
        self.n = x.shape[0]

    def loss(self, direction: Mapping[str, Tensor] | None, r: float) -> float:
        if direction is None:
            params = self.center
        else:
            params = {k: v + r * direction[k].to(v.dtype) for k, v in self.center.items()}
        total = 0.0
        for xb, yb in self.chunks:
            out = forward(self.model, params, self.constants, xb)
            total += float(self.loss_fn(out, yb).double()) * (xb.shape[0] / self.n)
        return total


def _check_search(max_radius: float, tol: float, steps: int) -> None:
    if not (math.isfinite(max_radius) and max_radius > 0):
        raise InputError(f"max_radius must be finite and > 0, got {max_radius}")
    if not (math.isfinite(tol) and 0 < tol < max_radius):
        raise InputError(f"tol must be in (0, max_radius={max_radius}), got {tol}")
    if not isinstance(steps, int) or steps < 1:
        raise InputError(f"steps must be an integer >= 1, got {steps!r}")


def _spacing(axis: NDArray[np.float64]) -> float:
    """Step of a uniform coordinate axis (NaN for a single point)."""
    return float(np.mean(np.diff(axis))) if axis.size > 1 else math.nan


def _bracket_grid(max_radius: float, steps: int) -> NDArray[np.float64]:
    """Radii in (0, max_radius], ascending: geometric near 0 merged with a uniform grid."""
    geometric = max_radius * 2.0 ** -np.arange(_GEOMETRIC_OCTAVES, -1, -1, dtype=np.float64)
    uniform = np.linspace(0.0, max_radius, steps + 1)[1:]
    return np.unique(np.concatenate([geometric, uniform]))


def _first_crossing(
    line: _Line,
    direction: Mapping[str, Tensor],
    grid: NDArray[np.float64],
    values: NDArray[np.float64],
    threshold: float,
    tol: float,
) -> float:
    outside = ~(values < threshold)  # NaN and inf are outside
    if not outside.any():
        return math.inf
    k = int(np.argmax(outside))
    lo, hi = (0.0 if k == 0 else float(grid[k - 1])), float(grid[k])
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if line.loss(direction, mid) < threshold:
            lo = mid
        else:
            hi = mid
    return hi
