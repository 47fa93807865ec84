"""Small recurrent classifiers for ``(C, L)`` sequences that expose their hidden-state time series.

- ``elman``: ``h_t = tanh(W_ih x_t + W_hh h_{t-1} + b)`` (Elman 1990, "Finding structure in time").
- ``lstm``: Hochreiter & Schmidhuber (1997); the hidden state is ``h_t`` (not the cell state).
- ``rmlp``: a recurrent MLP: a per-step two-layer ReLU MLP encodes ``x_t`` and a tanh recurrent
  layer integrates the codes (an Elman network with a deep input transition).

Every model reads the sequence along ``L`` with ``C`` features per step and feeds the last hidden
state to the head. :func:`hidden_states` returns the whole ``(N, L, H)`` series of these models
and of the zoo's ``gru``; :func:`candidate_drive` returns the recurrent weights of the tanh path,
which binarised-network probes (:mod:`axionlab.phi.probes`) turn into a transition matrix.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from axionlab.errors import ConfigError, InputError
from axionlab.models.core import Classifier

Array = NDArray[np.float64]


class RecurrentBody(nn.Module):
    """``encoder`` per step, then one recurrent layer; returns the last hidden state."""

    def __init__(self, features: int, rnn: nn.RNNBase, encoder: nn.Module | None = None) -> None:
        super().__init__()
        self.features = features
        self.encoder = encoder if encoder is not None else nn.Identity()
        self.rnn = rnn

    def inputs(self, x: Tensor) -> Tensor:
        """``(N, C, L)`` sequences to the recurrent layer's ``(N, L, F)`` inputs."""
        return self.encoder(x.transpose(1, 2))  # type: ignore[no-any-return]

    def hidden_states(self, x: Tensor) -> Tensor:
        """``(N, L, H)`` hidden state after each step."""
        out: Tensor = self.rnn(self.inputs(x))[0]
        return out

    def forward(self, x: Tensor) -> Tensor:
        return self.hidden_states(x)[:, -1]


def _features(family: str, input_shape: tuple[int, ...], hidden: int) -> int:
    if len(input_shape) != 2:
        raise InputError(f"{family} needs sequence input_shape (C, L), got {input_shape}")
    if hidden < 1:
        raise ConfigError(f"{family} needs hidden >= 1, got {hidden}")
    return input_shape[0]


def elman(input_shape: tuple[int, ...], num_classes: int, *, hidden: int = 16) -> Classifier:
    """Elman (tanh) RNN classifier on ``(C, L)`` inputs."""
    c = _features("elman", input_shape, hidden)
    body = RecurrentBody(c, nn.RNN(c, hidden, batch_first=True))
    return Classifier("elman", body, nn.Linear(hidden, num_classes))


def lstm(input_shape: tuple[int, ...], num_classes: int, *, hidden: int = 16) -> Classifier:
    """LSTM classifier on ``(C, L)`` inputs."""
    c = _features("lstm", input_shape, hidden)
    body = RecurrentBody(c, nn.LSTM(c, hidden, batch_first=True))
    return Classifier("lstm", body, nn.Linear(hidden, num_classes))


def rmlp(
    input_shape: tuple[int, ...], num_classes: int, *, hidden: int = 16, width: int = 32
) -> Classifier:
    """Recurrent MLP: a two-layer ReLU MLP of ``width`` per step, then a tanh recurrent layer."""
    c = _features("rmlp", input_shape, hidden)
    if width < 1:
        raise ConfigError(f"rmlp needs width >= 1, got {width}")
    encoder = nn.Sequential(nn.Linear(c, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
    body = RecurrentBody(c, nn.RNN(width, hidden, batch_first=True), encoder)
    return Classifier("rmlp", body, nn.Linear(hidden, num_classes))


def _recurrent_body(model: nn.Module) -> RecurrentBody:
    body = getattr(model, "body", None)
    if isinstance(body, RecurrentBody):
        return body
    rnns = [m for m in body.modules() if isinstance(m, nn.RNNBase)] if body is not None else []
    if len(rnns) != 1:
        raise InputError(
            f"{type(model).__name__} (family {getattr(model, 'family', '?')!r}) is not a "
            "recurrent sequence model of the zoo (elman, gru, lstm, rmlp)"
        )
    # The zoo's gru reads raw (C, L) inputs along L, as a RecurrentBody without encoder does.
    return RecurrentBody(rnns[0].input_size, rnns[0])


def is_recurrent(model: nn.Module) -> bool:
    """Whether :func:`hidden_states` applies to ``model``."""
    try:
        _recurrent_body(model)
    except InputError:
        return False
    return True


@torch.no_grad()
def hidden_states(model: nn.Module, x: Tensor, *, batch_size: int = 1024) -> Tensor:
    """Hidden-state time series of a recurrent zoo model, in eval mode.

    Parameters
    ----------
    model
        ``elman``, ``lstm``, ``rmlp`` or the zoo's ``gru`` (top layer for multi-layer GRUs).
    x
        ``(N, C, L)`` inputs.

    Returns
    -------
    Tensor
        ``(N, L, H)`` hidden state after each of the ``L`` steps; ``[:, -1]`` feeds the head.

    Raises
    ------
    InputError
        ``model`` has no single recurrent layer.
    """
    body = _recurrent_body(model)
    was_training = model.training
    model.eval()
    try:
        return torch.cat(
            [body.hidden_states(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)]
        )
    finally:
        model.train(was_training)


@torch.no_grad()
def candidate_drive(model: nn.Module) -> tuple[Array, Array]:
    """Recurrent weights and zero-input bias of the tanh path of a one-layer recurrent model.

    The tanh path is ``h ↦ tanh(W h + b)`` with the input at zero (the training mean of
    standardised data): Elman's recurrence; the GRU candidate ``n`` with the reset gate open
    (``r = 1``); the LSTM cell input ``g``. Gates are not modelled, so for GRU and LSTM this is
    the network the gates modulate, not the trained dynamics.

    Returns
    -------
    weight : (H, H) array
        ``weight[j, i]`` the weight of unit ``i`` onto unit ``j`` (``nn.Linear`` layout).
    bias : (H,) array
        ``W_ih u_0 + b_ih + b_hh`` of the path, ``u_0`` the recurrent layer's input at zero data.

    Raises
    ------
    InputError
        Not a recurrent zoo model, more than one layer, bidirectional, or a ReLU RNN.
    """
    body = _recurrent_body(model)
    rnn = body.rnn
    if rnn.num_layers != 1 or rnn.bidirectional or rnn.mode == "RNN_RELU":
        raise InputError(
            "candidate_drive needs a one-layer unidirectional tanh/GRU/LSTM recurrence, got "
            f"mode {rnn.mode} with {rnn.num_layers} layer(s)"
        )
    h = rnn.hidden_size
    rows = slice(0, h) if rnn.mode == "RNN_TANH" else slice(2 * h, 3 * h)  # GRU r,z,n; LSTM i,f,g,o
    param = next(rnn.parameters())
    u0 = body.inputs(torch.zeros(1, body.features, 1, dtype=param.dtype, device=param.device))
    params = dict(rnn.named_parameters())
    bias = params["weight_ih_l0"][rows] @ u0[0, 0]
    if rnn.bias:
        bias = bias + params["bias_ih_l0"][rows] + params["bias_hh_l0"][rows]
    return params["weight_hh_l0"][rows].double().cpu().numpy(), bias.double().cpu().numpy()
