"""Seeding, deterministic mode, named random streams, environment capture and stable hashing.

One integer seed feeds every run. Each phase draws from its own *named stream* (``"data"``,
``"init"``, ``"train"``, ``"directions"``, ...) derived from the seed and the name by hashing, so
changing how much randomness one phase uses never shifts another.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import random
import subprocess
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch


def stable_hash(obj: Any, length: int = 12) -> str:
    """Hex digest of a JSON-able object, independent of dict order and Python's hash seed."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    raise TypeError(f"cannot hash object of type {type(obj).__name__}")


def derive_seed(seed: int, *names: str | int) -> int:
    """A 63-bit seed for the stream ``names`` under ``seed`` (deterministic across platforms)."""
    key = ":".join([str(seed), *map(str, names)]).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little") >> 1


def torch_generator(
    seed: int, *names: str | int, device: str | torch.device = "cpu"
) -> torch.Generator:
    """A ``torch.Generator`` for the named stream ``names`` of ``seed``."""
    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(seed, *names))
    return gen


def numpy_rng(seed: int, *names: str | int) -> np.random.Generator:
    """A ``numpy.random.Generator`` for the named stream ``names`` of ``seed``."""
    return np.random.default_rng(derive_seed(seed, *names))


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch global RNGs and, if asked, turn on deterministic algorithms.

    Library code never draws from these global generators; seeding them only protects against
    third-party code that does. ``deterministic`` makes CPU results bit-identical between runs.
    """
    random.seed(derive_seed(seed, "python"))
    np.random.seed(derive_seed(seed, "numpy") % 2**32)  # noqa: NPY002 - for third-party code
    torch.manual_seed(derive_seed(seed, "torch"))
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def resolve_device(device: str) -> torch.device:
    """Map ``"auto"`` to CUDA when present, else CPU; pass explicit devices through."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def capture_environment(argv: list[str] | None = None) -> dict[str, Any]:
    """What is needed to say where a number came from: versions, packages, git, hardware, argv."""
    packages = sorted(
        f"{dist.metadata['Name']}=={dist.version}"
        for dist in metadata.distributions()
        if dist.metadata["Name"]
    )
    status = _git("status", "--porcelain")
    gpu: list[str] = []
    if torch.cuda.is_available():
        gpu = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "argv": list(sys.argv if argv is None else argv),
        "packages": packages,
    }


def as_plain(obj: Any) -> Any:
    """Recursively convert mappings/sequences/NumPy scalars to JSON-friendly Python values."""
    if isinstance(obj, Mapping):
        return {str(k): as_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [as_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    return obj
