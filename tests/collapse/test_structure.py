"""structure_profile: every family measured, an undefined one nan with its reason."""

from __future__ import annotations

import dataclasses
import math

import torch

from axionlab.collapse import neural_collapse, penultimate_features
from axionlab.collapse.structure import structure_profile
from axionlab.errors import InputError
from axionlab.models import build_model, get_head
from axionlab.repro import torch_generator
from axionlab.spectra import layer_spectra, spectra_summary


def _model(width: int) -> torch.nn.Module:
    return build_model("mlp", (16,), 4, generator=torch_generator(0, "init"), width=width, depth=2)


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(40, 16, generator=gen), torch.arange(40) % 4


def test_families_are_the_library_measures_and_columns_come_first() -> None:
    model, (x, y) = _model(32), _data()
    columns = ["spectra_alpha", "nc1", "basin_radius_abs0.1"]
    profile = structure_profile(model, x, y, columns)
    assert list(profile.features)[:3] == columns and profile.reason == ""
    spectra = dataclasses.asdict(spectra_summary(layer_spectra(model)))
    assert all(profile.features[f"spectra_{k}"] == v for k, v in spectra.items())
    head = get_head(model)
    collapse = neural_collapse(penultimate_features(model, x, head=head), y, head.weight, head.bias)
    assert profile.features["nc1"] == collapse.nc1
    assert math.isnan(profile.features["basin_radius_abs0.1"])  # no family set it


def test_an_undefined_family_is_nan_with_its_reason_and_the_others_stay() -> None:
    def basin() -> dict[str, float]:
        raise InputError("the plane's loss at the trained point is nan")

    x, y = _data()
    columns = ["spectra_alpha", "nc1", "basin_radius_abs0.1"]
    # width 4: no weight matrix passes the spectra's size filter
    profile = structure_profile(_model(4), x, y, columns, extra={"basin": basin})
    assert math.isnan(profile.features["spectra_alpha"])
    assert math.isnan(profile.features["basin_radius_abs0.1"])
    assert math.isfinite(profile.features["nc1"])
    assert profile.reason.startswith("spectra: ") and "; basin: the plane's loss" in profile.reason
