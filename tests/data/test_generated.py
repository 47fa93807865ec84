import numpy as np
import pytest
import torch

from axionlab.data import DATASETS, load_dataset
from axionlab.errors import ConfigError, UnknownNameError


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0)


def test_digits_contract(digits):
    assert (len(digits.y_train), len(digits.y_test)) == (1347, 450)
    assert digits.x_train.shape == (1347, 1, 8, 8) and digits.x_train.dtype == torch.float32
    assert digits.y_train.dtype == torch.int64
    assert digits.input_shape == (1, 8, 8) and digits.num_classes == 10
    assert digits.classes == tuple(range(10))
    # standardised with train statistics (one channel)
    assert abs(digits.x_train.mean().item()) < 1e-4
    assert digits.x_train.std().item() == pytest.approx(1.0, abs=1e-3)


def test_digits_split_is_stratified_and_seeded(digits):
    per_class = torch.bincount(digits.y_test, minlength=10)
    totals = per_class + torch.bincount(digits.y_train, minlength=10)
    assert torch.all((per_class.float() - 0.25 * totals.float()).abs() <= 1)
    again = load_dataset("digits", seed=0)
    other = load_dataset("digits", seed=1)
    assert torch.equal(again.x_test, digits.x_test)
    assert not torch.equal(other.x_test, digits.x_test)
    assert len(load_dataset("digits", test_fraction=0.5).y_test) == pytest.approx(898, abs=5)


def test_option_and_name_errors():
    with pytest.raises(ConfigError, match=r"test_fraction must be in \(0, 1\), got 1.5"):
        load_dataset("digits", test_fraction=1.5)
    with pytest.raises(
        ConfigError, match=r"has no option 'test_fracton'\. Did you mean 'test_fraction'"
    ):
        load_dataset("digits", test_fracton=0.2)
    with pytest.raises(UnknownNameError, match=r"Unknown dataset 'digit'\. Did you mean 'digits'"):
        load_dataset("digit")
    assert {
        "digits",
        "mnist1d",
        "synthetic",
        "mnist",
        "cifar10",
        "cifar100",
        "resisc45",
        "cub200",
        "eurosat",
    } <= set(DATASETS.names())


def test_mnist1d_canonical_and_leaves_global_rng_alone():
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    ds = load_dataset("mnist1d")
    assert np.array_equal(np.random.get_state()[1], state)  # noqa: NPY002
    assert (len(ds.y_train), len(ds.y_test)) == (4000, 1000)
    assert ds.input_shape == (1, 40) and ds.classes == tuple(range(10))
    assert torch.bincount(ds.y_train).min() > 300  # roughly balanced


def _nearest_mean_accuracy(ds):
    means = torch.stack([ds.x_train[ds.y_train == c].mean(0) for c in ds.classes])
    pred = torch.cdist(ds.x_test, means).argmin(1)
    return (pred == ds.y_test).float().mean().item()


def test_synthetic_separation_controls_difficulty():
    easy = load_dataset("synthetic", separation=8.0, num_classes=4, dim=10, n_train=400, n_test=400)
    hard = load_dataset("synthetic", separation=0.5, num_classes=4, dim=10, n_train=400, n_test=400)
    assert easy.input_shape == (10,) and easy.num_classes == 4 and len(easy.y_test) == 400
    assert _nearest_mean_accuracy(easy) > 0.95
    assert _nearest_mean_accuracy(hard) < 0.6
    assert torch.equal(
        easy.x_train,
        load_dataset(
            "synthetic", separation=8.0, num_classes=4, dim=10, n_train=400, n_test=400
        ).x_train,
    )
    with pytest.raises(ConfigError, match="num_classes must be an integer >= 2, got 1"):
        load_dataset("synthetic", num_classes=1)
