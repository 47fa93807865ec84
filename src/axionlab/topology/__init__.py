"""Sublevel-set persistent homology of landscapes (exact, tiled, distributed), merge trees and
topological profiles, Rips persistence of point clouds, and diagram summaries. Diagrams are lists
indexed by dimension of ``(n, 2)`` float64 arrays (birth, death), essential classes dying at
``inf``, zero-length pairs dropped."""

from axionlab.topology.cubical import sublevel_persistence
from axionlab.topology.features import (
    betti_curve,
    bottleneck_distance,
    count_above,
    diagram_features,
    dynamic_range,
    max_persistence,
    normalize_diagram,
    persistence_entropy,
    persistence_image,
    persistence_landscape,
    total_persistence,
    wasserstein_distance,
)
from axionlab.topology.graph import grid_graph_persistence, rips_persistence
from axionlab.topology.merge_tree import MergeTree, merge_tree
from axionlab.topology.planes import NO_FINITE_LOSS, PlaneTopology, plane_topology
from axionlab.topology.profile import TopologicalProfile, topological_profile
from axionlab.topology.smoothness import smad
from axionlab.topology.tiled import sublevel_persistence_tiled

__all__ = [
    "NO_FINITE_LOSS",
    "MergeTree",
    "PlaneTopology",
    "TopologicalProfile",
    "betti_curve",
    "bottleneck_distance",
    "count_above",
    "diagram_features",
    "dynamic_range",
    "grid_graph_persistence",
    "max_persistence",
    "merge_tree",
    "normalize_diagram",
    "persistence_entropy",
    "persistence_image",
    "persistence_landscape",
    "plane_topology",
    "rips_persistence",
    "smad",
    "sublevel_persistence",
    "sublevel_persistence_tiled",
    "topological_profile",
    "total_persistence",
    "wasserstein_distance",
]
