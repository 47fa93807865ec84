"""boundary_profile: the measures of one architecture, as the boundary functions give them."""

import dataclasses

import pytest
import torch

from axionlab.capacity import (
    bottleneck_layer,
    boundary_measures,
    boundary_profile,
    build_model,
    capacity_family,
    half_mask,
    partition_cut,
)


@pytest.mark.parametrize(("kind", "shape"), [("mlp", (1, 2, 4)), ("cnn", (1, 4, 4))])
def test_profile_is_the_boundary_functions_cut_at_the_bottleneck(kind, shape):
    family = capacity_family(kind, shape, base_width=3, depths=(1, 2), frozen_widths=(4,))
    for spec in [s for s in family if s.group in ("depth", "frozen")][:3]:
        profile = boundary_profile(spec, torch.Generator().manual_seed(0))
        model = build_model(spec, torch.Generator().manual_seed(0))
        layer = bottleneck_layer(boundary_measures(model, spec.input_shape))
        m = boundary_measures(model, spec.input_shape, cut=layer)
        mask = half_mask(spec.input_shape)
        assert profile.measures() == {
            "total_params": m.total_params,
            "trainable_params": m.trainable_params,
            "interface_params": m.interface_params,
            "min_cut": m.min_cut,
            "hidden_min_cut": m.hidden_min_cut,
            "bottleneck_width": m.bottleneck_width,
            "cut_layer": m.cut,
            "cut_params": m.cut_params,
            "partition_cut": partition_cut(model, spec.input_shape, mask, cut_inputs=False),
            "partition_cut_inputs": partition_cut(model, spec.input_shape, mask),
        }
        assert profile.layers == m.layers
        assert set(profile.measures()) == {f.name for f in dataclasses.fields(profile)} - {"layers"}
        # Cuttable inputs can only shorten the cut; frozen layers only remove trainable weights.
        assert profile.partition_cut_inputs <= profile.partition_cut
        assert profile.trainable_params <= profile.total_params


def test_profile_does_not_depend_on_the_weights_drawn():
    spec = capacity_family("mlp", (1, 2, 4), base_width=4, depths=(2,))[0]
    a = boundary_profile(spec, torch.Generator().manual_seed(0))
    b = boundary_profile(spec, torch.Generator().manual_seed(123))
    assert a == b


def test_a_two_layer_mlp_profile_counted_by_hand():
    # Flatten 8 → Linear(8, 3) → ReLU → Linear(3, 1): 8·3 + 3 + 3·1 + 1 = 31 weights; the one
    # output unit is the smallest cut, the 3 hidden units the smallest hidden one, and splitting
    # the 8 inputs into halves is cut by the 3 hidden units (fewer than the 4 inputs of a half).
    spec = capacity_family("mlp", (1, 2, 4), base_width=3, depths=(1,))[0]
    profile = boundary_profile(spec, torch.Generator().manual_seed(0))
    assert profile.measures() == {
        "total_params": 31,
        "trainable_params": 31,
        "interface_params": 31,
        "min_cut": 1,
        "hidden_min_cut": 3,
        "bottleneck_width": 3,
        "cut_layer": "1",
        "cut_params": 31,
        "partition_cut": 3,
        "partition_cut_inputs": 3,
    }
