"""Loaders for datasets the user downloads once into a local root directory (no network here).

- ``mnist``: LeCun et al. 1998, IDX files (``train-images-idx3-ubyte`` ..., optionally ``.gz``).
- ``cifar10`` / ``cifar100``: Krizhevsky 2009, "python version" pickle batches.
- ``resisc45``: NWPU-RESISC45 (Cheng, Han & Lu, Proc. IEEE 2017), one folder of JPEGs per class;
  it has no official split, so a seeded stratified split holds out ``test_fraction`` (default 0.2).
- ``eurosat``: EuroSAT RGB (Helber et al., IEEE JSTARS 2019), same layout and split rule.
- ``cub200``: CUB-200-2011 (Wah et al. 2011), with its official train/test split.

Folder images are converted to RGB and resized to ``image_size`` (default 32, as in the lab's
EXP-01) with Pillow's bilinear filter, which widens its support when shrinking (antialiased).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from axionlab.checks import check_count, check_fraction
from axionlab.data.core import DATASETS, Dataset, check_memory, make_dataset, stratified_split
from axionlab.data.readers import (
    check_labels,
    check_relative_path,
    read_cifar_batch,
    read_idx,
    read_image,
    read_table,
)
from axionlab.errors import ConfigError, DataError
from axionlab.repro import numpy_rng

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
CUB_CLASSES = 200


def _require_root(name: str, root: Path | None, expected: str) -> Path:
    if root is None:
        raise DataError(
            f"dataset '{name}' needs a root directory, none was given; expected {expected}"
        )
    if not root.is_dir():
        raise DataError(
            f"dataset '{name}' needs a root directory, {root} does not exist; expected {expected}"
        )
    return root


def _first_dir_with(root: Path, candidates: Sequence[str], marker: str) -> Path | None:
    for sub in candidates:
        path = root / sub if sub else root
        if (path / marker).exists():
            return path
    return None


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 images ``(N, H, W)`` or ``(N, H, W, C)`` to ``size × size``, Pillow bilinear."""
    from PIL import Image

    if images.shape[1:3] == (size, size):
        return images
    out = [
        np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BILINEAR))
        for img in images
    ]
    return np.stack(out) if out else images[:, :size, :size]


def _check_image_size(size: int | None, n_images: int, channels: int) -> None:
    if size is not None:
        check_count("image_size", size, minimum=1, error=ConfigError)
        # uint8 pixels, their float32 copy and the standardised result
        check_memory("image_size", n_images * channels * size * size * (1 + 4 + 4))


def _to_chw(images: np.ndarray) -> np.ndarray:
    return images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)


# --- MNIST (IDX) ----------------------------------------------------------------------------


def _find_idx(root: Path, stem: str) -> Path:
    for path in (root / stem, root / f"{stem}.gz"):
        if path.is_file():
            return path
    raise DataError(f"dataset 'mnist': file {root / stem} (or .gz) not found in the root directory")


@DATASETS.register("mnist")
def load_mnist(
    *, root: Path | None = None, seed: int = 0, image_size: int | None = None
) -> Dataset:
    """MNIST from its four IDX files in ``root`` as ``(1, 28, 28)`` images (or ``image_size``)."""
    root = _require_root(
        "mnist",
        root,
        "train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (optionally .gz)",
    )
    _check_image_size(image_size, 70000, 1)
    parts: list[np.ndarray] = []
    for split in ("train", "t10k"):
        images_path = _find_idx(root, f"{split}-images-idx3-ubyte")
        images = read_idx(images_path, 3)
        labels_path = _find_idx(root, f"{split}-labels-idx1-ubyte")
        labels = check_labels(labels_path, read_idx(labels_path, 1), 10)
        if len(images) != len(labels):
            raise DataError(
                f"dataset 'mnist': {images_path} holds {len(images)} images but {labels_path} "
                f"{len(labels)} labels; re-download them"
            )
        if image_size is not None:
            images = resize_images(images, image_size)
        parts += [_to_chw(images), labels]
    x_train, y_train, x_test, y_test = parts
    return make_dataset("mnist", x_train, y_train, x_test, y_test, num_classes=10)


# --- CIFAR (python pickles) -----------------------------------------------------------------


def _load_cifar(
    name: str,
    root: Path | None,
    folder: str,
    train: Sequence[str],
    test: str,
    label_key: bytes,
    num_classes: int,
    image_size: int | None,
) -> Dataset:
    _check_image_size(image_size, 60000, 3)
    listed = "data_batch_1..5" if len(train) > 1 else train[0]
    expected = f"{folder}/{{{listed},{test}}}"
    root = _require_root(name, root, f"{expected} (the python pickle version)")
    base = _first_dir_with(root, [folder, ""], test)
    if base is None:
        raise DataError(f"dataset '{name}': {root / folder / test} not found; expected {expected}")
    parts = [read_cifar_batch(base / f, label_key, num_classes) for f in train]
    x_test, y_test = read_cifar_batch(base / test, label_key, num_classes)
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    if image_size is not None:
        x_train, x_test = (
            resize_images(x.transpose(0, 2, 3, 1), image_size).transpose(0, 3, 1, 2)
            for x in (x_train, x_test)
        )
    return make_dataset(name, x_train, y_train, x_test, y_test, num_classes=num_classes)


@DATASETS.register("cifar10")
def load_cifar10(
    *, root: Path | None = None, seed: int = 0, image_size: int | None = None
) -> Dataset:
    """CIFAR-10 (50000/10000, ``(3, 32, 32)``) from ``root/cifar-10-batches-py``."""
    batches = [f"data_batch_{i}" for i in range(1, 6)]
    return _load_cifar(
        "cifar10", root, "cifar-10-batches-py", batches, "test_batch", b"labels", 10, image_size
    )


