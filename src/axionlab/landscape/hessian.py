"""Hessian of the loss: products, top eigenvalues, trace and spectral density.

All probes use Hessian-vector products by double backward (Pearlmutter 1994) through a
functional, eval-semantics evaluation of the model; the model is never modified. *Full-dataset
mode* (``max_examples=None``) uses the Hessian of the mean loss over every example; *batch mode*
(``max_examples=n``) uses the Hessian of the first ``n`` examples, held fixed across products so
that Lanczos sees one operator. Data are loaded once onto the model's device.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch
from torch import Tensor, nn

from axionlab.checks import check_choice, check_count, check_optional_count
from axionlab.errors import InputError
from axionlab.landscape._common import (
    Data,
    LossFn,
    Params,
    counted_targets,
    eval_semantics,
    flatten,
    forward,
    materialize,
    model_device,
    split_parameters,
    unflatten,
)

TraceMethod = Literal["hutchinson", "hutch++"]
TRACE_METHODS: tuple[TraceMethod, ...] = get_args(TraceMethod)


class HessianOperator:
    """Products with the loss Hessian at the model's current parameters.

    Parameters
    ----------
    model, loss_fn, data
        As for :func:`hessian_top_eigenvalues`.
    batch_size
        Examples per double-backward pass (``None``: all at once); memory only.
    max_examples
        Batch mode: the first ``max_examples`` examples; ``None`` uses all of them.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        data: Data,
        *,
        batch_size: int | None = None,
        max_examples: int | None = None,
    ) -> None:
        check_optional_count("batch_size", batch_size, minimum=1)
        self.model = model
        self.loss_fn = loss_fn
        self.params, self.constants = split_parameters(model)
        x, y = materialize(data, max_examples, model_device(model))
        self.n_examples = int(x.shape[0])
        size = batch_size or self.n_examples
        self.chunks = [(x[i : i + size], y[i : i + size]) for i in range(0, self.n_examples, size)]
        # a chunk's mean loss counts as its share of the targets (tokens when per token), so the
        # operator is that of the mean over all the data whatever the chunking
        total = counted_targets(y)
        self.weights = [counted_targets(yb) / total for _, yb in self.chunks]
        self.dim = sum(p.numel() for p in self.params.values())
        self.n_hvp = 0

    def matmat(self, vectors: Sequence[Mapping[str, Tensor]]) -> list[Params]:
        """``[H v for v in vectors]``, sharing each chunk's first backward pass among them."""
        out = [{k: torch.zeros_like(p) for k, p in self.params.items()} for _ in vectors]
        leaves = {k: p.clone().requires_grad_(True) for k, p in self.params.items()}
        with eval_semantics(self.model), torch.enable_grad():
            for (xb, yb), weight in zip(self.chunks, self.weights, strict=True):
                loss = self.loss_fn(forward(self.model, leaves, self.constants, xb), yb) * weight
                grads = torch.autograd.grad(loss, list(leaves.values()), create_graph=True)
                for i, v in enumerate(vectors):
                    hv = torch.autograd.grad(
                        grads,
                        list(leaves.values()),
                        grad_outputs=[v[k] for k in leaves],
                        retain_graph=i < len(vectors) - 1,
                    )
                    for k, h in zip(leaves, hv, strict=True):
                        out[i][k] += h
        self.n_hvp += len(vectors)
        return out

    def matvec(self, v: Tensor) -> Tensor:
        """``H v`` for a flat float64 vector in ``named_parameters()`` order (the Lanczos one)."""
        return flatten(self.matmat([unflatten(v, self.params)])[0])

    def matvec_flat(self, v: np.ndarray) -> np.ndarray:
        """``H v`` for a flat float64 NumPy vector (the SciPy interface)."""
        return self.matvec(torch.from_numpy(np.ascontiguousarray(v))).numpy()


