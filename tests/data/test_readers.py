"""Hostile and corrupt dataset files: one-line DataError naming the file; nothing runs."""

import gzip
import os
import pickle
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from axionlab.data import load_dataset, make_dataset, make_stream
from axionlab.data.readers import (
    MAX_IMAGE_PIXELS,
    check_labels,
    read_cifar_batch,
    read_idx,
    read_image,
)
from axionlab.errors import ConfigError, DataError, InputError


def _one_line(err):
    message = str(err.value)
    assert "\n" not in message and len(message) < 400
    return message


# --- CIFAR ----------------------------------------------------------------------------------


def _py2_batch(data, labels, label_key=b"labels"):
    """The byte stream Python 2's cPickle (protocol 2) writes for an official CIFAR batch."""

    def string(b):  # SHORT_BINSTRING: a Python 2 str, read back as bytes with encoding="bytes"
        return b"U" + bytes([len(b)]) + b

    def integer(x):
        return b"K" + bytes([x]) if x < 256 else b"M" + struct.pack("<H", x)

    n, d = data.shape
    raw = data.tobytes()
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
        + integer(0)
        + b"\x85"
        + string(b"b")
        + b"\x87R("
        + integer(1)
        + integer(n)
        + integer(d)
        + b"\x86cnumpy\ndtype\n"
        + string(b"u1")
        + integer(0)
        + integer(1)
        + b"\x87R("
        + integer(3)
        + string(b"|")
        + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff"
        + integer(0)
        + b"tb\x89T"
        + struct.pack("<I", len(raw))
        + raw
        + b"tb"
    )
    labels = b"](" + b"".join(integer(int(v)) for v in labels) + b"e"
    return (
        b"\x80\x02}("
        + string(b"batch_label")
        + string(b"training batch 1 of 5")
        + string(b"data")
        + array
        + string(label_key)
        + labels
        + b"u."
    )


def _images(n):
    return (np.arange(n * 3072) % 251).astype(np.uint8).reshape(n, 3072)


def test_official_python2_batch_loads(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(_py2_batch(_images(3), [9, 0, 4]))
    x, y = read_cifar_batch(path, b"labels", 10)
    assert x.shape == (3, 3, 32, 32) and x.dtype == np.uint8
    assert np.array_equal(x.reshape(3, -1), _images(3)) and y.tolist() == [9, 0, 4]


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_python3_batches_load(tmp_path, protocol):
    path = tmp_path / "train"
    batch = {b"data": _images(2), b"fine_labels": [99, 0], b"filenames": [b"a.png", b"b.png"]}
    path.write_bytes(pickle.dumps(batch, protocol=protocol))
    x, y = read_cifar_batch(path, b"fine_labels", 100)
    assert np.array_equal(x.reshape(2, -1), _images(2)) and y.tolist() == [99, 0]


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_batch_that_runs_code_is_refused_and_never_runs(tmp_path, protocol):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    marker = tmp_path / "pwned"
    batch = {b"data": _images(1), b"labels": [0], b"x": _Payload(marker)}
    (base / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=protocol))
    (base / "test_batch").write_bytes(pickle.dumps({b"data": _images(1), b"labels": [0]}))
    with pytest.raises(DataError) as err:
        load_dataset("cifar10", root=tmp_path)
    message = _one_line(err)
    assert f"{base / 'data_batch_1'}: refusing to unpickle '{os.system.__module__}.system'" in (
        message
    )
    assert "re-download the official archive" in message
    assert not marker.exists()


