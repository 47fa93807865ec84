"""EXP-03: does integrated information, measured across architecture families, track
generalization and robustness? A unit is dataset × architecture × seed. Phases: ``train``;
``phi_gaussian`` (recurrent units: VAR(1) measures with CI and shuffled-time null);
``phi_exact`` (Φ and EI of a binarised block); ``robustness`` (input noise, FGSM).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from axionlab.data import Dataset
from axionlab.errors import ConfigError, DataError, InputError
from axionlab.phi.trained import trained_integration, trained_probe
from axionlab.protocols.base import Protocol, Unit, UnitContext
from axionlab.protocols.exp03 import analysis
from axionlab.protocols.exp03.config import Exp03Config, Exp03Unit
from axionlab.protocols.exp03.report import build_report
from axionlab.robustness import fgsm_accuracy, noise_accuracy
from axionlab.runs import PhaseRecord, Run, write_json
from axionlab.train import evaluate, save_checkpoint, train

Ctx = UnitContext[Exp03Config, Exp03Unit]
Summary = dict[str, Any]
Measure = Callable[[Ctx, Dataset, nn.Module], Summary | str]  # a summary, or why it is undefined
Blank = Callable[[str], Summary]  # the nan summary of a phase undefined for a reason


class Exp03(Protocol[Exp03Config, Exp03Unit]):
    name = "exp03"
    VERSION = "2"
    """2: exact Φ by the bucket-queue flow solver; Φ may differ from 1 by an ulp (≤ 4e-16)."""
    Config = Exp03Config

    def check_inputs(self, config: Exp03Config) -> None:
        for d, spec in enumerate(config.datasets):
            try:
                data = spec.load(config.seeds[0])
            except DataError as err:
                raise spec.load_error(err, f"datasets.{d}") from None
            config.check_architectures(d, data)

    def plan(self, config: Exp03Config) -> list[Unit[Exp03Unit]]:
        return [
            Unit(f"{data.name}__{arch.display}__s{seed}", Exp03Unit(data, arch), seed)
            for d, data in enumerate(config.datasets)
            for arch in (config.architectures[a] for a in config.architectures_of(d))
            for seed in config.seeds
        ]

    def run_unit(self, ctx: Ctx) -> None:
        data = ctx.params.dataset.load(ctx.seed)
        trained = _train(ctx, data)
        recurrent = trained.summary["kind"] == analysis.RECURRENT
        nodes, robust = ctx.config.phi_exact.nodes, ctx.config.robustness
        measured = partial(_measured, ctx, data, trained)
        if recurrent:
            measured("phi_gaussian", _phi_gaussian, analysis.undefined_gaussian)
        measured("phi_exact", _phi_exact, partial(analysis.undefined_probe, nodes, recurrent))
        measured("robustness", _robustness, partial(analysis.undefined_robustness, robust))

    def analyse(self, run: Run, config: Exp03Config) -> dict[str, float]:
        return analysis.headline(analysis.analyse(run, config, [u.id for u in self.plan(config)]))

    def report(self, run: Run, config: Exp03Config) -> Path:
        return build_report(run, config, analysis.read_tables(run))


def _train(ctx: Ctx, data: Dataset) -> PhaseRecord:
    spec, arch, seed = ctx.params.dataset, ctx.params.architecture, ctx.seed

    def compute(out: Path) -> Summary:
        model = arch.build(data, seed)
        train_set, test_set = (data.x_train, data.y_train), (data.x_test, data.y_test)
        generator = ctx.generator("train", arch.display)
        result = train(model, train_set, ctx.config.train, generator=generator, progress=False)
        train_eval, test_eval = evaluate(model, train_set), evaluate(model, test_set)
        summary = analysis.train_summary(model, result, ctx.params, seed, train_eval, test_eval)
        save_checkpoint(out / "model.pt", model)
        return summary

    data_slice = spec.model_dump(exclude={"architectures"})
    key = {"data": data_slice, "arch": arch.model_dump(), "seed": seed, "train": ctx.config.train}
    return ctx.phase("train", key, compute)


def _measured(
    ctx: Ctx, data: Dataset, trained: PhaseRecord, name: str, measure: Measure, undefined: Blank
) -> PhaseRecord:
    """Phase ``name`` (keyed by its config section); a diverged net's is ``undefined``."""

    def compute(out: Path) -> Summary:
        result: Summary | str = analysis.TRAIN_DIVERGED
        if not trained.summary.get("diverged", False):
            model = ctx.params.architecture.load_trained(data, ctx.seed, trained)
            result = measure(ctx, data, model)
        summary = undefined(result) if isinstance(result, str) else result
        write_json(out / analysis.PHASE_FILES[name], summary)
        return summary

    return ctx.phase(name, {name: getattr(ctx.config, name).model_dump()}, compute, [trained])


def _phi_gaussian(ctx: Ctx, data: Dataset, model: nn.Module) -> Summary | str:
    section, uid = ctx.config.phi_gaussian, ctx.unit.id
    pick = torch.randperm(len(data.y_test), generator=ctx.generator("phi_inputs", uid))
    options = section.model_dump(include={"measure", "n_boot", "n_null", "level"})
    rng = ctx.rng("phi_gaussian", uid)
    result = trained_integration(model, data.x_test[pick[: section.examples]], rng=rng, **options)
    return result if isinstance(result, str) else analysis.gaussian_summary(result)


def _phi_exact(ctx: Ctx, data: Dataset, model: nn.Module) -> Summary | str:
    nodes = ctx.config.phi_exact.nodes
    try:
        result = trained_probe(model, nodes)
    except InputError as err:  # check_inputs refused bodies without a linear layer
        raise ConfigError(f"phi_exact: {err}") from None
    return (
        result if isinstance(result, str) else analysis.probe_summary(result[0], nodes, result[1])
    )


def _robustness(ctx: Ctx, data: Dataset, model: nn.Module) -> Summary:
    section, test = ctx.config.robustness, (data.x_test, data.y_test)
    noise = ctx.generator("noise", ctx.unit.id)
    sigma, repeats = section.noise_sigma, section.noise_repeats
    return {
        "noise_acc": noise_accuracy(model, test, sigma, generator=noise, repeats=repeats),
        "fgsm_acc": fgsm_accuracy(model, test, section.fgsm_epsilon),
        "noise_sigma": section.noise_sigma,
        "fgsm_epsilon": section.fgsm_epsilon,
    }
