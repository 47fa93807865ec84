"""Recurrent model for ``(C, L)`` sequences such as MNIST-1D.

GRU: Cho et al., "Learning phrase representations using RNN encoder-decoder" (EMNLP 2014). The
sequence is read along ``L`` with ``C`` features per step; the last hidden state of the top layer
feeds the head (Greydanus & Kobak 2024 use a GRU baseline on MNIST-1D).
"""

from __future__ import annotations

from torch import Tensor, nn

from axionlab.errors import InputError
from axionlab.models.core import Classifier


class _LastHidden(nn.Module):
    def __init__(self, features: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.gru = nn.GRU(features, hidden, layers, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        _, h = self.gru(x.transpose(1, 2))  # (layers, N, hidden)
        return h[-1]  # type: ignore[no-any-return]


def gru(
    input_shape: tuple[int, ...], num_classes: int, *, hidden: int = 64, layers: int = 1
) -> Classifier:
    """GRU classifier on ``(C, L)`` inputs."""
    if len(input_shape) != 2:
        raise InputError(f"gru needs sequence input_shape (C, L), got {input_shape}")
    return Classifier(
        "gru", _LastHidden(input_shape[0], hidden, layers), nn.Linear(hidden, num_classes)
    )
