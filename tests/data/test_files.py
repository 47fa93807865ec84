import gzip
import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from axionlab.data import load_dataset
from axionlab.data.files import resize_images
from axionlab.errors import DataError


def _idx(path, array, gz=False):
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


def test_mnist_idx_plain_and_gz(tmp_path):
    rng = np.random.default_rng(0)
    _idx(tmp_path / "train-images-idx3-ubyte", rng.integers(0, 255, (20, 28, 28)))
    _idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(20) % 10, gz=True)
    _idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 255, (10, 28, 28)), gz=True)
    _idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(10) % 10)
    ds = load_dataset("mnist", root=tmp_path)
    assert ds.x_train.shape == (20, 1, 28, 28) and ds.x_test.shape == (10, 1, 28, 28)
    assert ds.y_train.tolist() == [i % 10 for i in range(20)]
    assert load_dataset("mnist", root=tmp_path, image_size=14).input_shape == (1, 14, 14)


def test_mnist_malformed_file_is_named(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(DataError, match="train-images-idx3-ubyte is not an unsigned-byte IDX"):
        load_dataset("mnist", root=tmp_path)


def test_missing_root_message(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(
        DataError,
        match=r"dataset 'cifar100' needs a root directory, .*nope "
        r"does not exist; expected cifar-100-python/\{train,test\}",
    ):
        load_dataset("cifar100", root=missing)
    with pytest.raises(
        DataError, match=r"dataset 'resisc45' needs a root directory, none was given"
    ):
        load_dataset("resisc45")


def _pickle(path, n, label_key, offset=0):
    data = np.full((n, 3072), offset, dtype=np.uint8)
    data[:, :1024] = np.arange(n)[:, None]  # red channel encodes the index
    with open(path, "wb") as fh:
        pickle.dump({b"data": data, label_key: list(range(n))}, fh)


def test_cifar10_and_cifar100_layouts(tmp_path):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    for i in range(1, 6):
        _pickle(base / f"data_batch_{i}", 4, b"labels")
    _pickle(base / "test_batch", 3, b"labels")
    ds = load_dataset("cifar10", root=tmp_path)
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.num_classes == 10
    assert ds.y_test.tolist() == [0, 1, 2]
    base = tmp_path / "cifar-100-python"
    base.mkdir()
    _pickle(base / "train", 6, b"fine_labels")
    _pickle(base / "test", 2, b"fine_labels")
    ds = load_dataset("cifar100", root=tmp_path, image_size=16)
    assert ds.input_shape == (3, 16, 16) and ds.num_classes == 100 and len(ds.y_train) == 6
    (base / "test").write_bytes(b"garbage")
    with pytest.raises(DataError, match="cifar-100-python/test is not a CIFAR python batch"):
        load_dataset("cifar100", root=tmp_path)


def _image_folder(root, classes, per_class, size=(20, 12)):
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", size, (40 * c, 10 * i, 0)).save(root / name / f"{i}.jpg")


def test_resisc45_folder_split_and_resize(tmp_path):
    _image_folder(tmp_path / "NWPU-RESISC45", ["airplane", "beach", "church"], 10)
    ds = load_dataset("resisc45", root=tmp_path, image_size=8)
    assert ds.input_shape == (3, 8, 8) and ds.num_classes == 3
    assert torch.bincount(ds.y_test).tolist() == [2, 2, 2]  # 20% of 10 per class
    assert torch.equal(ds.x_test, load_dataset("resisc45", root=tmp_path, image_size=8).x_test)
    (tmp_path / "NWPU-RESISC45" / "beach" / "9.jpg").write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"cannot read image .*beach/9.jpg"):
        load_dataset("resisc45", root=tmp_path)


def test_eurosat_default_size_is_32(tmp_path):
    _image_folder(tmp_path / "2750", ["Forest", "River"], 5, size=(64, 64))
    ds = load_dataset("eurosat", root=tmp_path)
    assert ds.input_shape == (3, 32, 32) and len(ds.y_train) + len(ds.y_test) == 10


def test_cub200_official_split(tmp_path):
    base = tmp_path / "CUB_200_2011"
    _image_folder(base / "images", ["001.Albatross", "002.Auklet"], 3)
    rows = [
        (i + 1, f"{c:03d}.{n}/{k}.jpg", c, k % 2)
        for i, (c, n, k) in enumerate(
            (c, n, k) for c, n in [(1, "Albatross"), (2, "Auklet")] for k in range(3)
        )
    ]
    (base / "images.txt").write_text("".join(f"{i} {p}\n" for i, p, _, _ in rows))
    (base / "image_class_labels.txt").write_text("".join(f"{i} {c}\n" for i, _, c, _ in rows))
    (base / "train_test_split.txt").write_text("".join(f"{i} {t}\n" for i, _, _, t in rows))
    ds = load_dataset("cub200", root=tmp_path, image_size=4)
    assert ds.num_classes == 2 and ds.input_shape == (3, 4, 4)
    assert sorted(ds.y_train.tolist()) == [0, 1] and sorted(ds.y_test.tolist()) == [0, 0, 1, 1]
    (base / "train_test_split.txt").write_text("1 x\n")
    with pytest.raises(DataError, match="disagree"):
        load_dataset("cub200", root=tmp_path)


def test_resize_is_antialiased():
    checker = (np.indices((32, 32)).sum(0) % 2 * 255).astype(np.uint8)[None]
    small = resize_images(checker, 8)
    assert small.shape == (1, 8, 8)
    assert np.all(np.abs(small.astype(int) - 127) <= 2)  # a fine checkerboard averages to grey
