"""Information capacity of networks: memorization (volume) vs cross-partition (area) measures.

EXP-02 asks whether capacity scales with total parameters (H-mem: memorization of random labels,
~2 bits per weight for a perceptron; Cover 1965, Gardner 1988) or with boundary measures (H-cut:
information that must cross a partition of the input, bounded by a min-cut of the network graph;
Levine et al. 2018; bottlenecks as in Baldi & Vershynin 2019). This package holds the pieces:

- ``perceptron``: exact LP separability, Cover's formula, separability curves, 50% points;
- ``fit``: full-batch Adam / L-BFGS fitting with an accuracy threshold;
- ``family``: architecture families that decorrelate total from boundary parameters;
- ``boundary``: interface parameters, min-cuts, bottleneck width, named-cut and partition cuts;
- ``tasks``: random labels and cross-partition tasks;
- ``measure``: capacities by bisection over nested draws, with seeds and confidence intervals.
"""

from axionlab.capacity.boundary import (
    BoundaryMeasures,
    LayerInfo,
    bottleneck_layer,
    boundary_measures,
    half_mask,
    partition_cut,
)
from axionlab.capacity.family import ArchSpec, build_model, capacity_family
from axionlab.capacity.fit import FitConfig, FitResult, fit_labels
from axionlab.capacity.measure import (
    CapacityResult,
    ReadoutCapacity,
    capacity_by_bisection,
    cross_partition_capacity,
    memorization_capacity,
    readout_capacity,
)
from axionlab.capacity.perceptron import (
    SeparabilityCurve,
    cover_probability,
    fifty_percent_point,
    perceptron_separable,
    random_points,
    separability_curve,
)
from axionlab.capacity.tasks import cross_partition_task, random_labels

__all__ = [
    "ArchSpec",
    "BoundaryMeasures",
    "CapacityResult",
    "FitConfig",
    "FitResult",
    "LayerInfo",
    "ReadoutCapacity",
    "SeparabilityCurve",
    "bottleneck_layer",
    "boundary_measures",
    "build_model",
    "capacity_by_bisection",
    "capacity_family",
    "cover_probability",
    "cross_partition_capacity",
    "cross_partition_task",
    "fifty_percent_point",
    "fit_labels",
    "half_mask",
    "memorization_capacity",
    "partition_cut",
    "perceptron_separable",
    "random_labels",
    "random_points",
    "readout_capacity",
    "separability_curve",
]
