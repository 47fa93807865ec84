"""Continual-learning benchmarks: strategies over task streams, as a CL library runs them.

Units are scenario × strategy × seed. Each unit has one cached phase, ``stream``: one call of
:func:`axionlab.continual.run_continual` (build the stream, the model and the strategy, learn the
tasks in order, score every task after each), storing the accuracy matrix ``R[i, j]`` and its
average accuracy, backward transfer and forgetting.

The dataset's train/test split is fixed by the run's ``seed``, as a benchmark's split is; each
unit's seed drives the weights, the data order, the strategy's draws and (``permuted``) the task
permutations through :func:`run_continual`'s named streams.

A unit whose training diverged (a non-finite loss or weight in any task) is a recorded state:
``diverged`` is true, ``diverged_task``/``diverged_step`` say where, its metrics are ``nan``, the
summary counts only the other seeds (:mod:`.analysis`) and the report names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from axionlab.continual import run_continual
from axionlab.data import make_stream
from axionlab.errors import ConfigError, DataError, InputError
from axionlab.protocols.base import Protocol, Unit, UnitContext
from axionlab.protocols.continual import analysis
from axionlab.protocols.continual.config import ContinualConfig, ContinualUnit
from axionlab.protocols.continual.report import build_report
from axionlab.runs import Run, write_npz

Context = UnitContext[ContinualConfig, ContinualUnit]


class Continual(Protocol[ContinualConfig, ContinualUnit]):
    name = "continual"
    VERSION = "2"
    """2: a diverged stream stops and scores nan (was: trained on and scored NaN weights)."""
    Config = ContinualConfig

    def check_inputs(self, config: ContinualConfig) -> None:
        try:
            dataset = config.dataset.load(config.seed)
        except DataError as err:
            raise config.dataset.load_error(err, "dataset") from None
        config.architecture.check(dataset.input_shape, len(dataset.classes), "architecture")
        stream = config.stream
        for scenario in stream.scenarios:
            try:
                make_stream(dataset, scenario, stream.n_tasks, variant=stream.variant)
            except InputError as err:
                raise ConfigError(f"stream: {err}") from None

    def plan(self, config: ContinualConfig) -> list[Unit[ContinualUnit]]:
        return [
            Unit(
                f"{scenario}__{strategy.display}__s{seed}",
                ContinualUnit(scenario, strategy),
                seed,
            )
            for scenario in config.stream.scenarios
            for strategy in config.strategies
            for seed in config.seeds
        ]

    def run_unit(self, ctx: Context) -> None:
        config, scenario, strategy = ctx.config, ctx.params.scenario, ctx.params.strategy
        ctx.phase(
            analysis.PHASE,
            {
                "dataset": config.dataset.model_dump(),
                "data_seed": config.seed,
                "stream": config.stream.model_dump(exclude={"scenarios"}),
                "scenario": scenario,
                "architecture": config.architecture.model_dump(exclude={"label"}),
                "train": config.train,
                "strategy": strategy.model_dump(exclude={"label"}),
                "seed": ctx.seed,
            },
            lambda out: stream_phase(ctx, out),
        )

    def analyse(self, run: Run, config: ContinualConfig) -> dict[str, float]:
        tables = analysis.analyse(run, [unit.id for unit in self.plan(config)])
        return analysis.headline(tables)

    def report(self, run: Run, config: ContinualConfig) -> Path:
        return build_report(run, config, analysis.read_tables(run))


def stream_phase(ctx: Context, out: Path) -> dict[str, Any]:
    """The ``stream`` phase: learn the unit's task stream with its strategy, score every task
    after each (:func:`run_continual`); store ``R[i, j]`` and return the unit's results row."""
    config, scenario, strategy = ctx.config, ctx.params.scenario, ctx.params.strategy
    result = run_continual(
        config.dataset.load(config.seed),
        scenario=scenario,
        strategy=strategy.name,
        n_tasks=config.stream.n_tasks,
        train_config=config.train,
        seed=ctx.seed,
        model=config.architecture.name,
        model_options=config.architecture.options,
        strategy_options=strategy.options,
        variant=config.stream.variant,
        progress=False,
    )
    write_npz(out / "accuracy.npz", {"accuracy": result.accuracy})
    return {
        "scenario": scenario,
        "strategy": strategy.name,
        "label": strategy.display,
        "seed": ctx.seed,
        "avg_acc": result.avg_acc,
        "bwt": result.bwt,
        "forgetting": result.forgetting,
        "diverged": result.diverged_task is not None,
        "diverged_task": result.diverged_task,
        "diverged_step": result.diverged_step,
    }
