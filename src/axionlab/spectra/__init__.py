"""Weight-matrix spectra: heavy-tailed self-regularisation (HT-SR) metrics per layer, as
WeightWatcher 0.7.7 computes them by default (power-law α of the ESD of WᵀW, weighted α, stable
rank, spectral and log norms) and their per-model means."""

from axionlab.spectra.layers import LayerSpectrum, SpectraSummary, layer_spectra, spectra_summary
from axionlab.spectra.powerlaw import PowerLawFit, power_law_fit

__all__ = [
    "LayerSpectrum",
    "PowerLawFit",
    "SpectraSummary",
    "layer_spectra",
    "power_law_fit",
    "spectra_summary",
]
