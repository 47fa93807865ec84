"""EXP-01's analysis: a row per unit from its stored phases, then every table of the run.

:func:`analyse` reads each unit's phase summaries once (:class:`UnitPhases`), builds ``units.csv``
(:func:`unit_row`) and from it the correlation tables (per dataset and pooled; by model family;
the structural family), the leave-one-architecture-out ridge table, the slice-to-slice stability
of every topological feature, the exclusions and the departures from the published protocol, and
writes them. :func:`read_tables` parses the written CSVs once into typed tables
(:class:`Exp01Tables`) for the report, with the findings the report states (correlations that
survive Holm correction, single-basin units) as fields of its own.

Every column name lives here: the fixed ones as constants, the per-strategy, per-step and
per-outcome ones built by the small ``*_column`` functions, so that the analysis, the report and
the tests spell them the same way.

Undefined values are states, not numbers: a unit whose task A diverged has ``nan`` predictors and
outcomes with the reason ``task_a_diverged``; an undefined outcome is ``nan`` with its
``<outcome>_reason``; each statistic counts only the defined rows (its ``n``), and
``tables/exclusions.csv`` names every unit, strategy, feature family and outcome left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from axionlab.continual.metrics import DIVERGED
from axionlab.protocols.base import Unit, phase_summary
from axionlab.protocols.exp01.config import (
    CONTROL_FEATURES,
    CURVATURE_FEATURES,
    NONFINITE,
    NONFINITE_SLICE,
    TASK_A_DIVERGED,
    TOPOLOGY_FEATURES,
    Exp01Config,
    Exp01TextDataset,
    Exp01Unit,
)
from axionlab.protocols.exp01.published import DEPARTURE_COLUMNS, protocol_departures
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
from axionlab.runs.tables import Cell, Parser
from axionlab.stats import (
    ICC_COLUMNS,
    RIDGE_COLUMNS,
    TABLE_COLUMNS,
    correlate,
    correlation_table,
    icc_table,
    ridge_table,
)
from axionlab.topology import plane_topology
from axionlab.topology.planes import LEGACY_NEEDS_FINITE

# --- vocabulary: phases ---------------------------------------------------------------------

TASK_A_PHASE = "task_a"
CURVATURE_PHASE = "curvature"
STRUCTURE_PHASE = "structure"


def plane_phase(slice_index: int) -> str:
    return f"plane_{slice_index}"


def topology_phase(slice_index: int) -> str:
    return f"topology_{slice_index}"


def forget_phase(label: str) -> str:
    return f"forget_{label}"


def retention_key(step: int) -> str:
    """The key of ret@k in a forget phase's summary."""
    return f"ret@{step}"


def delta_loss_key(step: int) -> str:
    """The key of a language task's Δloss(k) = loss_A(k) − loss_A(0) in a forget summary."""
    return f"dloss@{step}"


# --- vocabulary: files ----------------------------------------------------------------------

UNITS_CSV = "units.csv"
CORRELATIONS_CSV = "correlations.csv"
BY_FAMILY_CSV = "tables/correlations_by_family.csv"
STRUCTURE_CSV = "tables/correlations_structure.csv"
RIDGE_CSV = "tables/ridge.csv"
STABILITY_CSV = "tables/stability.csv"
EXCLUSIONS_CSV = "tables/exclusions.csv"
DEPARTURES_CSV = "tables/departures.csv"
SUMMARY_JSON = "tables/summary.json"

# --- vocabulary: columns --------------------------------------------------------------------

NAIVE = "naive"
"""The strategy every benefit is measured against (its AURC and ret@k are outcomes)."""
IDENTITY_COLUMNS = ("dataset", "arch", "family", "seed")
"""The first columns of units.csv, copied from the task-A phase's summary."""
UNIT = "unit"
FAMILIES = ("topology", "legacy", "curvature", "structure")
"""Feature families with a ``<family>_reason`` column (curvature/structure when enabled)."""
LOG_PARAMS = "log_params"
EXCLUSION_COLUMNS = ("unit", "what", "reason", "step")
CORRELATION_COLUMNS = TABLE_COLUMNS
STABILITY_COLUMNS = ICC_COLUMNS
RIDGE_TABLE_COLUMNS = RIDGE_COLUMNS
RIDGE_TOPOLOGY = (
    "h0_total_persistence_norm",
    "h1_total_persistence_norm",
    "h0_count_above",
    "h1_count_above",
)
"""The topology features whose addition to a baseline the ridge table tests."""
RIDGE_STRUCTURE = ("spectra_alpha", "nc1", "nc4")
RIDGE_CURVATURE = ("hessian_top_eig", "hessian_trace")
SIGNIFICANCE = 0.05
"""α of the findings: a correlation survives when its Holm-adjusted permutation p is below it."""


