"""EXP-01: does loss-landscape topology at the end of task A predict forgetting on task B?

Units are architecture × dataset × seed. Each unit runs these cached phases:

1. ``task_a``: train on the first classes of the dataset (task A).
2. ``plane_<s>`` for each slice s: the task-A test loss on a 2-D plane through the trained
   weights along two filter-normalised Gaussian directions (Li et al. 2018), in eval mode, with an
   odd grid so the trained point is the centre.
3. ``topology_<s>``: sublevel-set persistence of that plane (cubical H0/H1), summary features,
   the lab's legacy graph statistic (Ripser without vertex births) and the window's mean loss.
4. ``curvature``: Hessian top eigenvalue and trace, Fisher trace and sharpness on task A.
4b. ``structure``: structural predictors that need no topology: weight-matrix spectra (HT-SR
   α, weighted α, stable rank, norms; WeightWatcher's definitions), neural collapse NC1–NC4 of
   the penultimate task-A training features, basin radii along random filter-normalised
   directions and the area of the centre's sublevel-set component on slice 0.
5. ``forget_<strategy>`` for each configured strategy: the head expanded to all classes
   (class-incremental), a stability check of the strategy's penalty under task B's optimizer
   (``task_b.stability``), then task B by SGD, task-A accuracy at the configured steps;
   retention ret@k = acc_A(k)/acc_A(0) and AURC (mean retention over steps ≤ ``aurc_max_step``).

Divergence and undefined outcomes are states, not numbers: a task A whose training diverged
gets no planes, curvature or task B (its unit's predictors and outcomes are ``nan``, reason
``task_a_diverged``); a diverged task-B strategy, or one whose task-A accuracy is 0 at step 0,
has ``nan`` AURC, ret@k and benefit with the reason in ``units.csv`` (``<outcome>_reason``). The
run completes; the analysis counts only defined rows (the ``n`` column) and the report names
every excluded unit, outcome and reason.

The analysis correlates every predictor with every outcome (per dataset and pooled) with
permutation p-values, bootstrap CIs, Holm/Bonferroni corrections and partial correlations
controlling for log parameter count; fits leave-one-architecture-out ridge models with and
without topology features; and reports the slice-to-slice stability of every feature.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, field_validator, model_validator

from axionlab.collapse import neural_collapse, penultimate_features
from axionlab.config import RunConfig, Section, check_memory
from axionlab.continual import TaskContext, build_strategy, retention_curve
from axionlab.continual.metrics import DIVERGED
from axionlab.continual.stability import StabilityMode, check_penalty_stability
from axionlab.data import Dataset, Task, load_dataset, split_classes
from axionlab.errors import ConfigError, DataError, InputError, UserError
from axionlab.landscape import (
    basin_area,
    basin_radii,
    fisher_diagonal,
    fisher_trace,
    hessian_top_eigenvalues,
    hessian_trace,
    loss_plane,
    random_directions,
    sharpness,
)
from axionlab.models import build_model, count_parameters, get_head
from axionlab.protocols.base import PROTOCOLS, Protocol, Unit, require_phase
from axionlab.protocols.exp01_published import protocol_departures
from axionlab.protocols.sections import (
    ArchitectureSpec,
    DatasetSpec,
    StrategySpec,
    unique_labels,
)
from axionlab.repro import torch_generator
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
from axionlab.spectra import layer_spectra, spectra_summary
from axionlab.stats import correlate, correlation_table, icc, loo_ridge
from axionlab.topology import plane_topology
from axionlab.topology.planes import LEGACY_NEEDS_FINITE
from axionlab.train import (
    AUGMENTATIONS,
    AugmentName,
    TrainConfig,
    all_finite,
    evaluate,
    load_checkpoint,
    save_checkpoint,
    train,
)

# --- data and models ------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _load(name: str, root: str | None, seed: int, options_json: str) -> Dataset:
    return load_dataset(name, root=root, seed=seed, **json.loads(options_json))


def _tasks(spec: Exp01Dataset, seed: int) -> tuple[Dataset, Dataset]:
    dataset = _load(spec.name, spec.root, seed, json.dumps(spec.options, sort_keys=True))
    if spec.task_a_classes >= len(dataset.classes):
        raise ConfigError(
            f"datasets.task_a_classes must be below the {len(dataset.classes)} "
            f"classes of '{spec.name}', got {spec.task_a_classes}"
        )
    return split_classes(dataset, spec.task_a_classes)


def _model(config: Exp01Config, unit: Unit, task_a: Dataset) -> torch.nn.Module:
    arch = config.architectures[unit.params["arch"]]
    return build_model(
        arch.name,
        task_a.input_shape,
        len(task_a.classes),
        generator=torch_generator(unit.params["seed"], "init", arch.display),
        **arch.options,
    )


def _trained_model(
    config: Exp01Config, unit: Unit, task_a: Dataset, record: PhaseRecord
) -> torch.nn.Module:
    model = _model(config, unit, task_a)
    load_checkpoint(record.path / "model.pt", model)
    return model.eval()


def _split(data: Dataset, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    return (data.x_test, data.y_test) if split == "test" else (data.x_train, data.y_train)


def _subset(
    x: torch.Tensor, y: torch.Tensor, n: int | None, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    if n is None or n >= len(y):
        return x, y
    index = torch.randperm(len(y), generator=gen)[:n]
    return x[index], y[index]


# --- the protocol ---------------------------------------------------------------------------


def _basins(
    model: torch.nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    struct: StructureSection,
    config: Exp01Config,
    seed: int,
    unit: Unit,
    plane: PhaseRecord,
    out: Path,
) -> dict[str, Any]:
    """Basin radii along random directions and the centre's sublevel area on slice 0."""
    directions = [
        random_directions(
            model,
            1,
            normalization=config.landscape.normalization,
            ignore_1d=config.landscape.ignore_1d,
            generator=torch_generator(seed, "basin_directions", unit.id, i),
        )[0]
        for i in range(struct.basin_directions)
    ]
    radii = basin_radii(
        model,
        F.cross_entropy,
        data,
        directions,
        deltas=struct.basin_deltas,
        relative=struct.basin_relative,
        max_radius=struct.basin_max_radius,
        tol=struct.basin_tol,
    )
    stored = read_npz(plane.path / "plane.npz")
    values = stored["values"]
    # the trained point is the grid cell at (0, 0), whatever the span
    center = (int(np.argmin(np.abs(stored["alphas"]))), int(np.argmin(np.abs(stored["betas"]))))
    centre_loss = float(values[center])
    if not math.isfinite(centre_loss):
        raise InputError(f"the plane's loss at the trained point is {centre_loss}")
    thresholds = np.where(
        radii.relative, centre_loss * (1.0 + radii.requested), centre_loss + radii.requested
    )
    area = basin_area(values, thresholds, center=center)
    names = [c.removeprefix("basin_radius_") for c in struct.basin_columns()[: len(thresholds)]]
    result: dict[str, Any] = {"basin_center_loss": radii.center_loss}
    for k, name in enumerate(names):
        result[f"basin_radius_{name}"] = float(radii.mean[k])
        result[f"basin_radius_{name}_min"] = float(radii.min[k])
        result[f"basin_radius_{name}_max"] = float(radii.max[k])
        result[f"basin_unbounded_{name}"] = int(radii.n_unbounded[k])
        result[f"basin_area_{name}"] = float(area.fraction[k])
        result[f"basin_area_touches_border_{name}"] = bool(area.touches_border[k])
    write_npz(out / "basin.npz", {"radii": radii.radii, "thresholds": thresholds})
    return result


