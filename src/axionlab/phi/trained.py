"""The weights of a trained network that the exact probes binarise.

:func:`~axionlab.phi.probes.binary_probe` reads a weight matrix and a bias as a threshold network.
For a one-layer recurrent model that is the tanh path of the recurrence
(:func:`~axionlab.models.candidate_drive`), a state-to-state map of ±1 units whose IIT 3.0 Φ is
defined. A feed-forward model has no recurrence; its body's last linear layer, read as a map of
0/1 (ReLU off/on) units from one layer to the next, has an effective information but Φ = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import Tensor, nn

from axionlab.errors import InputError
from axionlab.models import candidate_drive, hidden_states, is_recurrent
from axionlab.phi.gaussian import Array, MeasureName
from axionlab.phi.probes import (
    BinaryProbe,
    TimeseriesIntegration,
    binary_probe,
    strongest_block,
    timeseries_integration,
)

NONFINITE_STATES = "nonfinite_states"
"""Why a trained recurrent net has no Gaussian measures: its hidden states are not finite."""
NONFINITE_WEIGHTS = "nonfinite_weights"
"""Why a trained net has no exact probe: the probed weights are not finite."""
VAR_FIT_FAILED = "var_fit_failed"
"""Why Gaussian measures are undefined: no VAR(1) model can be fitted on the states."""
DEGENERATE_PROBE = "degenerate_probe"
"""Why the exact probe is undefined: the strongest block is degenerate for these weights."""


@dataclass(frozen=True)
class ProbedWeights:
    """``weight`` (``(out, in)``, ``nn.Linear`` layout) and ``bias`` (``(out,)``) of the map the
    exact probe binarises; ``recurrent`` when it is a recurrence (square, ±1 units)."""

    weight: Array
    bias: Array
    recurrent: bool

    @property
    def levels(self) -> tuple[float, float]:
        """The binary unit values: ±1 for a tanh recurrence, 0/1 for a ReLU layer."""
        return (-1.0, 1.0) if self.recurrent else (0.0, 1.0)

    @property
    def finite(self) -> bool:
        """Whether every weight and bias is finite (a diverged net's are not)."""
        return bool(np.isfinite(self.weight).all() and np.isfinite(self.bias).all())


def probed_weights(model: nn.Module) -> ProbedWeights | None:
    """The map of ``model`` that the exact probe reads.

    Parameters
    ----------
    model
        A zoo model: a one-layer recurrent model (``elman``, ``gru``, ``lstm``, ``rmlp``) or a
        feed-forward one whose ``body`` (or the model itself) contains ``nn.Linear`` layers.

    Returns
    -------
    ProbedWeights or None
        The recurrent tanh path (float64, see :func:`~axionlab.models.candidate_drive`), else the
        last linear layer of the body as float64 copies; ``None`` for a feed-forward model with
        no linear layer.

    Raises
    ------
    InputError
        A recurrent model whose recurrence has no single tanh path (more than one layer,
        bidirectional, ReLU RNN).
    """
    if is_recurrent(model):
        weight, bias = candidate_drive(model)
        return ProbedWeights(weight, bias, recurrent=True)
    layers = [m for m in getattr(model, "body", model).modules() if isinstance(m, nn.Linear)]
    if not layers:
        return None
    layer = layers[-1]
    weight = layer.weight.detach().double().numpy()
    bias = (
        layer.bias.detach().double().numpy()
        if layer.bias is not None
        else np.zeros(weight.shape[0])
    )
    return ProbedWeights(weight, bias, recurrent=False)


def trained_integration(
    model: nn.Module,
    x: Tensor,
    *,
    rng: np.random.Generator,
    measure: MeasureName = "phi_g",
    n_boot: int = 100,
    n_null: int = 5,
    level: float = 0.95,
) -> TimeseriesIntegration | str:
    """Gaussian integration measures of a recurrent model's hidden states on inputs ``x``.

    The states ``(N, L, H)`` (float64) go to :func:`~axionlab.phi.probes.timeseries_integration`
    with the options given. Returns the measures, or why they are undefined:
    :data:`NONFINITE_STATES`, or :data:`VAR_FIT_FAILED` with the fit's message.
    """
    states = hidden_states(model, x).double().numpy()
    if not np.isfinite(states).all():
        return NONFINITE_STATES
    try:
        return timeseries_integration(
            states, rng=rng, measure=measure, n_boot=n_boot, n_null=n_null, level=level
        )
    except InputError as err:  # a VAR(1) that cannot be fitted on these states
        return f"{VAR_FIT_FAILED}: {err}"


def trained_probe(model: nn.Module, nodes: int) -> tuple[BinaryProbe, bool] | str:
    """The exact probe of ``model``'s ``nodes`` most strongly connected units, binarised.

    Returns the probe and whether the probed map is a recurrence (see :func:`probed_weights`), or
    why it is undefined: :data:`NONFINITE_WEIGHTS`, or :data:`DEGENERATE_PROBE` with the reason.

    Raises
    ------
    InputError
        A feed-forward model without a linear layer (nothing to probe).
    """
    probed = probed_weights(model)
    if probed is None:
        raise InputError("the exact probe reads a body ending in a linear layer; this one has none")
    if not probed.finite:
        return NONFINITE_WEIGHTS
    try:
        rows, cols = strongest_block(probed.weight, nodes, tied=probed.recurrent)
        probe = binary_probe(
            probed.weight, probed.bias, rows, cols, levels=probed.levels, phi=probed.recurrent
        )
    except InputError as err:  # a degenerate block for these weights
        return f"{DEGENERATE_PROBE}: {err}"
    return probe, probed.recurrent
