"""Full-batch training of small models on (random) labels, stopping at a train-accuracy threshold.

Capacity experiments only ask whether a model *can* fit a finite labelled set, so training is
full-batch (Adam or L-BFGS with strong-Wolfe line search) on every sample at once and stops at the
first step whose train accuracy reaches the threshold. A model with one output is a binary
classifier (logistic loss, label 1 ⇔ logit > 0); with C >= 2 outputs it is a C-way softmax
classifier. Losses are in nats; steps count optimizer steps (one L-BFGS iteration each).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import Tensor, nn

from axionlab.checks import check_choice, check_count, check_positive
from axionlab.errors import InputError

Method = Literal["adam", "lbfgs"]
METHODS: tuple[Method, ...] = get_args(Method)


@dataclass(frozen=True)
class FitConfig:
    """How :func:`fit_labels` trains: optimizer, step budget, learning rate, stopping threshold."""

    method: Method = "adam"
    max_steps: int = 2000
    lr: float = 0.01
    threshold: float = 1.0

    def __post_init__(self) -> None:
        check_choice("method", self.method, METHODS)
        check_count("max_steps", self.max_steps)
        check_positive("lr", self.lr)
        if not 0 < self.threshold <= 1:
            raise InputError(f"threshold must be in (0, 1], got {self.threshold}")


@dataclass(frozen=True)
class FitResult:
    """Outcome of one fit: final train accuracy and loss, steps taken, whether the threshold met."""

    accuracy: float
    loss: float
    steps: int
    reached: bool


def _objective(outputs: int) -> tuple[Callable[[Tensor, Tensor], Tensor], Callable[..., Tensor]]:
    if outputs == 1:

        def loss(logits: Tensor, y: Tensor) -> Tensor:
            return nn.functional.binary_cross_entropy_with_logits(logits[:, 0], y.float())

        def predict(logits: Tensor) -> Tensor:
            return (logits[:, 0] > 0).long()

        return loss, predict
    return nn.functional.cross_entropy, lambda logits: logits.argmax(dim=1)


def fit_labels(
    model: nn.Module, X: Tensor, y: Tensor, config: FitConfig | None = None
) -> FitResult:
    """Train ``model`` in place on all of ``(X, y)`` until train accuracy reaches the threshold.

    Parameters
    ----------
    model : maps ``(P, ...)`` inputs to ``(P, 1)`` binary logits or ``(P, C)`` class logits; only
        parameters with ``requires_grad`` are trained (frozen layers stay fixed).
    X : ``(P, ...)`` float inputs on the model's device.
    y : ``(P,)`` integer labels (0/1 for one output, 0..C−1 for C outputs).
    config : optimizer and stopping rule; defaults to ``FitConfig()``.

    Returns
    -------
    FitResult with the accuracy and loss at the last evaluated parameters.

    Raises
    ------
    InputError : X and y of different lengths, or labels out of range for the model's outputs.
    """
    config = config or FitConfig()
    if X.shape[0] != y.shape[0] or y.ndim != 1:
        raise InputError(f"y must have shape ({X.shape[0]},) to match X, got {tuple(y.shape)}")
    with torch.no_grad():
        outputs = model(X[:1]).shape[1] if X.shape[0] else 1
    n_labels = 2 if outputs == 1 else outputs
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= n_labels):
        raise InputError(
            f"labels must lie in [0, {n_labels - 1}] for a model with {outputs} outputs"
        )
    loss_fn, predict = _objective(outputs)
    params = [p for p in model.parameters() if p.requires_grad]

    def evaluate() -> tuple[float, float]:
        with torch.no_grad():
            logits = model(X)
            return float(loss_fn(logits, y)), float((predict(logits) == y).float().mean())

    if not params or X.shape[0] == 0:
        loss, acc = evaluate() if X.shape[0] else (0.0, 1.0)
        return FitResult(acc, loss, 0, acc >= config.threshold)

    if config.method == "adam":
        opt = torch.optim.Adam(params, lr=config.lr)
        for step in range(config.max_steps):
            opt.zero_grad(set_to_none=True)
            logits = model(X)
            loss_t = loss_fn(logits, y)
            acc = float((predict(logits.detach()) == y).float().mean())
            if acc >= config.threshold:
                return FitResult(acc, loss_t.item(), step, True)
            torch.autograd.backward(loss_t)
            opt.step()
    else:
        lbfgs: torch.optim.Optimizer = torch.optim.LBFGS(
            params, lr=config.lr, max_iter=1, history_size=20, line_search_fn="strong_wolfe"
        )

        def closure() -> float:
            lbfgs.zero_grad(set_to_none=True)
            value = loss_fn(model(X), y)
            torch.autograd.backward(value)
            return value.item()

        for step in range(config.max_steps):
            loss, acc = evaluate()
            if acc >= config.threshold:
                return FitResult(acc, loss, step, True)
            lbfgs.step(closure)
    loss, acc = evaluate()
    return FitResult(acc, loss, config.max_steps, acc >= config.threshold)
