"""Stability of a quadratic penalty under the optimizer that trains with it.

A quadratic penalty ``c·λ·Σ_i Ω_i (θ_i − θ*_i)²`` adds the diagonal curvature ``2cλΩ_i`` to the
loss. Gradient descent with step ``η`` on a quadratic of curvature ``h`` is stable only when
``η·h < 2``; with heavy-ball momentum ``β`` (PyTorch's SGD, no dampening, no Nesterov) the limit
is ``η·h < 2(1 + β)`` (Polyak 1964; Goh 2017, "Why momentum really works", Sec. 2). Coupled
weight decay ``wd`` adds ``wd`` to every curvature. The check uses the largest curvature the
penalty adds, ``h = max_i 2cλΩ_i + wd``, and the largest step size of the schedule (``lr``):
it is a *necessary* condition (the task loss adds its own curvature on top), so a unit that
passes it can still diverge, and the training loop records that as a state.

Adam and AdamW normalise each coordinate's step by its gradient scale, so the update is bounded
by about ``lr`` per coordinate whatever the curvature: a stiff penalty makes them oscillate with
amplitude ~``lr`` instead of diverge exponentially. No limit applies to them (``limit`` is
``None``) and the check always passes; divergence is still detected in training.

Strengths per convention (which λ means what) are in :mod:`axionlab.continual.strategies`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from axionlab.checks import check_choice
from axionlab.continual.strategies import QuadraticStrategy, Strategy
from axionlab.errors import ConfigError
from axionlab.train import TrainConfig

StabilityMode = Literal["warn", "error", "scale"]
STABILITY_MODES: tuple[StabilityMode, ...] = get_args(StabilityMode)
STABLE_FRACTION = 0.9
"""``scale`` lowers λ until ``η·h`` is this fraction of the limit (a margin for the loss's own
curvature, which the check cannot see)."""


@dataclass(frozen=True)
class StabilityCheck:
    """The outcome of :func:`check_penalty_stability` for one strategy.

    Attributes
    ----------
    strategy
        The strategy's name.
    curvature
        Largest curvature the penalty adds at the configured strength (0 without a penalty).
    ratio
        ``lr·(curvature + weight_decay) / limit`` at the configured strength: at or above 1 the
        penalty step is unstable; ``nan`` when no limit applies (Adam/AdamW).
    limit
        ``2(1 + momentum)`` for SGD, ``None`` for adaptive optimizers.
    strength, effective_strength
        The configured λ and the λ trained with (lowered by ``mode="scale"``); ``nan`` for
        strategies without a strength.
    action
        ``"none"`` (stable or not applicable), ``"warned"`` (unstable, run as configured) or
        ``"scaled"`` (λ lowered to ``effective_strength``).
    """

    strategy: str
    curvature: float
    ratio: float
    limit: float | None
    strength: float
    effective_strength: float
    action: Literal["none", "warned", "scaled"]

    @property
    def stable(self) -> bool:
        """Whether the step passes the necessary condition at the effective strength."""
        return self.action != "warned"


def step_limit(config: TrainConfig) -> float | None:
    """Largest stable ``η·h`` of the optimizer on a quadratic; ``None`` for Adam/AdamW."""
    if config.optimizer != "sgd":
        return None
    return 2.0 * (1.0 + config.momentum)


def check_penalty_stability(
    strategy: Strategy, config: TrainConfig, *, mode: StabilityMode = "warn"
) -> StabilityCheck:
    """Check (and with ``mode="scale"`` enforce) the penalty's step stability before training.

    Call it after the strategy has consolidated task A and before training on task B.

    Parameters
    ----------
    strategy
        Any strategy; only quadratic penalties (EWC, online EWC, SI, MAS, L2) are checked.
    config
        The task-B training config (optimizer, ``lr``, ``momentum``, ``weight_decay``).
    mode
        ``"warn"``: record the instability and train as configured; ``"error"``: raise;
        ``"scale"``: lower ``strategy.strength`` in place so that the ratio is
        :data:`STABLE_FRACTION`.

    Returns
    -------
    StabilityCheck

    Raises
    ------
    ConfigError
        With ``mode="error"`` when the configured strength is unstable.
    InputError
        For an unknown ``mode``.
    """
    check_choice("mode", mode, STABILITY_MODES)
    if not isinstance(strategy, QuadraticStrategy):
        limit = step_limit(config)
        return StabilityCheck(strategy.name, 0.0, 0.0, limit, math.nan, math.nan, "none")
    strength = strategy.strength
    curvature = strategy.max_curvature()
    limit = step_limit(config)
    if limit is None:
        return StabilityCheck(strategy.name, curvature, math.nan, None, strength, strength, "none")
    ratio = config.lr * (curvature + config.weight_decay) / limit
    if ratio < 1.0:
        return StabilityCheck(strategy.name, curvature, ratio, limit, strength, strength, "none")
    if mode == "error":
        raise ConfigError(
            f"strategy '{strategy.name}' is unstable under SGD: lr·(penalty curvature + "
            f"weight_decay) = {ratio * limit:.3g} exceeds 2(1+momentum) = {limit:.3g} (strength "
            f"{strength:g}, largest curvature {curvature:.3g}); lower the strength or lr, or set "
            "stability: scale"
        )
    if mode == "warn" or curvature == 0.0:  # weight decay alone: no strength can fix it
        return StabilityCheck(strategy.name, curvature, ratio, limit, strength, strength, "warned")
    per_strength = curvature / strength  # curvature is linear in λ; λ > 0 here since ratio ≥ 1
    target = STABLE_FRACTION * limit / config.lr - config.weight_decay
    if target <= 0.0:  # weight decay alone is (nearly) unstable: no strength can fix it
        return StabilityCheck(strategy.name, curvature, ratio, limit, strength, strength, "warned")
    scaled = target / per_strength
    strategy.strength = scaled
    return StabilityCheck(strategy.name, curvature, ratio, limit, strength, scaled, "scaled")
