"""EXP-02: information capacity — area law or volume law?

Two claims are tested separately on one architecture family (:func:`capacity_family`: depth at
fixed width, width at fixed depth, bottlenecks, frozen random layers; MLP and CNN):

- H-mem: memorization capacity of random labels scales with the total (or trainable) parameter
  count, a volume law (~2 bits per weight for a perceptron at its 50% point; Cover 1965);
- H-cut: the capacity for labels that depend jointly on two halves of the input scales with a
  boundary measure, an area law (the separation rank across a partition is bounded by a min-cut of
  the network graph; Levine et al. 2018).

Units are architectures; the seeds live inside each capacity measurement, whose mean and t
interval over seeds are the unit's result. An architecture unit runs three cached phases:

1. ``boundary``: total, trainable and interface parameters, the input–output min-cut, the hidden
   min-cut, the bottleneck width, the parameters of the weight layers next to the bottleneck and
   the min-cut between the two input halves through hidden units (``partition_cut``; with input
   units cuttable too as ``partition_cut_inputs``);
2. ``memorization``: :func:`memorization_capacity` on random labels;
3. ``cross_partition``: :func:`cross_partition_capacity` on the configured cross-partition task.

Each search runs up to ``bisection.p_max_per_param`` samples per trainable parameter. Two
reference units calibrate every run: ``cover`` (LP separability curves of a perceptron against
Cover's closed form, whose 50% point is 2N) and ``readout-<kind>-<width>`` (phases ``boundary``
and ``readout``: a frozen random layer under a linear readout, exact LP capacity vs
gradient-trained capacity, the trainability gap).

The analysis writes ``results.csv`` (one row per architecture), ``fits.csv`` (power laws of the
capacity in bits against every volume and area measure, ranked by AIC, per kind and pooled),
``verdict.json`` (volume vs area per hypothesis, from the ΔAIC between the best measure of each
law) and ``tables/cover.csv``, ``tables/cover_curve.csv`` and ``tables/readout.csv``. A censored
capacity (a seed at either end of its search range) is left out of the fits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from axionlab.capacity import (
    ArchSpec,
    CapacityResult,
    FitConfig,
    bottleneck_layer,
    boundary_measures,
    build_model,
    capacity_family,
    cover_probability,
    cross_partition_capacity,
    fifty_percent_point,
    half_mask,
    memorization_capacity,
    partition_cut,
    readout_capacity,
    separability_curve,
)
from axionlab.capacity.family import Kind
from axionlab.capacity.perceptron import Distribution
from axionlab.capacity.tasks import CrossKind
from axionlab.config import RunConfig, Section, check_memory, machine_memory
from axionlab.protocols.base import PROTOCOLS, Protocol, Unit, require_phase
from axionlab.repro import numpy_rng, torch_generator
from axionlab.runs import (
    PhaseRecord,
    Run,
    phase_key,
    read_json,
    read_npz,
    write_csv,
    write_json,
    write_npz,
)
from axionlab.stats import PowerLawComparison, compare_power_laws

Group = Literal["depth", "width", "bottleneck", "frozen"]
Size = Annotated[int, Field(ge=1)]
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
BOUNDARY_COLUMNS = (
    *VOLUME_MEASURES,
    *AREA_MEASURES,
    "min_cut",
    "partition_cut_inputs",
    "cut_layer",
)
Prefix = Literal["mem", "cut"]
HYPOTHESES: dict[str, Prefix] = {"H-mem": "mem", "H-cut": "cut"}
"""Hypothesis → prefix of its capacity columns in results.csv."""
CAPACITY_PHASES: dict[Prefix, str] = {"mem": "memorization", "cut": "cross_partition"}


class FamilySpec(Section):
    """One kind of the architecture family and its sweeps (unset: the library's defaults)."""

    kind: Kind
    groups: list[Group] = Field(["depth", "width", "bottleneck", "frozen"], min_length=1)
    base_width: int | None = Field(None, ge=1)
    depths: tuple[Size, ...] | None = Field(None, min_length=1)
    widths: tuple[Size, ...] | None = Field(None, min_length=1)
    bottlenecks: tuple[Size, ...] | None = Field(None, min_length=1)
    frozen_widths: tuple[Size, ...] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _unique_groups(self) -> FamilySpec:
        if len(set(self.groups)) != len(self.groups):
            raise ValueError(f"groups must be unique, got {self.groups}")
        return self

    def specs(self, input_shape: tuple[int, ...], n_classes: int) -> list[ArchSpec]:
        """The family's architectures in the configured groups."""
        family = capacity_family(
            self.kind,
            input_shape,
            n_classes=n_classes,
            base_width=self.base_width,
            depths=self.depths,
            widths=self.widths,
            bottlenecks=self.bottlenecks,
            frozen_widths=self.frozen_widths,
        )
        return [spec for spec in family if spec.group in self.groups]


class BisectionSection(Section):
    p_min: int = Field(1, ge=1)
    p_max_per_param: float = Field(4.0, gt=0)
    """Search up to this many samples per trainable parameter (Cover's point is 2 when binary)."""
    p_max_floor: int = Field(16, ge=1)
    """Smallest upper end of a search, for architectures with very few trainable parameters."""
    confidence: float = Field(0.95, gt=0, lt=1)

    def p_max(self, trainable_params: int) -> int:
        """Upper end of the search for an architecture with ``trainable_params``."""
        return max(self.p_min, self.p_max_floor, math.ceil(self.p_max_per_param * trainable_params))


class CrossSection(Section):
    """The cross-partition task: labels depend jointly on the two halves of the input."""

    kind: CrossKind = "table"
    rank: int = Field(1, ge=1)
    """Rank of the bilinear form (``bilinear`` only)."""


class CoverSection(Section):
    """Perceptron separability curves against Cover's closed form (the calibration unit)."""

    dims: list[Size] = Field([5, 10, 20], min_length=1)
    trials: int = Field(200, ge=10)
    max_ratio: float = Field(4.0, gt=2)
    """Points run from 1 to ``max_ratio · N``, every integer, so the curve crosses ½ inside."""
    distribution: Distribution = "gaussian"


class ReadoutSection(Section):
    """Frozen random layers of these widths under a trained linear readout (binary labels)."""

    kind: Kind = "mlp"
    widths: list[Size] = Field([8, 16, 32], min_length=1)


class AnalysisSection(Section):
    n_bootstrap: int = Field(2_000, ge=0)
    ci: float = Field(0.95, gt=0, lt=1)
    cv_folds: int | None = Field(None, ge=2)
    """None: leave-one-out cross-validated error of each fit."""
    aic_margin: float = Field(2.0, ge=0)
    """|ΔAIC| below this between the best volume and best area measure is inconclusive."""


class Exp02Config(RunConfig):
    protocol: Literal["exp02"] = "exp02"
    input_shape: tuple[int, ...] = Field((1, 4, 4), min_length=1)
    """Per-sample input shape; ``(C, H, W)`` when a CNN is in the family (MLPs flatten it)."""
    n_classes: int = Field(2, ge=2)
    family: list[FamilySpec] = Field(min_length=1)
    seeds: list[int] = Field([0, 1], min_length=1)
    distribution: Distribution = "gaussian"
    fit: FitConfig = FitConfig()
    bisection: BisectionSection = BisectionSection()
    cross: CrossSection = CrossSection()
    cover: CoverSection = CoverSection()
    readout: ReadoutSection = ReadoutSection()
    analysis: AnalysisSection = AnalysisSection()

    @model_validator(mode="after")
    def _check(self) -> Exp02Config:
        if min(self.input_shape) < 1:
            raise ValueError(f"input_shape must hold positive sizes, got {self.input_shape}")
        if self.input_shape[-1] < 2:
            raise ValueError(
                f"input_shape's last axis must be >= 2 to split into two halves, "
                f"got {self.input_shape}"
            )
        kinds = [f.kind for f in self.family] + [self.readout.kind]
        if "cnn" in kinds and len(self.input_shape) != 3:
            raise ValueError(f"a cnn needs input_shape (C, H, W), got {self.input_shape}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be unique, got {self.seeds}")
        if self.cross.kind != "table" and self.n_classes != 2:
            raise ValueError(
                f"cross.kind '{self.cross.kind}' is binary; set n_classes: 2 or cross.kind: table"
            )
        if len({f.kind for f in self.family}) != len(self.family):
            raise ValueError("family must list each kind once")
        if len(set(self.readout.widths)) != len(self.readout.widths):
            widths = self.readout.widths
            raise ValueError(
                f"readout.widths must not repeat a value (they name units), got {widths}"
            )
        self._fits_memory()
        return self

    def _fits_memory(self) -> None:
        """Refuse sizes whose models, samples or LPs cannot fit this machine's memory."""
        for i, family in enumerate(self.family):
            for spec in family.specs(self.input_shape, self.n_classes):
                self._spec_fits(f"family.{i}", spec)
        for spec in readout_specs(self):
            self._spec_fits("readout.widths", spec)
        n = max(self.cover.dims)
        points = math.ceil(self.cover.max_ratio * n)
        # float64 points and the LP's constraint matrix, each (P, N).
        check_memory("cover.dims", 4 * 8.0 * points * n, f"the {points}x{n} separability LPs")

    def _spec_fits(self, field: str, spec: ArchSpec) -> None:
        params, trainable = _parameter_counts(spec)
        samples = self.bisection.p_max(trainable)
        pixels = math.prod(self.input_shape[1:]) if spec.kind == "cnn" else 1
        activations = sum(spec.widths) * pixels
        # Full-batch fits in float32: 4 values per parameter (weights, grads, Adam moments),
        # the samples themselves and the activations with their gradients.
        per_sample = 4.0 * (math.prod(self.input_shape) + 2 * activations)
        model_bytes = 4.0 * 4 * params
        data_bytes = per_sample * samples
        # Blame the search range when the architecture would fit with the default range.
        default = BisectionSection(
            p_min=self.bisection.p_min, p_max_floor=self.bisection.p_max_floor
        )
        total = machine_memory()
        if total is not None and model_bytes + per_sample * default.p_max(trainable) <= total:
            field = "bisection.p_max_per_param"
        check_memory(
            field,
            model_bytes + data_bytes,
            f"fitting '{spec.name}' ({params} parameters) on up to {samples} samples "
            f"(bisection.p_max_per_param={self.bisection.p_max_per_param:g})",
        )


def _parameter_counts(spec: ArchSpec) -> tuple[int, int]:
    """(total, trainable) parameters of :func:`axionlab.capacity.build_model`'s network."""
    fan_in = math.prod(spec.input_shape) if spec.kind == "mlp" else spec.input_shape[0]
    kernel = 1 if spec.kind == "mlp" else 9
    layers = []
    for w in spec.widths:
        layers.append(kernel * fan_in * w + w)
        fan_in = w
    readout = fan_in * spec.outputs + spec.outputs
    total = sum(layers) + readout
    return total, total - sum(layers[: spec.frozen])


def architectures(config: Exp02Config) -> list[ArchSpec]:
    """Every architecture of the family, in order, each distinct one once (first group wins)."""
    seen: set[tuple[str, tuple[int, ...], int]] = set()
    out = []
    for family in config.family:
        for spec in family.specs(config.input_shape, config.n_classes):
            if (spec.kind, spec.widths, spec.frozen) not in seen:
                seen.add((spec.kind, spec.widths, spec.frozen))
                out.append(spec)
    return out


def readout_specs(config: Exp02Config) -> list[ArchSpec]:
    """Binary frozen-feature readouts (exact capacity needs binary labels)."""
    kind = config.readout.kind
    return [
        ArchSpec(f"readout-{kind}-{w}", kind, "readout", config.input_shape, (w,), 2, 1)
        for w in config.readout.widths
    ]


def _capacity_summary(result: CapacityResult, p_max: int) -> dict[str, Any]:
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


def _write_capacity(out: Path, name: str, result: CapacityResult) -> None:
    write_npz(
        out / f"{name}.npz",
        {
            "seeds": np.array(result.seeds),
            "samples": np.array(result.samples),
            "censored": np.array(result.censored),
        },
    )


# --- the protocol ---------------------------------------------------------------------------


class Exp02(Protocol):
    name = "exp02"
    VERSION = "1"
    Config = Exp02Config

    def plan(self, config: RunConfig) -> list[Unit]:
        assert isinstance(config, Exp02Config)
        units = [Unit("cover", {"role": "cover"})]
        units += [Unit(spec.name, {"role": "readout"}) for spec in readout_specs(config)]
        units += [Unit(spec.name, {"role": "arch"}) for spec in architectures(config)]
        return units

    def run_unit(self, run: Run, config: RunConfig, unit: Unit) -> None:
        assert isinstance(config, Exp02Config)
        role = unit.params["role"]
        if role == "cover":
            self._cover(run, config)
        elif role == "readout":
            spec = next(s for s in readout_specs(config) if s.name == unit.id)
            self._readout(run, config, spec, self._boundary(run, config, spec))
        else:
            spec = next(s for s in architectures(config) if s.name == unit.id)
            boundary = self._boundary(run, config, spec)
            self._capacity(run, config, spec, boundary, "mem")
            self._capacity(run, config, spec, boundary, "cut")

    def _cover(self, run: Run, config: Exp02Config) -> PhaseRecord:
        cover = config.cover

        def compute(out: Path) -> dict[str, Any]:
            arrays: dict[str, np.ndarray] = {}
            summary: dict[str, Any] = {}
            for n in cover.dims:
                grid = np.arange(1, math.floor(cover.max_ratio * n) + 1)
                curve = separability_curve(
                    n,
                    grid,
                    trials=cover.trials,
                    rng=numpy_rng(config.seed, "cover", n),
                    distribution=cover.distribution,
                )
                closed = cover_probability(grid, n)
                # Delta method: a binomial error of the fraction near ½ moves the crossing by
                # SE / |slope| of the closed form at 2N.
                slope = abs(float(np.diff(cover_probability([2 * n - 1, 2 * n + 1], n))[0])) / 2
                arrays.update(
                    {
                        f"P_{n}": curve.P,
                        f"fraction_{n}": curve.fraction,
                        f"stderr_{n}": curve.stderr,
                        f"closed_{n}": closed,
                    }
                )
                summary[f"N{n}"] = {
                    "N": n,
                    "trials": cover.trials,
                    "lps": curve.lps,
                    "p50": fifty_percent_point(curve.P, curve.fraction),
                    "p50_expected": 2 * n,
                    "p50_se": math.sqrt(0.25 / cover.trials) / slope,
                    "max_abs_dev": float(np.max(np.abs(curve.fraction - closed))),
                }
            write_npz(out / "curves.npz", arrays)
            return summary

        return run.phase(
            "cover",
            "cover",
            phase_key(self.VERSION, {"cover": cover, "seed": config.seed}),
            compute,
        )

    def _readout(
        self, run: Run, config: Exp02Config, spec: ArchSpec, boundary: PhaseRecord
    ) -> PhaseRecord:
        p_max = config.bisection.p_max(boundary.summary["trainable_params"])

        def compute(out: Path) -> dict[str, Any]:
            result = readout_capacity(
                spec,
                seeds=config.seeds,
                p_max=p_max,
                p_min=config.bisection.p_min,
                fit=config.fit,
                distribution=config.distribution,
                confidence=config.bisection.confidence,
            )
            _write_capacity(out, "exact", result.exact)
            _write_capacity(out, "trained", result.trained)
            return {
                "width": spec.widths[0],
                "trainable_params": result.trainable_params,
                "exact": _capacity_summary(result.exact, p_max),
                "trained": _capacity_summary(result.trained, p_max),
                "exact_bits_per_param": result.exact_bits_per_param,
                "trained_bits_per_param": result.trained_bits_per_param,
                "trainability_gap_bits": result.trainability_gap,
            }

        key = phase_key(
            self.VERSION,
            {
                "spec": spec,
                "seeds": config.seeds,
                "fit": config.fit,
                "bisection": config.bisection,
                "distribution": config.distribution,
            },
            [boundary],
        )
        return run.phase(spec.name, "readout", key, compute)

    def _boundary(self, run: Run, config: Exp02Config, spec: ArchSpec) -> PhaseRecord:
        def compute(out: Path) -> dict[str, Any]:
            # The measures are counts and cuts of the graph, independent of the weights drawn.
            model = build_model(spec, torch_generator(config.seed, "init", spec.name))
            layer = bottleneck_layer(boundary_measures(model, spec.input_shape))
            measures = boundary_measures(model, spec.input_shape, cut=layer)
            mask = half_mask(spec.input_shape)
            summary = {
                "total_params": measures.total_params,
                "trainable_params": measures.trainable_params,
                "interface_params": measures.interface_params,
                "min_cut": measures.min_cut,
                "hidden_min_cut": measures.hidden_min_cut,
                "bottleneck_width": measures.bottleneck_width,
                "cut_layer": measures.cut,
                "cut_params": measures.cut_params,
                "partition_cut": partition_cut(model, spec.input_shape, mask, cut_inputs=False),
                "partition_cut_inputs": partition_cut(model, spec.input_shape, mask),
            }
            write_json(out / "layers.json", [vars(x) for x in measures.layers])
            return summary

        return run.phase(spec.name, "boundary", phase_key(self.VERSION, {"spec": spec}), compute)

    def _capacity(
        self, run: Run, config: Exp02Config, spec: ArchSpec, boundary: PhaseRecord, which: Prefix
    ) -> PhaseRecord:
        p_max = config.bisection.p_max(boundary.summary["trainable_params"])
        options: dict[str, Any] = {
            "seeds": config.seeds,
            "p_max": p_max,
            "p_min": config.bisection.p_min,
            "fit": config.fit,
            "confidence": config.bisection.confidence,
        }

        def compute(out: Path) -> dict[str, Any]:
            if which == "mem":
                result = memorization_capacity(spec, distribution=config.distribution, **options)
            else:
                result = cross_partition_capacity(
                    spec, config.cross.kind, rank=config.cross.rank, **options
                )
            _write_capacity(out, "capacity", result)
            return _capacity_summary(result, p_max)

        task = {"distribution": config.distribution} if which == "mem" else {"cross": config.cross}
        key = phase_key(self.VERSION, {"spec": spec, **options, **task}, [boundary])
        return run.phase(spec.name, CAPACITY_PHASES[which], key, compute)

    # --- analysis ---------------------------------------------------------------------------

    def analyse(self, run: Run, config: RunConfig) -> dict[str, float]:
        assert isinstance(config, Exp02Config)
        rows = [result_row(run, spec) for spec in architectures(config)]
        write_csv(run.path / "results.csv", rows)
        fits, verdicts = fit_rows(rows, config)
        write_csv(run.path / "fits.csv", fits)
        cover, curve = cover_rows(run, config)
        write_csv(run.path / "tables" / "cover.csv", cover)
        write_csv(run.path / "tables" / "cover_curve.csv", curve)
        readout = [readout_row(run, spec) for spec in readout_specs(config)]
        write_csv(run.path / "tables" / "readout.csv", readout)
        write_json(run.path / "verdict.json", verdicts)
        write_csv(run.path / "tables" / "exclusions.csv", exclusion_rows(rows), EXCLUSION_COLUMNS)
        headline = {f"{h}/delta_aic": v["delta_aic"] for h, v in verdicts.items()}
        headline.update({f"{h}/exponent": v["exponent"] for h, v in verdicts.items()})
        headline.update(
            {f"cover/p50_over_2N/N{r['N']}": r["p50"] / r["p50_expected"] for r in cover}
        )
        headline.update(
            {
                f"readout/{r['unit']}/exact_bits_per_param": r["exact_bits_per_param"]
                for r in readout
            }
        )
        headline["architectures"] = float(len(rows))
        return headline

    def report(self, run: Run, config: RunConfig) -> Path:
        assert isinstance(config, Exp02Config)
        from axionlab.protocols.exp02_report import build_report

        return build_report(run, config)


def _summary(run: Run, unit: str, phase: str) -> dict[str, Any]:
    result: dict[str, Any] = read_json(require_phase(run, unit, phase) / "manifest.json")["summary"]
    return result


def result_row(run: Run, spec: ArchSpec) -> dict[str, Any]:
    """One row of results.csv, read from the architecture's stored phases."""
    boundary = _summary(run, spec.name, "boundary")
    row: dict[str, Any] = {
        "unit": spec.name,
        "kind": spec.kind,
        "group": spec.group,
        "widths": "-".join(map(str, spec.widths)),
        "frozen": spec.frozen,
    }
    row.update({k: boundary[k] for k in BOUNDARY_COLUMNS})
    for prefix, phase in CAPACITY_PHASES.items():
        capacity = _summary(run, spec.name, phase)
        row.update({f"{prefix}_{k}": v for k, v in capacity.items()})
    row["bits_per_param"] = _ratio(row["mem_bits"], row["total_params"])
    row["bits_per_trainable_param"] = _ratio(row["mem_bits"], row["trainable_params"])
    row["cut_bits_per_partition_cut"] = _ratio(row["cut_bits"], row["partition_cut"])
    for prefix in CAPACITY_PHASES:
        row[f"{prefix}_bits_reason"] = _capacity_reason(row, prefix)
    nonpositive = [m for m in (*VOLUME_MEASURES, *AREA_MEASURES) if not float(row[m]) > 0]
    row["measures_reason"] = "+".join(f"{NONPOSITIVE_MEASURE}_{m}" for m in nonpositive)
    return row


CENSORED = "censored"
NONPOSITIVE_CAPACITY = "nonpositive_capacity"
NONPOSITIVE_MEASURE = "nonpositive"


def _ratio(num: float, den: float) -> float:
    """``num / den``, nan where the denominator is 0 (a measure that is undefined here)."""
    return num / den if den else math.nan


def _capacity_reason(row: dict[str, Any], prefix: str) -> str:
    """Why a capacity is left out of the fits (empty: it is fitted)."""
    if row[f"{prefix}_n_censored"] != 0:
        return CENSORED  # a seed at an end of its search range: a bound, not a value
    if not float(row[f"{prefix}_bits"]) > 0:
        return NONPOSITIVE_CAPACITY
    return ""


EXCLUSION_COLUMNS = ["unit", "what", "reason"]


def exclusion_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every architecture and capacity left out of the fits, with its reason."""
    out: list[dict[str, Any]] = []
    for r in rows:
        if r["measures_reason"]:
            what = "every fit (power laws need positive measures)"
            out.append({"unit": r["unit"], "what": what, "reason": r["measures_reason"]})
        for hypothesis, prefix in HYPOTHESES.items():
            if r[f"{prefix}_bits_reason"]:
                what = f"{hypothesis} ({prefix}_bits)"
                out.append({"unit": r["unit"], "what": what, "reason": r[f"{prefix}_bits_reason"]})
    return out


def _fitted_capacity(rows: Sequence[dict[str, Any]], prefix: str) -> np.ndarray:
    """Capacity in bits, NaN where a seed was censored (a bound, not a value) or nothing fits."""
    return np.array(
        [
            r[f"{prefix}_bits"]
            if r[f"{prefix}_n_censored"] == 0 and r[f"{prefix}_bits"] > 0
            else math.nan
            for r in rows
        ],
        dtype=float,
    )


def fit_rows(
    rows: list[dict[str, Any]], config: Exp02Config
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """fits.csv (per hypothesis and scope) and the verdict per hypothesis (pooled scope)."""
    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    scopes = kinds + (["all"] if len(kinds) > 1 else [])
    pooled = scopes[-1]
    stats = config.analysis
    out: list[dict[str, Any]] = []
    verdicts: dict[str, dict[str, Any]] = {}
    for hypothesis, prefix in HYPOTHESES.items():
        for scope in scopes:
            subset = [r for r in rows if scope in ("all", r["kind"])]
            # A non-positive measure has no logarithm: its architecture leaves every fit (nan).
            predictors = {
                m: np.array([float(r[m]) if not r["measures_reason"] else math.nan for r in subset])
                for m in (*VOLUME_MEASURES, *AREA_MEASURES)
            }
            ranked = compare_power_laws(
                predictors,
                _fitted_capacity(subset, prefix),
                n_bootstrap=stats.n_bootstrap,
                ci=stats.ci,
                cv_folds=stats.cv_folds,
                seed=config.seed,
            )
            out += [_fit_row(hypothesis, scope, c) for c in ranked]
            if scope == pooled:
                verdicts[hypothesis] = verdict(ranked, stats.aic_margin) | {"scope": scope}
    return out, verdicts


def _law(measure: str) -> str:
    return "volume" if measure in VOLUME_MEASURES else "area"


def _fit_row(hypothesis: str, scope: str, c: PowerLawComparison) -> dict[str, Any]:
    f = c.fit
    return {
        "hypothesis": hypothesis,
        "scope": scope,
        "predictor": c.name,
        "law": _law(c.name),
        "n": f.n,
        "n_dropped": f.n_dropped,
        "a": f.a,
        "exponent": f.alpha,
        "exponent_low": f.alpha_low,
        "exponent_high": f.alpha_high,
        "r2": f.r2,
        "aic": f.aic,
        "bic": f.bic,
        "delta_aic": c.delta_aic,
        "delta_bic": c.delta_bic,
        "akaike_weight": c.weight,
        "cv_rmse": f.cv_rmse,
        "reason": f.reason,
    }


def _describe(c: PowerLawComparison) -> str:
    f = c.fit
    return (
        f"{c.name} (exponent {f.alpha:.2f} [{f.alpha_low:.2f}, {f.alpha_high:.2f}], "
        f"R² = {f.r2:.2f}, CV RMSE = {f.cv_rmse:.3f})"
    )


def verdict(ranked: list[PowerLawComparison], margin: float) -> dict[str, Any]:
    """Volume vs area: the ΔAIC between the best-fitting measure of each law.

    ``delta_aic`` = AIC(best area measure) − AIC(best volume measure): positive favours volume.
    """
    best = {
        law: next((c for c in ranked if _law(c.name) == law and math.isfinite(c.fit.aic)), None)
        for law in ("volume", "area")
    }
    volume, area = best["volume"], best["area"]
    n = ranked[0].fit.n if ranked else 0
    if volume is None or area is None:
        return {
            "preferred": "inconclusive",
            "delta_aic": math.nan,
            "exponent": math.nan,
            "best_volume": "",
            "best_area": "",
            "n": n,
            "verdict": f"inconclusive (too few uncensored architectures to fit: n = {n})",
        }
    delta = area.fit.aic - volume.fit.aic
    winner, loser = (volume, area) if delta >= 0 else (area, volume)
    if abs(delta) < margin:
        preferred = "inconclusive"
        text = (
            f"inconclusive (|ΔAIC| = {abs(delta):.2f} < {margin:g}): volume "
            f"{_describe(volume)} vs area {_describe(area)}, n = {n}"
        )
    else:
        preferred = _law(winner.name)
        text = (
            f"{preferred} law preferred: ΔAIC = {abs(delta):.2f} in favour of "
            f"{_describe(winner)} over {_describe(loser)}, n = {n}"
        )
    return {
        "preferred": preferred,
        "delta_aic": delta,
        "exponent": winner.fit.alpha,
        "best_volume": volume.name,
        "best_area": area.name,
        "n": n,
        "verdict": text,
    }


def cover_rows(run: Run, config: Exp02Config) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Cover calibration: one row per N, and the curves against the closed form."""
    summary = _summary(run, "cover", "cover")
    curves = read_npz(require_phase(run, "cover", "cover") / "curves.npz")
    rows, curve = [], []
    for n in config.cover.dims:
        s = summary[f"N{n}"]
        rows.append({**s, "p50_z": (s["p50"] - s["p50_expected"]) / s["p50_se"]})
        curve += [
            {"N": n, "P": int(p), "fraction": float(f), "stderr": float(e), "closed_form": float(c)}
            for p, f, e, c in zip(
                curves[f"P_{n}"],
                curves[f"fraction_{n}"],
                curves[f"stderr_{n}"],
                curves[f"closed_{n}"],
                strict=True,
            )
        ]
    return rows, curve


def readout_row(run: Run, spec: ArchSpec) -> dict[str, Any]:
    """One row of tables/readout.csv: exact vs trained readout capacity."""
    s = _summary(run, spec.name, "readout")
    row: dict[str, Any] = {
        "unit": spec.name,
        "width": s["width"],
        "trainable_params": s["trainable_params"],
    }
    for which in ("exact", "trained"):
        row.update(
            {
                f"{which}_{k}": s[which][k]
                for k in ("bits", "bits_ci_low", "bits_ci_high", "n_censored")
            }
        )
    row.update(
        {
            k: s[k]
            for k in ("exact_bits_per_param", "trained_bits_per_param", "trainability_gap_bits")
        }
    )
    return row


PROTOCOLS.add(Exp02.name, Exp02)
