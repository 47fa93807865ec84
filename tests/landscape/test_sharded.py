"""Sharded probes (FSDP2 over 2 gloo CPU ranks) equal the single-process probes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from axionlab.errors import InputError
from axionlab.execute.distributed import DistributedSpec, Ranks, launch, shard_model
from axionlab.landscape import (
    curvature_profile,
    fisher_diagonal,
    hessian_top_eigenvalues,
    interpolate,
    loss_line,
    loss_plane,
    seeded_directions,
    sharpness,
)
from axionlab.landscape.sharded import (
    ShardedHessian,
    local_parameters,
    sharded_directions,
    sharded_fisher_diagonal,
    sharded_hessian_top_eigenvalues,
    sharded_hessian_trace,
    sharded_interpolate,
    sharded_loss_line,
    sharded_loss_plane,
    sharded_sharpness,
)

SEED = 11


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    # 7 and 5 rows: uneven dim-0 shards over 2 ranks
    return nn.Sequential(nn.Linear(4, 7), nn.Tanh(), nn.Linear(7, 5), nn.Tanh(), nn.Linear(5, 3))


def _data(n: int = 30) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    return torch.randn(n, 4, generator=gen), torch.randint(0, 3, (n,), generator=gen)


def _gather(ranks: Ranks, local: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Full tensors from every rank's dim-0 rows (test helper: concatenates in rank order)."""
    parts: list[Any] = [None] * ranks.world_size
    dist.all_gather_object(parts, local)
    # arrays: a job's result may hold NumPy arrays, not tensors
    return {k: torch.cat([p[k] for p in parts[: ranks.spec.shards]]).numpy() for k in local}


def _probe_job(ranks: Ranks, payload: dict[str, Any]) -> dict[str, Any]:
    model = _mlp()
    model.load_state_dict(payload["state"])
    shard_model(model, ranks)
    before = local_parameters(model, ranks)
    data = payload["data"]
    dirs = sharded_directions(model, ranks, SEED, 2, ignore_1d=False)
    plane = sharded_loss_plane(model, F.cross_entropy, data, dirs, ranks, steps=5, span=(-1, 1))
    line = sharded_loss_line(model, F.cross_entropy, data, dirs[0], ranks, steps=7)
    end = {k: v + dirs[1][k] for k, v in before.items()}
    segment = sharded_interpolate(model, F.cross_entropy, data, before, end, ranks, steps=5)
    hessian = ShardedHessian(model, F.cross_entropy, data, ranks)
    eigen, fd = sharded_hessian_top_eigenvalues(hessian, 1, tol=1e-6, max_hvp=80, seed=SEED)
    trace, _ = sharded_hessian_trace(hessian, n_hvp=3 * hessian.dim, seed=SEED)
    fisher = sharded_fisher_diagonal(model, F.cross_entropy, data, ranks)
    sam = [sharded_sharpness(hessian, rho=0.05, adaptive=a).value for a in (False, True)]
    after = local_parameters(model, ranks)
    return {
        "unchanged": all(torch.equal(before[k], after[k]) for k in before),
        "directions": [_gather(ranks, d) for d in dirs],
        "plane": plane.values,
        "center": plane.center_loss,
        "line": line.values,
        "segment": (segment.values, segment.end_loss),
        "lambda": float(eigen.eigenvalues[0]),
        "fd": fd,
        "trace": trace.estimate,
        "fisher": _gather(ranks, fisher),
        "sharpness": sam,
    }


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    model = _mlp()
    x, y = _data()
    dirs = seeded_directions(model, SEED, 2, ignore_1d=False)
    flat = torch.cat([p.reshape(-1) for p in model.parameters()]).detach().double()

    def loss_of(theta: torch.Tensor) -> torch.Tensor:
        out, offset = {}, 0
        for name, p in model.named_parameters():
            out[name] = theta[offset : offset + p.numel()].reshape(p.shape)
            offset += p.numel()
        logits = torch.func.functional_call(model.double(), out, (x.double(),))
        return F.cross_entropy(logits, y)

    dense = torch.autograd.functional.hessian(loss_of, flat)
    model.float()
    end = {n: p.detach() + dirs[1][n] for n, p in model.named_parameters()}
    return {
        "state": model.state_dict(),
        "directions": dirs,
        "plane": loss_plane(model, F.cross_entropy, (x, y), dirs, steps=5, strategy="loop"),
        "line": loss_line(model, F.cross_entropy, (x, y), dirs[0], steps=7, strategy="loop"),
        "segment": interpolate(
            model, F.cross_entropy, (x, y), model, end, steps=5, strategy="loop"
        ),
        "lambda": float(torch.linalg.eigvalsh(dense)[-1]),
        "lanczos": float(hessian_top_eigenvalues(model, F.cross_entropy, (x, y)).eigenvalues[0]),
        "trace": float(torch.trace(dense)),
        "fisher": fisher_diagonal(model, (x, y), kind="empirical"),
        "sharpness": [
            sharpness(model, F.cross_entropy, (x, y), rho=0.05, adaptive=a).value
            for a in (False, True)
        ],
    }


