"""Typed, frozen tables: what an analysis writes as CSV and what a report reads back.

A CSV holds text; an analysis holds floats, ints, bools and ``None``. :class:`Table` keeps the
typed values in memory, writes them with :func:`~axionlab.runs.io.write_csv` (floats in full
``repr`` precision, ``None`` as an empty cell) and :func:`read_table` parses a CSV back once,
column by column, with the parsers of its schema, so no report compares strings like
``"True"`` or converts cells one at a time.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from axionlab.repro import as_plain
from axionlab.runs.errors import PhaseError
from axionlab.runs.io import write_csv

Cell = float | int | bool | str | None
Parser = Callable[[str], Cell]


def parse_float(text: str) -> float:
    """A float cell; an empty cell (a ``None`` written out) reads as NaN."""
    return math.nan if text == "" else float(text)


def parse_int(text: str) -> int:
    return int(text)


def parse_optional_int(text: str) -> int | None:
    """An int cell that may be empty (e.g. a step that never happened)."""
    return None if text == "" else int(text)


def parse_bool(text: str) -> bool:
    if text not in ("True", "False"):
        raise ValueError(f"not a bool: {text!r}")
    return text == "True"


def parse_text(text: str) -> str:
    return text


@dataclass(frozen=True)
class Table:
    """Rows of typed cells under a fixed column order; immutable once built."""

    columns: tuple[str, ...]
    rows: tuple[Mapping[str, Cell], ...]

    @classmethod
    def of(cls, rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> Table:
        """A table of ``rows`` (NumPy scalars become Python values); ``columns`` fixes the order.

        Without ``columns`` the order is that of first appearance across the rows. A row missing
        a column holds ``None`` there; a row with a column not in ``columns`` is an error.
        """
        plain = [as_plain(dict(row)) for row in rows]
        names = (
            tuple(columns)
            if columns is not None
            else tuple(dict.fromkeys(k for row in plain for k in row))
        )
        for row in plain:
            extra = set(row) - set(names)
            if extra:
                raise ValueError(f"row has columns outside the table: {sorted(extra)}")
        return cls(names, tuple(MappingProxyType({c: row.get(c) for c in names}) for row in plain))

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Mapping[str, Cell]]:
        return iter(self.rows)

    def column(self, name: str) -> list[Cell]:
        """The values of one column, in row order."""
        if name not in self.columns:
            raise KeyError(f"no column {name!r}; columns: {', '.join(self.columns)}")
        return [row[name] for row in self.rows]

    def floats(self, name: str) -> npt.NDArray[np.float64]:
        """One column as float64 (``None`` as NaN)."""
        return np.array(
            [math.nan if v is None else float(v) for v in self.column(name)], dtype=np.float64
        )

    def where(self, **equal: Cell) -> Table:
        """The rows whose cells equal ``equal`` (e.g. ``table.where(dataset="digits")``)."""
        return Table(
            self.columns,
            tuple(row for row in self.rows if all(row[k] == v for k, v in equal.items())),
        )

    def write(self, path: str | Path) -> Path:
        """Write the table as CSV, atomically (see :func:`~axionlab.runs.io.write_csv`)."""
        return write_csv(path, self.rows, self.columns)


def read_table(
    path: str | Path, schema: Mapping[str, Parser], *, default: Parser = parse_text
) -> Table:
    """Read a CSV written by :meth:`Table.write`, parsing each column with ``schema``.

    Columns not in ``schema`` are parsed with ``default``. A cell that does not parse is a
    :class:`~axionlab.runs.errors.PhaseError` naming the file, row and column: a run's tables are
    written by the analysis, so an unreadable cell means the file was changed or damaged.
    """
    path = Path(path)
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        columns = tuple(reader.fieldnames or ())
        raw_rows = list(reader)
    rows = []
    for number, raw in enumerate(raw_rows, start=2):
        row: dict[str, Cell] = {}
        for name in columns:
            parse = schema.get(name, default)
            try:
                row[name] = parse(raw[name])
            except (TypeError, ValueError):
                raise PhaseError(
                    f"{path}: line {number}, column '{name}': cannot read {raw[name]!r}; "
                    "rebuild the tables with 'axionlab report RUN_DIR'"
                ) from None
        rows.append(MappingProxyType(row))
    return Table(columns, tuple(rows))
