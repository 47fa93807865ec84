"""Benchmark loss planes and the top Hessian eigenvalue on digits (run by hand, never in tests).

    python benchmarks/landscape.py [--steps 51] [--skip-external]

Prints one markdown table: points per CPU-second and the fraction of this machine's fp32 matmul
roofline (measured here, per core) for a 51×51 plane of an MLP 64-256-256-10 and a small CNN on
the full scikit-learn digits set (1797 examples), for a plain per-point loop, axionlab's
strategies, 1 and 2 worker processes, and the `loss-landscapes` package; then top-eigenvalue time
against PyHessian. Both external packages are skipped when not installed.
"""

from __future__ import annotations

import argparse
import copy
import resource
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from axionlab.execute import ProcessPoolExecutor
from axionlab.landscape import hessian_top_eigenvalues, loss_plane, random_directions
from axionlab.repro import torch_generator

T = TypeVar("T")


def make_mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
    )


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Linear(32 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def flop_per_point(model: nn.Module, x: torch.Tensor) -> float:
    """2 × multiply-adds of all Linear/Conv layers for one pass over ``x``."""
    macs = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor], out: torch.Tensor) -> None:
        nonlocal macs
        weight = module.weight
        per_output = weight[0].numel()
        macs += out.numel() * per_output

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, (nn.Linear, nn.Conv2d))
    ]
    with torch.no_grad():
        model.eval()(x)
    for h in handles:
        h.remove()
    return 2.0 * macs


def roofline_gflops() -> float:
    """Median fp32 GFLOP per CPU-second of a 2048² matmul on one thread."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    rates = []
    for _ in range(5):
        t0 = time.process_time()
        a @ b
        rates.append(2 * 2048**3 / (time.process_time() - t0) / 1e9)
    return float(np.median(rates))


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int = 30) -> nn.Module:
    gen = torch_generator(0, "train")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(64):
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def plain_loop(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    dirs: list[dict[str, torch.Tensor]],
    alphas: np.ndarray,
) -> np.ndarray:
    """The reference: copy the model, write each point's weights, one forward per point."""
    work = copy.deepcopy(model).eval()
    center = {n: p.detach().clone() for n, p in work.named_parameters()}
    out = np.empty((len(alphas), len(alphas)))
    with torch.no_grad():
        for i, a in enumerate(alphas):
            for j, b in enumerate(alphas):
                for n, p in work.named_parameters():
                    p.copy_(center[n] + a * dirs[0][n] + b * dirs[1][n])
                out[i, j] = F.cross_entropy(work(x), y).item()
    return out


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """Result and CPU-seconds: this process plus reaped worker processes (spawn included)."""

    def cpu() -> float:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + children.ru_utime + children.ru_stime

    t0 = cpu()
    result = fn()
    return result, cpu() - t0


def loss_landscapes_shift(steps: int) -> float | None:
    """Offset in grid steps of odd columns of `loss_landscapes.random_plane` (linear metric)."""
    try:
        import loss_landscapes
        from loss_landscapes.metrics import Metric
    except ImportError:
        return None

    class ParamSum(Metric):  # a linear function of the weights: a correct grid is a plane
        def __call__(self, wrapper: object) -> float:
            return float(sum(p.sum() for p in wrapper.modules[0].parameters()))  # type: ignore[attr-defined]

    torch.manual_seed(0)
    grid = loss_landscapes.random_plane(
        nn.Linear(4, 3), ParamSum(), steps=steps, normalization=None, deepcopy_model=True
    )
    step_j = np.mean(np.diff(grid[0]))
    step_i = np.mean(grid[2] - grid[0]) / 2
    return float(np.mean(grid[0] - (grid[1] - step_i)) / step_j)


VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("axionlab loop, no affine (1 thread)", {"strategy": "loop", "exploit_affine": False}),
    ("axionlab vmap ×8 (1 thread)", {"strategy": "vmap"}),
    ("axionlab auto (1 thread)", {}),
    ("axionlab auto, 1 worker process", {"executor": ProcessPoolExecutor(1)}),
    ("axionlab auto, 2 worker processes", {"executor": ProcessPoolExecutor(2)}),
]


def bench(
    name: str,
    factory: Callable[[], nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    roof: float,
    skip_external: bool,
) -> tuple[list[str], list[str]]:
    """Markdown rows for the plane table and the eigenvalue table of one model."""
    torch.manual_seed(0)  # weight init
    model = train(factory(), x, y)
    flop = flop_per_point(model, x)
    dirs = random_directions(model, 2, generator=torch_generator(0, "directions"))
    alphas = np.linspace(-1, 1, steps)
    ref, cpu = timed(lambda: plain_loop(model, x, y, dirs, alphas))
    results = {"plain per-point loop (1 thread)": (cpu, 0.0)}
    for label, options in VARIANTS:
        surface, cpu = timed(
            lambda options=options: loss_plane(
                model, F.cross_entropy, (x, y), dirs, steps=steps, **options
            ),
        )
        err = float(np.abs(surface.values - ref).max())
        results[f"{label} [{surface.strategy}]"] = (cpu, err)
    if not skip_external:
        try:
            import loss_landscapes
            from loss_landscapes.metrics import Loss

            metric = Loss(F.cross_entropy, x, y)
            _, cpu = timed(
                lambda: loss_landscapes.random_plane(
                    copy.deepcopy(model), metric, steps=steps, normalization="filter"
                )
            )
            results["loss-landscapes 3.0.6 random_plane"] = (cpu, float("nan"))
        except ImportError:
            pass
    rows = []
    for label, (cpu, err) in results.items():
        rate = steps**2 / cpu
        rows.append(
            f"| {name} | {label} | {rate:.1f} | {rate * flop / 1e9 / roof:.0%} | {err:.1e} |"
        )
    eig, cpu = timed(lambda: hessian_top_eigenvalues(model, F.cross_entropy, (x, y)))
    eig_rows = [
        f"| {name} | axionlab Lanczos | {eig.eigenvalues[0]:.5f} | {eig.n_hvp} | {cpu:.2f} |"
    ]
    if not skip_external:
        try:
            from pyhessian import hessian as pyhessian

            def run_pyhessian() -> float:
                probe = pyhessian(
                    copy.deepcopy(model), nn.CrossEntropyLoss(), data=(x, y), cuda=False
                )
                return float(probe.eigenvalues(top_n=1)[0][0])

            top, cpu = timed(run_pyhessian)
            eig_rows.append(f"| {name} | PyHessian power iteration | {top:.5f} | – | {cpu:.2f} |")
        except ImportError:
            pass
    return rows, eig_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=51)
    parser.add_argument("--skip-external", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    digits = load_digits()
    x_flat = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target)
    roof = roofline_gflops()
    rows: list[str] = []
    eig_rows: list[str] = []
    for name, factory, x in [
        ("MLP 64-256-256-10", make_mlp, x_flat),
        ("small CNN", SmallCNN, x_flat.reshape(-1, 1, 8, 8)),
    ]:
        plane_rows, model_eig_rows = bench(
            name, factory, x, y, args.steps, roof, args.skip_external
        )
        rows += plane_rows
        eig_rows += model_eig_rows
    print(f"fp32 matmul roofline (1 thread, 2048²): {roof:.1f} GFLOP/CPU-s; grid {args.steps}²\n")
    print("| model | method | points / CPU-s | of roofline | max abs diff vs plain |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    print("\n| model | method | λ_max | HVPs | CPU-s |")
    print("|---|---|---|---|---|")
    print("\n".join(eig_rows))
    shift = None if args.skip_external else loss_landscapes_shift(args.steps)
    if shift is not None:
        print(f"\nloss-landscapes odd-column offset on a linear metric: {shift:.3f} grid steps")


if __name__ == "__main__":
    main()
