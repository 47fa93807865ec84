"""Run store: run directories, atomic writes, verified phase manifests, resume and the index."""

from axionlab.runs.errors import (
    IndexCorrupt,
    PhaseError,
    PhaseMissing,
    RunLocked,
    StorageError,
    storage_error,
)
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
from axionlab.runs.lock import pid_alive, writer_lock
from axionlab.runs.names import NAME_PATTERN, check_name, contained, is_valid_name
from axionlab.runs.store import PhaseKey, PhaseRecord, Run, phase_key
from axionlab.runs.tables import (
    Table,
    parse_bool,
    parse_float,
    parse_int,
    parse_optional_int,
    parse_text,
    read_table,
)

__all__ = [
    "NAME_PATTERN",
    "IndexCorrupt",
    "PhaseError",
    "PhaseKey",
    "PhaseMissing",
    "PhaseRecord",
    "Run",
    "RunIndex",
    "RunLocked",
    "StorageError",
    "Table",
    "check_name",
    "contained",
    "is_valid_name",
    "parse_bool",
    "parse_float",
    "parse_int",
    "parse_optional_int",
    "parse_text",
    "phase_key",
    "pid_alive",
    "read_csv",
    "read_json",
    "read_npz",
    "read_table",
    "rebuild_index",
    "storage_error",
    "write_bytes",
    "write_csv",
    "write_json",
    "write_npz",
    "write_text",
    "writer_lock",
]