@dataclass(frozen=True)
class HessianEigen:
    """Top Hessian eigenpairs with a convergence report.

    ``residuals[i]`` = ‖H v_i − λ_i v_i‖ / max(|λ_i|, 1e-12) from the Lanczos recurrence;
    ``converged`` says whether every pair met the tolerance (or the Krylov space became exact).
    """

    eigenvalues: np.ndarray
    residuals: np.ndarray
    converged: bool
    n_hvp: int
    seconds: float
    eigenvectors: list[Params] | None


def hessian_top_eigenvalues(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    k: int = 1,
    *,
    tol: float = 1e-5,
    max_hvp: int = 300,
    batch_size: int | None = None,
    max_examples: int | None = None,
    return_eigenvectors: bool = False,
    generator: torch.Generator | None = None,
) -> HessianEigen:
    """The ``k`` largest (algebraic) Hessian eigenvalues by Lanczos iteration.

    Lanczos with full reorthogonalisation (Golub & Van Loan, *Matrix Computations*, §10.1) from a
    Gaussian start vector drawn from ``generator`` (``None``: seeded with 0). After each product
    the top-k Ritz pairs (θ_i, y_i) are checked with the exact Lanczos residual
    ‖H y_i − θ_i y_i‖ = β_j |s_{j,i}|, and iteration stops once every one is ≤ ``tol``·|θ_i|.
    Eigenvalue errors are then of order tol²·|θ|²/gap, far below ``tol``. Power iteration with a
    loose stopping rule (as in PyHessian) can stop 0.4% short of λ_max; this cannot.

    Parameters
    ----------
    model, loss_fn, data
        Model, ``loss_fn(outputs, targets) -> mean loss`` and an ``(x, y)`` pair or batches.
    k
        Number of eigenvalues, at most the number of trainable parameters.
    tol
        Relative residual at which a Ritz pair counts as converged.
    max_hvp
        Maximum number of Lanczos steps (Hessian-vector products).
    batch_size, max_examples
        Chunking (memory only) and batch mode; see :class:`HessianOperator`.
    return_eigenvectors
        Also return the eigenvectors as unit-norm parameter dictionaries.

    Returns
    -------
    HessianEigen
        Eigenvalues largest first, relative residuals, convergence flag, products and time.

    Raises
    ------
    InputError
        If ``k`` is not in ``[1, n_parameters]`` or ``tol``/``max_hvp`` are not positive.
    """
    start = time.perf_counter()
    op = HessianOperator(model, loss_fn, data, batch_size=batch_size, max_examples=max_examples)
    check_count("k", k, minimum=1, maximum=op.dim)
    if tol <= 0 or max_hvp < k:
        raise InputError(f"need tol > 0 and max_hvp >= k, got tol={tol}, max_hvp={max_hvp}")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    v = torch.randn(op.dim, generator=generator, dtype=torch.float64)
    state, basis, done = top_eigenpairs(op.matvec, v / v.norm(), k, tol, min(max_hvp, op.dim))
    vectors = None
    if return_eigenvectors:
        ritz = torch.from_numpy(state["vecs"]).T @ basis[: state["vecs"].shape[0]]  # (k, P)
        vectors = [unflatten(row, op.params) for row in ritz]
    return HessianEigen(
        eigenvalues=state["theta"],
        residuals=state["residuals"],
        converged=done,
        n_hvp=op.n_hvp,
        seconds=time.perf_counter() - start,
        eigenvectors=vectors,
    )


Reduce = Callable[[Tensor], Tensor]
"""Sums partial inner products over the ranks holding the other parts of a sharded vector."""


def _local(t: Tensor) -> Tensor:
    return t


