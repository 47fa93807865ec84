"""Multilayer perceptron on flattened inputs (Rumelhart, Hinton & Williams 1986).

Works for any input shape; the reference small model of the lab (64-100-100-10 on digits, as in
Hsu et al. 2018's 2×400 MLP for Split-MNIST, scaled down).
"""

from __future__ import annotations

import math

from torch import nn

from axionlab.errors import ConfigError
from axionlab.models.core import Classifier


def mlp(
    input_shape: tuple[int, ...], num_classes: int, *, width: int = 100, depth: int = 2
) -> Classifier:
    """``depth`` hidden ReLU layers of ``width`` units, then a linear head."""
    if width < 1 or depth < 0:
        raise ConfigError(f"mlp needs width >= 1 and depth >= 0, got width={width}, depth={depth}")
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = math.prod(input_shape)
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), nn.ReLU()]
        fan_in = width
    return Classifier("mlp", nn.Sequential(*layers), nn.Linear(fan_in, num_classes))
