"""ConvNeXt: Liu et al., "A ConvNet for the 2020s" (CVPR 2022).

Blocks: 7×7 depthwise conv → LayerNorm → 4× pointwise MLP (GELU) → layer scale (init 1e-6) →
residual. Stochastic depth is left out. For 32×32 inputs the patchify stem uses 2×2 patches
instead of 4×4 so the last stage still sees 2×2 features.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from axionlab.models.blocks import FeedForward, LayerNorm2d, global_pool
from axionlab.models.core import Classifier, image_shape


class _ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int, layer_scale: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim, 4 * dim)
        self.gamma = nn.Parameter(torch.empty(dim))
        self.layer_scale = layer_scale

    def init_own(self, generator: torch.Generator) -> None:
        nn.init.constant_(self.gamma, self.layer_scale)

    def forward(self, x: Tensor) -> Tensor:
        y = self.mlp(self.norm(self.dwconv(x).permute(0, 2, 3, 1)))  # (N, H, W, C)
        return x + (self.gamma * y).permute(0, 3, 1, 2)  # type: ignore[no-any-return]


def convnext(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    depths: Sequence[int] = (3, 3, 9, 3),
    dims: Sequence[int] = (96, 192, 384, 768),
    stem_patch: int = 2,
    layer_scale: float = 1e-6,
) -> Classifier:
    """ConvNeXt with given stage depths and widths (defaults: ConvNeXt-T)."""
    c, _, _ = image_shape("convnext", input_shape)
    body: list[nn.Module] = [nn.Conv2d(c, dims[0], stem_patch, stem_patch), LayerNorm2d(dims[0])]
    for stage, (n, dim) in enumerate(zip(depths, dims, strict=True)):
        if stage > 0:
            body += [LayerNorm2d(dims[stage - 1]), nn.Conv2d(dims[stage - 1], dim, 2, 2)]
        body += [_ConvNeXtBlock(dim, layer_scale) for _ in range(n)]
    body += [global_pool(), nn.LayerNorm(dims[-1])]
    return Classifier("convnext", nn.Sequential(*body), nn.Linear(dims[-1], num_classes))
