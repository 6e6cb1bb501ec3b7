"""The four scenario tables (stock, turnover, vacancies, designations): column specs and conversion to
the columnar `Stock` / `Vacancies` / `Designations` of `fluxopt.domain.tables`.

Cells are parsed through a per-column memo (a column of 500,000 cells has few distinct values), so a
large stock loads in about a second. Every bad cell becomes a `Problem` (file, line, column, value);
nothing is raised here, the caller raises once with all of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from fluxopt.domain.enums import (
    BAILLEUR,
    CONSTRUCTION_PERIODS,
    DesignationStatus,
    ExclusionCategory,
    OutOfFlux,
)
from fluxopt.domain.tables import (
    EXCLUSIONS,
    FINANCINGS,
    OUT_OF_FLUX,
    STATUSES,
    TYPOLOGIES,
    Designations,
    Stock,
    Vacancies,
)
from fluxopt.errors import ProblemList
from fluxopt.io.table import Column, ProblemCounter, RawTable, TableSpec
from fluxopt.io.text import (
    CellError,
    header_key,
    parse_bool,
    parse_date,
    parse_financing,
    parse_int,
    parse_optional_flag,
    parse_rate,
    parse_typology,
)

T = TypeVar("T")
_MISSING = object()
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_NAT_INT = np.iinfo(np.int64).min

# --------------------------------------------------------------------------------------------------
# Specs: canonical names (docs/formats.md), French synonyms, RPLS field names
# --------------------------------------------------------------------------------------------------

STOCK = TableSpec(
    "patrimoine",
    (
        Column(
            "logement",
            (
                "id_logement",
                "identifiant logement",
                "identifiant du logement",
                "n° logement",
                "numéro logement",
                "numéro de logement",
                "num logement",
                "code logement",
                "référence logement",
                "ref logement",
                "logement_id",
                "RPLS",
                "id RPLS",
                "identifiant RPLS",
                "IDENT_REP",
                "IDENT_INT",
                "NUMLOGT",
            ),
        ),
        Column(
            "programme",
            (
                "code programme",
                "n° programme",
                "numéro programme",
                "programme_id",
                "groupe",
                "code groupe",
                "ensemble immobilier",
                "résidence",
                "code résidence",
                "opération",
                "CODSEGPATRIM",
            ),
            required=False,
        ),
        Column(
            "commune",
            (
                "code commune",
                "code INSEE",
                "INSEE",
                "code commune INSEE",
                "commune INSEE",
                "DEPCOM",
                "DEPCOM_CODE",
                "COM",
            ),
        ),
        Column("qpv", ("quartier prioritaire", "en QPV", "QPV_CODE", "code QPV", "zone QPV")),
        Column(
            "typologie",
            (
                "type",
                "typo",
                "type de logement",
                "nb pièces",
                "nombre de pièces",
                "pièces",
                "NBPIECE",
                "NBPIECES",
            ),
        ),
        Column(
            "financement",
            ("type de financement", "financement initial", "FINAN", "FINAN_CODE", "FINANCEMENT_CODE"),
        ),
        Column(
            "annee_construction",
            (
                "année de construction",
                "année construction",
                "année d'achèvement",
                "année achèvement",
                "construction",
                "CONSTRUCT",
            ),
        ),
        Column("rotation", ("taux de rotation", "rotation observée", "turnover"), required=False),
        Column(
            "hors_flux",
            ("hors flux", "exclu du flux", "réservation hors flux", "contingent hors flux"),
            required=False,
        ),
        Column(
            "mise_en_service",
            ("date de mise en service", "date mise en service", "première mise en location", "date MES"),
            required=False,
        ),
        Column(
            "date_bail",
            (
                "date du bail",
                "date de bail",
                "début du bail",
                "date de début du bail",
                "date d'effet du bail",
                "date de prise d'effet du bail",
                "date d'entrée",
                "date d'entrée du locataire",
                "BAIL",
                "DATEBAIL",
                "DATE_BAIL",
            ),
            required=False,
        ),
    ),
)

TURNOVER = TableSpec(
    "rotation",
    (
        Column("programme", ("code programme", "n° programme", "groupe", "code groupe", "résidence")),
        Column("rotation", ("taux de rotation", "taux", "rotation observée", "rotation moyenne", "turnover")),
    ),
)

VACANCIES = TableSpec(
    "vacances",
    (
        Column("logement", STOCK.column("logement").synonyms),
        Column(
            "date_liberation",
            (
                "date de libération",
                "date libération",
                "libération",
                "date de départ",
                "date de vacance",
                "date",
                "date de sortie",
            ),
        ),
        Column("exclusion", ("motif d'exclusion", "exclu", "catégorie d'exclusion", "motif"), required=False),
    ),
)

DESIGNATIONS = TableSpec(
    "désignations",
    (
        Column("logement", STOCK.column("logement").synonyms),
        Column(
            "date",
            (
                "date de désignation",
                "date désignation",
                "date de mise à disposition",
                "date MAD",
                "date d'orientation",
            ),
        ),
        Column(
            "convention",
            ("convention de réservation", "contingent", "réservataire", "id convention", "code convention"),
        ),
        Column("statut", ("état", "etat", "résultat", "issue", "status")),
        Column(
            "date_bail",
            ("date du bail", "date de bail", "date de signature du bail", "date signature bail"),
            required=False,
        ),
        Column(
            "menage_prioritaire",
            ("ménage prioritaire", "prioritaire", "public prioritaire", "DALO", "DALO ou prioritaire"),
            required=False,
        ),
        Column("premier_quartile", ("1er quartile", "quartile 1", "Q1", "premier quartile"), required=False),
    ),
)

_EXCLUSION_WORDS: dict[str, str] = {header_key(e.value): e.value for e in ExclusionCategory}
_EXCLUSION_WORDS.update(
    {
        "mutation": "mutation_interne",
        "mutationinterne": "mutation_interne",
        "mutationsinternes": "mutation_interne",
        "npnru": "anru",
        "renouvellementurbain": "anru",
        "habitatindigne": "habitat_indigne",
        "insalubrite": "habitat_indigne",
        "vente": "vente",
        "ventehlm": "vente",
    }
)
_OUT_OF_FLUX_WORDS: dict[str, str] = {
    "defense": OutOfFlux.DEFENCE.value,
    "defensenationale": OutOfFlux.DEFENCE.value,
    "securite": OutOfFlux.DEFENCE.value,
    "securiteinterieure": OutOfFlux.DEFENCE.value,
    "defensesecurite": OutOfFlux.DEFENCE.value,
    "hopital": OutOfFlux.HOSPITAL.value,
    "hopitaux": OutOfFlux.HOSPITAL.value,
    "eps": OutOfFlux.HOSPITAL.value,
    "etablissementpublicdesante": OutOfFlux.HOSPITAL.value,
}
_STATUS_WORDS: dict[str, str] = {header_key(s.value): s.value for s in DesignationStatus}
_STATUS_WORDS.update(
    {
        "propose": "propose",
        "proposee": "propose",
        "enattente": "propose",
        "encours": "propose",
        "refuse": "refuse",
        "refusee": "refuse",
        "refus": "refuse",
        "bailsigne": "bail_signe",
        "attribue": "bail_signe",
        "attribuee": "bail_signe",
        "signe": "bail_signe",
        "carence": "carence",
        "repris": "repris",
        "reprise": "repris",
        "reprisbailleur": "repris",
    }
)


# --------------------------------------------------------------------------------------------------
# Column conversion with memoisation
# --------------------------------------------------------------------------------------------------


class _Cells:
    """Parses one column with a memo, reporting each bad cell (capped per column and message)."""

    def __init__(self, table: RawTable, counter: ProblemCounter) -> None:
        self.table = table
        self.counter = counter

    def _memo(self, name: str, parser: Callable[[str], T], default: T, optional_empty: bool) -> dict[str, T]:
        """Parse every distinct cell of column `name` once; report bad cells (they take `default`)."""
        values = self.table.columns[name]
        header = self.table.headers.get(name, name)
        memo: dict[str, object] = {}
        for cell in set(values):
            text = cell.strip()
            if not text:
                memo[cell] = default if optional_empty else CellError("valeur obligatoire manquante")
                continue
            try:
                memo[cell] = parser(text)
            except CellError as error:
                memo[cell] = error
        bad = {cell for cell, result in memo.items() if isinstance(result, CellError)}
        if bad:
            lines = self.table.lines
            for i, cell in enumerate(values):
                if cell in bad:
                    self.counter.add(lines[i], header, str(memo[cell]), cell if cell.strip() else None)
            for cell in bad:
                memo[cell] = default
        return memo  # type: ignore[return-value]

    def parse(
        self, name: str, parser: Callable[[str], T], default: T, optional_empty: bool = False
    ) -> list[T]:
        """Parse column `name`; bad cells (and empty ones unless `optional_empty`) take `default` and a problem."""
        values = self.table.columns.get(name)
        if values is None:
            return [default] * len(self.table)
        return list(map(self._memo(name, parser, default, optional_empty).__getitem__, values))

    def array(
        self,
        name: str,
        parser: Callable[[str], Any],
        default: Any,
        dtype: npt.DTypeLike,
        optional_empty: bool = False,
    ) -> np.ndarray:
        """Like `parse`, straight into a numpy array (no intermediate list)."""
        values = self.table.columns.get(name)
        n = len(self.table)
        if values is None:
            return np.full(n, default, dtype=dtype)
        memo = self._memo(name, parser, default, optional_empty)
        return np.fromiter(map(memo.__getitem__, values), dtype=dtype, count=n)

    def dates(self, name: str, optional_empty: bool = True) -> np.ndarray:
        """A date column as datetime64[D] (NaT when empty), through day numbers."""
        excel = self.table.excel

        def days(text: str) -> int:
            return parse_date(text, excel_serial=excel).toordinal() - _EPOCH_ORDINAL

        return self.array(name, days, _NAT_INT, np.int64, optional_empty).view("datetime64[D]")

    def codes(self, name: str) -> list[str]:
        """An identifier column, trimmed; empty cells are reported."""
        values = self.table.columns.get(name, [])
        out = list(map(str.strip, values))
        if "" in out:
            header = self.table.headers.get(name, name)
            for i, value in enumerate(out):
                if not value:
                    self.counter.add(self.table.lines[i], header, "valeur obligatoire manquante")
        return out


def _year(text: str) -> int:
    """A construction year (RPLS may give a full date: its year is taken)."""
    try:
        value = parse_int(text)
    except CellError:
        try:
            value = parse_date(text).year
        except CellError:
            raise CellError("année de construction attendue (aaaa, ou une date jj/mm/aaaa)") from None
    if not 1500 <= value <= 2100:
        raise CellError("année de construction attendue (aaaa)")
    return value


def _code(text: str) -> str:
    """An identifier cell: trimmed; Excel's `12345.0` is already integral text from the reader."""
    return text.strip()


