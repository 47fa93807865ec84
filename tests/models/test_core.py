import pytest
import torch
from torch import nn

from axionlab.errors import ConfigError, InputError, UnknownNameError
from axionlab.models import build_model, count_parameters, expand_head, get_head, set_head
from axionlab.repro import torch_generator


def test_generator_makes_build_deterministic_and_leaves_global_rng():
    state = torch.random.get_rng_state()
    a = build_model("resnet_mini", (1, 8, 8), 10, generator=torch_generator(3, "init"))
    b = build_model("resnet_mini", (1, 8, 8), 10, generator=torch_generator(3, "init"))
    c = build_model("resnet_mini", (1, 8, 8), 10, generator=torch_generator(4, "init"))
    assert torch.equal(torch.random.get_rng_state(), state)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["head.weight"], sc["head.weight"])
    assert all(torch.isfinite(v).all() for v in sa.values())
    bn = a.body[0][1]
    assert torch.equal(bn.running_var, torch.ones(16)) and torch.equal(bn.weight, torch.ones(16))


def test_vit_and_convnext_custom_parameters_are_initialised():
    vit = build_model("vit_mini", (1, 8, 8), 10)
    tokens = vit.body[0]
    assert 0 < tokens.pos.std().item() < 0.03
    convnext = build_model("convnext_mini", (1, 8, 8), 10)
    gammas = [p for n, p in convnext.named_parameters() if n.endswith("gamma")]
    assert gammas and all(torch.allclose(g, torch.full_like(g, 1e-6)) for g in gammas)


def test_expand_head_keeps_old_rows():
    model = build_model("mlp", (1, 8, 8), 5)
    x = torch.randn(4, 1, 8, 8, generator=torch_generator(0, "x"))
    before = model(x)
    expand_head(model, 8, generator=torch_generator(0, "head"))
    after = model(x)
    assert get_head(model).out_features == 8
    assert torch.allclose(after[:, :5], before)
    assert not torch.allclose(after[:, 5:], torch.zeros(4, 3))
    with pytest.raises(InputError, match="num_classes=3 is smaller than the current 8"):
        expand_head(model, 3)


def test_get_set_head_and_count():
    model = build_model("cnn", (1, 8, 8), 10)
    head = get_head(model)
    assert isinstance(head, nn.Linear) and head.in_features == 64
    n = count_parameters(model)
    set_head(model, nn.Linear(64, 3))
    assert count_parameters(model) == n - 7 * 65
    get_head(model).requires_grad_(False)
    assert count_parameters(model) == n - 10 * 65


def test_user_errors():
    with pytest.raises(
        UnknownNameError, match=r"Unknown model 'resnet1'\. Did you mean 'resnet18'"
    ):
        build_model("resnet1", (3, 32, 32), 10)
    with pytest.raises(
        ConfigError, match=r"model 'mlp' has no option 'widht'\. Did you mean 'width'"
    ):
        build_model("mlp", (1, 8, 8), 10, widht=3)
    with pytest.raises(
        InputError,
        match=r"resnet models need image input_shape \(C, H, W\), "
        r"got \(1, 40\)",
    ):
        build_model("resnet_mini", (1, 40), 10)
    with pytest.raises(InputError, match="gru needs sequence input_shape"):
        build_model("gru", (1, 8, 8), 10)
    with pytest.raises(ConfigError, match="wrn needs depth = 6n"):
        build_model("wrn_mini", (1, 8, 8), 10, depth=11)
    with pytest.raises(ConfigError, match="patch size 3 must divide"):
        build_model("vit_mini", (1, 8, 8), 10, patch=3)


def test_options_override_presets():
    wide = build_model("mlp", (1, 8, 8), 10, width=10, depth=1)
    assert count_parameters(wide) == 64 * 10 + 10 + 10 * 10 + 10
