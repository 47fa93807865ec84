"""Benchmark loss planes and the top Hessian eigenvalue on digits (run by hand, never in tests).

    python benchmarks/landscape.py [--steps 51] [--models mlp,cnn] [--methods plain,auto,...]

Prints a markdown table row by row: wall seconds, points per CPU-second and the fraction of this
machine's fp32 matmul roofline (measured here, one thread) for a 51×51 plane of an MLP
64-256-256-10 and a small CNN on the full scikit-learn digits set (1797 examples), for a plain
per-point loop, axionlab's strategies (one thread), 2 worker processes (a warm pool, with the 1 → 2
speed-up in wall time), and the `loss-landscapes` package; then top-eigenvalue time against
PyHessian. External packages are skipped when not installed.
"""

from __future__ import annotations

import argparse
import copy
import resource
import time
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

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


def roofline_gflops(_: object = None, repeats: int = 5) -> float:
    """Median fp32 GFLOP per CPU-second of a 2048² matmul on one thread."""
    torch.set_num_threads(1)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    rates = []
    for _ in range(repeats):
        t0 = time.process_time()
        a @ b
        rates.append(2 * 2048**3 / (time.process_time() - t0) / 1e9)
    return float(np.median(rates))


def matmul_scaling(executor: ProcessPoolExecutor, solo: float) -> float:
    """The machine's own 1 → 2 process speed-up on the roofline matmul (the ceiling for workers)."""
    together = executor.map(roofline_gflops, [None, None])
    return sum(together) / solo


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int = 30) -> nn.Module:
    gen = torch_generator(0, "train")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(64):
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def trained_digits_mlp() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The benchmarks' reference setting: full digits (pixels / 16), the MLP trained 30 Adam
    epochs from seed 0; returns the model (eval mode) and the data."""
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target)
    torch.manual_seed(0)  # weight init
    return train(make_mlp(), x, y), x, y


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


class Timing(NamedTuple):
    cpu: float  # CPU-seconds: this process plus reaped worker processes
    wall: float
    roof: float  # the roofline measured just before and just after, averaged


def timed(fn: Callable[[], T]) -> tuple[T, Timing]:
    """Result and timing; the bracketing roofline makes shares robust to a drifting VM."""

    def cpu() -> float:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + children.ru_utime + children.ru_stime

    before = roofline_gflops()
    t0, w0 = cpu(), time.perf_counter()
    result = fn()
    cpu_s, wall = cpu() - t0, time.perf_counter() - w0
    return result, Timing(cpu_s, wall, (before + roofline_gflops()) / 2)


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


METHODS = ("plain", "nchw", "vmap", "auto", "workers", "loss-landscapes")
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "nchw": (
        "axionlab loop, no affine, default layout",
        {"strategy": "loop", "exploit_affine": False, "channels_last": False},
    ),
    "vmap": ("axionlab vmap ×8", {"strategy": "vmap"}),
    "auto": ("axionlab auto", {}),
}


def row(model: str, label: str, points: int, timing: Timing, flop: float, err: float) -> None:
    rate = points / timing.cpu
    share = rate * flop / 1e9 / timing.roof
    diff = "–" if np.isnan(err) else f"{err:.1e}"
    print(
        f"| {model} | {label} | {timing.wall:.1f} | {rate:.1f} | {share:.0%} | {diff} |",
        flush=True,
    )


def bench(
    name: str,
    factory: Callable[[], nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    methods: set[str],
) -> list[str]:
    """Print the plane rows of one model as they finish; return its eigenvalue rows."""
    torch.manual_seed(0)  # weight init
    model = train(factory(), x, y)
    flop = flop_per_point(model, x)
    dirs = random_directions(model, 2, generator=torch_generator(0, "directions"))
    alphas = np.linspace(-1, 1, steps)
    points = steps**2
    ref = None
    if "plain" in methods:
        ref, timing = timed(lambda: plain_loop(model, x, y, dirs, alphas))
        row(name, "plain per-point loop", points, timing, flop, float("nan"))

    def plane(**options: Any) -> Any:
        return loss_plane(model, F.cross_entropy, (x, y), dirs, **{"steps": steps, **options})

    def error(values: np.ndarray) -> float:
        return float("nan") if ref is None else float(np.abs(values - ref).max())

    walls = {}
    for key, (label, options) in VARIANTS.items():
        if key in methods:
            surface, timing = timed(lambda options=options: plane(**options))
            walls[key] = timing.wall
            row(name, f"{label} [{surface.strategy}]", points, timing, flop, error(surface.values))
    if "workers" in methods:
        with ProcessPoolExecutor(2) as executor:
            _, start = timed(lambda: plane(steps=3, executor=executor))  # starts the workers
            surface, timing = timed(lambda: plane(executor=executor))
            ceiling = matmul_scaling(executor, timing.roof)
        # worker CPU is only accounted once the pool is reaped: report per-worker wall rate
        wall = timing.wall
        label = f"axionlab auto, 2 worker processes [{surface.strategy}]"
        row(name, label, points, timing._replace(cpu=2 * wall), flop, error(surface.values))
        if "auto" in walls:
            print(
                f"|  | ↳ speed-up 1 → 2 workers (wall, warm pool) {walls['auto'] / wall:.2f}×"
                f" (two 1-thread matmuls at once: {ceiling:.2f}×);"
                f" starting the 2 workers took {start.wall:.1f} s once |  |  |  |  |",
                flush=True,
            )
    if "loss-landscapes" in methods:
        try:
            import loss_landscapes
            from loss_landscapes.metrics import Loss

            metric = Loss(F.cross_entropy, x, y)
            _, timing = timed(
                lambda: loss_landscapes.random_plane(
                    copy.deepcopy(model), metric, steps=steps, normalization="filter"
                )
            )
            row(name, "loss-landscapes 3.0.6 random_plane", points, timing, flop, float("nan"))
        except ImportError:
            pass
    eig, timing = timed(lambda: hessian_top_eigenvalues(model, F.cross_entropy, (x, y)))
    cpu = timing.cpu
    eig_rows = [
        f"| {name} | axionlab Lanczos | {eig.eigenvalues[0]:.5f} | {eig.n_hvp} | {cpu:.2f} |"
    ]
    if "loss-landscapes" in methods:  # external tools are compared together
        try:
            from pyhessian import hessian as pyhessian

            def run_pyhessian() -> float:
                probe = pyhessian(
                    copy.deepcopy(model), nn.CrossEntropyLoss(), data=(x, y), cuda=False
                )
                return float(probe.eigenvalues(top_n=1)[0][0])

            top, timing = timed(run_pyhessian)
            cpu = timing.cpu
            eig_rows.append(f"| {name} | PyHessian power iteration | {top:.5f} | – | {cpu:.2f} |")
        except ImportError:
            pass
    return eig_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=51)
    parser.add_argument("--models", default="mlp,cnn", help="comma list of mlp, cnn")
    parser.add_argument(
        "--methods", default=",".join(METHODS), help=f"comma list of {', '.join(METHODS)}"
    )
    args = parser.parse_args()
    methods = set(args.methods.split(","))
    torch.set_num_threads(1)
    digits = load_digits()
    x_flat = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target)
    roof = roofline_gflops()
    print(
        f"fp32 matmul roofline (1 thread, 2048²): {roof:.1f} GFLOP/CPU-s at the start; each row"
        " divides by the mean of the rooflines measured just before and after it;"
        f" grid {args.steps}²\n"
    )
    print("| model | method | wall s | points / CPU-s | of roofline | max abs diff vs plain |")
    print("|---|---|---|---|---|---|", flush=True)
    eig_rows: list[str] = []
    models = {
        "mlp": ("MLP 64-256-256-10", make_mlp, x_flat),
        "cnn": ("small CNN", SmallCNN, x_flat.reshape(-1, 1, 8, 8)),
    }
    for key in args.models.split(","):
        name, factory, x = models[key]
        eig_rows += bench(name, factory, x, y, args.steps, methods)
    print("\n| model | method | λ_max | HVPs | CPU-s |")
    print("|---|---|---|---|---|")
    print("\n".join(eig_rows))
    shift = loss_landscapes_shift(args.steps) if "loss-landscapes" in methods else None
    if shift is not None:
        print(f"\nloss-landscapes odd-column offset on a linear metric: {shift:.3f} grid steps")


if __name__ == "__main__":
    main()
