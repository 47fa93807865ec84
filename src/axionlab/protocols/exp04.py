"""EXP-04: how do noisy quantum systems behave under repeated, reordered and diverse operators?

Units are one point of the sweep (qubits × pool × diversity k × ordering × noise model and
strength) × seed. Each unit runs one cached phase, ``sequence``: :func:`sequence_experiment` at
every configured length (the lab's four notions are defined in :mod:`axionlab.quantum`). It stores
the per-length curves and the closed-form predictions that exist (``curves.npz``) and a summary:

- stability: decay rate −ln p of fidelity, purity and Loschmidt echo (``A·pᵐ + B`` fits) and their
  values at the longest length;
- ordering sensitivity at the longest length: mean pairwise trace distance between the outputs of
  ``n_orderings`` random orderings of the same operators, and the outputs' variance;
- diversity: distinct operators, frame potentials F₁ and F₂, mean commutator norm;
- behavioural uncertainty at the longest length: measurement entropy of this ordering, its mean and
  variance over the random orderings, and the von Neumann entropy;
- closed form: the quantities with an exact prediction (``dev_<quantity>``, NaN where none) and
  the largest deviation of the measurement from them.

A unit's operators come from a stream named by (seed, qubits, pool, k) only, so units that differ
in ordering or noise apply the same operators: comparisons across those axes are paired.

The analysis writes ``results.csv`` (one row per unit), ``summary.csv`` (mean and CI over seeds per
sweep point and metric), ``tables/beyond_closed_form.csv`` (sweep points without any closed form)
and ``tables/ordering_vs_entropy.csv`` (per noise level: where ordering matters and how often the
measurement entropy misses it).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
import torch
from pydantic import AfterValidator, Field, model_validator

from axionlab.config import RunConfig, Section, check_memory
from axionlab.errors import ConfigError, InputError, did_you_mean
from axionlab.protocols.base import PROTOCOLS, Protocol, Unit, require_phase
from axionlab.quantum import (
    NOISE_MODELS,
    ORDERINGS,
    POOLS,
    ClosedForm,
    SequenceResult,
    fit_decay,
    sequence_experiment,
)
from axionlab.repro import resolve_device, torch_generator
from axionlab.runs import Run, phase_key, read_json, write_csv, write_npz
from axionlab.stats import mean_ci

CURVES = (
    "fidelity",
    "purity",
    "loschmidt_echo",
    "measurement_entropy",
    "von_neumann_entropy",
    "ordering_trace_distance",
    "ordering_variance",
    "ordering_entropy_mean",
    "ordering_entropy_var",
    "ordering_von_neumann_mean",
)
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
CLOSED_FORM_QUANTITIES = tuple(f.name for f in fields(ClosedForm))
POINT_COLUMNS = ("point", "n_qubits", "pool", "diversity", "ordering", "noise", "strength")
NONFINITE_CURVE = "nonfinite_curve"
REASON_COLUMNS = tuple(f"{d}_rate_reason" for d in DECAYS)
"""Why a decay rate is nan (empty: defined)."""
METRICS = (
    *(f"{d}_{s}" for d in DECAYS for s in ("rate", "final")),
    *AT_LONGEST,
    "frame_potential_1",
    "frame_potential_2",
    "commutator_norm",
)
RESULT_COLUMNS = (
    "unit",
    *POINT_COLUMNS,
    "seed",
    *METRICS,
    "n_distinct",
    "closed_form",
    "closed_form_quantities",
    "closed_form_max_dev",
    *(f"dev_{q}" for q in CLOSED_FORM_QUANTITIES),
    *REASON_COLUMNS,
)


def _one_of(kind: str, options: tuple[str, ...]) -> Callable[[str], str]:
    """Validator body answering a typo as the registries do: suggestion, then what is available."""

    def check(name: str) -> str:
        if name not in options:
            raise ValueError(
                f"Unknown {kind} '{name}'.{did_you_mean(name, options)} "
                f"Available: {', '.join(options)}"
            )
        return name

    return check


def _strength_label(strength: float) -> str:
    return f"{strength:g}"


NoiseName = Annotated[str, AfterValidator(_one_of("noise model", NOISE_MODELS))]
PoolName = Annotated[str, AfterValidator(_one_of("pool", POOLS))]
OrderingName = Annotated[str, AfterValidator(_one_of("ordering", ORDERINGS))]


class SweepSection(Section):
    """The grid; every combination is a sweep point ("none" noise is one point, strength 0)."""

    qubits: list[Annotated[int, Field(ge=1, le=12)]] = Field([1, 2], min_length=1)
    lengths: list[Annotated[int, Field(ge=1)]] = Field([1, 2, 4, 8, 16], min_length=3)
    """Sequence lengths m, increasing; at least 3 for the decay fits."""
    orderings: list[OrderingName] = Field(list(ORDERINGS), min_length=1)
    diversities: list[Annotated[int, Field(ge=1)]] = Field([1, 2, 4, 8], min_length=1)
    """Numbers k of distinct operators (layers) in the pool."""
    pools: list[PoolName] = Field(["haar"], min_length=1)
    noise_models: list[NoiseName] = Field(list(NOISE_MODELS), min_length=1)
    strengths: list[Annotated[float, Field(gt=0, le=1)]] = Field([0.01, 0.05], min_length=1)
    """Noise strength p (depolarizing, dephasing) or γ (amplitude damping) per qubit and step."""

    @model_validator(mode="after")
    def _check(self) -> SweepSection:
        for name in ("qubits", "lengths", "orderings", "diversities", "pools", "noise_models"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"{name} must not repeat a value, got {values}")
        labels = [_strength_label(s) for s in self.strengths]
        if len(set(labels)) != len(labels):
            raise ValueError(
                f"strengths must differ in their first 6 digits (they name units), "
                f"got {self.strengths}"
            )
        if self.lengths != sorted(self.lengths):
            raise ValueError(f"lengths must increase, got {self.lengths}")
        n = min(self.qubits)
        cliffords = 24**n * (1 if n == 1 else 2)
        if "clifford" in self.pools and max(self.diversities) > cliffords:
            raise ValueError(
                f"the clifford pool has {cliffords} distinct layers on {n} qubit(s); "
                f"diversities must not exceed it, got {max(self.diversities)}"
            )
        return self


class AnalysisSection(Section):
    ci: float = Field(0.95, gt=0, lt=1)
    order_threshold: float = Field(0.05, gt=0, le=1)
    """Ordering matters at a unit when random orderings' outputs lie this far apart (trace)."""
    entropy_threshold: float = Field(0.01, gt=0)
    """Entropy sees the ordering when its standard deviation over orderings exceeds this (nats)."""