@pytest.fixture(scope="module", params=[(1, 1), (2, 1), (2, 2)], ids=["w1", "w2", "w2r2"])
def sharded(request: pytest.FixtureRequest, reference: dict[str, Any]) -> dict[str, Any]:
    world, replicas = request.param
    spec = DistributedSpec(world_size=world, backend="gloo", replicas=replicas)
    result: dict[str, Any] = launch(
        _probe_job, {"state": reference["state"], "data": _data()}, spec
    )
    return result


def test_directions_are_bit_identical_to_the_unsharded_draw(sharded, reference):
    for got, want in zip(sharded["directions"], reference["directions"], strict=True):
        assert set(got) == set(want)
        for k in want:
            # 1-D scales are reduced over ranks in float64: equal to its rounding
            if want[k].dim() >= 2:
                np.testing.assert_array_equal(got[k], want[k].numpy(), err_msg=k)
            else:
                np.testing.assert_allclose(got[k], want[k].numpy(), rtol=1e-6, atol=0)


def test_plane_line_and_interpolation_equal_the_single_process_ones(sharded, reference):
    np.testing.assert_allclose(sharded["plane"], reference["plane"].values, rtol=1e-5, atol=0)
    assert sharded["center"] == pytest.approx(reference["plane"].center_loss, rel=1e-6)
    np.testing.assert_allclose(sharded["line"], reference["line"].values, rtol=1e-5, atol=0)
    values, end = sharded["segment"]
    np.testing.assert_allclose(values, reference["segment"].values, rtol=1e-5, atol=0)
    assert end == pytest.approx(reference["segment"].end_loss, rel=1e-5)


def test_probes_leave_the_shards_exactly_as_they_were(sharded):
    assert sharded["unchanged"]


def test_finite_difference_curvature_is_within_its_stated_bound(sharded, reference):
    fd = sharded["fd"]
    assert 0 < fd.relative_error < 1e-2
    for key in ("lambda", "trace"):
        error = abs(sharded[key] - reference[key]) / abs(reference[key])
        assert error <= max(fd.relative_error, 1e-6), (key, error, fd.relative_error)
    assert reference["lanczos"] == pytest.approx(reference["lambda"], rel=1e-6)


def test_sam_and_asam_sharpness_equal_the_single_process_ones(sharded, reference):
    np.testing.assert_allclose(sharded["sharpness"], reference["sharpness"], rtol=1e-4, atol=1e-7)


def test_distributed_profile_equals_the_single_process_profile(reference):
    x, y = _data()
    model = _mlp()
    model.load_state_dict(reference["state"])
    streams = lambda name: torch.Generator().manual_seed(7)  # noqa: E731
    options = {"hessian_tol": 1e-6, "max_hvp": 60, "trace_hvp": 3 * 93, "streams": streams}
    want = curvature_profile(model, F.cross_entropy, (x, y), **options)
    got = curvature_profile(
        model, F.cross_entropy, (x, y), distributed=DistributedSpec(world_size=2), **options
    )
    assert got.fd_step is not None and got.fd_relative_error is not None
    bound = max(got.fd_relative_error, 1e-6)
    for key in ("hessian_top_eig", "hessian_trace"):
        assert abs(getattr(got, key) / getattr(want, key) - 1) <= bound, key
    for key in ("fisher_trace", "sharpness", "adaptive_sharpness"):
        assert getattr(got, key) == pytest.approx(getattr(want, key), rel=1e-4), key
    assert "fd_step" in got.summary() and "fd_step" not in want.summary()