class Exp01(Protocol):
    name = "exp01"
    VERSION = "2"
    """2: divergence is a state (nan outcomes with reasons), penalty stability check."""
    Config = Exp01Config

    def check_inputs(self, config: RunConfig) -> None:
        assert isinstance(config, Exp01Config)
        for i, spec in enumerate(config.datasets):
            try:
                task_a, _ = _tasks(spec, config.seeds[0])
            except DataError as err:
                raise spec.load_error(err, f"datasets.{i}") from None
            for a, arch in enumerate(config.architectures):
                arch.check(task_a.input_shape, len(task_a.classes), f"architectures.{a}")
            if config.task_a.augment == "crop_flip" and len(task_a.input_shape) != 3:
                raise ConfigError(
                    f"task_a.augment: 'crop_flip' needs image inputs (C, H, W), but "
                    f"'{spec.name}' has inputs of shape {tuple(task_a.input_shape)}; "
                    "use augment: none"
                )

    def plan(self, config: RunConfig) -> list[Unit]:
        assert isinstance(config, Exp01Config)
        return [
            Unit(f"{data.name}__{arch.display}__s{seed}", {"dataset": d, "arch": a, "seed": seed})
            for d, data in enumerate(config.datasets)
            for a, arch in enumerate(config.architectures)
            for seed in config.seeds
        ]

    def run_unit(self, run: Run, config: RunConfig, unit: Unit) -> None:
        assert isinstance(config, Exp01Config)
        spec = config.datasets[unit.params["dataset"]]
        arch = config.architectures[unit.params["arch"]]
        seed = unit.params["seed"]
        task_a, task_b = _tasks(spec, seed)

        def train_a(out: Path) -> dict[str, Any]:
            model = _model(config, unit, task_a)
            history = train(
                model,
                (task_a.x_train, task_a.y_train),
                config.task_a,
                generator=torch_generator(seed, "train_a", arch.display),
                augment=AUGMENTATIONS[config.task_a.augment],
                progress=False,
            )
            loss, acc = evaluate(model, (task_a.x_test, task_a.y_test), batch_size=1024)
            save_checkpoint(out / "model.pt", model)
            write_npz(out / "history.npz", {"loss": history.loss, "accuracy": history.accuracy})
            return {
                "task_a_acc": acc,
                "task_a_loss": loss,
                "task_a_diverged": history.diverged or not all_finite(model.parameters()),
                "task_a_diverged_step": history.diverged_step,
                "params": count_parameters(model),
                "family": str(getattr(model, "family", arch.name)),
                "arch": arch.display,
                "dataset": spec.name,
                "seed": seed,
            }

        a_key = phase_key(
            self.VERSION,
            {
                "data": spec.model_dump(),
                "arch": arch.model_dump(),
                "seed": seed,
                "train": config.task_a,
            },
        )
        a_rec = run.phase(unit.id, "task_a", a_key, train_a)
        if a_rec.summary["task_a_diverged"]:
            return  # nothing downstream is defined; the analysis names the unit
        planes = [
            self._plane(run, config, unit, task_a, a_rec, s) for s in range(config.landscape.slices)
        ]
        for s, plane in enumerate(planes):
            self._topology(run, config, unit, plane, s)
        if config.curvature.enabled:
            self._curvature(run, config, unit, task_a, a_rec)
        if config.structure.enabled:
            self._structure(run, config, unit, task_a, a_rec, planes[0])
        for strategy in config.task_b.strategies:
            self._forget(run, config, unit, task_a, task_b, a_rec, strategy)

    def _plane(
        self, run: Run, config: Exp01Config, unit: Unit, task_a: Dataset, a_rec: PhaseRecord, s: int
    ) -> PhaseRecord:
        land = config.landscape

        def compute(out: Path) -> dict[str, Any]:
            model = _trained_model(config, unit, task_a, a_rec)
            directions = random_directions(
                model,
                2,
                normalization=land.normalization,
                ignore_1d=land.ignore_1d,
                generator=torch_generator(unit.params["seed"], "directions", unit.id, s),
            )
            surface = loss_plane(
                model,
                F.cross_entropy,
                _split(task_a, land.split),
                directions,
                steps=land.steps,
                span=land.span,
                max_examples=land.max_examples,
                strategy=land.strategy,
                show_progress=False,
            )
            write_npz(
                out / "plane.npz",
                {"alphas": surface.alphas, "betas": surface.betas, "values": surface.values},
            )
            return {
                "center_loss": surface.center_loss,
                "n_nonfinite": surface.n_nonfinite,
                "seconds": surface.seconds,
                "strategy": surface.strategy,
            }

        key = phase_key(self.VERSION, {"landscape": land.model_dump(), "slice": s}, [a_rec])
        return run.phase(unit.id, f"plane_{s}", key, compute)

    def _topology(
        self, run: Run, config: Exp01Config, unit: Unit, plane: PhaseRecord, s: int
    ) -> PhaseRecord:
        topo = config.topology

        def compute(out: Path) -> dict[str, Any]:
            result = plane_topology(
                read_npz(plane.path / "plane.npz")["values"],
                construction=topo.construction,
                threshold=topo.threshold,
                legacy=topo.legacy,
            )
            write_npz(out / "diagrams.npz", result.diagrams)
            write_json(out / "features.json", result.features)
            return {**result.features, "reason": result.reason}

        key = phase_key(self.VERSION, {"topology": topo.model_dump()}, [plane])
        return run.phase(unit.id, f"topology_{s}", key, compute)

    def _curvature(
        self, run: Run, config: Exp01Config, unit: Unit, task_a: Dataset, a_rec: PhaseRecord
    ) -> PhaseRecord:
        curv = config.curvature
        seed = unit.params["seed"]

        def compute(out: Path) -> dict[str, Any]:
            model = _trained_model(config, unit, task_a, a_rec)
            data = _subset(
                task_a.x_train,
                task_a.y_train,
                curv.examples,
                torch_generator(seed, "curvature_data", unit.id),
            )
            top = hessian_top_eigenvalues(
                model,
                F.cross_entropy,
                data,
                k=1,
                tol=curv.hessian_tol,
                max_hvp=curv.max_hvp,
                generator=torch_generator(seed, "lanczos", unit.id),
            )
            trace = hessian_trace(
                model,
                F.cross_entropy,
                data,
                method="hutch++",
                n_hvp=curv.trace_hvp,
                generator=torch_generator(seed, "hutch", unit.id),
            )
            fisher = fisher_diagonal(
                model, data, kind=curv.fisher, generator=torch_generator(seed, "fisher", unit.id)
            )
            sharp = sharpness(model, F.cross_entropy, data, rho=curv.sharpness_rho)
            adaptive = sharpness(
                model, F.cross_entropy, data, rho=curv.sharpness_rho, adaptive=True
            )
            result = {
                "hessian_top_eig": float(top.eigenvalues[0]),
                "hessian_converged": bool(top.converged),
                "hessian_hvp": top.n_hvp,
                "hessian_trace": trace.estimate,
                "hessian_trace_se": trace.std_error,
                "fisher_trace": fisher_trace(fisher),
                "sharpness": sharp.value,
                "adaptive_sharpness": adaptive.value,
            }
            write_json(out / "curvature.json", result)
            return result

        key = phase_key(self.VERSION, {"curvature": curv.model_dump()}, [a_rec])
        return run.phase(unit.id, "curvature", key, compute)

    def _structure(
        self,
        run: Run,
        config: Exp01Config,
        unit: Unit,
        task_a: Dataset,
        a_rec: PhaseRecord,
        plane: PhaseRecord,
    ) -> PhaseRecord:
        struct = config.structure
        seed = unit.params["seed"]

        def compute(out: Path) -> dict[str, Any]:
            model = _trained_model(config, unit, task_a, a_rec)
            x, y = _subset(
                task_a.x_train,
                task_a.y_train,
                struct.examples,
                torch_generator(seed, "structure_data", unit.id),
            )
            head = get_head(model)
            measures: dict[str, Callable[[], Mapping[str, Any]]] = {
                "spectra": lambda: {
                    f"spectra_{k}": v
                    for k, v in dataclasses.asdict(spectra_summary(layer_spectra(model))).items()
                },
                "collapse": lambda: dataclasses.asdict(
                    neural_collapse(
                        penultimate_features(model, x, head=head),
                        y,
                        head.weight.detach(),
                        head.bias,
                    )
                ),
                "basin": lambda: _basins(model, (x, y), struct, config, seed, unit, plane, out),
            }
            result: dict[str, Any] = dict.fromkeys(struct.columns(), math.nan)
            reasons: list[str] = []
            # each family is undefined on its own terms (no layer large enough for a spectrum,
            # a zero centre loss for a relative rise, ...): nan + reason, never a failed run
            for family, measure in measures.items():
                try:
                    result.update(measure())
                except InputError as err:
                    reasons.append(f"{family}: {err}")
            result["reason"] = "; ".join(reasons)
            return result

        key = phase_key(self.VERSION, {"structure": struct.model_dump()}, [a_rec, plane])
        return run.phase(unit.id, "structure", key, compute)

    def _forget(
        self,
        run: Run,
        config: Exp01Config,
        unit: Unit,
        task_a: Dataset,
        task_b: Dataset,
        a_rec: PhaseRecord,
        spec: Exp01Strategy,
    ) -> PhaseRecord:
        tb = config.task_b
        seed = unit.params["seed"]

        def compute(out: Path) -> dict[str, Any]:
            model = _trained_model(config, unit, task_a, a_rec)
            strategy = build_strategy(spec.name, **spec.options)
            learnt = Task(
                index=0,
                classes=tuple(task_a.classes),
                train=(task_a.x_train, task_a.y_train),
                test=(task_a.x_test, task_a.y_test),
            )
            context = TaskContext(
                scenario="class_il",
                class_groups=None,
                generator=torch_generator(seed, "strategy", unit.id),
            )
            strategy.after_task(model, learnt, context)
            try:
                stability = check_penalty_stability(strategy, tb.train, mode=tb.stability)
            except UserError as err:
                raise ConfigError(f"task_b.stability (unit {unit.id}): {err}") from None
            # Every strategy sees the same task-B data order and new head rows (the head grows
            # to all classes inside retention_curve: class-incremental, as the lab's protocol).
            curve = retention_curve(
                model,
                (task_a.x_test, task_a.y_test),
                (task_b.x_train, task_b.y_train),
                strategy,
                eval_steps=tb.eval_steps,
                train_config=tb.train,
                generator=torch_generator(seed, "task_b", unit.id),
                task_b_eval=(task_b.x_test, task_b.y_test),
                progress=False,
            )
            outcome = curve.outcome(max_step=tb.aurc_max_step)
            write_npz(
                out / "curve.npz",
                {
                    "steps": curve.steps,
                    "acc_a": curve.acc_a,
                    "acc_b": curve.acc_b,
                    "retention": outcome.retention,
                    "loss": curve.history.loss,
                },
            )
            summary: dict[str, Any] = {
                "aurc": outcome.aurc,
                "reason": outcome.reason,
                # non-finite scores without a stopped step (e.g. non-finite BatchNorm buffers)
                "diverged": curve.diverged_step is not None or outcome.reason == DIVERGED,
                "diverged_step": curve.diverged_step,
                "acc_a0": float(curve.acc_a[0]),
                "acc_b_final": float(curve.acc_b[-1]),
                "strength": stability.strength,
                "effective_strength": stability.effective_strength,
                "stability_ratio": stability.ratio,
                "stability_action": stability.action,
            }
            for step, ret in zip(curve.steps, outcome.retention, strict=True):
                summary[f"ret@{int(step)}"] = float(ret)
            return summary

        tb_slice = tb.model_dump(exclude={"strategies"}) | {"strategy": spec.model_dump()}
        key = phase_key(self.VERSION, tb_slice, [a_rec])
        return run.phase(unit.id, f"forget_{spec.display}", key, compute)

    # --- analysis ---------------------------------------------------------------------------

    def analyse(self, run: Run, config: RunConfig) -> dict[str, float]:
        assert isinstance(config, Exp01Config)
        units = self.plan(config)
        rows = [unit_row(run, config, unit) for unit in units]
        write_csv(run.path / "units.csv", rows)
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
        }
        # With one dataset the pooled rows would repeat the per-dataset ones and double the
        # family that Holm corrects over. Undefined (nan) values drop out per test: see n.
        table = correlation_table(
            rows,
            predictors,
            outcomes,
            group="dataset",
            covariate="log_params",
            pooled=len(config.datasets) > 1,
            **options,
        )
        write_csv(run.path / "correlations.csv", table)
        by_family = correlation_table(
            rows,
            predictors,
            outcomes,
            group="family",
            covariate="log_params",
            pooled=False,
            **options,
        )
        write_csv(run.path / "tables" / "correlations_by_family.csv", by_family)
        if config.structure.enabled:
            # their own family: Holm corrects over these tests only, so adding them never moves
            # the p-values of the topology and curvature family above
            structure = correlation_table(
                rows,
                config.structure.columns(),
                outcomes,
                group="dataset",
                covariate="log_params",
                pooled=len(config.datasets) > 1,
                **options,
            )
            write_csv(run.path / "tables" / "correlations_structure.csv", structure)
        write_csv(run.path / "tables" / "ridge.csv", ridge_rows(rows, config))
        write_csv(run.path / "tables" / "stability.csv", stability_rows(run, config, units))
        write_csv(
            run.path / "tables" / "exclusions.csv",
            exclusion_rows(rows, config),
            EXCLUSION_COLUMNS,
        )
        write_csv(
            run.path / "tables" / "departures.csv",
            protocol_departures(config.model_dump(mode="json")),
            ["setting", "published", "used", "note"],
        )
        summary = legacy_agreement(rows)
        write_json(run.path / "tables" / "summary.json", summary)
        pooled = pooled_rows(table)
        headline = {
            f"rho/{r['predictor']}~{r['outcome']}": r["rho"]
            for r in pooled
            if isinstance(r["rho"], float) and math.isfinite(r["rho"])
        }
        headline["units"] = float(len(rows))
        return headline

    def report(self, run: Run, config: RunConfig) -> Path:
        assert isinstance(config, Exp01Config)
        from axionlab.protocols.exp01_report import build_report

        return build_report(run, config, self.plan(config))


