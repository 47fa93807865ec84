"""plane_topology: the cubical features, the legacy identity, and undefined planes as a state."""

import math

import numpy as np
import pytest

from axionlab.topology import (
    NO_FINITE_LOSS,
    diagram_features,
    plane_topology,
    sublevel_persistence,
)


def test_features_equal_the_diagram_summaries_and_legacy_identity() -> None:
    rng = np.random.default_rng(0)
    values = rng.random((9, 9))
    values[2, 3] = np.nan  # a diverged evaluation enters last, as +inf
    partial = plane_topology(values, threshold=0.05)
    assert partial.reason == "legacy_needs_finite_plane"  # Ripser needs a finite grid graph
    assert math.isnan(partial.features["legacy_h0_total"])
    result = plane_topology(values, threshold=0.05, legacy=False)
    as_inf = np.where(np.isnan(values), np.inf, values)
    expected = diagram_features(sublevel_persistence(as_inf), values=as_inf, threshold=0.05)
    for name, value in expected.items():
        assert result.features[name] == value, name
        assert partial.features[name] == value, name
    finite = as_inf[np.isfinite(as_inf)]
    assert result.features["window_mean_loss"] == finite.mean()
    values[2, 3] = 0.5
    full = plane_topology(values)
    # the lab's published statistic: H0 total without vertex births = Σf − min f + H0 total
    identity = values.sum() - values.min() + full.features["h0_total_persistence"]
    assert math.isclose(full.features["legacy_h0_total"], identity, rel_tol=1e-4)
    assert full.reason == "" and set(full.diagrams) == {"h0", "h1", "legacy_h0", "legacy_h1"}


def test_a_plane_without_finite_loss_is_nan_with_its_reason() -> None:
    result = plane_topology(np.full((5, 5), np.nan))
    assert result.reason == NO_FINITE_LOSS and result.diagrams == {}
    defined = plane_topology(np.ones((5, 5)))
    assert set(result.features) == set(defined.features)  # same columns either way
    assert all(math.isnan(v) for v in result.features.values())
    assert "legacy_h0_total" not in plane_topology(np.ones((3, 3)), legacy=False).features


@pytest.mark.parametrize("seed", range(4))
def test_legacy_identity_on_random_planes(seed: int) -> None:
    # vertex births left at 0: every cell but the global minimum dies once, at the edge that
    # joins it, so the bars sum to Σf − min f plus the true H0 total persistence
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(3, 12)), int(rng.integers(3, 12)))
    values = rng.gamma(2.0, size=shape) + 0.1
    result = plane_topology(values)
    legacy = result.diagrams["legacy_h0"]
    assert len(legacy[np.isfinite(legacy[:, 1])]) == values.size - 1
    identity = values.sum() - values.min() + result.features["h0_total_persistence"]
    assert math.isclose(result.features["legacy_h0_total"], identity, rel_tol=1e-4)
    assert result.features["window_mean_loss"] == pytest.approx(values.mean())
