"""The map of a trained network the exact probes binarise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from axionlab.errors import InputError
from axionlab.models import build_model, candidate_drive, hidden_states
from axionlab.phi import (
    NONFINITE_STATES,
    NONFINITE_WEIGHTS,
    probed_weights,
    trained_integration,
    trained_probe,
)
from axionlab.phi.probes import binary_probe, strongest_block, timeseries_integration


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


def test_trained_probe_is_the_binary_probe_of_the_strongest_block() -> None:
    model = build_model("elman", (1, 40), 10, hidden=5, generator=torch.Generator().manual_seed(1))
    result = trained_probe(model, 3)
    assert not isinstance(result, str)
    probe, recurrent = result
    weight, bias = candidate_drive(model)
    rows, cols = strongest_block(weight, 3, tied=True)
    expected = binary_probe(weight, bias, rows, cols, levels=(-1.0, 1.0), phi=True)
    assert recurrent and probe == expected


def test_trained_measures_name_why_they_are_undefined() -> None:
    model = build_model("elman", (1, 40), 10, hidden=4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    assert trained_probe(model, 3) == NONFINITE_WEIGHTS
    x = torch.zeros(6, 1, 40)
    rng = np.random.default_rng(0)
    assert trained_integration(model, x, rng=rng, n_boot=2, n_null=1) == NONFINITE_STATES
    with pytest.raises(InputError, match="linear layer"):
        trained_probe(nn.Sequential(nn.ReLU()), 3)


def test_trained_integration_is_the_measures_of_the_hidden_states() -> None:
    model = build_model("elman", (1, 40), 10, hidden=3, generator=torch.Generator().manual_seed(0))
    x = torch.randn(20, 1, 40, generator=torch.Generator().manual_seed(2))
    result = trained_integration(model, x, rng=np.random.default_rng(0), n_boot=3, n_null=2)
    states = hidden_states(model, x).double().numpy()
    direct = timeseries_integration(states, rng=np.random.default_rng(0), n_boot=3, n_null=2)
    assert result == direct
