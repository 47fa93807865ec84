"""EXP-03: does integrated information, measured across architecture families, track
generalization and robustness?

Units are dataset × architecture × seed (each dataset lists the architectures it runs). A unit is
*recurrent* (``elman``, ``gru``, ``lstm``, ``rmlp`` on MNIST-1D read as a length-40 sequence) or
*feed-forward* (e.g. ``mlp`` on digits). Cached phases:

1. ``train``: train, then train/test accuracy and the generalization gap = train − test accuracy.
2. ``phi_gaussian`` (recurrent only): hidden-state series of test sequences (trials) → VAR(1)
   least-squares fit → MI, Φ_WMS, SI, Φ*, Φ_G for the atomic partition and the minimum-information
   bipartition (exhaustive, so hidden sizes stay ≤ ``phi_gaussian.max_units``), a bootstrap CI
   over trials and a shuffled-time null (:func:`axionlab.phi.probes.timeseries_integration`).
   *Bias*: finite-sample VAR fits inflate every measure, and the input drive is read as noise,
   so values are upper-biased descriptions of the fitted linear model, not of the network; the
   ``*_null`` columns give that bias at the same number of transitions. Φ_G's iterative fit is
   slow on nearly singular innovations (one-channel inputs), hence ``measure: phi_star`` in
   the quick config.
3. ``phi_exact``: the ``nodes`` most strongly connected units binarised into a threshold network
   (:func:`axionlab.phi.probes.binary_probe`). Recurrent: the tanh path's recurrent weights
   (:func:`axionlab.models.candidate_drive`), ±1 units, IIT 3.0 Φ averaged over reachable states
   and effective information (EI). Feed-forward: the body's last linear layer as a state-to-state
   map of 0/1 units, its EI in place of Φ (layer-wise EI; Φ is zero for a feed-forward map).
4. ``robustness``: test accuracy under Gaussian input noise σ and under FGSM of size ε.

The analysis writes one row per unit (``units.csv``) and correlates every integration measure and
log parameter count with gap, test accuracy and the two robust accuracies, per dataset and pooled,
with permutation p-values, bootstrap CIs, Holm/Bonferroni over permutation p-values and partial
correlations controlling for log parameter count.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import nn

from axionlab.config import RunConfig, Section, check_memory
from axionlab.data import Dataset, load_dataset
from axionlab.errors import ConfigError, DataError, InputError
from axionlab.models import (
    build_model,
    candidate_drive,
    count_parameters,
    hidden_states,
    is_recurrent,
)
from axionlab.phi.gaussian import MEASURES, MeasureName
from axionlab.phi.probes import binary_probe, strongest_block, timeseries_integration
from axionlab.protocols.base import PROTOCOLS, Protocol, Unit, require_phase
from axionlab.protocols.sections import ArchitectureSpec, DatasetSpec, unique_labels
from axionlab.repro import numpy_rng, torch_generator
from axionlab.robustness import fgsm_accuracy, noise_accuracy
from axionlab.runs import PhaseRecord, Run, phase_key, read_json, write_csv, write_json
from axionlab.stats import correlation_table
from axionlab.train import TrainConfig, evaluate, load_checkpoint, save_checkpoint, train

PARTITIONS = ("atomic", "mib")
PARTITIONED = tuple(m for m in MEASURES if m != "mi")  # MI does not depend on the partition
GAUSSIAN_COLUMNS = ("mi", *(f"{m}_{p}" for p in PARTITIONS for m in PARTITIONED))
OUTCOMES = ("gap", "test_acc", "noise_acc", "fgsm_acc")


class Exp03Dataset(DatasetSpec):
    """A dataset and the labels of the architectures trained on it (empty: all of them)."""

    architectures: list[str] = []


class PhiGaussianSection(Section):
    examples: int = Field(500, ge=2)
    """Test sequences whose hidden-state series are the VAR(1) trials."""
    measure: MeasureName = "phi_g"
    """Criterion of the minimum-information bipartition and of the bootstrap CI."""
    n_boot: int = Field(100, ge=2)
    n_null: int = Field(5, ge=1)
    level: float = Field(0.95, gt=0, lt=1)
    max_units: int = Field(10, ge=2, le=12)
    """Largest hidden size: the bipartition search visits 2^(H−1) − 1 partitions."""


class PhiExactSection(Section):
    nodes: int = Field(4, ge=2, le=4)
    """Units in the binarised network (IIT 3.0 Φ grows steeply with size; 4 takes seconds)."""


class RobustnessSection(Section):
    noise_sigma: float = Field(0.5, ge=0)
    """Gaussian input noise std, in units of the training data's std."""
    noise_repeats: int = Field(3, ge=1)
    fgsm_epsilon: float = Field(0.1, ge=0)


