"""Multiple-comparison adjustments of p-values.

Bonferroni (Dunn 1961), Holm's step-down procedure (Holm 1979) for the family-wise error rate and
Benjamini & Hochberg's step-up procedure (1995) for the false-discovery rate. NaN p-values stay
NaN and are not counted in the family size m; adjusted values are clipped to 1. The results match
``statsmodels.stats.multitest.multipletests`` with methods ``"bonferroni"``, ``"holm"`` and
``"fdr_bh"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from axionlab.checks import FloatArray
from axionlab.errors import InputError


def bonferroni(pvalues: Any) -> FloatArray:
    """Bonferroni-adjusted p-values, min(1, m·p).

    Parameters
    ----------
    pvalues
        Array of p-values in [0, 1] (any shape); NaN entries are ignored and returned as NaN.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, same shape as the input.
    """
    return _adjusted(pvalues, lambda s, m: s * m)


def holm(pvalues: Any) -> FloatArray:
    """Holm step-down adjusted p-values (Holm 1979).

    The i-th smallest of m p-values becomes max_{j<=i} min(1, (m − j + 1) p_(j)), so the adjusted
    values are monotone in the raw ones.

    Parameters
    ----------
    pvalues
        Array of p-values in [0, 1] (any shape); NaN entries are ignored and returned as NaN.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, same shape as the input.
    """
    return _adjusted(pvalues, lambda s, m: np.maximum.accumulate((m - np.arange(m)) * s))


def benjamini_hochberg(pvalues: Any) -> FloatArray:
    """Benjamini–Hochberg step-up adjusted p-values (FDR q-values; Benjamini & Hochberg 1995).

    The i-th smallest of m p-values becomes min_{j>=i} min(1, m p_(j) / j).

    Parameters
    ----------
    pvalues
        Array of p-values in [0, 1] (any shape); NaN entries are ignored and returned as NaN.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, same shape as the input.
    """
    return _adjusted(
        pvalues, lambda s, m: np.minimum.accumulate((s * m / np.arange(1, m + 1))[::-1])[::-1]
    )


def _adjusted(pvalues: Any, adjust: Callable[[FloatArray, int], FloatArray]) -> FloatArray:
    """Apply ``adjust(sorted finite p-values, m)`` and put the results back, clipped to 1."""
    p, finite = _prepare(pvalues)
    vals = p[finite]
    order = np.argsort(vals, kind="stable")
    adj = np.empty(len(vals))
    adj[order] = np.minimum(1.0, adjust(vals[order], len(vals)))
    out = np.full(p.shape, np.nan)
    out[finite] = adj
    return out


def _prepare(pvalues: Any) -> tuple[FloatArray, np.ndarray[Any, np.dtype[np.bool_]]]:
    try:
        p = np.array(pvalues, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"pvalues must be numeric, got {type(pvalues).__name__}") from exc
    finite = ~np.isnan(p)
    if ((p[finite] < 0) | (p[finite] > 1)).any():
        raise InputError("pvalues must lie in [0, 1] (or be NaN)")
    return p, finite
