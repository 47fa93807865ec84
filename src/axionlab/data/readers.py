"""Readers of the files a user downloads: each returns validated arrays or raises one-line errors.

Dataset files come from outside the lab (a mirror, a colleague's disk, an archive of unknown
provenance), so every reader here treats its file as untrusted input:

- CIFAR's "python version" batches are pickles. :func:`read_cifar_batch` unpickles them with a
  restricted unpickler that resolves only the numpy constructors an array pickle needs and refuses
  every other global, so a batch can never run code (a plain unpickler runs any ``__reduce__``).
- IDX headers (MNIST) are checked against the file's size before anything is allocated, and a
  corrupt or truncated ``.gz`` is reported as such.
- Images are opened lazily and refused when they declare more than :data:`MAX_IMAGE_PIXELS`
  pixels, before any pixel is decoded (a decompression bomb).
- Labels read from a file are checked against the class range at load time, before any training.

Every failure raises :class:`~axionlab.errors.DataError` whose message names the file (and the
line or value at fault) and says how to fix it.
"""

from __future__ import annotations

import gzip
import importlib
import io
import math
import pickle
import re
import warnings
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Protocol

import numpy as np

from axionlab.errors import DataError

MAX_IMAGE_PIXELS = 89_478_485
"""Largest image (width × height) a loader decodes: Pillow's own warning threshold, as an error."""

MAX_PICKLE_BYTES = 1 << 30
"""Largest CIFAR batch file read (the official CIFAR-100 ``train`` is 155 MB)."""

# A deflate stream expands at most ~1032×; a header declaring more than this per compressed byte
# cannot be honest, so it is refused before a buffer of that size is requested.
_GZIP_MAX_RATIO = 1100

_CIFAR_FIX = (
    "CIFAR batches hold only dicts, lists, bytes and numpy arrays; re-download the official "
    "archive (the python version)"
)


def one_line(exc: BaseException, limit: int = 200) -> str:
    """``"TypeName: message"`` of ``exc`` on one line, at most ``limit`` characters."""
    text = re.sub(r"\s+", " ", str(exc)).strip()
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- labels ---------------------------------------------------------------------------------


def check_labels(path: Path | str, labels: Any, num_classes: int) -> np.ndarray:
    """Return ``labels`` as an int64 vector after checking every value is in ``[0, num_classes)``.

    Parameters
    ----------
    path
        The file the labels came from, named in the error.
    labels
        A sequence or array of integer labels.
    num_classes
        Size of the label space.

    Raises
    ------
    DataError
        The labels are not a flat sequence of integers, or one lies outside the class range.
    """
    try:
        arr = np.asarray(labels)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DataError(
            f"{path}: labels are not a flat list of integers ({one_line(exc)})"
        ) from None
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise DataError(
            f"{path}: labels must be a flat list of integers, got an array of shape {arr.shape} "
            f"and dtype {arr.dtype}; re-download the dataset"
        )
    bad = np.flatnonzero((arr < 0) | (arr >= num_classes))
    if bad.size:
        raise DataError(
            f"{path}: label {int(arr[bad[0]])} (entry {int(bad[0])}) is outside the class range "
            f"[0, {num_classes}); {bad.size} label(s) are out of range; re-download the dataset"
        )
    return arr.astype(np.int64)


# --- CIFAR pickles --------------------------------------------------------------------------


