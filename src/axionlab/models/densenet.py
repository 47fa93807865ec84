"""DenseNet-BC: Huang et al., "Densely connected convolutional networks" (CVPR 2017).

CIFAR form: a 3×3 stem with ``2 · growth`` channels, bottleneck dense layers (BN-ReLU-1×1 conv to
``4 · growth``, BN-ReLU-3×3 conv to ``growth``) and transitions halving channels and resolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from axionlab.models.blocks import bn_relu, global_pool
from axionlab.models.core import Classifier, image_shape


class _DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            bn_relu(cin),
            nn.Conv2d(cin, 4 * growth, 1, bias=False),
            bn_relu(4 * growth),
            nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False),
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x, self.branch(x)], dim=1)


def densenet(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    growth: int = 32,
    blocks: Sequence[int] = (6, 12, 24, 16),
    reduction: float = 0.5,
) -> Classifier:
    """DenseNet-BC with the given dense-block sizes (defaults: DenseNet-121)."""
    c, _, _ = image_shape("densenet", input_shape)
    channels = 2 * growth
    body: list[nn.Module] = [nn.Conv2d(c, channels, 3, padding=1, bias=False)]
    for i, n in enumerate(blocks):
        for _ in range(n):
            body.append(_DenseLayer(channels, growth))
            channels += growth
        if i < len(blocks) - 1:
            out = int(channels * reduction)
            body += [bn_relu(channels), nn.Conv2d(channels, out, 1, bias=False), nn.AvgPool2d(2)]
            channels = out
    body += [bn_relu(channels), global_pool()]
    return Classifier("densenet", nn.Sequential(*body), nn.Linear(channels, num_classes))