class AnalysisSection(Section):
    n_permutations: int = Field(10_000, ge=0)
    n_bootstrap: int = Field(2_000, ge=0)


class Exp03Config(RunConfig):
    protocol: Literal["exp03"] = "exp03"
    datasets: list[Exp03Dataset] = Field(min_length=1)
    architectures: list[ArchitectureSpec] = Field(min_length=1)
    seeds: list[Annotated[int, Field(ge=0)]] = Field([0], min_length=1)
    train: TrainConfig = TrainConfig(
        optimizer="adam", lr=0.01, epochs=20, batch_size=128, schedule="cosine"
    )
    phi_gaussian: PhiGaussianSection = PhiGaussianSection()
    phi_exact: PhiExactSection = PhiExactSection()
    robustness: RobustnessSection = RobustnessSection()
    analysis: AnalysisSection = AnalysisSection()

    @model_validator(mode="after")
    def _labels(self) -> Exp03Config:
        labels = unique_labels(self.architectures, "architecture")
        for d, data in enumerate(self.datasets):
            unknown = [a for a in data.architectures if a not in labels]
            if unknown:
                raise ValueError(
                    f"datasets.{d}.architectures names {unknown}, which are not "
                    f"architecture labels; choose from {labels}"
                )
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must not repeat a value (they name units), got {self.seeds}")
        units = sum(len(self.architectures_of(d)) for d in range(len(self.datasets)))
        units *= len(self.seeds)
        for name in ("n_permutations", "n_bootstrap"):
            draws = getattr(self.analysis, name)
            # Each resample holds a value per unit for every measure/outcome pair (float64).
            check_memory(
                f"analysis.{name}",
                2 * 8.0 * draws * units * len(GAUSSIAN_COLUMNS) * len(OUTCOMES),
                f"{draws} resamples of {units} units",
            )
        return self

    def architectures_of(self, d: int) -> list[int]:
        """Indices of the architectures trained on dataset ``d``."""
        chosen = self.datasets[d].architectures
        return [
            a for a, arch in enumerate(self.architectures) if not chosen or arch.display in chosen
        ]


# --- data and models ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _load(name: str, root: str | None, seed: int, options_json: str) -> Dataset:
    return load_dataset(name, root=root, seed=seed, **json.loads(options_json))


def _dataset(spec: Exp03Dataset, seed: int) -> Dataset:
    return _load(spec.name, spec.root, seed, json.dumps(spec.options, sort_keys=True))


def _model(arch: ArchitectureSpec, data: Dataset, seed: int) -> nn.Module:
    return build_model(
        arch.name,
        data.input_shape,
        len(data.classes),
        generator=torch_generator(seed, "init", arch.display),
        **arch.options,
    )


def _trained(arch: ArchitectureSpec, data: Dataset, seed: int, record: PhaseRecord) -> nn.Module:
    model = _model(arch, data, seed)
    load_checkpoint(record.path / "model.pt", model)
    return model.eval()


TRAIN_DIVERGED = "train_diverged"
NONFINITE_STATES = "nonfinite_states"
NONFINITE_WEIGHTS = "nonfinite_weights"
VAR_FIT_FAILED = "var_fit_failed"
DEGENERATE_PROBE = "degenerate_probe"


def _undefined_gaussian(out: Path, reason: str) -> dict[str, Any]:
    """The ``phi_gaussian`` summary of a unit whose measures are undefined: nan, with why."""
    summary: dict[str, Any] = dict.fromkeys(
        [*GAUSSIAN_COLUMNS, *(f"{c}_null" for c in GAUSSIAN_COLUMNS)], math.nan
    )
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
    write_json(out / "measures.json", summary)
    return summary


