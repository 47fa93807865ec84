import math

import pytest
import torch

from axionlab.capacity import (
    ArchSpec,
    FitConfig,
    capacity_by_bisection,
    capacity_family,
    cross_partition_capacity,
    cross_partition_task,
    memorization_capacity,
    readout_capacity,
)
from axionlab.errors import InputError


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_bilinear_and_parity_labels_cross_the_cut():
    X, y = cross_partition_task(64, 6, "parity", generator=_gen())
    assert set(X.unique().tolist()) == {-1.0, 1.0}
    odd = lambda h: (h < 0).sum(1) % 2  # noqa: E731
    assert torch.equal(y, odd(X[:, :3]) ^ odd(X[:, 3:]))
    X, y = cross_partition_task(200, 8, "bilinear", generator=_gen(), rank=2)
    assert X.shape == (200, 8) and 0.3 < y.float().mean() < 0.7
    _, y2 = cross_partition_task(200, 8, "bilinear", generator=_gen(), rank=2)
    assert torch.equal(y, y2)


def test_table_needs_both_halves():
    X, y = cross_partition_task(64, (1, 2, 4), "table", generator=_gen(), pool=8)
    a, b = X[..., :2].flatten(1), X[..., 2:].flatten(1)
    assert a.unique(dim=0).shape[0] == 8 and b.unique(dim=0).shape[0] == 8
    assert torch.cat([a, b], 1).unique(dim=0).shape[0] == 64
    # A half alone does not determine the label: some A-half occurs with both labels.
    mixed = [y[(a == row).all(1)].unique().numel() == 2 for row in a.unique(dim=0)]
    assert all(mixed)


def test_task_validation():
    with pytest.raises(InputError, match="binary"):
        cross_partition_task(4, 4, "parity", generator=_gen(), n_classes=3)
    with pytest.raises(InputError, match="pool"):
        cross_partition_task(10, 4, "table", generator=_gen(), pool=3)
    with pytest.raises(InputError, match="kind"):
        cross_partition_task(4, 4, "xor", generator=_gen())  # type: ignore[arg-type]


def test_bisection_recovers_a_known_capacity():
    truth = {0: 17, 1: 20, 2: 23}
    result = capacity_by_bisection(
        lambda p, seed: 1.0 if p <= truth[seed] else 0.9,
        seeds=[0, 1, 2],
        p_min=1,
        p_max=64,
        n_classes=4,
    )
    assert result.samples == (17, 20, 23) and result.mean == 20
    assert result.bits == 40 and result.bits_ci[0] < 40 < result.bits_ci[1]
    assert result.evaluations <= 3 * math.ceil(math.log2(65))
    assert result.censored == (False,) * 3
    edge = capacity_by_bisection(lambda p, s: 1.0, seeds=[0], p_min=1, p_max=8, n_classes=2)
    assert edge.samples == (8,) and edge.censored == (True,)
    with pytest.raises(InputError, match="p_min"):
        capacity_by_bisection(lambda p, s: 1.0, seeds=[0], p_min=5, p_max=4, n_classes=2)


def test_frozen_readout_stores_two_bits_per_parameter():
    spec = capacity_family("mlp", 16, frozen_widths=(16,))[-1]
    result = readout_capacity(
        spec, seeds=range(16), p_max=64, fit=FitConfig(max_steps=150, lr=0.05)
    )
    assert result.trainable_params == 17
    assert 1.8 < result.exact_bits_per_param < 2.15
    assert result.exact.ci_low < 2 * 17 < result.exact.ci_high + 1
    assert result.trained_bits_per_param <= result.exact_bits_per_param + 0.1
    assert result.trainability_gap == pytest.approx(result.exact.bits - result.trained.bits)
    with pytest.raises(InputError, match="all hidden layers frozen"):
        memorization_capacity(capacity_family("mlp", 16)[0], seeds=[0], p_max=8, exact=True)


def test_cross_partition_capacity_of_a_linear_model_is_below_its_memorization():
    linear = ArchSpec("linear", "mlp", "test", (8,), ())
    fit = FitConfig(max_steps=150, lr=0.1)
    memo = memorization_capacity(linear, seeds=range(3), p_max=32, fit=fit)
    cross = cross_partition_capacity(linear, "table", seeds=range(3), p_max=32, fit=fit)
    again = cross_partition_capacity(linear, "table", seeds=range(3), p_max=32, fit=fit)
    assert cross == again
    assert cross.mean < memo.mean
