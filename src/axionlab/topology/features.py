"""Summaries of persistence diagrams, each optionally normalised by the function's dynamic range.

Normalisation (``values=`` given) maps every birth and death ``x`` to
``(x - min(values)) / (max(values) - min(values))`` over the finite values, so landscapes with
different loss scales compare; a constant function keeps the shift only (range taken as 1).

Essential classes (death ``inf``) and pairs with an infinite endpoint enter as follows:

- totals, maxima, thresholded counts and entropy: excluded (their length is not finite);
- Betti curves: included (a class counts at every ``t`` with ``birth <= t < death``);
- landscapes and images: deaths capped at ``max(values)`` (1 after normalisation) when ``values``
  is given, excluded otherwise;
- bottleneck / Wasserstein distances: matched among themselves by GUDHI (distance ``inf`` when
  the numbers of essential classes differ).

Stability (Cohen-Steiner et al. 2007): max persistence, thresholded counts, landscapes and images
are stable under small perturbations of the function; totals, raw counts, entropy and Betti
curves grow with resolution and noise.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from axionlab.errors import InputError
from axionlab.topology._diagrams import Diagram

FloatArray = NDArray[np.float64]


def dynamic_range(values: ArrayLike) -> tuple[float, float]:
    """``(min, max)`` of the finite entries of ``values``.

    Raises
    ------
    InputError
        If ``values`` contains NaN or has no finite entry.
    """
    array = np.asarray(values, dtype=np.float64)
    if np.isnan(array).any():
        raise InputError("values contains NaN; replace NaN losses explicitly before summarising")
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        raise InputError("values has no finite entry, so its dynamic range is undefined")
    return float(finite.min()), float(finite.max())


def normalize_diagram(diagram: ArrayLike, values: ArrayLike) -> Diagram:
    """Map births and deaths to ``(x - min) / (max - min)`` of the finite ``values``."""
    lo, hi = dynamic_range(values)
    scale = hi - lo if hi > lo else 1.0
    return (_as_diagram(diagram) - lo) / scale


def total_persistence(
    diagram: ArrayLike, *, values: ArrayLike | None = None, p: float = 1.0
) -> float:
    """Sum of ``(death - birth) ** p`` over finite pairs (Cohen-Steiner et al. 2010)."""
    return float(np.sum(_lifetimes(diagram, values) ** p))


def max_persistence(diagram: ArrayLike, *, values: ArrayLike | None = None) -> float:
    """Longest finite lifetime; 0 for an empty diagram."""
    life = _lifetimes(diagram, values)
    return float(life.max()) if life.size else 0.0


def count_above(diagram: ArrayLike, threshold: float, *, values: ArrayLike | None = None) -> int:
    """Number of finite pairs living strictly longer than ``threshold``.

    With ``values`` the threshold is a fraction of the dynamic range (lifetimes are normalised).
    """
    return int(np.count_nonzero(_lifetimes(diagram, values) > threshold))


def persistence_entropy(diagram: ArrayLike) -> float:
    """Shannon entropy (nats) of finite lifetimes ``l_i / sum(l)`` (Atienza et al. 2020).

    Scale invariant, so it needs no normalisation; 0 for an empty diagram.
    """
    life = _lifetimes(diagram, None)
    life = life[life > 0]  # a zero-length pair adds 0 · log 0 = 0
    total = life.sum()
    if total <= 0:
        return 0.0
    share = life / total
    return float(-np.sum(share * np.log(share)))


def betti_curve(
    diagram: ArrayLike, grid: ArrayLike, *, values: ArrayLike | None = None
) -> NDArray[np.int64]:
    """Number of classes alive (``birth <= t < death``) at each ``t`` of ``grid``."""
    pts = _normalised(diagram, values)
    t = np.asarray(grid, dtype=np.float64)[:, None]  # (T, 1)
    alive = (pts[None, :, 0] <= t) & (t < pts[None, :, 1])
    counts: NDArray[np.int64] = alive.sum(axis=1).astype(np.int64)
    return counts


def persistence_landscape(
    diagram: ArrayLike, grid: ArrayLike, *, k_max: int = 5, values: ArrayLike | None = None
) -> FloatArray:
    """First ``k_max`` persistence landscape functions on ``grid`` (Bubenik 2015), ``(k_max, T)``.

    ``lambda_k(t)`` is the k-th largest of ``max(0, min(t - b, d - t))`` over the pairs.
    """
    if k_max < 1:
        raise InputError(f"k_max must be >= 1, got {k_max}")
    pts = _capped(diagram, values)
    t = np.asarray(grid, dtype=np.float64)
    tents = np.maximum(0.0, np.minimum(t[None, :] - pts[:, :1], pts[:, 1:] - t[None, :]))  # (P, T)
    out = np.zeros((k_max, t.size))
    top = -np.sort(-tents, axis=0)[:k_max]
    out[: top.shape[0]] = top
    return out


def persistence_image(
    diagram: ArrayLike,
    *,
    resolution: tuple[int, int] = (20, 20),
    birth_range: tuple[float, float] = (0.0, 1.0),
    persistence_range: tuple[float, float] = (0.0, 1.0),
    sigma: float = 0.05,
    values: ArrayLike | None = None,
) -> FloatArray:
    """Persistence image (Adams et al. 2017), ``(n_birth, n_persistence)`` pixels.

    Each pair becomes an isotropic Gaussian of width ``sigma`` at (birth, persistence), weighted
    linearly by persistence relative to ``persistence_range[1]``, integrated exactly over each
    pixel. The default ranges suit normalised diagrams (``values`` given).
    """
    from scipy.special import erf

    if sigma <= 0:
        raise InputError(f"sigma must be > 0, got {sigma}")
    pts = _capped(diagram, values)
    birth = pts[:, 0]
    pers = pts[:, 1] - pts[:, 0]
    weight = np.clip(pers / persistence_range[1], 0.0, 1.0)
    b_edges = np.linspace(*birth_range, resolution[0] + 1)
    p_edges = np.linspace(*persistence_range, resolution[1] + 1)

    def cell_mass(edges: FloatArray, centre: FloatArray) -> FloatArray:
        cdf = 0.5 * (1 + erf((edges[None, :] - centre[:, None]) / (sigma * math.sqrt(2))))
        return np.diff(cdf, axis=1)  # (P, n)

    image = np.einsum("p,pi,pj->ij", weight, cell_mass(b_edges, birth), cell_mass(p_edges, pers))
    return np.asarray(image, dtype=np.float64)


def bottleneck_distance(
    a: ArrayLike,
    b: ArrayLike,
    *,
    values_a: ArrayLike | None = None,
    values_b: ArrayLike | None = None,
) -> float:
    """Bottleneck distance (GUDHI), each diagram optionally normalised by its own function."""
    import gudhi

    return float(gudhi.bottleneck_distance(_normalised(a, values_a), _normalised(b, values_b)))


def wasserstein_distance(
    a: ArrayLike,
    b: ArrayLike,
    *,
    order: float = 1.0,
    values_a: ArrayLike | None = None,
    values_b: ArrayLike | None = None,
) -> float:
    """p-Wasserstein distance with L-inf ground metric (GUDHI's Hera; Kerber et al. 2017)."""
    from gudhi.hera import wasserstein_distance as hera_wasserstein

    return float(
        hera_wasserstein(
            _normalised(a, values_a), _normalised(b, values_b), order=order, internal_p=np.inf
        )
    )


def diagram_features(
    diagrams: list[Diagram], values: ArrayLike | None = None, *, threshold: float = 0.05
) -> dict[str, float]:
    """Flat named scalar features of a list of diagrams, as EXP-01 stores per landscape slice.

    For each dimension ``k``: ``hk_total_persistence``, ``hk_max_persistence``, ``hk_entropy``,
    ``hk_count`` (finite pairs); with ``values`` also ``hk_count_above`` (lifetime above
    ``threshold`` x dynamic range) and the range-normalised ``hk_total_persistence_norm`` and
    ``hk_max_persistence_norm``. Essential classes are excluded throughout (see module notes).
    """
    features: dict[str, float] = {}
    for k, diagram in enumerate(diagrams):
        key = f"h{k}_"
        features[key + "total_persistence"] = total_persistence(diagram)
        features[key + "max_persistence"] = max_persistence(diagram)
        features[key + "entropy"] = persistence_entropy(diagram)
        features[key + "count"] = float(_lifetimes(diagram, None).size)
        if values is not None:
            features[key + "count_above"] = float(count_above(diagram, threshold, values=values))
            features[key + "total_persistence_norm"] = total_persistence(diagram, values=values)
            features[key + "max_persistence_norm"] = max_persistence(diagram, values=values)
    return features


def _as_diagram(diagram: ArrayLike) -> Diagram:
    pts = np.asarray(diagram, dtype=np.float64).reshape(-1, 2)
    if np.isnan(pts).any():
        raise InputError("diagram contains NaN; diagrams hold births and deaths (inf allowed)")
    return pts


def _normalised(diagram: ArrayLike, values: ArrayLike | None) -> Diagram:
    return _as_diagram(diagram) if values is None else normalize_diagram(diagram, values)


def _lifetimes(diagram: ArrayLike, values: ArrayLike | None) -> FloatArray:
    """Finite lifetimes in ascending order: a diagram is a multiset, so every sum over it is
    taken in one order whatever order the kernels (tiles, workers) listed the pairs in."""
    pts = _normalised(diagram, values)
    life = pts[:, 1] - pts[:, 0]
    return np.sort(life[np.isfinite(life)])


def _capped(diagram: ArrayLike, values: ArrayLike | None) -> Diagram:
    """Finite pairs (capped at the range's top with ``values``) sorted by (birth, death)."""
    pts = _normalised(diagram, values)
    if values is not None:
        pts = np.minimum(pts, 1.0 if np.ptp(dynamic_range(values)) > 0 else 0.0)
    pts = pts[np.isfinite(pts).all(axis=1)]
    return pts[np.lexsort((pts[:, 1], pts[:, 0]))]
