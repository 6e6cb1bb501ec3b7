"""CSV outputs that French Excel opens correctly by default, and plain RFC 4180 CSV for pipelines.

- `fr` (default): UTF-8 with BOM (Excel otherwise reads cp1252 and garbles accents), `;` separator (French
  Excel's list separator), decimal comma, dates `dd/mm/yyyy`, CRLF line ends. A text cell that Excel would
  evaluate as a formula (`=`, `+`, `-`, `@`, tab, CR first) is prefixed with an apostrophe, so that a name
  such as `=HYPERLINK(...)` stays text.
- `plain`: UTF-8 without BOM, `,`, decimal point, ISO dates, LF line ends, cells untouched.
Every file is written atomically (`fluxopt.io.atomic`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from fluxopt.io.atomic import write_bytes

Dialect = Literal["fr", "plain"]
DIALECTS: tuple[str, ...] = ("fr", "plain")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def format_number(value: float, decimal: str = ".") -> str:
    """Shortest faithful text of a float, without exponent and without trailing zeros."""
    if math.isnan(value) or math.isinf(value):
        return ""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text.replace(".", decimal)


def format_cell(value: object, dialect: Dialect = "fr") -> str:
    """The text of one cell in a dialect."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return ("oui" if value else "non") if dialect == "fr" else ("true" if value else "false")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_number(value, "," if dialect == "fr" else ".")
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y") if dialect == "fr" else value.isoformat()
    text = str(value)
    if dialect == "fr" and text.startswith(_FORMULA_START):
        text = "'" + text
    return text


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]], dialect: Dialect = "fr") -> bytes:
    """Render a CSV document to bytes in the given dialect."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown CSV dialect {dialect!r}")
    buffer = io.StringIO(newline="")
    if dialect == "fr":
        writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    else:
        writer = csv.writer(buffer, delimiter=",", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([format_cell(h, dialect) for h in header])
    for row in rows:
        writer.writerow([format_cell(c, dialect) for c in row])
    text = buffer.getvalue()
    return (b"\xef\xbb\xbf" if dialect == "fr" else b"") + text.encode("utf-8")


def write_csv(
    path: str | Path,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    dialect: Dialect = "fr",
) -> Path:
    """Write a CSV file atomically; returns its path."""
    target = Path(path)
    write_bytes(target, csv_bytes(header, rows, dialect))
    return target
