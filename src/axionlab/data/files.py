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

import gzip
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from axionlab.data.core import DATASETS, Dataset, make_dataset, stratified_split
from axionlab.data.generated import check_fraction, check_positive
from axionlab.errors import DataError
from axionlab.repro import numpy_rng

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")


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


def _to_chw(images: np.ndarray) -> np.ndarray:
    return images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)


# --- MNIST (IDX) ----------------------------------------------------------------------------


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from None
    if len(data) < 4 + 4 * ndim or data[:2] != b"\x00\x00" or data[2] != 0x08 or data[3] != ndim:
        raise DataError(f"{path} is not an unsigned-byte IDX file with {ndim} dimension(s)")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DataError(f"{path} is truncated: header says shape {shape}, found {body.size} bytes")
    return body.reshape(shape)


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
    parts: list[np.ndarray] = []
    for split in ("train", "t10k"):
        images = _read_idx(_find_idx(root, f"{split}-images-idx3-ubyte"), 3)
        labels = _read_idx(_find_idx(root, f"{split}-labels-idx1-ubyte"), 1)
        if len(images) != len(labels):
            raise DataError(f"dataset 'mnist': {split} images and labels differ in count in {root}")
        if image_size is not None:
            check_positive("image_size", image_size)
            images = resize_images(images, image_size)
        parts += [_to_chw(images), labels]
    x_train, y_train, x_test, y_test = parts
    return make_dataset("mnist", x_train, y_train, x_test, y_test, num_classes=10)


# --- CIFAR (python pickles) -----------------------------------------------------------------


def _read_cifar_batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch[label_key], dtype=np.int64)
    except FileNotFoundError:
        raise DataError(f"CIFAR batch {path} not found; is the root directory right?") from None
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
        raise DataError(
            f"{path} is not a CIFAR python batch ({type(exc).__name__}: {exc})"
        ) from None
    if len(data) != len(labels):
        raise DataError(f"{path} has {len(data)} images but {len(labels)} labels")
    return data, labels


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
    listed = "data_batch_1..5" if len(train) > 1 else train[0]
    expected = f"{folder}/{{{listed},{test}}}"
    root = _require_root(name, root, f"{expected} (the python pickle version)")
    base = _first_dir_with(root, [folder, ""], test)
    if base is None:
        raise DataError(f"dataset '{name}': {root / folder / test} not found; expected {expected}")
    parts = [_read_cifar_batch(base / f, label_key) for f in train]
    x_test, y_test = _read_cifar_batch(base / test, label_key)
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    if image_size is not None:
        check_positive("image_size", image_size)
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


def _read_image(path: Path, size: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            rgb = img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)  # (3, size, size)


def _load_image_folder(
    name: str,
    root: Path | None,
    subdirs: Sequence[str],
    seed: int,
    image_size: int,
    test_fraction: float,
) -> Dataset:
    check_positive("image_size", image_size)
    check_fraction("test_fraction", test_fraction)
    root = _require_root(name, root, "one sub-directory of images per class, <root>/<class>/*.jpg")
    for sub in subdirs:
        base = root / sub if sub else root
        class_dirs = sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
        files = [
            sorted(f for f in d.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES) for d in class_dirs
        ]
        if class_dirs and all(files):
            break
    else:
        raise DataError(
            f"dataset '{name}': no class folders with images under {root}; "
            "expected <root>/<class>/*.jpg"
        )
    labels = np.concatenate([np.full(len(f), c, dtype=np.int64) for c, f in enumerate(files)])
    images = np.stack([_read_image(p, image_size) for group in files for p in group])
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


def _read_table(path: Path) -> dict[int, str]:
    try:
        lines = path.read_text().split("\n")
        rows = [line.split(maxsplit=1) for line in lines if line.strip()]
        return {int(k): v.strip() for k, v in rows}
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot parse {path} as '<image_id> <value>' lines: {exc}") from None


@DATASETS.register("cub200")
def load_cub200(*, root: Path | None = None, seed: int = 0, image_size: int = 32) -> Dataset:
    """CUB-200-2011 (200 bird species, 5994/5794) with its official ``train_test_split.txt``."""
    check_positive("image_size", image_size)
    expected = "CUB_200_2011/{images.txt,image_class_labels.txt,train_test_split.txt,images/}"
    root = _require_root("cub200", root, expected)
    base = _first_dir_with(root, ["CUB_200_2011", ""], "images.txt")
    if base is None:
        raise DataError(f"dataset 'cub200': images.txt not found under {root}; expected {expected}")
    paths = _read_table(base / "images.txt")
    labels = _read_table(base / "image_class_labels.txt")
    is_train = _read_table(base / "train_test_split.txt")
    ids = sorted(paths)
    if set(ids) != set(labels) or set(ids) != set(is_train):
        raise DataError(
            f"dataset 'cub200': image ids in {base} disagree between images.txt, "
            "image_class_labels.txt and train_test_split.txt"
        )
    y = np.array([int(labels[i]) - 1 for i in ids], dtype=np.int64)  # 1-based on disk
    train_mask = np.array([is_train[i] == "1" for i in ids])
    x = np.stack([_read_image(base / "images" / paths[i], image_size) for i in ids])
    return make_dataset(
        "cub200",
        x[train_mask],
        y[train_mask],
        x[~train_mask],
        y[~train_mask],
        num_classes=int(y.max()) + 1,
    )
