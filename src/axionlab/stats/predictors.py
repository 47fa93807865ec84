"""Tables of predictor studies: do extra features add to a baseline, and is a feature stable?

Two tables a study of landscape predictors reports, built from plain rows and arrays (nothing
here knows a protocol's config):

- :func:`ridge_table`: for each baseline feature set and each outcome, leave-one-group-out ridge
  (:func:`~axionlab.stats.loo_ridge`) of the baseline features against baseline + extra
  features, one row per (baseline, outcome), baselines outer, outcomes inner.
- :func:`icc_table`: for each feature, the intraclass correlations ICC(3,1) (consistency) and
  ICC(2,1) (absolute agreement) of a units × slices matrix with the F-test p of ICC(3,1) > 0
  (:func:`~axionlab.stats.icc`, Shrout & Fleiss 1979), one row per feature.

Missing values follow the underlying statistics: a row with NaN (or ``None``) in any input of a
ridge fit is dropped from that fit and ``n`` counts the rest; a unit with NaN on any slice is
dropped from that feature's ICC and ``n_units`` counts the rest. Degenerate inputs give NaN
statistics with a ``reason`` (ridge) or NaN ICCs (constant features).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from axionlab.checks import FloatArray
from axionlab.errors import InputError, did_you_mean
from axionlab.stats.agreement import icc
from axionlab.stats.ridge import DEFAULT_ALPHAS, loo_ridge

RIDGE_COLUMNS: tuple[str, ...] = (
    "outcome",
    "baseline",
    "extra",
    "n",
    "n_groups",
    "mae_null",
    "mae_baseline",
    "mae_full",
    "improvement",
    "perm_p",
    "reason",
)
"""Columns of :func:`ridge_table`; ``baseline`` and ``extra`` join their feature names by '+'."""

ICC_COLUMNS: tuple[str, ...] = ("feature", "icc_3_1", "icc_2_1", "icc_p", "n_units", "n_slices")
"""Columns of :func:`icc_table`."""


def _require(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> None:
    """Every row holds every one of ``names`` (else InputError naming the row and column)."""
    for name in names:
        for i, row in enumerate(rows):
            if name not in row:
                hint = did_you_mean(name, row.keys())
                raise InputError(f"row {i} has no column {name!r}.{hint}".removesuffix("."))


def _features(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> FloatArray:
    """The ``(len(rows), len(names))`` float matrix of those columns (``None`` → NaN)."""
    _require(rows, names)
    values = [[row[name] for name in names] for row in rows]
    return np.array(values, dtype=np.float64).reshape(len(rows), len(names))


def ridge_table(
    rows: Sequence[Mapping[str, Any]],
    outcomes: Sequence[str],
    baselines: Sequence[Sequence[str]],
    extra: Sequence[str],
    *,
    group: str,
    n_permutations: int = 1_000,
    seed: int = 0,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
) -> list[dict[str, Any]]:
    """Leave-one-group-out ridge of every outcome on each baseline, without and with ``extra``.

    Parameters
    ----------
    rows
        One mapping per unit holding every named column (numbers; ``None`` or NaN = missing).
    outcomes
        Target columns, one fit per outcome and baseline.
    baselines
        Feature sets of the baseline models (e.g. ``[["log_params"], ["log_params", "nc1"]]``).
    extra
        Candidate features added to each baseline (at least one).
    group
        Column whose distinct values are held out in turn (e.g. the architecture).
    n_permutations, seed, alphas
        As in :func:`~axionlab.stats.loo_ridge` (each fit uses the same ``seed``).

    Returns
    -------
    list of dict
        Rows with :data:`RIDGE_COLUMNS`, baselines outer, outcomes inner.
    """
    if not extra:
        raise InputError("extra must name at least one feature column")
    _require(rows, [group])
    groups = [row[group] for row in rows]
    extra_values = _features(rows, extra)
    out: list[dict[str, Any]] = []
    for columns in baselines:
        baseline = _features(rows, columns)
        for outcome in outcomes:
            fit = loo_ridge(
                baseline,
                extra_values,
                _features(rows, [outcome])[:, 0],
                groups,
                alphas=alphas,
                n_permutations=n_permutations,
                seed=seed,
            )
            out.append(
                {
                    "outcome": outcome,
                    "baseline": "+".join(columns),
                    "extra": "+".join(extra),
                    "n": fit.n,
                    "n_groups": fit.n_groups,
                    "mae_null": fit.mae_null,
                    "mae_baseline": fit.mae_baseline,
                    "mae_full": fit.mae_full,
                    "improvement": fit.improvement,
                    "perm_p": fit.perm_p,
                    "reason": fit.reason,
                }
            )
    return out


def icc_table(features: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Slice-to-slice agreement of each feature: ICC(3,1), ICC(2,1) and the p of ICC(3,1) > 0.

    Parameters
    ----------
    features
        Feature name → ``(n_units, n_slices)`` matrix of its values (rows = units, columns =
        slices or other raters), in the order the rows should appear.

    Returns
    -------
    list of dict
        Rows with :data:`ICC_COLUMNS`; ``n_units`` counts the units without NaN on any slice,
        ``n_slices`` the columns.
    """
    out: list[dict[str, Any]] = []
    for name, values in features.items():
        matrix = np.asarray(values, dtype=np.float64)
        if matrix.ndim != 2:
            raise InputError(
                f"feature {name!r} must be an (n_units, n_slices) matrix, got shape {matrix.shape}"
            )
        result = icc(matrix)
        out.append(
            {
                "feature": name,
                "icc_3_1": result.icc3_1,
                "icc_2_1": result.icc2_1,
                "icc_p": result.p,
                "n_units": result.n,
                "n_slices": matrix.shape[1],
            }
        )
    return out