@pytest.mark.parametrize(
    "stream, match",
    [
        (
            b"\x80\x02cbuiltins\neval\nX\x04\x00\x00\x001+1\x85R.",
            "refusing to unpickle 'builtins.eval'",
        ),
        (
            b"\x80\x02cbuiltins\nbytes\nJ\x00\x00\x00\x7f\x85R.",
            "refusing to unpickle 'builtins.bytes'",
        ),
        (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x04\x00\x00\x00zlib\x86R.", "zlib"),
        (  # _reconstruct asked for a 2 GiB array from a 90-byte file
            b"\x80\x02cnumpy._core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\x00\x00\x00\x7f"
            b"\x85U\x01b\x87R.",
            "refusing an array of shape",
        ),
        (b"\x80\x02X\x04\x00\x00\x00text.", "holds a str, not a CIFAR batch dict"),
        (b"\x80\x02}.", r"has no b'data' entry \(keys: none\)"),
        (
            b"\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\x7f\x8e\xff\xff\xff\xff\xff\xff\xff\x7f.",
            "not a CIFAR python batch",
        ),
        (b"garbage", "not a CIFAR python batch"),
        (b"", "not a CIFAR python batch"),
    ],
)
def test_malicious_or_malformed_stream(tmp_path, stream, match):
    path = tmp_path / "test_batch"
    path.write_bytes(stream)
    with pytest.raises(DataError, match=match) as err:
        read_cifar_batch(path, b"labels", 10)
    assert _one_line(err).startswith(str(path))


@pytest.mark.parametrize(
    "batch, match",
    [
        ({b"data": _images(2), b"fine_labels": [0, 1]}, "no b'labels' entry .* CIFAR-10 python"),
        ({b"data": _images(2).astype(np.int64), b"labels": [0, 1]}, "dtype int64"),
        ({b"data": _images(2).reshape(2, 3, 1024), b"labels": [0, 1]}, "shape .2, 3, 1024."),
        ({b"data": _images(2)[:, :100], b"labels": [0, 1]}, "3072 columns"),
        ({b"data": [[0] * 3072], b"labels": [0]}, "got a list"),
        ({b"data": _images(2), b"labels": [0]}, "2 images but 1 labels"),
        ({b"data": _images(2), b"labels": [3, 10]}, r"label 10 \(entry 1\) is outside .*\[0, 10\)"),
        ({b"data": _images(2), b"labels": [-1, 0]}, "label -1"),
        ({b"data": _images(2), b"labels": [b"cat", b"dog"]}, "flat list of integers"),
        ({b"data": _images(2), b"labels": [[0, 1], [1]]}, "flat list of integers"),
        ({b"data": _images(1), b"labels": [2**70]}, "flat list of integers"),
    ],
)
def test_wrong_structure_is_one_line(tmp_path, batch, match):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataError, match=match) as err:
        read_cifar_batch(path, b"labels", 10)
    assert _one_line(err).startswith(str(path))


def test_cifar100_label_out_of_range_before_training(tmp_path):
    base = tmp_path / "cifar-100-python"
    base.mkdir()
    (base / "train").write_bytes(pickle.dumps({b"data": _images(2), b"fine_labels": [5, 100]}))
    (base / "test").write_bytes(pickle.dumps({b"data": _images(1), b"fine_labels": [0]}))
    with pytest.raises(DataError, match=r"cifar-100-python/train: label 100 .*\[0, 100\)"):
        load_dataset("cifar100", root=tmp_path)


def test_byte_flips_never_escape_as_tracebacks(tmp_path):
    rng = np.random.default_rng(0)
    good = pickle.dumps({b"data": _images(2), b"labels": [1, 2]}, protocol=2)
    path = tmp_path / "data_batch_1"
    for _ in range(300):
        bad = bytearray(good[: rng.integers(1, len(good) + 1)])
        for pos in rng.integers(0, len(bad), size=3):
            bad[pos] = int(rng.integers(0, 256))
        path.write_bytes(bytes(bad))
        try:
            read_cifar_batch(path, b"labels", 10)
        except DataError as err:
            assert "\n" not in str(err)


# --- IDX ------------------------------------------------------------------------------------


def _idx_bytes(shape, body):
    return struct.pack(">BBBB", 0, 0, 8, len(shape)) + struct.pack(f">{len(shape)}I", *shape) + body


def test_idx_dimensions_that_overflow_are_refused_without_allocating(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(_idx_bytes((2**32 - 1,) * 3, b"\x00" * 64))  # int64 product would wrap
    with pytest.raises(DataError, match="truncated or its header is corrupt") as err:
        read_idx(path, 3)
    assert _one_line(err).startswith(str(path))


@pytest.mark.parametrize(
    "shape, body, match",
    [
        ((4, 2, 2), bytes(8), r"is truncated.*\(16 bytes\)"),
        ((1, 2, 2), bytes(8), "found more bytes than that"),
        ((0, 28, 28), b"", "holds no examples"),
    ],
)
def test_idx_header_disagreeing_with_size(tmp_path, shape, body, match):
    for gz in (False, True):
        path = tmp_path / ("images.gz" if gz else "images")
        data = _idx_bytes(shape, body)
        path.write_bytes(gzip.compress(data) if gz else data)
        with pytest.raises(DataError, match=match):
            read_idx(path, 3)


def test_gzip_claiming_more_than_it_can_expand_to(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_idx_bytes((60000, 1000, 1000), bytes(100))))
    with pytest.raises(DataError, match="cannot hold more than"):
        read_idx(path, 3)