def test_fisher_diagonal_equals_the_per_example_fisher(sharded, reference):
    for k, want in reference["fisher"].items():
        np.testing.assert_allclose(sharded["fisher"][k], want.numpy(), rtol=1e-5, atol=1e-9)


def _bad_directions(ranks: Ranks, payload: None) -> str:
    model = shard_model(_mlp(), ranks)
    dirs = sharded_directions(model, ranks, SEED, 2)
    dirs[1] = {k: v for k, v in dirs[1].items() if k != "2.weight"}
    try:
        sharded_loss_plane(model, F.cross_entropy, _data(), dirs, ranks, steps=3)
    except InputError as err:
        return str(err)
    return ""


def test_directions_not_keyed_like_the_shards_are_refused() -> None:
    message = launch(_bad_directions, None, DistributedSpec(world_size=2))
    assert "directions[1]" in message and "missing ['2.weight']" in message


class _TokenModel(nn.Module):
    """A tiny next-token model: embedding then a linear head, logits (B, T, V)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.layers = nn.Sequential(nn.Embedding(11, 6), nn.Tanh(), nn.Linear(6, 11))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.layers(ids)
        return out


def _token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def _tokens() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(4)
    ids = torch.randint(0, 11, (15, 5), generator=gen)
    targets = torch.randint(0, 11, (15, 5), generator=gen)
    targets[3:9, 2:] = -100  # uneven counted tokens per sequence, all on one rank's side
    return ids, targets


def _uneven_job(ranks: Ranks, payload: dict[str, Any]) -> dict[str, Any]:
    model = shard_model(_TokenModel(), ranks)
    dirs = sharded_directions(model, ranks, SEED, 2)
    plane = sharded_loss_plane(
        model, _token_loss, _tokens(), dirs, ranks, steps=3, batch_size=payload["batch_size"]
    )
    hessian = ShardedHessian(
        model, _token_loss, _tokens(), ranks, step=1e-2, batch_size=payload["batch_size"]
    )
    eigen, fd = sharded_hessian_top_eigenvalues(hessian, 1, tol=1e-10, max_hvp=40, seed=SEED)
    return {
        "plane": plane.values,
        "directions": [_gather(ranks, d) for d in dirs],
        "lambda": float(eigen.eigenvalues[0]),
        "fd": fd,
    }


@pytest.mark.parametrize(
    ("world", "replicas", "batch_size"), [(2, 1, 4), (4, 2, 3)], ids=["2x1-bs4", "2x2-bs3"]
)
def test_token_targets_with_ignored_positions_and_uneven_chunks(
    world: int, replicas: int, batch_size: int
) -> None:
    """15 sequences split 8/7 in chunks of 3 or 4: every rank runs as many passes (no hang), and
    the token-mean loss is weighted by counted tokens, as the unsharded plane computes it."""
    spec = DistributedSpec(world_size=world, replicas=replicas)
    got = launch(_uneven_job, {"batch_size": batch_size}, spec)
    model = _TokenModel()
    dirs = [{k: torch.from_numpy(v) for k, v in d.items()} for d in got["directions"]]
    want = loss_plane(model, _token_loss, _tokens(), dirs, steps=3, strategy="loop")
    np.testing.assert_allclose(got["plane"], want.values, rtol=1e-5, atol=0)
    exact = hessian_top_eigenvalues(model, _token_loss, _tokens(), tol=1e-8).eigenvalues[0]
    assert got["fd"].step == 1e-2 and got["fd"].candidates.size == 0  # given, not calibrated
    assert abs(got["lambda"] / exact - 1) <= max(got["fd"].relative_error, 1e-6)


def _root_parameter_job(ranks: Ranks, payload: None) -> str:
    model = nn.Linear(3, 2)  # its parameters belong to the root module itself
    try:
        shard_model(model, ranks)
    except InputError as err:
        return str(err)
    return ""


def test_a_root_that_holds_parameters_is_refused() -> None:
    message = launch(_root_parameter_job, None, DistributedSpec(world_size=1))
    assert "root module holds parameters ['weight', 'bias']" in message