class Exp04Config(RunConfig):
    protocol: Literal["exp04"] = "exp04"
    sweep: SweepSection = SweepSection()
    seeds: list[Annotated[int, Field(ge=0)]] = Field([0], min_length=1)
    n_orderings: int = Field(8, ge=2)
    """Random orderings per length behind ordering sensitivity and the entropy spread."""
    diversity_max_qubits: int = Field(6, ge=1)
    """Largest register for frame potential and commutator norms (they need full unitaries)."""
    analysis: AnalysisSection = AnalysisSection()

    @model_validator(mode="after")
    def _unique_seeds(self) -> Exp04Config:
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must not repeat a value, got {self.seeds}")
        self._fits_memory()
        return self

    def _fits_memory(self) -> None:
        """Refuse sizes whose arrays cannot fit this machine (complex128: 16 bytes a value)."""
        n = max(self.sweep.qubits)
        # The sequence's and each random ordering's final density matrix, plus working copies.
        check_memory(
            "n_orderings",
            (self.n_orderings + 4) * 16.0 * 4.0**n,
            f"{self.n_orderings} random orderings' density matrices on {n} qubits",
        )
        full = [q for q in self.sweep.qubits if q <= self.diversity_max_qubits]
        if full:
            k, m = max(self.sweep.diversities), max(full)
            check_memory(
                "sweep.diversities",
                2 * k * 16.0 * 4.0**m,
                f"the full unitaries of {k} distinct layers on {m} qubits (frame potential)",
            )
        longest = max(self.sweep.lengths)
        check_memory(
            "sweep.lengths",
            (self.n_orderings + 2) * 8.0 * longest,
            f"the layer orders of length {longest}",
        )