def _commune(text: str) -> str:
    code = text.strip().upper()
    if code.isdigit() and len(code) == 4:  # Excel dropped the leading zero of 01…09 départements
        code = "0" + code
    if not (len(code) == 5 and (code.isdigit() or (code[:2] in ("2A", "2B") and code[2:].isdigit()))):
        raise CellError("code INSEE de commune attendu (5 caractères, par exemple 92046)")
    return code


# --------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------


def build_stock(table: RawTable, problems: ProblemList) -> Stock:
    """Convert the raw stock table; duplicate dwelling ids are reported with both lines."""
    counter = ProblemCounter(problems, table.file)
    cells = _Cells(table, counter)
    n = len(table)
    ids = cells.codes("logement")
    communes_raw = cells.parse("commune", _commune, "")
    years = cells.parse("annee_construction", _year, 0)
    if table.has("programme"):
        programmes_raw = cells.codes("programme")
    else:
        # An RPLS extract has no programme: dwellings are grouped by commune and construction year.
        programmes_raw = [f"{c}-{y}" for c, y in zip(communes_raw, years, strict=True)]
    qpv = cells.array(
        "qpv", parse_bool, False, np.bool_, optional_empty=True
    )  # empty = non (docs/formats.md)
    typ = cells.array("typologie", lambda t: TYPOLOGIES.index(parse_typology(t).value), 0, np.int8)
    fin = cells.array("financement", lambda t: FINANCINGS.index(parse_financing(t).value), 0, np.int8)
    rot = cells.array("rotation", parse_rate, float("nan"), np.float64, optional_empty=True)
    out = cells.array(
        "hors_flux",
        lambda t: _choice_code(t, _OUT_OF_FLUX_WORDS, OUT_OF_FLUX, "defense ou hopital (ou vide)"),
        -1,
        np.int8,
        optional_empty=True,
    )
    first = cells.dates("mise_en_service")
    lease = cells.dates("date_bail")
    counter.flush()

    seen = dict(zip(ids, range(n), strict=True))
    if len(seen) != n or "" in seen:
        seen = {}
        header = table.headers.get("logement", "logement")
        dup = ProblemCounter(problems, table.file)
        for i, dwelling in enumerate(ids):
            if not dwelling:
                continue
            if dwelling in seen:
                dup.add(
                    table.lines[i],
                    header,
                    f"logement en double (déjà présent ligne {table.lines[seen[dwelling]]})",
                    dwelling,
                )
            else:
                seen[dwelling] = i
        dup.flush()

    prog_labels, prog_codes = _categorise(programmes_raw)
    com_labels, com_codes = _categorise(communes_raw)
    years_arr = np.array(years, dtype=np.int32)
    starts = np.array([start for _, start in CONSTRUCTION_PERIODS], dtype=np.int32)
    periods = (np.searchsorted(starts, years_arr, side="right") - 1).clip(0).astype(np.int8)
    return Stock(
        dwelling_id=tuple(ids),
        programme=prog_codes,
        programmes=prog_labels,
        commune=com_codes,
        communes=com_labels,
        qpv=qpv,
        typology=typ,
        financing=fin,
        construction_year=years_arr,
        period=periods,
        turnover=rot,
        out_of_flux=out,
        first_letting=first,
        lease_start=lease,
        line=np.array(table.lines, dtype=np.int32),
        source=table.file,
        index=seen if len(seen) == n else {},
    )


