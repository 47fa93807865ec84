"""Loss along lines and planes in parameter space, evaluated functionally and fast.

The loss at θ* + Σ_d c_d D_d (θ* the model's parameters, D_d directions) is evaluated with
``torch.func.functional_call`` in eval semantics (BatchNorm running statistics, dropout off) on
the full evaluation set, which is loaded once onto the target device. The caller's model is never
modified. Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets", §4–5.

Speed. Three things decide throughput on CPU and GPU:

* *Strategy.* ``"loop"`` runs one batched forward per grid point (large matmuls, best on CPU for
  non-trivial models); ``"vmap"`` evaluates ``points_per_batch`` points at once with
  ``torch.func.vmap`` (wins when per-point work is small, and on GPU). ``"auto"`` times both on
  the first grid points (whose results are kept) and uses the faster for the rest; on CUDA it
  always uses ``vmap``.
* *Affine first layer.* When the input feeds straight into a ``Linear``/``Conv`` layer, its output
  is affine in the coefficients: X·W(c)ᵀ = X·W*ᵀ + Σ_d c_d X·D_dᵀ. The terms are computed once and
  each point only adds them up, removing the first layer's matmul from every point. Found with
  ``torch.fx``; models it cannot trace are evaluated plainly.
* *Image layout.* Convolutions in oneDNN (CPU) and cuDNN run faster on channels-last (NHWC)
  activations; for 4-D inputs ``"auto"`` also times that layout (a small CNN's plane on digits ran
  1.7x faster with it on CPU). The first layer's cached terms are stored in that layout, so no
  per-point copy is made.
* *Workers.* An ``executor`` (``axionlab.execute``) splits the grid points into chunks evaluated in
  worker processes (one torch thread each scales better than intra-op threads on a shared box).
  CPU workers then evaluate the data in cache-sized chunks (unless ``batch_size`` is given), which
  took the 1 → 2 worker speed-up on digits from ~1.5x to ~2x.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import torch
from torch import Tensor, fx, nn
from torch.func import functional_call, vmap

from axionlab.checks import check_choice, check_optional_count
from axionlab.errors import InputError
from axionlab.execute import Executor
from axionlab.landscape._common import (
    Data,
    LossFn,
    Params,
    check_keys,
    eval_semantics,
    forward,
    materialize,
    model_device,
    split_parameters,
)
from axionlab.landscape.directions import parameters_of
from axionlab.progress import progress

Strategy = Literal["auto", "loop", "vmap"]
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)
_AFFINE_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
# Cached first-layer outputs ((1 + directions) copies of the activations) must fit in this.
_AFFINE_CACHE_BYTES = 1 << 30
# CPU workers sharing a machine evaluate the data in chunks whose largest activation fits this
# (about one core's L2): cores then stop competing for the shared cache and memory bandwidth.
_WORKER_CHUNK_BYTES = 1 << 20
_MIN_WORKER_CHUNK = 64


@dataclass(frozen=True)
class LossLine:
    """Loss along a line: ``values[i]`` is the loss at coefficient ``alphas[i]``.

    ``center_loss`` is the loss at coefficient 0 (the model's weights, or ``start`` for an
    interpolation); ``end_loss`` is the loss at coefficient 1 for an interpolation, else ``None``.
    """

    alphas: np.ndarray
    values: np.ndarray
    center_loss: float
    end_loss: float | None
    n_nonfinite: int
    seconds: float
    device: str
    strategy: str
    n_examples: int


@dataclass(frozen=True)
class LossSurface:
    """Loss on a plane: ``values[i, j]`` is the loss at ``alphas[i]·D1 + betas[j]·D2``."""

    alphas: np.ndarray
    betas: np.ndarray
    values: np.ndarray
    center_loss: float
    n_nonfinite: int
    seconds: float
    device: str
    strategy: str
    n_examples: int


@dataclass(frozen=True)
class _Options:
    batch_size: int | None
    max_examples: int | None
    strategy: Strategy
    exploit_affine: bool
    channels_last: bool | None
    points_per_batch: int | None
    device: str | tuple[str, ...] | None  # one per task once split across workers
    autocast: bool

    @classmethod
    def of(cls, arguments: Mapping[str, object]) -> _Options:
        """The options among a public function's arguments (``locals()``), picked by name."""
        values: dict[str, Any] = {f.name: arguments[f.name] for f in dataclasses.fields(cls)}
        if values["device"] is not None and not isinstance(values["device"], str):
            values["device"] = tuple(values["device"])
        return cls(**values)


