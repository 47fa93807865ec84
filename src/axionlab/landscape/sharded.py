"""Landscape probes of a model sharded with FSDP2 over the ranks of a collective job.

Every function here runs on *every* rank of a job (:func:`axionlab.execute.distributed.launch`)
with the model already sharded (:func:`~axionlab.execute.distributed.shard_model`), and returns
the same result on every rank. Vectors in parameter space are dictionaries of *local shards*:
rank r of a replica holds rows ``[r·c, (r+1)·c)`` of each tensor's dim 0 (``c = ⌈rows/S⌉``, FSDP2's
``torch.chunk`` split), and inner products sum over the ranks of one replica.

- **Directions** (:func:`sharded_directions`) are :func:`~axionlab.landscape.seeded_directions`
  drawn shard by shard: a function of (seed, name, element index), so a plane at world size N is
  the plane at world size 1, and no rank holds more than its shard.
- **Points** (:func:`sharded_loss_plane`, :func:`sharded_loss_line`, :func:`sharded_interpolate`):
  each local shard is overwritten with ``θ + Σ c_d·D_d`` (the unsharded evaluator's arithmetic),
  the forward pass all-gathers one layer at a time, the data are split over the ranks of a
  replica, grid points over the replicas, and the centre is copied back exactly afterwards.
- **Curvature** (:class:`ShardedHessian`): FSDP2 frees the unsharded weights after their use, so
  double backward fails ("setStorage ... storage of size 0", measured with torch 2.13); Hessian-
  vector products are central differences of gradients, (g(θ+hu) − g(θ−hu)) / 2h for unit u,
  with h chosen on the first vector as the step of least change between h and h/2 and that
  change reported as the error bound (Granziol & Juarev 2026 use the same shard-local scheme).
  Lanczos and Hutch++ are the unsharded routines with reduced inner products.
- **Fisher** (:func:`sharded_fisher_diagonal`): the per-example empirical Fisher of
  :func:`~axionlab.landscape.fisher_diagonal`; each example's gradient is taken by every rank
  together (FSDP2's reduce-scatter and HSDP's all-reduce would mix the ranks' examples, and with
  the all-reduce switched off FSDP2 keeps the partial gradient out of ``.grad``), and the squares
  stay sharded. Replicas therefore repeat the work: they speed up planes, not the Fisher.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from axionlab.checks import check_count
from axionlab.errors import InputError
from axionlab.execute.distributed import DistributedSpec, Ranks, launch, shard_model
from axionlab.landscape._common import (
    Data,
    LossFn,
    Params,
    check_keys,
    counted_targets,
    eval_semantics,
    materialize,
)
from axionlab.landscape.directions import (
    Normalization,
    seeded_direction_rows,
    seeded_normal,
    transposed_weights,
)
from axionlab.landscape.hessian import (
    HessianEigen,
    TraceEstimate,
    TraceMethod,
    top_eigenpairs,
    trace_samples,
)
from axionlab.landscape.sharpness import Sharpness
from axionlab.landscape.surface import LossLine, LossSurface, _axis

__all__ = [
    "FiniteDifferenceStep",
    "ShardedHessian",
    "distributed_loss_plane",
    "local_parameters",
    "sharded_directions",
    "sharded_fisher_diagonal",
    "sharded_hessian_top_eigenvalues",
    "sharded_hessian_trace",
    "sharded_interpolate",
    "sharded_loss_line",
    "sharded_loss_plane",
    "sharded_sharpness",
]


@dataclass(frozen=True)
class _Shard:
    parameter: nn.Parameter
    local: Tensor  # this rank's rows (a view: writing it moves the model)
    shape: torch.Size  # the full tensor's shape
    first_row: int


def _shards(model: nn.Module, ranks: Ranks) -> dict[str, _Shard]:
    """This rank's dim-0 rows of every trainable parameter, keyed like ``named_parameters()``."""
    out = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        local = p.to_local() if hasattr(p, "to_local") else p.data
        shape = p.shape
        rows = int(shape[0]) if len(shape) else 1
        per_rank = -(-rows // ranks.spec.shards) if hasattr(p, "to_local") else rows
        first = min(ranks.shard * per_rank, rows) if hasattr(p, "to_local") else 0
        expected = min(per_rank, rows - first)
        if (local.shape[0] if local.dim() else 1) != expected:
            raise RuntimeError(
                f"{name}: local shard has {local.shape[0]} rows, FSDP2's dim-0 split gives "
                f"{expected}; only dim-0 sharding (fully_shard's default) is supported"
            )
        out[name] = _Shard(p, local, shape, first)
    return out


def local_parameters(model: nn.Module, ranks: Ranks) -> Params:
    """Detached copies of this rank's shards of the trainable parameters."""
    return {k: s.local.detach().clone() for k, s in _shards(model, ranks).items()}


def sharded_directions(
    model: nn.Module,
    ranks: Ranks,
    seed: int,
    n: int = 2,
    *,
    normalization: Normalization = "filter",
    ignore_1d: bool = True,
    transposed: frozenset[str] | None = None,
) -> list[Params]:
    """This rank's shards of :func:`~axionlab.landscape.seeded_directions` (same seed, same values).

    ``transposed`` names the ``(in, out)`` weights (GPT-2 ``Conv1D``); ``None`` finds them in
    ``model``. Row-filter scales are computed from local rows, so shards are bit-identical to the
    unsharded draws; scales spanning rows are summed over the replica's ranks in float64.
    """
    check_count("n", n, minimum=1)
    names = transposed_weights(model) if transposed is None else transposed
    shards = _shards(model, ranks)

    def reduce(t: Tensor) -> Tensor:
        ranks.all_reduce(t, "shard")
        return t

    return [
        {
            name: seeded_direction_rows(
                seed,
                i,
                name,
                s.local.detach(),
                s.shape,
                s.first_row,
                normalization=normalization,
                ignore_1d=ignore_1d,
                transposed=name in names,
                reduce=reduce,
            )
            for name, s in shards.items()
        }
        for i in range(n)
    ]


@contextmanager
def _moved(shards: Mapping[str, _Shard]) -> Iterator[Params]:
    """Yield the centre's local rows; on exit copy them back, so the model ends where it began."""
    center = {k: s.local.detach().clone() for k, s in shards.items()}
    try:
        yield center
    finally:
        with torch.no_grad():
            for k, s in shards.items():
                s.local.copy_(center[k])


@dataclass(frozen=True)
class _Slice:
    """One rank's part of the data and the plan every rank of its group follows for it.

    ``chunks`` is the same on every rank (the most any rank of the group needs), so each rank
    makes the same number of forward (and backward) passes: each pass holds FSDP2 collectives.
    """

    x: Tensor
    y: Tensor
    total: int  # counted targets of the whole data: the normaliser of the mean loss
    n_examples: int  # examples of the whole data
    size: int  # examples per pass
    chunks: int

    def batches(self) -> Iterator[tuple[Tensor, Tensor, int]]:
        """``(x, y, counted)`` per pass; a rank out of data repeats its first example with 0."""
        for c in range(self.chunks):
            xb, yb = (
                self.x[c * self.size : (c + 1) * self.size],
                self.y[c * self.size :][: self.size],
            )
            if xb.shape[0] == 0:
                yield self.x[:1], self.y[:1], 0
            else:
                yield xb, yb, counted_targets(yb)


def _data_slice(
    data: Data, parts: int, index: int, batch_size: int | None, device: torch.device
) -> _Slice:
    x, y = materialize(data, None, torch.device("cpu"))
    if x.shape[0] < parts:
        raise InputError(
            f"data: {x.shape[0]} examples cannot be split over {parts} ranks; every rank of a "
            "replica needs at least one (use more examples or fewer ranks)"
        )
    bounds = np.linspace(0, x.shape[0], parts + 1).round().astype(int)
    largest = int(np.diff(bounds).max())
    size = min(batch_size or largest, largest)
    lo, hi = bounds[index], bounds[index + 1]
    return _Slice(
        x[lo:hi].to(device),
        y[lo:hi].to(device),
        counted_targets(y),
        int(x.shape[0]),
        size,
        -(-largest // size),
    )


def _summed_loss(model: nn.Module, loss_fn: LossFn, part: _Slice) -> Tensor:
    """Σ over passes of the pass's mean loss times its counted targets (float64)."""
    total = torch.zeros((), dtype=torch.float64, device=part.x.device)
    for xb, yb, counted in part.batches():
        out = model(xb)
        if counted:
            total += loss_fn(out, yb).double() * counted
    return total


def _points(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    ranks: Ranks,
    center_of: Callable[[Params], Params],
    directions: Sequence[Mapping[str, Tensor]],
    coefficients: np.ndarray,
    batch_size: int | None,
) -> tuple[np.ndarray, int]:
    """Mean loss at center + Σ_d c_d·D_d for each row c of ``coefficients``, on every rank."""
    shards = _shards(model, ranks)
    local = {k: s.local for k, s in shards.items()}
    for i, direction in enumerate(directions):
        check_keys(local, direction, f"directions[{i}] (this rank's shards)")
    part = _data_slice(data, ranks.spec.shards, ranks.shard, batch_size, ranks.device)
    values = torch.zeros(len(coefficients), dtype=torch.float64, device=ranks.device)
    # one kept buffer for c_d·D_d: a new temporary per tensor and point fragments the heap
    sizes: dict[torch.dtype, int] = {}
    for s in shards.values():
        sizes[s.local.dtype] = max(sizes.get(s.local.dtype, 0), s.local.numel())
    scratch = {t: torch.empty(n, dtype=t, device=ranks.device) for t, n in sizes.items()}
    with _moved(shards) as saved, eval_semantics(model), torch.no_grad():
        start = center_of(saved)
        for p in range(ranks.replica, len(coefficients), ranks.spec.replicas):
            for k, s in shards.items():
                s.local.copy_(start[k])  # θ + c_1·D_1 + c_2·D_2, rounded as the unsharded sum
                term = scratch[s.local.dtype][: s.local.numel()].view(s.local.shape)
                for d, coef in enumerate(coefficients[p].tolist()):
                    s.local.add_(torch.mul(directions[d][k], coef, out=term))
            total = _summed_loss(model, loss_fn, part)
            ranks.all_reduce(total, "shard")
            values[p] = total / part.total
    # each point was filled by one replica (the others hold 0; nan + 0 stays nan)
    ranks.all_reduce(values, "replicate")
    return values.cpu().numpy(), part.n_examples


def sharded_loss_plane(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    directions: Sequence[Mapping[str, Tensor]],
    ranks: Ranks,
    *,
    steps: int = 51,
    span: tuple[float, float] = (-1.0, 1.0),
    batch_size: int | None = None,
) -> LossSurface:
    """:func:`~axionlab.landscape.loss_plane` of a sharded model (local-shard ``directions``).

    Grid points are spread over the replicas, each replica's data over its ranks; every rank
    returns the whole surface and the model's shards are restored exactly.
    """
    if len(directions) != 2:
        raise InputError(f"directions must hold exactly 2 directions, got {len(directions)}")
    alphas = _axis(steps, span, warn_center=True)
    grid = np.stack(np.meshgrid(alphas, alphas, indexing="ij"), axis=-1).reshape(-1, 2)
    t0 = time.perf_counter()
    values, n = _points(
        model, loss_fn, data, ranks, dict, directions, np.vstack([[0.0, 0.0], grid]), batch_size
    )
    surface = values[1:].reshape(steps, steps)
    return LossSurface(
        alphas=alphas,
        betas=alphas.copy(),
        values=surface,
        center_loss=float(values[0]),
        n_nonfinite=int((~np.isfinite(surface)).sum()),
        seconds=time.perf_counter() - t0,
        device=f"{ranks.device.type}x{ranks.world_size}",
        strategy=f"fsdp2:{ranks.spec.replicas}x{ranks.spec.shards}",
        n_examples=n,
    )


def sharded_loss_line(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    direction: Mapping[str, Tensor],
    ranks: Ranks,
    *,
    steps: int = 51,
    span: tuple[float, float] = (-1.0, 1.0),
    batch_size: int | None = None,
) -> LossLine:
    """:func:`~axionlab.landscape.loss_line` of a sharded model (a local-shard ``direction``)."""
    alphas = _axis(steps, span, warn_center=True)
    return _line(model, loss_fn, data, ranks, dict, direction, alphas, batch_size, end=False)


def sharded_interpolate(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    start: Mapping[str, Tensor],
    end: Mapping[str, Tensor],
    ranks: Ranks,
    *,
    steps: int = 51,
    span: tuple[float, float] = (0.0, 1.0),
    batch_size: int | None = None,
) -> LossLine:
    """:func:`~axionlab.landscape.interpolate` of a sharded model: (1 − t)·start + t·end.

    ``start``/``end`` are this rank's shards of the two parameter sets (e.g.
    :func:`local_parameters` of two sharded models); ``model`` supplies the architecture.
    """
    check_keys(start, end, "end")
    alphas = _axis(steps, span, warn_center=False)
    direction = {k: end[k] - start[k] for k in start}
    return _line(
        model, loss_fn, data, ranks, lambda _: dict(start), direction, alphas, batch_size, end=True
    )


def _line(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    ranks: Ranks,
    center_of: Callable[[Params], Params],
    direction: Mapping[str, Tensor],
    alphas: np.ndarray,
    batch_size: int | None,
    *,
    end: bool,
) -> LossLine:
    t0 = time.perf_counter()
    coefficients = np.concatenate([[0.0], alphas, [1.0] if end else []])[:, None]
    values, n = _points(
        model, loss_fn, data, ranks, center_of, [direction], coefficients, batch_size
    )
    line = values[1 : 1 + len(alphas)]
    return LossLine(
        alphas=alphas,
        values=line,
        center_loss=float(values[0]),
        end_loss=float(values[-1]) if end else None,
        n_nonfinite=int((~np.isfinite(line)).sum()),
        seconds=time.perf_counter() - t0,
        device=f"{ranks.device.type}x{ranks.world_size}",
        strategy=f"fsdp2:{ranks.spec.replicas}x{ranks.spec.shards}",
        n_examples=n,
    )


@dataclass(frozen=True)
class FiniteDifferenceStep:
    """The central-difference step of :class:`ShardedHessian` and its error bound.

    ``step`` is h (a parameter-space distance along a unit vector); ``relative_error`` bounds
    ‖D(h)u − Hu‖ / ‖Hu‖ by the change ‖D(h) − D(h/2)‖ / ‖D(h/2)‖ at the chosen h (times 2: for
    a truncation-dominated error the true one is 4/3 of that change); ``candidates`` and
    ``changes`` are the steps tried and their changes.
    """

    step: float
    relative_error: float
    candidates: np.ndarray
    changes: np.ndarray


class ShardedHessian:
    """Hessian-vector products of the mean loss of a sharded model, by central differences.

    Gradients split the data over every rank of the job (each rank's loss weighted by its share,
    so FSDP2's averaging gives the full-data gradient) and are returned as flat float64 local
    shards; vectors are flat local shards in ``named_parameters()`` order.

    Parameters
    ----------
    model, loss_fn, data, ranks
        The sharded model, ``loss_fn(outputs, targets) -> mean loss``, an ``(x, y)`` pair and
        this rank's place.
    step
        The difference step h; ``None`` chooses it with :meth:`calibrate` on the first product.
    batch_size
        Examples per backward pass on a rank (memory only).
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        data: Data,
        ranks: Ranks,
        *,
        step: float | None = None,
        batch_size: int | None = None,
    ) -> None:
        self.model, self.loss_fn, self.ranks, self.batch_size = model, loss_fn, ranks, batch_size
        if step is not None and not step > 0:
            raise InputError(f"step must be > 0 (or None to calibrate it), got {step}")
        self.shards = _shards(model, ranks)
        self.data = materialize(data, None, torch.device("cpu"))
        self.part = _data_slice(self.data, ranks.world_size, ranks.rank, batch_size, ranks.device)
        self.local_dim = sum(s.local.numel() for s in self.shards.values())
        self.dim = int(self.reduce(torch.tensor([float(self.local_dim)], dtype=torch.float64)))
        self.fd: FiniteDifferenceStep | None = None
        self._step = step
        self.n_hvp = 0
        self.n_gradients = 0

    def reduce(self, t: Tensor) -> Tensor:
        """Sum partial inner products over the replica's ranks (the model's shards)."""
        self.ranks.all_reduce(t, "shard")
        return t

    def gradient(self) -> Tensor:
        """The full-data gradient at the current weights, this rank's flat float64 rows.

        One backward pass per chunk; each rank weights its loss by its share of the counted
        targets times the world size, so FSDP2's averaging over the ranks gives the gradient of
        the mean loss over all the data.
        """
        scale = self.ranks.world_size / self.part.total
        with eval_semantics(self.model), torch.enable_grad():
            self.model.zero_grad(set_to_none=True)
            for xb, yb, counted in self.part.batches():
                out = self.model(xb)
                # a pass without targets still runs backward: its reduce-scatter is collective
                loss = self.loss_fn(out, yb) * (counted * scale) if counted else out.sum() * 0.0
                torch.autograd.backward(loss)
        grads = []
        for s in self.shards.values():
            grad: Any = s.parameter.grad
            local = grad.to_local() if hasattr(grad, "to_local") else grad
            grads.append(
                torch.zeros(s.local.numel(), dtype=torch.float64)
                if local is None
                else local.detach().reshape(-1).double().cpu()
            )
        self.model.zero_grad(set_to_none=True)
        self.n_gradients += 1
        return torch.cat(grads)

    def _difference(self, u: Tensor, h: float) -> Tensor:
        """(g(θ + h·u) − g(θ − h·u)) / 2h for a unit local vector ``u``."""
        grads = []
        with _moved(self.shards) as center:
            for sign in (1.0, -1.0):
                offset = 0
                with torch.no_grad():
                    for k, s in self.shards.items():
                        part = u[offset : offset + s.local.numel()].reshape(s.local.shape)
                        s.local.copy_(center[k] + (sign * h) * part.to(s.local))
                        offset += s.local.numel()
                grads.append(self.gradient())
        return (grads[0] - grads[1]) / (2.0 * h)

    def calibrate(self, u: Tensor, *, candidates: int = 14) -> FiniteDifferenceStep:
        """Choose h on unit ``u``: of h_j = 0.1·max(1, ‖θ‖)·2^-j, the one whose D(h_j) changes
        least when halved; that change (relative, ×2) is the reported error bound. Its
        ``candidates + 1`` products count in ``n_hvp``."""
        squares = sum(float(s.local.detach().double().square().sum()) for s in self.shards.values())
        norm = math.sqrt(float(self.reduce(torch.tensor(squares, dtype=torch.float64))))
        steps = 0.1 * max(1.0, norm) * 0.5 ** np.arange(candidates + 1)
        changes, previous = [], self._difference(u, float(steps[0]))
        for h in steps[1:]:  # two differences at a time: each is a full-size local vector
            current = self._difference(u, float(h))
            gap = math.sqrt(float(self.reduce((previous - current).square().sum())))
            size = math.sqrt(float(self.reduce(current.square().sum())))
            changes.append(gap / max(size, 1e-300))
            previous = current
        self.n_hvp += len(steps)
        best = int(np.argmin(changes))
        self.fd = FiniteDifferenceStep(
            float(steps[best]), float(2.0 * changes[best]), steps[:-1], np.array(changes)
        )
        self._step = self.fd.step
        return self.fd

    def finite_difference(self, u: Tensor) -> FiniteDifferenceStep:
        """The step in use: calibrated on unit ``u`` unless one was given, whose bound is then
        ``nan`` (not measured)."""
        if self.fd is None:
            if self._step is None:
                return self.calibrate(u)
            self.fd = FiniteDifferenceStep(self._step, math.nan, np.empty(0), np.empty(0))
        return self.fd

    def matvec(self, v: Tensor) -> Tensor:
        """H v for this rank's flat float64 rows of ``v`` (every rank calls it together)."""
        norm = math.sqrt(float(self.reduce((v * v).sum())))
        if norm == 0.0:
            return torch.zeros_like(v)
        if self._step is None:
            self.calibrate(v / norm)
        self.n_hvp += 1
        return self._difference(v / norm, float(self._step or 0.0)) * norm

    def random(self, seed: int, name: str, count: int, *, rademacher: bool = False) -> Tensor:
        """(local_dim, count) vectors whose elements depend only on (seed, name, column, index)."""
        columns = []
        for j in range(count):
            parts = []
            for key, s in self.shards.items():
                row = int(np.prod(s.shape[1:], dtype=np.int64))
                numel = row * (int(s.shape[0]) if len(s.shape) else 1)
                start = s.first_row * row
                parts.append(
                    seeded_normal(seed, (name, key, j), numel, start, start + s.local.numel())
                )
            column = torch.cat(parts).double()
            columns.append(torch.sign(column) + (column == 0) if rademacher else column)
        return torch.stack(columns, dim=1)

    def orthonormalize(self, a: Tensor) -> Tensor:
        """Q of a sharded (P, m) matrix by CholeskyQR2 (two Gram passes, reduced over ranks)."""
        for _ in range(2):
            gram = self.reduce(a.T @ a)
            chol = torch.linalg.cholesky(
                gram + 1e-14 * torch.trace(gram) * torch.eye(len(gram), dtype=gram.dtype)
            )
            a = torch.linalg.solve_triangular(chol, a.T, upper=False).T
        return a


def sharded_hessian_top_eigenvalues(
    hessian: ShardedHessian,
    k: int = 1,
    *,
    tol: float = 1e-4,
    max_hvp: int = 100,
    seed: int = 0,
) -> tuple[HessianEigen, FiniteDifferenceStep]:
    """Top-``k`` eigenvalues of a :class:`ShardedHessian` by Lanczos, and the FD step used.

    The start vector is a function of ``seed`` and the parameter names (the same at every world
    size). Each Ritz value θ = yᵀD(h)y is then refined on its Ritz vector y by one Richardson
    step, (4·yᵀD(h/2)y − θ)/3, which cancels the h² truncation of the central difference (one
    more product per eigenvalue, counted in ``n_hvp``); the step's ``relative_error`` becomes the
    larger of the calibration bound and 4/3·|yᵀD(h/2)y − θ|/|λ|, the size of that correction:
    the calibration vector is random, and the truncation along the sharpest directions, where
    the third derivative is largest, can exceed it.
    """
    t0, products = time.perf_counter(), hessian.n_hvp
    check_count("k", k, minimum=1, maximum=hessian.dim)
    v = hessian.random(seed, "lanczos", 1)[:, 0]
    v = v / math.sqrt(float(hessian.reduce(v @ v)))
    fd = hessian.finite_difference(v)
    state, basis, done = top_eigenpairs(
        hessian.matvec, v, k, tol, min(max_hvp, hessian.dim), hessian.reduce
    )
    ritz = basis[: state["vecs"].shape[0]].T @ torch.from_numpy(state["vecs"])  # (P_local, k)
    refined, worst = state["theta"].copy(), 0.0
    for i in range(len(refined)):
        y = ritz[:, i] / math.sqrt(float(hessian.reduce(ritz[:, i] @ ritz[:, i])))
        half = float(hessian.reduce(y @ hessian._difference(y, fd.step / 2)))
        hessian.n_hvp += 1
        refined[i] = (4.0 * half - state["theta"][i]) / 3.0
        worst = max(worst, 4.0 / 3.0 * abs(half - state["theta"][i]) / max(abs(refined[i]), 1e-30))
    measured = worst if math.isnan(fd.relative_error) else max(fd.relative_error, worst)
    fd = dataclasses.replace(fd, relative_error=measured)
    eigen = HessianEigen(
        eigenvalues=refined,
        residuals=state["residuals"],
        converged=done,
        n_hvp=hessian.n_hvp - products,
        seconds=time.perf_counter() - t0,
        eigenvectors=None,
    )
    return eigen, fd


def sharded_hessian_trace(
    hessian: ShardedHessian,
    *,
    method: TraceMethod = "hutch++",
    n_hvp: int = 60,
    seed: int = 0,
) -> tuple[TraceEstimate, FiniteDifferenceStep]:
    """Hutch++ (or Hutchinson) trace of a :class:`ShardedHessian`, with seeded probes."""
    t0 = time.perf_counter()
    drawn = [0]

    def probes(count: int) -> Tensor:
        drawn[0] += 1
        return hessian.random(seed, f"probe{drawn[0]}", count, rademacher=True)

    def apply(columns: Tensor) -> Tensor:
        return torch.stack([hessian.matvec(columns[:, i]) for i in range(columns.shape[1])], 1)

    products = hessian.n_hvp
    first = hessian.random(seed, "calibrate", 1)[:, 0]
    fd = hessian.finite_difference(first / math.sqrt(float(hessian.reduce(first @ first))))
    low_rank, samples = trace_samples(
        apply,
        probes,
        hessian.dim,
        method,
        n_hvp,
        reduce=hessian.reduce,
        orthonormalize=hessian.orthonormalize,
    )
    elapsed = time.perf_counter() - t0
    used = hessian.n_hvp - products
    return TraceEstimate.from_samples(low_rank, samples, method, used, elapsed), fd


def sharded_fisher_diagonal(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    ranks: Ranks,
    *,
    max_examples: int | None = None,
) -> Params:
    """This rank's shards of the per-example empirical Fisher diagonal (1/N) Σ_n g_n².

    ``g_n`` is the gradient of ``loss_fn`` on example ``n`` alone (a sequence's mean token loss
    on language data), as :func:`~axionlab.landscape.fisher_diagonal` with ``kind="empirical"``.
    """
    shards = _shards(model, ranks)
    x, y = materialize(data, max_examples, torch.device("cpu"))
    total = {k: torch.zeros_like(s.local, dtype=torch.float64) for k, s in shards.items()}
    try:
        with eval_semantics(model), torch.enable_grad():
            for i in range(x.shape[0]):
                model.zero_grad(set_to_none=True)
                xi, yi = x[i : i + 1].to(ranks.device), y[i : i + 1].to(ranks.device)
                torch.autograd.backward(loss_fn(model(xi), yi))
                for k, s in shards.items():
                    grad: Any = s.parameter.grad
                    if grad is not None:
                        local = grad.to_local() if hasattr(grad, "to_local") else grad
                        total[k] += local.detach().double().square()
    finally:
        model.zero_grad(set_to_none=True)
    return {k: (total[k] / x.shape[0]).to(s.local.dtype) for k, s in shards.items()}


@dataclass(frozen=True)
class _PlaneJob:
    model: nn.Module
    loss_fn: LossFn
    data: tuple[Tensor, Tensor]
    seed: int
    steps: int
    span: tuple[float, float]
    normalization: Normalization
    ignore_1d: bool
    batch_size: int | None


def _plane_job(ranks: Ranks, job: _PlaneJob) -> LossSurface:
    model = shard_model(job.model, ranks)
    dirs = sharded_directions(
        model, ranks, job.seed, 2, normalization=job.normalization, ignore_1d=job.ignore_1d
    )
    return sharded_loss_plane(
        model,
        job.loss_fn,
        job.data,
        dirs,
        ranks,
        steps=job.steps,
        span=job.span,
        batch_size=job.batch_size,
    )


def distributed_loss_plane(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    spec: DistributedSpec,
    seed: int,
    *,
    steps: int = 51,
    span: tuple[float, float] = (-1.0, 1.0),
    max_examples: int | None = None,
    normalization: Normalization = "filter",
    ignore_1d: bool = True,
    batch_size: int | None = None,
) -> LossSurface:
    """The loss plane along :func:`~axionlab.landscape.seeded_directions` ``(seed)``, computed by
    a collective job of ``spec.world_size`` ranks with the model sharded (FSDP2).

    The same plane at every world size (to the rounding of the loss sums); the caller's model is
    not touched (each rank shards its own copy: ``model`` and ``data`` travel with the job, so
    they must pickle). Locally spawned ranks, or the torchrun / Ray Train world this runs in.
    """
    x, y = materialize(data, max_examples, torch.device("cpu"))
    job = _PlaneJob(model, loss_fn, (x, y), seed, steps, span, normalization, ignore_1d, batch_size)
    surface: LossSurface = launch(_plane_job, job, spec)
    return surface


def sharded_sharpness(
    hessian: ShardedHessian,
    *,
    rho: float = 0.05,
    adaptive: bool = False,
    eta: float = 0.01,
) -> Sharpness:
    """:func:`~axionlab.landscape.sharpness` (one ascent step: SAM, or ASAM with ``adaptive``)
    of the sharded model behind ``hessian``: ε = ρ T² g / ‖T g‖ with T = I or diag(|θ| + η)."""
    if rho <= 0 or eta < 0:
        raise InputError(f"need rho > 0 and eta >= 0, got {rho}, {eta}")
    shards = hessian.shards
    theta = torch.cat([s.local.detach().reshape(-1).double().cpu() for s in shards.values()])
    scale = theta.abs() + eta if adaptive else torch.ones_like(theta)
    scaled = scale * hessian.gradient()
    step = rho / max(math.sqrt(float(hessian.reduce((scaled * scaled).sum()))), 1e-30)
    eps, offset = {}, 0
    for k, s in shards.items():
        part = (step * scale * scaled)[offset : offset + s.local.numel()]
        eps[k] = part.reshape(s.local.shape).to(s.local)
        offset += s.local.numel()
    values, _ = _points(
        hessian.model,
        hessian.loss_fn,
        hessian.data,
        hessian.ranks,
        dict,
        [eps],
        np.array([[0.0], [1.0]]),
        hessian.batch_size,
    )
    return Sharpness(
        value=float(values[1] - values[0]),
        center_loss=float(values[0]),
        perturbed_loss=float(values[1]),
        rho=rho,
        adaptive=adaptive,
        ascent_steps=1,
    )
