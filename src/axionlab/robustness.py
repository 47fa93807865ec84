"""Accuracy of a classifier under input perturbations: Gaussian noise and FGSM.

- :func:`noise_accuracy`: accuracy on ``x + σ ε`` with ``ε ~ N(0, I)``, averaged over repeats.
- :func:`fgsm_accuracy`: accuracy on ``x + ε sign(∇_x CE(f(x), y))``, the fast gradient sign
  method (Goodfellow, Shlens & Szegedy 2015, eq. 3), an L∞ attack of radius ε, untargeted,
  one step, no clipping (inputs are standardised, not images in [0, 1]).

σ and ε are in input units (data standardised by the loaders: units of the training std). Both
run in eval mode, restore the model's mode, and never touch parameter ``.grad``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from axionlab.errors import InputError

Data = tuple[Tensor, Tensor]


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _check(data: Data, size: float, name: str, batch_size: int) -> tuple[Tensor, Tensor]:
    x, y = data
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise InputError(
            f"data must hold as many labels as inputs (> 0), got {x.shape[0]} inputs "
            f"and {y.shape[0]} labels"
        )
    if size < 0:
        raise InputError(f"{name} must be non-negative, got {size}")
    if batch_size < 1:
        raise InputError(f"batch_size must be positive, got {batch_size}")
    return x, y


def _accuracy(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    batch_size: int,
    perturb: Callable[[Tensor, Tensor], Tensor],
) -> float:
    device = next(model.parameters()).device
    correct = 0
    with _eval_mode(model):
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size].to(device)
            yb = y[start : start + batch_size].to(device)
            with torch.no_grad():
                correct += int((model(perturb(xb, yb)).argmax(1) == yb).sum())
    return correct / x.shape[0]


def noise_accuracy(
    model: nn.Module,
    data: Data,
    sigma: float,
    *,
    generator: torch.Generator,
    repeats: int = 1,
    batch_size: int = 1024,
) -> float:
    """Accuracy under additive Gaussian input noise of standard deviation ``sigma``.

    Parameters
    ----------
    model
        Classifier returning logits.
    data
        ``(x, y)`` tensors.
    sigma
        Noise standard deviation in input units; 0 gives the clean accuracy.
    generator
        CPU source of the noise (drawn batch by batch in data order, so results are repeatable).
    repeats
        Independent noise draws averaged.

    Raises
    ------
    InputError
        Empty or mismatched data, negative ``sigma``, ``repeats < 1`` or ``batch_size < 1``.
    """
    x, y = _check(data, sigma, "sigma", batch_size)
    if repeats < 1:
        raise InputError(f"repeats must be at least 1, got {repeats}")

    def noisy(xb: Tensor, _: Tensor) -> Tensor:
        noise = torch.randn(xb.shape, generator=generator, dtype=xb.dtype)
        return xb + sigma * noise.to(xb.device)

    return sum(_accuracy(model, x, y, batch_size, noisy) for _ in range(repeats)) / repeats


def fgsm_accuracy(model: nn.Module, data: Data, epsilon: float, *, batch_size: int = 1024) -> float:
    """Accuracy under a one-step FGSM perturbation of L∞ size ``epsilon`` (Goodfellow et al. 2015).

    The gradient is taken in eval mode with respect to the inputs only.

    Raises
    ------
    InputError
        Empty or mismatched data, negative ``epsilon`` or ``batch_size < 1``.
    """
    x, y = _check(data, epsilon, "epsilon", batch_size)

    def attack(xb: Tensor, yb: Tensor) -> Tensor:
        # cuDNN's RNN backward refuses eval mode; the native kernels give the same gradient.
        with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
            xg = xb.detach().clone().requires_grad_(True)
            loss = F.cross_entropy(model(xg), yb, reduction="sum")
            (grad,) = torch.autograd.grad(loss, xg)
        return xb + epsilon * grad.sign()

    return _accuracy(model, x, y, batch_size, attack)
