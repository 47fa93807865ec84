"""EXP-02's analysis: the stored phases of a run turned into typed tables, and read back.

The analysis writes ``results.csv`` (one row per architecture), ``fits.csv`` (power laws of the
capacity in bits against every volume and area measure, ranked by AIC, per kind and pooled),
``verdict.json`` (volume vs area per hypothesis, from the ΔAIC between the best measure of each
law, over the pooled scope) and ``tables/cover.csv``, ``tables/cover_curve.csv``,
``tables/readout.csv`` and ``tables/exclusions.csv``. A censored capacity (a seed at either end
of its search range) and an architecture with a non-positive measure are left out of the fits
(:func:`~axionlab.capacity.capacity_exclusion`, :func:`~axionlab.capacity.measure_exclusion`)
and named in ``exclusions.csv``.

Every column name of those tables, and every key of the phase summaries they are read from, is
defined here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from axionlab.capacity import (
    FIT_COLUMNS,
    ArchSpec,
    CapacityResult,
    CoverCalibration,
    LawVerdict,
    ReadoutCapacity,
    capacity_exclusion,
    cover_z,
    fit_rows,
    fitted_capacity,
    law_verdict,
    measure_exclusion,
)
from axionlab.protocols.base import phase_summary, require_phase
from axionlab.protocols.exp02.config import Exp02Config
from axionlab.runs import (
    Run,
    Table,
    parse_float,
    parse_int,
    parse_text,
    read_json,
    read_npz,
    read_table,
    write_json,
)
from axionlab.runs.tables import Parser
from axionlab.stats import compare_power_laws

# --- the vocabulary -------------------------------------------------------------------------

VOLUME_MEASURES = ("total_params", "trainable_params")
AREA_MEASURES = (
    "interface_params",
    "hidden_min_cut",
    "bottleneck_width",
    "cut_params",
    "partition_cut",
)
"""Measures fitted as predictors; ``min_cut`` (at most the output count) and
``partition_cut_inputs`` (at most the smaller input half) are recorded but fixed by the task."""
MEASURES = (*VOLUME_MEASURES, *AREA_MEASURES)
BOUNDARY_COLUMNS = (*MEASURES, "min_cut", "partition_cut_inputs", "cut_layer")
"""The ``boundary`` phase's summary keys copied into results.csv."""

Prefix = Literal["mem", "cut"]
HYPOTHESES: dict[str, Prefix] = {"H-mem": "mem", "H-cut": "cut"}
"""Hypothesis → prefix of its capacity columns in results.csv."""
CAPACITY_PHASES: dict[Prefix, str] = {"mem": "memorization", "cut": "cross_partition"}

CAPACITY_FIELDS = (
    "bits",
    "bits_ci_high",
    "bits_ci_low",
    "evaluations",
    "n_censored",
    "n_seeds",
    "p_max",
    "samples",
    "samples_ci_high",
    "samples_ci_low",
)
"""Keys of a capacity summary (:func:`capacity_summary`), in the order results.csv holds them."""


def capacity_column(prefix: Prefix, field: str) -> str:
    """The results.csv column of one capacity field, e.g. ``mem_bits``."""
    return f"{prefix}_{field}"


def reason_column(prefix: Prefix) -> str:
    """The results.csv column saying why a capacity is not fitted (empty: it is)."""
    return capacity_column(prefix, "bits_reason")


MEASURES_REASON = "measures_reason"
RATIO_COLUMNS = ("bits_per_param", "bits_per_trainable_param", "cut_bits_per_partition_cut")
ARCH_COLUMNS = ("unit", "kind", "group", "widths", "frozen")
RESULT_COLUMNS = (
    *ARCH_COLUMNS,
    *BOUNDARY_COLUMNS,
    *(capacity_column(p, f) for p in CAPACITY_PHASES for f in CAPACITY_FIELDS),
    *RATIO_COLUMNS,
    *(reason_column(p) for p in CAPACITY_PHASES),
    MEASURES_REASON,
)
EXCLUSION_COLUMNS = ("unit", "what", "reason")
COVER_FIELDS = ("N", "lps", "max_abs_dev", "p50", "p50_expected", "p50_se", "trials")
"""Keys of a Cover summary (:func:`cover_summary`), in the order tables/cover.csv holds them."""
COVER_COLUMNS = (*COVER_FIELDS, "p50_z")
COVER_CURVE_COLUMNS = ("N", "P", "fraction", "stderr", "closed_form")
COVER_ARRAYS = ("P", "fraction", "stderr", "closed")
"""Arrays of the ``cover`` phase's curves.npz per N, in the order of COVER_CURVE_COLUMNS[1:]."""
READOUT_FIELDS = ("bits", "bits_ci_low", "bits_ci_high", "n_censored")
READOUT_RATIOS = ("exact_bits_per_param", "trained_bits_per_param", "trainability_gap_bits")
READOUT_COLUMNS = (
    "unit",
    "width",
    "trainable_params",
    *(f"{which}_{k}" for which in ("exact", "trained") for k in READOUT_FIELDS),
    *READOUT_RATIOS,
)
POOLED = "all"
"""The scope pooling every kind (only when the family has more than one)."""

