"""One table of correlations per (predictor, outcome, dataset), with family-wise corrections.

Every protocol reports its correlations the same way: for each dataset (group) and pooled over all
rows, Spearman ρ with scipy's p, Kendall τ-b, a permutation p, a bootstrap CI, a Spearman partial
correlation given a covariate (e.g. log parameter count; ranks make the log irrelevant), and Holm
and Bonferroni adjustments over the whole family of tests in the table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from axionlab.checks import FloatArray, check_choice
from axionlab.errors import InputError, did_you_mean
from axionlab.repro import derive_seed
from axionlab.stats.correlation import correlate_many, partial_spearman
from axionlab.stats.multiple import bonferroni, holm

TABLE_COLUMNS: tuple[str, ...] = (
    "predictor",
    "outcome",
    "dataset",
    "n",
    "rho",
    "p",
    "tau",
    "perm_p",
    "ci_low",
    "ci_high",
    "p_holm",
    "p_bonf",
    "partial_rho",
    "partial_p",
)


def correlation_table(
    data: Any,
    predictors: Sequence[str],
    outcomes: Sequence[str],
    *,
    group: str | None = None,
    covariate: str | Sequence[str] | None = None,
    pooled: bool = True,
    pooled_label: str = "all",
    adjust: str = "p",
    n_permutations: int = 10_000,
    n_bootstrap: int = 2_000,
    ci: float = 0.95,
    ci_method: str = "percentile",
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Correlate every predictor with every outcome, per dataset and pooled.

    Parameters
    ----------
    data
        A list of dict rows, a dict of columns, or a pandas DataFrame. Missing values may be
        ``None`` or NaN; pairs with a missing value are dropped per test.
    predictors, outcomes
        Column names.
    group
        Column naming the dataset of each row; None treats all rows as one dataset.
    covariate
        Column name(s) to control for in ``partial_rho``/``partial_p`` (NaN when None).
    pooled
        Add rows over all data, labelled ``pooled_label``, when ``group`` is set.
    pooled_label
        Dataset label of the pooled rows.
    adjust
        Which p-value Holm/Bonferroni adjust over the table: ``"p"`` or ``"perm_p"``.
    n_permutations, n_bootstrap, ci, ci_method, seed
        As in :func:`axionlab.stats.correlate`; each (dataset, outcome) uses its own named seed.

    Returns
    -------
    list of dict
        One dict per test with exactly the keys of ``TABLE_COLUMNS``, ordered by dataset (first
        appearance, pooled last), predictor, outcome.

    Raises
    ------
    InputError
        For an unknown column or option.
    """
    check_choice("adjust", adjust, ("p", "perm_p"))
    covariates = [covariate] if isinstance(covariate, str) else list(covariate or [])
    if not predictors or not outcomes:
        raise InputError("correlation_table needs at least one predictor and one outcome")
    names = [*predictors, *outcomes, *covariates, *([group] if group else [])]
    cols = _columns(data, names)
    n_rows = len(next(iter(cols.values())))
    labels = [str(v) for v in cols[group]] if group else [pooled_label] * n_rows

    subsets: list[tuple[str, np.ndarray[Any, np.dtype[np.bool_]]]] = []
    lab = np.array(labels, dtype=object)
    for name in dict.fromkeys(labels):
        subsets.append((name, lab == name))
    if group and pooled:
        subsets.append((pooled_label, np.ones(n_rows, dtype=bool)))

    X = np.column_stack([_numeric(cols[c], c) for c in predictors])  # (n, m)
    Z = (
        np.column_stack([_numeric(cols[c], c) for c in covariates])
        if covariates
        else np.empty((n_rows, 0))
    )
    rows: list[dict[str, Any]] = []
    for dataset, mask in subsets:
        per_outcome = {}
        for outcome in outcomes:
            y = _numeric(cols[outcome], outcome)[mask]
            per_outcome[outcome] = correlate_many(
                X[mask],
                y,
                n_permutations=n_permutations,
                n_bootstrap=n_bootstrap,
                ci=ci,
                ci_method=ci_method,
                seed=derive_seed(seed, "correlation_table", dataset, outcome),
            )
        for j, predictor in enumerate(predictors):
            for outcome in outcomes:
                res = per_outcome[outcome][j]
                part_rho = part_p = float("nan")
                if covariates:
                    y = _numeric(cols[outcome], outcome)[mask]
                    part = partial_spearman(X[mask, j], y, Z[mask])
                    part_rho, part_p = part.rho, part.p
                rows.append(
                    {
                        "predictor": predictor,
                        "outcome": outcome,
                        "dataset": dataset,
                        "n": res.n,
                        "rho": res.rho,
                        "p": res.p,
                        "tau": res.tau,
                        "perm_p": res.perm_p,
                        "ci_low": res.ci_low,
                        "ci_high": res.ci_high,
                        "p_holm": float("nan"),
                        "p_bonf": float("nan"),
                        "partial_rho": part_rho,
                        "partial_p": part_p,
                    }
                )
    family = np.array([r[adjust] for r in rows], dtype=np.float64)
    for r, ph, pb in zip(rows, holm(family), bonferroni(family), strict=True):
        r["p_holm"], r["p_bonf"] = float(ph), float(pb)
    return rows


def _columns(data: Any, names: Sequence[str]) -> dict[str, list[Any]]:
    """Columns ``names`` of a dict of columns, a list of dict rows or a DataFrame-like object."""
    if isinstance(data, Mapping):
        available = [str(k) for k in data]

        def getter(c: str) -> list[Any]:
            return list(data[c])

    elif hasattr(data, "columns") and hasattr(data, "__getitem__"):
        available = [str(k) for k in data.columns]

        def getter(c: str) -> list[Any]:
            return list(data[c])

    elif isinstance(data, Sequence) and all(isinstance(r, Mapping) for r in data):
        if not data:
            raise InputError("data has no rows")
        available = list(dict.fromkeys(str(k) for r in data for k in r))

        def getter(c: str) -> list[Any]:
            return [r.get(c) for r in data]

    else:
        raise InputError(
            f"data must be a list of dict rows, a dict of columns or a DataFrame, got "
            f"{type(data).__name__}"
        )
    out: dict[str, list[Any]] = {}
    for c in dict.fromkeys(names):
        if c not in available:
            raise InputError(
                f"Unknown column {c!r}.{did_you_mean(c, available)} Available: "
                f"{', '.join(available)}"
            )
        out[c] = getter(c)
    lengths = {len(v) for v in out.values()}
    if len(lengths) > 1:
        raise InputError("data columns have different lengths")
    return out


def _numeric(values: list[Any], name: str) -> FloatArray:
    try:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"column {name!r} must be numeric (None/NaN for missing)") from exc