def _undefined_probe(out: Path, nodes: int, recurrent: bool, reason: str) -> dict[str, Any]:
    """The ``phi_exact`` summary of a unit whose probe is undefined: nan, with why."""
    summary: dict[str, Any] = {
        "ei": math.nan,
        "big_phi": math.nan,
        "big_phi_max": math.nan,
        "n_reachable": 0,
        "nodes": nodes,
        "probe": "recurrent" if recurrent else "layer",
        "rows": [],
        "cols": [],
        "phi_exact_reason": reason,
    }
    write_json(out / "probe.json", summary)
    return summary


def _last_linear(model: nn.Module) -> nn.Linear | None:
    """The feed-forward layer probed by EI: the body's last linear layer (None: no such layer)."""
    layers = [m for m in getattr(model, "body", model).modules() if isinstance(m, nn.Linear)]
    return layers[-1] if layers else None


# --- the protocol -------------------------------------------------------------------------------


class Exp03(Protocol):
    name = "exp03"
    VERSION = "1"
    Config = Exp03Config

    def check_inputs(self, config: RunConfig) -> None:
        assert isinstance(config, Exp03Config)
        nodes = config.phi_exact.nodes
        for d, spec in enumerate(config.datasets):
            try:
                data = _dataset(spec, config.seeds[0])
            except DataError as err:
                raise spec.load_error(err, f"datasets.{d}") from None
            for a in config.architectures_of(d):
                arch = config.architectures[a]
                where = f"architecture '{arch.display}' on dataset '{spec.name}'"
                try:
                    arch.check(data.input_shape, len(data.classes), f"architectures.{a}")
                except ConfigError as err:
                    raise ConfigError(f"{err} ({where})") from None
                try:
                    model = _model(arch, data, config.seeds[0])
                    hidden = candidate_drive(model)[0].shape[0] if is_recurrent(model) else 0
                except InputError as err:
                    raise ConfigError(
                        f"{where}: {err}; restrict datasets.{d}.architectures "
                        f"or change architectures.{a}"
                    ) from None
                if hidden:
                    if not nodes <= hidden <= config.phi_gaussian.max_units:
                        raise ConfigError(
                            f"{where}: hidden size {hidden} must lie in phi_exact.nodes="
                            f"{nodes}..phi_gaussian.max_units={config.phi_gaussian.max_units} "
                            f"(set architectures.{a}.options.hidden)"
                        )
                    continue
                layer = _last_linear(model)
                if layer is None or min(layer.weight.shape) < nodes:
                    raise ConfigError(
                        f"{where}: neither a one-layer recurrent model nor a body ending in a "
                        f"linear layer of at least phi_exact.nodes={nodes} units; use elman, gru, "
                        "lstm, rmlp or mlp"
                    )

    def plan(self, config: RunConfig) -> list[Unit]:
        assert isinstance(config, Exp03Config)
        return [
            Unit(
                f"{data.name}__{config.architectures[a].display}__s{seed}",
                {"dataset": d, "arch": a, "seed": seed},
            )
            for d, data in enumerate(config.datasets)
            for a in config.architectures_of(d)
            for seed in config.seeds
        ]

    def run_unit(self, run: Run, config: RunConfig, unit: Unit) -> None:
        assert isinstance(config, Exp03Config)
        spec = config.datasets[unit.params["dataset"]]
        arch = config.architectures[unit.params["arch"]]
        seed = unit.params["seed"]
        data = _dataset(spec, seed)

        def fit(out: Path) -> dict[str, Any]:
            model = _model(arch, data, seed)
            result = train(
                model,
                (data.x_train, data.y_train),
                config.train,
                generator=torch_generator(seed, "train", arch.display),
                progress=False,
            )
            _, train_acc = evaluate(model, (data.x_train, data.y_train))
            test_loss, test_acc = evaluate(model, (data.x_test, data.y_test))
            save_checkpoint(out / "model.pt", model)
            diverged = result.diverged or not all(
                bool(torch.isfinite(p).all()) for p in model.parameters()
            )
            return {
                "train_acc": train_acc,
                "test_acc": test_acc,
                "test_loss": test_loss,
                "gap": train_acc - test_acc,
                "params": count_parameters(model),
                "family": str(getattr(model, "family", arch.name)),
                "arch": arch.display,
                "dataset": spec.name,
                "seed": seed,
                "kind": "recurrent" if is_recurrent(model) else "feedforward",
                "diverged": diverged,
                "diverged_step": result.diverged_step,
            }

        key = phase_key(
            self.VERSION,
            {
                "data": spec.model_dump(exclude={"architectures"}),
                "arch": arch.model_dump(),
                "seed": seed,
                "train": config.train,
            },
        )
        trained = run.phase(unit.id, "train", key, fit)
        recurrent = read_json(trained.path / "manifest.json")["summary"]["kind"] == "recurrent"
        # A diverged net has no states, probe or robustness: its phases store nan with a reason.
        diverged = bool(trained.summary.get("diverged", False))
        if recurrent:
            self._phi_gaussian(run, config, unit, arch, data, trained, diverged)
        self._phi_exact(run, config, unit, arch, data, trained, recurrent, diverged)
        self._robustness(run, config, unit, arch, data, trained, diverged)

    def _phi_gaussian(
        self,
        run: Run,
        config: Exp03Config,
        unit: Unit,
        arch: ArchitectureSpec,
        data: Dataset,
        trained: PhaseRecord,
        diverged: bool = False,
    ) -> PhaseRecord:
        section = config.phi_gaussian
        seed = unit.params["seed"]

        def compute(out: Path) -> dict[str, Any]:
            if diverged:
                return _undefined_gaussian(out, TRAIN_DIVERGED)
            model = _trained(arch, data, seed, trained)
            n = min(section.examples, len(data.y_test))
            pick = torch.randperm(
                len(data.y_test), generator=torch_generator(seed, "phi_inputs", unit.id)
            )[:n]
            states = hidden_states(model, data.x_test[pick]).double().numpy()  # (N, L, H)
            if not np.isfinite(states).all():
                return _undefined_gaussian(out, NONFINITE_STATES)
            try:
                result = timeseries_integration(
                    states,
                    rng=numpy_rng(seed, "phi_gaussian", unit.id),
                    measure=section.measure,
                    n_boot=section.n_boot,
                    n_null=section.n_null,
                    level=section.level,
                )
            except InputError as err:  # a VAR(1) that cannot be fitted on these states
                return _undefined_gaussian(out, f"{VAR_FIT_FAILED}: {err}")
            summary: dict[str, Any] = {
                "mi": result.atomic["mi"],
                "mi_null": result.null_atomic["mi"],
            }
            for p, measures, null in (
                ("atomic", result.atomic, result.null_atomic),
                ("mib", result.mib, result.null_mib),
            ):
                for m in PARTITIONED:
                    summary[f"{m}_{p}"] = measures[m]
                    summary[f"{m}_{p}_null"] = null[m]
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
            write_json(out / "measures.json", summary)
            return summary

        key = phase_key(self.VERSION, {"phi_gaussian": section.model_dump()}, [trained])
        return run.phase(unit.id, "phi_gaussian", key, compute)

    def _phi_exact(
        self,
        run: Run,
        config: Exp03Config,
        unit: Unit,
        arch: ArchitectureSpec,
        data: Dataset,
        trained: PhaseRecord,
        recurrent: bool,
        diverged: bool = False,
    ) -> PhaseRecord:
        nodes = config.phi_exact.nodes

        def compute(out: Path) -> dict[str, Any]:
            if diverged:
                return _undefined_probe(out, nodes, recurrent, TRAIN_DIVERGED)
            model = _trained(arch, data, unit.params["seed"], trained)
            if recurrent:
                weight, bias = candidate_drive(model)
                levels = (-1.0, 1.0)
            else:
                layer = _last_linear(model)
                assert layer is not None  # check_inputs refused bodies without a linear layer
                weight = layer.weight.detach().double().numpy()
                bias = layer.bias.detach().double().numpy()
                levels = (0.0, 1.0)
            if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
                return _undefined_probe(out, nodes, recurrent, NONFINITE_WEIGHTS)
            try:
                rows, cols = strongest_block(weight, nodes, tied=recurrent)
                probe = binary_probe(weight, bias, rows, cols, levels=levels, phi=recurrent)
            except InputError as err:  # a degenerate block for this unit's weights
                return _undefined_probe(out, nodes, recurrent, f"{DEGENERATE_PROBE}: {err}")
            summary = {
                "ei": probe.ei,
                "big_phi": probe.phi_mean,
                "big_phi_max": probe.phi_max,
                "n_reachable": probe.n_reachable,
                "nodes": nodes,
                "probe": "recurrent" if recurrent else "layer",
                "rows": list(probe.rows),
                "cols": list(probe.cols),
                "phi_exact_reason": "",
            }
            write_json(out / "probe.json", summary)
            return summary

        key = phase_key(self.VERSION, {"phi_exact": config.phi_exact.model_dump()}, [trained])
        return run.phase(unit.id, "phi_exact", key, compute)

    def _robustness(
        self,
        run: Run,
        config: Exp03Config,
        unit: Unit,
        arch: ArchitectureSpec,
        data: Dataset,
        trained: PhaseRecord,
        diverged: bool = False,
    ) -> PhaseRecord:
        section = config.robustness
        seed = unit.params["seed"]

        def compute(out: Path) -> dict[str, Any]:
            if diverged:
                summary = {
                    "noise_acc": math.nan,
                    "fgsm_acc": math.nan,
                    "noise_sigma": section.noise_sigma,
                    "fgsm_epsilon": section.fgsm_epsilon,
                    "robustness_reason": TRAIN_DIVERGED,
                }
                write_json(out / "robustness.json", summary)
                return summary
            model = _trained(arch, data, seed, trained)
            test = (data.x_test, data.y_test)
            summary = {
                "noise_acc": noise_accuracy(
                    model,
                    test,
                    section.noise_sigma,
                    generator=torch_generator(seed, "noise", unit.id),
                    repeats=section.noise_repeats,
                ),
                "fgsm_acc": fgsm_accuracy(model, test, section.fgsm_epsilon),
                "noise_sigma": section.noise_sigma,
                "fgsm_epsilon": section.fgsm_epsilon,
            }
            write_json(out / "robustness.json", summary)
            return summary

        key = phase_key(self.VERSION, {"robustness": section.model_dump()}, [trained])
        return run.phase(unit.id, "robustness", key, compute)

    # --- analysis -------------------------------------------------------------------------------

    def analyse(self, run: Run, config: RunConfig) -> dict[str, float]:
        assert isinstance(config, Exp03Config)
        rows = [unit_row(run, unit) for unit in self.plan(config)]
        write_csv(run.path / "units.csv", rows, columns=unit_columns())
        table = correlation_table(
            rows,
            PREDICTORS,
            OUTCOMES,
            group="dataset",
            covariate="log_params",
            adjust="perm_p",
            n_permutations=config.analysis.n_permutations,
            n_bootstrap=config.analysis.n_bootstrap,
            seed=config.seed,
        )
        write_csv(run.path / "correlations.csv", table)
        write_csv(
            run.path / "tables" / "exclusions.csv",
            exclusion_rows(rows),
            columns=EXCLUSION_COLUMNS,
        )
        summary = bias_summary(rows, config.phi_gaussian.measure)
        write_json(run.path / "tables" / "summary.json", summary)
        headline = {
            f"rho/{r['predictor']}~{r['outcome']}": r["rho"]
            for r in table
            if r["dataset"] == "all" and math.isfinite(r["rho"])
        }
        headline["units"] = float(len(rows))
        return headline

    def report(self, run: Run, config: RunConfig) -> Path:
        assert isinstance(config, Exp03Config)
        from axionlab.protocols.exp03_report import build_report

        return build_report(run, config)


