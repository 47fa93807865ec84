"""Run store: run directories, atomic writes, phase manifests, resume and the SQLite index."""

from axionlab.runs.index import RunIndex, rebuild_index
from axionlab.runs.io import (
    read_csv,
    read_json,
    read_npz,
    write_bytes,
    write_csv,
    write_json,
    write_npz,
    write_text,
)
from axionlab.runs.store import PhaseRecord, Run, phase_key

__all__ = [
    "PhaseRecord",
    "Run",
    "RunIndex",
    "phase_key",
    "read_csv",
    "read_json",
    "read_npz",
    "rebuild_index",
    "write_bytes",
    "write_csv",
    "write_json",
    "write_npz",
    "write_text",
]
