"""plane_basins: radii along lines and areas on a stored plane, at the same tolerances."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from axionlab.errors import InputError
from axionlab.landscape import basin_area, basin_radii, plane_basins, random_directions


def _setup(tiny):  # type: ignore[no-untyped-def]
    model = tiny.make_mlp(d_in=4, hidden=6, classes=3)
    data = tiny.make_data(n=20, d_in=4, classes=3)
    gen = torch.Generator().manual_seed(3)
    directions = [random_directions(model, 1, generator=gen)[0] for _ in range(2)]
    axis = np.linspace(-1.0, 1.0, 7)
    values = 1.0 + np.add.outer(axis**2, 2 * axis**2)  # a bowl whose (0, 0) cell has loss 1
    return model, data, directions, {"values": values, "alphas": axis, "betas": axis}


def test_radii_and_areas_are_the_two_probes_at_the_plane_centre(tiny) -> None:  # type: ignore[no-untyped-def]
    model, data, directions, plane = _setup(tiny)
    snap = tiny.snapshot(model)
    found = plane_basins(
        model,
        F.cross_entropy,
        data,
        directions,
        plane,
        deltas=[0.1, 0.5],
        relative=[1.0],
        max_radius=5.0,
        tol=1e-3,
    )
    radii = basin_radii(
        model,
        F.cross_entropy,
        data,
        directions,
        deltas=[0.1, 0.5],
        relative=[1.0],
        max_radius=5.0,
        tol=1e-3,
    )
    np.testing.assert_array_equal(found.radii.radii, radii.radii)
    # the plane's own centre loss (1.0), not the line search's, is the base of the areas
    np.testing.assert_allclose(found.thresholds, [1.1, 1.5, 2.0])
    area = basin_area(plane["values"], [1.1, 1.5, 2.0], center=(3, 3))
    np.testing.assert_array_equal(found.area.fraction, area.fraction)
    assert found.area.fraction[0] == 1 / 49  # only the centre is within 0.1 of it
    assert set(found.arrays()) == {"radii", "thresholds"}
    features = found.features(["abs0.1", "abs0.5", "rel1"])
    assert features["basin_center_loss"] == radii.center_loss
    assert features["basin_radius_abs0.5"] == float(radii.mean[1])
    assert features["basin_area_rel1"] == float(area.fraction[2])
    assert features["basin_area_touches_border_abs0.1"] is False
    tiny.assert_unchanged(model, snap)


def test_undefined_centre_and_misnamed_tolerances_are_input_errors(tiny) -> None:  # type: ignore[no-untyped-def]
    model, data, directions, plane = _setup(tiny)
    plane["values"] = plane["values"].copy()
    plane["values"][3, 3] = math.nan
    with pytest.raises(InputError, match="trained point is nan"):
        plane_basins(model, F.cross_entropy, data, directions, plane, deltas=[0.1], max_radius=2.0)
    plane["values"][3, 3] = 1.0
    found = plane_basins(
        model, F.cross_entropy, data, directions, plane, deltas=[0.1], max_radius=2.0
    )
    with pytest.raises(InputError, match="need 1 tolerance names"):
        found.features(["abs0.1", "abs0.5"])
