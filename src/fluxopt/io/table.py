"""Read a CSV or XLSX table into named text columns, matching headers loosely and never reading personal data.

The reader keeps only the columns a table's spec asks for: columns that look like an applicant's personal data
(names, NUR, birth date, phone, e-mail, address) are dropped by header name before any cell is looked at, and
the user is told which headers were ignored (the header only, never a value).
"""

from __future__ import annotations

import csv
import hashlib
import io
import operator
import re
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fluxopt.errors import Problem, ProblemList
from fluxopt.io.text import CellError, decode_bytes, header_key, header_tokens

#: Largest table fluxopt reads (bytes). A 120 MB CSV (2.5 million dwellings) loads in about 16 s of CPU and
#: 2 GB of memory (bench/load.py); beyond this limit the file is refused with a clear message.
MAX_TABLE_BYTES = 200 * 1024 * 1024

#: At most this many problems of one kind (same column, same message) are listed per file; the rest are
#: summarised in one line, so a wrong column in a 500,000-row file does not print 500,000 lines.
MAX_SAME_PROBLEMS = 20

#: Largest workbook read (bytes on disk) and largest total size of its unzipped parts: a small XLSX can
#: unzip to gigabytes (a "zip bomb"); a 500,000-row stock is about 20 MB on disk and 150 MB unzipped.
MAX_XLSX_BYTES = 50 * 1024 * 1024
MAX_XLSX_EXPANDED_BYTES = 1024 * 1024 * 1024

#: Extensions read as spreadsheets (python-calamine); everything else is read as CSV text.
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")

csv.field_size_limit(1024 * 1024)


@dataclass(frozen=True)
class Column:
    """One expected column: its canonical name (as in docs/formats.md), accepted header keys, and need."""

    name: str
    synonyms: tuple[str, ...] = ()
    required: bool = True

    def header_keys(self) -> set[str]:
        return {header_key(self.name), *(header_key(s) for s in self.synonyms)}


@dataclass(frozen=True)
class TableSpec:
    """The columns of one kind of table (stock, vacancies, designations, turnover)."""

    label: str  # French, for messages: « patrimoine », « vacances »…
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


@dataclass
class RawTable:
    """Selected columns of a table as text, with the source line of every row."""

    file: str
    columns: dict[str, list[str]]
    lines: list[int]
    headers: dict[str, str]  # canonical name → header as written in the file
    ignored_personal: list[str] = field(default_factory=list)
    excel: bool = False  # cells came from XLSX: Excel serial dates are accepted
    sha256: str = ""

    def __len__(self) -> int:
        return len(self.lines)

    def has(self, name: str) -> bool:
        return name in self.columns


# --------------------------------------------------------------------------------------------------
# Personal data: recognised by header, never read
# --------------------------------------------------------------------------------------------------

_PERSONAL_TOKENS = {
    "nom",
    "noms",
    "prenom",
    "prenoms",
    "nur",
    "naissance",
    "telephone",
    "tel",
    "portable",
    "mobile",
    "email",
    "mail",
    "courriel",
    "adresse",
    "civilite",
    "nir",
    "secu",
    "ddn",
    "demandeur",
    "demandeurs",
    "candidat",
    "candidats",
    "locataire",
    "locataires",
    "titulaire",
    "conjoint",
    "iban",
}
_PERSONAL_KEYS = {
    "numerounique",
    "numunique",
    "nomprenom",
    "nomdusage",
    "nomdenaissance",
    "datedenaissance",
    "datenaissance",
    "nele",
    "nee",
    "numerodetelephone",
    "numtel",
    "adressemail",
    "adresseelectronique",
}


#: Words that make `nom`/`adresse` describe a thing, not a person: `Nom du programme`, `Adresse du logement`.
_THING_TOKENS = {
    "programme",
    "commune",
    "voie",
    "rue",
    "residence",
    "batiment",
    "ensemble",
    "groupe",
    "convention",
    "reservataire",
    "bailleur",
    "logement",
    "immeuble",
    "operation",
    "departement",
    "epci",
}


def looks_personal(header: str) -> bool:
    """True for headers such as `Nom`, `Prénom`, `NUR`, `N° unique`, `Date de naissance`, `Téléphone`, `E-mail`."""
    tokens = header_tokens(header)
    key = header_key(header)
    hits = [t for t in tokens if t in _PERSONAL_TOKENS]
    if hits:
        about_a_thing = any(t in _THING_TOKENS for t in tokens)
        strong = any(t not in ("nom", "noms", "adresse") for t in hits)
        return strong or not about_a_thing
    if key in _PERSONAL_KEYS or key.startswith(
        ("numerounique", "numunique", "nunique", "unique", "datedenaissance", "email")
    ):
        return True
    return bool(re.fullmatch(r"n?unique|nud|nurdemande|nomdemandeur", key))


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