_INTS = ("frozen", "n", "n_dropped", "N", "P", "lps", "trials", "p50_expected", "width")
_TEXT = ("unit", "kind", "group", "widths", "cut_layer", "hypothesis", "scope", "predictor")
SCHEMA: dict[str, Parser] = {
    **{c: parse_int for c in _INTS},
    **{c: parse_int for c in RESULT_COLUMNS + READOUT_COLUMNS if c.endswith("n_censored")},
    **{capacity_column(p, f): parse_int for p in CAPACITY_PHASES for f in ("n_seeds", "p_max")},
    **{capacity_column(p, "evaluations"): parse_int for p in CAPACITY_PHASES},
    **{c: parse_text for c in (*_TEXT, "law", "reason", "what", MEASURES_REASON)},
    **{reason_column(p): parse_text for p in CAPACITY_PHASES},
}
"""Parsers of every column of the tables (any other column is a float)."""


def cover_key(n: int) -> str:
    """Key in the ``cover`` phase summary of the calibration at dimension ``n``."""
    return f"N{n}"


def cover_array(index: int, n: int) -> str:
    """Name in curves.npz of the ``COVER_ARRAYS[index]`` array of dimension ``n``."""
    return f"{COVER_ARRAYS[index]}_{n}"


# --- phase summaries (written by the protocol, read here) -----------------------------------


def capacity_summary(result: CapacityResult, p_max: int) -> dict[str, Any]:
    """The summary of a capacity phase: mean samples and bits with their t intervals."""
    bits_low, bits_high = result.bits_ci
    return {
        "samples": result.mean,
        "samples_ci_low": result.ci_low,
        "samples_ci_high": result.ci_high,
        "bits": result.bits,
        "bits_ci_low": bits_low,
        "bits_ci_high": bits_high,
        "n_seeds": len(result.seeds),
        "n_censored": sum(result.censored),
        "evaluations": result.evaluations,
        "p_max": p_max,
    }


def readout_summary(spec: ArchSpec, result: ReadoutCapacity, p_max: int) -> dict[str, Any]:
    """The summary of a ``readout`` phase: exact and trained capacity and the trainability gap."""
    return {
        "width": spec.widths[0],
        "trainable_params": result.trainable_params,
        "exact": capacity_summary(result.exact, p_max),
        "trained": capacity_summary(result.trained, p_max),
        "exact_bits_per_param": result.exact_bits_per_param,
        "trained_bits_per_param": result.trained_bits_per_param,
        "trainability_gap_bits": result.trainability_gap,
    }


def cover_summary(calibration: CoverCalibration) -> dict[str, Any]:
    """The summary of one dimension of the ``cover`` phase (keys :data:`COVER_FIELDS`)."""
    return {k: getattr(calibration, k) for k in COVER_FIELDS}


# --- the tables -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PooledVerdict:
    """A hypothesis's verdict (:func:`~axionlab.capacity.law_verdict`) over ``scope``."""

    scope: str
    verdict: LawVerdict


@dataclass(frozen=True)
class Exp02Tables:
    """Every table of an EXP-02 run, as written by :func:`analyse`."""

    results: Table
    fits: Table
    verdicts: Mapping[str, PooledVerdict]
    cover: Table
    cover_curve: Table
    readout: Table
    exclusions: Table


RESULTS, FITS, VERDICTS = "results.csv", "fits.csv", "verdict.json"
COVER, COVER_CURVE = "tables/cover.csv", "tables/cover_curve.csv"
READOUT, EXCLUSIONS = "tables/readout.csv", "tables/exclusions.csv"


