"""The curvature profile of a trained classifier: the probes EXP-01 takes as predictors.

One call measures, on the same examples, the Hessian's top eigenvalue (Lanczos) and trace
(Hutch++), the trace of the diagonal Fisher, and SAM and adaptive (ASAM) sharpness at one radius.
Each random probe draws from its own named stream, so adding or removing a probe never moves
another one's numbers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from axionlab.errors import InputError
from axionlab.execute.distributed import DistributedSpec, Ranks, launch, shard_model
from axionlab.landscape._common import Data, LossFn, materialize
from axionlab.landscape.fisher import FisherKind, fisher_diagonal, fisher_trace
from axionlab.landscape.hessian import (
    HessianEigen,
    TraceEstimate,
    hessian_top_eigenvalues,
    hessian_trace,
)
from axionlab.landscape.sharded import (
    FiniteDifferenceStep,
    ShardedHessian,
    sharded_fisher_diagonal,
    sharded_hessian_top_eigenvalues,
    sharded_hessian_trace,
    sharded_sharpness,
)
from axionlab.landscape.sharpness import Sharpness, sharpness

Streams = Callable[[str], torch.Generator]
"""``streams(name)``: the random stream of the probe ``name``."""

PROFILE_STREAMS = ("lanczos", "hutch", "fisher")
"""The stream names :func:`curvature_profile` asks for: the Lanczos start vector, the Hutch++
probe vectors, and the Fisher's sampled labels (``fisher="sampled"``)."""


