import numpy as np
import pytest
import torch

from axionlab.continual import ReservoirBuffer
from axionlab.errors import InputError


def test_fills_in_order_then_keeps_capacity() -> None:
    buffer = ReservoirBuffer(4)
    x, y = torch.arange(3.0).unsqueeze(1), torch.arange(3)
    buffer.add(x, y, generator=torch.Generator().manual_seed(0))
    assert len(buffer) == 3
    assert buffer.data()[1].tolist() == [0, 1, 2]
    buffer.add(x + 3, y + 3, generator=torch.Generator().manual_seed(0))
    bx, by = buffer.data()
    assert len(buffer) == 4 and buffer.seen == 6
    assert torch.equal(bx.squeeze(1).long(), by)  # inputs stay paired with their labels
    assert len(set(by.tolist())) == 4


def test_inclusion_probability_is_k_over_n() -> None:
    """Algorithm R is unbiased: after n items each is held with probability k/n."""
    k, n, runs = 5, 20, 3000
    counts = np.zeros(n)
    gen = torch.Generator().manual_seed(1)
    for _ in range(runs):
        buffer = ReservoirBuffer(k)
        for start, stop in ((0, 7), (7, 13), (13, 20)):  # uneven batches, first one overfills
            buffer.add(torch.zeros(stop - start, 1), torch.arange(start, stop), generator=gen)
        counts[buffer.data()[1].numpy()] += 1
    freq = counts / runs
    sigma = np.sqrt(k / n * (1 - k / n) / runs)
    assert np.all(np.abs(freq - k / n) < 4.5 * sigma)
    assert counts.sum() == k * runs


def test_capacity_validation() -> None:
    with pytest.raises(InputError, match="capacity must be positive"):
        ReservoirBuffer(0)


def test_per_position_targets_stay_with_their_example():
    buffer = ReservoirBuffer(3)
    x = torch.arange(20).reshape(5, 4)
    y = x + 100  # each example's targets are recognisable from its inputs
    buffer.add(x, y, generator=torch.Generator().manual_seed(0))
    held_x, held_y = buffer.data()
    assert held_y.shape == (3, 4) and torch.equal(held_y, held_x + 100)
