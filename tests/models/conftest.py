import pytest
import torch
from sklearn.datasets import load_digits


@pytest.fixture(scope="session")
def digits_batch():
    """64 standardised digits as ``(64, 1, 8, 8)`` with labels, without the data module."""
    bunch = load_digits()
    x = torch.tensor(bunch.images[:64], dtype=torch.float32)[:, None]
    return (x - x.mean()) / x.std(), torch.tensor(bunch.target[:64])