def _categorise(values: list[str]) -> tuple[tuple[str, ...], np.ndarray]:
    """Labels sorted (deterministic) and the code of every value."""
    labels = tuple(sorted(set(values)))
    lookup = {label: i for i, label in enumerate(labels)}
    return labels, np.fromiter(map(lookup.__getitem__, values), dtype=np.int32, count=len(values))


def _choice_code(text: str, words: dict[str, str], labels: tuple[str, ...], expected: str) -> int:
    key = header_key(text)
    if key not in words:
        raise CellError(f"valeur inconnue : {expected} attendu")
    return labels.index(words[key])


def build_turnover(
    table: RawTable, problems: ProblemList, known: tuple[str, ...] | None = None
) -> dict[str, float]:
    """Programme → observed yearly turnover; a programme listed twice, or absent from `known` (the stock's
    programmes), is reported."""
    counter = ProblemCounter(problems, table.file)
    cells = _Cells(table, counter)
    programmes = cells.parse("programme", _code, "")
    rates = cells.parse("rotation", parse_rate, float("nan"))
    counter.flush()
    out: dict[str, float] = {}
    first_line: dict[str, int] = {}
    header = table.headers.get("programme", "programme")
    for i, (programme, rate) in enumerate(zip(programmes, rates, strict=True)):
        if not programme or rate != rate:
            continue
        if programme in out:
            problems.add(
                table.file,
                table.lines[i],
                header,
                f"programme en double (déjà ligne {first_line[programme]})",
                programme,
            )
            continue
        out[programme] = rate
        first_line[programme] = table.lines[i]
    if known is not None:
        in_stock = set(known)
        unknown = ProblemCounter(problems, table.file)
        for programme, line in first_line.items():
            if programme not in in_stock:
                unknown.add(line, header, "programme absent du patrimoine", programme)
        unknown.flush()
    return dict(sorted(out.items()))


