"""The :class:`Dataset` record, the dataset registry and the helpers every loader shares.

A dataset is held in memory as four tensors. Inputs are float32 and standardised with the
per-channel mean and standard deviation of the *train* split (the test split reuses them, so no
test statistics leak into training); labels are int64.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from axionlab.errors import ConfigError, InputError, did_you_mean
from axionlab.registry import Registry


@dataclass(frozen=True)
class Dataset:
    """An in-memory classification dataset with a fixed train/test split.

    Attributes
    ----------
    name
        Registry name, with a suffix such as ``"[0,1]"`` for class subsets.
    x_train, x_test
        Float32 inputs of shape ``(N, *input_shape)``, standardised with train statistics.
    y_train, y_test
        Int64 labels of shape ``(N,)`` with values in ``range(num_classes)``.
    num_classes
        Size of the full label space (unchanged by :func:`~axionlab.data.splits.class_subset`).
    input_shape
        Shape of one example, e.g. ``(1, 8, 8)`` for digits or ``(1, 40)`` for MNIST-1D.
    classes
        Sorted label values present in the data.
    """

    name: str
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    num_classes: int
    input_shape: tuple[int, ...]
    classes: tuple[int, ...]

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, train={len(self.y_train)}, test={len(self.y_test)}, "
            f"input_shape={self.input_shape}, num_classes={self.num_classes}, "
            f"classes={len(self.classes)})"
        )


Loader = Callable[..., Dataset]
"""A loader is called as ``loader(root=Path | None, seed=int, **options)``."""

DATASETS: Registry[Loader] = Registry[Loader]("dataset")


def load_dataset(
    name: str, *, root: str | Path | None = None, seed: int = 0, **options: Any
) -> Dataset:
    """Load the registered dataset ``name``.

    Parameters
    ----------
    name
        A name in :data:`DATASETS` (``digits``, ``mnist1d``, ``synthetic``, ``mnist``, ``cifar10``,
        ``cifar100``, ``resisc45``, ``cub200``, ``eurosat``).
    root
        Directory holding the files of a real (downloaded) dataset; unused by generated ones.
    seed
        Seed of the ``"data"`` stream: drives seeded splits and synthetic sampling.
    **options
        Loader-specific options (``test_fraction``, ``image_size``, ...); unknown ones are errors.

    Raises
    ------
    UnknownNameError
        ``name`` is not registered.
    DataError
        ``root`` is missing or a file in it is malformed.
    ConfigError
        An option is unknown or out of range.
    """
    loader = DATASETS.get(name)
    accepted = [p for p in inspect.signature(loader).parameters if p not in ("root", "seed")]
    for key in options:
        if key not in accepted:
            raise ConfigError(
                f"dataset '{name}' has no option '{key}'.{did_you_mean(key, accepted)} "
                f"Options: {', '.join(accepted) or 'none'}"
            )
    return loader(root=None if root is None else Path(root), seed=seed, **options)


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX, or the value is unknown
        return None


def check_memory(name: str, n_bytes: int) -> None:
    """Raise :class:`ConfigError` when building the dataset needs more than the machine's memory.

    ``n_bytes`` is the caller's estimate of its peak (raw arrays plus the float32 copies
    :func:`~axionlab.data.core.make_dataset` makes), so an absurd size fails before allocating.
    """
    total = _physical_memory()
    if total is not None and n_bytes > total:
        raise ConfigError(
            f"{name}: the dataset would need about {n_bytes / 2**30:.1f} GiB, more than this "
            f"machine's {total / 2**30:.1f} GiB of memory; lower it"
        )


def make_dataset(
    name: str,
    x_train: np.ndarray | Tensor,
    y_train: np.ndarray | Tensor,
    x_test: np.ndarray | Tensor,
    y_test: np.ndarray | Tensor,
    num_classes: int,
) -> Dataset:
    """Build a :class:`Dataset` from raw arrays, standardising with the train split's statistics.

    The channel axis is axis 1 of ``x`` (per-example axis 0) when examples have two or more axes;
    flat feature vectors are standardised per feature.

    Raises
    ------
    InputError
        Shapes or lengths disagree, the train split is empty, or a label lies outside
        ``[0, num_classes)`` (loaders check their files first and name them).
    """
    xtr = torch.as_tensor(np.asarray(x_train, dtype=np.float32))
    xte = torch.as_tensor(np.asarray(x_test, dtype=np.float32))
    ytr = torch.as_tensor(np.asarray(y_train, dtype=np.int64))
    yte = torch.as_tensor(np.asarray(y_test, dtype=np.int64))
    if xtr.shape[1:] != xte.shape[1:]:
        raise InputError(
            f"train and test examples differ in shape: {xtr.shape[1:]} vs {xte.shape[1:]}"
        )
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        raise InputError(f"inputs and labels differ in length for dataset '{name}'")
    if len(ytr) == 0:
        raise InputError(f"dataset '{name}' has no training examples")
    labels = torch.cat([ytr, yte])
    if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        raise InputError(
            f"dataset '{name}' has labels in [{int(labels.min())}, {int(labels.max())}], "
            f"outside the class range [0, {num_classes})"
        )
    dims = [0] if xtr.ndim == 2 else [0, *range(2, xtr.ndim)]
    mean = xtr.mean(dim=dims, keepdim=True)
    # Constant channels (e.g. always-blank digit pixels) keep their zero-centred value.
    std = xtr.std(dim=dims, keepdim=True).clamp_min(1e-6)
    classes = tuple(int(c) for c in torch.unique(labels).tolist())
    return Dataset(
        name=name,
        x_train=((xtr - mean) / std).contiguous(),
        y_train=ytr,
        x_test=((xte - mean) / std).contiguous(),
        y_test=yte,
        num_classes=num_classes,
        input_shape=tuple(xtr.shape[1:]),
        classes=classes,
    )


def stratified_split(
    labels: np.ndarray, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)`` with ``round(test_fraction * n_c)`` test examples per class.

    Every class with at least two examples keeps one on each side.
    """
    train: list[np.ndarray] = []
    test: list[np.ndarray] = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = round(test_fraction * len(idx))
        if len(idx) >= 2:
            n_test = min(max(n_test, 1), len(idx) - 1)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
