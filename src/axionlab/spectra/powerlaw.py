"""Continuous power-law fit of an eigenvalue tail (Clauset, Shalizi & Newman 2009).

For each candidate x_min (every sorted eigenvalue but the largest) the tail ``x >= x_min`` of
``n`` values gets the maximum-likelihood exponent α = 1 + n / Σ log(x / x_min) (CSN eq. 3.1) and
the Kolmogorov–Smirnov distance D between the fitted CDF 1 − (x / x_min)^(1−α) and the empirical
CDF of the tail; the candidate with the smallest D wins (CSN §3.3). Conventions follow
WeightWatcher 0.7.7's default fitter (``WW_powerlaw.WWFit``) so results agree with it:

- only eigenvalues above ``threshold`` (1e-5, WeightWatcher's ``EVALS_THRESH`` on CPU) are fitted;
- the empirical CDF is evaluated as ``k / n`` at the k-th tail value (k = 0..n−1), a one-sided KS
  distance rather than CSN's max over both sides of each jump;
- below 20 values WeightWatcher switches to a small-sample fit: the bias-corrected exponent
  α = 1 + (n − 1) / Σ log(x / x_min) on tails of at least 8 values, the whole sample when no
  tail is that long. (``WWFit`` also scores tails by D − 0.868 / √n, but its constructor then
  re-selects the minimum-D candidate, and that is what it reports; we reproduce the report.)

Departure: a fit that cannot be made (fewer than two values above the threshold) gives NaN, where
WeightWatcher reports α = −1 and averages it into its summary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from axionlab.errors import InputError

EIGENVALUE_THRESHOLD = 1e-5
_SMALL_N = 20
_SMALL_N_MIN_TAIL = 8
_BLOCK_ELEMENTS = 1 << 21  # candidates x tail values per vectorised block (16 MiB of float64)


@dataclass(frozen=True)
class PowerLawFit:
    """A power-law fit p(x) ∝ x^(−α) on ``[x_min, x_max]``.

    ``ks_distance`` is the KS distance of the chosen tail, ``sigma`` = (α − 1) / √n_tail its
    standard error (CSN eq. 3.2), ``n`` the number of values fitted (above the threshold) and
    ``n_tail`` those at or above ``x_min``. All float fields are NaN for a fit that failed.
    """

    alpha: float
    x_min: float
    x_max: float
    ks_distance: float
    sigma: float
    n: int
    n_tail: int


def power_law_fit(
    eigenvalues: ArrayLike, *, threshold: float = EIGENVALUE_THRESHOLD
) -> PowerLawFit:
    """Fit a continuous power law to the tail of ``eigenvalues`` (x_min by minimal KS distance).

    Parameters
    ----------
    eigenvalues
        Non-negative values (e.g. the eigenvalues of WᵀW), any order.
    threshold
        Values ``<= threshold`` are dropped before fitting (WeightWatcher: 1e-5).

    Returns
    -------
    PowerLawFit
        The exponent, the chosen x_min, the KS distance and tail sizes; NaN fields when fewer
        than two values exceed ``threshold``.

    Raises
    ------
    InputError
        For a non-1-D input or NaN values.

    References
    ----------
    Clauset, Shalizi & Newman 2009, "Power-law distributions in empirical data", SIAM Review 51,
    §3; Martin & Mahoney 2021, "Implicit self-regularization in deep neural networks" (JMLR),
    and WeightWatcher 0.7.7 ``WW_powerlaw.WWFit`` for the conventions listed in the module notes.
    """
    values = np.asarray(eigenvalues, dtype=np.float64)
    if values.ndim != 1:
        raise InputError(f"eigenvalues must be a 1-D array, got shape {values.shape}")
    if np.isnan(values).any():
        raise InputError("eigenvalues contain NaN; fit finite spectra only")
    data = np.sort(values[values > threshold])
    n = data.size
    if n < 2:
        nan = float("nan")
        return PowerLawFit(nan, nan, nan, nan, nan, n, 0)
    if n < _SMALL_N:
        i, alpha, d = _small_sample_choice(data)
    else:
        alphas = _alphas(data, bias_corrected=False)
        ds = _ks_distances(data, alphas)
        ds[~(alphas > 1)] = 1.0  # WeightWatcher keeps D = 1 where the exponent is invalid
        i = int(np.argmin(ds))
        alpha, d = float(alphas[i]), float(ds[i])
    n_tail = n - i
    return PowerLawFit(
        alpha=alpha,
        x_min=float(data[i]),
        x_max=float(data[-1]),
        ks_distance=d,
        sigma=(alpha - 1.0) / float(np.sqrt(n_tail)),
        n=n,
        n_tail=n_tail,
    )


def _log_sums(data: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(n_tail, Σ log(x / x_min)) for every candidate x_min = data[i], i < len(data) − 1."""
    logs = np.log(data)
    tail_sums = np.cumsum(logs[::-1])[::-1][:-1]  # Σ_{j >= i} log x_j
    n_tail = np.arange(data.size, 1, -1, dtype=np.float64)
    return n_tail, tail_sums - n_tail * logs[:-1]


def _alphas(data: NDArray[np.float64], *, bias_corrected: bool) -> NDArray[np.float64]:
    n_tail, s = _log_sums(data)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 + ((n_tail - 1.0) if bias_corrected else n_tail) / s


def _ks_distances(data: NDArray[np.float64], alphas: NDArray[np.float64]) -> NDArray[np.float64]:
    """max_k |1 − (x_k / x_min)^(1−α) − k / n| over each candidate's tail, in blocks."""
    size = data.size
    out = np.ones(size - 1)
    block = max(1, _BLOCK_ELEMENTS // size)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for lo in range(0, size - 1, block):
            hi = min(lo + block, size - 1)
            starts = np.arange(lo, hi)  # (B,)
            ratio = data[None, lo:] / data[starts, None]  # (B, T)
            fitted = 1.0 - ratio ** (1.0 - alphas[starts, None])
            k = np.arange(lo, size)[None, :] - starts[:, None]  # position within each tail
            empirical = k / (size - starts)[:, None]
            gap = np.where(k >= 0, np.abs(fitted - empirical), 0.0)
            out[lo:hi] = gap.max(axis=1)
    return out


def _small_sample_choice(data: NDArray[np.float64]) -> tuple[int, float, float]:
    """WeightWatcher's small-sample rule: (index of x_min, α, D)."""
    n_tail, s = _log_sums(data)
    alphas = _alphas(data, bias_corrected=True)
    valid = (n_tail >= _SMALL_N_MIN_TAIL) & (s > 1e-12) & (alphas > 1.0)
    if valid.any():
        ds = np.where(valid, _ks_distances(data, np.where(valid, alphas, 2.0)), np.inf)
        i = int(np.argmin(ds))
        return i, float(alphas[i]), float(ds[i])
    # no tail qualifies: the whole sample is the tail
    if s[0] <= 1e-12:
        return 0, float("nan"), float("nan")  # all values equal: no exponent
    alpha = float(alphas[0])
    return 0, alpha, float(_ks_distances(data, np.full(data.size - 1, alpha))[0])
