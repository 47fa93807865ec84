"""Topology of one loss plane: cubical persistence, its summaries and the lab's legacy statistic.

A NaN loss is a diverged evaluation: it enters the sublevel filtration last, as ``+inf``. A plane
with no finite loss has no topology: every feature is ``nan`` with the reason
:data:`NO_FINITE_LOSS`; the legacy statistic (Ripser on a finite grid graph) is ``nan`` with
:data:`LEGACY_NEEDS_FINITE` on a plane with any non-finite loss. Never an error, so one
degenerate unit does not cost a run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from axionlab.topology.cubical import sublevel_persistence
from axionlab.topology.features import diagram_features
from axionlab.topology.graph import grid_graph_persistence

NO_FINITE_LOSS = "no_finite_loss"
LEGACY_NEEDS_FINITE = "legacy_needs_finite_plane"


@dataclass(frozen=True, eq=False)
class PlaneTopology:
    """What :func:`plane_topology` returns.

    Attributes
    ----------
    features
        :func:`~axionlab.topology.diagram_features` of the cubical diagrams (normalised by the
        plane's dynamic range where named ``_norm``), ``window_mean_loss`` (mean finite loss)
        and, with ``legacy``, ``legacy_h0_total``.
    diagrams
        ``h0``, ``h1`` (and ``legacy_h0``, ``legacy_h1``) as ``(n, 2)`` arrays.
    reason
        ``""`` when defined, else why every feature is ``nan``.
    """

    features: dict[str, float]
    diagrams: dict[str, np.ndarray]
    reason: str


def plane_topology(
    values: ArrayLike,
    *,
    construction: Literal["top", "vertex"] = "top",
    threshold: float = 0.05,
    legacy: bool = True,
) -> PlaneTopology:
    """Persistence features of a 2-D loss plane, with the lab's legacy statistic beside them.

    The legacy statistic is Ripser's H0 total persistence on the 8-neighbour grid graph with the
    vertex births left at 0, as the lab's published code computed it; it equals
    ``Σf − min f + H0_total`` (the sum of the losses, not topology).
    """
    grid = np.asarray(values, dtype=np.float64)
    grid = np.where(np.isnan(grid), np.inf, grid)
    finite = grid[np.isfinite(grid)]
    if finite.size == 0:
        empty = [np.zeros((0, 2)), np.zeros((0, 2))]
        names = [*diagram_features(empty, values=np.zeros(1)), "window_mean_loss"]
        if legacy:
            names.append("legacy_h0_total")
        return PlaneTopology({n: math.nan for n in names}, {}, NO_FINITE_LOSS)
    diagrams = sublevel_persistence(grid, construction=construction)
    features = diagram_features(diagrams, values=grid, threshold=threshold)
    features["window_mean_loss"] = float(finite.mean())
    arrays = {f"h{k}": d for k, d in enumerate(diagrams)}
    if legacy and finite.size < grid.size:
        features["legacy_h0_total"] = math.nan
        return PlaneTopology(features, arrays, LEGACY_NEEDS_FINITE)
    if legacy:
        legacy_diagrams = grid_graph_persistence(grid, vertex_births=False)
        h0 = legacy_diagrams[0]
        features["legacy_h0_total"] = float(np.sum(np.diff(h0[np.isfinite(h0[:, 1])], axis=1)))
        arrays.update({f"legacy_h{k}": d for k, d in enumerate(legacy_diagrams)})
    return PlaneTopology(features, arrays, "")