PREDICTORS = (*GAUSSIAN_COLUMNS, "big_phi", "ei", "log_params")
IDENTITY = ("unit", "dataset", "arch", "family", "kind", "seed", "params", "log_params")
GAUSSIAN_DIAGNOSTICS = (
    "ci_low",
    "ci_high",
    "n_boot_valid",
    "n_transitions",
    "n_trials",
    "hidden",
    "spectral_radius",
)
NULL_COLUMNS = tuple(f"{c}_null" for c in GAUSSIAN_COLUMNS)


def unit_columns() -> list[str]:
    """Columns of units.csv in order (Gaussian columns empty for feed-forward units)."""
    return [
        *IDENTITY,
        "train_acc",
        "test_acc",
        "gap",
        "noise_acc",
        "fgsm_acc",
        *GAUSSIAN_COLUMNS,
        *NULL_COLUMNS,
        *GAUSSIAN_DIAGNOSTICS,
        "partition",
        "reason",
        "big_phi",
        "big_phi_max",
        "ei",
        "n_reachable",
        "probe",
        "diverged",
        "diverged_step",
        "train_reason",
        "robustness_reason",
        "phi_exact_reason",
    ]


def _summary(run: Run, unit: Unit, phase: str) -> dict[str, Any]:
    result: dict[str, Any] = read_json(require_phase(run, unit.id, phase) / "manifest.json")[
        "summary"
    ]
    return result