@dataclass(frozen=True)
class CurvatureProfile:
    """What :func:`curvature_profile` returns (the field order is EXP-01's ``curvature.json``).

    Attributes
    ----------
    hessian_top_eig
        Largest Hessian eigenvalue of the mean loss.
    hessian_converged, hessian_hvp
        Whether Lanczos met its tolerance, and the Hessian-vector products it used.
    hessian_trace, hessian_trace_se
        Hutch++ estimate of the Hessian trace and its standard error.
    fisher_trace
        Trace of the diagonal Fisher (:func:`~axionlab.landscape.fisher_diagonal`).
    sharpness, adaptive_sharpness
        SAM and ASAM sharpness (:func:`~axionlab.landscape.sharpness`) at radius ``rho``.
    fd_step, fd_relative_error
        Of a sharded profile (:func:`curvature_profile` with ``distributed``):
        the central-difference step of its Hessian products and their relative error bound.
    """

    hessian_top_eig: float
    hessian_converged: bool
    hessian_hvp: int
    hessian_trace: float
    hessian_trace_se: float
    fisher_trace: float
    sharpness: float
    adaptive_sharpness: float
    fd_step: float | None = None
    fd_relative_error: float | None = None

    @classmethod
    def of(
        cls,
        top: HessianEigen,
        trace: TraceEstimate,
        fisher_trace: float,
        sharp: Sharpness,
        adaptive: Sharpness,
        fd: FiniteDifferenceStep | None = None,
    ) -> CurvatureProfile:
        """The profile of these probe results (``fd``: the difference step of sharded ones)."""
        return cls(
            hessian_top_eig=float(top.eigenvalues[0]),
            hessian_converged=bool(top.converged),
            hessian_hvp=top.n_hvp,
            hessian_trace=trace.estimate,
            hessian_trace_se=trace.std_error,
            fisher_trace=fisher_trace,
            sharpness=sharp.value,
            adaptive_sharpness=adaptive.value,
            fd_step=None if fd is None else fd.step,
            fd_relative_error=None if fd is None else fd.relative_error,
        )

    def summary(self) -> dict[str, float | bool | int]:
        """The fields by name, in order (JSON-ready); the finite-difference step and its error
        bound only where Hessian products were differences (a sharded profile)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def curvature_profile(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    hessian_tol: float = 1e-3,
    max_hvp: int = 100,
    trace_hvp: int = 30,
    fisher: FisherKind = "empirical",
    sharpness_rho: float = 0.05,
    streams: Streams,
    distributed: DistributedSpec | None = None,
) -> CurvatureProfile:
    """Hessian top eigenvalue and trace, Fisher trace and (adaptive) sharpness of ``model``.

    Parameters
    ----------
    model, loss_fn, data
        As every probe of :mod:`axionlab.landscape`: evaluated functionally in eval semantics,
        the model left untouched. The Fisher is that of the model's categorical predictive
        distribution (``loss_fn`` does not enter it).
    hessian_tol, max_hvp
        Lanczos residual tolerance and budget (:func:`~axionlab.landscape.hessian_top_eigenvalues`).
    trace_hvp
        Hessian-vector products of the Hutch++ trace (at least 3).
    fisher
        ``"exact"``, ``"empirical"`` or ``"sampled"`` (:func:`~axionlab.landscape.fisher_diagonal`).
    sharpness_rho
        Radius of both sharpness measures.
    streams
        ``streams(name)`` for each name in :data:`PROFILE_STREAMS`, e.g.
        ``lambda name: torch_generator(seed, name, unit)``.
    distributed
        Measure it by a collective job on sharded copies of ``model``
        (:mod:`axionlab.landscape.sharded`): Hessian products by central differences of
        gradients (their step and relative error bound are ``fd_step``/``fd_relative_error``),
        start and probe vectors seeded from the ``lanczos``/``hutch`` streams' seeds (the same at
        every world size, not the unsharded draws), the empirical Fisher only, one SAM step.
    """
    if distributed is not None:
        if fisher != "empirical":
            raise InputError(f"a distributed profile takes fisher='empirical', got {fisher!r}")
        seeds = {name: streams(name).initial_seed() for name in ("lanczos", "hutch")}
        return _distributed_profile(
            model,
            loss_fn,
            data,
            distributed,
            seeds=seeds,
            hessian_tol=hessian_tol,
            max_hvp=max_hvp,
            trace_hvp=trace_hvp,
            sharpness_rho=sharpness_rho,
        )
    top = hessian_top_eigenvalues(
        model, loss_fn, data, k=1, tol=hessian_tol, max_hvp=max_hvp, generator=streams("lanczos")
    )
    trace = hessian_trace(
        model, loss_fn, data, method="hutch++", n_hvp=trace_hvp, generator=streams("hutch")
    )
    diagonal = fisher_diagonal(model, data, kind=fisher, generator=streams("fisher"))
    sharp = sharpness(model, loss_fn, data, rho=sharpness_rho)
    adaptive = sharpness(model, loss_fn, data, rho=sharpness_rho, adaptive=True)
    return CurvatureProfile.of(top, trace, fisher_trace(diagonal), sharp, adaptive)


@dataclass(frozen=True)
class _ProfileJob:
    model: nn.Module
    loss_fn: LossFn
    data: tuple[Tensor, Tensor]
    seeds: dict[str, int]
    options: dict[str, Any]


def _profile_job(ranks: Ranks, job: _ProfileJob) -> CurvatureProfile:
    model, opts = shard_model(job.model, ranks), job.options
    hessian = ShardedHessian(model, job.loss_fn, job.data, ranks)
    top, fd = sharded_hessian_top_eigenvalues(
        hessian, 1, tol=opts["hessian_tol"], max_hvp=opts["max_hvp"], seed=job.seeds["lanczos"]
    )
    trace, _ = sharded_hessian_trace(hessian, n_hvp=opts["trace_hvp"], seed=job.seeds["hutch"])
    fisher = sharded_fisher_diagonal(model, job.loss_fn, job.data, ranks)
    fisher_sum = torch.tensor(sum(float(f.double().sum()) for f in fisher.values()))
    ranks.all_reduce(fisher_sum, "shard")
    sharp = [
        sharded_sharpness(hessian, rho=opts["sharpness_rho"], adaptive=a) for a in (False, True)
    ]
    return CurvatureProfile.of(top, trace, float(fisher_sum), sharp[0], sharp[1], fd)


def _distributed_profile(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    spec: DistributedSpec,
    *,
    seeds: Mapping[str, int],
    hessian_tol: float = 1e-3,
    max_hvp: int = 100,
    trace_hvp: int = 30,
    sharpness_rho: float = 0.05,
) -> CurvatureProfile:
    x, y = materialize(data, None, torch.device("cpu"))
    options = {
        "hessian_tol": hessian_tol,
        "max_hvp": max_hvp,
        "trace_hvp": trace_hvp,
        "sharpness_rho": sharpness_rho,
    }
    job = _ProfileJob(model, loss_fn, (x, y), dict(seeds), options)
    profile: CurvatureProfile = launch(_profile_job, job, spec)
    return profile