def reason_column(what: str) -> str:
    """``<what>_reason``: why a feature family or an outcome is undefined ('' when defined)."""
    return f"{what}_reason"


def spread_column(feature: str) -> str:
    """The sample standard deviation of a topological feature across slices."""
    return f"{feature}_std"


def aurc_column(label: str) -> str:
    return f"aurc_{label}"


def retention_column(step: int, label: str) -> str:
    return f"{retention_key(step)}_{label}"


def delta_loss_column(step: int, label: str) -> str:
    return f"{delta_loss_key(step)}_{label}"


def language_tasks(config: Exp01Config) -> bool:
    """Whether any dataset is a language task, whose task-A loss increase is an outcome too."""
    return any(isinstance(spec, Exp01TextDataset) for spec in config.datasets)


def benefit_column(label: str) -> str:
    """``aurc_<label> − aurc_naive``."""
    return f"{label}_benefit"


def diverged_column(label: str) -> str:
    return f"diverged_{label}"


def diverged_step_column(label: str) -> str:
    return f"diverged_step_{label}"


def effective_strength_column(label: str) -> str:
    return f"effective_strength_{label}"


def stability_ratio_column(label: str) -> str:
    return f"stability_ratio_{label}"


def stability_action_column(label: str) -> str:
    return f"stability_action_{label}"


WARNED, SCALED = "warned", "scaled"
"""The stability actions (:class:`axionlab.continual.stability.StabilityCheck`) of a strategy
found unstable: run as configured, or strength lowered."""


def strategy_labels(config: Exp01Config) -> list[str]:
    return [s.display for s in config.task_b.strategies]


def benefit_labels(config: Exp01Config) -> list[str]:
    """The strategies compared with naive (one benefit outcome each)."""
    return [label for label in strategy_labels(config) if label != NAIVE]


def topology_names(config: Exp01Config) -> list[str]:
    """Every feature a topology phase stores (sorted), legacy statistic included when on."""
    empty = plane_topology(np.full((1, 1), np.nan), legacy=config.topology.legacy)
    return sorted(empty.features)


def predictor_columns(config: Exp01Config) -> list[str]:
    """The predictors correlated with every outcome: topology and control features,
    curvature when on, and log parameter count."""
    topo = [*TOPOLOGY_FEATURES, *CONTROL_FEATURES]
    curvature = list(CURVATURE_FEATURES) if config.curvature.enabled else []
    return [*topo, *curvature, LOG_PARAMS]


def naive_outcome_columns(config: Exp01Config) -> list[str]:
    """The outcomes of naive fine-tuning: its AURC and ret@k at ``analysis.retention_steps``
    (and, with language tasks, its task-A loss increase Δloss(k) at the same steps)."""
    steps = config.analysis.retention_steps
    rises = [delta_loss_column(k, NAIVE) for k in steps] if language_tasks(config) else []
    return [aurc_column(NAIVE), *(retention_column(k, NAIVE) for k in steps), *rises]


def outcome_columns(config: Exp01Config) -> list[str]:
    """The outcomes each predictor is correlated with: naive fine-tuning's AURC and ret@k,
    then each other strategy's benefit over naive."""
    return [*naive_outcome_columns(config), *map(benefit_column, benefit_labels(config))]


def ridge_baselines(config: Exp01Config) -> list[list[str]]:
    """Size (+ curvature), and, with structure, size (+ curvature) + spectra, collapse, basin."""
    size = [LOG_PARAMS, *(RIDGE_CURVATURE if config.curvature.enabled else ())]
    baselines = [size]
    if config.structure.enabled:
        baselines.append([*size, *RIDGE_STRUCTURE, config.structure.basin_columns()[0]])
    return baselines


# --- one row per unit -----------------------------------------------------------------------


