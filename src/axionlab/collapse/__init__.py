"""Neural collapse (Papyan, Han & Donoho 2020): NC1–NC4 of penultimate features against the final
linear classifier, and the forward hook that collects those features from zoo and HF models."""

from axionlab.collapse.features import HEAD_NAMES, find_head, penultimate_features
from axionlab.collapse.metrics import NeuralCollapse, neural_collapse

__all__ = ["HEAD_NAMES", "NeuralCollapse", "find_head", "neural_collapse", "penultimate_features"]
