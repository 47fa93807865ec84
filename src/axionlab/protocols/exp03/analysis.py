"""EXP-03's analysis: the column vocabulary, the phase summaries' shape, and the run's tables.

Every column name of ``units.csv``, ``correlations.csv`` and ``tables/exclusions.csv`` is spelled
here once. :func:`analyse` reads each unit's stored phase summaries into one row of
``units.csv``, correlates every integration measure and log parameter count with each outcome
(per dataset and pooled; :func:`axionlab.stats.correlation_table`), lists every undefined value
with its reason, and summarises the criterion measure against its shuffled-time null
(:func:`axionlab.phi.null_bias`). :func:`read_tables` parses the written CSVs back into typed
tables for the report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from axionlab.models import count_parameters, is_recurrent
from axionlab.phi.nulls import (
    INTEGRATION_NAMES,
    NULL_NAMES,
    NullBias,
    integration_values,
    null_bias,
    null_name,
)
from axionlab.phi.probes import BinaryProbe, TimeseriesIntegration
from axionlab.protocols.base import phase_summary
from axionlab.protocols.exp03.config import OUTCOMES, Exp03Config, Exp03Unit, RobustnessSection
from axionlab.runs import (
    Run,
    Table,
    parse_bool,
    parse_float,
    parse_int,
    parse_optional_int,
    parse_text,
    read_json,
    read_table,
    write_json,
)
from axionlab.runs.tables import Parser
from axionlab.stats import correlation_table
from axionlab.stats.table import TABLE_COLUMNS
from axionlab.train import TrainResult, all_finite

# --- vocabulary -----------------------------------------------------------------------------------

GAUSSIAN_COLUMNS = INTEGRATION_NAMES
"""``mi`` and ``<measure>_<partition>`` (nats); nan for feed-forward units."""
NULL_COLUMNS = NULL_NAMES
"""The shuffled-time null of each Gaussian column, in the same order."""
PREDICTORS = (*GAUSSIAN_COLUMNS, "big_phi", "ei", "log_params")
IDENTITY = ("unit", "dataset", "arch", "family", "kind", "seed", "params", "log_params")
TRAIN_OUTCOMES = ("train_acc", "test_acc", "gap")
ROBUST_OUTCOMES = ("noise_acc", "fgsm_acc")
GAUSSIAN_DIAGNOSTICS = (
    "ci_low",
    "ci_high",
    "n_boot_valid",
    "n_transitions",
    "n_trials",
    "hidden",
    "spectral_radius",
)
PROBE_COLUMNS = ("big_phi", "big_phi_max", "ei", "n_reachable", "probe")
REASONS = ("train_reason", "robustness_reason", "phi_exact_reason")
UNIT_COLUMNS: tuple[str, ...] = (
    *IDENTITY,
    *TRAIN_OUTCOMES,
    *ROBUST_OUTCOMES,
    *GAUSSIAN_COLUMNS,
    *NULL_COLUMNS,
    *GAUSSIAN_DIAGNOSTICS,
    "partition",
    "reason",
    *PROBE_COLUMNS,
    "diverged",
    "diverged_step",
    *REASONS,
)
"""Columns of units.csv in order (Gaussian columns nan for feed-forward units)."""

ALPHA = 0.05
"""Significance level of every test the report names (Holm-adjusted, or per dataset unadjusted)."""
RECURRENT, FEEDFORWARD = "recurrent", "feedforward"
POOLED = "all"
"""Dataset label of the correlations pooled over datasets."""
EXCLUSION_COLUMNS = ("unit", "what", "reason", "step")
REASON_COLUMNS = (
    ("train_reason", "training (every outcome and measure)"),
    ("reason", "phi_gaussian (VAR(1) measures)"),
    ("phi_exact_reason", "phi_exact (Φ, EI)"),
    ("robustness_reason", "robustness (noise_acc, fgsm_acc)"),
)
"""Each reason column of units.csv and the values it leaves undefined."""

PHASE_FILES = {
    "phi_gaussian": "measures.json",
    "phi_exact": "probe.json",
    "robustness": "robustness.json",
}
"""The file each measuring phase stores its summary in."""
TRAIN_DIVERGED = "train_diverged"

UNIT_SCHEMA: Mapping[str, Parser] = {
    **dict.fromkeys(("unit", "dataset", "arch", "family", "kind"), parse_text),
    "seed": parse_int,
    "params": parse_int,
    **dict.fromkeys(
        (
            "log_params",
            *TRAIN_OUTCOMES,
            *ROBUST_OUTCOMES,
            *GAUSSIAN_COLUMNS,
            *NULL_COLUMNS,
            # nan (not a count) for feed-forward units, which have no VAR(1) fit
            *GAUSSIAN_DIAGNOSTICS,
            "big_phi",
            "big_phi_max",
            "ei",
        ),
        parse_float,
    ),
    "n_reachable": parse_int,
    "diverged": parse_bool,
    "diverged_step": parse_optional_int,
}
CORRELATION_SCHEMA: Mapping[str, Parser] = {
    **dict.fromkeys(TABLE_COLUMNS, parse_float),
    **dict.fromkeys(("predictor", "outcome", "dataset"), parse_text),
    "n": parse_int,
}
EXCLUSION_SCHEMA: Mapping[str, Parser] = {"step": parse_optional_int}


def unit_columns() -> list[str]:
    """Columns of units.csv in order (see :data:`UNIT_COLUMNS`)."""
    return list(UNIT_COLUMNS)


# --- phase summaries ------------------------------------------------------------------------------


def train_summary(
    model: nn.Module,
    result: TrainResult,
    unit: Exp03Unit,
    seed: int,
    train_eval: tuple[float, float],
    test_eval: tuple[float, float],
) -> dict[str, Any]:
    """The ``train`` summary: accuracies and gap (from the ``(loss, accuracy)`` evaluations of
    the train and test sets), size, what the unit is and whether training diverged."""
    (_, train_acc), (test_loss, test_acc) = train_eval, test_eval
    return {
        "train_acc": train_acc,
        "test_acc": test_acc,
        "test_loss": test_loss,
        "gap": train_acc - test_acc,
        "params": count_parameters(model),
        "family": str(getattr(model, "family", unit.architecture.name)),
        "arch": unit.architecture.display,
        "dataset": unit.dataset.name,
        "seed": seed,
        "kind": RECURRENT if is_recurrent(model) else FEEDFORWARD,
        "diverged": result.diverged or not all_finite(model.parameters()),
        "diverged_step": result.diverged_step,
    }


def gaussian_summary(result: TimeseriesIntegration) -> dict[str, Any]:
    """The ``phi_gaussian`` summary of one unit's hidden-state series."""
    summary: dict[str, Any] = integration_values(result)
    summary.update(
        ci_low=result.ci_low,
        ci_high=result.ci_high,
        ci_measure=result.measure,
        n_boot_valid=result.n_boot_valid,
        n_transitions=result.fit.n_transitions,
        n_trials=result.fit.n_trials,
        hidden=result.fit.n_units,
        spectral_radius=result.fit.spectral_radius,
        partition="|".join(" ".join(map(str, part)) for part in result.partition),
        reason=result.reason,
    )
    return summary


