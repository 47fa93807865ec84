"""Leave-one-group-out ridge regression: do extra features predict beyond a baseline?

Each group (an architecture) is held out in turn. On the training fold the features are
standardised (mean/std of the training rows only), the target is centred, and the ridge penalty is
chosen from ``alphas`` by generalised cross-validation, GCV(α) = n·RSS / (n − df)² with
df = 1 + Σ s²/(s² + α) over the singular values s (Golub, Heath & Wahba 1979). The held-out group
is then predicted. The out-of-fold MAE of the baseline features is compared with that of baseline +
extra features; the permutation p for the improvement permutes the rows of the extra features across
units (baseline, target and groups fixed), refits everything, and counts permuted improvements at
least as large as the observed one, p = (k + 1)/(B + 1) (Phipson & Smyth 2010).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from axionlab.checks import FloatArray, as_matrix, as_vector, check_count
from axionlab.errors import InputError
from axionlab.repro import numpy_rng

DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-3, 3, 13))
# Permutations refitted together in one batched SVD.
_PERM_BATCH = 128


@dataclass(frozen=True, eq=False)
class RidgeResult:
    """Out-of-fold errors of leave-one-group-out ridge models.

    ``improvement = mae_baseline − mae_full`` (positive: the extra features help); ``perm_p`` is its
    one-sided permutation p. ``mae_null`` predicts each held-out group by the training mean.
    ``alphas_*`` hold the GCV-chosen penalty per held-out group, in order of first appearance.
    """

    n: int
    n_groups: int
    mae_null: float
    mae_baseline: float
    mae_full: float
    improvement: float
    perm_p: float
    n_permutations: int
    alphas_baseline: tuple[float, ...]
    alphas_full: tuple[float, ...]
    predictions_baseline: FloatArray
    predictions_full: FloatArray
    n_dropped: int = 0
    reason: str = ""


def loo_ridge(
    baseline: Any,
    extra: Any,
    target: Any,
    groups: Sequence[Hashable] | Any,
    *,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    n_permutations: int = 1_000,
    seed: int = 0,
) -> RidgeResult:
    """Leave-one-group-out ridge: MAE of ``baseline`` features vs ``baseline`` + ``extra``.

    Parameters
    ----------
    baseline
        ``(n,)`` or ``(n, p0)`` baseline features (e.g. log parameter count); ``p0 = 0`` allowed.
    extra
        ``(n,)`` or ``(n, p1)`` candidate features (e.g. topology summaries).
    target
        ``(n,)`` outcome (e.g. forgetting).
    groups
        ``n`` hashable labels; each distinct label is held out once (e.g. architecture).
    alphas
        Candidate ridge penalties (on standardised features), chosen per fold by GCV.
    n_permutations
        Permutations of the extra features for ``perm_p`` (0 skips it).
    seed
        Seed of the permutation stream.

    Returns
    -------
    RidgeResult
        NaN errors with a ``reason`` when fewer than 2 groups remain or a training fold has
        fewer than 3 rows. Rows with NaN in any input are dropped.

    Notes
    -----
    Golub, Heath & Wahba (1979), Technometrics 21(2), for GCV; Phipson & Smyth (2010) for the
    permutation p-value.
    """
    y = as_vector("target", target)
    n_all = len(y)
    X0 = as_matrix("baseline", baseline, n_rows=n_all)
    X1 = as_matrix("extra", extra, n_rows=n_all)
    labels = list(groups)
    if len(labels) != n_all:
        raise InputError(f"groups must have {n_all} labels, got {len(labels)}")
    grid = np.array(alphas, dtype=np.float64).ravel()
    if grid.size == 0 or not (grid > 0).all():
        raise InputError("alphas must be a non-empty sequence of positive numbers")
    n_permutations = check_count("n_permutations", n_permutations)
    if X1.shape[1] == 0:
        raise InputError("extra must have at least one feature column")

    keep = ~(np.isnan(y) | np.isnan(X0).any(axis=1) | np.isnan(X1).any(axis=1))
    y, X0, X1 = y[keep], X0[keep], X1[keep]
    index: dict[Hashable, int] = {}
    codes = np.array(
        [index.setdefault(g, len(index)) for g, k in zip(labels, keep, strict=True) if k], dtype=int
    )
    n, n_groups, dropped = len(y), len(index), int((~keep).sum())
    sizes = np.bincount(codes, minlength=n_groups) if n else np.zeros(0, dtype=int)
    reason = ""
    if n_groups < 2:
        reason = f"need >= 2 groups, got {n_groups}"
    elif (n - sizes).min() < 3:
        reason = "a training fold has fewer than 3 rows"
    if reason:
        nan = float("nan")
        empty = np.full(n, np.nan)
        return RidgeResult(
            n,
            n_groups,
            nan,
            nan,
            nan,
            nan,
            nan,
            n_permutations,
            (),
            (),
            empty,
            empty,
            dropped,
            reason,
        )

    pred_null = np.empty(n)
    for g in range(n_groups):
        pred_null[codes == g] = y[codes != g].mean()
    pred_base, a_base = _logo_ridge(X0[None], y, codes, n_groups, grid)
    full = np.concatenate([X0, X1], axis=1)
    pred_full, a_full = _logo_ridge(full[None], y, codes, n_groups, grid)
    mae_base = float(np.abs(y - pred_base[0]).mean())
    mae_full = float(np.abs(y - pred_full[0]).mean())
    improvement = mae_base - mae_full

    perm_p = float("nan")
    if n_permutations > 0:
        rng = numpy_rng(seed, "loo_ridge", "perm")
        hits = 0
        for start in range(0, n_permutations, _PERM_BATCH):
            b = min(_PERM_BATCH, n_permutations - start)
            order = rng.permuted(np.tile(np.arange(n), (b, 1)), axis=1)  # (b, n)
            stack = np.concatenate([np.broadcast_to(X0, (b, *X0.shape)), X1[order]], axis=2)
            preds, _ = _logo_ridge(stack, y, codes, n_groups, grid)
            mae_perm = np.abs(y - preds).mean(axis=1)
            # Tolerance so that a permutation reproducing the fit exactly counts as a tie.
            hits += int((mae_base - mae_perm >= improvement - 1e-12).sum())
        perm_p = (hits + 1.0) / (n_permutations + 1.0)

    return RidgeResult(
        n=n,
        n_groups=n_groups,
        mae_null=float(np.abs(y - pred_null).mean()),
        mae_baseline=mae_base,
        mae_full=mae_full,
        improvement=improvement,
        perm_p=perm_p,
        n_permutations=n_permutations,
        alphas_baseline=tuple(float(a) for a in a_base[0]),
        alphas_full=tuple(float(a) for a in a_full[0]),
        predictions_baseline=pred_base[0],
        predictions_full=pred_full[0],
        n_dropped=dropped,
    )


def _logo_ridge(
    X: FloatArray, y: FloatArray, codes: Any, n_groups: int, grid: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Out-of-fold predictions (B, n) and chosen alphas (B, G) for a stack X (B, n, p)."""
    b, n, p = X.shape
    preds = np.empty((b, n))
    chosen = np.full((b, n_groups), np.nan)
    for g in range(n_groups):
        test = codes == g
        Xtr, Xte, ytr = X[:, ~test], X[:, test], y[~test]
        y_mean = ytr.mean()
        if p == 0:
            preds[:, test] = y_mean
            continue
        mu = Xtr.mean(axis=1, keepdims=True)  # (B, 1, p)
        sd = Xtr.std(axis=1, keepdims=True)
        sd = np.where(sd > 0, sd, 1.0)  # constant training columns become zero columns
        Ztr, Zte = (Xtr - mu) / sd, (Xte - mu) / sd
        yc = ytr - y_mean
        m = len(yc)
        U, s, Vt = np.linalg.svd(Ztr, full_matrices=False)  # U (B, m, r), s (B, r), Vt (B, r, p)
        uty = np.einsum("bmr,m->br", U, yc)  # (B, r)
        s2 = s[:, None, :] ** 2  # (B, 1, r)
        shrink = s2 / (s2 + grid[None, :, None])  # (B, A, r)
        rss = yc @ yc - ((2.0 * shrink - shrink**2) * uty[:, None, :] ** 2).sum(axis=2)  # (B, A)
        slack = m - 1.0 - shrink.sum(axis=2)
        gcv = np.where(
            slack > 0, m * np.maximum(rss, 0.0) / np.where(slack > 0, slack, 1.0) ** 2, np.inf
        )
        best = np.argmin(gcv, axis=1)  # (B,)
        alpha = grid[best]
        with np.errstate(invalid="ignore", divide="ignore"):
            inv = np.where(s > 0, s / (s**2 + alpha[:, None]), 0.0)  # (B, r)
        coef = np.einsum("brp,br->bp", Vt, inv * uty)  # (B, p)
        preds[:, test] = np.einsum("btp,bp->bt", Zte, coef) + y_mean
        chosen[:, g] = alpha
    return preds, chosen