@dataclass(frozen=True)
class _Task:
    """One chunk of grid points; plain data so it pickles into worker processes."""

    model: nn.Module
    loss_fn: LossFn
    x: Tensor
    y: Tensor
    center: Params
    directions: list[Params]
    coefficients: np.ndarray  # (K, D)
    options: _Options
    show_progress: bool | None
    shares_cores: bool = False  # one of several CPU workers: keep per-chunk activations in cache


def loss_plane(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    directions: Sequence[Mapping[str, Tensor]],
    *,
    steps: int = 51,
    span: tuple[float, float] = (-1.0, 1.0),
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
) -> LossSurface:
    """Loss on the plane θ* + α·D1 + β·D2 over a ``steps × steps`` grid.

    Parameters
    ----------
    model
        Model returning outputs that ``loss_fn`` accepts; its parameters are the centre θ*.
    loss_fn
        ``loss_fn(outputs, targets) -> scalar mean loss`` (e.g. ``F.cross_entropy``), in nats.
    data
        An ``(x, y)`` tensor pair or an iterable of ``(x, y)`` batches; loaded once onto the device.
    directions
        Two directions keyed like the model's trainable ``named_parameters()``.
    steps
        Grid points per axis; odd puts the trained point at the centre (a warning when even).
    span
        ``(low, high)`` coefficient range on both axes.
    batch_size
        Examples per forward pass (``None``: all at once); bounds memory, not the result.
    max_examples
        Use the first ``max_examples`` examples; ``None`` (default) uses the full set.
    strategy
        ``"loop"``, ``"vmap"`` or ``"auto"`` (time both, keep the faster); see the module notes.
    exploit_affine
        Precompute the first layer's affine terms when the model allows it.
    channels_last
        Feed image activations (4-D) in channels-last layout, which oneDNN and cuDNN convolutions
        run faster; ``None`` lets ``strategy="auto"`` time both layouts (off otherwise).
    points_per_batch
        Points per ``vmap`` call (default 8 on CPU, 32 on CUDA).
    executor
        Splits the grid across workers (e.g. ``ProcessPoolExecutor(2)``); ``None`` runs in-process.
    device
        Where to evaluate (default: the model's device); with an ``executor``, a list of devices
        spreads the workers' chunks over them in turn (e.g. ``["cuda:0", "cuda:1"]``).
    autocast
        Evaluate under ``torch.autocast`` (bfloat16 on CPU, float16 on CUDA).
    show_progress
        Progress bar; ``None`` shows it when stderr is a terminal.

    Returns
    -------
    LossSurface
        ``values[i, j]`` at ``(alphas[i], betas[j])``, non-finite values kept and counted.

    Raises
    ------
    InputError
        For a wrong number of directions, mismatched keys/shapes, bad ``steps``/``span``/options.
    """
    if len(directions) != 2:
        raise InputError(f"directions must hold exactly 2 directions, got {len(directions)}")
    alphas = _axis(steps, span, warn_center=True)
    options = _Options.of(locals())
    grid = _on_grid(model, loss_fn, data, directions, alphas, options, executor, show_progress)
    return LossSurface(
        alphas=alphas,
        betas=alphas.copy(),
        values=grid.values,
        center_loss=grid.center_loss,
        n_nonfinite=grid.n_nonfinite,
        seconds=grid.seconds,
        device=grid.device,
        strategy=grid.strategy,
        n_examples=grid.n_examples,
    )


def loss_line(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    direction: Mapping[str, Tensor],
    *,
    steps: int = 51,
    span: tuple[float, float] = (-1.0, 1.0),
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
) -> LossLine:
    """Loss along θ* + α·D for ``steps`` values of α in ``span``.

    Parameters and behaviour as :func:`loss_plane`, with one ``direction``.
    """
    alphas = _axis(steps, span, warn_center=True)
    options = _Options.of(locals())
    grid = _on_grid(model, loss_fn, data, [direction], alphas, options, executor, show_progress)
    return LossLine(
        alphas=alphas,
        values=grid.values,
        center_loss=grid.center_loss,
        end_loss=None,
        n_nonfinite=grid.n_nonfinite,
        seconds=grid.seconds,
        device=grid.device,
        strategy=grid.strategy,
        n_examples=grid.n_examples,
    )


