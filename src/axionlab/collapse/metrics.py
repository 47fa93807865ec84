"""Neural collapse of last-layer features: NC1–NC4 (Papyan, Han & Donoho 2020, PNAS 117(40)).

With features h_i (n × d), labels y_i over the C classes present, class means μ_c, the global
mean μ_G of all n features (Papyan et al.'s definition; it equals the mean of the class means when
classes are balanced), centred class means M_c = μ_c − μ_G (rows of M, C × d) and classifier rows
W_c, b_c of those classes:

- ``nc1`` = Tr(Σ_W Σ_B⁺) / C, Σ_W = (1/n) Σ_i (h_i − μ_{y_i})(h_i − μ_{y_i})ᵀ,
  Σ_B = (1/C) Σ_c M_c M_cᵀ; the pseudo-inverse drops directions whose singular value of M is
  below 1e-10 of the largest (Σ_B has rank ≤ C − 1 by construction). Papyan et al. Fig. 6.
- ``nc2_norms`` = Std_c ‖M_c‖ / Avg_c ‖M_c‖ (population std; equinorm, their Fig. 2).
- ``nc2_angles`` = Avg_{c≠c'} |cos(M_c, M_c') + 1/(C − 1)| (maximal equiangularity, Fig. 5);
  ``nc2_equiangularity`` = Std_{c≠c'} cos(M_c, M_c') (equiangularity, Fig. 3).
- ``nc3`` = ‖W/‖W‖_F − M/‖M‖_F‖_F (self-duality; Fig. 4 plots its square).
- ``nc4`` = fraction of examples where argmax_c (W_c·h + b_c) ≠ argmin_c ‖h − μ_c‖ (Fig. 7), both
  over the classes present in ``labels``.

All four are 0 for a perfect collapse: zero within-class variation, centred means forming a
simplex equiangular tight frame, classifier rows proportional to them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from axionlab.errors import InputError

_PINV_RTOL = 1e-10


@dataclass(frozen=True)
class NeuralCollapse:
    """NC1–NC4 (definitions in the module notes) over ``n_classes`` classes and ``n`` examples."""

    nc1: float
    nc2_norms: float
    nc2_angles: float
    nc2_equiangularity: float
    nc3: float
    nc4: float
    n_classes: int
    n: int


def neural_collapse(
    features: ArrayLike | torch.Tensor,
    labels: ArrayLike | torch.Tensor,
    classifier_weight: ArrayLike | torch.Tensor,
    classifier_bias: ArrayLike | torch.Tensor | None = None,
) -> NeuralCollapse:
    """Neural-collapse statistics NC1–NC4 of penultimate features and the last linear layer.

    Parameters
    ----------
    features
        ``(n, d)`` penultimate features (e.g. from :func:`penultimate_features`), finite.
    labels
        ``(n,)`` integer class labels in ``[0, K)``; at least two distinct classes.
    classifier_weight
        ``(K, d)`` weight of the final linear layer (``nn.Linear.weight``), row ``k`` for class k.
    classifier_bias
        ``(K,)`` bias, or ``None`` for none (enters NC4 only).

    Returns
    -------
    NeuralCollapse
        NC1, NC2 (norms, angles, equiangularity), NC3, NC4 over the classes present in
        ``labels``.

    Raises
    ------
    InputError
        For mismatched shapes, non-integer or out-of-range labels, fewer than two classes, or
        non-finite features, weights or bias.

    References
    ----------
    Papyan, Han & Donoho 2020, "Prevalence of neural collapse during the terminal phase of deep
    learning training", PNAS 117(40), Figs. 2–7.
    """
    h = _as_float(features, "features")
    w = _as_float(classifier_weight, "classifier_weight")
    y = _labels(labels)
    if h.ndim != 2:
        raise InputError(f"features must be 2-D (n, d), got shape {h.shape}")
    if y.shape != (h.shape[0],):
        raise InputError(f"labels must have shape ({h.shape[0]},) to match features, got {y.shape}")
    if w.ndim != 2 or w.shape[1] != h.shape[1]:
        raise InputError(
            f"classifier_weight must have shape (K, {h.shape[1]}) to match features, got {w.shape}"
        )
    b = np.zeros(w.shape[0]) if classifier_bias is None else _as_float(classifier_bias, "bias")
    if b.shape != (w.shape[0],):
        raise InputError(f"classifier_bias must have shape ({w.shape[0]},), got {b.shape}")
    if y.size and (y.min() < 0 or y.max() >= w.shape[0]):
        raise InputError(
            f"labels must lie in [0, {w.shape[0]}) (rows of classifier_weight), "
            f"got range [{y.min()}, {y.max()}]"
        )
    classes, index = np.unique(y, return_inverse=True)
    c = classes.size
    if c < 2:
        raise InputError(f"neural collapse needs at least 2 classes in labels, got {c}")
    n = h.shape[0]
    counts = np.bincount(index, minlength=c)  # (C,)
    means = np.zeros((c, h.shape[1]))
    np.add.at(means, index, h)
    means /= counts[:, None]  # (C, d)
    centred = means - h.mean(axis=0)  # (C, d)
    within = h - means[index]  # (n, d)
    # coinciding class means make NC2/NC3 undefined: they come out NaN, not an error
    with np.errstate(divide="ignore", invalid="ignore"):
        angles, equiangularity = _angle_terms(centred)
        return NeuralCollapse(
            nc1=_nc1(within, centred),
            nc2_norms=_cv(np.linalg.norm(centred, axis=1)),
            nc2_angles=angles,
            nc2_equiangularity=equiangularity,
            nc3=_nc3(w[classes], centred),
            nc4=_nc4(h, means, w[classes], b[classes]),
            n_classes=c,
            n=n,
        )


def _as_float(value: ArrayLike | torch.Tensor, name: str) -> NDArray[np.float64]:
    if isinstance(value, torch.Tensor):
        value = value.detach().to("cpu", torch.float64).numpy()
    array = np.asarray(value, dtype=np.float64)
    if not np.isfinite(array).all():
        raise InputError(f"{name} contains NaN or inf; neural collapse needs finite values")
    return array


def _labels(labels: ArrayLike | torch.Tensor) -> NDArray[np.int64]:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    array = np.asarray(labels)
    if array.dtype.kind not in "iu":
        raise InputError(f"labels must be integers, got dtype {array.dtype}")
    return array.astype(np.int64)


def _nc1(within: NDArray[np.float64], centred: NDArray[np.float64]) -> float:
    """Tr(Σ_W Σ_B⁺)/C through the SVD of the centred means, never forming d × d matrices."""
    c = centred.shape[0]
    _, s, vt = np.linalg.svd(centred, full_matrices=False)  # Σ_B = Vᵀ diag(s²/C) V
    keep = s > _PINV_RTOL * s[0] if s[0] > 0 else np.zeros_like(s, dtype=bool)
    projected = within @ vt[keep].T  # (n, r)
    spread = (projected**2).mean(axis=0)  # v_kᵀ Σ_W v_k
    return float(np.sum(spread * c / s[keep] ** 2) / c)


def _cv(values: NDArray[np.float64]) -> float:
    return float(values.std() / values.mean())


def _angle_terms(centred: NDArray[np.float64]) -> tuple[float, float]:
    c = centred.shape[0]
    unit = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    cosines = (unit @ unit.T)[~np.eye(c, dtype=bool)]  # each unordered pair twice
    return float(np.mean(np.abs(cosines + 1.0 / (c - 1)))), float(cosines.std())


def _nc3(weight: NDArray[np.float64], centred: NDArray[np.float64]) -> float:
    gap = weight / np.linalg.norm(weight) - centred / np.linalg.norm(centred)
    return float(np.linalg.norm(gap))


def _nc4(
    h: NDArray[np.float64],
    means: NDArray[np.float64],
    weight: NDArray[np.float64],
    bias: NDArray[np.float64],
) -> float:
    classifier = np.argmax(h @ weight.T + bias, axis=1)
    # ‖h − μ_c‖² = ‖h‖² − 2 h·μ_c + ‖μ_c‖²; the ‖h‖² term is common to all classes
    nearest = np.argmin((means**2).sum(axis=1) - 2 * h @ means.T, axis=1)
    return float(np.mean(classifier != nearest))