@dataclass(frozen=True)
class UnitPhases:
    """The phase summaries one unit's row is built from (what a unit whose task A diverged
    lacks is empty: no topology slices, curvature, structure or forget phases)."""

    unit: str
    task_a: Mapping[str, Any]
    topology: tuple[Mapping[str, Any], ...] = ()
    curvature: Mapping[str, Any] = field(default_factory=dict)
    structure: Mapping[str, Any] = field(default_factory=dict)
    forget: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def task_a_diverged(self) -> bool:
        return bool(self.task_a["task_a_diverged"])


def read_unit(run: Run, config: Exp01Config, unit: Unit[Exp01Unit]) -> UnitPhases:
    """The stored summaries of a unit's phases (each checked by its checksums)."""
    task_a = phase_summary(run, unit.id, TASK_A_PHASE)
    if task_a["task_a_diverged"]:
        return UnitPhases(unit.id, task_a)
    return UnitPhases(
        unit.id,
        task_a,
        topology=tuple(
            phase_summary(run, unit.id, topology_phase(s)) for s in range(config.landscape.slices)
        ),
        curvature=phase_summary(run, unit.id, CURVATURE_PHASE) if config.curvature.enabled else {},
        structure=phase_summary(run, unit.id, STRUCTURE_PHASE) if config.structure.enabled else {},
        forget={
            label: phase_summary(run, unit.id, forget_phase(label))
            for label in strategy_labels(config)
        },
    )


def _reason(*reasons: str) -> str:
    return "; ".join(dict.fromkeys(r for r in reasons if r))


def _slice_features(summary: Mapping[str, Any]) -> dict[str, float]:
    """The float features of a topology phase's summary (without its ``reason``)."""
    return {k: float(v) for k, v in summary.items() if k != "reason"}


def _topology_cells(config: Exp01Config, phases: UnitPhases) -> dict[str, Cell]:
    """Each topological feature's mean and spread over slices, and the two families' reasons.

    A feature is defined only when it is finite on every slice (averaging the finite ones would
    bias it); the legacy statistic has its own reason, as it alone needs a plane without
    non-finite points.
    """
    names = topology_names(config)
    n_slices = config.landscape.slices
    features = {name: np.full(n_slices, np.nan) for name in names}
    reasons: dict[str, list[str]] = {"topology": [], "legacy": []}
    for summary in phases.topology:
        if summary.get("reason", ""):
            family = "legacy" if summary["reason"] == LEGACY_NEEDS_FINITE else "topology"
            reasons[family].append(summary["reason"])
    for s, summary in enumerate(phases.topology):
        for name, value in _slice_features(summary).items():
            features[name][s] = value
    cells: dict[str, Cell] = {}
    for name in names:
        values = features[name]
        defined = bool(np.isfinite(values).all())
        if not phases.task_a_diverged and not defined:
            reasons["legacy" if name.startswith("legacy") else "topology"].append(NONFINITE_SLICE)
        cells[name] = float(values.mean())
        spread = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        cells[spread_column(name)] = spread if defined else math.nan
    for family, found in reasons.items():
        cells[reason_column(family)] = (
            TASK_A_DIVERGED if phases.task_a_diverged else _reason(*found)
        )
    return cells


def _family_cells(
    columns: Sequence[str], summary: Mapping[str, Any], family: str, stated: str, diverged: bool
) -> dict[str, Cell]:
    """A feature family's values (``nan`` where absent) and its reason: ``stated`` (the phase's
    own), else ``nonfinite`` when any value is not finite."""
    cells: dict[str, Cell] = {}
    values = [float(summary.get(k, math.nan)) for k in columns]
    cells.update(zip(columns, values, strict=True))
    finite = all(math.isfinite(v) for v in values)
    cells[reason_column(family)] = (
        TASK_A_DIVERGED if diverged else (stated or ("" if finite else NONFINITE))
    )
    return cells