def _ratio(num: float, den: float) -> float:
    """``num / den``, nan where the denominator is 0 (a measure that is undefined here)."""
    return num / den if den else math.nan


def result_row(run: Run, spec: ArchSpec) -> dict[str, Any]:
    """One row of results.csv, read from the architecture's stored phases."""
    boundary = phase_summary(run, spec.name, "boundary")
    row: dict[str, Any] = {
        "unit": spec.name,
        "kind": spec.kind,
        "group": spec.group,
        "widths": "-".join(map(str, spec.widths)),
        "frozen": spec.frozen,
    }
    row.update({k: boundary[k] for k in BOUNDARY_COLUMNS})
    for prefix, phase in CAPACITY_PHASES.items():
        capacity = phase_summary(run, spec.name, phase)
        row.update({capacity_column(prefix, k): capacity[k] for k in CAPACITY_FIELDS})
    mem, cut = row[capacity_column("mem", "bits")], row[capacity_column("cut", "bits")]
    per_param, per_trainable, per_cut = RATIO_COLUMNS
    row[per_param] = _ratio(mem, row["total_params"])
    row[per_trainable] = _ratio(mem, row["trainable_params"])
    row[per_cut] = _ratio(cut, row["partition_cut"])
    for prefix in CAPACITY_PHASES:
        bits, censored = (row[capacity_column(prefix, k)] for k in ("bits", "n_censored"))
        row[reason_column(prefix)] = capacity_exclusion(bits, censored)
    row[MEASURES_REASON] = measure_exclusion({m: row[m] for m in MEASURES})
    return row


def exclusion_rows(results: Table) -> list[dict[str, Any]]:
    """Every architecture and capacity left out of the fits, with its reason."""
    out: list[dict[str, Any]] = []
    for r in results:
        if r[MEASURES_REASON]:
            what = "every fit (power laws need positive measures)"
            out.append({"unit": r["unit"], "what": what, "reason": r[MEASURES_REASON]})
        for hypothesis, prefix in HYPOTHESES.items():
            if r[reason_column(prefix)]:
                what = f"{hypothesis} ({capacity_column(prefix, 'bits')})"
                out.append({"unit": r["unit"], "what": what, "reason": r[reason_column(prefix)]})
    return out


def scopes(results: Table) -> list[str]:
    """Each kind in order of appearance, then :data:`POOLED` when there is more than one."""
    kinds = [str(k) for k in dict.fromkeys(results.column("kind"))]
    return kinds + ([POOLED] if len(kinds) > 1 else [])


def fit_table(
    results: Table, config: Exp02Config
) -> tuple[list[dict[str, Any]], dict[str, PooledVerdict]]:
    """fits.csv (per hypothesis and scope) and the verdict per hypothesis (last scope: pooled)."""
    stats = config.analysis
    out: list[dict[str, Any]] = []
    verdicts: dict[str, PooledVerdict] = {}
    every = scopes(results)
    for hypothesis, prefix in HYPOTHESES.items():
        for scope in every:
            subset = results if scope == POOLED else results.where(kind=scope)
            # A non-positive measure has no logarithm: its architecture leaves every fit (nan).
            excluded = np.array([bool(r) for r in subset.column(MEASURES_REASON)], dtype=bool)
            predictors = {m: np.where(excluded, math.nan, subset.floats(m)) for m in MEASURES}
            capacity = fitted_capacity(
                subset.floats(capacity_column(prefix, "bits")),
                subset.floats(capacity_column(prefix, "n_censored")),
            )
            ranked = compare_power_laws(
                predictors,
                capacity,
                n_bootstrap=stats.n_bootstrap,
                ci=stats.ci,
                cv_folds=stats.cv_folds,
                seed=config.seed,
            )
            out += fit_rows(ranked, VOLUME_MEASURES, hypothesis=hypothesis, scope=scope)
            if scope == every[-1]:
                verdict = law_verdict(ranked, VOLUME_MEASURES, stats.aic_margin)
                verdicts[hypothesis] = PooledVerdict(scope, verdict)
    return out, verdicts


