"""Tables as the library hands them to writers: French headers, typed cells, no formatting decided twice.

`bilan`, `kpis` and `compare` build `Table`s; the CSV, XLSX, terminal and HTML writers only render them.
Percentages are stored as fractions (0.125) so that Excel's `0.0%` format shows `12,5 %` in French Excel;
CSV writes them in percent units (`12,5`) under a header that says `(%)`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["text", "int", "float", "pct", "date"]
Cell = str | int | float | dt.date | None


@dataclass(frozen=True)
class Column:
    """One column: its French header and the kind of its values (drives number formats)."""

    header: str
    kind: Kind = "text"
    width: int | None = None  # display width hint in characters (XLSX)


@dataclass(frozen=True)
class Table:
    """A titled table: the unit that becomes a CSV file, a workbook sheet block or an HTML table."""

    name: str  # short ASCII stem: CSV file name, sheet name
    title: str  # French title shown above the table
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        width = len(self.columns)
        for row in self.rows:
            if len(row) != width:
                raise ValueError(f"table {self.name}: row of {len(row)} cells for {width} columns")

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]

    def csv_rows(self) -> list[list[Cell]]:
        """Rows as the CSV writer takes them: fractions turned into percent units."""
        out: list[list[Cell]] = []
        for row in self.rows:
            line: list[Cell] = []
            for col, cell in zip(self.columns, row, strict=True):
                if col.kind == "pct" and isinstance(cell, int | float):
                    line.append(round(cell * 100, 4))
                else:
                    line.append(cell)
            out.append(line)
        return out

    def column(self, header: str) -> list[Cell]:
        """All values of the column with this header (tests and charts use it)."""
        i = self.headers.index(header)
        return [row[i] for row in self.rows]
