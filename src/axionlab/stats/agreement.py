"""Agreement and stability across raters/slices: intraclass correlations and Kendall's W.

Matrices are ``(n, k)``: rows are units (targets, models), columns are raters (landscape slices,
seeds). Units with any NaN are dropped and ``n`` counts those that remained.

ICCs follow Shrout & Fleiss (1979) from the two-way ANOVA mean squares BMS (between targets), JMS
(between judges), EMS (residual) and WMS (within targets):

- ICC(1,1) = (BMS − WMS) / (BMS + (k − 1) WMS)
- ICC(2,1) = (BMS − EMS) / (BMS + (k − 1) EMS + k (JMS − EMS) / n)   (absolute agreement)
- ICC(3,1) = (BMS − EMS) / (BMS + (k − 1) EMS)                        (consistency)
- ICC(2,k) = (BMS − EMS) / (BMS + (JMS − EMS) / n),  ICC(3,k) = (BMS − EMS) / BMS

Kendall's coefficient of concordance W (Kendall & Babington Smith 1939) with the tie correction
W = 12 S / (m²(n³ − n) − m Σ T), T = Σ(t³ − t) over tie groups of each rater, and the large-sample
test m (n − 1) W ~ χ²(n − 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from axionlab.checks import FloatArray, as_matrix


@dataclass(frozen=True)
class ICCResult:
    """Shrout & Fleiss intraclass correlations of an ``(n, k)`` matrix.

    ``f`` and ``p`` test ICC(3,1) > 0 (F = BMS/EMS with (n − 1, (n − 1)(k − 1)) dof).
    """

    icc1: float
    icc2_1: float
    icc3_1: float
    icc2_k: float
    icc3_k: float
    f: float
    p: float
    n: int
    k: int
    n_dropped: int = 0
    reason: str = ""


@dataclass(frozen=True)
class KendallW:
    """Kendall's W of ``m`` raters ranking ``n`` units, with its χ² test."""

    w: float
    chi2: float
    p: float
    n: int
    m: int
    n_dropped: int = 0
    reason: str = ""


def _complete_rows(name: str, matrix: Any) -> tuple[FloatArray, int]:
    a = as_matrix(name, matrix)
    keep = ~np.isnan(a).any(axis=1)
    return a[keep], int((~keep).sum())


def icc(matrix: Any) -> ICCResult:
    """Intraclass correlations ICC(1,1), ICC(2,1), ICC(3,1), ICC(2,k), ICC(3,k).

    Parameters
    ----------
    matrix
        ``(n, k)`` array, rows = units, columns = raters/slices. Rows with NaN are dropped.

    Returns
    -------
    ICCResult
        NaN statistics with a ``reason`` when n < 2, k < 2 or the matrix has no variance.

    Notes
    -----
    Shrout, P. E. & Fleiss, J. L. (1979). Intraclass correlations: uses in assessing rater
    reliability. Psychological Bulletin 86(2), 420–428.
    """
    a, dropped = _complete_rows("matrix", matrix)
    n, k = a.shape
    nan = float("nan")
    if n < 2 or k < 2:
        return ICCResult(
            nan, nan, nan, nan, nan, nan, nan, n, k, dropped, f"need n>=2, k>=2, got {n}x{k}"
        )
    grand = a.mean()
    ss_rows = k * ((a.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((a.mean(axis=0) - grand) ** 2).sum()
    ss_total = ((a - grand) ** 2).sum()
    ss_err = ss_total - ss_rows - ss_cols
    bms = ss_rows / (n - 1)
    jms = ss_cols / (k - 1)
    ems = ss_err / ((n - 1) * (k - 1))
    wms = (ss_cols + ss_err) / (n * (k - 1))
    if bms <= 0 and ems <= 0:
        return ICCResult(
            nan, nan, nan, nan, nan, nan, nan, n, k, dropped, "no variance between units"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        f = bms / ems if ems > 0 else np.inf
    p = float(stats.f.sf(f, n - 1, (n - 1) * (k - 1))) if np.isfinite(f) else 0.0
    return ICCResult(
        icc1=float((bms - wms) / (bms + (k - 1) * wms)),
        icc2_1=float((bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n)),
        icc3_1=float((bms - ems) / (bms + (k - 1) * ems)),
        icc2_k=float((bms - ems) / (bms + (jms - ems) / n)),
        icc3_k=float((bms - ems) / bms) if bms > 0 else nan,
        f=float(f),
        p=p,
        n=n,
        k=k,
        n_dropped=dropped,
    )


def kendall_w(matrix: Any) -> KendallW:
    """Kendall's coefficient of concordance of the columns (raters) over the rows (units).

    Parameters
    ----------
    matrix
        ``(n, m)`` array, rows = units, columns = raters/slices; each column is ranked with
        average ranks. Rows with NaN are dropped.

    Returns
    -------
    KendallW
        ``w`` in [0, 1] (1 = identical rankings), χ² statistic and its p; NaN with a ``reason``
        when n < 2, m < 2 or every rater ties all units.

    Notes
    -----
    Kendall, M. G. & Babington Smith, B. (1939). The problem of m rankings. Ann. Math. Stat. 10.
    """
    a, dropped = _complete_rows("matrix", matrix)
    n, m = a.shape
    nan = float("nan")
    if n < 2 or m < 2:
        return KendallW(nan, nan, nan, n, m, dropped, f"need n>=2, m>=2, got {n}x{m}")
    ranks = stats.rankdata(a, axis=0)  # (n, m)
    totals = ranks.sum(axis=1)
    s = float(((totals - totals.mean()) ** 2).sum())
    ties = 0.0
    for j in range(m):
        _, counts = np.unique(a[:, j], return_counts=True)
        ties += float((counts**3 - counts).sum())
    denom = m**2 * (n**3 - n) - m * ties
    if denom <= 0:
        return KendallW(nan, nan, nan, n, m, dropped, "every rater ties all units")
    w = 12.0 * s / denom
    chi2 = m * (n - 1) * w
    return KendallW(w, chi2, float(stats.chi2.sf(chi2, n - 1)), n, m, dropped)
