"""Benchmark 3-D loss grids on digits: loss_grid against a plain triple loop (run by hand).

    python benchmarks/nd_landscape.py [--steps 11,21] [--methods plain,loop,vmap,auto,workers]

The MLP 64-256-256-10 of ``benchmarks/landscape.py``, trained the same way on the full
scikit-learn digits set (1797 examples), three filter-normalised directions, cross-entropy in
eval mode on one torch thread. For each ``steps``, a ``steps³`` grid evaluated by a plain loop
(copy θ + a·d1 + b·d2 + c·d3 into a deep copy of the model, one forward per point) and by
``loss_grid`` with each strategy, then ``auto`` over a warm ``ProcessPoolExecutor(2)``. Prints a
markdown table: wall seconds, CPU-seconds, points per CPU-second, speed-up over the plain loop
(CPU-seconds; wall seconds for the workers, whose CPU time is only accounted once the pool is
reaped), the largest deviation from the plain loop, and the memory ``loss_grid`` estimated.
"""

from __future__ import annotations

import argparse
import copy
import itertools
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from axionlab.execute import ProcessPoolExecutor
from axionlab.landscape import random_directions
from axionlab.landscape.grid import grid_bytes, loss_grid
from axionlab.repro import torch_generator
from landscape import timed, trained_digits_mlp  # benchmarks/landscape.py, beside this one

STRATEGIES = ("loop", "vmap", "auto")
METHODS = ("plain", *STRATEGIES, "workers")


def plain_grid(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    dirs: list[dict[str, torch.Tensor]],
    axis: np.ndarray,
) -> np.ndarray:
    """The reference: write each point's weights into a copy of the model, one forward each."""
    work = copy.deepcopy(model).eval()
    center = {n: p.detach().clone() for n, p in work.named_parameters()}
    out = np.empty((len(axis),) * len(dirs))
    with torch.no_grad():
        for index in itertools.product(range(len(axis)), repeat=len(dirs)):
            for n, p in work.named_parameters():
                p.copy_(center[n] + sum(axis[i] * d[n] for i, d in zip(index, dirs, strict=True)))
            out[index] = F.cross_entropy(work(x), y).item()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", default="11,21", help="comma list of points per axis")
    parser.add_argument(
        "--methods", default=",".join(METHODS), help=f"comma list of {', '.join(METHODS)}"
    )
    args = parser.parse_args()
    methods = args.methods.split(",")
    torch.set_num_threads(1)
    model, x, y = trained_digits_mlp()
    dirs = random_directions(model, 3, generator=torch_generator(0, "directions"))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"MLP 64-256-256-10 ({n_params} parameters), digits 1797 examples, 3 directions\n")
    print("| grid | method | wall s | CPU-s | points / CPU-s | vs plain (CPU-s) | max abs diff |")
    print("|---|---|---|---|---|---|---|", flush=True)
    with ProcessPoolExecutor(2) as pool:
        runs: list[tuple[str, dict[str, Any]]] = [
            (f"loss_grid {m}", {"strategy": m}) for m in methods if m in STRATEGIES
        ]
        if "workers" in methods:
            loss_grid(model, F.cross_entropy, (x, y), dirs, steps=3, executor=pool)  # start them
            runs.append(("loss_grid auto, 2 worker processes", {"executor": pool}))
        for steps in (int(s) for s in args.steps.split(",")):
            bench(model, x, y, dirs, steps, "plain" in methods, runs)


def bench(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    dirs: list[dict[str, torch.Tensor]],
    steps: int,
    plain: bool,
    runs: list[tuple[str, dict[str, Any]]],
) -> None:
    """Print the rows of one ``steps³`` grid as they finish."""
    points = steps**3
    ref, base = None, None
    if plain:
        ref, base = timed(lambda: plain_grid(model, x, y, dirs, np.linspace(-1, 1, steps)))
        print(
            f"| {steps}³ | plain triple loop | {base.wall:.1f} | {base.cpu:.1f} |"
            f" {points / base.cpu:.1f} | 1× | – |",
            flush=True,
        )
    for label, options in runs:
        grid, timing = timed(
            lambda options=options: loss_grid(
                model, F.cross_entropy, (x, y), dirs, steps=steps, **options
            )
        )
        diff = "–" if ref is None else f"{np.abs(grid.values - ref).max():.1e}"
        if "executor" in options:  # worker CPU is only accounted once the pool is reaped
            cpu, rate = "–", "–"
            speedup = "–" if base is None else f"{base.wall / timing.wall:.2f}× (wall)"
        else:
            cpu, rate = f"{timing.cpu:.1f}", f"{points / timing.cpu:.1f}"
            speedup = "–" if base is None else f"{base.cpu / timing.cpu:.2f}×"
        print(
            f"| {steps}³ | {label} [{grid.strategy}] | {timing.wall:.1f} | {cpu} | {rate} |"
            f" {speedup} | {diff} |",
            flush=True,
        )
    n_params = sum(p.numel() for p in model.parameters())
    estimate = grid_bytes(steps, 3, n_params, 32)
    print(f"|  | ↳ memory estimated by loss_grid: {estimate / 2**20:.1f} MiB |  |  |  |  |  |")


if __name__ == "__main__":
    main()
