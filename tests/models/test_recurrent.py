"""Recurrent zoo models: hidden-state series, the tanh-path weights, deterministic init."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from axionlab.errors import InputError
from axionlab.models import build_model, candidate_drive, hidden_states, is_recurrent
from axionlab.repro import torch_generator

SHAPE = (1, 12)
RECURRENT = ("elman", "lstm", "rmlp", "gru")


def _x(n: int = 5) -> torch.Tensor:
    return torch.randn(n, *SHAPE, generator=torch_generator(0, "x"))


@pytest.mark.parametrize("name", RECURRENT)
def test_last_hidden_state_feeds_the_head(name):
    model = build_model(name, SHAPE, 3, generator=torch_generator(0, "init"), hidden=6).eval()
    x = _x()
    states = hidden_states(model, x, batch_size=2)
    assert states.shape == (5, 12, 6)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.head(states[:, -1]))
    assert model.head_name == "head" and is_recurrent(model)


@pytest.mark.parametrize("name", ("elman", "lstm", "rmlp"))
def test_family_and_deterministic_init(name):
    a = build_model(name, SHAPE, 3, generator=torch_generator(1, "init"))
    b = build_model(name, SHAPE, 3, generator=torch_generator(1, "init"))
    assert a.family == name
    for (key, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), key


def test_hidden_states_restores_training_mode():
    model = build_model("lstm", SHAPE, 3, hidden=4).train()
    hidden_states(model, _x())
    assert model.training


def test_elman_candidate_drive_reproduces_one_step_at_zero_input():
    model = build_model("elman", SHAPE, 3, generator=torch_generator(2, "init"), hidden=5)
    weight, bias = candidate_drive(model)
    h0 = np.random.default_rng(0).uniform(-1, 1, size=5)
    rnn = model.body.rnn
    with torch.no_grad():
        _, h1 = rnn(torch.zeros(1, 1, 1), torch.tensor(h0, dtype=torch.float32)[None, None])
    np.testing.assert_allclose(np.tanh(weight @ h0 + bias), h1[0, 0].numpy(), rtol=1e-5, atol=1e-6)


def test_gated_candidate_rows_and_rmlp_encoder_bias():
    lstm = build_model("lstm", SHAPE, 3, hidden=4)
    weight, bias = candidate_drive(lstm)
    rnn = lstm.body.rnn
    np.testing.assert_allclose(weight, rnn.weight_hh_l0[8:12].detach().double().numpy())
    np.testing.assert_allclose(
        bias, (rnn.bias_ih_l0[8:12] + rnn.bias_hh_l0[8:12]).detach().double().numpy(), rtol=1e-6
    )
    rmlp = build_model("rmlp", SHAPE, 3, hidden=4, width=7)
    _, bias = candidate_drive(rmlp)
    with torch.no_grad():
        u0 = rmlp.body.encoder(torch.zeros(1, 1))[0]
        r = rmlp.body.rnn
        expected = r.weight_ih_l0 @ u0 + r.bias_ih_l0 + r.bias_hh_l0
    np.testing.assert_allclose(bias, expected.double().numpy(), rtol=1e-5)


def test_feedforward_and_image_inputs_are_refused():
    mlp = build_model("mlp", SHAPE, 3)
    assert not is_recurrent(mlp)
    with pytest.raises(InputError, match="not a recurrent"):
        hidden_states(mlp, _x())
    with pytest.raises(InputError, match=r"sequence input_shape \(C, L\)"):
        build_model("elman", (1, 8, 8), 3)
    with pytest.raises(InputError, match="one-layer"):
        candidate_drive(build_model("gru", SHAPE, 3, hidden=4, layers=2))
