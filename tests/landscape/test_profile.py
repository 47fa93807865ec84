"""curvature_profile against dense references on a model small enough to write its Hessian."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from axionlab.landscape import (
    PROFILE_STREAMS,
    curvature_profile,
    fisher_diagonal,
    fisher_trace,
    sharpness,
)
from axionlab.repro import torch_generator


def test_hessian_fields_match_the_dense_hessian(tiny) -> None:
    # softmax regression (3 → 2: 8 parameters): Hutch++ with 30 products has a sketch of 10 ≥ 8
    # columns, so its trace is exact, and Lanczos meets its residual tolerance within 8 steps
    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Linear(3, 2).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    x, y = tiny.make_data(n=17, d_in=3, classes=2)
    x = x.double()
    snap = tiny.snapshot(model)
    profile = curvature_profile(
        model,
        F.cross_entropy,
        (x, y),
        hessian_tol=1e-8,
        trace_hvp=30,
        streams=lambda name: torch_generator(0, name),
    )
    hessian = tiny.dense_hessian(model, x, y)
    eigenvalues = torch.linalg.eigvalsh(hessian)
    assert profile.hessian_top_eig == pytest.approx(float(eigenvalues[-1]), rel=1e-6)
    assert profile.hessian_converged and profile.hessian_hvp <= hessian.shape[0] + 1
    assert profile.hessian_trace == pytest.approx(float(torch.trace(hessian)), rel=1e-6)
    tiny.assert_unchanged(model, snap)


def test_fisher_and_sharpness_fields_are_the_probes_themselves(tiny) -> None:
    model = tiny.make_mlp(d_in=4, hidden=6, classes=3)
    data = tiny.make_data(n=20, d_in=4, classes=3)

    def streams(name: str) -> torch.Generator:
        return torch_generator(7, name, "unit")

    profile = curvature_profile(
        model, F.cross_entropy, data, fisher="sampled", sharpness_rho=0.1, streams=streams
    )
    sampled = fisher_diagonal(model, data, kind="sampled", generator=streams("fisher"))
    assert profile.fisher_trace == fisher_trace(sampled)  # the "fisher" stream, not another
    assert profile.sharpness == sharpness(model, F.cross_entropy, data, rho=0.1).value
    adaptive = sharpness(model, F.cross_entropy, data, rho=0.1, adaptive=True)
    assert profile.adaptive_sharpness == adaptive.value
    # the EXP-01 curvature.json layout, in this order
    assert list(profile.summary()) == [
        "hessian_top_eig",
        "hessian_converged",
        "hessian_hvp",
        "hessian_trace",
        "hessian_trace_se",
        "fisher_trace",
        "sharpness",
        "adaptive_sharpness",
    ]
    assert PROFILE_STREAMS == ("lanczos", "hutch", "fisher")


def test_each_probe_draws_from_its_own_stream(tiny) -> None:
    model = tiny.make_mlp(d_in=4, hidden=6, classes=3)
    data = tiny.make_data(n=20, d_in=4, classes=3)
    asked: list[str] = []

    def streams(name: str) -> torch.Generator:
        asked.append(name)
        return torch_generator(0, name)

    first = curvature_profile(model, F.cross_entropy, data, fisher="sampled", streams=streams)
    assert sorted(asked) == sorted(PROFILE_STREAMS)
    again = curvature_profile(model, F.cross_entropy, data, fisher="sampled", streams=streams)
    assert first == again  # named streams: the same numbers every time
