"""EXP-04's tables, and everything the report states about them.

Each unit's ``sequence`` phase stores the curves (``curves.npz``) and a summary: the
:class:`~axionlab.quantum.SequenceSummary` of its sequence experiment under the column names below

- stability: decay rate −ln p of fidelity, purity and Loschmidt echo (``A·pᵐ + B`` fits; nan with
  a reason for a non-finite curve) and their values at the longest length;
- ordering sensitivity at the longest length: mean pairwise trace distance between the outputs of
  ``n_orderings`` random orderings of the same operators, and the outputs' variance;
- diversity: distinct operators, frame potentials F₁ and F₂, mean commutator norm;
- behavioural uncertainty at the longest length: measurement entropy of this ordering, its mean and
  variance over the random orderings, and the von Neumann entropy;
- closed form: the quantities with an exact prediction (``dev_<quantity>``, NaN where none) and
  the largest deviation of the measurement from them.

:func:`analyse` writes ``results.csv`` (one row per unit), ``summary.csv`` (mean and Student-t CI
over seeds per sweep point and metric), ``tables/beyond_closed_form.csv`` (sweep points without
any closed form), ``tables/ordering_vs_entropy.csv`` (per noise level: where ordering matters and
how often the measurement entropy misses it) and ``tables/exclusions.csv`` (every undefined
outcome and its reason). :func:`read_tables` reads them back typed and derives what the report
shows (:class:`ReportTables`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from axionlab.protocols.base import Unit, phase_summary, require_phase
from axionlab.protocols.exp04.config import (
    AnalysisSection,
    Exp04Config,
    Exp04Point,
    noise_level,
)
from axionlab.quantum import (
    CLOSED_FORM_QUANTITIES,
    SEQUENCE_CURVES,
    SequenceSummary,
    ordering_vs_entropy,
)
from axionlab.runs import Run, Table, parse_bool, parse_float, parse_int, read_npz, read_table
from axionlab.runs.tables import Parser
from axionlab.stats import group_rows, summarise_groups

PHASE = "sequence"
CURVES = SEQUENCE_CURVES
"""The per-length arrays of ``curves.npz`` (besides ``lengths`` and :func:`closed_curve`)."""


def closed_curve(quantity: str) -> str:
    """The ``curves.npz`` array of ``quantity``'s closed-form prediction (when it has one)."""
    return f"closed_{quantity}"


DECAYS = {"fidelity": "fidelity", "purity": "purity", "echo": "loschmidt_echo"}
"""Summary prefix → the decaying curve it is fitted to."""
AT_LONGEST = {
    "ordering_td": "ordering_trace_distance",
    "ordering_var": "ordering_variance",
    "entropy": "measurement_entropy",
    "entropy_mean": "ordering_entropy_mean",
    "entropy_var": "ordering_entropy_var",
    "von_neumann": "von_neumann_entropy",
    "von_neumann_mean": "ordering_von_neumann_mean",
}
"""Summary column → the curve whose value at the longest length it reports."""
RATE = {prefix: f"{prefix}_rate" for prefix in DECAYS}
FINAL = {prefix: f"{prefix}_final" for prefix in DECAYS}
REASON = {prefix: f"{prefix}_rate_reason" for prefix in DECAYS}
"""Why a decay rate is nan (empty: defined)."""
DEV = {q: f"dev_{q}" for q in CLOSED_FORM_QUANTITIES}
POINT_COLUMNS = ("point", "n_qubits", "pool", "diversity", "ordering", "noise", "strength")
REASON_COLUMNS = tuple(REASON.values())
DIVERSITY_METRICS = ("frame_potential_1", "frame_potential_2", "commutator_norm")
METRICS = (
    *(column for d in DECAYS for column in (RATE[d], FINAL[d])),
    *AT_LONGEST,
    *DIVERSITY_METRICS,
)
"""The per-unit numbers summarised over seeds in ``summary.csv``."""
CLOSED_FORM_COLUMNS = ("closed_form", "closed_form_quantities", "closed_form_max_dev")
RESULT_COLUMNS = (
    "unit",
    *POINT_COLUMNS,
    "seed",
    *METRICS,
    "n_distinct",
    *CLOSED_FORM_COLUMNS,
    *DEV.values(),
    *REASON_COLUMNS,
)
SUMMARY_COLUMNS = (*POINT_COLUMNS, "metric", "n", "mean", "ci_low", "ci_high")
BEYOND_METRICS = ("fidelity_rate", "echo_rate", "ordering_td", "entropy_var")
BEYOND_MEAN = {metric: f"{metric}_mean" for metric in BEYOND_METRICS}
BEYOND_COLUMNS = (*POINT_COLUMNS, "n_seeds", *BEYOND_MEAN.values())
ENTROPY_COLUMNS = (
    "noise_level",
    "noise",
    "strength",
    "n_units",
    "ordering_td_mean",
    "ordering_td_max",
    "entropy_sd_mean",
    "order_dependent",
    "entropy_blind",
    "entropy_blind_fraction",
)
EXCLUSION_COLUMNS = ("unit", "what", "reason")
GROUP_COLUMNS = ("pool", "noise", "n_qubits")
"""How the report groups sweep points (closed forms, points beyond closed form)."""
CLOSED_GROUP_COLUMNS = (*GROUP_COLUMNS, "n_units", "closed_form_quantities", "closed_form_max_dev")
BEYOND_GROUP_N = {column: f"n_{metric}" for metric, column in BEYOND_MEAN.items()}
"""How many points of a group have each per-point mean defined (its group mean counts those)."""
BEYOND_GROUP_COLUMNS = (
    *GROUP_COLUMNS,
    "n_points",
    *(c for column in BEYOND_MEAN.values() for c in (column, BEYOND_GROUP_N[column])),
)
ENTROPY_NOISE = "amplitude_damping"
"""The noise model whose levels the summary states one by one: the non-unital channel, under
which the measurement entropy can stay flat while the ordering still matters."""

