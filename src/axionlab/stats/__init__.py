"""Statistics shared by every protocol: correlations, corrections, regression, agreement, scaling,
and the ridge and ICC tables of predictor studies.

Small functional APIs over numpy arrays returning frozen results. Randomness comes from an
explicit ``seed`` through :func:`axionlab.repro.numpy_rng` named streams; NaN pairs are dropped
and the number used is reported; degenerate inputs (n < 3, constant variables) give NaN
statistics with a reason.
"""

from axionlab.stats.agreement import ICCResult, KendallW, icc, kendall_w
from axionlab.stats.correlation import (
    CorrelationResult,
    PartialCorrelation,
    correlate,
    correlate_many,
    partial_spearman,
    spearman_p,
)
from axionlab.stats.multiple import benjamini_hochberg, bonferroni, holm
from axionlab.stats.predictors import ICC_COLUMNS, RIDGE_COLUMNS, icc_table, ridge_table
from axionlab.stats.ridge import DEFAULT_ALPHAS, RidgeResult, loo_ridge
from axionlab.stats.scaling import (
    PowerLawComparison,
    PowerLawFit,
    compare_power_laws,
    fit_power_law,
)
from axionlab.stats.summary import (
    BootstrapCI,
    GroupSummary,
    MeanCI,
    bootstrap_ci,
    group_rows,
    mean_ci,
    summarise_groups,
)
from axionlab.stats.table import TABLE_COLUMNS, correlation_table

__all__ = [
    "DEFAULT_ALPHAS",
    "ICC_COLUMNS",
    "RIDGE_COLUMNS",
    "TABLE_COLUMNS",
    "BootstrapCI",
    "CorrelationResult",
    "GroupSummary",
    "ICCResult",
    "KendallW",
    "MeanCI",
    "PartialCorrelation",
    "PowerLawComparison",
    "PowerLawFit",
    "RidgeResult",
    "benjamini_hochberg",
    "bonferroni",
    "bootstrap_ci",
    "compare_power_laws",
    "correlate",
    "correlate_many",
    "correlation_table",
    "fit_power_law",
    "group_rows",
    "holm",
    "icc",
    "icc_table",
    "kendall_w",
    "loo_ridge",
    "mean_ci",
    "partial_spearman",
    "ridge_table",
    "spearman_p",
    "summarise_groups",
]