def unit_row(run: Run, unit: Unit) -> dict[str, Any]:
    """One row of units.csv, read from the unit's stored phase outputs."""
    trained = _summary(run, unit, "train")
    row: dict[str, Any] = {
        k: trained[k]
        for k in (
            "dataset",
            "arch",
            "family",
            "kind",
            "seed",
            "params",
            "train_acc",
            "test_acc",
            "gap",
        )
    }
    diverged = bool(trained.get("diverged", False))
    row.update(
        unit=unit.id,
        log_params=math.log10(trained["params"]),
        diverged=diverged,
        diverged_step=trained.get("diverged_step"),
        train_reason=TRAIN_DIVERGED if diverged else "",
    )
    if diverged:  # a diverged net's accuracies are not outcomes (evaluate gives nan)
        row.update(train_acc=math.nan, test_acc=math.nan, gap=math.nan)
    row.update(_summary(run, unit, "robustness"))
    if trained["kind"] == "recurrent":
        row.update(_summary(run, unit, "phi_gaussian"))
    else:
        row.update(
            dict.fromkeys([*GAUSSIAN_COLUMNS, *NULL_COLUMNS, *GAUSSIAN_DIAGNOSTICS], math.nan)
        )
    row.update(_summary(run, unit, "phi_exact"))
    return {k: row.get(k, "") for k in unit_columns()}