def interpolate(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    start: nn.Module | Mapping[str, Tensor],
    end: nn.Module | Mapping[str, Tensor],
    *,
    steps: int = 51,
    span: tuple[float, float] = (0.0, 1.0),
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
) -> LossLine:
    """Loss along the segment (1 − t)·start + t·end (Goodfellow et al. 2015, linear interpolation).

    ``model`` supplies the architecture and buffers (BatchNorm statistics); ``start``/``end`` are
    models or parameter dictionaries with its trainable parameter names. ``span`` outside (0, 1)
    extrapolates. Other parameters as :func:`loss_plane`. ``center_loss``/``end_loss`` hold the
    losses at t = 0 and t = 1.
    """
    a, b = parameters_of(start), parameters_of(end)
    check_keys(split_parameters(model)[0], a, "start")
    check_keys(a, b, "end")
    alphas = _axis(steps, span, warn_center=False)
    coefficients = np.concatenate([alphas, [1.0]])[:, None]
    options = _Options.of(locals())
    t0 = time.perf_counter()
    direction = {k: b[k] - a[k] for k in a}
    values, center_loss, used, n = _evaluate(
        model, loss_fn, data, a, [direction], coefficients, options, executor, show_progress
    )
    return LossLine(
        alphas=alphas,
        values=values[:-1],
        center_loss=center_loss,
        end_loss=float(values[-1]),
        n_nonfinite=int((~np.isfinite(values[:-1])).sum()),
        seconds=time.perf_counter() - t0,
        device=_device_label(model, device),
        strategy=used,
        n_examples=n,
    )


@dataclass(frozen=True)
class _Grid:
    """Losses on the product grid ``alphas^k`` (``values`` shaped ``(len(alphas),) * k``)."""

    values: np.ndarray
    center_loss: float
    n_nonfinite: int
    seconds: float
    device: str
    strategy: str
    n_examples: int


def _on_grid(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    directions: Sequence[Mapping[str, Tensor]],
    alphas: np.ndarray,
    options: _Options,
    executor: Executor | None,
    show_progress: bool | None,
) -> _Grid:
    """Loss at θ* + Σ_d c_d D_d for every c in ``alphas^k``, k = ``len(directions)``.

    The one path of lines, planes and :func:`~axionlab.landscape.grid.loss_grid`'s k-D grids.
    """
    k = len(directions)
    # row-major over (c_1, …, c_k): row i1·s^(k-1) + … + ik is values[i1, …, ik]
    grid = np.stack(np.meshgrid(*([alphas] * k), indexing="ij"), axis=-1).reshape(-1, k)
    start = time.perf_counter()
    center, dirs = parameters_of(model), [dict(d) for d in directions]
    values, center_loss, used, n = _evaluate(
        model, loss_fn, data, center, dirs, grid, options, executor, show_progress
    )
    return _Grid(
        values=values.reshape((len(alphas),) * k),
        center_loss=center_loss,
        n_nonfinite=int((~np.isfinite(values)).sum()),
        seconds=time.perf_counter() - start,
        device=_device_label(model, options.device),
        strategy=used,
        n_examples=n,
    )


def _axis(steps: int, span: tuple[float, float], *, warn_center: bool) -> np.ndarray:
    if not isinstance(steps, int) or steps < 2:
        raise InputError(f"steps must be an integer >= 2, got {steps!r}")
    low, high = (float(s) for s in span)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise InputError(f"span must be (low, high) with finite low < high, got {span!r}")
    alphas = np.linspace(low, high, steps)
    if warn_center and not np.any(np.abs(alphas) <= 1e-12 * max(abs(low), abs(high))):
        hint = " (use an odd number, e.g. 51)" if steps % 2 == 0 else ""
        warnings.warn(
            f"no grid point lies at the trained weights with steps={steps}, span={span}{hint}",
            stacklevel=3,
        )
    return alphas


def _target_device(model: nn.Module, device: str | None) -> torch.device:
    return torch.device(device) if device is not None else model_device(model)


def _device_label(model: nn.Module, device: str | Sequence[str] | None) -> str:
    if device is None or isinstance(device, str):
        return str(_target_device(model, device))
    return ",".join(str(torch.device(d)) for d in device)