def undefined_gaussian(reason: str) -> dict[str, Any]:
    """The ``phi_gaussian`` summary of a unit whose measures are undefined: nan, with why."""
    summary: dict[str, Any] = dict.fromkeys([*GAUSSIAN_COLUMNS, *NULL_COLUMNS], math.nan)
    summary.update(
        ci_low=math.nan,
        ci_high=math.nan,
        n_boot_valid=0,
        n_transitions=0,
        n_trials=0,
        hidden=0,
        spectral_radius=math.nan,
        partition="",
        reason=reason,
    )
    return summary


def probe_summary(probe: BinaryProbe, nodes: int, recurrent: bool) -> dict[str, Any]:
    """The ``phi_exact`` summary of one unit's binarised block."""
    return {
        "ei": probe.ei,
        "big_phi": probe.phi_mean,
        "big_phi_max": probe.phi_max,
        "n_reachable": probe.n_reachable,
        "nodes": nodes,
        "probe": RECURRENT if recurrent else "layer",
        "rows": list(probe.rows),
        "cols": list(probe.cols),
        "phi_exact_reason": "",
    }


def undefined_probe(nodes: int, recurrent: bool, reason: str) -> dict[str, Any]:
    """The ``phi_exact`` summary of a unit whose probe is undefined: nan, with why."""
    return {
        "ei": math.nan,
        "big_phi": math.nan,
        "big_phi_max": math.nan,
        "n_reachable": 0,
        "nodes": nodes,
        "probe": RECURRENT if recurrent else "layer",
        "rows": [],
        "cols": [],
        "phi_exact_reason": reason,
    }


def undefined_robustness(section: RobustnessSection, reason: str) -> dict[str, Any]:
    """The ``robustness`` summary of a unit with no usable model: nan accuracies, with why."""
    return {
        "noise_acc": math.nan,
        "fgsm_acc": math.nan,
        "noise_sigma": section.noise_sigma,
        "fgsm_epsilon": section.fgsm_epsilon,
        "robustness_reason": reason,
    }


# --- tables ---------------------------------------------------------------------------------------


