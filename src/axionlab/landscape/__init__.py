"""Loss-landscape geometry: directions, surfaces, Hessian, Fisher and sharpness probes, basins,
and the curvature profile combining them.

Every probe takes a model, ``loss_fn(outputs, targets) -> mean loss`` (nats) and data (an
``(x, y)`` pair or an iterable of batches), evaluates the model functionally in eval semantics and
leaves it untouched. Parameter-space vectors are ``dict[str, Tensor]`` keyed like
``named_parameters()``.
"""

from axionlab.landscape.basin import (
    BasinArea,
    BasinRadii,
    PlaneBasins,
    basin_area,
    basin_radii,
    basin_radius,
    plane_basins,
)
from axionlab.landscape.directions import (
    TrajectoryPCA,
    difference_direction,
    random_directions,
    seeded_directions,
    trajectory_directions,
    transposed_weights,
)
from axionlab.landscape.fisher import fisher_diagonal, fisher_trace
from axionlab.landscape.grid import LossGrid, grid_bytes, loss_grid
from axionlab.landscape.hessian import (
    HessianEigen,
    HessianOperator,
    SpectralDensity,
    TraceEstimate,
    hessian_density,
    hessian_directions,
    hessian_top_eigenvalues,
    hessian_trace,
)
from axionlab.landscape.hf import (
    HFLogits,
    probe_data,
    sequence_fisher_diagonal,
    token_cross_entropy,
)
from axionlab.landscape.operators import (
    CURVATURE_KINDS,
    KFAC,
    CurvatureOperator,
    KFACOperator,
    KroneckerFactor,
    curvature_operator,
    kfac_factors,
    xtrace,
)
from axionlab.landscape.profile import PROFILE_STREAMS, CurvatureProfile, curvature_profile
from axionlab.landscape.sharpness import Sharpness, loss_barrier, sharpness
from axionlab.landscape.surface import LossLine, LossSurface, interpolate, loss_line, loss_plane

__all__ = [
    "CURVATURE_KINDS",
    "KFAC",
    "PROFILE_STREAMS",
    "BasinArea",
    "BasinRadii",
    "CurvatureOperator",
    "CurvatureProfile",
    "HFLogits",
    "HessianEigen",
    "HessianOperator",
    "KFACOperator",
    "KroneckerFactor",
    "LossGrid",
    "LossLine",
    "LossSurface",
    "PlaneBasins",
    "Sharpness",
    "SpectralDensity",
    "TraceEstimate",
    "TrajectoryPCA",
    "basin_area",
    "basin_radii",
    "basin_radius",
    "curvature_operator",
    "curvature_profile",
    "difference_direction",
    "fisher_diagonal",
    "fisher_trace",
    "grid_bytes",
    "hessian_density",
    "hessian_directions",
    "hessian_top_eigenvalues",
    "hessian_trace",
    "interpolate",
    "kfac_factors",
    "loss_barrier",
    "loss_grid",
    "loss_line",
    "loss_plane",
    "plane_basins",
    "probe_data",
    "random_directions",
    "seeded_directions",
    "sequence_fisher_diagonal",
    "sharpness",
    "token_cross_entropy",
    "trajectory_directions",
    "transposed_weights",
    "xtrace",
]
