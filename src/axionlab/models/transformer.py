"""Patch-token models: Vision Transformer and MLP-Mixer.

- ViT: Dosovitskiy et al., "An image is worth 16×16 words" (ICLR 2021): pre-norm Transformer
  encoder over patch tokens plus a class token and learned position embeddings.
- MLP-Mixer: Tolstikhin et al., "MLP-Mixer: an all-MLP architecture for vision" (NeurIPS 2021):
  alternating token-mixing and channel-mixing MLPs, global average pooling of tokens.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from axionlab.errors import ConfigError
from axionlab.models.blocks import FeedForward, Lambda, PatchEmbed, PreNormResidual, mean_tokens
from axionlab.models.core import Classifier, image_shape


def _num_patches(family: str, input_shape: tuple[int, ...], patch: int) -> int:
    _, h, w = image_shape(family, input_shape)
    if h % patch or w % patch:
        raise ConfigError(f"{family}: patch size {patch} must divide the image size {h}×{w}")
    return (h // patch) * (w // patch)


class _SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ConfigError(f"vit: dim {dim} must be divisible by heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        # Written out rather than F.scaled_dot_product_attention: the fused CPU kernel has no
        # double backward, which Hessian probes need; at these token counts it costs nothing.
        weights = torch.softmax(q @ k.transpose(-2, -1) * (d // self.heads) ** -0.5, dim=-1)
        y = weights @ v  # (N, heads, T, d / heads)
        return self.proj(y.transpose(1, 2).reshape(n, t, d))  # type: ignore[no-any-return]


class _Tokens(nn.Module):
    """Patch embedding, prepended class token and learned position embedding."""

    def __init__(self, channels: int, dim: int, patch: int, num_patches: int) -> None:
        super().__init__()
        self.patches = PatchEmbed(channels, dim, patch)
        self.cls = nn.Parameter(torch.empty(1, 1, dim))
        self.pos = nn.Parameter(torch.empty(1, num_patches + 1, dim))

    def init_own(self, generator: torch.Generator) -> None:
        for p in (self.cls, self.pos):
            nn.init.trunc_normal_(p, std=0.02, a=-0.04, b=0.04, generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.patches(x)
        cls = self.cls.expand(len(tokens), -1, -1)
        return torch.cat([cls, tokens], dim=1) + self.pos  # (N, 1 + T, dim)


def _first_token(x: Tensor) -> Tensor:
    return x[:, 0]


def vit(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    patch: int = 4,
    dim: int = 192,
    depth: int = 6,
    heads: int = 3,
    mlp_ratio: float = 4.0,
) -> Classifier:
    """ViT classifying from the class token."""
    c = input_shape[0]
    num_patches = _num_patches("vit", input_shape, patch)
    body: list[nn.Module] = [_Tokens(c, dim, patch, num_patches)]
    for _ in range(depth):
        body += [
            PreNormResidual(dim, _SelfAttention(dim, heads)),
            PreNormResidual(dim, FeedForward(dim, int(mlp_ratio * dim))),
        ]
    body += [nn.LayerNorm(dim), Lambda(_first_token)]
    return Classifier("vit", nn.Sequential(*body), nn.Linear(dim, num_classes))


class _TokenMixing(nn.Module):
    def __init__(self, tokens: int, hidden: int) -> None:
        super().__init__()
        self.mlp = FeedForward(tokens, hidden)

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(x.transpose(1, 2)).transpose(1, 2)  # type: ignore[no-any-return]


def mlp_mixer(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    patch: int = 4,
    dim: int = 256,
    depth: int = 8,
    token_hidden: int = 128,
    channel_hidden: int = 512,
) -> Classifier:
    """MLP-Mixer with ``depth`` blocks of token- and channel-mixing MLPs."""
    c = input_shape[0]
    num_patches = _num_patches("mixer", input_shape, patch)
    body: list[nn.Module] = [PatchEmbed(c, dim, patch)]
    for _ in range(depth):
        body += [
            PreNormResidual(dim, _TokenMixing(num_patches, token_hidden)),
            PreNormResidual(dim, FeedForward(dim, channel_hidden)),
        ]
    body += [nn.LayerNorm(dim), Lambda(mean_tokens)]
    return Classifier("mixer", nn.Sequential(*body), nn.Linear(dim, num_classes))