def read_limited(path: Path, display: str, limit: int, problems: ProblemList) -> bytes | None:
    """The file's bytes, or None (with a problem) when it is missing, unreadable or too large."""
    try:
        size = path.stat().st_size
    except OSError:
        problems.add(display, None, None, "fichier introuvable")
        return None
    if not path.is_file():
        problems.add(display, None, None, "ce chemin n'est pas un fichier")
        return None
    if size > limit:
        problems.add(
            display,
            None,
            None,
            f"fichier trop volumineux : {size / 2**20:.0f} Mo, la limite est de {limit / 2**20:.0f} Mo "
            "(découpez-le ou retirez les colonnes inutiles)",
        )
        return None
    try:
        return path.read_bytes()
    except OSError as error:
        problems.add(display, None, None, f"lecture impossible : {error.strerror or type(error).__name__}")
        return None


def _sniff_delimiter(text: str) -> str:
    """`;`, `,`, tab or `|`: csv.Sniffer on the first lines, checked against the header line."""
    head = text[:32768]
    cut = head.rfind("\n")
    sample = head if cut <= 0 else head[:cut]
    first = sample.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (";", "\t", ",", "|")}
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=";,\t|").delimiter
        if counts.get(sniffed, 0) > 0:
            return sniffed
    except csv.Error:
        pass
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ";"


@dataclass
class Grid:
    """Cells of a table as read: either rows of fields, or (fast path) one flat list of `width` fields a row."""

    header: list[str]
    lines: list[int]  # source line of each data row
    rows: list[list[Any]] | None = None
    flat: list[str] | None = None
    width: int = 0
    #: converts a raw cell to text when a column is taken (XLSX: only the kept columns are ever converted)
    convert: Callable[[Any], str] | None = None

    def row_lengths(self) -> list[int]:
        return [self.width] * len(self.lines) if self.rows is None else [len(r) for r in self.rows]

    def keep(self, kept: list[int]) -> None:
        """Keep only the rows at positions `kept` (row path only: the flat path has no short rows)."""
        assert self.rows is not None
        self.rows = [self.rows[i] for i in kept]
        self.lines = [self.lines[i] for i in kept]

    def column(self, index: int) -> list[str]:
        if self.flat is not None:
            return self.flat[index :: self.width]
        assert self.rows is not None
        if self.convert is not None:
            convert = self.convert
            return [convert(row[index]) for row in self.rows]
        return [row[index] for row in self.rows]


def _fast_split(text: str, delimiter: str) -> Grid | None:
    """Unquoted text where every line has the header's number of fields: split without the csv module.

    Three times faster on a 500,000-row stock; any quote, lone carriage return or ragged line falls back
    to the csv module, which handles (and reports) the general case.
    """
    if '"' in text:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            return None
    raw = text.split("\n")
    start = next((i for i, line in enumerate(raw) if line.strip()), None)
    if start is None:
        return None
    header = raw[start].split(delimiter)
    width = len(header)
    body = [line for line in raw[start + 1 :] if line]
    if body and set(map(operator.methodcaller("count", delimiter), body)) != {width - 1}:
        return None
    lines = [i for i, line in enumerate(raw[start + 1 :], start=start + 2) if line]
    flat = delimiter.join(body).split(delimiter) if body else []
    return Grid(header, lines, flat=flat, width=width)


def _csv_rows(data: bytes, display: str, problems: ProblemList) -> Grid | None:
    try:
        text, _ = decode_bytes(data)
    except CellError as error:
        problems.add(display, None, None, str(error))
        return None
    if not text.strip():
        problems.add(
            display,
            None,
            None,
            "fichier vide : une ligne d'en-tête puis une ligne par enregistrement sont attendues",
        )
        return None
    explicit = re.match(r"\A\s*sep=(.)\s*?(\r\n|\n)", text)
    if explicit:  # Excel's `sep=;` first line names the delimiter; blanked so line numbers stay right
        delimiter = explicit.group(1)
        text = "\n" + text[explicit.end() :]
    else:
        delimiter = _sniff_delimiter(text)
    fast = _fast_split(text, delimiter)
    if fast is not None:
        return fast
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=False)
    del text
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    add_row, add_line = rows.append, lines.append
    last = 0  # a record spanning several lines (a quoted line break, an unclosed quote) is at its first line
    try:
        for row in reader:
            start, last = last + 1, reader.line_num
            if header is None:
                if any(cell.strip() for cell in row):
                    header = row
                continue
            if row:  # blank lines; all-empty rows (Excel's trailing `;;;;`) are dropped in _select
                add_row(row)
                add_line(start)
    except csv.Error as error:
        problems.add(
            display,
            reader.line_num,
            None,
            f"CSV mal formé (guillemet non fermé ou fichier tronqué ?) : {error}",
        )
        return None
    if header is None:
        problems.add(display, None, None, "fichier vide : aucune ligne d'en-tête")
        return None
    return Grid(header, lines, rows=rows)


