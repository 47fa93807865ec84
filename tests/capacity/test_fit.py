import pytest
import torch

from axionlab.capacity import ArchSpec, FitConfig, build_model, fit_labels, random_labels
from axionlab.errors import InputError


def _mlp(d, outputs, seed=0):
    spec = ArchSpec("t", "mlp", "test", (d,), (32,), 2 if outputs == 1 else outputs)
    return build_model(spec, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("method", ["adam", "lbfgs"])
@pytest.mark.parametrize("classes", [2, 3])
def test_fits_few_random_labels_and_stops_early(method, classes):
    X, y = random_labels(20, 8, classes, generator=torch.Generator().manual_seed(1))
    model = _mlp(8, 1 if classes == 2 else classes)
    config = FitConfig(method=method, max_steps=500, lr=0.05 if method == "adam" else 1.0)
    result = fit_labels(model, X, y, config)
    assert result.reached and result.accuracy == 1.0 and result.steps < 500


def test_threshold_stops_earlier_than_full_fit():
    X, y = random_labels(40, 8, 2, generator=torch.Generator().manual_seed(2))
    partial = fit_labels(_mlp(8, 1), X, y, FitConfig(threshold=0.7, lr=0.05))
    full = fit_labels(_mlp(8, 1), X, y, FitConfig(lr=0.05))
    assert partial.accuracy >= 0.7 and partial.steps < full.steps


def test_impossible_labels_use_the_whole_budget():
    X = torch.ones(4, 3)
    y = torch.tensor([0, 1, 0, 1])
    result = fit_labels(_mlp(3, 1), X, y, FitConfig(max_steps=30))
    assert not result.reached and result.steps == 30 and result.accuracy == 0.5


def test_frozen_parameters_stay_fixed():
    X, y = random_labels(16, 8, 2, generator=torch.Generator().manual_seed(3))
    model = _mlp(8, 1)
    model[0].requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit_labels(model, X, y, FitConfig(max_steps=50, lr=0.05))
    after = model.state_dict()
    assert torch.equal(before["0.weight"], after["0.weight"])
    assert not torch.equal(before["2.weight"], after["2.weight"])


def test_validation():
    with pytest.raises(InputError, match="method"):
        FitConfig(method="sgd")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="threshold"):
        FitConfig(threshold=0.0)
    with pytest.raises(InputError, match="labels must lie"):
        fit_labels(_mlp(3, 1), torch.zeros(2, 3), torch.tensor([0, 2]))
    with pytest.raises(InputError, match="shape"):
        fit_labels(_mlp(3, 1), torch.zeros(2, 3), torch.tensor([0]))
