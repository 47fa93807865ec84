"""Building blocks shared by several architectures of the zoo."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

Activation = type[nn.Module]

_CONV: dict[int, type[nn.Conv1d] | type[nn.Conv2d]] = {1: nn.Conv1d, 2: nn.Conv2d}
_BN: dict[int, type[nn.BatchNorm1d] | type[nn.BatchNorm2d]] = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}


def conv_bn(
    cin: int,
    cout: int,
    kernel: int = 3,
    stride: int = 1,
    *,
    groups: int = 1,
    act: Activation | None = nn.ReLU,
    norm: bool = True,
    dims: int = 2,
) -> nn.Sequential:
    """Convolution ("same" padding) → BatchNorm (Ioffe & Szegedy 2015) → optional activation."""
    layers: list[nn.Module] = [
        _CONV[dims](cin, cout, kernel, stride, kernel // 2, groups=groups, bias=not norm)
    ]
    if norm:
        layers.append(_BN[dims](cout))
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


def bn_relu(channels: int) -> nn.Sequential:
    """Pre-activation BatchNorm → ReLU (He et al. 2016, "Identity mappings")."""
    return nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU())


def global_pool(dims: int = 2) -> nn.Sequential:
    """Global average pooling to a flat ``(N, C)`` feature vector."""
    pool = nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1)
    return nn.Sequential(pool, nn.Flatten())


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round channel counts to a multiple of ``divisor`` without losing more than 10%."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class HardSigmoid(nn.Module):
    """relu6(x + 3) / 6, as ``nn.Hardsigmoid`` but twice differentiable in autograd.

    ``aten::hardsigmoid_backward`` has no derivative, so Hessian-vector products (curvature
    probes) through ``nn.Hardsigmoid`` fail; this form has the same values and gradients.
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.relu6(x + 3.0) / 6.0


class SqueezeExcite(nn.Module):
    """Channel gating by globally pooled features (Hu et al., "Squeeze-and-Excitation", 2018)."""

    def __init__(
        self, channels: int, squeeze: int, act: Activation = nn.ReLU, gate: Activation = nn.Sigmoid
    ) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeeze, 1)
        self.act = act()
        self.expand = nn.Conv2d(squeeze, channels, 1)
        self.gate = gate()

    def forward(self, x: Tensor) -> Tensor:
        s = F.adaptive_avg_pool2d(x, 1)
        return x * self.gate(self.expand(self.act(self.reduce(s))))  # type: ignore[no-any-return]


class Residual(nn.Module):
    """``act(branch(x) + shortcut(x))``; the shortcut is the identity unless given."""

    def __init__(
        self, branch: nn.Module, shortcut: nn.Module | None = None, act: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.branch = branch
        self.shortcut = shortcut if shortcut is not None else nn.Identity()
        self.act = act if act is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.branch(x) + self.shortcut(x))  # type: ignore[no-any-return]


class InvertedResidual(nn.Module):
    """MobileNet-V2/V3 and EfficientNet "MBConv" block: expand 1×1 → depthwise → SE → project 1×1.

    Sandler et al. 2018; Howard et al. 2019; Tan & Le 2019. The residual connection is used when
    the block keeps the shape.
    """

    def __init__(
        self,
        cin: int,
        expanded: int,
        cout: int,
        kernel: int,
        stride: int,
        *,
        se_channels: int,
        act: Activation,
        gate: Activation,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if expanded != cin:
            layers.append(conv_bn(cin, expanded, 1, act=act))
        layers.append(conv_bn(expanded, expanded, kernel, stride, groups=expanded, act=act))
        if se_channels:
            layers.append(SqueezeExcite(expanded, se_channels, act=act, gate=gate))
        layers.append(conv_bn(expanded, cout, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = self.block(x)
        return x + y if self.residual else y  # type: ignore[no-any-return]


class FeedForward(nn.Sequential):
    """Two-layer GELU MLP used by Transformer and Mixer blocks."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class PreNormResidual(nn.Module):
    """``x + fn(LayerNorm(x))`` (pre-norm residual, Xiong et al. 2020)."""

    def __init__(self, dim: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return x + self.fn(self.norm(x))  # type: ignore[no-any-return]


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch × patch`` patches linearly projected to tokens ``(N, T, dim)``."""

    def __init__(self, channels: int, dim: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, patch, patch)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # type: ignore[no-any-return]  # (N, T, dim)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an ``(N, C, H, W)`` map (as in ConvNeXt)."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Interleave channel groups so information crosses group convolutions (Zhang et al. 2018)."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def mean_tokens(x: Tensor) -> Tensor:
    """Average over the token axis of ``(N, T, D)``."""
    return x.mean(dim=1)


class Lambda(nn.Module):
    """Wrap a parameter-free tensor function as a module (for ``nn.Sequential`` bodies)."""

    def __init__(self, fn: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)