def _excel_cell(value: object) -> str:
    """A calamine cell as text: integral floats without `.0`, dates in ISO form, booleans as oui/non."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _unzipped_size(path: Path) -> int | None:
    """Total unzipped size of a zip-based workbook (XLSX, ODS), None when it is not a zip file."""
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


def _xlsx_rows(path: Path, display: str, problems: ProblemList) -> Grid | None:
    if path.suffix.lower() in (".xlsx", ".xlsm", ".ods"):
        expanded = _unzipped_size(path)
        if expanded is None:
            problems.add(
                display,
                None,
                None,
                "classeur Excel illisible : ce n'est pas un fichier XLSX valide (corrompu ou tronqué ?)",
            )
            return None
        if expanded > MAX_XLSX_EXPANDED_BYTES:
            problems.add(
                display,
                None,
                None,
                f"classeur trop volumineux une fois décompressé ({expanded / 2**20:.0f} Mo, limite "
                f"{MAX_XLSX_EXPANDED_BYTES / 2**20:.0f} Mo) : enregistrez-le en CSV",
            )
            return None
    try:
        from python_calamine import CalamineWorkbook

        book = CalamineWorkbook.from_path(str(path))
        if not book.sheet_names:
            problems.add(display, None, None, "classeur sans feuille")
            return None
        sheet = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except Exception as error:  # calamine raises its own error types for corrupt files
        problems.add(
            display,
            None,
            None,
            f"classeur Excel illisible ({type(error).__name__}) : fichier corrompu ou tronqué ?",
        )
        return None
    header: list[str] | None = None
    rows: list[list[Any]] = []
    lines: list[int] = []
    for number, raw in enumerate(sheet, start=1):
        if header is None:
            cells = [_excel_cell(v) for v in raw]
            if any(c.strip() for c in cells):
                header = cells
            continue
        if any(v is not None and v != "" for v in raw):  # cells are converted later, kept columns only
            rows.append(raw)
            lines.append(number)
    if header is None:
        problems.add(display, None, None, "classeur vide : aucune ligne d'en-tête dans la première feuille")
        return None
    return Grid(header, lines, rows=rows, convert=_excel_cell)


def read_table(
    path: Path,
    display: str,
    spec: TableSpec,
    problems: ProblemList,
    warn: Callable[[str], None],
) -> RawTable | None:
    """Read `path` (CSV or XLSX by extension) into the columns of `spec`; None when it cannot be used at all."""
    suffix = path.suffix.lower()
    limit = MAX_XLSX_BYTES if suffix in EXCEL_SUFFIXES else MAX_TABLE_BYTES
    data = read_limited(path, display, limit, problems)
    if data is None:
        return None
    digest = hashlib.sha256(data).hexdigest()
    if suffix in EXCEL_SUFFIXES:
        del data
        parsed = _xlsx_rows(path, display, problems)
        excel = True
    else:
        parsed = _csv_rows(data, display, problems)
        del data
        excel = False
    if parsed is None:
        return None
    table = _select(display, parsed, spec, problems, warn, excel)
    if table is not None:
        table.sha256 = digest
    return table


def _select(
    display: str,
    grid: Grid,
    spec: TableSpec,
    problems: ProblemList,
    warn: Callable[[str], None],
    excel: bool,
) -> RawTable | None:
    header = grid.header
    by_key: dict[str, Column] = {}
    for column in spec.columns:
        for key in column.header_keys():
            by_key.setdefault(key, column)
    found: dict[str, int] = {}
    ignored: list[str] = []
    ok = True
    for index, name in enumerate(header):
        clean = name.strip().lstrip("\ufeff")
        key = header_key(clean)
        matched = by_key.get(key)
        if matched is None:
            if clean and looks_personal(clean):
                ignored.append(clean)
            continue
        column = matched
        if column.name in found:
            first = header[found[column.name]].strip()
            problems.add(
                display,
                1,
                clean,
                f"colonne en double : « {first} » (colonne {found[column.name] + 1}) et « {clean} » "
                f"(colonne {index + 1}) désignent toutes deux « {column.name} »",
            )
            ok = False
            continue
        found[column.name] = index
    if ignored:
        warn(
            f"Avertissement : {display} : colonnes ignorées car elles semblent contenir des données personnelles "
            f"(jamais lues) : {', '.join(repr(h) for h in ignored)}"
        )
    missing = [c for c in spec.columns if c.required and c.name not in found]
    for column in missing:
        hint = f" (en-têtes acceptés : {', '.join([column.name, *column.synonyms[:4]])})"
        problems.add(
            display,
            1,
            column.name,
            f"colonne obligatoire absente{hint}",
            ", ".join(h.strip() for h in header)[:200],
        )
    if missing or not ok:
        return None
    names = list(found)
    indexes = [found[n] for n in names]
    width = len(header)
    needed = max(indexes) + 1 if indexes else 0
    lengths = grid.row_lengths()
    if min(lengths, default=needed) < needed:
        short = ProblemCounter(problems, display)
        for i, length in enumerate(lengths):
            if length < needed:
                short.add(
                    grid.lines[i],
                    None,
                    f"ligne incomplète : {length} champ(s) au lieu de {width} (fichier tronqué ou séparateur différent ?)",
                )
        short.flush()
        grid.keep([i for i, length in enumerate(lengths) if length >= needed])
        lengths = grid.row_lengths()
    if not excel and grid.rows is not None and max(lengths, default=width) > width:
        # more fields than headers: a separator inside an unquoted value (`DUPONT, Jean`, `3, rue …`) shifts
        # every later cell; reading them would take a name for a typology, or worse, silently accept it.
        # The row is refused without showing any of its values (they may be personal data).
        # A row longer than the file's usual row is shifted even when its extra cells are empty
        # (`MARTIN, Paul,…,,` pushes an empty last cell out); a trailing separator on every row is not.
        long = ProblemCounter(problems, display)
        rows = grid.rows
        usual = max(width, Counter(lengths).most_common(1)[0][0])
        shifted = [
            i
            for i, length in enumerate(lengths)
            if length > usual or (length > width and any(c.strip() for c in rows[i][width:]))
        ]
        for i in shifted:
            long.add(
                grid.lines[i],
                None,
                f"ligne avec trop de champs : {lengths[i]} au lieu de {width} (une valeur contient-elle le "
                "séparateur sans guillemets ?) ; ses valeurs ne sont pas lues",
            )
        long.flush()
        if shifted:
            drop = set(shifted)
            grid.keep([i for i in range(len(lengths)) if i not in drop])
    lines = grid.lines
    columns = {n: grid.column(i) for n, i in zip(names, indexes, strict=True)}
    leading = columns[names[0]] if names else []
    if "" in leading:
        # rows whose every kept cell is empty (Excel's trailing `;;;;`) are not records
        blank = {r for r, v in enumerate(leading) if not v and all(not columns[n][r].strip() for n in names)}
        if blank:
            columns = {
                n: [v for r, v in enumerate(values) if r not in blank] for n, values in columns.items()
            }
            lines = [line for r, line in enumerate(lines) if r not in blank]
    headers = {n: header[found[n]].strip().lstrip("\ufeff") for n in names}
    return RawTable(display, columns, lines, headers, ignored, excel)


class ProblemCounter:
    """Adds problems, listing at most `MAX_SAME_PROBLEMS` of each (column, message) and summarising the rest."""

    def __init__(self, problems: ProblemList, file: str) -> None:
        self.problems = problems
        self.file = file
        self.counts: dict[tuple[str | None, str], int] = {}

    def add(self, line: int | None, column: str | None, message: str, received: object | None = None) -> None:
        key = (column, message)
        count = self.counts.get(key, 0) + 1
        self.counts[key] = count
        if count <= MAX_SAME_PROBLEMS:
            self.problems.add(self.file, line, column, message, received)

    def flush(self) -> None:
        for (column, message), count in sorted(
            self.counts.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])
        ):
            if count > MAX_SAME_PROBLEMS:
                self.problems.problems.append(
                    Problem(
                        self.file,
                        None,
                        column,
                        f"… et {count - MAX_SAME_PROBLEMS} autre(s) ligne(s) : {message}",
                    )
                )
        self.counts.clear()
