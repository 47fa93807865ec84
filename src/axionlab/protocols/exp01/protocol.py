"""EXP-01: does loss-landscape topology at the end of task A predict forgetting on task B?

``run_unit`` lays out a unit's phases (:mod:`axionlab.protocols.exp01`); each is a library call."""

from __future__ import annotations

from functools import partial
from itertools import product
from pathlib import Path
from typing import Any

from axionlab.collapse.structure import structure_profile
from axionlab.continual import PenaltyStabilityError, build_strategy, forgetting_curve, learn_task
from axionlab.data import Dataset, random_subset
from axionlab.errors import ConfigError
from axionlab.landscape import curvature_profile, loss_plane, plane_basins, random_directions
from axionlab.landscape.sharded import distributed_loss_plane
from axionlab.models import count_parameters
from axionlab.protocols.base import Protocol, Unit, UnitContext
from axionlab.protocols.exp01.analysis import analyse, read_tables
from axionlab.protocols.exp01.config import Exp01Config, Exp01Strategy, Exp01Unit
from axionlab.protocols.exp01.report import build_report
from axionlab.runs import PhaseRecord, Run, read_npz, write_json, write_npz
from axionlab.topology import plane_topology
from axionlab.train import AUGMENTATIONS, save_checkpoint

Ctx = UnitContext[Exp01Config, Exp01Unit]
Summary = dict[str, Any]


class Exp01(Protocol[Exp01Config, Exp01Unit]):
    name = "exp01"
    VERSION = "2"
    """2: divergence is a state (nan outcomes with reasons), penalty stability check."""
    Config = Exp01Config

    def check_inputs(self, config: Exp01Config) -> None:
        config.check_data()

    def plan(self, config: Exp01Config) -> list[Unit[Exp01Unit]]:
        units = product(config.datasets, config.architectures, config.seeds)
        return [Unit(f"{d.name}__{a.display}__s{s}", Exp01Unit(d, a), seed=s) for d, a, s in units]

    def run_unit(self, ctx: Ctx) -> None:
        cfg, spec, arch = ctx.config, ctx.params.dataset, ctx.params.architecture
        a, b = spec.tasks(ctx.seed)
        a_slice = {"data": spec.model_dump(), "arch": arch.model_dump(), "seed": ctx.seed}
        rec = ctx.phase("task_a", a_slice | {"train": cfg.task_a}, partial(_task_a, ctx, a))
        if rec.summary["task_a_diverged"]:
            return  # nothing downstream is defined; the analysis names the unit
        land = {"landscape": cfg.landscape.model_dump()}
        planes = [
            ctx.phase(f"plane_{s}", land | {"slice": s}, partial(_plane, ctx, a, rec, s), [rec])
            for s in range(cfg.landscape.slices)
        ]
        topo = {"topology": cfg.topology.model_dump()}
        for s, plane in enumerate(planes):
            ctx.phase(f"topology_{s}", topo, partial(_topology, ctx, plane), [plane])
        if cfg.curvature.enabled:
            curv = {"curvature": cfg.curvature.model_dump()}
            ctx.phase("curvature", curv, partial(_curvature, ctx, a, rec), [rec])
        if cfg.structure.enabled:
            struct, first = {"structure": cfg.structure.model_dump()}, planes[0]
            ctx.phase("structure", struct, partial(_structure, ctx, a, rec, first), [rec, first])
        tb = cfg.task_b.model_dump(exclude={"strategies"})
        for st in cfg.task_b.strategies:
            forget = partial(_forget, ctx, (a, b), rec, st)
            ctx.phase(f"forget_{st.display}", tb | {"strategy": st.model_dump()}, forget, [rec])

    def analyse(self, run: Run, config: Exp01Config) -> dict[str, float]:
        return analyse(run, config, self.plan(config))

    def report(self, run: Run, config: Exp01Config) -> Path:
        return build_report(run, config, read_tables(run, config))


def _task_a(ctx: Ctx, a: Dataset, out: Path) -> Summary:
    spec, arch, config = ctx.params.dataset, ctx.params.architecture, ctx.config.task_a
    model, gen = arch.build(a, ctx.seed), ctx.generator("train_a", arch.display)
    learnt = learn_task(model, a, config, generator=gen, augment=AUGMENTATIONS[config.augment])
    save_checkpoint(out / "model.pt", model)
    write_npz(out / "history.npz", learnt.arrays())
    family = str(getattr(model, "family", arch.name))
    about: Summary = {"params": count_parameters(model), "family": family, "arch": arch.display}
    return learnt.summary("task_a_") | about | {"dataset": spec.name, "seed": ctx.seed}