def cover_rows(run: Run, config: Exp02Config) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Cover calibration: one row per N (with its z), and the curves against the closed form."""
    summary = phase_summary(run, "cover", "cover")
    curves = read_npz(require_phase(run, "cover", "cover").path / "curves.npz")
    rows, curve = [], []
    for n in config.cover.dims:
        s = summary[cover_key(n)]
        rows.append({**s, "p50_z": cover_z(s["p50"], s["p50_expected"], s["p50_se"])})
        arrays = [curves[cover_array(i, n)] for i in range(len(COVER_ARRAYS))]
        curve += [
            {"N": n, "P": int(p), "fraction": float(f), "stderr": float(e), "closed_form": float(c)}
            for p, f, e, c in zip(*arrays, strict=True)
        ]
    return rows, curve


def readout_row(run: Run, spec: ArchSpec) -> dict[str, Any]:
    """One row of tables/readout.csv: exact vs trained readout capacity."""
    s = phase_summary(run, spec.name, "readout")
    row: dict[str, Any] = {k: s[k] for k in ("width", "trainable_params")}
    for which in ("exact", "trained"):
        row.update({f"{which}_{k}": s[which][k] for k in READOUT_FIELDS})
    return {"unit": spec.name, **row, **{k: s[k] for k in READOUT_RATIOS}}


def _verdict_json(verdicts: Mapping[str, PooledVerdict]) -> dict[str, dict[str, Any]]:
    return {h: v.verdict.as_dict() | {"scope": v.scope} for h, v in verdicts.items()}


def analyse(run: Run, config: Exp02Config) -> Exp02Tables:
    """Build every table of the run from its stored phases and write them."""
    results = Table.of([result_row(run, spec) for spec in config.architectures()], RESULT_COLUMNS)
    fits, verdicts = fit_table(results, config)
    cover, curve = cover_rows(run, config)
    readout = [readout_row(run, spec) for spec in config.readout_specs()]
    tables = Exp02Tables(
        results=results,
        fits=Table.of(fits, FIT_COLUMNS),
        verdicts=verdicts,
        cover=Table.of(cover, COVER_COLUMNS),
        cover_curve=Table.of(curve, COVER_CURVE_COLUMNS),
        readout=Table.of(readout, READOUT_COLUMNS),
        exclusions=Table.of(exclusion_rows(results), EXCLUSION_COLUMNS),
    )
    write_tables(run.path, tables)
    return tables


def write_tables(path: Path, tables: Exp02Tables) -> None:
    """Write every table of ``tables`` under the run directory ``path``."""
    tables.results.write(path / RESULTS)
    tables.fits.write(path / FITS)
    tables.cover.write(path / COVER)
    tables.cover_curve.write(path / COVER_CURVE)
    tables.readout.write(path / READOUT)
    write_json(path / VERDICTS, _verdict_json(tables.verdicts))
    tables.exclusions.write(path / EXCLUSIONS)


def headline(tables: Exp02Tables) -> dict[str, float]:
    """The tracker's headline metrics: verdicts, Cover's 50% points, readout bits per param."""
    out = {f"{h}/delta_aic": v.verdict.delta_aic for h, v in tables.verdicts.items()}
    out.update({f"{h}/exponent": v.verdict.exponent for h, v in tables.verdicts.items()})
    cover = tables.cover
    ratios = cover.floats("p50") / cover.floats("p50_expected")
    for n, ratio in zip(cover.floats("N"), ratios, strict=True):
        out[f"cover/p50_over_2N/{cover_key(int(n))}"] = float(ratio)
    readout = tables.readout
    for unit, bits in zip(readout.column("unit"), readout.floats(READOUT_RATIOS[0]), strict=True):
        out[f"readout/{unit}/exact_bits_per_param"] = float(bits)
    out["architectures"] = float(len(tables.results))
    return out


def read_tables(run: Run) -> Exp02Tables:
    """Every table of an analysed run, parsed once into typed columns (see :data:`SCHEMA`)."""
    path = run.path

    def read(name: str, columns: tuple[str, ...] = ()) -> Table:
        if columns and not (path / name).exists():
            return Table.of([], columns)  # written by later versions only
        return read_table(path / name, SCHEMA, default=parse_float)

    verdicts = {
        h: PooledVerdict(v.pop("scope"), LawVerdict(**v))
        for h, v in read_json(path / VERDICTS).items()
    }
    return Exp02Tables(
        results=read(RESULTS),
        fits=read(FITS),
        verdicts=verdicts,
        cover=read(COVER),
        cover_curve=read(COVER_CURVE),
        readout=read(READOUT),
        exclusions=read(EXCLUSIONS, EXCLUSION_COLUMNS),
    )
