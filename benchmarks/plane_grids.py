"""`loss_plane(strategy="auto")` against a plain per-point loop, from 11² to 101² grids.

    python benchmarks/plane_grids.py [--models mlp,bn,cnn] [--steps 11 21 51 101] [--rounds 3]

Three models on the full scikit-learn digits set (1797 examples), each trained 30 Adam epochs
(the setting of `benchmarks/landscape.py`): the MLP 64-256-256-10, the same MLP with BatchNorm
and Dropout after each hidden layer, and the small CNN. One torch thread. Each round evaluates,
back to back on the same directions, the plain loop (copy θ + a·d₁ + b·d₂ into a model copy,
one eval-mode forward per point), `auto` with an empty tuning cache (it times its candidates on
the first points: the cost a first plane pays) and `auto` again (its decision reused). Rows are
medians over rounds of CPU seconds and of the per-round ratio plain / auto (> 1: auto faster);
rounds interleave the three so a drifting machine moves all of them alike. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from axionlab.landscape import loss_plane, random_directions
from axionlab.landscape import surface as surface_module
from axionlab.repro import torch_generator
from landscape import SmallCNN, make_mlp, plain_loop, train


def make_bn_mlp() -> nn.Module:
    """The MLP with BatchNorm + Dropout after each hidden layer."""
    return nn.Sequential(
        nn.Linear(64, 256),
        nn.BatchNorm1d(256),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(256, 256),
        nn.BatchNorm1d(256),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(256, 10),
    )


MODELS: dict[str, tuple[str, Callable[[], nn.Module], bool]] = {
    "mlp": ("MLP 64-256-256-10", make_mlp, False),
    "bn": ("MLP + BatchNorm + Dropout", make_bn_mlp, False),
    "cnn": ("small CNN", SmallCNN, True),
}


def cpu_seconds(fn: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    t0 = time.process_time()
    values = fn()
    return time.process_time() - t0, values


def bench(name: str, steps_list: list[int], rounds: int) -> None:
    label, make, image = MODELS[name]
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    x = x.view(-1, 1, 8, 8) if image else x
    y = torch.tensor(digits.target)
    torch.manual_seed(0)
    model = train(make(), x, y).eval()
    dirs = random_directions(model, 2, generator=torch_generator(0, "directions"))

    chosen: list[str] = []

    def auto(steps: int) -> np.ndarray:
        surface = loss_plane(model, F.cross_entropy, (x, y), dirs, steps=steps, show_progress=False)
        chosen.append(surface.strategy)
        return np.asarray(surface.values)

    for steps in steps_list:
        alphas = np.linspace(-1.0, 1.0, steps)
        times: dict[str, list[float]] = {"plain": [], "cold": [], "warm": []}
        diff = 0.0
        for _ in range(rounds if steps <= 21 else 1):
            t_plain, ref = cpu_seconds(lambda: plain_loop(model, x, y, dirs, alphas))  # noqa: B023
            surface_module._DECISIONS.clear()  # a first plane: the tuner times its candidates
            t_cold, cold = cpu_seconds(lambda: auto(steps))  # noqa: B023
            t_warm, _ = cpu_seconds(lambda: auto(steps))  # noqa: B023
            for key, t in ("plain", t_plain), ("cold", t_cold), ("warm", t_warm):
                times[key].append(t)
            diff = max(diff, float(np.abs(cold - ref).max()))
        used = ", ".join(sorted(set(chosen)))
        chosen.clear()
        plain = statistics.median(times["plain"])
        ratios = [
            statistics.median(p / t for p, t in zip(times["plain"], times[k], strict=True))
            for k in ("cold", "warm")
        ]
        print(
            f"| {label} | {steps}² | {len(times['plain'])} | {plain:.2f} "
            f"| {statistics.median(times['cold']):.2f} | **{ratios[0]:.2f}×** "
            f"| {statistics.median(times['warm']):.2f} | {ratios[1]:.2f}× | {used} | {diff:.1e} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="mlp,bn,cnn")
    parser.add_argument("--steps", type=int, nargs="+", default=[11, 21, 51, 101])
    parser.add_argument("--rounds", type=int, default=3, help="rounds for grids up to 21²")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        "| model | grid | rounds | plain loop CPU-s | auto, first plane CPU-s | plain / auto "
        "| auto, decision reused CPU-s | plain / auto | auto's choice | max abs diff |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        bench(name, args.steps, args.rounds)


if __name__ == "__main__":
    main()