# --- sweep points -----------------------------------------------------------------------------


def sweep_points(config: Exp04Config) -> list[dict[str, Any]]:
    """Every sweep point in a stable order, each with its readable id under ``"point"``."""
    sweep = config.sweep
    levels = [
        (model, strength)
        for model in sweep.noise_models
        for strength in ([0.0] if model == "none" else sweep.strengths)
    ]
    points = []
    for n in sweep.qubits:
        for pool in sweep.pools:
            for k in sweep.diversities:
                for ordering in sweep.orderings:
                    for noise, strength in levels:
                        label = noise if noise == "none" else noise + _strength_label(strength)
                        points.append(
                            {
                                "point": f"n{n}_{pool}_k{k}_{ordering}_{label}",
                                "n_qubits": n,
                                "pool": pool,
                                "diversity": k,
                                "ordering": ordering,
                                "noise": noise,
                                "strength": strength,
                            }
                        )
    return points


def noise_level(row: Mapping[str, Any]) -> str:
    """Display name of a row's noise model and strength ("none", "depolarizing 0.01")."""
    noise = str(row["noise"])
    return noise if noise == "none" else f"{noise} {_strength_label(float(row['strength']))}"


# --- one unit ---------------------------------------------------------------------------------


def _curves(result: SequenceResult) -> dict[str, np.ndarray]:
    arrays = {"lengths": np.asarray(result.lengths)}
    arrays.update({name: getattr(result, name).cpu().numpy() for name in CURVES})
    for name in CLOSED_FORM_QUANTITIES:
        predicted = getattr(result.closed_form, name)
        if predicted is not None:
            arrays[f"closed_{name}"] = predicted.cpu().numpy()
    return arrays


def _summary(result: SequenceResult) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for prefix, curve in DECAYS.items():
        values = getattr(result, curve)
        reason = ""
        try:
            out[f"{prefix}_rate"] = fit_decay(result.lengths, values).rate
        except InputError:  # config guarantees >= 3 lengths: the curve itself is not finite
            out[f"{prefix}_rate"] = math.nan
            reason = NONFINITE_CURVE
        out[f"{prefix}_rate_reason"] = reason
        out[f"{prefix}_final"] = float(values[-1])
    out.update({name: float(getattr(result, curve)[-1]) for name, curve in AT_LONGEST.items()})
    div = result.diversity
    f1, f2 = div.frame_potential or (math.nan, math.nan)
    commutator = div.mean_commutator_norm
    out.update(
        n_distinct=div.n_distinct,
        frame_potential_1=f1,
        frame_potential_2=f2,
        commutator_norm=math.nan if commutator is None else commutator,
    )
    deviation = result.closed_form_deviation()
    out.update(
        closed_form=bool(deviation),
        closed_form_quantities="+".join(deviation),
        closed_form_max_dev=max(deviation.values(), default=math.nan),
    )
    out.update({f"dev_{q}": deviation.get(q, math.nan) for q in CLOSED_FORM_QUANTITIES})
    return out


# --- the protocol -----------------------------------------------------------------------------


