import pytest
import torch
import torch.nn.functional as F

from axionlab.models import (
    MODELS,
    PAPER_INPUT_SHAPE,
    PAPER_NUM_CLASSES,
    PAPER_TARGETS,
    SEQUENCE_MODELS,
    SMALL_MODELS,
    build_model,
    count_parameters,
    get_head,
    wrn_parameter_count,
)
from axionlab.repro import torch_generator


def test_paper_table_lists_19_registered_models():
    assert len(PAPER_TARGETS) == 19
    assert all(t.name in MODELS for t in PAPER_TARGETS)
    assert len(SMALL_MODELS) >= 12


@pytest.mark.parametrize("target", PAPER_TARGETS, ids=lambda t: t.name)
def test_paper_model_parameter_count_within_10_percent(target):
    model = build_model(target.name, PAPER_INPUT_SHAPE, PAPER_NUM_CLASSES, device="meta")
    assert model.family == target.family
    assert get_head(model).out_features == PAPER_NUM_CLASSES
    assert count_parameters(model) == pytest.approx(target.params_m * 1e6, rel=0.10)


@pytest.mark.parametrize("k", [1, 2, 4, 6, 8, 10])
def test_wrn_matches_closed_form(k):
    model = build_model(f"wrn28_{k}", PAPER_INPUT_SHAPE, PAPER_NUM_CLASSES, device="meta")
    assert count_parameters(model) == wrn_parameter_count(28, k, PAPER_NUM_CLASSES)
    assert wrn_parameter_count(28, 10, 10) == 36_479_194  # WRN-28-10 on CIFAR-10 (Zagoruyko 2016)


CHEAP = [t for t in PAPER_TARGETS if t.params_m <= 15.0]


@pytest.mark.parametrize("target", CHEAP, ids=lambda t: t.name)
def test_cheap_paper_models_real_forward(target):
    model = build_model(target.name, PAPER_INPUT_SHAPE, PAPER_NUM_CLASSES).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *PAPER_INPUT_SHAPE, generator=torch_generator(0, "x")))
    assert out.shape == (2, PAPER_NUM_CLASSES) and torch.isfinite(out).all()


def _one_step_lowers_loss(model, x, y):
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    model.train()
    torch.manual_seed(0)  # same dropout mask for both evaluations
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    torch.manual_seed(0)
    with torch.no_grad():
        after = F.cross_entropy(model(x), y)
    return loss.item(), after.item()


@pytest.mark.parametrize("name", SMALL_MODELS)
def test_small_model_trains_one_step_on_digits(name, digits_batch):
    x, y = digits_batch
    model = build_model(name, (1, 8, 8), 10, generator=torch_generator(1, "init"))
    assert 1_000 <= count_parameters(model) <= 100_000
    assert isinstance(model.family, str) and model.head_name == "head"
    before, after = _one_step_lowers_loss(model, x, y)
    assert after < before


@pytest.mark.parametrize("name", SMALL_MODELS)
def test_small_model_supports_hessian_vector_products(name, digits_batch):
    """Curvature probes differentiate twice; every layer must support double backward."""
    x, y = digits_batch
    model = build_model(name, (1, 8, 8), 10, generator=torch_generator(1, "init")).eval()
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(F.cross_entropy(model(x[:8]), y[:8]), params, create_graph=True)
    vector = [torch.ones_like(p) for p in params]
    hvp = torch.autograd.grad(grads, params, grad_outputs=vector)
    assert all(torch.isfinite(h).all() for h in hvp)


@pytest.mark.parametrize("name", SEQUENCE_MODELS)
def test_sequence_model_trains_one_step(name):
    gen = torch_generator(0, "data")
    x, y = torch.randn(32, 1, 40, generator=gen), torch.randint(0, 10, (32,), generator=gen)
    model = build_model(name, (1, 40), 10)
    assert model(x).shape == (32, 10)
    before, after = _one_step_lowers_loss(model, x, y)
    assert after < before
