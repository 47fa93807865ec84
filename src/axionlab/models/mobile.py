"""Mobile architectures: MobileNet-V3, EfficientNet and ShuffleNet-V2.

- MobileNet-V3-Small: Howard et al., "Searching for MobileNetV3" (ICCV 2019), Table 2.
- EfficientNet-B0: Tan & Le, "EfficientNet: rethinking model scaling" (ICML 2019), Table 1.
- ShuffleNet-V2 1.0×: Ma et al., "ShuffleNet V2: practical guidelines" (ECCV 2018), Table 5.

For 32×32 inputs the stems do not downsample (and ShuffleNet drops its max-pool), the usual
CIFAR adaptation; parameter counts are unaffected.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from axionlab.errors import ConfigError
from axionlab.models.blocks import (
    HardSigmoid,
    InvertedResidual,
    channel_shuffle,
    conv_bn,
    global_pool,
    make_divisible,
)
from axionlab.models.core import Classifier, image_shape

# (kernel, expanded, out, squeeze-excite, hard-swish, stride) of MobileNetV3-Small.
MOBILENET_V3_SMALL = (
    (3, 16, 16, True, False, 2),
    (3, 72, 24, False, False, 2),
    (3, 88, 24, False, False, 1),
    (5, 96, 40, True, True, 2),
    (5, 240, 40, True, True, 1),
    (5, 240, 40, True, True, 1),
    (5, 120, 48, True, True, 1),
    (5, 144, 48, True, True, 1),
    (5, 288, 96, True, True, 2),
    (5, 576, 96, True, True, 1),
    (5, 576, 96, True, True, 1),
)

# (expansion, kernel, stride, out, repeats) of EfficientNet-B0.
EFFICIENTNET_B0 = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)


def mobilenet_v3(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    blocks: Sequence[tuple[int, int, int, bool, bool, int]] = MOBILENET_V3_SMALL,
    stem_width: int = 16,
    last_width: int = 576,
    hidden: int = 1024,
    stem_stride: int = 1,
    dropout: float = 0.2,
) -> Classifier:
    """MobileNet-V3 from its block table (defaults: Small) with a 2-layer h-swish head."""
    c, _, _ = image_shape("mobilenet", input_shape)
    body: list[nn.Module] = [conv_bn(c, stem_width, 3, stem_stride, act=nn.Hardswish)]
    channels = stem_width
    for kernel, expanded, out, se, hswish, stride in blocks:
        act = nn.Hardswish if hswish else nn.ReLU
        body.append(
            InvertedResidual(
                channels,
                expanded,
                out,
                kernel,
                stride,
                se_channels=make_divisible(expanded / 4) if se else 0,
                act=act,
                gate=HardSigmoid,
            )
        )
        channels = out
    body += [
        conv_bn(channels, last_width, 1, act=nn.Hardswish),
        global_pool(),
        nn.Linear(last_width, hidden),
        nn.Hardswish(),
        nn.Dropout(dropout),
    ]
    return Classifier("mobilenet", nn.Sequential(*body), nn.Linear(hidden, num_classes))


def efficientnet(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    stages: Sequence[tuple[int, int, int, int, int]] = EFFICIENTNET_B0,
    stem_width: int = 32,
    last_width: int = 1280,
    stem_stride: int = 1,
    dropout: float = 0.2,
) -> Classifier:
    """EfficientNet from its stage table (defaults: B0): MBConv blocks, SiLU, SE ratio 1/4."""
    c, _, _ = image_shape("efficientnet", input_shape)
    body: list[nn.Module] = [conv_bn(c, stem_width, 3, stem_stride, act=nn.SiLU)]
    channels = stem_width
    for expansion, kernel, stride, out, repeats in stages:
        for i in range(repeats):
            body.append(
                InvertedResidual(
                    channels,
                    channels * expansion,
                    out,
                    kernel,
                    stride if i == 0 else 1,
                    se_channels=max(1, channels // 4),
                    act=nn.SiLU,
                    gate=nn.Sigmoid,
                )
            )
            channels = out
    body += [conv_bn(channels, last_width, 1, act=nn.SiLU), global_pool(), nn.Dropout(dropout)]
    return Classifier("efficientnet", nn.Sequential(*body), nn.Linear(last_width, num_classes))


class _ShuffleUnit(nn.Module):
    """ShuffleNet-V2 unit: channel split (stride 1) or two downsampling branches (stride 2)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        half = cout // 2
        self.stride = stride
        if stride > 1:
            self.left: nn.Module = nn.Sequential(
                conv_bn(cin, cin, 3, stride, groups=cin, act=None), conv_bn(cin, half, 1)
            )
        else:
            self.left = nn.Identity()
        branch_in = cin if stride > 1 else half
        self.right = nn.Sequential(
            conv_bn(branch_in, half, 1),
            conv_bn(half, half, 3, stride, groups=half, act=None),
            conv_bn(half, half, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            left, right = x, x
        else:
            left, right = x.chunk(2, dim=1)
        return channel_shuffle(torch.cat([self.left(left), self.right(right)], dim=1), 2)


def shufflenet_v2(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    repeats: Sequence[int] = (4, 8, 4),
    widths: Sequence[int] = (116, 232, 464),
    stem_width: int = 24,
    last_width: int = 1024,
    stem_stride: int = 1,
) -> Classifier:
    """ShuffleNet-V2 (defaults: 1.0×); each stage starts with a stride-2 unit."""
    c, _, _ = image_shape("shufflenet", input_shape)
    if any(w % 2 for w in widths):
        raise ConfigError(f"shufflenet widths must be even, got {tuple(widths)}")
    body: list[nn.Module] = [conv_bn(c, stem_width, 3, stem_stride)]
    channels = stem_width
    for n, width in zip(repeats, widths, strict=True):
        for i in range(n):
            body.append(_ShuffleUnit(channels, width, 2 if i == 0 else 1))
            channels = width
    body += [conv_bn(channels, last_width, 1), global_pool()]
    return Classifier("shufflenet", nn.Sequential(*body), nn.Linear(last_width, num_classes))