EXCLUSION_COLUMNS = ["unit", "what", "reason", "step"]
REASON_COLUMNS = (
    ("train_reason", "training (every outcome and measure)"),
    ("reason", "phi_gaussian (VAR(1) measures)"),
    ("phi_exact_reason", "phi_exact (Φ, EI)"),
    ("robustness_reason", "robustness (noise_acc, fgsm_acc)"),
)


def exclusion_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every unit and outcome family left out of the analysis (nan), with its reason."""
    out: list[dict[str, Any]] = []
    for r in rows:
        if r["train_reason"]:
            out.append(
                {
                    "unit": r["unit"],
                    "what": REASON_COLUMNS[0][1],
                    "reason": r["train_reason"],
                    "step": r["diverged_step"],
                }
            )
            continue
        for column, what in REASON_COLUMNS[1:]:
            if r[column]:
                out.append({"unit": r["unit"], "what": what, "reason": r[column], "step": None})
    return out


def bias_summary(rows: list[dict[str, Any]], measure: str) -> dict[str, Any]:
    """How far the MIB criterion measure stands above its shuffled-time null, over units."""
    observed = np.array([r[f"{measure}_mib"] for r in rows], dtype=float)
    null = np.array([r[f"{measure}_mib_null"] for r in rows], dtype=float)
    low = np.array([r["ci_low"] for r in rows], dtype=float)
    valid = np.isfinite(observed) & np.isfinite(null)
    ratio = observed[valid] / np.where(null[valid] > 0, null[valid], math.nan)
    return {
        "measure": f"{measure}_mib",
        "n_recurrent": int(valid.sum()),
        "n_ci_above_null": int(np.sum(low[valid] > null[valid])),
        "median_null": float(np.median(null[valid])) if valid.any() else math.nan,
        "median_ratio": float(np.nanmedian(ratio)) if np.isfinite(ratio).any() else math.nan,
        "n_units": len(rows),
    }


PROTOCOLS.add(Exp03.name, Exp03)