RESULTS_FILE = "results.csv"
SUMMARY_FILE = "summary.csv"
BEYOND_FILE = "tables/beyond_closed_form.csv"
ENTROPY_FILE = "tables/ordering_vs_entropy.csv"
EXCLUSIONS_FILE = "tables/exclusions.csv"

_POINT_SCHEMA: Mapping[str, Parser] = {
    "n_qubits": parse_int,
    "diversity": parse_int,
    "strength": parse_float,
}
RESULT_SCHEMA: Mapping[str, Parser] = {
    **_POINT_SCHEMA,
    "seed": parse_int,
    **dict.fromkeys(METRICS, parse_float),
    "n_distinct": parse_int,
    "closed_form": parse_bool,
    "closed_form_max_dev": parse_float,
    **dict.fromkeys(DEV.values(), parse_float),
}
SUMMARY_SCHEMA: Mapping[str, Parser] = {
    **_POINT_SCHEMA,
    "n": parse_int,
    **dict.fromkeys(("mean", "ci_low", "ci_high"), parse_float),
}
BEYOND_SCHEMA: Mapping[str, Parser] = {
    **_POINT_SCHEMA,
    "n_seeds": parse_int,
    **dict.fromkeys(BEYOND_MEAN.values(), parse_float),
}
ENTROPY_SCHEMA: Mapping[str, Parser] = {
    "strength": parse_float,
    **dict.fromkeys(("n_units", "order_dependent", "entropy_blind"), parse_int),
    **dict.fromkeys(
        ("ordering_td_mean", "ordering_td_max", "entropy_sd_mean", "entropy_blind_fraction"),
        parse_float,
    ),
}


# --- a unit's phase summary and its row -------------------------------------------------------


def unit_summary(summary: SequenceSummary) -> dict[str, Any]:
    """What a unit's ``sequence`` phase stores: its results.csv columns after the sweep point."""
    out: dict[str, Any] = {}
    for prefix, curve in DECAYS.items():
        out[RATE[prefix]] = summary.decay[curve].rate
        out[REASON[prefix]] = summary.decay[curve].reason
        out[FINAL[prefix]] = summary.final[curve]
    out.update({name: summary.final[curve] for name, curve in AT_LONGEST.items()})
    out.update(
        n_distinct=summary.n_distinct,
        frame_potential_1=summary.frame_potential_1,
        frame_potential_2=summary.frame_potential_2,
        commutator_norm=summary.commutator_norm,
        closed_form=summary.closed_form,
        closed_form_quantities="+".join(summary.closed_form_quantities),
        closed_form_max_dev=summary.closed_form_max_dev,
    )
    out.update({DEV[q]: summary.closed_form_deviation[q] for q in CLOSED_FORM_QUANTITIES})
    return out


