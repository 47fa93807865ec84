"""Heavy-tailed self-regularisation (HT-SR) metrics of every weight matrix, as WeightWatcher.

Definitions (Martin & Mahoney 2021, JMLR 22(165); Martin, Peng & Mahoney 2021, Nat. Commun. 12,
4122; SETOL, Martin & Hinrichs 2025), computed on the eigenvalues λ of X = WᵀW with no 1/N
normalisation, WeightWatcher 0.7.7's default:

- ``alpha``: power-law exponent of the ESD tail, fitted as in :mod:`axionlab.spectra.powerlaw`;
- ``alpha_weighted`` = α · log10 λ_max;  ``log_alpha_norm`` = log10 Σ λ^α;
- ``spectral_norm`` = λ_max (the *squared* largest singular value, as WeightWatcher reports it);
  ``log_spectral_norm`` = log10 λ_max;
- ``log_norm`` = log10 Σ λ = log10 ‖W‖_F²;  ``stable_rank`` = Σ λ / λ_max.

Which matrices, as WeightWatcher 0.7.7 extracts them from a PyTorch model:

- ``nn.Linear`` and ``nn.Embedding``: the weight itself; HuggingFace ``Conv1D`` (recognised by
  its class name, weight ``(in, out)``) likewise.
- ``nn.Conv2d`` with weight ``(out, in, kh, kw)``: one ``out × in`` matrix per kernel position,
  their kh·kw spectra pooled into one ESD, each matrix scaled by √(1/2) first (WeightWatcher's
  default ``conv2d_norm``, so conv eigenvalues are halved).
- Layers are kept when 8 <= M·rf <= 15000 and N <= 50000 (N >= M the matrix sides, rf the number
  of matrices pooled): WeightWatcher's ``min_evals``, ``max_evals``, ``max_N`` with pooling on.

Departures from WeightWatcher, each outside its well-defined default path:

- ``nn.Conv1d``/``nn.Conv3d`` are treated like ``Conv2d`` (a matrix per kernel position, same
  √(1/2) scaling). WeightWatcher 0.7.7 passes the 3-D ``Conv1d`` tensor as if it were a matrix (its
  M becomes the smallest of out, in and kernel size, so typical kernels are skipped) and skips
  ``Conv3d``.
- N and M are the larger and smaller of (out, in). WeightWatcher swaps them once per kernel
  position when out < in, so with an even number of positions its size filter sees M = in; only
  which layers pass the size filter can differ, never a layer's metrics.
- Layers are recognised by class (``isinstance``), not by substrings of the class path.
- A failed power-law fit gives NaN (WeightWatcher: −1); the summary averages finite values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from axionlab.errors import InputError
from axionlab.spectra.powerlaw import EIGENVALUE_THRESHOLD, power_law_fit

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_SCALE = 0.5  # eigenvalue factor of WeightWatcher's conv2d_norm: W * sqrt(1/2)


@dataclass(frozen=True)
class LayerSpectrum:
    """HT-SR metrics of one layer (definitions in the module notes).

    ``name`` is the module's name in ``named_modules()``, ``kind`` one of ``"linear"``,
    ``"conv"``, ``"embedding"``, ``"conv1d_hf"``; ``n_rows``/``n_cols`` are N >= M of one matrix,
    ``n_matrices`` how many were pooled (kernel positions), ``eigenvalues`` the pooled ESD in
    ascending order (length ``n``), and ``x_min``/``ks_distance``/``n_tail`` describe the fit.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    n_rows: int
    n_cols: int
    n_matrices: int
    eigenvalues: NDArray[np.float64]
    n: int
    alpha: float
    alpha_weighted: float
    log_alpha_norm: float
    spectral_norm: float
    log_spectral_norm: float
    log_norm: float
    stable_rank: float
    x_min: float
    ks_distance: float
    sigma: float
    n_tail: int


@dataclass(frozen=True)
class SpectraSummary:
    """Means over layers of the metrics WeightWatcher's ``get_summary`` reports.

    ``n_layers`` layers were analysed; ``n_fitted`` had a finite α (α-based means use those).
    """

    alpha: float
    alpha_weighted: float
    log_alpha_norm: float
    log_norm: float
    log_spectral_norm: float
    stable_rank: float
    n_layers: int
    n_fitted: int