def significant(table: Table, column: str, alpha: float) -> Table:
    """The rows of a correlation table whose p-value ``column`` is below ``alpha``."""
    return Table(
        table.columns,
        tuple(r for r in table if isinstance(p := r[column], float) and p < alpha),
    )


@dataclass(frozen=True)
class UnitCounts:
    """How many units of each kind, and over how many architectures and datasets."""

    units: int
    recurrent: int
    feedforward: int
    architectures: int
    datasets: int


def unit_counts(units: Table) -> UnitCounts:
    """Count the units of a units table by kind, architecture and dataset."""
    return UnitCounts(
        units=len(units),
        recurrent=len(units.where(kind=RECURRENT)),
        feedforward=len(units.where(kind=FEEDFORWARD)),
        architectures=len(set(units.column("arch"))),
        datasets=len(set(units.column("dataset"))),
    )


@dataclass(frozen=True)
class Exp03Tables:
    """A run's analysis: one row per unit, the correlations, the exclusions and the null bias."""

    units: Table
    correlations: Table
    exclusions: Table
    bias: NullBias
    bias_measure: str
    """The column :attr:`bias` summarises (the MIB criterion measure, e.g. ``phi_g_mib``)."""

    @property
    def has_pooled(self) -> bool:
        """Whether the correlations hold pooled rows (only when the run has several datasets)."""
        return POOLED in self.correlations.column("dataset")

    @property
    def pooled(self) -> Table:
        """The correlations over all units: the pooled rows, or the only dataset's."""
        return self.correlations.where(dataset=POOLED) if self.has_pooled else self.correlations

    @property
    def per_dataset(self) -> Table:
        """The correlations within each dataset (none beside :attr:`pooled` with one dataset)."""
        if not self.has_pooled:
            return Table(self.correlations.columns, ())
        return Table(
            self.correlations.columns,
            tuple(r for r in self.correlations if r["dataset"] != POOLED),
        )

    @property
    def recurrent(self) -> Table:
        """The recurrent units, the only ones with Gaussian measures and Φ."""
        return self.units.where(kind=RECURRENT)

    @property
    def counts(self) -> UnitCounts:
        """How many units of each kind, architectures and datasets (:func:`unit_counts`)."""
        return unit_counts(self.units)

    @property
    def surviving(self) -> Table:
        """Every correlation (per dataset and pooled) whose Holm-adjusted p is below
        :data:`ALPHA`: the family Holm corrects over is the whole table."""
        return significant(self.correlations, "p_holm", ALPHA)

    @property
    def per_dataset_significant(self) -> Table:
        """The per-dataset correlations whose unadjusted permutation p is below :data:`ALPHA`."""
        return significant(self.per_dataset, "perm_p", ALPHA)

    @property
    def size_only(self) -> Table:
        """The correlations over all units of size alone (``log_params``) with each outcome."""
        return self.pooled.where(predictor="log_params")


PHASES = ("train", "robustness", "phi_gaussian", "phi_exact")
"""The phases a unit stores (``phi_gaussian`` for recurrent units only)."""


def stored_summaries(run: Run, unit: str) -> dict[str, Mapping[str, Any]]:
    """The summaries of ``unit``'s complete phases (checksums verified), by phase name."""
    trained = phase_summary(run, unit, "train")
    phases = [p for p in PHASES if trained["kind"] == RECURRENT or p != "phi_gaussian"]
    return {phase: phase_summary(run, unit, phase) for phase in phases}


