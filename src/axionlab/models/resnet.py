"""Residual networks: ResNet (basic and bottleneck), wide ResNet and RegNet-Y.

- ResNet: He et al., "Deep residual learning for image recognition" (CVPR 2016), CIFAR stem
  (one 3×3 convolution, no max-pool) as is customary for 32×32 inputs.
- Wide ResNet WRN-d-k: Zagoruyko & Komodakis, "Wide residual networks" (BMVC 2016): pre-activation
  basic blocks, (d − 4)/6 blocks per group, widths 16k, 32k, 64k.
- RegNet-Y: Radosavovic et al., "Designing network design spaces" (CVPR 2020): bottleneck blocks
  with group convolutions and squeeze-excitation; stem stride 1 for 32×32 inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from torch import Tensor, nn

from axionlab.checks import check_choice
from axionlab.errors import ConfigError
from axionlab.models.blocks import Residual, SqueezeExcite, bn_relu, conv_bn, global_pool
from axionlab.models.core import Classifier, image_shape


def _projection(cin: int, cout: int, stride: int) -> nn.Module | None:
    return conv_bn(cin, cout, 1, stride, act=None) if stride != 1 or cin != cout else None


def _basic(cin: int, width: int, stride: int) -> tuple[nn.Module, int]:
    branch = nn.Sequential(conv_bn(cin, width, 3, stride), conv_bn(width, width, 3, act=None))
    return Residual(branch, _projection(cin, width, stride), nn.ReLU()), width


def _bottleneck(cin: int, width: int, stride: int) -> tuple[nn.Module, int]:
    cout = 4 * width
    branch = nn.Sequential(
        conv_bn(cin, width, 1), conv_bn(width, width, 3, stride), conv_bn(width, cout, 1, act=None)
    )
    return Residual(branch, _projection(cin, cout, stride), nn.ReLU()), cout


def resnet(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    block: Literal["basic", "bottleneck"] = "basic",
    layers: Sequence[int] = (2, 2, 2, 2),
    widths: Sequence[int] = (64, 128, 256, 512),
    stem_width: int | None = None,
) -> Classifier:
    """ResNet with ``len(layers)`` stages; the first keeps the resolution, the others halve it."""
    c, _, _ = image_shape("resnet", input_shape)
    check_choice("block", block, ("basic", "bottleneck"), error=ConfigError)
    if len(layers) != len(widths):
        raise ConfigError(f"layers and widths must have equal length, got {layers} and {widths}")
    make = _basic if block == "basic" else _bottleneck
    channels = stem_width or widths[0]
    body: list[nn.Module] = [conv_bn(c, channels, 3)]
    for stage, (n, width) in enumerate(zip(layers, widths, strict=True)):
        for i in range(n):
            unit, channels = make(channels, width, 2 if stage > 0 and i == 0 else 1)
            body.append(unit)
    body.append(global_pool())
    return Classifier("resnet", nn.Sequential(*body), nn.Linear(channels, num_classes))


class _WideBlock(nn.Module):
    """Pre-activation basic block of WRN (BN-ReLU-conv ×2, optional dropout between)."""

    def __init__(self, cin: int, cout: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.pre = bn_relu(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.mid = nn.Sequential(bn_relu(cout), nn.Dropout(dropout))
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = (
            nn.Conv2d(cin, cout, 1, stride, bias=False) if stride != 1 or cin != cout else None
        )

    def forward(self, x: Tensor) -> Tensor:
        a = self.pre(x)
        # The projection sees the pre-activated input, as in the reference implementation.
        skip = x if self.shortcut is None else self.shortcut(a)
        return skip + self.conv2(self.mid(self.conv1(a)))  # type: ignore[no-any-return]


def wide_resnet(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    depth: int = 28,
    widen: int = 10,
    dropout: float = 0.0,
) -> Classifier:
    """WRN-``depth``-``widen``; ``depth`` must be 6n + 4."""
    c, _, _ = image_shape("wrn", input_shape)
    if (depth - 4) % 6 or depth < 10 or widen < 1:
        raise ConfigError(
            f"wrn needs depth = 6n + 4 >= 10 and widen >= 1, got depth={depth}, widen={widen}"
        )
    n = (depth - 4) // 6
    body: list[nn.Module] = [nn.Conv2d(c, 16, 3, 1, 1, bias=False)]
    channels = 16
    for group, width in enumerate((16 * widen, 32 * widen, 64 * widen)):
        for i in range(n):
            body.append(_WideBlock(channels, width, 2 if group > 0 and i == 0 else 1, dropout))
            channels = width
    body += [bn_relu(channels), global_pool()]
    return Classifier("wrn", nn.Sequential(*body), nn.Linear(channels, num_classes))


def regnet_y(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    depths: Sequence[int] = (1, 3, 6, 6),
    widths: Sequence[int] = (48, 104, 208, 440),
    group_width: int = 8,
    stem_width: int = 32,
    se_ratio: float = 0.25,
) -> Classifier:
    """RegNet-Y with given stage depths/widths (defaults: RegNetY-400MF), every stage halving."""
    c, _, _ = image_shape("regnet", input_shape)
    if any(w % group_width for w in widths):
        raise ConfigError(
            f"regnet widths {tuple(widths)} must be multiples of group_width {group_width}"
        )
    body: list[nn.Module] = [conv_bn(c, stem_width, 3)]
    channels = stem_width
    for n, width in zip(depths, widths, strict=True):
        for i in range(n):
            stride = 2 if i == 0 else 1
            branch = nn.Sequential(
                conv_bn(channels, width, 1),
                conv_bn(width, width, 3, stride, groups=width // group_width),
                SqueezeExcite(width, max(1, round(se_ratio * channels))),
                conv_bn(width, width, 1, act=None),
            )
            body.append(Residual(branch, _projection(channels, width, stride), nn.ReLU()))
            channels = width
    body.append(global_pool())
    return Classifier("regnet", nn.Sequential(*body), nn.Linear(channels, num_classes))