@DATASETS.register("cifar100")
def load_cifar100(
    *, root: Path | None = None, seed: int = 0, image_size: int | None = None
) -> Dataset:
    """CIFAR-100 with fine labels (50000/10000, ``(3, 32, 32)``) from ``root/cifar-100-python``."""
    return _load_cifar(
        "cifar100", root, "cifar-100-python", ["train"], "test", b"fine_labels", 100, image_size
    )


# --- image folders --------------------------------------------------------------------------


def _list_dir(path: Path) -> list[Path]:
    try:
        return list(path.iterdir())
    except OSError as exc:
        raise DataError(
            f"cannot list {path}: {exc.strerror or exc}; check its permissions"
        ) from None


def _load_image_folder(
    name: str,
    root: Path | None,
    subdirs: Sequence[str],
    seed: int,
    image_size: int,
    test_fraction: float,
) -> Dataset:
    check_count("image_size", image_size, minimum=1, error=ConfigError)
    check_fraction("test_fraction", test_fraction, error=ConfigError)
    root = _require_root(name, root, "one sub-directory of images per class, <root>/<class>/*.jpg")
    for sub in subdirs:
        base = root / sub if sub else root
        class_dirs = sorted(p for p in _list_dir(base) if p.is_dir()) if base.is_dir() else []
        files = [
            sorted(f for f in _list_dir(d) if f.suffix.lower() in IMAGE_SUFFIXES)
            for d in class_dirs
        ]
        if class_dirs and all(files):
            break
    else:
        raise DataError(
            f"dataset '{name}': no class folders with images under {root}; "
            "expected <root>/<class>/*.jpg"
        )
    _check_image_size(image_size, sum(map(len, files)), 3)
    labels = np.concatenate([np.full(len(f), c, dtype=np.int64) for c, f in enumerate(files)])
    images = np.stack([read_image(p, image_size) for group in files for p in group])
    train, test = stratified_split(labels, test_fraction, numpy_rng(seed, "data", name, "split"))
    return make_dataset(
        name, images[train], labels[train], images[test], labels[test], num_classes=len(class_dirs)
    )


@DATASETS.register("resisc45")
def load_resisc45(
    *, root: Path | None = None, seed: int = 0, image_size: int = 32, test_fraction: float = 0.2
) -> Dataset:
    """NWPU-RESISC45 (45 classes × 700 RGB images) with a seeded stratified split (20% test)."""
    return _load_image_folder(
        "resisc45", root, ["", "NWPU-RESISC45"], seed, image_size, test_fraction
    )


@DATASETS.register("eurosat")
def load_eurosat(
    *, root: Path | None = None, seed: int = 0, image_size: int = 32, test_fraction: float = 0.2
) -> Dataset:
    """EuroSAT RGB (10 classes, 27000 64×64 images) with a seeded stratified split (20% test)."""
    return _load_image_folder(
        "eurosat", root, ["", "EuroSAT_RGB", "EuroSAT", "2750"], seed, image_size, test_fraction
    )


def _cub_labels(path: Path, rows: Sequence[tuple[str, int]]) -> np.ndarray:
    for value, number in rows:
        if not (value.isascii() and value.isdigit() and 1 <= int(value) <= CUB_CLASSES):
            raise DataError(
                f"{path}, line {number}: class {value[:40]!r} is not an integer in "
                f"[1, {CUB_CLASSES}]; re-download the dataset"
            )
    return np.array([int(v) - 1 for v, _ in rows], dtype=np.int64)  # 1-based on disk


def _cub_split(path: Path, rows: Sequence[tuple[str, int]]) -> np.ndarray:
    for value, number in rows:
        if value not in ("0", "1"):
            raise DataError(
                f"{path}, line {number}: expected 1 (train) or 0 (test), got {value[:40]!r}; "
                "re-download the dataset"
            )
    return np.array([v == "1" for v, _ in rows])


@DATASETS.register("cub200")
def load_cub200(*, root: Path | None = None, seed: int = 0, image_size: int = 32) -> Dataset:
    """CUB-200-2011 (200 bird species, 5994/5794) with its official ``train_test_split.txt``."""
    check_count("image_size", image_size, minimum=1, error=ConfigError)
    expected = "CUB_200_2011/{images.txt,image_class_labels.txt,train_test_split.txt,images/}"
    root = _require_root("cub200", root, expected)
    base = _first_dir_with(root, ["CUB_200_2011", ""], "images.txt")
    if base is None:
        raise DataError(f"dataset 'cub200': images.txt not found under {root}; expected {expected}")
    paths = read_table(base / "images.txt")
    labels = read_table(base / "image_class_labels.txt")
    is_train = read_table(base / "train_test_split.txt")
    ids = sorted(paths)
    for other, table in (("image_class_labels.txt", labels), ("train_test_split.txt", is_train)):
        if set(ids) != set(table):
            odd = min(set(ids) ^ set(table))
            where = "images.txt" if odd in paths else other
            raise DataError(
                f"dataset 'cub200': image ids in {base} disagree between images.txt and {other} "
                f"(id {odd} is only in {where}); re-download the dataset"
            )
    y = _cub_labels(base / "image_class_labels.txt", [labels[i] for i in ids])
    train_mask = _cub_split(base / "train_test_split.txt", [is_train[i] for i in ids])
    _check_image_size(image_size, len(ids), 3)
    images = base / "images"
    files = [
        check_relative_path(base / "images.txt", paths[i][1], paths[i][0], images) for i in ids
    ]
    x = np.stack([read_image(f, image_size) for f in files])
    return make_dataset(
        "cub200",
        x[train_mask],
        y[train_mask],
        x[~train_mask],
        y[~train_mask],
        num_classes=int(y.max()) + 1,
    )
