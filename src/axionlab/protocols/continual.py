"""Continual-learning benchmarks: strategies over task streams, as a CL library runs them.

Units are scenario × strategy × seed. Each unit has one cached phase, ``stream``: one call of
:func:`axionlab.continual.run_continual` (build the stream, the model and the strategy, learn the
tasks in order, score every task after each), storing the accuracy matrix ``R[i, j]`` and its
average accuracy, backward transfer and forgetting.

The dataset's train/test split is fixed by the run's ``seed``, as a benchmark's split is; each
unit's seed drives the weights, the data order, the strategy's draws and (``permuted``) the task
permutations through :func:`run_continual`'s named streams.

The analysis writes ``results.csv`` (one row per unit) and ``summary.csv`` (mean and 95%
Student-t interval over seeds per scenario × strategy).

A unit whose training diverged (a non-finite loss or weight in any task) is a recorded state:
``diverged`` is true, ``diverged_task``/``diverged_step`` say where, its metrics are ``nan``, the
summary counts only the other seeds (``n``; ``n_diverged`` the rest) and the report names it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from axionlab.config import RunConfig, Section
from axionlab.continual import run_continual
from axionlab.data import Dataset, load_dataset, make_stream
from axionlab.errors import ConfigError, DataError, InputError
from axionlab.protocols.base import PROTOCOLS, Protocol, Unit, require_phase
from axionlab.protocols.sections import (
    ArchitectureSpec,
    DatasetSpec,
    StrategySpec,
    unique_labels,
)
from axionlab.runs import Run, phase_key, read_json, write_csv, write_npz
from axionlab.stats import mean_ci
from axionlab.train import TrainConfig

ScenarioName = Literal["class_il", "task_il", "domain_il"]

METRICS = ("avg_acc", "bwt", "forgetting")
DIVERGENCE = ("diverged", "diverged_task", "diverged_step")
RESULT_COLUMNS = ["scenario", "strategy", "label", "seed", *METRICS, *DIVERGENCE, "unit"]


class StreamSection(Section):
    """How the dataset is cut into tasks, and under which scenarios the stream is learnt."""

    n_tasks: int = Field(default=5, ge=2)
    variant: Literal["split", "permuted", "rotated"] = "split"
    scenarios: list[ScenarioName] = Field(default=["class_il", "task_il"], min_length=1)

    @field_validator("scenarios")
    @classmethod
    def _unique(cls, scenarios: list[str]) -> list[str]:
        if len(set(scenarios)) != len(scenarios):
            raise ValueError(f"must not repeat a scenario, got {scenarios}")
        return scenarios


class ContinualConfig(RunConfig):
    protocol: Literal["continual"] = "continual"
    dataset: DatasetSpec
    stream: StreamSection = StreamSection()
    architecture: ArchitectureSpec
    train: TrainConfig = TrainConfig(optimizer="adam", lr=1e-3, epochs=10, batch_size=128)
    strategies: list[StrategySpec] = Field(min_length=1)
    seeds: list[int] = Field(default=[0], min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> ContinualConfig:
        unique_labels(self.strategies, "strategy")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be unique, got {self.seeds}")
        return self


@functools.lru_cache(maxsize=4)
def _load(name: str, root: str | None, seed: int, options_json: str) -> Dataset:
    return load_dataset(name, root=root, seed=seed, **json.loads(options_json))


def _dataset(config: ContinualConfig) -> Dataset:
    spec = config.dataset
    return _load(spec.name, spec.root, config.seed, json.dumps(spec.options, sort_keys=True))


class Continual(Protocol):
    name = "continual"
    VERSION = "2"
    """2: a diverged stream stops and scores nan (was: trained on and scored NaN weights)."""
    Config = ContinualConfig

    def check_inputs(self, config: RunConfig) -> None:
        assert isinstance(config, ContinualConfig)
        try:
            dataset = _dataset(config)
        except DataError as err:
            raise config.dataset.load_error(err, "dataset") from None
        config.architecture.check(dataset.input_shape, len(dataset.classes), "architecture")
        stream = config.stream
        for scenario in stream.scenarios:
            try:
                make_stream(dataset, scenario, stream.n_tasks, variant=stream.variant)
            except InputError as err:
                raise ConfigError(f"stream: {err}") from None

    def plan(self, config: RunConfig) -> list[Unit]:
        assert isinstance(config, ContinualConfig)
        return [
            Unit(
                f"{scenario}__{strategy.display}__s{seed}",
                {"scenario": scenario, "strategy": s, "seed": seed},
            )
            for scenario in config.stream.scenarios
            for s, strategy in enumerate(config.strategies)
            for seed in config.seeds
        ]

    def run_unit(self, run: Run, config: RunConfig, unit: Unit) -> None:
        assert isinstance(config, ContinualConfig)
        scenario = unit.params["scenario"]
        strategy = config.strategies[unit.params["strategy"]]
        seed = unit.params["seed"]
        arch = config.architecture

        def compute(out: Path) -> dict[str, Any]:
            result = run_continual(
                _dataset(config),
                scenario=scenario,
                strategy=strategy.name,
                n_tasks=config.stream.n_tasks,
                train_config=config.train,
                seed=seed,
                model=arch.name,
                model_options=arch.options,
                strategy_options=strategy.options,
                variant=config.stream.variant,
                progress=False,
            )
            write_npz(out / "accuracy.npz", {"accuracy": result.accuracy})
            return {
                "scenario": scenario,
                "strategy": strategy.name,
                "label": strategy.display,
                "seed": seed,
                "avg_acc": result.avg_acc,
                "bwt": result.bwt,
                "forgetting": result.forgetting,
                "diverged": result.diverged_task is not None,
                "diverged_task": result.diverged_task,
                "diverged_step": result.diverged_step,
            }

        key = phase_key(
            self.VERSION,
            {
                "dataset": config.dataset.model_dump(),
                "data_seed": config.seed,
                "stream": config.stream.model_dump(exclude={"scenarios"}),
                "scenario": scenario,
                "architecture": arch.model_dump(exclude={"label"}),
                "train": config.train,
                "strategy": strategy.model_dump(exclude={"label"}),
                "seed": seed,
            },
        )
        run.phase(unit.id, "stream", key, compute)

    def analyse(self, run: Run, config: RunConfig) -> dict[str, float]:
        assert isinstance(config, ContinualConfig)
        rows: list[Mapping[str, Any]] = [result_row(run, unit) for unit in self.plan(config)]
        write_csv(run.path / "results.csv", rows, RESULT_COLUMNS)
        summary = summary_rows(rows)
        write_csv(run.path / "summary.csv", summary)
        return {f"avg_acc/{r['scenario']}/{r['label']}": r["avg_acc"] for r in summary}

    def report(self, run: Run, config: RunConfig) -> Path:
        assert isinstance(config, ContinualConfig)
        from axionlab.protocols.continual_report import build_report

        return build_report(run, config, self.plan(config))


def result_row(run: Run, unit: Unit) -> dict[str, Any]:
    """One row of results.csv, read from the unit's stored ``stream`` phase."""
    manifest = read_json(require_phase(run, unit.id, "stream") / "manifest.json")
    return {**{k: manifest["summary"][k] for k in RESULT_COLUMNS[:-1]}, "unit": unit.id}


def summary_rows(rows: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Mean and 95% Student-t interval of every metric over seeds, per scenario × strategy."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["scenario"], row["label"]), []).append(row)
    out: list[Mapping[str, Any]] = []
    for (scenario, label), members in groups.items():
        defined = [r for r in members if not r["diverged"]]
        entry: dict[str, Any] = {
            "scenario": scenario,
            "strategy": members[0]["strategy"],
            "label": label,
            "n": len(defined),
            "n_diverged": len(members) - len(defined),
        }
        for metric in METRICS:
            mean, low, high, _ = mean_ci([r[metric] for r in defined] or [float("nan")])
            entry.update({metric: mean, f"{metric}_low": low, f"{metric}_high": high})
        out.append(entry)
    return out


PROTOCOLS.add(Continual.name, Continual)
