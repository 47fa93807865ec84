"""Integrated information: exact IIT 3.0 Φ, Gaussian VAR(1) measures and effective information.

- :func:`iit_phi` — exact IIT 3.0 big Φ of a small binary system (Oizumi et al. 2014).
- :func:`gaussian_measures` — MI, Φ_WMS, SI, Φ*, Φ_G of a VAR(1) for a partition (nats);
  :func:`minimum_information_bipartition` minimises one of them over bipartitions.
- :func:`var1_from_timeseries`, :func:`bootstrap_ci` — fit a VAR(1) to activations, CI of a measure.
- :func:`effective_information` — EI of a state-by-state TPM in bits (Hoel et al. 2013).
- :func:`binarize_network`, :func:`state_by_state` — TPMs of small threshold/sigmoid recurrent nets.
- :func:`integration_values`, :func:`null_bias` — Gaussian measures with their shuffled-time nulls
  as named values; how far a measure stands above its null over many networks.
- :func:`probed_weights` — the map of a trained network the exact probes binarise.
"""

from axionlab.phi.ei import effective_information
from axionlab.phi.gaussian import (
    BootstrapInterval,
    GaussianMeasures,
    MinimumBipartition,
    Var1Fit,
    bootstrap_ci,
    gaussian_measures,
    minimum_information_bipartition,
    stationary_covariance,
    var1_from_timeseries,
)
from axionlab.phi.iit3 import Concept, SystemIrreducibility, iit_phi
from axionlab.phi.iit4 import SystemIrreducibilityIIT4, system_phi_iit4
from axionlab.phi.networks import BinaryNetwork, all_states, binarize_network, state_by_state
from axionlab.phi.nulls import (
    INTEGRATION_NAMES,
    NULL_NAMES,
    NullBias,
    integration_values,
    null_bias,
    null_name,
)
from axionlab.phi.trained import (
    DEGENERATE_PROBE,
    NONFINITE_STATES,
    NONFINITE_WEIGHTS,
    VAR_FIT_FAILED,
    ProbedWeights,
    probed_weights,
    trained_integration,
    trained_probe,
)

__all__ = [
    "DEGENERATE_PROBE",
    "INTEGRATION_NAMES",
    "NONFINITE_STATES",
    "NONFINITE_WEIGHTS",
    "NULL_NAMES",
    "VAR_FIT_FAILED",
    "BinaryNetwork",
    "BootstrapInterval",
    "Concept",
    "GaussianMeasures",
    "MinimumBipartition",
    "NullBias",
    "ProbedWeights",
    "SystemIrreducibility",
    "SystemIrreducibilityIIT4",
    "Var1Fit",
    "all_states",
    "binarize_network",
    "bootstrap_ci",
    "effective_information",
    "gaussian_measures",
    "iit_phi",
    "integration_values",
    "minimum_information_bipartition",
    "null_bias",
    "null_name",
    "probed_weights",
    "state_by_state",
    "stationary_covariance",
    "system_phi_iit4",
    "trained_integration",
    "trained_probe",
    "var1_from_timeseries",
]
