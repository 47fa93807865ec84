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
- ``measure``: capacities by bisection over nested draws, with seeds and confidence intervals;
- ``profile``: every volume and area measure of one architecture;
- ``calibration``: LP separability curves against Cover's closed form, delta-method SE of P50;
- ``verdict``: which capacities enter a fit (censoring), the fit table, area vs volume verdict.
"""

from axionlab.capacity.boundary import (
    BoundaryMeasures,
    LayerInfo,
    bottleneck_layer,
    boundary_measures,
    half_mask,
    partition_cut,
)
from axionlab.capacity.calibration import (
    CoverCalibration,
    cover_calibration,
    cover_p50_se,
    cover_z,
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
from axionlab.capacity.profile import BoundaryProfile, boundary_profile
from axionlab.capacity.tasks import cross_partition_task, random_labels
from axionlab.capacity.verdict import (
    CENSORED,
    FIT_COLUMNS,
    NONPOSITIVE_CAPACITY,
    NONPOSITIVE_MEASURE,
    Law,
    LawVerdict,
    capacity_exclusion,
    fit_rows,
    fitted_capacity,
    law_of,
    law_verdict,
    measure_exclusion,
)

__all__ = [
    "CENSORED",
    "FIT_COLUMNS",
    "NONPOSITIVE_CAPACITY",
    "NONPOSITIVE_MEASURE",
    "ArchSpec",
    "BoundaryMeasures",
    "BoundaryProfile",
    "CapacityResult",
    "CoverCalibration",
    "FitConfig",
    "FitResult",
    "Law",
    "LawVerdict",
    "LayerInfo",
    "ReadoutCapacity",
    "SeparabilityCurve",
    "bottleneck_layer",
    "boundary_measures",
    "boundary_profile",
    "build_model",
    "capacity_by_bisection",
    "capacity_exclusion",
    "capacity_family",
    "cover_calibration",
    "cover_p50_se",
    "cover_probability",
    "cover_z",
    "cross_partition_capacity",
    "cross_partition_task",
    "fifty_percent_point",
    "fit_labels",
    "fit_rows",
    "fitted_capacity",
    "half_mask",
    "law_of",
    "law_verdict",
    "measure_exclusion",
    "memorization_capacity",
    "partition_cut",
    "perceptron_separable",
    "random_labels",
    "random_points",
    "readout_capacity",
    "separability_curve",
]
