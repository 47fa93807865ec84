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
from torch import nn

from axionlab.models import candidate_drive, is_recurrent
from axionlab.phi.gaussian import Array


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