def unit_row(unit: str, summaries: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One row of units.csv from a unit's phase summaries (see :func:`stored_summaries`)."""
    trained = summaries["train"]
    row: dict[str, Any] = {
        k: trained[k]
        for k in ("dataset", "arch", "family", "kind", "seed", "params", *TRAIN_OUTCOMES)
    }
    diverged = bool(trained.get("diverged", False))
    row.update(
        unit=unit,
        log_params=math.log10(trained["params"]),
        diverged=diverged,
        diverged_step=trained.get("diverged_step"),
        train_reason=TRAIN_DIVERGED if diverged else "",
    )
    if diverged:  # a diverged net's accuracies are not outcomes (evaluate gives nan)
        row.update(train_acc=math.nan, test_acc=math.nan, gap=math.nan)
    row.update(summaries["robustness"])
    if trained["kind"] == RECURRENT:
        row.update(summaries["phi_gaussian"])
    else:
        row.update(
            dict.fromkeys([*GAUSSIAN_COLUMNS, *NULL_COLUMNS, *GAUSSIAN_DIAGNOSTICS], math.nan)
        )
    row.update(summaries["phi_exact"])
    return {k: row.get(k, "") for k in UNIT_COLUMNS}


def exclusion_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every unit and outcome family left out of the analysis (nan), with its reason.

    A unit whose training diverged is named once (every value of it is undefined); otherwise
    each phase that stored a reason is named.
    """
    out: list[dict[str, Any]] = []
    for r in rows:
        if r["train_reason"]:
            column, what = REASON_COLUMNS[0]
            out.append(
                {"unit": r["unit"], "what": what, "reason": r[column], "step": r["diverged_step"]}
            )
            continue
        for column, what in REASON_COLUMNS[1:]:
            if r[column]:
                out.append({"unit": r["unit"], "what": what, "reason": r[column], "step": None})
    return out


def criterion_column(config: Exp03Config) -> str:
    """The column of the MIB criterion measure (the one with a bootstrap CI)."""
    return f"{config.phi_gaussian.measure}_mib"


def bias_of(units: Table, column: str) -> NullBias:
    """How far ``column`` stands above its shuffled-time null over the units of ``units``."""
    return null_bias(units.floats(column), units.floats(null_name(column)), units.floats("ci_low"))


def tabulate(rows: Sequence[Mapping[str, Any]], config: Exp03Config) -> Exp03Tables:
    """The analysis of units.csv rows (:func:`unit_row`, in plan order): correlations of every
    predictor with every outcome per dataset and pooled, the exclusions and the null bias."""
    units = Table.of(rows, UNIT_COLUMNS)
    correlations = correlation_table(
        [dict(r) for r in units],
        PREDICTORS,
        OUTCOMES,
        group="dataset",
        # with one dataset the pooled rows would repeat its rows and double the Holm family
        pooled=len(config.datasets) > 1,
        covariate="log_params",
        adjust="perm_p",
        n_permutations=config.analysis.n_permutations,
        n_bootstrap=config.analysis.n_bootstrap,
        seed=config.seed,
    )
    measure = criterion_column(config)
    return Exp03Tables(
        units=units,
        correlations=Table.of(correlations, TABLE_COLUMNS),
        exclusions=Table.of(exclusion_rows(list(units)), EXCLUSION_COLUMNS),
        bias=bias_of(units, measure),
        bias_measure=measure,
    )


def write_tables(run: Run, tables: Exp03Tables) -> None:
    """Write units.csv, correlations.csv, tables/exclusions.csv and tables/summary.json."""
    tables.units.write(run.path / "units.csv")
    tables.correlations.write(run.path / "correlations.csv")
    tables.exclusions.write(run.path / "tables" / "exclusions.csv")
    bias = tables.bias
    write_json(
        run.path / "tables" / "summary.json",
        {
            "measure": tables.bias_measure,
            "n_recurrent": bias.n,
            "n_ci_above_null": bias.n_ci_above_null,
            "median_null": bias.median_null,
            "median_ratio": bias.median_ratio,
            "n_units": len(tables.units),
        },
    )


def analyse(run: Run, config: Exp03Config, unit_ids: Sequence[str]) -> Exp03Tables:
    """Tabulate the stored phases of the units ``unit_ids`` and write the tables."""
    rows = [unit_row(unit, stored_summaries(run, unit)) for unit in unit_ids]
    tables = tabulate(rows, config)
    write_tables(run, tables)
    return tables


def headline(tables: Exp03Tables) -> dict[str, float]:
    """Tracker metrics: every defined pooled ρ and the number of units."""
    metrics = {
        f"rho/{r['predictor']}~{r['outcome']}": float(rho)
        for r in tables.pooled
        if isinstance(rho := r["rho"], float) and math.isfinite(rho)
    }
    metrics["units"] = float(len(tables.units))
    return metrics


def read_tables(run: Run) -> Exp03Tables:
    """The tables :func:`analyse` wrote, parsed once into typed columns."""
    exclusions_path = run.path / "tables" / "exclusions.csv"
    exclusions = (
        read_table(exclusions_path, EXCLUSION_SCHEMA)
        if exclusions_path.exists()
        else Table(EXCLUSION_COLUMNS, ())
    )
    summary = read_json(run.path / "tables" / "summary.json")
    bias = NullBias(
        n=int(summary["n_recurrent"]),
        n_ci_above_null=int(summary["n_ci_above_null"]),
        median_null=float(summary["median_null"]),
        median_ratio=float(summary["median_ratio"]),
    )
    return Exp03Tables(
        units=read_table(run.path / "units.csv", UNIT_SCHEMA),
        correlations=read_table(run.path / "correlations.csv", CORRELATION_SCHEMA),
        exclusions=exclusions,
        bias=bias,
        bias_measure=str(summary["measure"]),
    )