def _forget_cells(config: Exp01Config, label: str, summary: Mapping[str, Any]) -> dict[str, Cell]:
    """One strategy's outcomes (``nan`` where its task B did not run) and its stability check."""
    cells: dict[str, Cell] = {aurc_column(label): float(summary.get("aurc", math.nan))}
    for step in config.task_b.eval_steps:
        cells[retention_column(step, label)] = float(summary.get(retention_key(step), math.nan))
    if language_tasks(config):
        for step in config.task_b.eval_steps:
            rise = float(summary.get(delta_loss_key(step), math.nan))
            cells[delta_loss_column(step, label)] = rise
    cells[diverged_column(label)] = bool(summary.get("diverged", False))
    cells[diverged_step_column(label)] = summary.get("diverged_step")
    cells[effective_strength_column(label)] = float(summary.get("effective_strength", math.nan))
    cells[stability_ratio_column(label)] = float(summary.get("stability_ratio", math.nan))
    cells[stability_action_column(label)] = summary.get("stability_action", "")
    return cells


def unit_row(config: Exp01Config, phases: UnitPhases) -> dict[str, Cell]:
    """One row of units.csv from a unit's phase summaries.

    Every row has the same columns: a unit whose task A diverged has ``nan`` predictors and
    outcomes with the reason ``task_a_diverged``; an undefined outcome is ``nan`` with its
    ``<outcome>_reason``; ``<label>_benefit = aurc_<label> − aurc_naive``.
    """
    task_a, diverged = phases.task_a, phases.task_a_diverged
    row: dict[str, Cell] = {k: task_a[k] for k in IDENTITY_COLUMNS}
    row.update(
        {
            UNIT: phases.unit,
            "params": task_a["params"],
            LOG_PARAMS: math.log10(task_a["params"]),
            "task_a_acc": task_a["task_a_acc"],
            "task_a_diverged": diverged,
            "task_a_diverged_step": task_a["task_a_diverged_step"],
        }
    )
    row.update(_topology_cells(config, phases))
    if config.curvature.enabled:  # the curvature phase states no reason of its own
        row.update(_family_cells(CURVATURE_FEATURES, phases.curvature, "curvature", "", diverged))
    if config.structure.enabled:
        stated = str(phases.structure.get("reason", ""))
        columns = config.structure.columns()
        row.update(_family_cells(columns, phases.structure, "structure", stated, diverged))
    forget_reason: dict[str, str] = {}
    aurc: dict[str, float] = {}
    for label in strategy_labels(config):
        summary = phases.forget.get(label, {})
        row.update(_forget_cells(config, label, summary))
        forget_reason[label] = TASK_A_DIVERGED if diverged else str(summary["reason"])
        aurc[label] = float(summary.get("aurc", math.nan))
    for label in benefit_labels(config):
        row[benefit_column(label)] = aurc[label] - aurc[NAIVE]
    for outcome in naive_outcome_columns(config):
        row[reason_column(outcome)] = forget_reason[NAIVE]
    for label in benefit_labels(config):
        parts = [f"{lb}: {forget_reason[lb]}" for lb in (label, NAIVE) if forget_reason[lb]]
        row[reason_column(benefit_column(label))] = (
            TASK_A_DIVERGED if diverged else "; ".join(parts)
        )
    return row


# --- tables built from the unit rows --------------------------------------------------------


def exclusion_rows(
    rows: Sequence[Mapping[str, Cell]], config: Exp01Config
) -> list[dict[str, Cell]]:
    """Every unit, strategy, feature family and outcome left out, with its reason and step.

    A unit whose task A diverged is one row (every predictor and outcome); otherwise each
    diverged task B, each undefined family and each outcome undefined for a reason other than a
    divergence already listed.
    """
    out: list[dict[str, Cell]] = []
    for r in rows:
        if r["task_a_diverged"]:
            what = "task A (every predictor and outcome)"
            out.append(_exclusion(r, what, TASK_A_DIVERGED, r["task_a_diverged_step"]))
            continue
        for label in strategy_labels(config):
            if r[diverged_column(label)]:
                what = f"task B with {label}"
                out.append(_exclusion(r, what, DIVERGED, r[diverged_step_column(label)]))
        for family in FAMILIES:
            reason = r.get(reason_column(family), "")
            if reason:
                out.append(_exclusion(r, family, reason, None))
        for outcome in outcome_columns(config):
            reason = r[reason_column(outcome)]
            if isinstance(reason, str) and reason and DIVERGED not in reason:
                out.append(_exclusion(r, outcome, reason, None))
    return out


def _exclusion(row: Mapping[str, Cell], what: str, reason: Cell, step: Cell) -> dict[str, Cell]:
    return {"unit": row[UNIT], "what": what, "reason": reason, "step": step}