def top_eigenpairs(
    matvec: Callable[[Tensor], Tensor],
    v: Tensor,
    k: int,
    tol: float,
    steps: int,
    reduce: Reduce = _local,
) -> tuple[dict[str, np.ndarray], Tensor, bool]:
    """Lanczos from unit ``v`` until the top-``k`` Ritz pairs have relative residual ≤ ``tol``.

    ``matvec`` and ``v`` may be one rank's part of a sharded vector, with ``reduce`` summing
    partial inner products across ranks. Returns ``theta``/``vecs``/``residuals`` of the top
    pairs, the Lanczos basis and whether they converged.
    """
    state: dict[str, np.ndarray] = {}

    def converged(alphas: np.ndarray, betas: np.ndarray, next_beta: float) -> bool:
        if len(alphas) < k:
            return False
        theta, vecs = _tridiagonal_eigh(alphas, betas)
        top = np.argsort(theta)[::-1][:k]
        residuals = next_beta * np.abs(vecs[-1, top]) / np.maximum(np.abs(theta[top]), 1e-12)
        state.update(theta=theta[top], vecs=vecs[:, top], residuals=residuals)
        return bool(np.all(residuals <= tol))

    basis, alphas, _, done = _lanczos(matvec, v, steps, converged, reduce)
    if not state:  # ended before k steps: an invariant Krylov space smaller than k
        raise InputError(
            f"Lanczos found only {len(alphas)} eigenvalues (an invariant subspace, or max_hvp "
            f"below k); ask for k <= {len(alphas)}"
        )
    return state, basis, done


def hessian_directions(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    n: int = 2,
    *,
    generator: torch.Generator | None = None,
    max_examples: int | None = None,
) -> list[Params]:
    """The top-``n`` Hessian eigenvectors as unit-norm directions (sharpest first).

    A plane along them shows the most curved slice through the minimum.
    """
    result = hessian_top_eigenvalues(
        model,
        loss_fn,
        data,
        k=n,
        generator=generator,
        max_examples=max_examples,
        return_eigenvectors=True,
    )
    if result.eigenvectors is None:  # unreachable: requested above
        raise RuntimeError("hessian_top_eigenvalues returned no eigenvectors")
    return result.eigenvectors


@dataclass(frozen=True)
class TraceEstimate:
    """A stochastic trace estimate: ``estimate ± std_error`` from ``samples``.

    For Hutch++, ``samples`` are the Hutchinson terms of the deflated remainder and
    ``low_rank_part`` is the exact trace of the sketched top subspace (0 for Hutchinson).
    """

    estimate: float
    std_error: float
    samples: np.ndarray
    low_rank_part: float
    method: str
    n_hvp: int
    seconds: float

    @classmethod
    def from_samples(
        cls, low_rank: float, samples: np.ndarray, method: str, n_hvp: int, seconds: float
    ) -> TraceEstimate:
        """``low_rank + mean(samples)`` with the standard error ``std(samples) / √m``."""
        std_error = float(samples.std(ddof=1) / np.sqrt(len(samples))) if len(samples) > 1 else 0.0
        return cls(
            estimate=low_rank + float(samples.mean()) if len(samples) else low_rank,
            std_error=std_error,
            samples=samples,
            low_rank_part=low_rank,
            method=method,
            n_hvp=n_hvp,
            seconds=seconds,
        )


def hessian_trace(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    method: TraceMethod = "hutch++",
    n_hvp: int = 60,
    batch_size: int | None = None,
    max_examples: int | None = None,
    generator: torch.Generator | None = None,
) -> TraceEstimate:
    """Hessian trace by Hutchinson (1989) or Hutch++ (Meyer, Musco, Musco & Woodruff 2021).

    Hutchinson averages vᵀHv over Rademacher vectors v. Hutch++ spends a third of the products on
    a sketch S, takes Q = orth(H S), adds the exact tr(Qᵀ H Q) and applies Hutchinson to the
    remainder (I − QQᵀ) H (I − QQᵀ): the variance falls with the captured top of the spectrum.

    Parameters
    ----------
    method
        ``"hutch++"`` or ``"hutchinson"``.
    n_hvp
        Total number of Hessian-vector products (at least 3 for Hutch++, 2 for Hutchinson).
    generator
        Random stream for the probe vectors (``None``: seeded with 0).
    Other parameters as :func:`hessian_top_eigenvalues`.

    Returns
    -------
    TraceEstimate
        The estimate, its standard error (sample std / √m) and the samples.
    """
    start = time.perf_counter()
    check_choice("method", method, TRACE_METHODS)
    if n_hvp < (3 if method == "hutch++" else 2):
        raise InputError(f"n_hvp must be >= 3 for hutch++ and >= 2 for hutchinson, got {n_hvp}")
    op = HessianOperator(model, loss_fn, data, batch_size=batch_size, max_examples=max_examples)
    if generator is None:
        generator = torch.Generator().manual_seed(0)

    def rademacher(count: int) -> Tensor:
        signs = torch.randint(0, 2, (op.dim, count), generator=generator, dtype=torch.float64)
        return signs * 2 - 1

    def apply(columns: Tensor) -> Tensor:  # (P, m) -> (P, m)
        vs = [unflatten(columns[:, i], op.params) for i in range(columns.shape[1])]
        return torch.stack([flatten(hv) for hv in op.matmat(vs)], dim=1)

    low_rank, samples = trace_samples(apply, rademacher, op.dim, method, n_hvp)
    elapsed = time.perf_counter() - start
    return TraceEstimate.from_samples(low_rank, samples, method, op.n_hvp, elapsed)


