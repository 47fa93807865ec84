"""Accuracy under Gaussian noise and FGSM: reference cases and no side effects on the model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from axionlab.errors import InputError
from axionlab.models import build_model
from axionlab.repro import torch_generator
from axionlab.robustness import fgsm_accuracy, noise_accuracy
from axionlab.train import evaluate


def _linear() -> tuple[nn.Linear, tuple[torch.Tensor, torch.Tensor]]:
    # class = sign of x0 with margin |x0| = 1: FGSM flips every example once ε > 1
    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
        model.bias.zero_()
    x = torch.tensor([[1.0, 0.3], [-1.0, -0.2], [1.0, 5.0], [-1.0, 2.0]])
    return model, (x, (x[:, 0] > 0).long())


def test_fgsm_threshold_on_a_linear_classifier():
    model, data = _linear()
    assert fgsm_accuracy(model, data, 0.0) == 1.0
    assert fgsm_accuracy(model, data, 0.9) == 1.0
    assert fgsm_accuracy(model, data, 1.1) == 0.0


def test_zero_noise_is_clean_accuracy_and_noise_is_repeatable():
    model = build_model("elman", (1, 10), 3, hidden=4)
    x = torch.randn(40, 1, 10, generator=torch_generator(0, "x"))
    y = torch.randint(0, 3, (40,), generator=torch_generator(0, "y"))
    clean = evaluate(model, (x, y))[1]
    assert noise_accuracy(model, (x, y), 0.0, generator=torch_generator(0, "n")) == clean
    runs = [
        noise_accuracy(
            model, (x, y), 2.0, generator=torch_generator(0, "n"), repeats=3, batch_size=16
        )
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    assert 0.0 <= runs[0] <= 1.0


def test_probes_leave_the_model_untouched():
    model = build_model("lstm", (1, 10), 3, hidden=4).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = (torch.randn(8, 1, 10), torch.arange(8) % 3)
    fgsm_accuracy(model, data, 0.1)
    noise_accuracy(model, data, 0.1, generator=torch_generator(0, "n"))
    assert model.training
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_user_errors():
    model, data = _linear()
    with pytest.raises(InputError, match="epsilon must be non-negative"):
        fgsm_accuracy(model, data, -0.1)
    with pytest.raises(InputError, match="repeats"):
        noise_accuracy(model, data, 0.1, generator=torch_generator(0, "n"), repeats=0)
    with pytest.raises(InputError, match="as many labels"):
        fgsm_accuracy(model, (data[0], data[1][:2]), 0.1)