def ordering_unpredicted(row: Mapping[str, Any]) -> bool:
    """Whether no closed form fixes the unit's ordering effect (commuting pools: exactly 0)."""
    return math.isnan(float(row[DEV["ordering_trace_distance"]]))


# --- the written tables -----------------------------------------------------------------------


@dataclass(frozen=True)
class Exp04Tables:
    """The run's tables as :func:`analyse` writes them (typed cells)."""

    results: Table
    summary: Table
    beyond: Table
    entropy: Table
    exclusions: Table


def result_row(unit: Unit[Exp04Point], summary: Mapping[str, Any]) -> dict[str, Any]:
    """One row of ``results.csv``: the unit's sweep point, its seed and its phase summary."""
    row = {"unit": unit.id, **asdict(unit.params), "seed": unit.seed, **summary}
    for column in REASON_COLUMNS:  # phases stored before reasons existed
        row.setdefault(column, "")
    return row


def results_table(run: Run, config: Exp04Config) -> Table:
    """``results.csv``: every unit's row (:func:`result_row`), in plan order."""
    rows = [result_row(unit, phase_summary(run, unit.id, PHASE)) for unit in config.units()]
    return Table.of(rows, RESULT_COLUMNS)


def summary_table(results: Iterable[Mapping[str, Any]], ci: float) -> Table:
    """``summary.csv``: mean and Student-t CI over seeds of every metric, per sweep point (long
    format; ``n`` counts the seeds whose value is defined)."""
    rows = [
        {**group.key, "metric": metric, "n": n, "mean": mean, "ci_low": low, "ci_high": high}
        for group in summarise_groups(results, POINT_COLUMNS, METRICS, ci=ci)
        for metric, (mean, low, high, n) in group.metrics.items()
    ]
    return Table.of(rows, SUMMARY_COLUMNS)


