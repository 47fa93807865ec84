"""Diagram summaries against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from axionlab.errors import InputError
from axionlab.topology import (
    betti_curve,
    bottleneck_distance,
    count_above,
    diagram_features,
    max_persistence,
    normalize_diagram,
    persistence_entropy,
    persistence_image,
    persistence_landscape,
    total_persistence,
    wasserstein_distance,
)

DIAGRAM = np.array([[0.0, np.inf], [1.0, 3.0], [2.0, 3.0], [2.0, 2.5]])
VALUES = np.array([[0.0, 4.0], [1.0, 2.0]])  # dynamic range 4


def test_scalar_summaries_exclude_essential() -> None:
    assert total_persistence(DIAGRAM) == 3.5
    assert total_persistence(DIAGRAM, values=VALUES) == pytest.approx(3.5 / 4)
    assert total_persistence(DIAGRAM, p=2) == pytest.approx(4 + 1 + 0.25)
    assert max_persistence(DIAGRAM) == 2.0
    assert max_persistence(np.empty((0, 2))) == 0.0
    assert count_above(DIAGRAM, 0.5) == 2  # strictly above
    assert count_above(DIAGRAM, 0.3, values=VALUES) == 1
    share = np.array([2, 1, 0.5]) / 3.5
    assert persistence_entropy(DIAGRAM) == pytest.approx(-(share * np.log(share)).sum())
    assert persistence_entropy(np.empty((0, 2))) == 0.0


def test_betti_curve_and_normalisation() -> None:
    np.testing.assert_array_equal(betti_curve(DIAGRAM, [-1, 0, 1, 2, 2.5, 3]), [0, 1, 2, 4, 3, 1])
    np.testing.assert_allclose(normalize_diagram([[1.0, 3.0]], VALUES), [[0.25, 0.75]])
    np.testing.assert_allclose(normalize_diagram([[2.0, 2.0]], np.full(3, 2.0)), [[0.0, 0.0]])
    with pytest.raises(InputError, match="NaN"):
        normalize_diagram(DIAGRAM, [0.0, np.nan])


def test_landscape_reference_values() -> None:
    grid = np.array([1.5, 2.0, 2.25, 3.0])
    land = persistence_landscape(DIAGRAM, grid, k_max=3)
    np.testing.assert_allclose(land[0], [0.5, 1.0, 0.75, 0.0])
    np.testing.assert_allclose(land[1], [0.0, 0.0, 0.25, 0.0])
    np.testing.assert_allclose(land[2], [0.0, 0.0, 0.25, 0.0])
    capped = persistence_landscape(DIAGRAM, [0.5], k_max=1, values=VALUES)  # (0, 1) after capping
    np.testing.assert_allclose(capped, [[0.5]])


def test_image_mass_and_weighting() -> None:
    point = np.array([[0.31, 0.72]])
    image = persistence_image(point, resolution=(50, 50), sigma=0.02)
    assert image.sum() == pytest.approx(0.41, rel=1e-6)  # weight = persistence / 1, Gaussian inside
    i, j = np.unravel_index(image.argmax(), image.shape)
    assert (i, j) == (15, 20)
    with pytest.raises(InputError, match="sigma must be > 0"):
        persistence_image(point, sigma=0)


def test_distances() -> None:
    a = np.array([[0.0, np.inf], [0.0, 1.0]])
    b = np.array([[0.0, np.inf], [0.0, 2.0]])
    assert bottleneck_distance(a, b) == pytest.approx(1.0)
    assert wasserstein_distance(a, b) == pytest.approx(1.0)
    assert bottleneck_distance(a, a * 2, values_a=[0, 1], values_b=[0, 2]) == pytest.approx(0.0)
    assert wasserstein_distance(a, a * 2, values_a=[0, 1], values_b=[0, 2]) == pytest.approx(0.0)


def test_diagram_features_scale_free_variants() -> None:
    h1 = np.array([[1.0, 2.0]])
    feats = diagram_features([DIAGRAM, h1], VALUES, threshold=0.3)
    assert feats["h0_total_persistence"] == 3.5
    assert feats["h0_count"] == 3.0 and feats["h1_count"] == 1.0
    assert feats["h0_count_above"] == 1.0  # only the lifetime 2 exceeds 0.3 * 4
    assert feats["h1_max_persistence_norm"] == pytest.approx(0.25)
    scaled = diagram_features([DIAGRAM * 10, h1 * 10], VALUES * 10, threshold=0.3)
    for key, value in feats.items():
        if key.endswith(("_norm", "count_above", "entropy", "count")):
            assert scaled[key] == pytest.approx(value)
    assert "h0_count_above" not in diagram_features([DIAGRAM])


def test_summaries_do_not_depend_on_the_order_pairs_are_listed_in():
    """Tiles and workers may list a diagram's pairs in any order: every summary is bitwise the
    same for any permutation (sums are taken over sorted lifetimes / pairs)."""
    rng = np.random.default_rng(0)
    values = rng.random((40, 40))
    births = rng.random(500) * 0.9
    diagram = np.column_stack([births, births + rng.random(500) ** 3])
    diagram[:3, 1] = np.inf
    shuffled = diagram[rng.permutation(len(diagram))]
    assert diagram_features([diagram], values=values) == diagram_features([shuffled], values=values)
    for summary in (persistence_image, lambda d: persistence_landscape(d, np.linspace(0, 1, 50))):
        assert np.array_equal(summary(diagram), summary(shuffled))


def test_entropy_ignores_zero_length_pairs():
    with_zero = np.array([[0.0, 1.0], [0.5, 0.5], [0.2, 0.4]])
    assert persistence_entropy(with_zero) == persistence_entropy(with_zero[[0, 2]])
    assert np.isfinite(persistence_entropy(with_zero))
