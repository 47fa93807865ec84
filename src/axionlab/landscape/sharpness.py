"""Sharpness of a minimum: SAM-style ρ-sharpness, its adaptive variant, and loss barriers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from axionlab.errors import InputError
from axionlab.landscape._common import (
    Data,
    LossFn,
    Params,
    eval_semantics,
    forward,
    materialize,
    model_device,
    split_parameters,
)
from axionlab.landscape.surface import LossLine, LossSurface


@dataclass(frozen=True)
class Sharpness:
    """``value`` = ``perturbed_loss`` − ``center_loss`` (nats) for the perturbation found."""

    value: float
    center_loss: float
    perturbed_loss: float
    rho: float
    adaptive: bool
    ascent_steps: int


def sharpness(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    rho: float = 0.05,
    adaptive: bool = False,
    eta: float = 0.01,
    ascent_steps: int = 1,
    batch_size: int | None = None,
    max_examples: int | None = None,
) -> Sharpness:
    """Worst-case loss increase in a ρ-ball, max_{‖T⁻¹ε‖ ≤ ρ} L(θ + ε) − L(θ), by gradient ascent.

    SAM (Foret et al. 2021, Eq. 2) uses T = I and one normalised gradient step
    ε = ρ g / ‖g‖. Adaptive sharpness (ASAM, Kwon et al. 2021, §3) uses T = diag(|θ| + η), which
    makes the measure invariant to the per-filter rescalings that leave ReLU networks unchanged;
    its step is ε = ρ T² g / ‖T g‖. With ``ascent_steps`` > 1 the steps are repeated from the
    perturbed point and projected back onto the ball, which can only find a larger loss.

    Parameters
    ----------
    model, loss_fn, data
        Model, ``loss_fn(outputs, targets) -> mean loss`` and an ``(x, y)`` pair or batches;
        evaluated in eval semantics, never modified.
    rho
        Radius of the ball (> 0).
    adaptive
        Use the scale-invariant ASAM ball.
    eta
        ASAM's offset η, keeping zero weights perturbable.
    ascent_steps
        Number of projected ascent steps (1 reproduces SAM's estimate).
    batch_size, max_examples
        Examples per pass (memory only) and how many examples to use (``None``: all).

    Raises
    ------
    InputError
        For ``rho <= 0``, ``eta < 0`` or ``ascent_steps < 1``.
    """
    if rho <= 0 or eta < 0 or ascent_steps < 1:
        raise InputError(
            f"need rho > 0, eta >= 0 and ascent_steps >= 1, got {rho}, {eta}, {ascent_steps}"
        )
    if batch_size is not None and batch_size < 1:
        raise InputError(f"batch_size must be >= 1 or None, got {batch_size}")
    params, constants = split_parameters(model)
    x, y = materialize(data, max_examples, model_device(model))
    size = batch_size or x.shape[0]
    chunks = [(x[i : i + size], y[i : i + size]) for i in range(0, x.shape[0], size)]
    scale = {k: (p.abs() + eta if adaptive else torch.ones_like(p)) for k, p in params.items()}

    def loss_and_grad(point: Params) -> tuple[float, Params]:
        leaves = {k: v.clone().requires_grad_(True) for k, v in point.items()}
        total = 0.0
        grads = {k: torch.zeros_like(v) for k, v in point.items()}
        with eval_semantics(model), torch.enable_grad():
            for xb, yb in chunks:
                loss = loss_fn(forward(model, leaves, constants, xb), yb) * (xb.shape[0] / len(x))
                for k, g in zip(
                    leaves, torch.autograd.grad(loss, list(leaves.values())), strict=True
                ):
                    grads[k] += g
                total += float(loss.detach())
        return total, grads

    def norm(t: Params) -> Tensor:
        return torch.sqrt(sum((v.double().square().sum() for v in t.values()), torch.zeros(())))

    center_loss, grad = loss_and_grad(params)
    eps = {k: torch.zeros_like(p) for k, p in params.items()}
    for step in range(ascent_steps):
        if step:
            grad = loss_and_grad({k: params[k] + eps[k] for k in params})[1]
        scaled = {k: scale[k] * g for k, g in grad.items()}
        step_size = rho / max(float(norm(scaled)), 1e-30)
        eps = {k: eps[k] + step_size * scale[k] * scaled[k] for k in params}
        # Project onto the ball ‖T⁻¹ε‖ ≤ ρ.
        radius = float(norm({k: eps[k] / scale[k] for k in params}))
        if radius > rho:
            eps = {k: v * (rho / radius) for k, v in eps.items()}
    perturbed = loss_and_grad({k: params[k] + eps[k] for k in params})[0]
    return Sharpness(
        value=perturbed - center_loss,
        center_loss=center_loss,
        perturbed_loss=perturbed,
        rho=rho,
        adaptive=adaptive,
        ascent_steps=ascent_steps,
    )


def loss_barrier(result: LossLine | LossSurface) -> float:
    """Height of the loss barrier, as a difference in nats (never a ratio that can blow up).

    For an interpolation (``end_loss`` set) it is max_t [L(t) − ((1 − t) L(0) + t L(1))]
    (Frankle et al. 2020, linear mode connectivity); for a line or plane around a point it is
    max L − L(centre). Non-finite grid values make the barrier ``inf`` (or ``nan``), never clipped.
    """
    values = np.asarray(result.values, dtype=np.float64)
    if isinstance(result, LossLine) and result.end_loss is not None:
        t = result.alphas
        baseline = (1 - t) * result.center_loss + t * result.end_loss
    else:
        baseline = np.full_like(values, result.center_loss)
    return float(np.max(values - baseline))
