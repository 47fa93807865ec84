"""Plain convolutional networks: a small CNN, VGG with BatchNorm and a 1-D CNN for sequences.

VGG: Simonyan & Zisserman, "Very deep convolutional networks" (ICLR 2015), in the CIFAR form
with BatchNorm after every convolution and a single linear classifier on globally pooled features.
The same builder handles ``(C, L)`` sequences with 1-D convolutions (the 1-D CNN used on
MNIST-1D by Greydanus & Kobak 2024).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from axionlab.errors import InputError
from axionlab.models.blocks import conv_bn, global_pool
from axionlab.models.core import Classifier

VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def convnet(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    layers: Sequence[int | str] = (32, "M", 64, "M"),
    kernel: int = 3,
    batch_norm: bool = False,
    family: str = "cnn",
) -> Classifier:
    """Convolutions (``int`` = output channels) and 2× max-pools (``"M"``), global pool, head.

    The convolution dimension (1-D or 2-D) follows ``input_shape``: ``(C, L)`` or ``(C, H, W)``.
    """
    dims = len(input_shape) - 1
    if dims not in (1, 2):
        raise InputError(f"{family} models need input_shape (C, L) or (C, H, W), got {input_shape}")
    channels = input_shape[0]
    body: list[nn.Module] = []
    for item in layers:
        if item == "M":
            body.append(nn.MaxPool1d(2) if dims == 1 else nn.MaxPool2d(2))
        else:
            body.append(conv_bn(channels, int(item), kernel, norm=batch_norm, dims=dims))
            channels = int(item)
    body.append(global_pool(dims))
    return Classifier(family, nn.Sequential(*body), nn.Linear(channels, num_classes))