def _numpy_attr(modules: tuple[str, ...], name: str) -> Any:
    # numpy 2 moved numpy.core to numpy._core; importing the old name there warns.
    for module in modules:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise AttributeError(f"numpy has no {name} in {modules}")


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    # Python 3 writes bytes as _codecs.encode(str, "latin1") under pickle protocols 0-2; other
    # codecs (zlib, bz2, ...) would let a batch expand itself, so only latin-1 is admitted.
    if not isinstance(text, str) or encoding.replace("-", "").lower() not in ("latin1", "latin_1"):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _cifar_globals(path: Path, limit: int) -> dict[tuple[str, str], Any]:
    core, legacy = "numpy._core", "numpy.core"
    reconstruct = _numpy_attr((f"{core}.multiarray", f"{legacy}.multiarray"), "_reconstruct")
    scalar = _numpy_attr((f"{core}.multiarray", f"{legacy}.multiarray"), "scalar")
    frombuffer = _numpy_attr((f"{core}.numeric", f"{legacy}.numeric"), "_frombuffer")

    def bounded_reconstruct(subtype: Any, shape: Any, dtype: Any) -> Any:
        # Official pickles call it with shape (0,) and fill the array from its state; a crafted
        # shape would otherwise allocate any size before the state is checked.
        dims = (shape,) if isinstance(shape, int) else tuple(shape)
        if (
            subtype is not np.ndarray
            or math.prod(int(d) for d in dims) * np.dtype(dtype).itemsize > limit
        ):
            raise DataError(
                f"{path}: refusing an array of shape {dims} that the file cannot hold; {_CIFAR_FIX}"
            )
        return reconstruct(subtype, shape, dtype)

    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray}
    allowed[("numpy", "dtype")] = np.dtype
    allowed[("_codecs", "encode")] = _latin1_encode
    for package in (core, legacy):
        allowed[(f"{package}.multiarray", "_reconstruct")] = bounded_reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = frombuffer
    return allowed


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals of a numpy array pickle and refuses the rest."""

    def __init__(self, file: io.BytesIO, path: Path, limit: int) -> None:
        super().__init__(file, encoding="bytes")
        self._path = path
        self._allowed = _cifar_globals(path, limit)

    def find_class(self, module: str, name: str) -> Any:
        found = self._allowed.get((module, name))
        if found is None:
            what = f"{module}.{name}"
            what = what if len(what) <= 80 else what[:77] + "..."
            raise DataError(f"{self._path}: refusing to unpickle {what!r}; {_CIFAR_FIX}")
        return found


def _unpickle(path: Path) -> Any:
    try:
        size = path.stat().st_size
        if size > MAX_PICKLE_BYTES:
            raise DataError(
                f"{path} is {size} bytes, more than any CIFAR batch ({MAX_PICKLE_BYTES}); "
                "re-download the official archive"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"CIFAR batch {path} not found; is the root directory right?") from None
    except OSError as exc:
        raise DataError(f"cannot read CIFAR batch {path}: {one_line(exc)}") from None
    # The file is read whole (its size capped above), so a length field longer than the file
    # ends in a truncation error; arrays are bounded by the file's size in bounded_reconstruct.
    try:
        return _CifarUnpickler(io.BytesIO(data), path, limit=len(data)).load()
    except DataError:
        raise
    except Exception as exc:  # any exception the unpickler raises means a malformed stream
        raise DataError(
            f"{path} is not a CIFAR python batch ({one_line(exc)}); re-download the official "
            "archive (the python version)"
        ) from None


def _entry(path: Path, batch: dict[Any, Any], key: bytes, label_key: bytes) -> Any:
    # Batches re-saved from Python 3 after loading with encoding="latin1" carry str keys.
    for k in (key, key.decode("ascii")):
        if k in batch:
            return batch[k]
    keys = ", ".join(repr(k)[:30] for k in list(batch)[:6]) or "none"
    kind = "CIFAR-100" if label_key == b"fine_labels" else "CIFAR-10"
    raise DataError(
        f"{path} has no {key!r} entry (keys: {keys}); expected a {kind} python batch; "
        "re-download the official archive"
    )


def read_cifar_batch(
    path: Path, label_key: bytes, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR "python version" batch as ``(N, 3, 32, 32)`` uint8 images and labels.

    Parameters
    ----------
    path
        A batch file such as ``cifar-10-batches-py/data_batch_1``.
    label_key
        ``b"labels"`` (CIFAR-10) or ``b"fine_labels"`` (CIFAR-100).
    num_classes
        Size of the label space; every label must lie in ``[0, num_classes)``.

    Returns
    -------
    images, labels
        ``(N, 3, 32, 32)`` uint8 and ``(N,)`` int64.

    Raises
    ------
    DataError
        The file is missing, is not a batch, needs any global beyond numpy's array constructors
        (it would run code), has the wrong keys, dtype or shape, or a label out of range.
    """
    batch = _unpickle(path)
    if not isinstance(batch, dict):
        raise DataError(
            f"{path} holds a {type(batch).__name__}, not a CIFAR batch dict; "
            "re-download the official archive"
        )
    data = _entry(path, batch, b"data", label_key)
    labels = _entry(path, batch, label_key, label_key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        got = (
            f"an array of shape {data.shape} and dtype {data.dtype}"
            if isinstance(data, np.ndarray)
            else f"a {type(data).__name__}"
        )
        raise DataError(
            f"{path}: b'data' must be a uint8 array of shape (N, 3072), got {got}; "
            "re-download the official archive"
        )
    if data.shape[1] != 3 * 32 * 32:
        raise DataError(
            f"{path}: b'data' must have 3072 columns (3×32×32), got shape {data.shape}; "
            "re-download the official archive"
        )
    y = check_labels(path, labels, num_classes)
    if len(y) != len(data):
        raise DataError(f"{path} has {len(data)} images but {len(y)} labels")
    return data.reshape(-1, 3, 32, 32), y


# --- IDX (MNIST) ----------------------------------------------------------------------------


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def _idx_body(fh: _Readable, path: Path, ndim: int, capacity: int) -> np.ndarray:
    header_len = 4 + 4 * ndim
    header = fh.read(header_len)
    if len(header) < header_len or header[:3] != b"\x00\x00\x08" or header[3] != ndim:
        raise DataError(f"{path} is not an unsigned-byte IDX file with {ndim} dimension(s)")
    shape = tuple(int.from_bytes(header[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    n = math.prod(shape)  # Python ints: four u4 dimensions cannot overflow
    fix = "re-download it"
    if 0 in shape:
        raise DataError(f"{path} declares shape {shape}, which holds no examples; {fix}")
    if n > capacity - header_len:
        raise DataError(
            f"{path} is truncated or its header is corrupt: header says shape {shape} "
            f"({n} bytes), the file cannot hold more than {max(capacity - header_len, 0)}; {fix}"
        )
    body = fh.read(n + 1)
    if len(body) != n:
        found = f"found {len(body)} bytes" if len(body) < n else "found more bytes than that"
        raise DataError(
            f"{path} is truncated: header says shape {shape} ({n} bytes), {found}; {fix}"
        )
    return np.frombuffer(body, np.uint8).reshape(shape)


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an unsigned-byte IDX file (LeCun et al. 1998), plain or ``.gz``.

    The header's shape is checked against what the file can hold before the body is read, so a
    corrupt header never allocates more than the file's size (or a gzip's maximum expansion).

    Raises
    ------
    DataError
        The file is unreadable, not a valid gzip file, not an unsigned-byte IDX file with ``ndim``
        dimensions, or its header disagrees with its size.
    """
    compressed = path.suffix == ".gz"
    try:
        size = path.stat().st_size
        if compressed:
            with gzip.open(path, "rb") as fh:
                return _idx_body(fh, path, ndim, size * _GZIP_MAX_RATIO + 1024)
        with open(path, "rb") as fh:
            return _idx_body(fh, path, ndim, size)
    except (OSError, EOFError, zlib.error) as exc:
        if compressed and not isinstance(exc, FileNotFoundError | PermissionError):
            raise DataError(
                f"{path} is not a valid gzip file ({one_line(exc)}); re-download it"
            ) from None
        raise DataError(f"cannot read IDX file {path}: {one_line(exc)}") from None


# --- images ---------------------------------------------------------------------------------


def read_image(path: Path, size: int) -> np.ndarray:
    """Decode ``path`` as RGB resized to ``size × size`` (Pillow bilinear), as ``(3, size, size)``.

    Raises
    ------
    DataError
        The image declares more than :data:`MAX_IMAGE_PIXELS` pixels (checked from its header,
        before decoding), or it is unreadable, truncated or not an image.
    """
    from PIL import Image, UnidentifiedImageError

    def bomb(declared: str) -> DataError:
        return DataError(
            f"image {path} declares {declared} pixels, more than the {MAX_IMAGE_PIXELS} a loader "
            "decodes (a decompression bomb?); replace it with a smaller image"
        )

    try:
        # Pillow's own check only warns below twice its limit; here any excess is an error.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise bomb(f"{width}×{height}")
                rgb = img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise bomb("too many") from None
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, EOFError, zlib.error) as exc:
        raise DataError(
            f"cannot read image {path} ({one_line(exc)}); it is truncated or not an image; "
            "re-download or remove it"
        ) from None
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)  # (3, size, size)


# --- text tables (CUB) ----------------------------------------------------------------------


def read_table(path: Path) -> dict[int, tuple[str, int]]:
    """Parse ``<id> <value>`` lines as ``{id: (value, line number)}`` (CUB's metadata files).

    Raises
    ------
    DataError
        The file is unreadable or not UTF-8, a line lacks a value, an id is not a positive integer
        or appears twice; the message names the line.
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise DataError(f"{path} not found; expected it in the CUB_200_2011 folder") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {one_line(exc)}; re-download the dataset") from None
    table: dict[int, tuple[str, int]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        key = parts[0]
        if len(parts) < 2 or not key.isascii() or not key.isdigit() or int(key) < 1:
            raise DataError(
                f"{path}, line {number}: expected '<image_id> <value>' with a positive integer "
                f"id, got {line.strip()[:60]!r}; re-download the dataset"
            )
        if int(key) in table:
            raise DataError(
                f"{path}, line {number}: image id {key} already appears on line "
                f"{table[int(key)][1]}; re-download the dataset"
            )
        table[int(key)] = (parts[1].strip(), number)
    return table


def check_relative_path(table: Path, number: int, entry: str, base: Path) -> Path:
    """Return ``base / entry`` after checking it stays inside ``base``.

    Raises
    ------
    DataError
        ``entry`` is absolute, contains ``..``, or resolves (through links) outside ``base``;
        the message names ``table`` and the line ``number``.
    """
    posix, windows = PurePosixPath(entry), PureWindowsPath(entry)
    escapes = (
        posix.is_absolute()
        or windows.is_absolute()
        or bool(windows.drive)
        or ".." in posix.parts
        or ".." in windows.parts
    )
    target = base / entry
    if not escapes:
        try:
            escapes = not target.resolve().is_relative_to(base.resolve())
        except (OSError, RuntimeError):  # a link loop
            escapes = True
    if escapes:
        raise DataError(
            f"{table}, line {number}: image path {entry[:80]!r} is absolute or leaves "
            f"{base}; entries must be relative paths inside it, like '001.Albatross/x.jpg'"
        )
    return target