def _evaluate(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    center: Params,
    directions: list[Params],
    coefficients: np.ndarray,
    options: _Options,
    executor: Executor | None,
    show_progress: bool | None,
) -> tuple[np.ndarray, float, str, int]:
    """Losses at the rows of ``coefficients`` plus the centre loss, the strategy used and N."""
    check_choice("strategy", options.strategy, STRATEGIES)
    check_optional_count("batch_size", options.batch_size, minimum=1)
    check_optional_count("points_per_batch", options.points_per_batch, minimum=1)
    if isinstance(options.device, tuple) and not options.device:
        raise InputError("device: an empty list of devices; give at least one or None")
    for i, direction in enumerate(directions):
        check_keys(center, direction, f"directions[{i}]")
    x, y = materialize(data, options.max_examples, torch.device("cpu"))
    with_center = np.concatenate([np.zeros((1, coefficients.shape[1])), coefficients])
    devices = (options.device,) if not isinstance(options.device, tuple) else options.device
    if executor is None:
        if len(devices) != 1:
            raise InputError(f"device: {len(devices)} devices need an executor to spread over")
        options = dataclasses.replace(options, device=devices[0])
        task = _Task(model, loss_fn, x, y, center, directions, with_center, options, show_progress)
        values, used = _run_task(task)
    else:
        workers = max(1, int(getattr(executor, "workers", 1)), len(devices))
        chunks = np.array_split(with_center, min(workers, len(with_center)))
        cpu_model, cpu_center, cpu_dirs = _to_cpu(model, center, directions)
        tasks = [
            _Task(
                cpu_model,
                loss_fn,
                x,
                y,
                cpu_center,
                cpu_dirs,
                chunk,
                dataclasses.replace(options, device=devices[k % len(devices)]),
                False,
                shares_cores=len(chunks) > 1,
            )
            for k, chunk in enumerate(chunks)
        ]
        results = executor.map(_run_task, tasks)
        values = np.concatenate([r[0] for r in results])
        used = ",".join(sorted({r[1] for r in results}))
    return values[1:], float(values[0]), used, int(x.shape[0])


def _to_cpu(
    model: nn.Module, center: Params, directions: list[Params]
) -> tuple[nn.Module, Params, list[Params]]:
    """CPU copies for pickling into workers (the caller's model is left where it is)."""
    if model_device(model).type == "cpu":
        return model, center, directions
    import copy

    cpu_model = copy.deepcopy(model).to("cpu")
    return (
        cpu_model,
        {k: v.cpu() for k, v in center.items()},
        [{k: v.cpu() for k, v in d.items()} for d in directions],
    )


def _run_task(task: _Task) -> tuple[np.ndarray, str]:
    """Evaluate one chunk of points (module level so worker processes can unpickle it)."""
    opts = task.options
    if isinstance(opts.device, tuple):
        raise TypeError("a task runs on one device: _evaluate splits a device list into tasks")
    device = _target_device(task.model, opts.device)
    with eval_semantics(task.model), torch.no_grad():
        evaluator = _Evaluator(task, device)
        return evaluator.run(task.coefficients, task.show_progress)


