"""Plain-text tables for the terminal (`--format table`): aligned columns, French number notation."""

from __future__ import annotations

import datetime as dt

from fluxopt.report.tables import Cell, Column, Table


def format_value(value: Cell, column: Column) -> str:
    """French display of one cell: `12,5 %`, `1 234`, `3,4`, `31/03/2026`, `—` for missing."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, int | float) and column.kind == "pct":
        return f"{value * 100:.1f}".replace(".", ",") + "\u00a0%"
    if isinstance(value, int):
        return f"{value:,}".replace(",", "\u202f")
    if isinstance(value, float):
        return f"{value:,.1f}".replace(",", "\u202f").replace(".", ",")
    return str(value)


def render_table(table: Table, max_width: int = 40, drop: tuple[str, ...] = ()) -> str:
    """The table as aligned text: numbers right-aligned, text left-aligned, long texts cut; `drop` hides columns."""
    if drop:
        keep = [i for i, c in enumerate(table.columns) if c.header not in drop]
        table = Table(
            table.name,
            table.title,
            tuple(table.columns[i] for i in keep),
            tuple(tuple(row[i] for i in keep) for row in table.rows),
            table.notes,
        )
    cells = [[format_value(v, c) for v, c in zip(row, table.columns, strict=True)] for row in table.rows]
    headers = table.headers
    cut = [[(s if len(s) <= max_width else s[: max_width - 1] + "…") for s in row] for row in cells]
    widths = [max([len(h)] + [len(row[i]) for row in cut]) if cut else len(h) for i, h in enumerate(headers)]
    numeric = [c.kind != "text" for c in table.columns]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    out = [table.title, line(headers), line(["-" * w for w in widths])]
    out.extend(line(row) for row in cut)
    out.extend(table.notes)
    return "\n".join(out) + "\n"
