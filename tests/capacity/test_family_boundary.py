import numpy as np
import pytest
import torch
from torch import nn

from axionlab.capacity import (
    ArchSpec,
    boundary_measures,
    build_model,
    capacity_family,
    half_mask,
    partition_cut,
)
from axionlab.errors import InputError


def test_family_is_deterministic_and_leaves_global_rng_alone():
    specs = capacity_family("mlp", 12)
    assert len({s.name for s in specs}) == len(specs)
    state = torch.random.get_rng_state()
    a = build_model(specs[0], torch.Generator().manual_seed(5)).state_dict()
    b = build_model(specs[0], torch.Generator().manual_seed(5)).state_dict()
    assert torch.equal(state, torch.random.get_rng_state())
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_family_decorrelates_total_from_boundary():
    for kind, shape in (("mlp", 12), ("cnn", (1, 6, 6))):
        rows = {}
        for spec in capacity_family(kind, shape):
            model = build_model(spec, torch.Generator().manual_seed(0))
            assert model(torch.zeros(3, *spec.input_shape)).shape == (3, 1)
            rows[spec.name] = (spec, boundary_measures(model, spec.input_shape))
        depth = [m for s, m in rows.values() if s.group == "depth"]
        assert len({m.interface_params for m in depth}) == 1
        assert [m.total_params for m in depth] == sorted({m.total_params for m in depth})
        for spec, m in rows.values():
            if spec.group == "bottleneck":
                assert m.hidden_min_cut == min(spec.widths) == m.bottleneck_width
            if spec.group == "frozen":
                assert m.trainable_params == spec.widths[0] + 1
        totals = np.array([m.total_params for _, m in rows.values()])
        cuts = np.array([m.hidden_min_cut for _, m in rows.values()])
        assert (
            abs(np.corrcoef(np.argsort(np.argsort(totals)), np.argsort(np.argsort(cuts)))[0, 1])
            < 0.8
        )


def test_family_validation():
    with pytest.raises(InputError, match="kind must be"):
        capacity_family("rnn", 4)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="input_shape"):
        capacity_family("cnn", 16)


def test_mlp_measures_by_hand():
    model = nn.Sequential(
        nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 8), nn.Tanh(), nn.Linear(8, 3)
    )
    m = boundary_measures(model, 10, cut="1")
    assert m.total_params == 352 + 264 + 27
    assert m.interface_params == 352 + 27
    assert (m.min_cut, m.hidden_min_cut, m.bottleneck_width) == (3, 8, 8)
    assert m.cut_params == 352 + 264
    with pytest.raises(InputError, match="Did you mean '2'"):
        boundary_measures(model, 10, cut="22")


def test_conv_partition_cut_by_hand():
    # Kernel-3 convs on 16 positions: the halves first meet at conv1 positions 7 and 8 (4
    # channels each) and again at the readout (1 unit): 2·4 + 1. When inputs may be cut, cutting
    # all 8 inputs of A is cheaper.
    model = nn.Sequential(
        nn.Conv1d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv1d(4, 8, 3, padding=1),
        nn.Flatten(),
        nn.Linear(128, 1),
    )
    mask = half_mask((1, 16))
    assert partition_cut(model, (1, 16), mask, cut_inputs=False) == 9
    assert partition_cut(model, (1, 16), mask) == 8
    m = boundary_measures(model, (1, 16))
    assert (m.min_cut, m.hidden_min_cut, m.bottleneck_width) == (1, 64, 64)


def test_measures_do_not_touch_the_model():
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3),
        nn.BatchNorm2d(3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.5),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(3, 2),
    )
    model[0].requires_grad_(False)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    boundary_measures(model, (1, 8, 8))
    partition_cut(model, (1, 8, 8), half_mask((1, 8, 8)))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(m.training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == [False, False, True, True, True, True]


def test_unsupported_models_are_refused():
    with pytest.raises(InputError, match="unsupported layer"):
        boundary_measures(nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)), 4)

    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 8), nn.Linear(4, 8)

        def forward(self, x):
            return torch.cat([self.a(x), self.b(x)], 1)

    with pytest.raises(InputError, match="not a chain"):
        boundary_measures(TwoHeads(), 4)
    with pytest.raises(InputError, match="mask must have shape"):
        partition_cut(nn.Linear(4, 1), 4, np.ones(3, dtype=bool))
    spec = ArchSpec("x", "mlp", "t", (4,), (4,), frozen=2)
    with pytest.raises(InputError, match="frozen"):
        build_model(spec, torch.Generator())