class _Evaluator:
    """Loss at many parameter points for one model, data set and set of directions."""

    def __init__(self, task: _Task, device: torch.device) -> None:
        opts = task.options
        self.loss_fn = task.loss_fn
        self.strategy = opts.strategy
        self.device = device
        self.points_per_batch = opts.points_per_batch or (32 if device.type == "cuda" else 8)
        self.autocast = opts.autocast
        _, constants = split_parameters(task.model)
        self.center = {k: v.to(device) for k, v in task.center.items()}
        self.directions = [{k: v.to(device) for k, v in d.items()} for d in task.directions]
        self.stacked = {k: torch.stack([d[k] for d in self.directions]) for k in self.center}
        x, y = task.x.to(device), task.y.to(device)
        n = x.shape[0]
        size = opts.batch_size or n
        if opts.batch_size is None and task.shares_cores and device.type == "cpu":
            size = _cache_sized_batch(task.model, x)
        self.chunks = [(x[i : i + size], y[i : i + size]) for i in range(0, n, size)]
        self.weights = [c[1].shape[0] / n for c in self.chunks]
        split = _split_first_affine(task.model) if opts.exploit_affine else None
        if split is not None and self._cache_bytes(split[1], x) > _AFFINE_CACHE_BYTES:
            split = None
        self.affine = split is not None
        if split is not None:
            rest, layer, prefix = split
            self.module: nn.Module = rest
            keep = set(dict(rest.named_parameters())) | set(dict(rest.named_buffers()))
            self.constants = {k: v.to(device) for k, v in constants.items() if k in keep}
            self.free = [k for k in self.center if k in keep]
            inputs = [self._affine_terms(layer, prefix, xb, constants) for xb, _ in self.chunks]
        else:
            self.module = task.model
            self.constants = {k: v.to(device) for k, v in constants.items()}
            self.free = list(self.center)
            inputs = [xb[None] for xb, _ in self.chunks]
        # (T, B, ...) terms per data chunk, for channels-last use stored (T, B, H, W, C)
        images = inputs[0].dim() == 5
        if images and opts.channels_last is None:
            self.layouts = [False, True]  # for the autotuner to choose from
        else:
            self.layouts = [bool(opts.channels_last) and images]
        self.inputs = {
            layout: [t.permute(0, 1, 3, 4, 2).contiguous() for t in inputs] if layout else inputs
            for layout in self.layouts
        }
        self.channels_last = self.layouts[0]

    def _cache_bytes(self, layer: nn.Module, x: Tensor) -> int:
        out = layer(x[:1].to(model_device(layer)))
        return int(out.numel() * out.element_size() * x.shape[0] * (1 + len(self.directions)))

    def _affine_terms(self, layer: nn.Module, prefix: str, xb: Tensor, constants: Params) -> Tensor:
        """(1 + D, B, ...) outputs of the first layer at the centre and along each direction.

        The layer is linear in (weight, bias) jointly, so its output at the centre plus c·D is the
        centre output plus c times its output with the direction as weights (bias included).
        """
        names = [n for n, _ in layer.named_parameters()]
        at_center = {**constants, **self.center}
        terms = [functional_call(layer, {n: at_center[prefix + n] for n in names}, (xb,))]
        for direction in self.directions:
            # Frozen parameters never move, so their direction component is zero.
            along = {
                n: direction.get(prefix + n, torch.zeros_like(at_center[prefix + n])) for n in names
            }
            terms.append(functional_call(layer, along, (xb,)))
        return torch.stack(terms)

    def _autocast(self) -> AbstractContextManager[object]:
        if not self.autocast:
            return nullcontext()
        dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        return torch.autocast(self.device.type, dtype=dtype)

    def run(self, coefficients: np.ndarray, show: bool | None) -> tuple[np.ndarray, str]:
        coefs = torch.as_tensor(coefficients, dtype=torch.float64)
        out = np.empty(len(coefs))
        strategy: str = self.strategy
        start = 0
        if strategy == "auto":
            strategy, start = self._autotune(coefs, out)
        step = self.points_per_batch if strategy == "vmap" else 1
        batches = [(i, min(i + step, len(coefs))) for i in range(start, len(coefs), step)]
        evaluate = self._vmap if strategy == "vmap" else self._loop
        try:
            for lo, hi in progress(batches, description="loss grid", enabled=show):
                out[lo:hi] = evaluate(coefs[lo:hi])
        except RuntimeError as err:
            if not self.channels_last:
                raise
            reason = str(err).splitlines()[0]
            raise InputError(
                f"channels_last=True: the model cannot run on channels-last activations ({reason});"
                " pass channels_last=None or False"
            ) from err
        suffixes = ("+affine", self.affine), ("+channels_last", self.channels_last)
        return out, strategy + "".join(text for text, used in suffixes if used)

    def _autotune(self, coefs: Tensor, out: np.ndarray) -> tuple[str, int]:
        """Time the strategies (and image layouts) on the first points, keeping their values.

        Leaves the fastest layout selected and returns the fastest strategy and the number of
        points already evaluated. A layout the model cannot run (e.g. ``view`` on channels-last
        activations) drops out of the comparison.
        """
        q = self.points_per_batch
        names = ("vmap",) if self.device.type == "cuda" else ("loop", "vmap")
        candidates = [(name, layout) for name in names for layout in self.layouts]
        if len(coefs) < 3 * q * len(candidates):
            return names[0], 0
        timings: dict[tuple[str, bool], float] = {}
        pos = 0
        for name, layout in candidates:
            fn = self._vmap if name == "vmap" else self._loop
            self.channels_last = layout
            for repeat in range(2):  # the first batch pays one-time costs; time the second
                t0 = time.perf_counter()
                try:
                    out[pos : pos + q] = fn(coefs[pos : pos + q])
                except RuntimeError:
                    if not layout:
                        raise
                    break
                pos += q
                elapsed = time.perf_counter() - t0
                # a candidate already 2x slower than the best, one-time costs included, is out
                if repeat or (timings and elapsed > 2 * min(timings.values())):
                    timings[name, layout] = elapsed
                    break
        best, self.channels_last = min(timings, key=timings.__getitem__)
        return best, pos

    def _point(self, c: Tensor) -> dict[str, Tensor]:
        """Trainable parameters of the non-affine part at coefficients ``c`` (D,)."""
        out = {}
        for k in self.free:
            value = self.center[k]
            for d, coef in enumerate(c.tolist()):
                value = value + coef * self.stacked[k][d]
            out[k] = value
        return out

    def _chunk_input(self, i: int, c: Tensor) -> Tensor:
        """Model input for data chunk ``i`` at coefficients ``c`` (P, D) → (P, B, ...)."""
        terms = self.inputs[self.channels_last][i]
        if not self.affine:
            combined = terms.expand(c.shape[0], *terms.shape[1:])
        else:
            weights = torch.cat([torch.ones(c.shape[0], 1, dtype=c.dtype), c], dim=1)
            weights = weights.to(device=terms.device, dtype=terms.dtype)
            combined = torch.tensordot(weights, terms, dims=1)
        # channels-last terms are stored (T, B, H, W, C); the view has the (B, C, H, W) shape
        return combined.permute(0, 1, 4, 2, 3) if self.channels_last else combined

    def _loop(self, coefs: Tensor) -> np.ndarray:
        values = np.empty(len(coefs))
        for p, c in enumerate(coefs):
            params = self._point(c)
            total = torch.zeros((), dtype=torch.float64, device=self.device)
            for i, (_, yb) in enumerate(self.chunks):
                z = self._chunk_input(i, c[None])[0]
                with self._autocast():
                    loss = self.loss_fn(forward(self.module, params, self.constants, z), yb)
                total += loss.double() * self.weights[i]
            values[p] = total.item()
        return values

    def _vmap(self, coefs: Tensor) -> np.ndarray:
        c = coefs.to(self.device)
        params = {
            k: self.center[k] + torch.tensordot(c.to(self.center[k].dtype), self.stacked[k], dims=1)
            for k in self.free
        }  # each (P, *shape)

        def one(p: dict[str, Tensor], z: Tensor, y: Tensor) -> Tensor:
            return self.loss_fn(forward(self.module, p, self.constants, z), y)

        total = torch.zeros(len(coefs), dtype=torch.float64, device=self.device)
        for i, (_, yb) in enumerate(self.chunks):
            z = self._chunk_input(i, coefs)
            with self._autocast():
                losses = vmap(one, in_dims=(0, 0, None))(params, z, yb)
            total += losses.double() * self.weights[i]
        return total.cpu().numpy()