def _plane(ctx: Ctx, a: Dataset, rec: PhaseRecord, s: int, out: Path) -> Summary:
    land, loss = ctx.config.landscape, ctx.params.dataset.loss_fn()
    model = ctx.params.architecture.load_trained(a, ctx.seed, rec)
    gen = ctx.generator("directions", ctx.unit.id, s)
    data = (a.x_test, a.y_test) if land.split == "test" else (a.x_train, a.y_train)
    if land.distributed is None:
        dirs = random_directions(model, 2, generator=gen, **land.direction_options())
        plane = loss_plane(model, loss, data, dirs, show_progress=False, **land.plane_options())
    else:  # a collective job over sharded copies, along world-size-invariant directions
        plane = distributed_loss_plane(model, loss, data, seed=gen.initial_seed(), **land.sharded())
    write_npz(out / "plane.npz", {k: getattr(plane, k) for k in ("alphas", "betas", "values")})
    return {k: getattr(plane, k) for k in ("center_loss", "n_nonfinite", "seconds", "strategy")}


def _topology(ctx: Ctx, plane: PhaseRecord, out: Path) -> Summary:
    values = read_npz(plane.path / "plane.npz")["values"]
    result = plane_topology(values, **ctx.config.topology.model_dump())
    write_npz(out / "diagrams.npz", result.diagrams)
    write_json(out / "features.json", result.features)
    return {**result.features, "reason": result.reason}


def _curvature(ctx: Ctx, a: Dataset, rec: PhaseRecord, out: Path) -> Summary:
    curv, uid, loss = ctx.config.curvature, ctx.unit.id, ctx.params.dataset.loss_fn()
    model = ctx.params.architecture.load_trained(a, ctx.seed, rec)
    data = random_subset(a.x_train, a.y_train, curv.examples, ctx.generator("curvature_data", uid))
    streams = lambda name: ctx.generator(name, uid)  # noqa: E731
    profile = curvature_profile(model, loss, data, streams=streams, **curv.probes())
    write_json(out / "curvature.json", profile.summary())
    return profile.summary()


def _structure(ctx: Ctx, a: Dataset, rec: PhaseRecord, plane: PhaseRecord, out: Path) -> Summary:
    st, uid, norm = ctx.config.structure, ctx.unit.id, ctx.config.landscape.direction_options()
    model = ctx.params.architecture.load_trained(a, ctx.seed, rec)
    x, y = random_subset(a.x_train, a.y_train, st.examples, ctx.generator("structure_data", uid))
    spec = ctx.params.dataset

    def basins() -> Summary:
        gens = (ctx.generator("basin_directions", uid, i) for i in range(st.basin_directions))
        dirs = [random_directions(model, 1, generator=g, **norm)[0] for g in gens]
        stored = read_npz(plane.path / "plane.npz")
        found = plane_basins(model, spec.loss_fn(), (x, y), dirs, stored, **st.basin_search())
        write_npz(out / "basin.npz", found.arrays())
        return found.features(st.basin_names())

    extra = {**spec.undefined_structure(), "basin": basins}
    profile = structure_profile(model, x, y, st.columns(), extra=extra)
    return {**profile.features, "reason": profile.reason}


def _forget(
    ctx: Ctx, ab: tuple[Dataset, Dataset], rec: PhaseRecord, spec: Exp01Strategy, out: Path
) -> Summary:
    tb, uid, strategy = ctx.config.task_b, ctx.unit.id, build_strategy(spec.name, **spec.options)
    model = ctx.params.architecture.load_trained(ab[0], ctx.seed, rec)
    streams = lambda name: ctx.generator(name, uid)  # noqa: E731
    try:
        curve = forgetting_curve(model, *ab, strategy, streams=streams, **tb.curve_options())
    except PenaltyStabilityError as err:
        raise ConfigError(f"task_b.stability (unit {uid}): {err}") from None
    write_npz(out / "curve.npz", curve.arrays())
    return curve.summary()