def ridge_rows(rows: Sequence[Mapping[str, Cell]], config: Exp01Config) -> list[dict[str, Any]]:
    """Leave-one-architecture-out ridge: does topology add to a baseline of known predictors?

    The baselines are :func:`ridge_baselines`; each is fitted without and with
    :data:`RIDGE_TOPOLOGY` (:func:`axionlab.stats.ridge_table`).
    """
    return ridge_table(
        rows,
        outcome_columns(config),
        ridge_baselines(config),
        RIDGE_TOPOLOGY,
        group="arch",
        n_permutations=config.analysis.ridge_permutations,
        seed=config.seed,
    )


def stability_rows(config: Exp01Config, units: Sequence[UnitPhases]) -> list[dict[str, Any]]:
    """Slice-to-slice agreement of every topological feature (ICC(3,1) and ICC(2,1)).

    Units whose task A diverged have no slices and are left out (``n_units`` counts the rest);
    with a single slice there is nothing to agree and the table is empty.
    """
    slices = config.landscape.slices
    if slices < 2:
        return []
    per_unit = [[_slice_features(s) for s in u.topology] for u in units if not u.task_a_diverged]
    matrices = {
        name: np.array([[sl[name] for sl in unit] for unit in per_unit]).reshape(
            len(per_unit), slices
        )
        for name in topology_names(config)
    }
    return icc_table(matrices)