def layer_spectra(
    model: nn.Module,
    *,
    min_evals: int | None = 8,
    max_evals: int | None = 15000,
    max_n: int | None = 50000,
    conv_norm: bool = True,
    threshold: float = EIGENVALUE_THRESHOLD,
) -> list[LayerSpectrum]:
    """HT-SR spectra of every Linear, Conv, Embedding (and HF ``Conv1D``) layer of ``model``.

    Parameters
    ----------
    model
        Any ``nn.Module``; read only (weights are copied to CPU float64).
    min_evals, max_evals, max_n
        Keep a layer when ``min_evals <= M·rf <= max_evals`` and ``N <= max_n`` (WeightWatcher's
        defaults); ``None`` disables a bound.
    conv_norm
        Scale conv matrices by √(1/2) before the SVD (WeightWatcher's default ``conv2d_norm``).
    threshold
        Eigenvalues at or below it are left out of the power-law fit (not out of the norms).

    Returns
    -------
    list of LayerSpectrum
        In ``named_modules()`` order.

    Raises
    ------
    InputError
        For a bound below 1, or a weight on the ``meta`` device or containing NaN.

    References
    ----------
    Martin & Mahoney 2021, "Implicit self-regularization in deep neural networks: evidence from
    random matrix theory and implications for learning", JMLR 22(165); WeightWatcher 0.7.7
    (``analyze()`` at its defaults).
    """
    for label, bound in (("min_evals", min_evals), ("max_evals", max_evals), ("max_n", max_n)):
        if bound is not None and bound < 1:
            raise InputError(f"{label} must be >= 1 or None, got {bound}")
    out = []
    for name, module in model.named_modules():
        found = _matrices(module)
        if found is None:
            continue
        kind, weight, stack = found
        n_matrices, a, b = stack.shape
        n_rows, n_cols = max(a, b), min(a, b)
        count = n_cols * n_matrices
        if (min_evals is not None and count < min_evals) or (
            max_evals is not None and count > max_evals
        ):
            continue
        if max_n is not None and n_rows > max_n:
            continue
        if weight.device.type == "meta":
            raise InputError(f"layer '{name}' has weights on the meta device; materialise them")
        matrices = stack.detach().to("cpu", torch.float64).numpy()
        if np.isnan(matrices).any():
            raise InputError(f"layer '{name}' has NaN weights; spectra need finite weights")
        singular = np.linalg.svd(matrices, compute_uv=False)  # (rf, M)
        eigenvalues = np.sort((singular**2).ravel())
        if kind == "conv" and conv_norm:
            eigenvalues = eigenvalues * _CONV_SCALE
        out.append(
            _spectrum(
                name,
                kind,
                tuple(weight.shape),
                (n_rows, n_cols, n_matrices),
                eigenvalues,
                threshold,
            )
        )
    return out


def spectra_summary(spectra: Sequence[LayerSpectrum]) -> SpectraSummary:
    """Per-model means of the layer metrics, as WeightWatcher's ``get_summary`` reports them.

    Parameters
    ----------
    spectra
        The output of :func:`layer_spectra`.

    Returns
    -------
    SpectraSummary
        Arithmetic means over layers; α, α-weighted and log α-norm over layers with a finite α.

    Raises
    ------
    InputError
        When ``spectra`` is empty.
    """
    if not spectra:
        raise InputError("spectra is empty: the model has no layer that passes the size filter")

    def mean(field: str, only_fitted: bool) -> float:
        values = np.array([getattr(s, field) for s in spectra if not only_fitted or _fitted(s)])
        return float(values.mean()) if values.size else math.nan

    return SpectraSummary(
        alpha=mean("alpha", True),
        alpha_weighted=mean("alpha_weighted", True),
        log_alpha_norm=mean("log_alpha_norm", True),
        log_norm=mean("log_norm", False),
        log_spectral_norm=mean("log_spectral_norm", False),
        stable_rank=mean("stable_rank", False),
        n_layers=len(spectra),
        n_fitted=sum(_fitted(s) for s in spectra),
    )


def _fitted(spectrum: LayerSpectrum) -> bool:
    return math.isfinite(spectrum.alpha)


def _matrices(module: nn.Module) -> tuple[str, torch.Tensor, torch.Tensor] | None:
    """(kind, weight, (rf, a, b) stack of matrices) for a supported layer, else None."""
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor):
        return None
    if isinstance(module, _CONV):
        # (out, in/groups, *kernel) -> one (out, in/groups) matrix per kernel position
        w = weight.detach()
        return "conv", weight, w.permute(*range(2, w.dim()), 0, 1).reshape(-1, *w.shape[:2])
    if isinstance(module, nn.Linear):
        kind = "linear"
    elif isinstance(module, nn.Embedding):
        kind = "embedding"
    elif type(module).__name__ == "Conv1D" and weight.dim() == 2:
        kind = "conv1d_hf"  # transformers.pytorch_utils.Conv1D: weight (in, out)
    else:
        return None
    return kind, weight, weight.detach()[None]


def _spectrum(
    name: str,
    kind: str,
    shape: tuple[int, ...],
    sides: tuple[int, int, int],
    eigenvalues: NDArray[np.float64],
    threshold: float,
) -> LayerSpectrum:
    n_rows, n_cols, n_matrices = sides
    fit = power_law_fit(eigenvalues, threshold=threshold)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        norm = float(eigenvalues.sum())
        lambda_max = float(eigenvalues[-1])
        log_spectral_norm = float(np.log10(lambda_max))
        log_alpha_norm = float(np.log10(np.sum(eigenvalues**fit.alpha)))
        stable_rank = norm / lambda_max if lambda_max > 0 else math.nan
        log_norm = float(np.log10(norm))
    return LayerSpectrum(
        name=name,
        kind=kind,
        shape=shape,
        n_rows=n_rows,
        n_cols=n_cols,
        n_matrices=n_matrices,
        eigenvalues=eigenvalues,
        n=len(eigenvalues),
        alpha=fit.alpha,
        alpha_weighted=fit.alpha * log_spectral_norm,
        log_alpha_norm=log_alpha_norm,
        spectral_norm=lambda_max,
        log_spectral_norm=log_spectral_norm,
        log_norm=log_norm,
        stable_rank=stable_rank,
        x_min=fit.x_min,
        ks_distance=fit.ks_distance,
        sigma=fit.sigma,
        n_tail=fit.n_tail,
    )