def trace_samples(
    apply: Callable[[Tensor], Tensor],
    probes: Callable[[int], Tensor],
    dim: int,
    method: TraceMethod,
    n_hvp: int,
    *,
    reduce: Reduce = _local,
    orthonormalize: Callable[[Tensor], Tensor] | None = None,
) -> tuple[float, np.ndarray]:
    """Hutch++'s exact low-rank part and the Hutchinson samples of the (deflated) remainder.

    ``apply`` maps (P, m) columns to their products and ``probes(m)`` draws (P, m) Rademacher
    columns; on a sharded vector both act on one rank's rows, ``reduce`` sums column inner
    products across ranks and ``orthonormalize`` is a distributed QR (default: local QR).
    """
    low_rank = 0.0
    if method == "hutch++":
        sketch = min(n_hvp // 3, dim)
        orth = orthonormalize or (lambda a: torch.linalg.qr(a)[0])
        q = orth(apply(probes(sketch)))  # (P, s)
        low_rank = float(torch.trace(reduce(q.T @ apply(q))))
        g = probes(n_hvp - 2 * sketch)
        g = g - q @ reduce(q.T @ g)
        hg = apply(g)
        samples = reduce((g * (hg - q @ reduce(q.T @ hg))).sum(0)).numpy()
    else:
        g = probes(n_hvp)
        samples = reduce((g * apply(g)).sum(0)).numpy()
    return low_rank, samples


@dataclass(frozen=True)
class SpectralDensity:
    """Stochastic Lanczos quadrature of the Hessian spectrum (Ghorbani, Krishnan & Xiao 2019).

    Row ``r`` of ``nodes``/``weights`` is the Gauss quadrature rule of probe ``r``: the spectral
    measure is estimated by the mean over probes of Σ_j weights[r, j] δ(λ − nodes[r, j]). Each
    row of weights sums to 1, so the density integrates to 1.
    """

    nodes: np.ndarray
    weights: np.ndarray
    n_hvp: int
    seconds: float

    def moment(self, power: int) -> float:
        """Estimate of tr(H^power) / n_parameters."""
        return float((self.weights * self.nodes.astype(np.float64) ** power).sum(1).mean())

    def density(self, grid: np.ndarray, sigma: float | None = None) -> np.ndarray:
        """The measure smoothed by Gaussians of width ``sigma`` (default: 1% of the node range).

        Raises
        ------
        InputError
            For a non-positive ``sigma``.
        """
        if sigma is None:
            sigma = 0.01 * max(float(np.ptp(self.nodes)), 1e-12)
        if sigma <= 0:
            raise InputError(f"sigma must be > 0, got {sigma}")
        diff = (np.asarray(grid, dtype=np.float64)[:, None, None] - self.nodes[None]) / sigma
        kernel = np.exp(-0.5 * diff**2) / (sigma * np.sqrt(2 * np.pi))
        result: np.ndarray = (kernel * self.weights[None]).sum(2).mean(1)
        return result


def hessian_density(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    n_probes: int = 4,
    lanczos_steps: int = 80,
    batch_size: int | None = None,
    max_examples: int | None = None,
    generator: torch.Generator | None = None,
) -> SpectralDensity:
    """Hessian eigenvalue density by stochastic Lanczos quadrature.

    Each probe runs ``lanczos_steps`` Lanczos iterations (full reorthogonalisation, float64) from
    a Rademacher vector; the tridiagonal matrix's eigenvalues are the nodes and the squared first
    components of its eigenvectors the weights (Golub & Welsch 1969). With m steps the rule is
    exact for polynomials of degree ≤ 2m − 1, so moments up to that degree are unbiased.

    Parameters
    ----------
    n_probes
        Independent start vectors; their rules are averaged.
    lanczos_steps
        Iterations per probe (capped at the number of parameters; stops early on breakdown).
    Other parameters as :func:`hessian_top_eigenvalues`.
    """
    start = time.perf_counter()
    check_count("n_probes", n_probes, minimum=1)
    check_count("lanczos_steps", lanczos_steps, minimum=1)
    op = HessianOperator(model, loss_fn, data, batch_size=batch_size, max_examples=max_examples)
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    steps = min(lanczos_steps, op.dim)
    nodes = np.zeros((n_probes, steps))
    weights = np.zeros((n_probes, steps))
    for r in range(n_probes):
        v = torch.randint(0, 2, (op.dim,), generator=generator, dtype=torch.float64) * 2 - 1
        _, alphas, betas, _ = _lanczos(op.matvec, v / v.norm(), steps)
        theta, vecs = _tridiagonal_eigh(alphas, betas)
        nodes[r, : len(theta)] = theta
        weights[r, : len(theta)] = vecs[0] ** 2  # zero-weight padding after an early breakdown
    return SpectralDensity(nodes, weights, op.n_hvp, time.perf_counter() - start)


def _tridiagonal_eigh(alphas: np.ndarray, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs of the symmetric tridiagonal matrix with diagonal ``alphas``."""
    t = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
    theta, vecs = np.linalg.eigh(t)
    return theta, vecs


def _lanczos(
    matvec: Callable[[Tensor], Tensor],
    v: Tensor,
    steps: int,
    stop: Callable[[np.ndarray, np.ndarray, float], bool] | None = None,
    reduce: Reduce = _local,
) -> tuple[Tensor, np.ndarray, np.ndarray, bool]:
    """Lanczos with full reorthogonalisation from unit ``v``: basis, alphas, betas, convergence.

    After step j, ``stop(alphas, betas, next_beta)`` may end the iteration; a breakdown (an
    invariant Krylov subspace, where the Ritz values are exact) also ends it. The basis rows
    beyond the number of steps taken are zero. Inner products go through ``reduce`` (identity,
    or a sum over the ranks holding the other parts of a sharded vector).
    """
    local = v.shape[0]
    dim = int(reduce(torch.tensor([float(local)], dtype=torch.float64)).item())
    basis = torch.zeros((steps, local), dtype=torch.float64)
    alphas: list[float] = []
    betas: list[float] = []
    basis[0] = v
    for j in range(steps):
        w = matvec(basis[j])
        alphas.append(float(reduce(w @ basis[j])))
        w -= basis[: j + 1].T @ reduce(basis[: j + 1] @ w)
        w -= basis[: j + 1].T @ reduce(basis[: j + 1] @ w)  # twice is enough (Parlett)
        # the unsharded norm as before (bit-identical λ); a sharded one from its reduced square
        norm = float(w.norm()) if reduce is _local else float(reduce(w @ w).sqrt())
        breakdown = norm < 1e-10 * max(1.0, float(np.abs(alphas).max()))
        next_beta = 0.0 if breakdown else norm
        a, b = np.array(alphas), np.array(betas)
        if stop is not None and stop(a, b, next_beta):
            return basis, a, b, True
        if breakdown or j == steps - 1:
            return basis, a, b, breakdown or j == dim - 1
        betas.append(norm)
        basis[j + 1] = w / norm
    raise ValueError("steps must be >= 1")