def _cache_sized_batch(model: nn.Module, x: Tensor) -> int:
    """Examples per chunk such that the model's largest activation stays ≤ _WORKER_CHUNK_BYTES."""
    largest = 0

    def record(module: nn.Module, inputs: object, out: object) -> None:
        nonlocal largest
        if isinstance(out, Tensor):
            largest = max(largest, out.numel() * out.element_size())

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(record) for m in leaves]
    try:
        model(x[:1])
    finally:
        for handle in handles:
            handle.remove()
    fitting = _WORKER_CHUNK_BYTES // max(largest, 1)
    return int(min(x.shape[0], max(_MIN_WORKER_CHUNK, fitting)))


def _split_first_affine(model: nn.Module) -> tuple[nn.Module, nn.Module, str] | None:
    """``(rest, layer, prefix)`` when the input feeds only into a Linear/Conv layer, else None.

    ``rest`` maps the layer's output to the model's output; it shares submodules with ``model``.
    Traced in eval semantics so ``self.training`` branches take their eval path.
    """
    try:
        graph_module = fx.symbolic_trace(model)
    except Exception:  # fx cannot trace data-dependent control flow; evaluate plainly then
        return None
    graph = graph_module.graph
    inputs = [node for node in graph.nodes if node.op == "placeholder"]
    if len(inputs) != 1 or len(inputs[0].users) != 1:
        return None
    (user,) = inputs[0].users
    if user.op != "call_module" or user.args != (inputs[0],) or user.kwargs:
        return None
    layer = graph_module.get_submodule(str(user.target))
    if type(layer) not in _AFFINE_LAYERS:
        return None
    with graph.inserting_before(inputs[0]):
        z = graph.placeholder("first_layer_output")
    user.replace_all_uses_with(z)
    graph.erase_node(user)
    graph.erase_node(inputs[0])
    graph_module.recompile()
    graph_module.delete_all_unused_submodules()
    return graph_module, layer, f"{user.target}."