@pytest.mark.parametrize("cut", ["truncated", "garbage", "bad crc"])
def test_corrupt_gzip_is_one_line(tmp_path, cut):
    good = gzip.compress(_idx_bytes((3, 4, 4), bytes(range(48))))
    bad = {
        "truncated": good[: len(good) // 2],
        "garbage": b"not gzip at all, just text",
        "bad crc": good[:-8] + b"\x00\x00\x00\x00" + good[-4:],
    }[cut]
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(bad)
    with pytest.raises(
        DataError,
        match=r"train-images-idx3-ubyte.gz is not a valid gzip file .*"
        r"re-download it",
    ) as err:
        read_idx(path, 3)
    _one_line(err)


def test_mnist_label_out_of_range_names_file_and_value(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("t10k", 2)):
        images = rng.integers(0, 255, (n, 28, 28)).astype(np.uint8)
        (tmp_path / f"{split}-images-idx3-ubyte").write_bytes(
            _idx_bytes(images.shape, images.tobytes())
        )
        labels = bytes([1, 2, 12, 3][:n])
        (tmp_path / f"{split}-labels-idx1-ubyte").write_bytes(_idx_bytes((n,), labels))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte: label 12 \(entry 2\)"):
        load_dataset("mnist", root=tmp_path)


# --- images ---------------------------------------------------------------------------------


def _png_declaring(path, width, height):
    """A valid 1×1 PNG whose IHDR is rewritten to declare ``width × height`` (CRC fixed)."""
    Image.new("RGB", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = data[12:29]  # b"IHDR" + 13 bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("side", [20000, 10000])  # above twice Pillow's limit; between 1× and 2×
def test_decompression_bomb_png_is_refused_before_decoding(tmp_path, side):
    path = tmp_path / "bomb.png"
    _png_declaring(path, side, side)
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(DataError, match=r"bomb.png declares .* pixels, more than") as err:
        read_image(path, 8)
    _one_line(err)
    assert Image.MAX_IMAGE_PIXELS == before


def test_bomb_refused_even_when_pillow_limit_is_off(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    path = tmp_path / "bomb.png"
    _png_declaring(path, 20000, 20000)
    with pytest.raises(DataError, match=f"20000×20000 pixels, more than the {MAX_IMAGE_PIXELS}"):
        read_image(path, 8)


def test_bomb_in_image_folder_dataset(tmp_path):
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(2):
            Image.new("RGB", (4, 4)).save(tmp_path / c / f"{i}.png")
    _png_declaring(tmp_path / "b" / "1.png", 20000, 20000)
    with pytest.raises(DataError, match=r"b/1.png declares"):
        load_dataset("eurosat", root=tmp_path)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_or_corrupt_image_is_one_line(tmp_path, fmt):
    rng = np.random.default_rng(1)
    path = tmp_path / f"img.{fmt.lower()}"
    Image.fromarray(rng.integers(0, 255, (64, 64, 3)).astype(np.uint8)).save(path, fmt)
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 3])
    with pytest.raises(DataError, match=r"cannot read image .*img\.\w+ .*truncated"):
        read_image(path, 8)
    for _ in range(100):
        bad = bytearray(good)
        for pos in rng.integers(0, len(bad), size=4):
            bad[pos] = int(rng.integers(0, 256))
        path.write_bytes(bytes(bad))
        try:
            read_image(path, 8)
        except DataError as err:
            assert "\n" not in str(err)


# --- CUB ------------------------------------------------------------------------------------


def _cub(root, entries, labels=None, split=None):
    base = root / "CUB_200_2011"
    (base / "images" / "001.A").mkdir(parents=True)
    for i in range(2):
        Image.new("RGB", (4, 4), (60 * i, 0, 0)).save(base / "images" / "001.A" / f"{i}.jpg")
    labels = labels or ["1"] * len(entries)
    split = split or ["1", "0"] + ["1"] * (len(entries) - 2)
    for name, values in (("images.txt", entries), ("image_class_labels.txt", labels)):
        (base / name).write_text("".join(f"{i + 1} {v}\n" for i, v in enumerate(values)))
    (base / "train_test_split.txt").write_text(
        "".join(f"{i + 1} {v}\n" for i, v in enumerate(split))
    )
    return base


@pytest.mark.parametrize(
    "entry", ["../../secret.jpg", "001.A/../../x.jpg", "/etc/passwd", "C:\\Windows\\x.jpg"]
)
def test_cub_paths_leaving_the_images_folder_are_refused(tmp_path, entry):
    (tmp_path / "secret.jpg").write_bytes(b"")
    base = _cub(tmp_path, ["001.A/0.jpg", entry])
    with pytest.raises(
        DataError, match=r"images.txt, line 2: image path .* is absolute or leaves"
    ) as err:
        load_dataset("cub200", root=tmp_path)
    assert _one_line(err).startswith(str(base / "images.txt"))


def test_cub_symlink_out_of_the_root_is_refused(tmp_path):
    outside = tmp_path / "outside.jpg"
    Image.new("RGB", (4, 4)).save(outside)
    root = tmp_path / "data"
    base = _cub(root, ["001.A/0.jpg", "001.A/1.jpg", "001.A/link.jpg"])
    (base / "images" / "001.A" / "link.jpg").symlink_to(outside)
    with pytest.raises(DataError, match=r"images.txt, line 3"):
        load_dataset("cub200", root=root)


@pytest.mark.parametrize(
    "labels, split, match",
    [
        (["1", "201"], None, r"image_class_labels.txt, line 2: class '201' is not an integer in "),
        (["0", "1"], None, r"image_class_labels.txt, line 1: class '0'"),
        (["1", "bird"], None, r"image_class_labels.txt, line 2: class 'bird'"),
        (None, ["1", "yes"], r"train_test_split.txt, line 2: expected 1 \(train\) or 0"),
    ],
)
def test_cub_bad_labels_and_split(tmp_path, labels, split, match):
    _cub(tmp_path, ["001.A/0.jpg", "001.A/1.jpg"], labels=labels, split=split)
    with pytest.raises(DataError, match=match):
        load_dataset("cub200", root=tmp_path)


def test_cub_malformed_tables(tmp_path):
    base = _cub(tmp_path, ["001.A/0.jpg", "001.A/1.jpg"])
    (base / "images.txt").write_text("1 001.A/0.jpg\n1 001.A/1.jpg\n")
    with pytest.raises(
        DataError, match=r"images.txt, line 2: image id 1 already appears on line 1"
    ):
        load_dataset("cub200", root=tmp_path)
    (base / "images.txt").write_text("1 001.A/0.jpg\nx\n")
    with pytest.raises(DataError, match=r"images.txt, line 2: expected '<image_id> <value>'"):
        load_dataset("cub200", root=tmp_path)
    (base / "images.txt").write_bytes(b"1 \xff\xfe.jpg\n")
    with pytest.raises(DataError, match=r"cannot read .*images.txt: UnicodeDecodeError"):
        load_dataset("cub200", root=tmp_path)
    (base / "images.txt").write_text("1 001.A/0.jpg\n")
    with pytest.raises(DataError, match=r"id 2 is only in image_class_labels.txt"):
        load_dataset("cub200", root=tmp_path)
    (base / "images.txt").unlink()
    with pytest.raises(DataError, match=r"images.txt not found"):
        load_dataset("cub200", root=tmp_path)


# --- shared checks --------------------------------------------------------------------------


def test_check_labels_and_make_dataset_backstop():
    assert check_labels("f", [0, 9], 10).dtype == np.int64
    with pytest.raises(DataError, match=r"f: label 10 \(entry 1\)"):
        check_labels("f", np.array([0, 10], np.uint8), 10)
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(InputError, match=r"labels in \[0, 5\], outside the class range \[0, 3\)"):
        make_dataset("toy", x, [0, 5], x, [0, 1], num_classes=3)
    with pytest.raises(InputError, match="no training examples"):
        make_dataset("toy", x[:0], [], x, [0, 1], num_classes=3)


def test_absurd_or_mistyped_options_fail_before_allocating(tmp_path):
    with pytest.raises(ConfigError, match=r"n_train, n_test and dim: .* would need about .* GiB"):
        load_dataset("synthetic", n_train=10**12)
    with pytest.raises(ConfigError, match=r"separation must be positive and finite, got inf"):
        load_dataset("synthetic", separation=float("inf"))
    with pytest.raises(ConfigError, match=r"n_test must be an integer >= 1, got 2\.5"):
        load_dataset("synthetic", n_test=2.5)
    with pytest.raises(ConfigError, match=r"test_fraction must be in \(0, 1\), got '0.2'"):
        load_dataset("digits", test_fraction="0.2")
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        Image.new("RGB", (4, 4)).save(tmp_path / c / "0.png")
    with pytest.raises(ConfigError, match=r"image_size must be an integer >= 1, got 3\.5"):
        load_dataset("resisc45", root=tmp_path, image_size=3.5)
    with pytest.raises(ConfigError, match=r"image_size: the dataset would need about"):
        load_dataset("resisc45", root=tmp_path, image_size=10**6)


def test_stream_size_is_checked():
    ds = load_dataset("synthetic", num_classes=2, dim=4, n_train=10, n_test=10)
    with pytest.raises(ConfigError, match=r"n_tasks: the dataset would need about"):
        make_stream(ds, "domain_il", 10**12, variant="permuted")
    with pytest.raises(InputError, match=r"n_tasks must be an integer >= 1, got 2\.0"):
        make_stream(ds, "domain_il", 2.0, variant="permuted")
