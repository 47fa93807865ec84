"""The one supervised training loop every protocol uses, plus evaluation and checkpoints.

Conventions: losses in nats (mean cross-entropy over examples), accuracies in [0, 1], steps counted
in optimizer steps. The data order comes only from the ``generator`` passed to :func:`train`, so the
same seed gives bit-identical weights on CPU.

Divergence is a state, not a number: :func:`train` stops at the first optimizer step whose loss
(with penalties) or updated parameters are non-finite and records that step in
:attr:`TrainResult.diverged_step`; :func:`evaluate` scores a model with non-finite weights or logits
as ``(nan, nan)`` instead of taking the argmax of NaN logits (which silently scores the share of
class 0).

Task-incremental ("multi-head") learning uses *masked logits*: ``class_groups`` partitions output
units into groups (one per task) and each example's softmax, loss and argmax see only the units of
its label's group. With one linear output layer this is equivalent to one separate head per task.

Sequence targets (language models). When the labels are ``(N, T)`` (one target per position, as
:func:`axionlab.data.text.next_token_pairs` gives them: ``targets[:, t]`` is the token that
follows ``input_ids[:, t]``), the model must return logits ``(B, T, V)`` aligned with them:
position ``t``'s logits are scored against ``targets[:, t]``, no shift inside. Targets equal to
:data:`IGNORE_INDEX` (-100) are skipped. :func:`train` minimises the mean per-token cross-entropy
over the counted tokens of each mini-batch (HuggingFace's ``model(**batch).loss``) and
:func:`evaluate` returns the mean nats per token and the next-token accuracy, both weighted by
tokens across batches. ``class_groups``/``mask_classes`` (output-unit groups of one label per
example) do not apply to them and are refused, as is ``augment`` for integer (token) inputs.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from axionlab.checks import (
    check_choice,
    check_count,
    check_finite,
    check_non_negative,
    check_optional_count,
    check_positive,
)
from axionlab.errors import ConfigError, DataError, InputError
from axionlab.progress import progress as progress_bar
from axionlab.runs.io import write_bytes

Data = tuple[Tensor, Tensor]
OptimizerName = Literal["sgd", "adam", "adamw"]
ScheduleName = Literal["constant", "cosine", "step"]
OPTIMIZERS: tuple[OptimizerName, ...] = get_args(OptimizerName)
SCHEDULES: tuple[ScheduleName, ...] = get_args(ScheduleName)
Penalty = Callable[[nn.Module], Tensor | None]
BatchPenalty = Callable[[Tensor, Tensor], Tensor | None]
Augment = Callable[[Tensor, torch.Generator], Tensor]
StepHook = Callable[[int, dict[str, float]], None]

IGNORE_INDEX = -100
"""A sequence target that the loss and the accuracy skip (HuggingFace's convention; equal to
:data:`axionlab.models.hf.IGNORE_INDEX`)."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one supervised training run.

    At most one of ``epochs`` and ``steps`` sets the length (neither: one epoch; an epoch is
    ``ceil(N / batch_size)`` steps, the last batch possibly partial); the warm-up likewise takes
    ``warmup_epochs`` or ``warmup_steps`` (linear from ``lr / warmup`` to ``lr``). ``"cosine"``
    anneals to 0 over the steps after warm-up; ``"step"`` multiplies the rate by ``step_gamma`` at
    each fraction of the total steps in ``step_milestones``. ``eval_every`` (optimizer steps)
    evaluates ``eval_data`` during training; the last step is always evaluated.
    """

    optimizer: OptimizerName = "sgd"
    lr: float = 0.01
    momentum: float = 0.0
    weight_decay: float = 0.0
    epochs: int | None = None
    steps: int | None = None
    batch_size: int = 128
    schedule: ScheduleName = "constant"
    warmup_epochs: int = 0
    warmup_steps: int = 0
    step_milestones: tuple[float, ...] = (0.5, 0.75)
    step_gamma: float = 0.1
    label_smoothing: float = 0.0
    grad_clip: float | None = None
    eval_every: int | None = None

    def __post_init__(self) -> None:
        error = ConfigError
        check_choice("optimizer", self.optimizer, OPTIMIZERS, error=error)
        check_choice("schedule", self.schedule, SCHEDULES, error=error)
        check_finite("step_gamma", self.step_gamma, error=error)
        check_finite("label_smoothing", self.label_smoothing, error=error)
        if self.epochs is not None and self.steps is not None:
            raise ConfigError("set at most one of epochs and steps")
        if self.warmup_epochs and self.warmup_steps:
            raise ConfigError("set at most one of warmup_epochs and warmup_steps")
        check_positive("lr", self.lr, error=error)
        if self.grad_clip is not None:
            check_positive("grad_clip", self.grad_clip, error=error)
        check_count("batch_size", self.batch_size, minimum=1, error=error)
        check_optional_count("epochs", self.epochs, minimum=1, error=error)
        check_optional_count("steps", self.steps, minimum=1, error=error)
        check_optional_count("eval_every", self.eval_every, minimum=1, error=error)
        check_non_negative("momentum", self.momentum, error=error)
        check_non_negative("weight_decay", self.weight_decay, error=error)
        check_count("warmup_epochs", self.warmup_epochs, error=error)
        check_count("warmup_steps", self.warmup_steps, error=error)
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if any(not 0.0 < m < 1.0 for m in self.step_milestones):
            raise ConfigError(f"step_milestones must lie in (0, 1), got {self.step_milestones!r}")

    def total_steps(self, num_examples: int) -> int:
        """Optimizer steps for a training set of ``num_examples`` (last batch may be partial)."""
        if self.steps is not None:
            return self.steps
        epochs = 1 if self.epochs is None else self.epochs
        return epochs * math.ceil(num_examples / self.batch_size)

    def learning_rate(self, step: int, total: int, steps_per_epoch: int) -> float:
        """Learning rate of the update that takes the model from ``step`` to ``step + 1``."""
        warmup = self.warmup_steps or self.warmup_epochs * steps_per_epoch
        if step < warmup:
            return self.lr * (step + 1) / warmup
        if self.schedule == "cosine":
            span = max(total - warmup, 1)
            return 0.5 * self.lr * (1.0 + math.cos(math.pi * (step - warmup) / span))
        if self.schedule == "step":
            passed = sum(step >= m * total for m in self.step_milestones)
            return self.lr * self.step_gamma**passed
        return self.lr


@dataclass(frozen=True, eq=False)
class TrainResult:
    """What :func:`train` records.

    Attributes
    ----------
    steps
        Optimizer steps taken (after a divergence: up to the last update applied).
    loss, penalty, accuracy, lr
        Per step: mini-batch cross-entropy (without penalties), the summed penalty terms, mini-batch
        accuracy and the learning rate used, each of shape ``(total planned steps,)``, ``nan``
        at the steps never reached.
    eval_steps, eval_loss, eval_accuracy
        Steps at which ``eval_data`` was evaluated (0 = before training) and its loss/accuracy;
        empty when no ``eval_data`` was given.
    diverged_step
        The first optimizer step (counted from 1) whose loss or updated parameters were
        non-finite; training stopped there and the per-step arrays are ``nan`` after it.
        ``None`` when training finished.
    """

    steps: int
    loss: np.ndarray
    penalty: np.ndarray
    accuracy: np.ndarray
    lr: np.ndarray
    eval_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    eval_loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    eval_accuracy: np.ndarray = field(default_factory=lambda: np.zeros(0))
    diverged_step: int | None = None

    @property
    def diverged(self) -> bool:
        """Whether training stopped at a non-finite loss or parameter."""
        return self.diverged_step is not None

    @property
    def final_eval(self) -> tuple[float, float] | None:
        """``(loss, accuracy)`` on ``eval_data`` after the last step, or ``None`` (also when
        training diverged: the last evaluation before it is not the final state)."""
        if len(self.eval_steps) == 0 or self.diverged:
            return None
        return float(self.eval_loss[-1]), float(self.eval_accuracy[-1])


def train(
    model: nn.Module,
    train_data: Data,
    config: TrainConfig,
    *,
    generator: torch.Generator,
    eval_data: Data | None = None,
    class_groups: Sequence[Sequence[int]] | None = None,
    penalty: Penalty | None = None,
    batch_penalty: BatchPenalty | None = None,
    augment: Augment | None = None,
    on_step: StepHook | None = None,
    progress: bool | None = None,
) -> TrainResult:
    """Train ``model`` in place with mini-batch cross-entropy and return its history.

    Parameters
    ----------
    model
        Classifier returning logits ``(B, C)``, or a sequence model returning ``(B, T, V)`` for
        targets ``(N, T)`` (module docstring); trained in train mode, left in the mode it had.
    train_data
        ``(x, y)`` tensors; labels index the model's output units, one per example ``(N,)`` or
        one per position ``(N, T)`` (-100: not counted).
    config
        Optimizer, schedule and length.
    generator
        The only source of randomness: the per-epoch shuffles and ``augment``'s draws.
    eval_data
        Evaluated at step 0, every ``config.eval_every`` steps and after the last step.
    class_groups
        Disjoint groups of output units; each example's logits are restricted to the group holding
        its label (task-incremental training). ``None`` uses all units.
    penalty
        ``penalty(model)`` added to every mini-batch loss (EWC-style regularisers); may return None.
    batch_penalty
        ``batch_penalty(x, logits)`` on the (augmented) inputs and full logits of the mini-batch
        (distillation in LwF); may return None.
    augment
        ``augment(x, generator)`` applied to each training mini-batch.
    on_step
        Called as ``on_step(step, info)`` right after each optimizer step, with ``step`` counted
        from 1 and the gradients of that update still in ``p.grad``; ``info`` holds ``loss``,
        ``penalty``, ``accuracy`` and ``lr``.
    progress
        Show a progress bar; ``None`` shows one only on a terminal.

    Returns
    -------
    TrainResult
        With ``diverged_step`` set when a step's loss or updated parameters were non-finite;
        training stops there (no further steps, evaluations or ``on_step`` calls).

    Raises
    ------
    InputError
        For mismatched or empty data, labels outside every group of ``class_groups``, or
        sequence targets with ``class_groups`` or with ``augment`` on integer inputs.
    """
    x, y = _check_data(train_data, "train_data")
    sequence = _is_sequence(y, "train_data")
    if sequence and class_groups is not None:
        raise InputError(
            "class_groups masks the output units of one label per example; it does not apply to "
            "per-token targets (language models): pass class_groups=None"
        )
    if augment is not None and not torch.is_floating_point(x):
        raise InputError(
            f"augment transforms float inputs; these inputs are {x.dtype} (token ids): pass "
            "augment=None"
        )
    n = x.shape[0]
    total = config.total_steps(n)
    per_epoch = math.ceil(n / config.batch_size)
    device = _device_of(model)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = _make_optimizer(params, config)
    groups = _group_tensor(class_groups, device)

    history = np.full((4, total), np.nan)
    diverged_step: int | None = None
    taken = total
    eval_rows: list[tuple[int, float, float]] = []

    def maybe_eval(step: int) -> None:
        if eval_data is None:
            return
        due = step in (0, total) or (
            config.eval_every is not None and step % config.eval_every == 0
        )
        if due:
            loss, acc = _evaluate(model, eval_data, 1024, groups)
            eval_rows.append((step, loss, acc))

    was_training = model.training
    maybe_eval(0)
    model.train()
    try:
        order = torch.empty(0, dtype=torch.long)
        for step in progress_bar(range(total), description="train", enabled=progress):
            position = step % per_epoch
            if position == 0:
                order = torch.randperm(n, generator=generator)
            index = order[position * config.batch_size : (position + 1) * config.batch_size]
            xb, yb = x[index], y[index]
            if augment is not None:
                xb = augment(xb, generator)
            xb, yb = xb.to(device), yb.to(device)
            lr = config.learning_rate(step, total, per_epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr

            optimizer.zero_grad(set_to_none=True)
            logits = model(xb)
            if sequence:
                scores = logits
                loss = _token_loss(logits, yb, config.label_smoothing)
            else:
                scores = _mask_logits(logits, yb, groups)
                loss = _cross_entropy(scores, yb, config.label_smoothing).mean()
            extra = torch.zeros((), device=device)
            for term in (
                penalty(model) if penalty is not None else None,
                batch_penalty(xb, logits) if batch_penalty is not None else None,
            ):
                if term is not None:
                    extra = extra + term
            objective = loss + extra
            if not bool(torch.isfinite(objective.detach())):
                history[:, step] = (loss.item(), extra.item(), math.nan, lr)
                diverged_step, taken = step + 1, step  # this update was never applied
                break
            torch.autograd.backward(objective)
            if config.grad_clip is not None:
                nn.utils.clip_grad_norm_(params, config.grad_clip)
            optimizer.step()

            if sequence:
                hits, counted = _token_hits(scores.detach(), yb)
                accuracy = hits / counted.clamp_min(1)
            else:
                accuracy = (scores.detach().argmax(1) == yb).float().mean()
            row = (loss.item(), extra.item(), accuracy.item(), lr)
            history[:, step] = row
            if not all_finite(params):
                diverged_step = taken = step + 1  # applied, and it made the weights non-finite
                break
            if on_step is not None:
                on_step(
                    step + 1, dict(zip(("loss", "penalty", "accuracy", "lr"), row, strict=True))
                )
            maybe_eval(step + 1)
    finally:
        model.train(was_training)

    evals = np.array(eval_rows, dtype=np.float64).reshape(-1, 3)
    return TrainResult(
        steps=taken,
        loss=history[0],
        penalty=history[1],
        accuracy=history[2],
        lr=history[3],
        eval_steps=evals[:, 0].astype(np.int64),
        eval_loss=evals[:, 1],
        eval_accuracy=evals[:, 2],
        diverged_step=diverged_step,
    )


def crop_flip(x: Tensor, generator: torch.Generator, padding: int = 4) -> Tensor:
    """Random crop after zero padding, then a random horizontal flip, per example.

    The standard CIFAR augmentation (He et al. 2016, Sec. 4.2: 4-pixel padding, random 32×32
    crop, horizontal flip with probability ½), vectorised over the batch and drawn only from
    ``generator`` so that a seed gives the same augmented batches.

    Parameters
    ----------
    x
        Images ``(B, C, H, W)``.
    generator
        Source of the crop offsets and flips (the training generator).
    padding
        Zero padding on every side; offsets are uniform in ``[0, 2·padding]``.

    Raises
    ------
    InputError
        If ``x`` is not a batch of images or ``padding`` is negative.
    """
    if x.dim() != 4:
        raise InputError(f"crop_flip needs images of shape (B, C, H, W), got {tuple(x.shape)}")
    if padding < 0:
        raise InputError(f"padding must be >= 0, got {padding}")
    b, _, h, w = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (2, b), generator=generator)
    flip = torch.rand(b, generator=generator) < 0.5
    padded = F.pad(x, (padding, padding, padding, padding))
    rows = (offsets[0, :, None] + torch.arange(h)).to(x.device)  # (B, H)
    cols = (offsets[1, :, None] + torch.arange(w)).to(x.device)  # (B, W)
    cols = torch.where(flip.to(x.device)[:, None], cols.flip(1), cols)
    batch = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


AugmentName = Literal["none", "crop_flip"]
AUGMENTATIONS: dict[str, Augment | None] = {"none": None, "crop_flip": crop_flip}
"""Training-time augmentations by the name a config uses."""


def all_finite(tensors: Iterable[Tensor]) -> bool:
    """Whether every element of every tensor is finite (neither NaN nor ±inf).

    One fused max-abs reduction over all tensors and one host sync: it runs after every
    optimizer step, where a per-tensor check costs ~10% of a small model's step. The max-abs
    norm cannot overflow and propagates NaN.
    """
    ts = [t.detach() for t in tensors]
    # FSDP2 DTensor shards: check this rank's rows, then agree over the ranks (which must all
    # take the same divergence branch, or the next collective hangs)
    sharded = any(hasattr(t, "to_local") for t in ts)
    ts = [local for t in ts if (local := t.to_local() if hasattr(t, "to_local") else t).numel()]
    finite = True
    if ts:
        try:
            if sharded:  # _foreach_norm crashes (SIGSEGV) on views into FSDP2's shard buffers
                raise RuntimeError("sharded")
            norms = torch.stack(torch._foreach_norm(ts, math.inf))
        except RuntimeError:  # tensors on several devices or of mixed dtypes
            norms = torch.stack([torch.linalg.vector_norm(t, math.inf).float().cpu() for t in ts])
        finite = bool(torch.isfinite(norms).all())
    if sharded:
        import torch.distributed as dist

        # NCCL reduces only CUDA tensors, even on a rank whose shards are all empty
        device = (
            torch.device("cuda", torch.cuda.current_device())
            if dist.get_backend() == "nccl"
            else "cpu"
        )
        flag = torch.tensor(float(finite), device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        finite = bool(flag)
    return finite


def evaluate(
    model: nn.Module,
    data: Data,
    *,
    batch_size: int = 1024,
    mask_classes: Sequence[int] | None = None,
) -> tuple[float, float]:
    """Mean cross-entropy (nats) and accuracy of ``model`` on ``data`` in eval mode.

    Parameters
    ----------
    model
        Classifier returning logits, or a sequence model returning ``(B, T, V)`` for targets
        ``(N, T)`` (module docstring); put in eval mode for the pass and restored to its mode
        after.
    data
        ``(x, y)`` tensors.
    batch_size
        Examples (sequences) per forward pass (memory only).
    mask_classes
        Restrict the logits to these output units (task-incremental evaluation of one task);
        not for sequence targets.

    Returns
    -------
    tuple[float, float]
        ``(loss, accuracy)``; for sequence targets the mean nats per counted token and the
        next-token accuracy, weighted by tokens across batches. ``(nan, nan)`` when a weight or
        an output logit is non-finite (a diverged model has no accuracy: the argmax of NaN
        logits is always class 0).

    Raises
    ------
    InputError
        For mismatched or empty data, a non-positive batch size, labels outside
        ``mask_classes``, sequence targets with ``mask_classes`` or with no counted token.
    """
    if batch_size <= 0:
        raise InputError(f"batch_size must be positive, got {batch_size}")
    groups = None if mask_classes is None else [mask_classes]
    if mask_classes is not None and _is_sequence(data[1], "data"):
        raise InputError(
            "mask_classes restricts the output units of one label per example; it does not "
            "apply to per-token targets (language models): pass mask_classes=None"
        )
    return _evaluate(model, data, batch_size, _group_tensor(groups, _device_of(model)))


@torch.no_grad()
def _evaluate(
    model: nn.Module, data: Data, batch_size: int, groups: Tensor | None
) -> tuple[float, float]:
    """Mean loss and accuracy per example, or per counted token for per-token targets."""
    x, y = _check_data(data, "data")
    sequence = _is_sequence(y, "data")
    count = int((y != IGNORE_INDEX).sum()) if sequence else x.shape[0]
    if sequence and count == 0:
        raise InputError(f"data: every target is {IGNORE_INDEX}; no token to score")
    device = _device_of(model)
    if not all_finite(model.parameters()):
        return math.nan, math.nan
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    try:
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size].to(device)
            yb = y[start : start + batch_size].to(device)
            logits = model(xb)
            if not bool(torch.isfinite(logits).all()):
                return math.nan, math.nan
            if sequence:
                per_token, valid = _token_cross_entropy(logits, yb, 0.0)
                loss_sum += float(per_token[valid].sum())
                correct += int(_token_hits(logits, yb)[0])
            else:
                scores = _mask_logits(logits, yb, groups)
                loss_sum += float(_cross_entropy(scores, yb, 0.0).sum())
                correct += int((scores.argmax(1) == yb).sum())
    finally:
        model.train(was_training)
    return loss_sum / count, correct / count


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write model (and optimizer) state atomically: temporary file, fsync, rename.

    ``extra`` must hold only tensors and plain Python values so that :func:`load_checkpoint` can
    read it with ``weights_only=True``. Returns the path written.
    """
    payload = {
        "model": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "extra": dict(extra or {}),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | Path, model: nn.Module) -> dict[str, Any]:
    """Load a :func:`save_checkpoint` file into ``model`` (``torch.load(weights_only=True)``).

    Returns
    -------
    dict
        ``{"optimizer": state_dict or None, "extra": dict}``.

    Raises
    ------
    DataError
        If the file is missing or is not a checkpoint written by :func:`save_checkpoint`.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"checkpoint {path} does not exist")
    payload = torch.load(path, map_location=_device_of(model), weights_only=True)
    if not isinstance(payload, dict) or "model" not in payload:
        raise DataError(f"{path} is not an axionlab checkpoint (no 'model' entry)")
    model.load_state_dict(payload["model"])
    return {"optimizer": payload.get("optimizer"), "extra": payload.get("extra", {})}


def _check_data(data: Data, name: str) -> Data:
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise InputError(f"{name} must be an (x, y) pair of tensors")
    x, y = data
    if x.shape[0] != y.shape[0]:
        raise InputError(f"{name}: x has {x.shape[0]} examples but y has {y.shape[0]}")
    if x.shape[0] == 0:
        raise InputError(f"{name} is empty")
    return x, y


def _is_sequence(y: Tensor, name: str) -> bool:
    """Whether ``y`` holds one target per position ``(N, T)`` rather than one label ``(N,)``."""
    if y.dim() not in (1, 2):
        raise InputError(
            f"{name}: labels must be (N,) (one per example) or (N, T) (one per position), got "
            f"shape {tuple(y.shape)}"
        )
    return y.dim() == 2


def _device_of(model: nn.Module) -> torch.device:
    return next(iter(model.parameters())).device


def _group_tensor(groups: Sequence[Sequence[int]] | None, device: torch.device) -> Tensor | None:
    """Group id of every output unit named in ``groups`` (a dense vector, -1 for the others)."""
    if groups is None:
        return None
    units = [int(u) for group in groups for u in group]
    if not units or any(len(group) == 0 for group in groups):
        raise InputError("mask classes must be non-empty; pass None to use every output unit")
    if len(set(units)) != len(units) or min(units) < 0:
        raise InputError("mask classes must be distinct, non-negative output units")
    ids = torch.full((max(units) + 1,), -1, dtype=torch.long)
    for g, group in enumerate(groups):
        ids[list(group)] = g
    return ids.to(device)


def _mask_logits(logits: Tensor, y: Tensor, groups: Tensor | None) -> Tensor:
    """Set to -inf the logits outside the group of each example's label."""
    if groups is None:
        return logits
    ids = torch.full((logits.shape[1],), -1, dtype=torch.long, device=logits.device)
    width = min(len(groups), logits.shape[1])
    ids[:width] = groups[:width]
    if int(y.max()) >= logits.shape[1] or bool((ids[y] < 0).any()):
        raise InputError("a label lies outside the mask classes")
    allowed = ids.unsqueeze(0) == ids[y].unsqueeze(1)  # (B, C)
    return logits.masked_fill(~allowed, float("-inf"))