def finite_mean(values: Iterable[float]) -> float:
    """Mean over the defined (finite) values; nan when none is."""
    v = np.asarray(list(values), dtype=float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else math.nan


def beyond_closed_form(results: Iterable[Mapping[str, Any]]) -> Table:
    """Sweep points where no quantity has a closed form: only the measurement says anything.

    Each mean is over the seeds whose value is finite (an infinite decay rate is left out too).
    """
    rows = []
    for group in group_rows(results, "point"):
        if group[0]["closed_form"]:
            continue
        row: dict[str, Any] = {k: group[0][k] for k in POINT_COLUMNS}
        row["n_seeds"] = len(group)
        for metric, column in BEYOND_MEAN.items():
            row[column] = finite_mean(r[metric] for r in group)
        rows.append(row)
    return Table.of(rows, BEYOND_COLUMNS)


def ordering_entropy_table(
    results: Iterable[Mapping[str, Any]], analysis: AnalysisSection
) -> Table:
    """Per noise level, :func:`~axionlab.quantum.ordering_vs_entropy` over the units with at least
    two distinct operators whose ordering effect no closed form fixes (and whose trace distance
    and entropy variance are finite); a noise level without such units has no row."""
    candidates = [
        r
        for r in results
        if r["diversity"] >= 2
        and ordering_unpredicted(r)
        and math.isfinite(r["ordering_td"])
        and math.isfinite(r["entropy_var"])
    ]
    rows = []
    for group in group_rows(candidates, "noise", "strength"):
        s = ordering_vs_entropy(
            [r["ordering_td"] for r in group],
            [r["entropy_var"] for r in group],
            order_threshold=analysis.order_threshold,
            entropy_threshold=analysis.entropy_threshold,
        )
        noise, strength = group[0]["noise"], group[0]["strength"]
        rows.append(
            {
                "noise_level": noise_level(noise, strength),
                "noise": noise,
                "strength": strength,
                "n_units": s.n_units,
                "ordering_td_mean": s.trace_distance_mean,
                "ordering_td_max": s.trace_distance_max,
                "entropy_sd_mean": s.entropy_sd_mean,
                "order_dependent": s.order_dependent,
                "entropy_blind": s.entropy_blind,
                "entropy_blind_fraction": s.entropy_blind_fraction,
            }
        )
    return Table.of(rows, ENTROPY_COLUMNS)


def exclusion_table(results: Iterable[Mapping[str, Any]]) -> Table:
    """Every unit and outcome left out of the analysis (nan in results.csv), with its reason."""
    rows = [
        {"unit": r["unit"], "what": column.removesuffix("_reason"), "reason": r[column]}
        for r in results
        for column in REASON_COLUMNS
        if r[column]
    ]
    return Table.of(rows, EXCLUSION_COLUMNS)


def tabulate(results: Table, config: Exp04Config) -> Exp04Tables:
    """Every table, from ``results.csv`` alone (see the module docstring)."""
    return Exp04Tables(
        results=results,
        summary=summary_table(results, config.analysis.ci),
        beyond=beyond_closed_form(results),
        entropy=ordering_entropy_table(results, config.analysis),
        exclusions=exclusion_table(results),
    )


def analyse(run: Run, config: Exp04Config) -> Exp04Tables:
    """Build every table from the stored phases and write it under the run directory."""
    tables = tabulate(results_table(run, config), config)
    for name, table in _files(tables).items():
        table.write(run.path / name)
    return tables


def _files(tables: Exp04Tables) -> dict[str, Table]:
    return {
        RESULTS_FILE: tables.results,
        SUMMARY_FILE: tables.summary,
        BEYOND_FILE: tables.beyond,
        ENTROPY_FILE: tables.entropy,
        EXCLUSIONS_FILE: tables.exclusions,
    }


def headline(tables: Exp04Tables, config: Exp04Config) -> dict[str, float]:
    """The tracker's metrics: sizes, the largest closed-form deviation, ordering per noise level."""
    results, entropy = tables.results, tables.entropy
    closed = [
        float(dev)
        for dev, has in zip(
            results.floats("closed_form_max_dev"), results.column("closed_form"), strict=True
        )
        if has
    ]
    out = {
        "units": float(len(results)),
        "points": float(len(config.sweep.points())),
        "beyond_closed_form_points": float(len(tables.beyond)),
        "closed_form_max_dev": max(closed, default=math.nan),
    }
    for level, td, blind in zip(
        entropy.column("noise_level"),
        entropy.floats("ordering_td_mean"),
        entropy.floats("entropy_blind_fraction"),
        strict=True,
    ):
        out[f"ordering_td/{level}"] = float(td)
        out[f"entropy_blind_fraction/{level}"] = float(blind)
    return out


# --- what the report shows ----------------------------------------------------------------------


def read_tables(run: Run) -> Exp04Tables:
    """The tables :func:`analyse` wrote, parsed once into typed cells.

    A run analysed before ``tables/exclusions.csv`` existed reads as having no exclusions.
    """
    exclusions = run.path / EXCLUSIONS_FILE
    return Exp04Tables(
        results=read_table(run.path / RESULTS_FILE, RESULT_SCHEMA),
        summary=read_table(run.path / SUMMARY_FILE, SUMMARY_SCHEMA),
        beyond=read_table(run.path / BEYOND_FILE, BEYOND_SCHEMA),
        entropy=read_table(run.path / ENTROPY_FILE, ENTROPY_SCHEMA),
        exclusions=(
            read_table(exclusions, {}) if exclusions.exists() else Table(EXCLUSION_COLUMNS, ())
        ),
    )


@dataclass(frozen=True)
class MeanOf:
    """A mean over the units of one group that have the value defined (finite), and how many."""

    key: Any
    mean: float
    """nan when no unit of the group has the value defined."""
    n: int


@dataclass(frozen=True)
class EntropyLevel:
    """One :data:`ENTROPY_NOISE` level of ordering_vs_entropy: of ``n_units`` units with k ≥ 2,
    ``order_dependent`` depend on the ordering and ``entropy_blind`` of those keep the
    measurement entropy flat."""

    noise_level: str
    n_units: int
    order_dependent: int
    entropy_blind: int


@dataclass(frozen=True)
class Findings:
    """The numbers behind the report's summary bullets (no expectation is written in)."""

    n_units: int
    n_points: int
    closed_form_points: int
    """Sweep points with a closed form for at least one quantity."""
    closed_form_max_dev: float
    """Largest deviation of the measurement from a closed form (nan: there is none)."""
    ordering_by_level: tuple[tuple[str, float], ...]
    """(noise level, mean trace distance between orderings) of ordering_vs_entropy, largest
    first."""
    ordering_by_diversity: tuple[MeanOf, ...]
    """Mean trace distance per k over every unit whose ordering effect no closed form fixes."""
    predicted_ordering_max: float | None
    """Largest trace distance where a closed form says ordering has no effect (None: no unit)."""
    echo_rate_by_noise: tuple[MeanOf, ...]
    """Mean Loschmidt-echo decay rate per noise model over every unit with it."""
    entropy_levels: tuple[EntropyLevel, ...]
    """Every :data:`ENTROPY_NOISE` level of ordering_vs_entropy, in table order."""
    entropy_blind_elsewhere: tuple[tuple[str, float], ...]
    """(noise level, entropy-blind fraction) of every other level with an order-dependent unit."""


def _mean_by(rows: Sequence[Mapping[str, Any]], key: str, value: str) -> tuple[MeanOf, ...]:
    """Mean of ``value`` per ``key`` over the finite values only (:func:`finite_mean`), with
    their number, in order of first appearance."""
    out = []
    for group in group_rows(rows, key):
        values = [float(r[value]) for r in group]
        n = sum(math.isfinite(v) for v in values)
        out.append(MeanOf(group[0][key], finite_mean(values), n))
    return tuple(out)


def findings(tables: Exp04Tables) -> Findings:
    """What the run measured, as the report's summary states it."""
    rows: list[Mapping[str, Any]] = list(tables.results)
    closed = [r for r in rows if r["closed_form"]]
    predicted = [float(r["ordering_td"]) for r in rows if not ordering_unpredicted(r)]
    entropy: list[Mapping[str, Any]] = list(tables.entropy)
    ranked = sorted(entropy, key=lambda r: -float(r["ordering_td_mean"]))
    return Findings(
        n_units=len(rows),
        n_points=len({r["point"] for r in rows}),
        closed_form_points=len({r["point"] for r in closed}),
        closed_form_max_dev=max(
            (float(r["closed_form_max_dev"]) for r in closed), default=math.nan
        ),
        ordering_by_level=tuple(
            (str(r["noise_level"]), float(r["ordering_td_mean"])) for r in ranked
        ),
        ordering_by_diversity=_mean_by(
            [r for r in rows if ordering_unpredicted(r)], "diversity", "ordering_td"
        ),
        predicted_ordering_max=max(predicted) if predicted else None,
        echo_rate_by_noise=_mean_by(rows, "noise", "echo_rate"),
        entropy_levels=tuple(
            EntropyLevel(
                str(r["noise_level"]),
                int(r["n_units"]),
                int(r["order_dependent"]),
                int(r["entropy_blind"]),
            )
            for r in entropy
            if r["noise"] == ENTROPY_NOISE
        ),
        entropy_blind_elsewhere=tuple(
            (str(r["noise_level"]), float(r["entropy_blind_fraction"]))
            for r in entropy
            if r["noise"] != ENTROPY_NOISE and r["order_dependent"]
        ),
    )


def closed_form_groups(results: Iterable[Mapping[str, Any]]) -> Table:
    """Per pool × noise model × register size: units, which quantities have a closed form (" / "
    between the distinct sets, "—" for none) and the largest deviation from them."""
    rows = []
    for group in group_rows(results, *GROUP_COLUMNS):
        quantities = sorted({str(r["closed_form_quantities"]) for r in group})
        devs = [float(r["closed_form_max_dev"]) for r in group if r["closed_form"]]
        rows.append(
            {
                **{k: group[0][k] for k in GROUP_COLUMNS},
                "n_units": len(group),
                "closed_form_quantities": " / ".join(q or "—" for q in quantities),
                "closed_form_max_dev": max(devs) if devs else math.nan,
            }
        )
    return Table.of(rows, CLOSED_GROUP_COLUMNS)


def beyond_groups(beyond: Iterable[Mapping[str, Any]]) -> Table:
    """The points beyond closed form per pool × noise model × register size: how many, and the
    mean of each of their per-point means over the points where it is defined (finite), with
    that number (:data:`BEYOND_GROUP_N`)."""
    rows = []
    for group in group_rows(beyond, *GROUP_COLUMNS):
        row: dict[str, Any] = {k: group[0][k] for k in GROUP_COLUMNS}
        row["n_points"] = len(group)
        for column in BEYOND_MEAN.values():
            values = [float(r[column]) for r in group]
            row[column] = finite_mean(values)
            row[BEYOND_GROUP_N[column]] = sum(math.isfinite(v) for v in values)
        rows.append(row)
    return Table.of(rows, BEYOND_GROUP_COLUMNS)


@dataclass(frozen=True)
class MetricMap:
    """One metric's mean per diversity k × noise level, per pool (over register sizes, orderings
    and seeds); a relative map is shown divided by ``scale``, its largest cell in the run (an
    absolute one has scale 1)."""

    metric: str
    relative: bool
    diversities: tuple[int, ...]
    levels: tuple[str, ...]
    cells: Mapping[str, npt.NDArray[np.float64]]
    """pool → (len(diversities), len(levels)) means."""
    scale: float

    def shown(self, pool: str) -> npt.NDArray[np.float64]:
        """The pool's map divided by ``scale`` (unchanged when the scale is not positive)."""
        matrix = self.cells[pool]
        return matrix / self.scale if self.scale > 0 else matrix


def noise_levels(config: Exp04Config) -> tuple[str, ...]:
    """The config's noise levels in order, as :func:`~.config.noise_level` names them."""
    return tuple(noise_level(model, s) for model, s in config.sweep.noise_levels())


def metric_map(
    results: Iterable[Mapping[str, Any]], config: Exp04Config, metric: str, *, relative: bool
) -> MetricMap:
    """:class:`MetricMap` of ``metric`` (each cell the mean of its finite values, as every mean
    of the report); relative: divided by its largest cell in the run."""
    levels = noise_levels(config)
    ks = tuple(config.sweep.diversities)
    cells: dict[tuple[str, int, str], list[float]] = defaultdict(list)
    for r in results:
        level = noise_level(str(r["noise"]), float(r["strength"]))
        cells[(str(r["pool"]), int(r["diversity"]), level)].append(float(r[metric]))
    maps = {
        pool: np.array([[finite_mean(cells[(pool, k, level)]) for level in levels] for k in ks])
        for pool in config.sweep.pools
    }
    scale = max(float(np.nanmax(m)) for m in maps.values()) if relative else 1.0
    return MetricMap(metric, relative, ks, levels, maps, scale)


DecaySeries = Mapping[tuple[str, str], Mapping[str, npt.NDArray[np.float64]]]
"""(summary prefix of a decaying curve, noise level) → series label → (units, lengths) curves."""


def decay_series(
    run: Run, results: Iterable[Mapping[str, Any]], config: Exp04Config
) -> DecaySeries:
    """Every unit's decaying curves from its ``curves.npz``, one series per register size (and
    pool when there are several) within each noise level."""
    several_pools = len(config.sweep.pools) > 1
    series: dict[tuple[str, str], dict[str, list[npt.NDArray[np.float64]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for r in results:
        curves = read_npz(require_phase(run, str(r["unit"]), PHASE).path / "curves.npz")
        label = f"n = {r['n_qubits']}" + (f" {r['pool']}" if several_pools else "")
        level = noise_level(str(r["noise"]), float(r["strength"]))
        for prefix, curve in DECAYS.items():
            series[(prefix, level)][label].append(curves[curve])
    return {key: {k: np.stack(v) for k, v in s.items()} for key, s in series.items()}


@dataclass(frozen=True)
class ReportTables:
    """Everything the report shows: the stored tables and what is derived from them."""

    tables: Exp04Tables
    findings: Findings
    closed_form: Table
    """:func:`closed_form_groups` of the results."""
    beyond_groups: Table
    ordering_map: MetricMap
    entropy_var_map: MetricMap
    levels: tuple[str, ...]
    decay: DecaySeries


def report_tables(run: Run, config: Exp04Config) -> ReportTables:
    """Read the run's tables (:func:`read_tables`) and derive the report's from them."""
    tables = read_tables(run)
    results = tables.results
    return ReportTables(
        tables=tables,
        findings=findings(tables),
        closed_form=closed_form_groups(results),
        beyond_groups=beyond_groups(tables.beyond),
        ordering_map=metric_map(results, config, "ordering_td", relative=False),
        entropy_var_map=metric_map(results, config, "entropy_var", relative=True),
        levels=noise_levels(config),
        decay=decay_series(run, results, config),
    )
