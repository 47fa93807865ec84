"""Multiple-comparison adjustments against hand-computed (statsmodels-convention) values."""

from __future__ import annotations

import numpy as np
import pytest

from axionlab.errors import InputError
from axionlab.stats import benjamini_hochberg, bonferroni, holm

P = np.array([0.01, 0.04, 0.03, 0.005, 0.20])
# sorted: 0.005, 0.01, 0.03, 0.04, 0.20 (m = 5)
# Holm: 5·.005=.025, 4·.01=.04, 3·.03=.09, max(.09, 2·.04)=.09, 1·.2=.2
HOLM = [0.04, 0.09, 0.09, 0.025, 0.20]
BONF = [0.05, 0.20, 0.15, 0.025, 1.0]
# BH: m/j·p = .025, .025, .05, .05, .2 -> running minimum from the top leaves them unchanged
BH = [0.025, 0.05, 0.05, 0.025, 0.20]


def test_hand_computed_values() -> None:
    np.testing.assert_allclose(holm(P), HOLM, atol=1e-12)
    np.testing.assert_allclose(bonferroni(P), BONF, atol=1e-12)
    np.testing.assert_allclose(benjamini_hochberg(P), BH, atol=1e-12)


def test_bh_step_up_minimum() -> None:
    # m/j·p = .4, .3 -> the larger p lifts nothing; the smaller one takes min(.4, .3) = .3
    np.testing.assert_allclose(benjamini_hochberg([0.2, 0.3]), [0.3, 0.3])
    np.testing.assert_allclose(holm([0.2, 0.3]), [0.4, 0.4])


def test_nan_aware_and_clipped() -> None:
    p = np.array([0.01, np.nan, 0.04, 0.6])
    for fn in (holm, bonferroni, benjamini_hochberg):
        out = fn(p)
        assert np.isnan(out[1])
        assert (out[~np.isnan(out)] <= 1.0).all()
    np.testing.assert_allclose(bonferroni(p)[[0, 2, 3]], [0.03, 0.12, 1.0])  # m = 3


def test_monotone_and_ordered() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(size=50) ** 3
    order = np.argsort(p)
    for fn in (holm, benjamini_hochberg):
        assert (np.diff(fn(p)[order]) >= -1e-15).all()
    assert (benjamini_hochberg(p) <= holm(p) + 1e-15).all()
    assert (holm(p) <= bonferroni(p) + 1e-15).all()
    assert (holm(p) >= p).all()


def test_shape_preserved_and_invalid() -> None:
    assert holm(np.full((2, 3), 0.1)).shape == (2, 3)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        holm([0.1, 1.2])
