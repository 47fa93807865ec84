"""EXP-02: information capacity — area law or volume law?

Two claims are tested separately on one architecture family (:func:`capacity_family`: depth,
width, bottlenecks, frozen random layers; MLP and CNN): H-mem, memorization capacity of random
labels scales with the (trainable) parameter count, a volume law (~2 bits per weight; Cover
1965); H-cut, the capacity for labels that depend jointly on two halves of the input scales with
a boundary measure, an area law (separation rank is bounded by a min-cut; Levine et al. 2018).

An architecture unit runs three cached phases: ``boundary`` (:func:`boundary_profile`, every
volume and area measure), ``memorization`` and ``cross_partition`` (capacities by bisection
over the config's seeds, up to ``bisection.p_max_per_param`` samples per trainable parameter).
Two reference units calibrate every run: ``cover`` (:func:`cover_calibration`: LP separability
curves against Cover's closed form, 50% point 2N) and ``readout-<kind>-<width>`` (``boundary``,
``readout``: a frozen random layer under a linear readout, exact LP vs trained capacity). The
tables and the verdicts are built in :mod:`axionlab.protocols.exp02.analysis`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from axionlab.capacity import (
    ArchSpec,
    CapacityResult,
    boundary_profile,
    cover_calibration,
    cross_partition_capacity,
    memorization_capacity,
    readout_capacity,
)
from axionlab.protocols.base import Protocol, Unit, UnitContext
from axionlab.protocols.exp02 import analysis
from axionlab.protocols.exp02.config import ArchUnit, CoverUnit, Exp02Config, Exp02Unit, ReadoutUnit
from axionlab.protocols.exp02.report import build_report
from axionlab.runs import PhaseRecord, Run, write_json, write_npz

Context = UnitContext[Exp02Config, Exp02Unit]


class Exp02(Protocol[Exp02Config, Exp02Unit]):
    name = "exp02"
    VERSION = "1"
    Config = Exp02Config

    def plan(self, config: Exp02Config) -> list[Unit[Exp02Unit]]:
        units: list[Unit[Exp02Unit]] = [Unit("cover", CoverUnit(), config.seed)]
        units += [Unit(s.name, ReadoutUnit(s), config.seed) for s in config.readout_specs()]
        units += [Unit(s.name, ArchUnit(s), config.seed) for s in config.architectures()]
        return units

    def run_unit(self, ctx: Context) -> None:
        unit = ctx.params
        if isinstance(unit, CoverUnit):
            _cover(ctx)
        elif isinstance(unit, ReadoutUnit):
            _readout(ctx, unit.spec, _boundary(ctx, unit.spec))
        else:
            boundary = _boundary(ctx, unit.spec)
            _capacity(ctx, unit.spec, boundary, "mem")
            _capacity(ctx, unit.spec, boundary, "cut")

    def analyse(self, run: Run, config: Exp02Config) -> dict[str, float]:
        return analysis.headline(analysis.analyse(run, config))

    def report(self, run: Run, config: Exp02Config) -> Path:
        return build_report(run, config, analysis.read_tables(run))


def _cover(ctx: Context) -> PhaseRecord:
    cover = ctx.config.cover

    def compute(out: Path) -> dict[str, Any]:
        arrays: dict[str, np.ndarray] = {}
        summary: dict[str, Any] = {}
        for n in cover.dims:
            c = cover_calibration(
                n,
                max_ratio=cover.max_ratio,
                trials=cover.trials,
                rng=ctx.rng("cover", n),
                distribution=cover.distribution,
            )
            curve = (c.curve.P, c.curve.fraction, c.curve.stderr, c.closed_form)
            arrays.update({analysis.cover_array(i, n): a for i, a in enumerate(curve)})
            summary[analysis.cover_key(n)] = analysis.cover_summary(c)
        write_npz(out / "curves.npz", arrays)
        return summary

    return ctx.phase("cover", {"cover": cover, "seed": ctx.config.seed}, compute)


def _boundary(ctx: Context, spec: ArchSpec) -> PhaseRecord:
    def compute(out: Path) -> dict[str, Any]:
        # The measures are counts and cuts of the graph, independent of the weights drawn.
        profile = boundary_profile(spec, ctx.generator("init", spec.name))
        write_json(out / "layers.json", [vars(x) for x in profile.layers])
        return profile.measures()

    return ctx.phase("boundary", {"spec": spec}, compute)


def _search(config: Exp02Config, boundary: PhaseRecord) -> dict[str, Any]:
    """A capacity search's arguments; its range ends at ``p_max`` of the trainable parameters."""
    return {
        "seeds": config.seeds,
        "p_max": config.bisection.p_max(boundary.summary["trainable_params"]),
        "p_min": config.bisection.p_min,
        "fit": config.fit,
        "confidence": config.bisection.confidence,
    }


def _readout(ctx: Context, spec: ArchSpec, boundary: PhaseRecord) -> PhaseRecord:
    config, search = ctx.config, _search(ctx.config, boundary)

    def compute(out: Path) -> dict[str, Any]:
        result = readout_capacity(spec, distribution=config.distribution, **search)
        _write_capacity(out, "exact", result.exact)
        _write_capacity(out, "trained", result.trained)
        return analysis.readout_summary(spec, result, search["p_max"])

    key = {"spec": spec, "seeds": config.seeds, "fit": config.fit, "bisection": config.bisection}
    return ctx.phase("readout", {**key, "distribution": config.distribution}, compute, [boundary])


def _capacity(
    ctx: Context, spec: ArchSpec, boundary: PhaseRecord, which: analysis.Prefix
) -> PhaseRecord:
    config, search = ctx.config, _search(ctx.config, boundary)

    def compute(out: Path) -> dict[str, Any]:
        if which == "mem":
            result = memorization_capacity(spec, distribution=config.distribution, **search)
        else:
            kind, rank = config.cross.kind, config.cross.rank
            result = cross_partition_capacity(spec, kind, rank=rank, **search)
        _write_capacity(out, "capacity", result)
        return analysis.capacity_summary(result, search["p_max"])

    task = {"distribution": config.distribution} if which == "mem" else {"cross": config.cross}
    key = {"spec": spec, **search, **task}
    return ctx.phase(analysis.CAPACITY_PHASES[which], key, compute, [boundary])


def _write_capacity(out: Path, name: str, result: CapacityResult) -> None:
    arrays = {"seeds": result.seeds, "samples": result.samples, "censored": result.censored}
    write_npz(out / f"{name}.npz", {k: np.array(v) for k, v in arrays.items()})