def pooled_rows(table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The correlation rows over all units: the pooled ones, or the only dataset's."""
    pooled = [r for r in table if r["dataset"] == "all"]
    return pooled or table


def strategy_labels(config: Exp01Config) -> list[str]:
    return [s.display for s in config.task_b.strategies]


def predictor_columns(config: Exp01Config) -> list[str]:
    topo = [*TOPOLOGY_FEATURES, *CONTROL_FEATURES]
    curvature = list(CURVATURE_FEATURES) if config.curvature.enabled else []
    return [*topo, *curvature, "log_params"]


def outcome_columns(config: Exp01Config) -> list[str]:
    outcomes = ["aurc_naive", *(f"ret@{k}_naive" for k in config.analysis.retention_steps)]
    outcomes += [f"{label}_benefit" for label in strategy_labels(config) if label != "naive"]
    return outcomes


def _numeric(summary: Mapping[str, Any]) -> dict[str, float]:
    """The float features of a phase summary (drops its ``reason`` and other labels)."""
    return {k: float(v) for k, v in summary.items() if k != "reason"}


def _reason(*reasons: str) -> str:
    return "; ".join(dict.fromkeys(r for r in reasons if r))


def unit_row(run: Run, config: Exp01Config, unit: Unit) -> dict[str, Any]:
    """One row of units.csv, read from the unit's stored phase outputs.

    Every row has the same columns: a unit whose task A diverged has ``nan`` predictors and
    outcomes with the reason ``task_a_diverged``; an undefined outcome is ``nan`` with its
    ``<outcome>_reason``.
    """
    summary = _summary(run, unit, "task_a")
    row: dict[str, Any] = {k: summary[k] for k in ("dataset", "arch", "family", "seed")}
    a_diverged = bool(summary["task_a_diverged"])
    row.update(
        unit=unit.id,
        params=summary["params"],
        log_params=math.log10(summary["params"]),
        task_a_acc=summary["task_a_acc"],
        task_a_diverged=a_diverged,
        task_a_diverged_step=summary["task_a_diverged_step"],
    )
    slices = [
        None if a_diverged else _summary(run, unit, f"topology_{s}")
        for s in range(config.landscape.slices)
    ]
    names = _topology_names(config)
    features = {name: np.full(len(slices), np.nan) for name in names}
    # the legacy statistic has its own reason: it alone needs a plane without non-finite points
    reasons: dict[str, list[str]] = {"topology": [], "legacy": []}
    for sl in slices:
        if sl is not None and sl.get("reason", ""):
            family = "legacy" if sl["reason"] == LEGACY_NEEDS_FINITE else "topology"
            reasons[family].append(sl["reason"])
    for s, sl in enumerate(slices):
        for name, value in ({} if sl is None else _numeric(sl)).items():
            features[name][s] = value
    for name in names:
        values = features[name]
        defined = bool(np.isfinite(values).all())
        # a feature is defined only on every slice: averaging the finite ones would bias it
        if not a_diverged and not defined:
            reasons["legacy" if name.startswith("legacy") else "topology"].append(NONFINITE_SLICE)
        row[name] = float(values.mean())
        spread = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        row[f"{name}_std"] = spread if defined else math.nan
    for family, found in reasons.items():
        row[f"{family}_reason"] = TASK_A_DIVERGED if a_diverged else _reason(*found)
    if config.curvature.enabled:
        curvature = {} if a_diverged else _summary(run, unit, "curvature")
        for k in CURVATURE_FEATURES:
            row[k] = float(curvature.get(k, math.nan))
        finite = all(math.isfinite(row[k]) for k in CURVATURE_FEATURES)
        row["curvature_reason"] = TASK_A_DIVERGED if a_diverged else ("" if finite else NONFINITE)
    if config.structure.enabled:
        structure = {} if a_diverged else _summary(run, unit, "structure")
        for k in config.structure.columns():
            row[k] = float(structure.get(k, math.nan))
        finite = all(math.isfinite(row[k]) for k in config.structure.columns())
        stated = structure.get("reason", "") or ("" if finite else NONFINITE)
        row["structure_reason"] = TASK_A_DIVERGED if a_diverged else stated
    forget_reason: dict[str, str] = {}
    for label in strategy_labels(config):
        forget = {} if a_diverged else _summary(run, unit, f"forget_{label}")
        forget_reason[label] = TASK_A_DIVERGED if a_diverged else forget["reason"]
        row[f"aurc_{label}"] = float(forget.get("aurc", math.nan))
        for step in config.task_b.eval_steps:
            row[f"ret@{step}_{label}"] = float(forget.get(f"ret@{step}", math.nan))
        row[f"diverged_{label}"] = bool(forget.get("diverged", False))
        row[f"diverged_step_{label}"] = forget.get("diverged_step")
        row[f"effective_strength_{label}"] = float(forget.get("effective_strength", math.nan))
        row[f"stability_ratio_{label}"] = float(forget.get("stability_ratio", math.nan))
        row[f"stability_action_{label}"] = forget.get("stability_action", "")
    for label in strategy_labels(config):
        if label != "naive":
            row[f"{label}_benefit"] = row[f"aurc_{label}"] - row["aurc_naive"]
    for outcome in outcome_columns(config):
        if outcome.endswith("_benefit"):
            label = outcome.removesuffix("_benefit")
            parts = [f"{lb}: {forget_reason[lb]}" for lb in (label, "naive") if forget_reason[lb]]
            row[f"{outcome}_reason"] = TASK_A_DIVERGED if a_diverged else "; ".join(parts)
        else:
            row[f"{outcome}_reason"] = forget_reason[outcome.rsplit("_", 1)[1]]
    return row


def _topology_names(config: Exp01Config) -> list[str]:
    empty = plane_topology(np.full((1, 1), np.nan), legacy=config.topology.legacy)
    return sorted(empty.features)


def _summary(run: Run, unit: Unit, phase: str) -> dict[str, Any]:
    result: dict[str, Any] = read_json(require_phase(run, unit.id, phase) / "manifest.json")[
        "summary"
    ]
    return result


EXCLUSION_COLUMNS = ["unit", "what", "reason", "step"]


def exclusion_rows(rows: list[dict[str, Any]], config: Exp01Config) -> list[dict[str, Any]]:
    """Every unit, strategy and outcome left out of the analysis, with its reason and step."""
    out: list[dict[str, Any]] = []
    for r in rows:
        if r["task_a_diverged"]:
            out.append(
                {
                    "unit": r["unit"],
                    "what": "task A (every predictor and outcome)",
                    "reason": TASK_A_DIVERGED,
                    "step": r["task_a_diverged_step"],
                }
            )
            continue
        for label in strategy_labels(config):
            if r[f"diverged_{label}"]:
                out.append(
                    {
                        "unit": r["unit"],
                        "what": f"task B with {label}",
                        "reason": DIVERGED,
                        "step": r[f"diverged_step_{label}"],
                    }
                )
        for family in ("topology", "legacy", "curvature", "structure"):
            reason = r.get(f"{family}_reason", "")
            if reason:
                out.append({"unit": r["unit"], "what": family, "reason": reason, "step": None})
        for outcome in outcome_columns(config):
            reason = r[f"{outcome}_reason"]
            if reason and DIVERGED not in reason:
                out.append({"unit": r["unit"], "what": outcome, "reason": reason, "step": None})
    return out


RIDGE_TOPOLOGY = (
    "h0_total_persistence_norm",
    "h1_total_persistence_norm",
    "h0_count_above",
    "h1_count_above",
)
RIDGE_STRUCTURE = ("spectra_alpha", "nc1", "nc4")


def ridge_rows(rows: list[dict[str, Any]], config: Exp01Config) -> list[dict[str, Any]]:
    """Leave-one-architecture-out ridge: does topology add to a baseline of known predictors?

    Two baselines: size (+ curvature), and size (+ curvature) + spectra, collapse and the first
    basin radius; each against the same plus the topology features.
    """
    size = ["log_params"] + (
        ["hessian_top_eig", "hessian_trace"] if config.curvature.enabled else []
    )
    baselines = [size]
    if config.structure.enabled:
        baselines.append([*size, *RIDGE_STRUCTURE, config.structure.basin_columns()[0]])
    groups = np.array([r["arch"] for r in rows])
    extra = np.array([[r[c] for c in RIDGE_TOPOLOGY] for r in rows], dtype=float)
    out = []
    for baseline_cols in baselines:
        baseline = np.array([[r[c] for c in baseline_cols] for r in rows], dtype=float)
        for outcome in outcome_columns(config):
            target = np.array([r[outcome] for r in rows], dtype=float)
            fit = loo_ridge(
                baseline,
                extra,
                target,
                groups,
                n_permutations=config.analysis.ridge_permutations,
                seed=config.seed,
            )
            out.append(
                {
                    "outcome": outcome,
                    "baseline": "+".join(baseline_cols),
                    "extra": "+".join(RIDGE_TOPOLOGY),
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


def stability_rows(run: Run, config: Exp01Config, units: list[Unit]) -> list[dict[str, Any]]:
    """Slice-to-slice agreement of every topological feature (ICC(3,1) and ICC(2,1)).

    Units whose task A diverged have no slices and are left out (``n_units`` counts the rest).
    """
    if config.landscape.slices < 2:
        return []
    per_unit = [
        [_numeric(_summary(run, u, f"topology_{s}")) for s in range(config.landscape.slices)]
        for u in units
        if not _summary(run, u, "task_a")["task_a_diverged"]
    ]
    out = []
    for name in _topology_names(config):
        matrix = np.array([[sl[name] for sl in unit] for unit in per_unit]).reshape(
            len(per_unit), config.landscape.slices
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


def legacy_agreement(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How closely the lab's legacy H0 statistic tracks the plane's mean loss in this run."""
    if "legacy_h0_total" not in rows[0]:
        return {}
    legacy = np.array([r["legacy_h0_total"] for r in rows])
    mean = np.array([r["window_mean_loss"] for r in rows])
    keep = np.isfinite(legacy) & np.isfinite(mean)
    result = correlate(legacy[keep], mean[keep], n_permutations=0, n_bootstrap=0)
    return {
        "legacy_vs_window_mean_rho": result.rho,
        "legacy_vs_window_mean_p": result.p,
        "n_units": int(keep.sum()),
    }


PROTOCOLS.add(Exp01.name, Exp01)