class Exp04(Protocol):
    name = "exp04"
    VERSION = "1"
    Config = Exp04Config

    def check_inputs(self, config: RunConfig) -> None:
        assert isinstance(config, Exp04Config)
        if config.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError(
                "device: 'cuda' was asked for but no CUDA device is available; "
                "use device: cpu or auto"
            )

    def plan(self, config: RunConfig) -> list[Unit]:
        assert isinstance(config, Exp04Config)
        return [
            Unit(f"{p['point']}_s{seed}", {**p, "seed": seed})
            for p in sweep_points(config)
            for seed in config.seeds
        ]

    def run_unit(self, run: Run, config: RunConfig, unit: Unit) -> None:
        assert isinstance(config, Exp04Config)
        p = unit.params
        device = resolve_device(config.device)

        def compute(out: Path) -> dict[str, Any]:
            result = sequence_experiment(
                p["n_qubits"],
                config.sweep.lengths,
                ordering=p["ordering"],
                diversity=p["diversity"],
                noise=p["noise"],
                strength=p["strength"],
                pool=p["pool"],
                n_orderings=config.n_orderings,
                max_qubits_diversity=config.diversity_max_qubits,
                generator=torch_generator(
                    p["seed"], "operators", p["n_qubits"], p["pool"], p["diversity"], device=device
                ),
            )
            write_npz(out / "curves.npz", _curves(result))
            return _summary(result)

        # CUDA draws other random numbers than the CPU, so the device is part of the key.
        key = phase_key(
            self.VERSION,
            {
                "unit": dict(p),
                "lengths": config.sweep.lengths,
                "n_orderings": config.n_orderings,
                "diversity_max_qubits": config.diversity_max_qubits,
                "device": device.type,
            },
        )
        run.phase(unit.id, "sequence", key, compute)

    # --- analysis ---------------------------------------------------------------------------

    def analyse(self, run: Run, config: RunConfig) -> dict[str, float]:
        assert isinstance(config, Exp04Config)
        rows = [unit_row(run, unit) for unit in self.plan(config)]
        write_csv(run.path / "results.csv", rows, list(RESULT_COLUMNS))
        summary = summary_rows(rows, config.analysis.ci)
        write_csv(run.path / "summary.csv", summary)
        beyond = beyond_closed_form(rows)
        write_csv(run.path / "tables" / "beyond_closed_form.csv", beyond, BEYOND_COLUMNS)
        entropy = ordering_vs_entropy(rows, config.analysis)
        write_csv(run.path / "tables" / "ordering_vs_entropy.csv", entropy)
        write_csv(run.path / "tables" / "exclusions.csv", exclusion_rows(rows), EXCLUSION_COLUMNS)
        closed = [r["closed_form_max_dev"] for r in rows if r["closed_form"]]
        headline = {
            "units": float(len(rows)),
            "points": float(len(sweep_points(config))),
            "beyond_closed_form_points": float(len(beyond)),
            "closed_form_max_dev": max(closed, default=math.nan),
        }
        for r in entropy:
            headline[f"ordering_td/{r['noise_level']}"] = r["ordering_td_mean"]
            headline[f"entropy_blind_fraction/{r['noise_level']}"] = r["entropy_blind_fraction"]
        return headline

    def report(self, run: Run, config: RunConfig) -> Path:
        assert isinstance(config, Exp04Config)
        from axionlab.protocols.exp04_report import build_report

        return build_report(run, config, self.plan(config))


def unit_row(run: Run, unit: Unit) -> dict[str, Any]:
    """One row of results.csv: the unit's sweep point and its stored phase summary."""
    manifest = read_json(require_phase(run, unit.id, "sequence") / "manifest.json")
    row = {"unit": unit.id, **unit.params, **manifest["summary"]}
    for column in REASON_COLUMNS:  # phases stored before reasons existed
        row.setdefault(column, "")
    return row


EXCLUSION_COLUMNS = ["unit", "what", "reason"]


