"""Collective jobs: local spawn, failures, specs, and Ray Train's TorchTrainer."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist

from axionlab.errors import ConfigError
from axionlab.execute.distributed import DistributedJobError, DistributedSpec, Ranks, launch


def _coordinates(ranks: Ranks, scale: int) -> dict[str, object]:
    total = torch.tensor([float(ranks.rank)])
    ranks.all_reduce(total, "world")
    shard_sum = torch.tensor([float(ranks.rank)])
    ranks.all_reduce(shard_sum, "shard")
    seen: list[object] = [None] * ranks.world_size
    dist.all_gather_object(seen, (ranks.rank, ranks.replica, ranks.shard))
    return {"total": scale * float(total), "shard_sum": float(shard_sum), "seen": seen}


def test_rank_zero_result_with_its_mesh_coordinates() -> None:
    result = launch(_coordinates, 10, DistributedSpec(world_size=2, replicas=2))
    assert result["total"] == 10.0  # ranks 0 + 1, scaled
    assert result["shard_sum"] == 0.0  # rank 0 is alone in its replica
    assert result["seen"] == [(0, 0, 0), (1, 1, 0)]


def _fails_on_rank_one(ranks: Ranks, how: str) -> int:
    if ranks.rank == 1:
        if how == "raise":
            raise ValueError("bad shard")
        os._exit(3)
    dist.barrier()
    return 0


@pytest.mark.parametrize("how", ["raise", "exit"])
def test_a_failing_rank_fails_the_job_with_its_rank(how: str) -> None:
    with pytest.raises(DistributedJobError, match="rank 1 of 2 failed") as failed:
        launch(_fails_on_rank_one, how, DistributedSpec(world_size=2))
    if how == "raise":  # the first failure is reported, not its peer's broken barrier
        assert "ValueError: bad shard" in str(failed.value)


def test_bad_specs_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"must divide distributed\.world_size"):
        DistributedSpec(world_size=3, replicas=2)
    with pytest.raises(ConfigError, match="launcher"):
        DistributedSpec(launcher="slurm")  # type: ignore[arg-type]
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="nccl"):
            DistributedSpec(backend="nccl")


@pytest.mark.slow
def test_ray_train_runs_the_same_job() -> None:
    pytest.importorskip("ray.train.torch")
    result = launch(_coordinates, 10, DistributedSpec(world_size=2, replicas=2, launcher="ray"))
    assert result == launch(_coordinates, 10, DistributedSpec(world_size=2, replicas=2))


def _returns_a_tensor(ranks: Ranks, payload: None) -> torch.Tensor:
    return torch.ones(2)


def test_a_result_is_data_only() -> None:
    """Results come back through a restricted unpickler: arrays yes, anything callable no."""
    import pickle

    with pytest.raises(pickle.UnpicklingError, match="return arrays, not tensors"):
        launch(_returns_a_tensor, None, DistributedSpec(world_size=1))


_HELD_AFTER_FREE = """
import sys, torch
from axionlab.execute.distributed import release_freed_memory
if sys.argv[1] == "release":
    release_freed_memory()
def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
big = torch.ones(2**22)  # 16 MiB: freeing it raises glibc's dynamic mmap threshold to 16 MiB
del big
before = rss_mib()
blocks = [torch.ones(2**18) for _ in range(64)]  # 64 x 1 MiB, then all but the last freed
last = blocks[-1]
del blocks
print(rss_mib() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_rank_hands_freed_blocks_back_to_the_os() -> None:
    def held(mode: str) -> float:
        out = subprocess.run(
            [sys.executable, "-c", _HELD_AFTER_FREE, mode], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        return float(out.stdout)

    if held("keep") < 48:  # glibc keeps the freed megabytes below the live one
        pytest.skip("this allocator hands the freed blocks back by itself")
    assert held("release") < 8
