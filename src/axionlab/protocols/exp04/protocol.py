"""EXP-04: how do noisy quantum systems behave under repeated, reordered and diverse operators?

Units are one point of the sweep (qubits × pool × diversity k × ordering × noise model and
strength) × seed. Each unit runs one cached phase, ``sequence``: :func:`sequence_experiment` at
every configured length (the lab's four notions are defined in :mod:`axionlab.quantum`). It stores
the per-length curves and the closed-form predictions that exist (``curves.npz``) and the
:func:`~axionlab.quantum.summarise_sequence` of the result under the columns of
:mod:`~axionlab.protocols.exp04.analysis`, which also describes the tables.

A unit's operators come from a stream named by (seed, qubits, pool, k) only, so units that differ
in ordering or noise apply the same operators: comparisons across those axes are paired.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from axionlab.errors import ConfigError
from axionlab.protocols.base import Protocol, Unit, UnitContext
from axionlab.protocols.exp04 import analysis
from axionlab.protocols.exp04.config import Exp04Config, Exp04Point
from axionlab.protocols.exp04.report import build_report
from axionlab.quantum import (
    CLOSED_FORM_QUANTITIES,
    SequenceResult,
    sequence_experiment,
    summarise_sequence,
)
from axionlab.repro import resolve_device, torch_generator
from axionlab.runs import PhaseRecord, Run, write_npz


def curve_arrays(result: SequenceResult) -> dict[str, np.ndarray]:
    """What ``curves.npz`` holds: the lengths, every curve and each closed form that exists."""
    arrays = {"lengths": np.asarray(result.lengths)}
    arrays.update({name: getattr(result, name).cpu().numpy() for name in analysis.CURVES})
    for name in CLOSED_FORM_QUANTITIES:
        predicted = getattr(result.closed_form, name)
        if predicted is not None:
            arrays[analysis.closed_curve(name)] = predicted.cpu().numpy()
    return arrays


class Exp04(Protocol[Exp04Config, Exp04Point]):
    name = "exp04"
    VERSION = "4"
    Config = Exp04Config

    def check_inputs(self, config: Exp04Config) -> None:
        if config.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError(
                "device: 'cuda' was asked for but no CUDA device is available; "
                "use device: cpu or auto"
            )

    def plan(self, config: Exp04Config) -> list[Unit[Exp04Point]]:
        return config.units()

    def run_unit(self, ctx: UnitContext[Exp04Config, Exp04Point]) -> None:
        self._sequence(ctx)

    def _sequence(self, ctx: UnitContext[Exp04Config, Exp04Point]) -> PhaseRecord:
        config, p = ctx.config, ctx.params
        device = resolve_device(config.device)

        def compute(out: Path) -> dict[str, Any]:
            result = sequence_experiment(
                p.n_qubits,
                config.sweep.lengths,
                ordering=p.ordering,
                diversity=p.diversity,
                noise=p.noise,
                strength=p.strength,
                pool=p.pool,
                n_orderings=config.n_orderings,
                max_qubits_diversity=config.diversity_max_qubits,
                generator=torch_generator(
                    ctx.seed, "operators", p.n_qubits, p.pool, p.diversity, device=device
                ),
            )
            write_npz(out / "curves.npz", curve_arrays(result))
            return analysis.unit_summary(summarise_sequence(result))

        # CUDA draws other random numbers than the CPU, so the device is part of the key.
        config_slice = {
            "unit": {**asdict(p), "seed": ctx.seed},
            "lengths": config.sweep.lengths,
            "n_orderings": config.n_orderings,
            "diversity_max_qubits": config.diversity_max_qubits,
            "device": device.type,
        }
        return ctx.phase(analysis.PHASE, config_slice, compute)

    def analyse(self, run: Run, config: Exp04Config) -> dict[str, float]:
        return analysis.headline(analysis.analyse(run, config), config)

    def report(self, run: Run, config: Exp04Config) -> Path:
        return build_report(run, config, analysis.report_tables(run, config))
