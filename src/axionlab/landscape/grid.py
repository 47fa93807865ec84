"""Loss on k-dimensional grids in parameter space: lines, planes and beyond.

The loss at θ* + Σ_d c_d D_d is evaluated for every coefficient vector c of the product grid
``axis^k`` (``axis`` odd-centred, so the trained point θ* sits at the centre), with the machinery
of :mod:`axionlab.landscape.surface`: functional calls in eval semantics, the full evaluation set
loaded once, batches of parameter points (``loop``/``vmap``/``auto``), the first layer's affine
terms cached, optional workers. Every k runs the one code path of :func:`loss_line` (k = 1) and
:func:`loss_plane` (k = 2), so for one and two directions the numbers are exactly theirs.
Non-finite losses are kept and counted, never replaced. Li et al. 2018, "Visualizing the Loss
Landscape of Neural Nets", §4–5, extended from planes to k directions.

Memory. A grid of ``steps^k`` points holds, besides the model and data, its coefficient table
(``steps^k × k`` float64, held about three times while it is built and split into batches), its
values (float64, twice) and one batch of parameter points (``points_per_batch × P`` weights).
That estimate is checked against ``memory_budget`` before anything is evaluated, because
``steps^k`` outgrows memory quickly (51⁴ points is 0.8 GB of bookkeeping alone).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from torch import Tensor, nn

from axionlab.checks import check_count
from axionlab.errors import InputError
from axionlab.execute import Executor
from axionlab.landscape._common import Data, LossFn
from axionlab.landscape.directions import parameters_of
from axionlab.landscape.surface import (
    Strategy,
    _axis,
    _on_grid,
    _Options,
)

_FLOAT64 = 8
_MAX_POINTS_PER_BATCH = 32  # the larger default (CUDA) when points_per_batch is None
DEFAULT_MEMORY_BUDGET = 4 << 30


@dataclass(frozen=True)
class LossGrid:
    """Loss on a k-dimensional grid: ``values[i1, …, ik]`` is the loss at Σ_d axes[d][i_d]·D_d.

    ``values`` has shape ``(steps,) * k`` (float64), non-finite values kept; ``n_nonfinite``
    counts them. ``center_loss`` is the loss at the trained weights (every coefficient 0).
    """

    axes: tuple[np.ndarray, ...]
    values: np.ndarray
    center_loss: float
    n_nonfinite: int
    seconds: float
    device: str
    strategy: str
    n_examples: int

    @property
    def ndim(self) -> int:
        """The number of directions k."""
        return len(self.axes)


def grid_bytes(steps: int, k: int, n_parameters: int, points_per_batch: int) -> int:
    """Estimated bytes a ``steps^k`` grid needs beyond the model and data (see module notes).

    Parameters
    ----------
    steps, k
        Grid points per axis and number of directions.
    n_parameters
        Trainable parameters P of the model.
    points_per_batch
        Parameter points evaluated together (each a float32 copy of the P weights).

    Returns
    -------
    int
        Coefficient table and values (float64) plus one batch of parameter points. Not
        counted: activations of a batch of points (``points_per_batch`` forward passes' worth)
        and the first layer's cached affine terms (``(1 + k) × N × out_features`` floats), both
        of which grow with the data rather than the grid; the budget bounds the grid's own
        bookkeeping, not the whole run.
    """
    points = math.prod([steps] * k)
    return points * (3 * k + 2) * _FLOAT64 + points_per_batch * n_parameters * 4


def loss_grid(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    directions: Sequence[Mapping[str, Tensor]],
    *,
    steps: int = 21,
    span: tuple[float, float] = (-1.0, 1.0),
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    batch_size: int | None = None,
    max_examples: int | None = None,
    strategy: Strategy = "auto",
    exploit_affine: bool = True,
    channels_last: bool | None = None,
    points_per_batch: int | None = None,
    executor: Executor | None = None,
    device: str | Sequence[str] | None = None,
    autocast: bool = False,
    show_progress: bool | None = None,
) -> LossGrid:
    """Loss on θ* + Σ_d c_d D_d over the ``steps^k`` grid of coefficients, k = ``len(directions)``.

    Parameters
    ----------
    model
        Model returning outputs that ``loss_fn`` accepts; its parameters are the centre θ*.
    loss_fn
        ``loss_fn(outputs, targets) -> scalar mean loss`` (e.g. ``F.cross_entropy``), in nats.
    data
        An ``(x, y)`` tensor pair or an iterable of ``(x, y)`` batches; loaded once onto the device.
    directions
        k ≥ 1 directions keyed like the model's trainable ``named_parameters()`` (e.g.
        :func:`~axionlab.landscape.random_directions` with ``n=k``).
    steps
        Grid points per axis; odd puts the trained point at the centre (a warning when even).
    span
        ``(low, high)`` coefficient range on every axis.
    memory_budget
        Bytes the grid may take beyond the model and data (:func:`grid_bytes`); a larger grid is
        refused before anything runs.
    batch_size, max_examples, strategy, exploit_affine, channels_last, points_per_batch, \
executor, device, autocast, show_progress
        As :func:`~axionlab.landscape.loss_plane`.

    Returns
    -------
    LossGrid
        ``values`` of shape ``(steps,) * k``; for k = 1 and k = 2 exactly the values of
        :func:`~axionlab.landscape.loss_line` and :func:`~axionlab.landscape.loss_plane`.

    Raises
    ------
    InputError
        For no directions, mismatched keys/shapes, bad ``steps``/``span``/options, or a grid
        whose estimated memory exceeds ``memory_budget`` (the message names ``steps``).
    """
    if isinstance(directions, Mapping):
        raise InputError("directions must be a list of directions; wrap a single one as [d]")
    k = len(directions)
    if k < 1:
        raise InputError("directions must hold at least 1 direction, got 0")
    check_count("memory_budget", memory_budget, minimum=1)
    alphas = _axis(steps, span, warn_center=True)
    options = _Options.of(locals())
    n_parameters = sum(p.numel() for p in parameters_of(model).values())
    needed = grid_bytes(steps, k, n_parameters, points_per_batch or _MAX_POINTS_PER_BATCH)
    if needed > memory_budget:
        raise InputError(
            f"steps={steps} with {k} directions is a grid of {steps**k:.3g} points needing "
            f"~{needed / 2**30:.3g} GiB, over memory_budget={memory_budget / 2**30:.3g} GiB; "
            "lower steps or raise memory_budget"
        )
    grid = _on_grid(model, loss_fn, data, directions, alphas, options, executor, show_progress)
    return LossGrid(
        axes=tuple(alphas.copy() for _ in range(k)),
        values=grid.values,
        center_loss=grid.center_loss,
        n_nonfinite=grid.n_nonfinite,
        seconds=grid.seconds,
        device=grid.device,
        strategy=grid.strategy,
        n_examples=grid.n_examples,
    )