def _cross_entropy(scores: Tensor, y: Tensor, smoothing: float) -> Tensor:
    """Per-example cross-entropy; label smoothing spreads over the finite (unmasked) logits only."""
    logp = F.log_softmax(scores, dim=1)
    nll = -logp.gather(1, y.unsqueeze(1)).squeeze(1)
    if smoothing == 0.0:
        return nll
    finite = torch.isfinite(scores)
    uniform = -torch.where(finite, logp, 0.0).sum(1) / finite.sum(1)
    return (1.0 - smoothing) * nll + smoothing * uniform


def _token_cross_entropy(logits: Tensor, y: Tensor, smoothing: float) -> tuple[Tensor, Tensor]:
    """Per-token cross-entropy ``(B, T)`` (0 at ignored targets) and the mask of counted ones.

    Position ``t`` of ``logits`` ``(B, T, V)`` is scored against ``y[:, t]`` (no shift); label
    smoothing as in :func:`_cross_entropy`.
    """
    if logits.dim() != 3 or logits.shape[:2] != y.shape:
        raise InputError(
            f"per-token targets {tuple(y.shape)} need logits (B, T, V) with the same (B, T), "
            f"got {tuple(logits.shape)}"
        )
    valid = y != IGNORE_INDEX
    flat = _cross_entropy(
        logits.reshape(-1, logits.shape[-1]), y.clamp_min(0).reshape(-1), smoothing
    )
    return torch.where(valid, flat.reshape(y.shape), 0.0), valid


def _token_loss(logits: Tensor, y: Tensor, smoothing: float) -> Tensor:
    """Mean cross-entropy over the counted tokens of a batch; 0 (no gradient) when none is."""
    per_token, valid = _token_cross_entropy(logits, y, smoothing)
    return per_token.sum() / valid.sum().clamp_min(1)


def _token_hits(logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Counted tokens whose argmax is the target, and the number counted (both 0-d tensors)."""
    valid = y != IGNORE_INDEX
    return ((logits.argmax(-1) == y) & valid).sum(), valid.sum()


def _make_optimizer(params: list[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