@dataclass(frozen=True)
class LegacyAgreement:
    """Spearman ρ (and its p) of the lab's legacy H0 statistic with the plane's mean loss."""

    rho: float
    p: float
    n_units: int

    def as_json(self) -> dict[str, Any]:
        return {
            "legacy_vs_window_mean_rho": self.rho,
            "legacy_vs_window_mean_p": self.p,
            "n_units": self.n_units,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LegacyAgreement | None:
        if not data:
            return None
        return cls(
            float(data["legacy_vs_window_mean_rho"]),
            float(data["legacy_vs_window_mean_p"]),
            int(data["n_units"]),
        )


def legacy_agreement(rows: Sequence[Mapping[str, Cell]]) -> LegacyAgreement | None:
    """How closely the legacy H0 statistic tracks the plane's mean loss in this run (units with
    both finite); None when the run computed no legacy statistic."""
    if "legacy_h0_total" not in rows[0]:
        return None
    legacy = np.array([r["legacy_h0_total"] for r in rows])
    mean = np.array([r["window_mean_loss"] for r in rows])
    keep = np.isfinite(legacy) & np.isfinite(mean)
    result = correlate(legacy[keep], mean[keep], n_permutations=0, n_bootstrap=0)
    return LegacyAgreement(result.rho, result.p, int(keep.sum()))


def pooled_rows(table: Table) -> Table:
    """The correlation rows over all units: the pooled ones, or the only dataset's."""
    pooled = table.where(dataset="all")
    return pooled if len(pooled) else table


def surviving(table: Table, alpha: float = SIGNIFICANCE) -> Table:
    """The rows whose Holm-adjusted p is below ``alpha`` (NaN never survives)."""
    keep = table.floats("p_holm") < alpha if len(table) else np.zeros(0, dtype=bool)
    return Table(table.columns, tuple(r for r, k in zip(table.rows, keep, strict=True) if k))


@dataclass(frozen=True)
class Exp01Tables:
    """Every table of an EXP-01 run, typed (``structure`` is None when the family is off)."""

    units: Table
    correlations: Table
    by_family: Table
    structure: Table | None
    ridge: Table
    stability: Table
    exclusions: Table
    departures: Table
    legacy: LegacyAgreement | None

    @property
    def pooled(self) -> Table:
        """The correlations over all units (see :func:`pooled_rows`)."""
        return pooled_rows(self.correlations)

    @property
    def pooled_surviving(self) -> Table:
        """The pooled correlations that survive Holm correction at :data:`SIGNIFICANCE`."""
        return surviving(self.pooled)

    @property
    def structure_pooled(self) -> Table:
        empty = Table(CORRELATION_COLUMNS, ())
        return empty if self.structure is None else pooled_rows(self.structure)

    @property
    def structure_surviving(self) -> Table:
        return surviving(self.structure_pooled)

    @property
    def datasets(self) -> list[str]:
        """The distinct datasets of the units, in plan order."""
        return [str(d) for d in dict.fromkeys(self.units.column("dataset"))]

    @property
    def architectures(self) -> list[str]:
        """The distinct architectures of the units, in plan order."""
        return [str(a) for a in dict.fromkeys(self.units.column("arch"))]

    @property
    def divergences(self) -> Table:
        """The exclusions that are a diverged training (task A, or task B with a strategy)."""
        rows = tuple(r for r in self.exclusions if r["reason"] in (DIVERGED, TASK_A_DIVERGED))
        return Table(self.exclusions.columns, rows)

    @property
    def undefined(self) -> Table:
        """The other exclusions: feature families and outcomes undefined for another reason."""
        rows = tuple(r for r in self.exclusions if r["reason"] not in (DIVERGED, TASK_A_DIVERGED))
        return Table(self.exclusions.columns, rows)

    def unstable(self, label: str) -> Table:
        """The units whose strategy ``label`` has a penalty step unstable under task B's
        optimizer and ran as configured (stability action ``warned``)."""
        return self.units.where(**{stability_action_column(label): WARNED})

    def scaled(self, label: str) -> Table:
        """The units whose strategy ``label`` had its strength lowered to the largest stable
        value (stability action ``scaled``)."""
        return self.units.where(**{stability_action_column(label): SCALED})

    @property
    def trained(self) -> Table:
        """The units whose task A did not diverge (the ones with planes and task B)."""
        return self.units.where(task_a_diverged=False)

    @property
    def single_basin(self) -> list[str]:
        """The architecture of each unit every slice of which is one basin without loops
        (finite H0 and H1 total persistence 0): its topological features are constant."""
        h0 = self.units.floats("h0_total_persistence")
        h1 = self.units.floats("h1_total_persistence")
        archs = self.units.column("arch")
        return [str(a) for a, z0, z1 in zip(archs, h0 == 0.0, h1 == 0.0, strict=True) if z0 and z1]


def build_tables(run: Run, config: Exp01Config, units: Sequence[Unit[Exp01Unit]]) -> Exp01Tables:
    """Every table of the run, from its units' stored phases."""
    return tables_of(config, [read_unit(run, config, unit) for unit in units])


def tables_of(config: Exp01Config, phases: Sequence[UnitPhases]) -> Exp01Tables:
    """Every table of a run whose units stored ``phases`` (in plan order)."""
    rows = [unit_row(config, p) for p in phases]
    predictors = [p for p in predictor_columns(config) if p in rows[0]]
    outcomes = outcome_columns(config)
    stats = config.analysis
    # Holm/Bonferroni adjust the permutation p-values: with few units the t-approximation
    # behind scipy's Spearman p is far too optimistic (n = 3, |ρ| = 1 gives p = 0).
    options: dict[str, Any] = {
        "n_permutations": stats.n_permutations,
        "n_bootstrap": stats.n_bootstrap,
        "seed": config.seed,
        "adjust": "perm_p",
        "covariate": LOG_PARAMS,
    }
    # With one dataset the pooled rows would repeat the per-dataset ones and double the
    # family that Holm corrects over. Undefined (nan) values drop out per test: see n.
    pooled = len(config.datasets) > 1
    correlations = correlation_table(
        rows, predictors, outcomes, group="dataset", pooled=pooled, **options
    )
    by_family = correlation_table(
        rows, predictors, outcomes, group="family", pooled=False, **options
    )
    structure = None
    if config.structure.enabled:
        # their own family: Holm corrects over these tests only, so adding them never moves
        # the p-values of the topology and curvature family above
        structure = Table.of(
            correlation_table(
                rows,
                config.structure.columns(),
                outcomes,
                group="dataset",
                pooled=pooled,
                **options,
            )
        )
    return Exp01Tables(
        units=Table.of(rows),
        correlations=Table.of(correlations),
        by_family=Table.of(by_family),
        structure=structure,
        ridge=Table.of(ridge_rows(rows, config)),
        stability=Table.of(stability_rows(config, phases)),
        exclusions=Table.of(exclusion_rows(rows, config), EXCLUSION_COLUMNS),
        departures=Table.of(protocol_departures(config.model_dump(mode="json")), DEPARTURE_COLUMNS),
        legacy=legacy_agreement(rows),
    )


def write_tables(run: Run, tables: Exp01Tables) -> None:
    """Write every table of ``tables`` under the run (units, correlations, by-family,
    structure when on, ridge, stability, exclusions, departures, summary.json)."""
    tables.units.write(run.path / UNITS_CSV)
    tables.correlations.write(run.path / CORRELATIONS_CSV)
    tables.by_family.write(run.path / BY_FAMILY_CSV)
    if tables.structure is not None:
        tables.structure.write(run.path / STRUCTURE_CSV)
    tables.ridge.write(run.path / RIDGE_CSV)
    tables.stability.write(run.path / STABILITY_CSV)
    tables.exclusions.write(run.path / EXCLUSIONS_CSV)
    tables.departures.write(run.path / DEPARTURES_CSV)
    write_json(run.path / SUMMARY_JSON, {} if tables.legacy is None else tables.legacy.as_json())


def headline(tables: Exp01Tables) -> dict[str, float]:
    """The tracker metrics: every finite pooled ρ (``rho/<predictor>~<outcome>``) and ``units``."""
    metrics: dict[str, float] = {}
    for r in tables.pooled:
        rho = r["rho"]
        if isinstance(rho, float) and math.isfinite(rho):
            metrics[f"rho/{r['predictor']}~{r['outcome']}"] = rho
    metrics["units"] = float(len(tables.units))
    return metrics


def analyse(run: Run, config: Exp01Config, units: Sequence[Unit[Exp01Unit]]) -> dict[str, float]:
    """Build and write every table of the run; return the tracker metrics (:func:`headline`)."""
    tables = build_tables(run, config, units)
    write_tables(run, tables)
    return headline(tables)


# --- reading the tables back ----------------------------------------------------------------


def units_schema(config: Exp01Config) -> dict[str, Parser]:
    """How to parse each non-float column of units.csv (every other column is a float)."""
    schema: dict[str, Parser] = {c: parse_text for c in ("dataset", "arch", "family", UNIT)}
    schema.update(seed=parse_int, params=parse_int, task_a_diverged=parse_bool)
    schema["task_a_diverged_step"] = parse_optional_int
    for what in (*FAMILIES, *outcome_columns(config)):
        schema[reason_column(what)] = parse_text
    for label in strategy_labels(config):
        schema[diverged_column(label)] = parse_bool
        schema[diverged_step_column(label)] = parse_optional_int
        schema[stability_action_column(label)] = parse_text
    return schema


CORRELATION_SCHEMA: dict[str, Parser] = {
    "predictor": parse_text,
    "outcome": parse_text,
    "dataset": parse_text,
    "n": parse_int,
}
RIDGE_SCHEMA: dict[str, Parser] = {
    "outcome": parse_text,
    "baseline": parse_text,
    "extra": parse_text,
    "reason": parse_text,
    "n": parse_int,
    "n_groups": parse_int,
}
STABILITY_SCHEMA: dict[str, Parser] = {
    "feature": parse_text,
    "n_units": parse_int,
    "n_slices": parse_int,
}
EXCLUSION_SCHEMA: dict[str, Parser] = {"step": parse_optional_int}


def read_tables(run: Run, config: Exp01Config) -> Exp01Tables:
    """Parse every table :func:`analyse` wrote, once, into typed columns."""
    path = run.path

    def floats(name: str, schema: Mapping[str, Parser]) -> Table:
        return read_table(path / name, schema, default=parse_float)

    return Exp01Tables(
        units=floats(UNITS_CSV, units_schema(config)),
        correlations=floats(CORRELATIONS_CSV, CORRELATION_SCHEMA),
        by_family=floats(BY_FAMILY_CSV, CORRELATION_SCHEMA),
        structure=(floats(STRUCTURE_CSV, CORRELATION_SCHEMA) if config.structure.enabled else None),
        ridge=floats(RIDGE_CSV, RIDGE_SCHEMA),
        stability=floats(STABILITY_CSV, STABILITY_SCHEMA),
        exclusions=read_table(path / EXCLUSIONS_CSV, EXCLUSION_SCHEMA),
        departures=read_table(path / DEPARTURES_CSV, {}),
        legacy=LegacyAgreement.from_json(read_json(path / SUMMARY_JSON)),
    )
