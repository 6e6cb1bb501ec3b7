"""XLSX workbooks with xlsxwriter: one table per sheet, frozen headers, autofilters, native Excel charts.

- `strings_to_formulas=False`, `strings_to_urls=False`, `strings_to_numbers=False`, and every text is written
  with `write_string`: a réservataire named `=1+1` stays text, never a formula or a link.
- Number formats are stored in Excel's US notation and localised by Excel: `0.0%` shows `12,5 %` in a French
  Excel, `#,##0` shows `1 234`.
- Deterministic bytes: xlsxwriter stamps zip members with a fixed 1980 date; the document creation date is set
  from the caller (the data's date), never from the clock.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fluxopt.io.atomic import write_bytes
from fluxopt.report.tables import Table

NUMBER_FORMATS: dict[str, str] = {
    "int": "#,##0",
    "float": "#,##0.0",
    "pct": "0.0%",
    "date": "dd/mm/yyyy",
}

_HEADER_BG = "#1F4E79"
CHART_WIDTH, CHART_HEIGHT = 720, 400
CHART_ROWS = 22  # rows between two charts stacked on the right of a table (default row height 20 px)
_SERIES_COLOURS = ("#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B", "#E377C2", "#7F7F7F")


@dataclass(frozen=True)
class Chart:
    """A native Excel chart drawn from columns of a table placed in the same workbook."""

    kind: Literal["line", "column", "bar"]
    title: str
    table: str  # name of the source table
    categories: str  # header of the category column
    series: tuple[str, ...]  # headers of the value columns
    y_title: str = ""
    x_title: str = ""
    skip_last_rows: int = 0  # e.g. a "Total" row
    dashed: tuple[str, ...] = ()  # series drawn dashed (targets)
    percent_axis: bool = False
    rows: tuple[int, int] | None = None  # first and last data row (0-based) when not the whole table


@dataclass(frozen=True)
class Sheet:
    """A worksheet: a title, tables stacked with a blank line between them, charts on the right.

    The autofilter and the frozen header go to the table at `filter_index` (Excel allows one autofilter per
    sheet); the rows above it stay visible when scrolling.
    """

    name: str
    tables: tuple[Table, ...]
    charts: tuple[Chart, ...] = ()
    filter_index: int = 0
    freeze: bool = True


@dataclass
class _Placed:
    sheet: str
    header_row: int
    first_col: int
    table: Table


def safe_sheet_names(names: list[str]) -> list[str]:
    """Excel-valid, unique (case-insensitively) sheet names of at most 31 characters."""
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        base = re.sub(r"[\[\]:*?/\\]", "_", name).strip("'") or "Feuille"
        base = base[:31]
        candidate, n = base, 2
        while candidate.lower() in seen:
            suffix = f"~{n}"
            candidate = base[: 31 - len(suffix)] + suffix
            n += 1
        seen.add(candidate.lower())
        out.append(candidate)
    return out


def _text_width(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, float):
        return len(f"{value:,.1f}")
    if isinstance(value, dt.date):
        return 10
    return len(str(value))


@dataclass
class _Formats:
    title: Any
    note: Any
    header: Any
    text: Any
    numbers: dict[str, Any] = field(default_factory=dict)


def workbook_bytes(sheets: list[Sheet], created: dt.date, title: str, subject: str = "") -> bytes:
    """Render the sheets to XLSX bytes."""
    import xlsxwriter  # here, not at the top: commands that write no workbook do not pay its import
    from xlsxwriter.utility import xl_rowcol_to_cell

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(
        buffer,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    book.set_properties(
        {
            "title": title,
            "subject": subject,
            "author": "fluxopt",
            "comments": "Produit par fluxopt à partir des données du scénario.",
            "created": dt.datetime(created.year, created.month, created.day),
        }
    )
    fmt = _Formats(
        title=book.add_format({"bold": True, "font_size": 14, "font_color": _HEADER_BG}),
        note=book.add_format({"italic": True, "font_color": "#555555"}),
        header=book.add_format(
            {
                "bold": True,
                "font_color": "#FFFFFF",
                "bg_color": _HEADER_BG,
                "text_wrap": True,
                "valign": "vcenter",
                "border": 1,
            }
        ),
        text=book.add_format({}),
    )
    for kind, code in NUMBER_FORMATS.items():
        fmt.numbers[kind] = book.add_format({"num_format": code})

    names = safe_sheet_names([s.name for s in sheets])
    placed: dict[str, _Placed] = {}
    pending: list[tuple[Any, Sheet, str]] = []
    for sheet, name in zip(sheets, names, strict=True):
        ws = book.add_worksheet(name)
        ws.hide_gridlines(2)
        ws.set_landscape()
        ws.fit_to_pages(1, 0)
        row = 0
        widths: dict[int, int] = {}
        for t_index, table in enumerate(sheet.tables):
            ws.write_string(row, 0, table.title, fmt.title)
            row += 1
            for note in table.notes:
                ws.write_string(row, 0, note, fmt.note)
                row += 1
            header_row = row
            ws.set_row(header_row, 32)
            for c, column in enumerate(table.columns):
                ws.write_string(header_row, c, column.header, fmt.header)
                widths[c] = max(widths.get(c, 0), min(len(column.header), 16), column.width or 0)
            for r, values in enumerate(table.rows, start=header_row + 1):
                for c, (column, value) in enumerate(zip(table.columns, values, strict=True)):
                    widths[c] = max(widths.get(c, 0), min(_text_width(value), 60))
                    if value is None:
                        continue
                    if isinstance(value, bool):
                        ws.write_string(r, c, "oui" if value else "non", fmt.text)
                    elif isinstance(value, int | float) and column.kind in NUMBER_FORMATS:
                        ws.write_number(r, c, float(value), fmt.numbers[column.kind])
                    elif isinstance(value, int | float):
                        ws.write_number(r, c, float(value))
                    elif isinstance(value, dt.date):
                        ws.write_datetime(
                            r, c, dt.datetime(value.year, value.month, value.day), fmt.numbers["date"]
                        )
                    else:
                        ws.write_string(r, c, str(value), fmt.text)
            last_row = header_row + len(table.rows)
            if t_index == sheet.filter_index:
                ws.autofilter(header_row, 0, max(last_row, header_row), len(table.columns) - 1)
                if sheet.freeze:
                    ws.freeze_panes(header_row + 1, 0)
                ws.repeat_rows(header_row)
            placed[table.name] = _Placed(name, header_row, 0, table)
            row = last_row + 2
        for c, w in widths.items():
            ws.set_column(c, c, max(8, w + 2))
        pending.append((ws, sheet, name))

    for ws, sheet, _ in pending:
        n_cols = max((len(t.columns) for t in sheet.tables), default=1)
        for k, chart in enumerate(sheet.charts):
            _add_chart(book, ws, chart, placed, anchor=xl_rowcol_to_cell(1 + CHART_ROWS * k, n_cols + 1))
    book.close()
    return buffer.getvalue()


def _add_chart(book: Any, ws: Any, spec: Chart, placed: dict[str, _Placed], anchor: str) -> None:
    source = placed[spec.table]
    table = source.table
    n = len(table.rows) - spec.skip_last_rows
    if n <= 0:
        return
    first, last = source.header_row + 1, source.header_row + n
    if spec.rows is not None:
        first, last = source.header_row + 1 + spec.rows[0], source.header_row + 1 + spec.rows[1]
    cat_col = table.headers.index(spec.categories)
    chart = book.add_chart({"type": spec.kind})
    for k, header in enumerate(spec.series):
        col = table.headers.index(header)
        colour = _SERIES_COLOURS[k % len(_SERIES_COLOURS)]
        series: dict[str, Any] = {
            "name": [source.sheet, source.header_row, col],
            "categories": [source.sheet, first, cat_col, last, cat_col],
            "values": [source.sheet, first, col, last, col],
        }
        if spec.kind == "line":
            series["line"] = {
                "color": colour,
                "width": 2.0,
                **({"dash_type": "dash"} if header in spec.dashed else {}),
            }
        else:
            series["fill"] = {"color": colour}
        chart.add_series(series)
    chart.set_title({"name": spec.title, "name_font": {"size": 12}})
    chart.set_y_axis(
        {
            "name": spec.y_title,
            "major_gridlines": {"visible": True, "line": {"color": "#DDDDDD"}},
            **({"num_format": "0%"} if spec.percent_axis else {}),
        }
    )
    # Category labels at the bottom edge, below negative bars too.
    chart.set_x_axis({"name": spec.x_title, "label_position": "low", "num_font": {"rotation": -45}})
    chart.set_size({"width": CHART_WIDTH, "height": CHART_HEIGHT})
    chart.set_legend({"position": "bottom"})
    ws.insert_chart(anchor, chart)


def write_workbook(
    path: str | Path, sheets: list[Sheet], created: dt.date, title: str, subject: str = ""
) -> Path:
    """Write the workbook atomically; returns its path."""
    target = Path(path)
    write_bytes(target, workbook_bytes(sheets, created, title, subject))
    return target
