"""The map of a trained network the exact probes binarise."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from axionlab.models import build_model, candidate_drive
from axionlab.phi import probed_weights


def test_a_recurrent_model_gives_its_tanh_path_on_plus_minus_one_units() -> None:
    model = build_model("elman", (1, 40), 10, hidden=4, generator=torch.Generator().manual_seed(0))
    probed = probed_weights(model)
    assert probed is not None and probed.recurrent and probed.levels == (-1.0, 1.0)
    weight, bias = candidate_drive(model)
    np.testing.assert_array_equal(probed.weight, weight)
    np.testing.assert_array_equal(probed.bias, bias)
    assert probed.weight.shape == (4, 4) and probed.finite


def test_a_feedforward_model_gives_its_bodys_last_linear_layer_on_zero_one_units() -> None:
    model = build_model("mlp", (1, 8, 8), 10, width=8, depth=2)
    probed = probed_weights(model)
    assert probed is not None and not probed.recurrent and probed.levels == (0.0, 1.0)
    last = [m for m in model.body.modules() if isinstance(m, nn.Linear)][-1]
    np.testing.assert_array_equal(probed.weight, last.weight.detach().double().numpy())
    np.testing.assert_array_equal(probed.bias, last.bias.detach().double().numpy())
    assert probed.weight.dtype == np.float64


def test_no_linear_layer_gives_none_and_nan_weights_are_not_finite() -> None:
    assert probed_weights(nn.Sequential(nn.ReLU())) is None
    layer = nn.Linear(3, 3)
    with torch.no_grad():
        layer.weight[0, 0] = float("nan")
    probed = probed_weights(nn.Sequential(layer))
    assert probed is not None and not probed.finite
