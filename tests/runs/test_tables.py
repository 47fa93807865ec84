"""Typed tables: written byte-identically to write_csv, read back once into typed columns."""

import math
from pathlib import Path

import numpy as np
import pytest

from axionlab.runs import (
    PhaseError,
    Table,
    parse_bool,
    parse_float,
    parse_int,
    parse_optional_int,
    read_table,
    write_csv,
)

ROWS = [
    {"unit": "a", "n": 3, "rho": 0.1 + 0.2, "fitted": True, "step": None},
    {"unit": "b", "n": 0, "rho": float("nan"), "fitted": False, "step": 7},
]
SCHEMA = {"n": parse_int, "rho": parse_float, "fitted": parse_bool, "step": parse_optional_int}


def test_write_is_byte_identical_to_write_csv(tmp_path: Path):
    table = Table.of(ROWS)
    table.write(tmp_path / "t.csv")
    write_csv(tmp_path / "plain.csv", ROWS)
    assert (tmp_path / "t.csv").read_bytes() == (tmp_path / "plain.csv").read_bytes()


def test_round_trip_restores_types_and_full_precision(tmp_path: Path):
    Table.of(ROWS).write(tmp_path / "t.csv")
    back = read_table(tmp_path / "t.csv", SCHEMA)
    assert back.columns == ("unit", "n", "rho", "fitted", "step")
    assert back.column("n") == [3, 0] and back.column("fitted") == [True, False]
    assert back.column("rho")[0] == 0.1 + 0.2  # repr precision, not rounded
    assert math.isnan(back.floats("rho")[1])
    assert back.column("step") == [None, 7]
    assert len(back.where(fitted=True)) == 1


def test_numpy_scalars_become_python_values():
    table = Table.of([{"x": np.float64(1.5), "k": np.int64(2), "b": np.bool_(True)}])
    row = table.rows[0]
    assert type(row["x"]) is float and type(row["k"]) is int and type(row["b"]) is bool


def test_tables_are_frozen_and_columns_fixed():
    table = Table.of(ROWS, ["unit", "n", "rho", "fitted", "step"])
    with pytest.raises(TypeError):
        table.rows[0]["n"] = 5  # type: ignore[index]
    with pytest.raises(ValueError, match="outside the table"):
        Table.of(ROWS, ["unit"])
    with pytest.raises(KeyError, match="no column 'nope'"):
        table.column("nope")


def test_missing_cells_read_as_none_or_nan():
    table = Table.of([{"a": 1}, {"b": 2.0}])
    assert table.column("b") == [None, 2.0]
    assert math.isnan(table.floats("b")[0])


def test_a_damaged_cell_names_file_line_and_column(tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_text("unit,fitted\na,True\nb,yes\n")
    with pytest.raises(PhaseError, match=r"t\.csv: line 3, column 'fitted'"):
        read_table(path, {"fitted": parse_bool})