def _dwelling_positions(table: RawTable, ids: list[str], stock: Stock, counter: ProblemCounter) -> list[int]:
    header = table.headers.get("logement", "logement")
    index = stock.index
    positions: list[int] = []
    for i, dwelling in enumerate(ids):
        if not dwelling:
            positions.append(-1)
            continue
        position = index.get(dwelling, -1)
        if position < 0:
            counter.add(
                table.lines[i], header, f"logement absent du patrimoine ({stock.source or 'stock'})", dwelling
            )
        positions.append(position)
    return positions


def build_vacancies(table: RawTable, stock: Stock, problems: ProblemList) -> Vacancies:
    counter = ProblemCounter(problems, table.file)
    cells = _Cells(table, counter)
    ids = cells.codes("logement")
    dates = cells.dates("date_liberation", optional_empty=False)
    excl = cells.parse(
        "exclusion",
        lambda t: _choice_code(
            t,
            _EXCLUSION_WORDS,
            EXCLUSIONS,
            "mutation_interne, anru, orcod, habitat_indigne ou vente (ou vide)",
        ),
        -1,
        optional_empty=True,
    )
    positions = _dwelling_positions(table, ids, stock, counter)
    counter.flush()
    return Vacancies(
        dwelling=np.array(positions, dtype=np.int32),
        date=dates,
        exclusion=np.array(excl, dtype=np.int8),
        line=np.array(table.lines, dtype=np.int32),
        source=table.file,
    )


def build_designations(table: RawTable, stock: Stock, problems: ProblemList) -> Designations:
    counter = ProblemCounter(problems, table.file)
    cells = _Cells(table, counter)
    ids = cells.codes("logement")
    dates = cells.dates("date", optional_empty=False)
    conventions = cells.parse(
        "convention", lambda t: BAILLEUR if header_key(t) == "bailleur" else t.strip(), ""
    )
    status = cells.parse(
        "statut",
        lambda t: _choice_code(t, _STATUS_WORDS, STATUSES, "propose, refuse, bail_signe, carence ou repris"),
        0,
    )
    lease = cells.dates("date_bail")
    prio = cells.parse("menage_prioritaire", parse_optional_flag, -1, optional_empty=True)
    quart = cells.parse("premier_quartile", parse_optional_flag, -1, optional_empty=True)
    positions = _dwelling_positions(table, ids, stock, counter)
    counter.flush()
    return Designations(
        dwelling=np.array(positions, dtype=np.int32),
        date=dates,
        convention=tuple(conventions),
        status=np.array(status, dtype=np.int8),
        lease_date=lease,
        priority_household=np.array(prio, dtype=np.int8),
        first_quartile=np.array(quart, dtype=np.int8),
        line=np.array(table.lines, dtype=np.int32),
        source=table.file,
    )