def exclusion_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every unit and outcome left out of the analysis (nan in results.csv), with its reason."""
    return [
        {"unit": r["unit"], "what": column.removesuffix("_reason"), "reason": r[column]}
        for r in rows
        for column in REASON_COLUMNS
        if r[column]
    ]


def _finite_mean(values: Iterable[float]) -> float:
    """Mean over the defined (finite) values; nan when none is."""
    v = np.asarray(list(values), dtype=float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else math.nan


Row = TypeVar("Row", bound=Mapping[str, Any])


def group_rows(rows: Iterable[Row], *keys: str) -> list[list[Row]]:
    """Rows grouped by the values of ``keys``, groups in order of first appearance."""
    groups: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for row in rows:
        groups[tuple(row[k] for k in keys)].append(row)
    return list(groups.values())


def ordering_unpredicted(row: Mapping[str, Any]) -> bool:
    """Whether no closed form fixes the unit's ordering effect (commuting pools: exactly 0)."""
    return math.isnan(float(row["dev_ordering_trace_distance"]))


def summary_rows(rows: list[dict[str, Any]], ci: float) -> list[dict[str, Any]]:
    """Mean and Student-t CI over seeds of every metric, per sweep point (long format)."""
    out = []
    for group in group_rows(rows, "point"):
        point = {k: group[0][k] for k in POINT_COLUMNS}
        for metric in METRICS:
            mean, low, high, n = mean_ci([r[metric] for r in group], ci)
            out.append(
                {**point, "metric": metric, "n": n, "mean": mean, "ci_low": low, "ci_high": high}
            )
    return out


BEYOND_COLUMNS = [
    *POINT_COLUMNS,
    "n_seeds",
    "fidelity_rate_mean",
    "echo_rate_mean",
    "ordering_td_mean",
    "entropy_var_mean",
]


def beyond_closed_form(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sweep points where no quantity has a closed form: only the measurement says anything."""
    out = []
    for group in group_rows(rows, "point"):
        if group[0]["closed_form"]:
            continue
        row: dict[str, Any] = {k: group[0][k] for k in POINT_COLUMNS}
        row["n_seeds"] = len(group)
        for metric in ("fidelity_rate", "echo_rate", "ordering_td", "entropy_var"):
            row[f"{metric}_mean"] = _finite_mean(r[metric] for r in group)
        out.append(row)
    return out


def ordering_vs_entropy(
    rows: list[dict[str, Any]], analysis: AnalysisSection
) -> list[dict[str, Any]]:
    """Per noise level: how far orderings move the output and how often entropy misses it.

    Only units with at least two distinct operators whose ordering effect no closed form fixes
    (:func:`ordering_unpredicted`) are counted. A unit is
    order-dependent when its mean pairwise trace distance exceeds ``order_threshold``; entropy is
    blind to it when the measurement entropy's standard deviation over the same orderings stays
    below ``entropy_threshold``.
    """
    out = []
    open_rows = [
        r
        for r in rows
        if r["diversity"] >= 2
        and ordering_unpredicted(r)
        and math.isfinite(r["ordering_td"])
        and math.isfinite(r["entropy_var"])
    ]
    for group in group_rows(open_rows, "noise", "strength"):
        td = np.array([r["ordering_td"] for r in group])
        entropy_sd = np.sqrt([r["entropy_var"] for r in group])
        dependent = td > analysis.order_threshold
        blind = dependent & (entropy_sd < analysis.entropy_threshold)
        out.append(
            {
                "noise_level": noise_level(group[0]),
                "noise": group[0]["noise"],
                "strength": group[0]["strength"],
                "n_units": len(group),
                "ordering_td_mean": float(td.mean()),
                "ordering_td_max": float(td.max()),
                "entropy_sd_mean": float(entropy_sd.mean()),
                "order_dependent": int(dependent.sum()),
                "entropy_blind": int(blind.sum()),
                "entropy_blind_fraction": (
                    float(blind.sum() / dependent.sum()) if dependent.any() else math.nan
                ),
            }
        )
    return out


PROTOCOLS.add(Exp04.name, Exp04)
