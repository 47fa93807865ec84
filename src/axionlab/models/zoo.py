"""Registered model names: a small ladder for 8×8 digits / MNIST-1D and the lab's 19 paper models.

Each name is a preset of one builder; ``build_model(name, ..., **options)`` overrides any preset
keyword. :data:`PAPER_TARGETS` records the parameter counts the lab reported for EXP-01 (3×32×32
inputs, 50 classes); tests check every paper model is within 10% of its target.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from axionlab.models.convnet import VGG16, convnet
from axionlab.models.convnext import convnext
from axionlab.models.core import MODELS
from axionlab.models.densenet import densenet
from axionlab.models.mlp import mlp
from axionlab.models.mobile import efficientnet, mobilenet_v3, shufflenet_v2
from axionlab.models.recurrent import elman, lstm, rmlp
from axionlab.models.resnet import regnet_y, resnet, wide_resnet
from axionlab.models.sequence import gru
from axionlab.models.transformer import mlp_mixer, vit

# --- small ladder: 8×8 digits in about a second per epoch on one CPU core ----------------------
MODELS.add("mlp", mlp)
MODELS.add("cnn", convnet)
MODELS.add(
    "cnn1d",
    partial(convnet, layers=(32, "M", 64, "M", 64), kernel=5, batch_norm=True, family="cnn1d"),
)
MODELS.add("gru", gru)
MODELS.add("elman", elman)
MODELS.add("lstm", lstm)
MODELS.add("rmlp", rmlp)
MODELS.add(
    "vgg_mini",
    partial(convnet, layers=(16, 16, "M", 32, 32, "M", 64, 64), batch_norm=True, family="vgg"),
)
MODELS.add("resnet_mini", partial(resnet, layers=(1, 1, 1), widths=(16, 32, 64)))
MODELS.add("wrn_mini", partial(wide_resnet, depth=10, widen=1))
MODELS.add("densenet_mini", partial(densenet, growth=8, blocks=(3, 3, 3)))
MODELS.add(
    "mobilenet_mini",
    partial(
        mobilenet_v3,
        blocks=(
            (3, 32, 16, True, False, 1),
            (3, 64, 24, False, False, 2),
            (5, 96, 40, True, True, 2),
            (5, 160, 40, True, True, 1),
        ),
        last_width=128,
        hidden=128,
    ),
)
MODELS.add(
    "shufflenet_mini",
    partial(shufflenet_v2, repeats=(2, 2), widths=(32, 64), stem_width=16, last_width=128),
)
MODELS.add("regnet_mini", partial(regnet_y, depths=(1, 1, 1), widths=(16, 32, 64), stem_width=16))
MODELS.add(
    "efficientnet_mini",
    partial(
        efficientnet,
        stages=((1, 3, 1, 16, 1), (4, 3, 2, 24, 2), (4, 5, 2, 40, 1)),
        stem_width=16,
        last_width=128,
    ),
)
MODELS.add("convnext_mini", partial(convnext, depths=(1, 1, 1), dims=(16, 32, 64), stem_patch=1))
MODELS.add("vit_mini", partial(vit, patch=2, dim=32, depth=2, heads=2, mlp_ratio=2.0))
MODELS.add(
    "mixer_mini", partial(mlp_mixer, patch=2, dim=32, depth=2, token_hidden=32, channel_hidden=64)
)

SMALL_MODELS = (
    "mlp",
    "cnn",
    "vgg_mini",
    "resnet_mini",
    "wrn_mini",
    "densenet_mini",
    "mobilenet_mini",
    "shufflenet_mini",
    "regnet_mini",
    "efficientnet_mini",
    "convnext_mini",
    "vit_mini",
    "mixer_mini",
)
"""Models for ``(C, H, W)`` images at 8×8; ``SEQUENCE_MODELS`` take ``(C, L)`` sequences."""

SEQUENCE_MODELS = ("mlp", "cnn", "cnn1d", "gru")

# --- the lab's EXP-01 models (3×32×32, 50 classes) ------------------------------------------
MODELS.add("vit_tiny", partial(vit, patch=4, dim=128, depth=4, heads=4))
MODELS.add("vit_small", partial(vit, patch=4, dim=192, depth=7, heads=3))
MODELS.add(
    "mlp_mixer", partial(mlp_mixer, patch=4, dim=256, depth=8, token_hidden=128, channel_hidden=512)
)
MODELS.add("mobilenet_v3_s", mobilenet_v3)
MODELS.add("shufflenet_v2", shufflenet_v2)
MODELS.add("regnet_y_400mf", regnet_y)
MODELS.add("efficientnet_b0", efficientnet)
MODELS.add("densenet121", densenet)
MODELS.add("resnet18", resnet)
MODELS.add("resnet50", partial(resnet, block="bottleneck", layers=(3, 4, 6, 3)))
MODELS.add("resnet18_wide", partial(resnet, widths=(128, 256, 512, 1024)))
MODELS.add("vgg16_bn", partial(convnet, layers=VGG16, batch_norm=True, family="vgg"))
MODELS.add("convnext_tiny", convnext)
for _k in (1, 2, 4, 6, 8, 10):
    MODELS.add(f"wrn28_{_k}", partial(wide_resnet, depth=28, widen=_k))


@dataclass(frozen=True)
class PaperTarget:
    """A paper model and the parameter count (millions) the lab reported for it."""

    name: str
    family: str
    params_m: float


def wrn_parameter_count(depth: int, widen: int, num_classes: int, in_channels: int = 3) -> int:
    """Closed-form parameter count of WRN-``depth``-``widen`` (Zagoruyko & Komodakis 2016).

    Bias-free 3×3 convolutions, 1×1 projections where the width changes, two BatchNorm parameters
    per channel, and a linear head.
    """
    n = (depth - 4) // 6
    total = 9 * in_channels * 16
    cin = 16
    for w in (16 * widen, 32 * widen, 64 * widen):
        total += 2 * cin + 9 * cin * w + 2 * w + 9 * w * w + (cin * w if cin != w else 0)
        total += (n - 1) * (4 * w + 18 * w * w)
        cin = w
    return total + 2 * cin + cin * num_classes + num_classes


PAPER_INPUT_SHAPE = (3, 32, 32)
PAPER_NUM_CLASSES = 50

# WRN-28-k targets come from wrn_parameter_count(28, k, 50) (the lab only reported WRN-28-10).
PAPER_TARGETS = (
    PaperTarget("vit_tiny", "vit", 0.8),
    PaperTarget("vit_small", "vit", 3.0),
    PaperTarget("mlp_mixer", "mixer", 2.3),
    PaperTarget("mobilenet_v3_s", "mobilenet", 1.5),
    PaperTarget("shufflenet_v2", "shufflenet", 1.3),
    PaperTarget("regnet_y_400mf", "regnet", 4.3),
    PaperTarget("efficientnet_b0", "efficientnet", 4.1),
    PaperTarget("densenet121", "densenet", 7.0),
    PaperTarget("resnet18", "resnet", 11.2),
    PaperTarget("resnet50", "resnet", 23.6),
    PaperTarget("resnet18_wide", "resnet", 44.7),
    PaperTarget("vgg16_bn", "vgg", 15.0),
    PaperTarget("convnext_tiny", "convnext", 28.0),
    PaperTarget("wrn28_1", "wrn", 0.37),
    PaperTarget("wrn28_2", "wrn", 1.47),
    PaperTarget("wrn28_4", "wrn", 5.86),
    PaperTarget("wrn28_6", "wrn", 13.16),
    PaperTarget("wrn28_8", "wrn", 23.38),
    PaperTarget("wrn28_10", "wrn", 36.5),
)
