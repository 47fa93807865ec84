"""Continual-learning metrics on the accuracy matrix and on retention curves.

``R[i, j]`` is the accuracy on task ``j`` (its test split) after training on tasks ``0..i``; a
stream of ``T`` tasks gives a ``(T, T)`` matrix. Accuracies are in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike

from axionlab.checks import check_choice
from axionlab.errors import InputError

AurcRule = Literal["mean", "trapezoid"]
AURC_RULES: tuple[AurcRule, ...] = get_args(AurcRule)


def _matrix(accuracy: ArrayLike) -> np.ndarray:
    r = np.asarray(accuracy, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] != r.shape[1] or r.shape[0] == 0:
        raise InputError(f"accuracy matrix must be square (T, T) with T >= 1, got shape {r.shape}")
    return r


def average_accuracy(accuracy: ArrayLike) -> float:
    """Mean accuracy over all tasks after the last one, ``(1/T) Σ_j R[T−1, j]``.

    The "average accuracy" of Lopez-Paz & Ranzato 2017 (GEM, Eq. 2) and Hsu et al. 2018.
    """
    r = _matrix(accuracy)
    return float(r[-1].mean())


def backward_transfer(accuracy: ArrayLike) -> float:
    """``BWT = (1/(T−1)) Σ_{j<T−1} (R[T−1, j] − R[j, j])`` (Lopez-Paz & Ranzato 2017, Eq. 3).

    Negative values are forgetting. ``nan`` for a single task.
    """
    r = _matrix(accuracy)
    if len(r) < 2:
        return float("nan")
    return float(np.mean(r[-1, :-1] - np.diag(r)[:-1]))


def forward_transfer(accuracy: ArrayLike, baseline: ArrayLike) -> float:
    """``FWT = (1/(T−1)) Σ_{j≥1} (R[j−1, j] − b_j)`` (Lopez-Paz & Ranzato 2017, Eq. 4).

    Parameters
    ----------
    accuracy
        The ``(T, T)`` accuracy matrix.
    baseline
        ``b_j``: accuracy on task ``j`` of the model at random initialisation, shape ``(T,)``.
    """
    r = _matrix(accuracy)
    b = np.asarray(baseline, dtype=np.float64)
    if b.shape != (len(r),):
        raise InputError(f"baseline must have shape ({len(r)},), got {b.shape}")
    if len(r) < 2:
        return float("nan")
    return float(np.mean(np.diag(r, k=1) - b[1:]))


def forgetting(accuracy: ArrayLike) -> float:
    """Average forgetting (Chaudhry et al. 2018, "Riemannian walk", Eq. 4–5).

    ``f_j = max_{l < T−1} R[l, j] − R[T−1, j]`` for each task ``j < T−1`` (best accuracy ever
    had on it before the end, minus the final one), averaged; ``nan`` for a single task. Entries
    of ``R`` above the diagonal (tasks not yet trained) are ignored.
    """
    r = _matrix(accuracy)
    t = len(r)
    if t < 2:
        return float("nan")
    best = np.array([r[j : t - 1, j].max() for j in range(t - 1)])
    return float(np.mean(best - r[-1, : t - 1]))


def retention(accuracy: ArrayLike) -> np.ndarray:
    """Retention curve ``ret(k) = acc_A(k) / acc_A(0)`` from Task-A accuracies at the eval steps.

    Raises
    ------
    InputError
        If the curve is empty or ``acc_A(0)`` is not positive.
    """
    acc = np.asarray(accuracy, dtype=np.float64)
    if acc.ndim != 1 or acc.size == 0:
        raise InputError(f"accuracy must be a non-empty 1-D curve, got shape {acc.shape}")
    if not acc[0] > 0:
        raise InputError(f"retention needs a positive accuracy at step 0, got {acc[0]}")
    out: np.ndarray = acc / acc[0]
    return out


def aurc(
    steps: Sequence[int] | ArrayLike,
    retention: ArrayLike,
    *,
    max_step: int = 500,
    rule: AurcRule = "mean",
) -> float:
    """Area under the retention curve over the evaluated steps ``0 ≤ k ≤ max_step``.

    Rules:

    - ``"mean"`` (default, the lab's EXP-01 definition): the plain mean of the retention values at
      the evaluated steps in ``[0, max_step]``. With uneven spacing (0, 10, 25, 50, 100, 250, 500)
      it weights the early steps more than an integral would.
    - ``"trapezoid"``: the trapezoid rule over the step axis divided by the covered span,
      ``∫ ret(k) dk / (k_last − k_first)``, a step-weighted mean of the curve.

    Both give 1 for perfect retention.

    Raises
    ------
    InputError
        On mismatched lengths, unsorted steps, or no evaluated step in ``[0, max_step]``.
    """
    check_choice("rule", rule, AURC_RULES)
    k = np.asarray(steps, dtype=np.float64)
    ret = np.asarray(retention, dtype=np.float64)
    if k.ndim != 1 or k.shape != ret.shape:
        raise InputError(
            f"steps and retention must be 1-D of equal length, got {k.shape}, {ret.shape}"
        )
    if np.any(np.diff(k) <= 0):
        raise InputError("steps must be strictly increasing")
    keep = (k >= 0) & (k <= max_step)
    if not keep.any():
        raise InputError(f"no evaluated step lies in [0, {max_step}]")
    k, ret = k[keep], ret[keep]
    if rule == "mean":
        return float(ret.mean())
    if len(k) == 1:
        return float(ret[0])
    return float(np.trapezoid(ret, k) / (k[-1] - k[0]))


DIVERGED = "diverged"
ZERO_INITIAL_ACCURACY = "zero_initial_accuracy"


@dataclass(frozen=True, eq=False)
class RetentionOutcome:
    """A retention curve and its AURC, or ``nan`` with the reason they are undefined.

    Attributes
    ----------
    retention
        ``acc_A(k) / acc_A(0)`` at the evaluated steps; all ``nan`` when undefined.
    aurc
        :func:`aurc` of that curve, or ``nan``.
    reason
        ``""`` when defined; :data:`DIVERGED` when an accuracy is non-finite (a diverged
        model scores ``nan``, :func:`axionlab.train.evaluate`); :data:`ZERO_INITIAL_ACCURACY`
        when ``acc_A(0) = 0`` (nothing to retain, e.g. an untrained head after expansion).
    """

    retention: np.ndarray
    aurc: float
    reason: str

    @property
    def defined(self) -> bool:
        return not self.reason


def retention_outcome(
    steps: Sequence[int] | ArrayLike,
    accuracy: ArrayLike,
    *,
    max_step: int = 500,
    rule: AurcRule = "mean",
    diverged: bool = False,
) -> RetentionOutcome:
    """Retention and AURC of one task-A accuracy curve, ``nan`` with a reason when undefined.

    An undefined per-unit outcome is a recorded state, never an error: the run goes on and the
    analysis counts only defined rows. Bad arguments (shapes, unsorted steps) still raise.
    ``diverged`` marks a curve whose training stopped at a non-finite step: not a result,
    even where the accuracies measured before it are finite.
    """
    acc = np.asarray(accuracy, dtype=np.float64)
    if acc.ndim != 1 or acc.size == 0:
        raise InputError(f"accuracy must be a non-empty 1-D curve, got shape {acc.shape}")
    reason = ""
    if diverged or not np.isfinite(acc).all():
        reason = DIVERGED
    elif not acc[0] > 0:
        reason = ZERO_INITIAL_ACCURACY
    if reason:
        aurc(steps, np.zeros_like(acc), max_step=max_step, rule=rule)  # validates the arguments
        return RetentionOutcome(np.full_like(acc, np.nan), float("nan"), reason)
    ret = retention(acc)
    return RetentionOutcome(ret, aurc(steps, ret, max_step=max_step, rule=rule), "")
