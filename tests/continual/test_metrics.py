import numpy as np
import pytest

from axionlab.continual.metrics import (
    aurc,
    average_accuracy,
    backward_transfer,
    forgetting,
    forward_transfer,
    retention,
)
from axionlab.errors import InputError

R = np.array([[0.9, 0.1, 0.2], [0.5, 0.8, 0.3], [0.4, 0.6, 0.7]])


def test_matrix_metrics_reference_values() -> None:
    assert average_accuracy(R) == pytest.approx((0.4 + 0.6 + 0.7) / 3)
    assert backward_transfer(R) == pytest.approx(((0.4 - 0.9) + (0.6 - 0.8)) / 2)
    assert forward_transfer(R, [0.1, 0.1, 0.2]) == pytest.approx(((0.1 - 0.1) + (0.3 - 0.2)) / 2)
    assert forgetting(R) == pytest.approx(((0.9 - 0.4) + (0.8 - 0.6)) / 2)


def test_forgetting_uses_the_best_earlier_accuracy_not_the_diagonal() -> None:
    r = np.array([[0.5, 0.0, 0.0], [0.9, 0.8, 0.0], [0.4, 0.8, 0.7]])
    assert forgetting(r) == pytest.approx(((0.9 - 0.4) + 0.0) / 2)
    assert backward_transfer(r) == pytest.approx(((0.4 - 0.5) + 0.0) / 2)
    assert np.isnan(forgetting(np.array([[0.7]])))


def test_upper_triangle_nan_is_ignored() -> None:
    r = np.where(np.triu(np.ones((3, 3)), 1) > 0, np.nan, R)
    assert backward_transfer(r) == backward_transfer(R)
    assert forgetting(r) == forgetting(R)


def test_retention_and_aurc_rules() -> None:
    steps = [0, 10, 25, 50, 100, 250, 500, 1000, 5000]
    acc = np.array([0.8, 0.8, 0.6, 0.4, 0.4, 0.2, 0.2, 0.1, 0.0])
    ret = retention(acc)
    np.testing.assert_allclose(ret[:3], [1.0, 1.0, 0.75])
    assert aurc(steps, ret) == pytest.approx(np.mean(ret[:7]))  # lab default: mean over 0–500
    linear = 1.0 - np.array(steps[:7]) / 1000.0
    assert aurc(steps[:7], linear, rule="trapezoid") == pytest.approx(0.75)  # exact for lines
    assert aurc(steps, np.ones(9), rule="trapezoid") == pytest.approx(1.0)
    assert aurc(steps, ret, max_step=1000) == pytest.approx(np.mean(ret[:8]))


def test_metric_errors() -> None:
    with pytest.raises(InputError, match="must be square"):
        average_accuracy(np.zeros((2, 3)))
    with pytest.raises(InputError, match="baseline must have shape"):
        forward_transfer(R, [0.1, 0.2])
    with pytest.raises(InputError, match="positive accuracy at step 0"):
        retention([0.0, 0.5])
    with pytest.raises(InputError, match="strictly increasing"):
        aurc([0, 10, 5], [1.0, 0.9, 0.8])
    with pytest.raises(InputError, match="rule must be"):
        aurc([0, 10], [1.0, 0.9], rule="simpson")  # type: ignore[arg-type]


def test_retention_outcome_is_nan_with_a_reason_when_undefined() -> None:
    from axionlab.continual.metrics import retention_outcome

    steps = [0, 10, 20]
    ok = retention_outcome(steps, [0.8, 0.4, 0.2], max_step=20)
    assert ok.defined and ok.aurc == pytest.approx((1.0 + 0.5 + 0.25) / 3)
    zero = retention_outcome(steps, [0.0, 0.1, 0.2], max_step=20)
    assert zero.reason == "zero_initial_accuracy" and np.isnan(zero.aurc)
    assert np.isnan(zero.retention).all()
    diverged = retention_outcome(steps, [0.8, np.nan, np.nan], max_step=20)
    assert diverged.reason == "diverged" and np.isnan(diverged.aurc)
    with pytest.raises(InputError, match="strictly increasing"):
        retention_outcome([0, 20, 10], [0.0, 0.1, 0.2])  # bad arguments still raise
