"""Benchmark our curvature operators against curvlinops (run by hand, never in tests).

    SITE=/tmp/refvenv_c/lib/python3.11/site-packages
    python benchmarks/curvature_operators.py --curvlinops-site $SITE [--seeds 5]

On the MLP 64-256-256-10 of ``benchmarks/landscape.py`` trained on scikit-learn digits (1797
examples, float32, one thread, chunks of 256 examples for both libraries): setup and matvec
CPU-seconds per kind and the relative difference of the two matvecs on one vector; the top
eigenvalue by our Lanczos and by SciPy's ``eigsh`` on each library's operator (products and
CPU-seconds); and Hutch++ vs XTrace (ours, curvlinops') on the Hessian and on KFAC, whose exact
trace ``Σ_l tr(A_l) tr(G_l) (+ tr(G_l) per bias)`` is known. curvlinops lives in a side venv
(``pip install curvlinops-for-pytorch==3.0.1``); ``--curvlinops-site`` appends its
site-packages to ``sys.path`` after the project's own packages.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from scipy.sparse.linalg import LinearOperator, eigsh
from sklearn.datasets import load_digits
from torch import nn

from axionlab.landscape import hessian_top_eigenvalues, hessian_trace
from axionlab.landscape.operators import CURVATURE_KINDS, KFACOperator, curvature_operator, xtrace

sys.path.insert(0, str(Path(__file__).parent))
from landscape import make_mlp, train  # the same MLP and training as benchmarks/landscape.py

T = TypeVar("T")
BATCH = 256
SEED = 2147483647  # curvlinops' default MC seed: both libraries then draw the same labels


def row(*cells: object) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)


def cpu(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


class Counted(LinearOperator):  # type: ignore[misc]
    """A SciPy operator that counts its products (for curvlinops' ``to_scipy()``)."""

    def __init__(self, op: LinearOperator) -> None:
        super().__init__(dtype=np.dtype(np.float64), shape=op.shape)
        self.op, self.n = op, 0

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        self.n += 1
        return np.asarray(self.op @ x, dtype=np.float64)


def curvlinops_ops(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    import curvlinops as cl

    params = [p for p in model.parameters() if p.requires_grad]
    data = [(x[i : i + BATCH], y[i : i + BATCH]) for i in range(0, len(y), BATCH)]
    loss = nn.CrossEntropyLoss()
    kw = {"check_deterministic": False}
    return {
        "hessian": lambda: cl.HessianLinearOperator(model, loss, params, data, **kw),
        "ggn": lambda: cl.GGNLinearOperator(model, loss, params, data, **kw),
        "fisher_empirical": lambda: cl.EFLinearOperator(model, loss, params, data, **kw),
        "fisher_mc": lambda: cl.FisherMCLinearOperator(model, loss, params, data, seed=SEED, **kw),
        "kfac": lambda: cl.KFACLinearOperator(
            model, loss, params, data, fisher_type="type-2", **kw
        ),
    }


def matvec_table(model: nn.Module, x: torch.Tensor, y: torch.Tensor, theirs: dict) -> dict:  # type: ignore[type-arg]
    dim = sum(p.numel() for p in model.parameters())
    v = torch.randn(dim, generator=torch.Generator().manual_seed(0))
    row(
        "kind",
        "ours: setup + 1st matvec",
        "ours: matvec",
        "curvlinops: setup + 1st matvec",
        "curvlinops: matvec",
        "rel. diff",
    )
    row(*["---"] * 6)
    ops = {}
    for kind in CURVATURE_KINDS:
        opts = {"generator": torch.Generator().manual_seed(SEED)} if kind == "fisher_mc" else {}

        def ours_setup(kind: str = kind, opts: dict = opts) -> tuple[Any, np.ndarray]:  # type: ignore[type-arg]
            op = curvature_operator(model, F.cross_entropy, (x, y), kind, batch_size=BATCH, **opts)  # type: ignore[arg-type]
            return op, op @ v.double().numpy()

        (op, ours_v), ours_first = cpu(ours_setup)
        ours_mv = float(
            np.median([cpu(lambda op=op: op @ v.double().numpy())[1] for _ in range(3)])
        )
        ops[kind] = op
        cells = [kind, f"{ours_first:.3f}", f"{ours_mv:.3f}"]
        if theirs:

            def their_setup(kind: str = kind) -> tuple[Any, torch.Tensor]:
                top = theirs[kind]()
                return top, top @ v

            (top, their_v), their_first = cpu(their_setup)
            their_mv = float(np.median([cpu(lambda top=top: top @ v)[1] for _ in range(3)]))
            their_np = their_v.detach().double().numpy()
            diff = np.linalg.norm(ours_v - their_np) / np.linalg.norm(their_np)
            ops[f"curvlinops:{kind}"] = top
            cells += [f"{their_first:.3f}", f"{their_mv:.3f}", f"{diff:.1e}"]
        else:
            cells += ["–"] * 3
        row(*cells)
    return ops


def eigen_table(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ops: dict) -> None:  # type: ignore[type-arg]
    print()
    row("operator", "method", "products", "CPU-s", "λ_max")
    row(*["---"] * 5)
    lanczos, seconds = cpu(
        lambda: hessian_top_eigenvalues(model, F.cross_entropy, (x, y), batch_size=BATCH)
    )
    top = lanczos.eigenvalues[0]
    row("hessian", "axionlab Lanczos (tol 1e-5)", lanczos.n_hvp, f"{seconds:.2f}", f"{top:.6f}")
    for kind in ("hessian", "ggn", "kfac"):
        op = ops[kind]
        op.n_matvec = 0
        value, seconds = cpu(lambda op=op: eigsh(op, k=1, which="LA", return_eigenvectors=False)[0])
        row(kind, "eigsh on axionlab's operator", op.n_matvec, f"{seconds:.2f}", f"{value:.6f}")
        if f"curvlinops:{kind}" in ops:
            counted = Counted(ops[f"curvlinops:{kind}"].to_scipy())
            value, seconds = cpu(
                lambda c=counted: eigsh(c, k=1, which="LA", return_eigenvectors=False)[0]
            )
            row(kind, "eigsh on curvlinops' operator", counted.n, f"{seconds:.2f}", f"{value:.6f}")


def kfac_exact_trace(op: KFACOperator) -> float:
    total = 0.0
    for f in op.kfac.factors:
        tr_g = float(f.gradient_covariance.double().trace())
        if f.weight is not None and f.input_covariance is not None:
            total += float(f.input_covariance.double().trace()) * tr_g
        if f.bias is not None:
            total += tr_g
    return total


def trace_table(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    ops: dict,  # type: ignore[type-arg]
    n: int,
    seeds: int,
) -> None:
    have = "curvlinops:hessian" in ops
    if have:
        from curvlinops import hutchpp_trace
        from curvlinops import xtrace as their_xtrace
    exact = kfac_exact_trace(ops["kfac"])
    print(f"\n{n} products per estimate, {seeds} seeds; KFAC's exact trace {exact:.6g}\n")
    row(
        "operator",
        "estimator",
        "estimate (mean ± sd over seeds)",
        "mean abs error vs exact",
        "mean reported std_error",
        "CPU-s per estimate",
    )
    row(*["---"] * 6)
    rows: list[tuple[str, str, Callable[[int], tuple[float, float]]]] = []

    def ours_hutchpp(seed: int) -> tuple[float, float]:
        r = hessian_trace(
            model,
            F.cross_entropy,
            (x, y),
            n_hvp=n,
            batch_size=BATCH,
            generator=torch.Generator().manual_seed(seed),
        )
        return r.estimate, r.std_error

    def ours_x(kind: str) -> Callable[[int], tuple[float, float]]:
        def run(seed: int) -> tuple[float, float]:
            r = xtrace(ops[kind], n, generator=torch.Generator().manual_seed(seed))
            return r.estimate, r.std_error

        return run

    def theirs(kind: str, fn: Callable[..., torch.Tensor]) -> Callable[[int], tuple[float, float]]:
        def run(seed: int) -> tuple[float, float]:
            torch.manual_seed(seed)  # curvlinops draws its test vectors from the global RNG
            return float(fn(ops[f"curvlinops:{kind}"], n)), float("nan")

        return run

    rows.append(("hessian", "axionlab Hutch++", ours_hutchpp))
    rows.append(("hessian", "axionlab XTrace", ours_x("hessian")))
    if have:
        rows.append(("hessian", "curvlinops Hutch++", theirs("hessian", hutchpp_trace)))
        rows.append(("hessian", "curvlinops XTrace", theirs("hessian", their_xtrace)))
    rows.append(("kfac", "axionlab XTrace", ours_x("kfac")))
    if have:
        rows.append(("kfac", "curvlinops Hutch++", theirs("kfac", hutchpp_trace)))
        rows.append(("kfac", "curvlinops XTrace", theirs("kfac", their_xtrace)))
    for kind, label, fn in rows:
        results, times = [], []
        for seed in range(seeds):
            out, seconds = cpu(lambda seed=seed, fn=fn: fn(seed))
            results.append(out)
            times.append(seconds)
        est = np.array([r[0] for r in results])
        err = f"{np.abs(est - exact).mean():.3g}" if kind == "kfac" else "–"
        reported = [r[1] for r in results if not np.isnan(r[1])]
        std_text = f"{np.mean(reported):.3g}" if reported else "–"
        spread = f"{est.std(ddof=1):.2g}" if seeds > 1 else "–"
        row(kind, label, f"{est.mean():.5g} ± {spread}", err, std_text, f"{np.mean(times):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--curvlinops-site", default=None, help="site-packages holding curvlinops")
    parser.add_argument("--trace-matvecs", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    if args.curvlinops_site:
        sys.path.append(args.curvlinops_site)
    torch.set_num_threads(1)
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target)
    torch.manual_seed(0)
    model = train(make_mlp(), x, y)
    try:
        theirs = curvlinops_ops(model, x, y)
        theirs_version = version("curvlinops-for-pytorch")
        dim = sum(p.numel() for p in model.parameters())
        print(f"curvlinops {theirs_version}, torch {torch.__version__}, one thread, ", end="")
        print(f"{len(y)} examples, P = {dim}\n")
    except ImportError:
        theirs = {}
        print("curvlinops not importable: our columns only\n")
    ops = matvec_table(model, x, y, theirs)
    eigen_table(model, x, y, ops)
    trace_table(model, x, y, ops, args.trace_matvecs, args.seeds)


if __name__ == "__main__":
    main()
