"""Integrated information: exact IIT 3.0 Φ, Gaussian VAR(1) measures and effective information.

- :func:`iit_phi` — exact IIT 3.0 big Φ of a small binary system (Oizumi et al. 2014).
- :func:`gaussian_measures` — MI, Φ_WMS, SI, Φ*, Φ_G of a VAR(1) for a partition (nats);
  :func:`minimum_information_bipartition` minimises one of them over bipartitions.
- :func:`var1_from_timeseries`, :func:`bootstrap_ci` — fit a VAR(1) to activations, CI of a measure.
- :func:`effective_information` — EI of a state-by-state TPM in bits (Hoel et al. 2013).
- :func:`binarize_network`, :func:`state_by_state` — TPMs of small threshold/sigmoid recurrent nets.
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

__all__ = [
    "BinaryNetwork",
    "BootstrapInterval",
    "Concept",
    "GaussianMeasures",
    "MinimumBipartition",
    "SystemIrreducibility",
    "SystemIrreducibilityIIT4",
    "Var1Fit",
    "all_states",
    "binarize_network",
    "bootstrap_ci",
    "effective_information",
    "gaussian_measures",
    "iit_phi",
    "minimum_information_bipartition",
    "state_by_state",
    "stationary_covariance",
    "system_phi_iit4",
    "var1_from_timeseries",
]
