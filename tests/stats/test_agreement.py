"""ICC against Shrout & Fleiss (1979) Table 2 and Kendall's W against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from axionlab.stats import icc, kendall_w

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.
SF = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]],
    dtype=float,
)


def test_shrout_fleiss_table() -> None:
    res = icc(SF)
    # Mean squares by hand: grand mean 5.25; BMS = 56.21/5, JMS = 97.46/3, EMS = 15.29/15,
    # WMS = (97.46 + 15.29)/18 (Table 3 prints 11.24, 32.49, 1.02, 6.26).
    bms, jms, ems = 56.208333 / 5, 97.458333 / 3, 15.291667 / 15
    wms = (97.458333 + 15.291667) / 18
    n, k = 6, 4
    assert res.icc1 == pytest.approx((bms - wms) / (bms + (k - 1) * wms), abs=1e-6)
    assert res.icc2_1 == pytest.approx(
        (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n), abs=1e-6
    )
    assert res.icc3_1 == pytest.approx((bms - ems) / (bms + (k - 1) * ems), abs=1e-6)
    # Published values (Table 4): .17, .29, .71, .62, .91
    assert round(res.icc1, 2) == 0.17
    assert round(res.icc2_1, 2) == 0.29
    assert round(res.icc3_1, 2) == 0.71
    assert round(res.icc2_k, 2) == 0.62
    assert round(res.icc3_k, 2) == 0.91
    assert res.f == pytest.approx(bms / ems, rel=1e-5)
    assert res.p == pytest.approx(stats.f.sf(bms / ems, 5, 15), rel=1e-4)


def test_icc_nan_rows_and_degenerate() -> None:
    with_nan = np.vstack([SF, [1.0, np.nan, 2.0, 3.0]])
    res = icc(with_nan)
    assert res.n == 6 and res.n_dropped == 1
    assert res.icc3_1 == pytest.approx(icc(SF).icc3_1)
    flat = icc(np.ones((4, 3)))
    assert math.isnan(flat.icc2_1) and flat.reason
    assert icc(np.ones((1, 3))).reason.startswith("need")


def test_icc_perfect_consistency_vs_agreement() -> None:
    base = np.arange(8.0)[:, None]
    shifted = base + np.array([[0.0, 1.0, 2.0]])  # raters differ by constants
    res = icc(shifted)
    assert res.icc3_1 == pytest.approx(1.0)
    assert res.icc2_1 < 1.0


def test_kendall_w_hand_example() -> None:
    m = np.array([[1, 2, 1], [2, 1, 3], [3, 4, 2], [4, 3, 4]], dtype=float)
    res = kendall_w(m)
    # rank totals 4, 6, 9, 11 -> S = 29; W = 12·29 / (3²·(4³ − 4)) = 348/540
    assert res.w == pytest.approx(348 / 540)
    assert res.chi2 == pytest.approx(3 * 3 * 348 / 540)
    assert res.p == pytest.approx(stats.chi2.sf(3 * 3 * 348 / 540, 3))
    # mean pairwise Spearman = (mW − 1)/(m − 1): pairs give 0.6, 0.8, 0.0
    assert (3 * res.w - 1) / 2 == pytest.approx((0.6 + 0.8 + 0.0) / 3)


def test_kendall_w_ties_and_extremes() -> None:
    # column 1 ranks 1.5, 1.5, 3 (T = 2³ − 2 = 6); totals 2.5, 3.5, 6 -> S = 6.5
    # W = 12·6.5 / (2²·(27 − 3) − 2·6) = 78/84
    assert kendall_w([[1, 1], [1, 2], [2, 3]]).w == pytest.approx(78 / 84)
    same = np.tile(np.arange(6.0)[:, None], (1, 4))
    assert kendall_w(same).w == pytest.approx(1.0)
    opposite = np.column_stack([np.arange(6.0), -np.arange(6.0)])
    assert kendall_w(opposite).w == pytest.approx(0.0)
    assert math.isnan(kendall_w(np.ones((5, 3))).w)
