"""A fixed-size reservoir of examples (Vitter 1985, "Random sampling with a reservoir", alg. R)."""

from __future__ import annotations

import torch
from torch import Tensor

from axionlab.errors import InputError


class ReservoirBuffer:
    """Uniform sample of at most ``capacity`` examples from everything passed to :meth:`add`.

    After ``n`` examples have been offered, each of them is held with probability
    ``min(1, capacity / n)``, whatever the order they came in (Algorithm R: example number ``i``,
    counted from 0, replaces slot ``j ~ U{0..i}`` when ``j < capacity``).
    """

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise InputError(f"capacity must be positive, got {capacity}")
        self.capacity = capacity
        self.seen = 0
        self._x: Tensor | None = None
        self._y: Tensor | None = None

    def __len__(self) -> int:
        return min(self.seen, self.capacity)

    def add(self, x: Tensor, y: Tensor, *, generator: torch.Generator) -> None:
        """Offer the examples ``(x, y)`` in order, drawing replacement slots from ``generator``.

        ``y`` holds one target per example (class labels ``(N,)``) or per position (``(N, T)``,
        next-token targets); each example keeps its own targets."""
        if x.shape[0] != y.shape[0]:
            raise InputError(f"x has {x.shape[0]} examples but y has {y.shape[0]}")
        if self._x is None or self._y is None:
            self._x = x.new_empty((self.capacity, *x.shape[1:]))
            self._y = y.new_empty((self.capacity, *y.shape[1:]))
        fill = max(0, min(self.capacity - self.seen, x.shape[0]))
        self._x[self.seen : self.seen + fill] = x[:fill]
        self._y[self.seen : self.seen + fill] = y[:fill]
        rest = torch.arange(fill, x.shape[0])
        # slot j_i ~ U{0..i} for stream position i, drawn at once; later items overwrite earlier
        position = self.seen + rest
        slot = torch.rand(len(rest), generator=generator, dtype=torch.float64) * (position + 1)
        slot = slot.long()
        for i, j in zip(
            rest[slot < self.capacity].tolist(), slot[slot < self.capacity].tolist(), strict=True
        ):
            self._x[j] = x[i]
            self._y[j] = y[i]
        self.seen += x.shape[0]

    def data(self) -> tuple[Tensor, Tensor]:
        """The held examples ``(x, y)`` (empty tensors before the first :meth:`add`)."""
        if self._x is None or self._y is None:
            return torch.empty(0), torch.empty(0, dtype=torch.long)
        return self._x[: len(self)], self._y[: len(self)]
