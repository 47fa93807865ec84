"""Sharded loss plane of a GPT-2-small-sized model (124M, from config) at world sizes 1 and 2.

By hand, never in CI:  .venv/bin/python benchmarks/sharded_plane.py [--steps 3] [--examples 4]

Reports, as the maximum over ranks: peak resident memory (ru_maxrss) and its part above the
process's import baseline (torch + transformers), points per second and the share of wall time
spent in collectives (all-gathers of the forward passes and the loss all-reduces, timed at the
``torch.distributed`` calls). Every rank builds the model from the same seed, then shards it.
"""

from __future__ import annotations

import argparse
import resource
import time
from typing import Any

import torch

from axionlab.execute.distributed import DistributedSpec, Ranks, launch, shard_model
from axionlab.landscape import HFLogits
from axionlab.landscape.hf import token_cross_entropy
from axionlab.landscape.sharded import sharded_directions, sharded_loss_plane
from axionlab.models import build_model

GPT2_SMALL = {
    "model_type": "gpt2",
    "n_layer": 12,
    "n_embd": 768,
    "n_head": 12,
    "n_positions": 1024,
    "vocab_size": 50257,
    "bos_token_id": 0,
    "eos_token_id": 0,
}


def _is_comm(name: str) -> bool:
    return name.startswith(("c10d::", "gloo:", "nccl:")) or name in ("record_param_comms", "wait")


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _job(ranks: Ranks, options: dict[str, Any]) -> dict[str, float]:
    import transformers  # noqa: F401  (in the baseline: every HF job imports it)

    baseline = _peak_gib()  # the process with torch and transformers imported
    seq = options["seq"]
    gen = torch.Generator().manual_seed(0)
    model = HFLogits(build_model("hf", (seq,), 50257, config=GPT2_SMALL, generator=gen))
    params = sum(p.numel() for p in model.parameters())
    shard_model(model, ranks)
    ids = torch.randint(0, 50257, (options["examples"], seq), generator=gen)
    data = (ids, ids)  # token_cross_entropy shifts: logits at t predict ids[t + 1]
    steps, span = options["steps"], (-0.5, 0.5)
    t0 = time.perf_counter()
    dirs = sharded_directions(model, ranks, 0, 2)
    plane = sharded_loss_plane(
        model, token_cross_entropy, data, dirs, ranks, steps=steps, span=span
    )
    wall = time.perf_counter() - t0
    peaks = torch.tensor([_peak_gib(), _peak_gib() - baseline])  # before the profiler's own
    ranks.all_reduce(peaks, "world", op="max")
    # a second pass under the profiler: the time inside the c10d collectives (FSDP2's
    # all-gathers, the loss all-reduces) and their waits, over the pass's wall time
    t0 = time.perf_counter()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        sharded_loss_plane(model, token_cross_entropy, data, dirs, ranks, steps=steps, span=span)
    profiled = time.perf_counter() - t0
    comm = sum(e.self_cpu_time_total for e in prof.key_averages() if _is_comm(e.key)) / 1e6
    return {
        "params": params,
        "peak_gib": float(peaks[0]),
        "model_gib": float(peaks[1]),
        "points_per_s": options["steps"] ** 2 / wall,
        "wall_s": wall,
        "comm_share": comm / profiled,
        "center": plane.center_loss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--examples", type=int, default=4)
    parser.add_argument("--seq", type=int, default=64)
    args = parser.parse_args()
    options = {"steps": args.steps, "examples": args.examples, "seq": args.seq}
    print(
        "| world size | params | peak RSS per rank (GiB) | above the import baseline (GiB) "
        "| points/s | comm share | centre loss |"
    )
    print("|---|---|---|---|---|---|---|")
    for world in (1, 2):
        r = launch(_job, options, DistributedSpec(world_size=world))
        print(
            f"| {world} | {r['params'] / 1e6:.0f}M | {r['peak_gib']:.2f} | {r['model_gib']:.2f} | "
            f"{r['points_per_s']:.3f} | {r['comm_share']:.0%} | {r['center']:.5f} |"
        )


if __name__ == "__main__":
    main()
