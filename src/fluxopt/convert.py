"""Stock → flux conversion (domain.md §8): what share of the flux a stock-era reservation is worth.

Two methods are offered side by side, because the negotiation is about their difference:
- **stock share** `p = N_r / N`: reserved dwellings over the dwellings of the scope;
- **rotation-weighted share** `p = Σ_{reserved} τ_i / Σ_{scope} τ_i`: a reserved dwelling is worth the vacancies it
  produces, so reservations in low-turnover estates convert to less flux.
A right with an end date (`fin_droit`) counts for the fraction of the convention's horizon it still covers.
Dwellings kept out of the flux (defence, hospitals) stay identified dwellings: out of both numerator and base.

The stock-era reservations come from an optional table (`reservations.csv`, docs/formats.md); without it the
conversion only reports the turnover used and the landlord's remaining share under the current conventions.
Everything here is a pure function of the loaded scenario and the tables, so the CLI only renders.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fluxopt.domain import Contingent, Convention, ReservataireKind, Scenario, Scope
from fluxopt.domain.tables import departement_of
from fluxopt.errors import ProblemList
from fluxopt.io.table import Column, ProblemCounter, TableSpec, read_table
from fluxopt.io.text import CellError, header_key, parse_date, parse_int, parse_rate

#: File names looked up in the scenario folder when no path is given on the command line.
RESERVATIONS_FILES = ("reservations.csv", "reservations.xlsx")
HISTORY_FILES = ("rotation_historique.csv", "rotation_historique.xlsx")

#: Default horizon of the flux conventions being negotiated (years): a right ending within it counts pro rata.
DEFAULT_HORIZON_YEARS = 3

#: Number of most recent years averaged when a turnover history is given.
HISTORY_YEARS = 3

RESERVATIONS_SPEC = TableSpec(
    "réservations en stock",
    (
        Column("logement", ("id_logement", "numero_logement", "code_logement", "rpls"), required=False),
        Column("programme", ("code_programme", "groupe", "ensemble"), required=False),
        Column("nombre", ("nb_logements", "nombre_logements", "nb"), required=False),
        Column("reservataire", ("reservataire_stock", "id_reservataire", "code_reservataire")),
        Column(
            "fin_droit", ("date_fin", "fin", "echeance", "fin_reservation", "date_fin_droit"), required=False
        ),
        Column("contingent", ("code_contingent", "contingent_sne"), required=False),
    ),
)

HISTORY_SPEC = TableSpec(
    "historique de rotation",
    (
        Column("programme", ("code_programme", "groupe")),
        Column("annee", ("an", "exercice")),
        Column("rotation", ("taux_rotation", "taux")),
    ),
)

TURNOVER_SOURCES = ("logement", "historique", "programme", "défaut")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


# --------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StockReservation:
    """One row of the reservations table: some dwellings reserved for a réservataire, maybe until a date."""

    reservataire: str
    contingent: Contingent | None
    dwellings: tuple[int, ...]  # stock positions; all dwellings of the programme when `count` is None
    programme: int | None  # programme code when the row names a programme
    count: int | None  # a number of unnamed dwellings reserved in `programme`
    end: dt.date | None
    line: int


@dataclass(frozen=True)
class Reservations:
    """The stock-era reservations of a scenario, validated against its stock and réservataires."""

    rows: tuple[StockReservation, ...]
    source: str


def find_input(folder: Path, names: Sequence[str]) -> Path | None:
    """First existing file among `names` in the scenario folder."""
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None


def _ignore(_: str) -> None:
    return None


def read_reservations(path: Path, scenario: Scenario, warn: Callable[[str], None] = _ignore) -> Reservations:
    """Read and check `reservations.csv`: every problem is reported at once, with its line and column."""
    display = path.name
    problems = ProblemList()
    raw = read_table(path, display, RESERVATIONS_SPEC, problems, warn)
    problems.raise_if_any(f"Le fichier des réservations en stock {display} est illisible.")
    assert raw is not None
    if not raw.has("logement") and not raw.has("programme"):
        problems.add(display, 1, "logement", "une colonne « logement » ou « programme » est obligatoire")
        problems.raise_if_any(f"Le fichier des réservations en stock {display} est incomplet.")
    stock = scenario.stock
    known = {r.id for r in scenario.reservataires}
    programme_index = {p: i for i, p in enumerate(stock.programmes)}
    members: dict[int, list[int]] = {}
    for position, code in enumerate(stock.programme.tolist()):
        members.setdefault(code, []).append(position)
    contingents = {header_key(c.value): c for c in Contingent}
    counter = ProblemCounter(problems, display)
    n = len(raw)

    def cell(name: str, k: int) -> str:
        return raw.columns[name][k].strip() if raw.has(name) else ""

    rows: list[StockReservation] = []
    seen_dwelling: dict[int, int] = {}
    reserved_in_programme: dict[int, float] = {}
    for k in range(n):
        line = raw.lines[k]
        res = cell("reservataire", k)
        if not res:
            counter.add(line, raw.headers.get("reservataire"), "réservataire manquant")
            continue
        if res not in known:
            counter.add(
                line,
                raw.headers.get("reservataire"),
                "réservataire inconnu : déclarez-le dans scenario.toml ([[reservataires]]) — connus : "
                + ", ".join(sorted(known)),
                res,
            )
            continue
        contingent: Contingent | None = None
        text = cell("contingent", k)
        if text:
            contingent = contingents.get(header_key(text))
            if contingent is None:
                counter.add(
                    line,
                    raw.headers.get("contingent"),
                    "contingent inconnu : " + ", ".join(c.value for c in Contingent) + " attendu",
                    text,
                )
                continue
        end: dt.date | None = None
        text = cell("fin_droit", k)
        if text:
            try:
                end = parse_date(text, excel_serial=raw.excel)
            except CellError as error:
                counter.add(line, raw.headers.get("fin_droit"), str(error), text)
                continue
        dwelling_text, programme_text, count_text = (
            cell("logement", k),
            cell("programme", k),
            cell("nombre", k),
        )
        programme: int | None = None
        if programme_text:
            programme = programme_index.get(programme_text)
            if programme is None:
                counter.add(
                    line, raw.headers.get("programme"), "programme absent du patrimoine", programme_text
                )
                continue
        if dwelling_text:
            found = stock.index.get(dwelling_text)
            if found is None:
                counter.add(line, raw.headers.get("logement"), "logement absent du patrimoine", dwelling_text)
                continue
            position = found
            if programme is not None and int(stock.programme[position]) != programme:
                counter.add(
                    line,
                    raw.headers.get("programme"),
                    f"le logement {dwelling_text} appartient au programme {stock.programmes[stock.programme[position]]}",
                    programme_text,
                )
                continue
            if count_text:
                counter.add(
                    line,
                    raw.headers.get("nombre"),
                    "« nombre » ne se donne qu'avec un programme, sans logement",
                )
                continue
            if position in seen_dwelling:
                counter.add(
                    line,
                    raw.headers.get("logement"),
                    f"logement déjà réservé ligne {seen_dwelling[position]} : un logement n'a qu'un réservataire",
                    dwelling_text,
                )
                continue
            seen_dwelling[position] = line
            code = int(stock.programme[position])
            reserved_in_programme[code] = reserved_in_programme.get(code, 0) + 1
            rows.append(StockReservation(res, contingent, (position,), None, None, end, line))
            continue
        if programme is None:
            counter.add(
                line, raw.headers.get("logement") or "logement", "un logement ou un programme est attendu"
            )
            continue
        count: int | None = None
        size = len(members.get(programme, []))
        if count_text:
            try:
                count = parse_int(count_text)
            except CellError as error:
                counter.add(line, raw.headers.get("nombre"), str(error), count_text)
                continue
            if count <= 0:
                counter.add(
                    line, raw.headers.get("nombre"), "nombre de logements positif attendu", count_text
                )
                continue
        reserved_in_programme[programme] = reserved_in_programme.get(programme, 0) + (count or size)
        rows.append(
            StockReservation(res, contingent, tuple(members.get(programme, [])), programme, count, end, line)
        )
    counter.flush()
    for code, total in sorted(reserved_in_programme.items()):
        size = len(members.get(code, []))
        if total > size:
            lines = [
                r.line
                for r in rows
                if r.programme == code or (r.programme is None and stock.programme[r.dwellings[0]] == code)
            ]
            problems.add(
                display,
                min(lines) if lines else None,
                raw.headers.get("programme") or raw.headers.get("logement"),
                f"le programme {stock.programmes[code]} compte {size} logement(s) mais {total:g} sont réservés "
                f"(lignes {', '.join(str(x) for x in sorted(lines)[:10])})",
            )
    problems.raise_if_any(f"Le fichier des réservations en stock {display} contient des erreurs.")
    return Reservations(tuple(rows), display)


def read_turnover_history(path: Path, year: int, warn: Callable[[str], None] = _ignore) -> dict[str, float]:
    """Programme → average turnover of its `HISTORY_YEARS` most recent years before `year` (all years if none)."""
    display = path.name
    problems = ProblemList()
    raw = read_table(path, display, HISTORY_SPEC, problems, warn)
    problems.raise_if_any(f"L'historique de rotation {display} est illisible.")
    assert raw is not None
    counter = ProblemCounter(problems, display)
    by_programme: dict[str, dict[int, float]] = {}
    first_line: dict[tuple[str, int], int] = {}
    for k, line in enumerate(raw.lines):
        programme = raw.columns["programme"][k].strip()
        if not programme:
            counter.add(line, raw.headers["programme"], "programme manquant")
            continue
        try:
            annee = parse_int(raw.columns["annee"][k])
        except CellError as error:
            counter.add(line, raw.headers["annee"], str(error), raw.columns["annee"][k])
            continue
        try:
            rate = parse_rate(raw.columns["rotation"][k])
        except CellError as error:
            counter.add(line, raw.headers["rotation"], str(error), raw.columns["rotation"][k])
            continue
        if (programme, annee) in first_line:
            counter.add(
                line,
                raw.headers["annee"],
                f"année déjà donnée pour ce programme ligne {first_line[programme, annee]}",
                f"{programme} {annee}",
            )
            continue
        first_line[programme, annee] = line
        by_programme.setdefault(programme, {})[annee] = rate
    counter.flush()
    problems.raise_if_any(f"L'historique de rotation {display} contient des erreurs.")
    averages: dict[str, float] = {}
    for programme, years in by_programme.items():
        past = sorted(y for y in years if y < year) or sorted(years)
        recent = past[-HISTORY_YEARS:]
        averages[programme] = sum(years[y] for y in recent) / len(recent)
    return averages


def dwelling_turnover(
    scenario: Scenario, history: dict[str, float] | None = None
) -> tuple[FloatArray, npt.NDArray[np.int8]]:
    """τ of every dwelling and where it came from (index into `TURNOVER_SOURCES`).

    Precedence: the dwelling's own observed rate → the programme's history average → the programme's rate
    (`rotation.csv`) → the scenario's default `turnover_rate`.
    """
    stock = scenario.stock
    default = scenario.config.forecast.turnover_rate
    per_programme_hist = np.array(
        [(history or {}).get(p, math.nan) for p in stock.programmes], dtype=np.float64
    )
    per_programme = np.array(
        [scenario.programme_turnover.get(p, math.nan) for p in stock.programmes], np.float64
    )
    tau = np.array(stock.turnover, dtype=np.float64, copy=True)
    source = np.zeros(len(stock), np.int8)
    for level, values in ((1, per_programme_hist[stock.programme]), (2, per_programme[stock.programme])):
        fill = np.isnan(tau) & ~np.isnan(values)
        tau[fill] = values[fill]
        source[fill] = level
    rest = np.isnan(tau)
    tau[rest] = default
    source[rest] = 3
    return tau, source


def right_weight(end: dt.date | None, year: int, horizon_years: int) -> float:
    """Fraction of the horizon [1 Jan `year`, 1 Jan `year + horizon`) that a right ending on `end` still covers."""
    if end is None:
        return 1.0
    start, stop = dt.date(year, 1, 1), dt.date(year + horizon_years, 1, 1)
    covered = (min(end + dt.timedelta(days=1), stop) - start).days
    return max(0, covered) / (stop - start).days


# --------------------------------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvertedShare:
    """The flux share a réservataire's stock reservations are worth over one scope, by both methods."""

    reservataire: str
    contingent: Contingent | None
    scope: Scope
    scope_label: str
    conventions: tuple[str, ...]  # current conventions of this réservataire over this scope
    current_share: float | None  # their total share today (%), None when there is none
    reserved_dwellings: int  # reserved dwellings of the scope in the flux (unweighted)
    reserved_weighted: float  # N_r: reserved dwellings weighted by the remaining years of their rights
    scope_dwellings: int  # N: dwellings of the scope in the flux
    reserved_turnover: float  # Σ w_i τ_i over reserved dwellings (expected vacancies a year)
    scope_turnover: float  # Σ τ_i over the scope
    ending_rights: int  # reserved dwellings whose right ends within the horizon
    share_stock: float  # %
    share_rotation: float  # %

    @property
    def difference(self) -> float:
        """Rotation-weighted minus stock share, in points."""
        return self.share_rotation - self.share_stock


@dataclass(frozen=True)
class CommuneRemainder:
    """What the landlord keeps in one commune: 100 % minus the conventions covering it (flux-weighted)."""

    commune: str
    dwellings: int
    expected_vacancies: float  # Σ τ over the commune's dwellings in the flux
    remaining_stock: float | None  # %, None without reservations
    remaining_rotation: float | None
    remaining_current: float  # under the conventions of scenario.toml


@dataclass(frozen=True)
class Conversion:
    """Result of `convert`: the shares, the landlord's remainder per commune, and notes for the reader."""

    year: int
    horizon_years: int
    reservations_source: str | None
    shares: tuple[ConvertedShare, ...]
    communes: tuple[CommuneRemainder, ...]
    turnover_sources: dict[str, int]
    notes: tuple[str, ...] = field(default=())


def scope_label(scope: Scope) -> str:
    """French label of a scope, as shown in tables."""
    if scope.kind == "departement":
        return f"département {scope.departement}"
    if scope.kind == "communes":
        return ("commune " if len(scope.communes) == 1 else "communes ") + ", ".join(scope.communes)
    return ("programme " if len(scope.programmes) == 1 else "programmes ") + ", ".join(scope.programmes)


def scope_mask(scenario: Scenario, scope: Scope) -> npt.NDArray[np.bool_]:
    """Dwellings of the stock inside a scope (in or out of the flux)."""
    stock = scenario.stock
    if scope.kind == "departement":
        codes = [i for i, c in enumerate(stock.communes) if departement_of(c) == scope.departement]
        return np.isin(stock.commune, codes)
    if scope.kind == "communes":
        wanted = set(scope.communes)
        return np.isin(stock.commune, [i for i, c in enumerate(stock.communes) if c in wanted])
    wanted = set(scope.programmes)
    return np.isin(stock.programme, [i for i, p in enumerate(stock.programmes) if p in wanted])


def _scope_key(scope: Scope) -> tuple[str, tuple[str, ...]]:
    if scope.kind == "departement":
        return ("departement", (scope.departement or "",))
    if scope.kind == "communes":
        return ("communes", tuple(sorted(scope.communes)))
    return ("programmes", tuple(sorted(scope.programmes)))


def _default_scopes(scenario: Scenario, reservataire: str, positions: Iterable[int]) -> list[Scope]:
    """Legal default when a réservataire has no convention yet: its commune for a commune (a collectivité named
    « Ville de … », « Commune de … ») whose reservations lie in one commune, else one scope per département
    (one convention per bailleur × réservataire × département, law). The TOML block is there to be edited."""
    stock = scenario.stock
    communes = sorted({stock.communes[stock.commune[p]] for p in positions})
    who = next(r for r in scenario.reservataires if r.id == reservataire)
    municipal = header_key(who.name).startswith(("ville", "commune", "mairie", "municipalite"))
    if who.kind is ReservataireKind.LOCAL_AUTHORITY and municipal and len(communes) == 1:
        return [Scope(kind="communes", communes=(communes[0],))]
    departements = sorted({departement_of(c) for c in communes})
    return [Scope(kind="departement", departement=d) for d in departements]


def convert(
    scenario: Scenario,
    reservations: Reservations | None,
    *,
    history: dict[str, float] | None = None,
    horizon_years: int = DEFAULT_HORIZON_YEARS,
) -> Conversion:
    """Convert the stock-era reservations into flux shares (both methods), per réservataire × scope."""
    if horizon_years < 1:
        raise ValueError("horizon_years must be >= 1")
    stock = scenario.stock
    year = scenario.year
    tau, source = dwelling_turnover(scenario, history)
    in_flux = stock.out_of_flux < 0
    tau_flux = np.where(in_flux, tau, 0.0)
    counts = np.bincount(source, minlength=len(TURNOVER_SOURCES))
    turnover_sources = {name: int(counts[i]) for i, name in enumerate(TURNOVER_SOURCES)}
    notes: list[str] = []
    year_start, year_end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    active = [
        c
        for c in scenario.conventions
        if (c.start is None or c.start <= year_end) and (c.end is None or c.end >= year_start)
    ]

    shares: list[ConvertedShare] = []
    if reservations is not None:
        # weight and turnover contribution of each reserved dwelling, per (réservataire, contingent) group
        groups: dict[tuple[str, Contingent | None], tuple[FloatArray, FloatArray, IntArray, IntArray]] = {}
        out_of_flux_reserved = 0
        ended = 0
        for row in reservations.rows:
            key = (row.reservataire, row.contingent)
            if key not in groups:
                groups[key] = (
                    np.zeros(len(stock)),
                    np.zeros(len(stock)),
                    np.zeros(len(stock), np.int64),
                    np.zeros(len(stock), np.int64),
                )
            weight_of, tau_of, count_of, ending_of = groups[key]
            w = right_weight(row.end, year, horizon_years)
            positions = np.array(row.dwellings, dtype=np.int64)
            flux_positions = positions[in_flux[positions]]
            out_of_flux_reserved += (len(positions) - len(flux_positions)) if row.count is None else 0
            if w == 0:
                ended += row.count if row.count is not None else len(flux_positions)
                continue
            if len(flux_positions) == 0:
                continue
            if row.count is None:
                weight_of[flux_positions] += w
                tau_of[flux_positions] += w * tau[flux_positions]
                count_of[flux_positions] += 1
                if row.end is not None and w < 1:
                    ending_of[flux_positions] += 1
            else:
                # unnamed dwellings of a programme: each is worth the programme's average dwelling
                fraction = min(row.count, len(flux_positions)) / len(flux_positions)
                weight_of[flux_positions] += w * fraction
                tau_of[flux_positions] += w * fraction * tau[flux_positions]
                # spread the integer count over the programme's first positions, for the unweighted counters
                count_of[flux_positions[: row.count]] += 1
                if row.end is not None and w < 1:
                    ending_of[flux_positions[: row.count]] += 1
        if out_of_flux_reserved:
            notes.append(
                f"{out_of_flux_reserved} logement(s) réservé(s) hors flux (défense, hôpital) : ils restent en stock "
                "et ne comptent ni dans les réservations ni dans la base."
            )
        if ended:
            notes.append(f"{ended} droit(s) échu(s) avant le 1er janvier {year} : non comptés.")
        for (reservataire, contingent), (weight_of, tau_of, count_of, ending_of) in groups.items():
            reserved = np.flatnonzero(weight_of > 0)
            if len(reserved) == 0:
                continue
            matching = [
                c
                for c in active
                if c.reservataire == reservataire
                and (contingent is None or scenario.contingent_of(c) is contingent)
            ]
            by_scope: dict[tuple[str, tuple[str, ...]], list[str]] = {}
            scopes: dict[tuple[str, tuple[str, ...]], Scope] = {}
            current: dict[tuple[str, tuple[str, ...]], float] = {}
            for c in matching:
                k = _scope_key(c.scope)
                scopes.setdefault(k, c.scope)
                by_scope.setdefault(k, []).append(c.id)
                current[k] = current.get(k, 0.0) + c.share
            if not scopes:
                for s in _default_scopes(scenario, reservataire, reserved.tolist()):
                    scopes[_scope_key(s)] = s
            covered = np.zeros(len(stock), np.bool_)
            for k, scope in scopes.items():
                mask = scope_mask(scenario, scope) & in_flux
                covered |= mask
                n_scope = int(mask.sum())
                tau_scope = float(tau_flux[mask].sum())
                n_r = float(weight_of[mask].sum())
                t_r = float(tau_of[mask].sum())
                shares.append(
                    ConvertedShare(
                        reservataire=reservataire,
                        contingent=contingent,
                        scope=scope,
                        scope_label=scope_label(scope),
                        conventions=tuple(by_scope.get(k, ())),
                        current_share=current.get(k),
                        reserved_dwellings=int(count_of[mask].sum()),
                        reserved_weighted=n_r,
                        scope_dwellings=n_scope,
                        reserved_turnover=t_r,
                        scope_turnover=tau_scope,
                        ending_rights=int(ending_of[mask].sum()),
                        share_stock=100.0 * n_r / n_scope if n_scope else 0.0,
                        share_rotation=100.0 * t_r / tau_scope if tau_scope > 0 else 0.0,
                    )
                )
            outside = int(count_of[~covered].sum())
            if outside:
                notes.append(
                    f"{outside} logement(s) réservé(s) par {reservataire} hors de la portée de ses conventions "
                    f"({', '.join(sorted({c.id for c in matching}))}) : non convertis."
                )
            if len(scopes) > 1:
                union = np.zeros(len(stock), np.int64)
                for scope in scopes.values():
                    union += scope_mask(scenario, scope)
                if (union[reserved] > 1).any():
                    notes.append(
                        f"Les portées des conventions de {reservataire} se chevauchent : un logement réservé compte dans chacune."
                    )
        shares.sort(key=lambda s: (s.reservataire, s.contingent or "", _scope_key(s.scope)))

    communes = _remainders(scenario, shares if reservations is not None else None, active, tau_flux, in_flux)
    return Conversion(
        year=year,
        horizon_years=horizon_years,
        reservations_source=reservations.source if reservations is not None else None,
        shares=tuple(shares),
        communes=communes,
        turnover_sources=turnover_sources,
        notes=tuple(notes),
    )


def _remainders(
    scenario: Scenario,
    shares: Sequence[ConvertedShare] | None,
    active: Sequence[Convention],
    tau_flux: FloatArray,
    in_flux: npt.NDArray[np.bool_],
) -> tuple[CommuneRemainder, ...]:
    """Landlord's remaining share per commune: each convention weighs by the part of the commune's flux it covers
    (1 for a département or commune scope; the programmes' share of the commune's flux for a programme scope)."""
    stock = scenario.stock
    n_communes = len(stock.communes)
    count_flux = in_flux.astype(np.float64)
    dwellings: FloatArray = np.bincount(stock.commune, weights=count_flux, minlength=n_communes).astype(
        np.float64
    )
    expected: FloatArray = np.bincount(stock.commune, weights=tau_flux, minlength=n_communes).astype(
        np.float64
    )

    def covered(scope: Scope, weights: FloatArray, totals: FloatArray) -> FloatArray:
        inside = np.bincount(
            stock.commune, weights=np.where(scope_mask(scenario, scope), weights, 0.0), minlength=n_communes
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(totals > 0, inside / totals, 0.0)

    taken_current = np.zeros(n_communes)
    for c in active:
        taken_current += c.share * covered(c.scope, tau_flux, expected)
    taken_stock = np.zeros(n_communes)
    taken_rotation = np.zeros(n_communes)
    if shares is not None:
        for s in shares:
            taken_stock += s.share_stock * covered(s.scope, count_flux, dwellings)
            taken_rotation += s.share_rotation * covered(s.scope, tau_flux, expected)
    return tuple(
        CommuneRemainder(
            commune=stock.communes[i],
            dwellings=int(dwellings[i]),
            expected_vacancies=float(expected[i]),
            remaining_stock=None if shares is None else 100.0 - float(taken_stock[i]),
            remaining_rotation=None if shares is None else 100.0 - float(taken_rotation[i]),
            remaining_current=100.0 - float(taken_current[i]),
        )
        for i in sorted(range(n_communes), key=lambda i: stock.communes[i])
    )


# --------------------------------------------------------------------------------------------------
# Rendering (plain values: the CLI only prints them)
# --------------------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %".replace(".", ",")


def _num(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}".replace(",", " ").replace(".", ",")


def text_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool] | None = None
) -> str:
    """A fixed-width text table (numbers right-aligned) for the terminal."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    align = list(right) if right is not None else [False] * len(headers)

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if a else c.ljust(w) for c, w, a in zip(cells, widths, align, strict=True)
        ).rstrip()

    lines = [fmt(headers), "  ".join("─" * w for w in widths)]
    lines.extend(fmt(r) for r in rows)
    return "\n".join(lines)


def render_conversion(conversion: Conversion) -> str:
    """The conversion as the terminal shows it (French)."""
    out: list[str] = []
    src = conversion.turnover_sources
    total = sum(src.values())
    parts = [
        f"{n} {label}"
        for label, n in (
            ("par logement", src["logement"]),
            ("par l'historique (moyenne sur 3 ans)", src["historique"]),
            ("par programme (rotation.csv)", src["programme"]),
            ("au taux par défaut", src["défaut"]),
        )
        if n
    ]
    out.append(f"Rotation utilisée pour {total} logements : " + ", ".join(parts) + ".")
    if conversion.reservations_source is None:
        out.append(
            "Aucune réservation en stock n'est fournie (pas de fichier reservations.csv dans le scénario, ni d'option "
            "--reservations) : la conversion stock → flux ne peut pas être calculée. Seule la part restante du bailleur "
            "selon les conventions actuelles est affichée."
        )
    else:
        out.append("")
        out.append(
            f"Conversion stock → flux ({conversion.reservations_source}) — année {conversion.year}, "
            f"droits à échéance comptés au prorata des {conversion.horizon_years} ans de la convention"
        )
        headers = [
            "Réservataire",
            "Contingent",
            "Portée",
            "Conventions actuelles",
            "Part actuelle",
            "Réservés",
            "Réservés pondérés",
            "Logements portée",
            "Part stock",
            "Part rotation",
            "Écart (pts)",
        ]
        rows = [
            [
                s.reservataire,
                s.contingent.value if s.contingent else "—",
                s.scope_label,
                ", ".join(s.conventions) or "(aucune)",
                _pct(s.current_share),
                str(s.reserved_dwellings),
                _num(s.reserved_weighted),
                str(s.scope_dwellings),
                _pct(s.share_stock),
                _pct(s.share_rotation),
                f"{s.difference:+.1f}".replace(".", ","),
            ]
            for s in conversion.shares
        ]
        out.append(text_table(headers, rows, [False] * 4 + [True] * 7))
    out.append("")
    out.append("Part restante du bailleur par commune")
    with_reservations = conversion.reservations_source is not None
    headers = ["Commune", "Logements (flux)", "Vacances attendues/an"]
    if with_reservations:
        headers += ["Reste (stock)", "Reste (rotation)"]
    headers.append("Reste (conventions actuelles)")
    rows = []
    for c in conversion.communes:
        row = [c.commune, str(c.dwellings), _num(c.expected_vacancies)]
        if with_reservations:
            row += [_pct(c.remaining_stock), _pct(c.remaining_rotation)]
        row.append(_pct(c.remaining_current))
        rows.append(row)
    out.append(text_table(headers, rows, [False] + [True] * (len(headers) - 1)))
    over = [
        c
        for c in conversion.communes
        if min(x for x in (c.remaining_stock, c.remaining_rotation, c.remaining_current) if x is not None)
        < -1e-9
    ]
    for c in over:
        out.append(f"Attention : dans la commune {c.commune}, les parts dépassent 100 % du flux.")
    out.extend(conversion.notes)
    return "\n".join(out)


def conventions_toml(conversion: Conversion, method: str = "rotation") -> str:
    """A ready-to-edit `[[conventions]]` block for scenario.toml, with both shares in comments."""
    if method not in ("rotation", "stock"):
        raise ValueError(method)
    lines = [
        f"# Conversion stock → flux de fluxopt ({conversion.reservations_source or 'aucune réservation'}), année {conversion.year}.",
        f"# Parts calculées par la méthode « {method} » ; relisez-les avant de remplacer les conventions du scénario.",
        "",
    ]
    if not conversion.shares:
        lines.append("# Aucune réservation en stock : aucune convention à proposer.")
    used: set[str] = set()
    for s in conversion.shares:
        share = s.share_rotation if method == "rotation" else s.share_stock
        if len(s.conventions) == 1:
            ident = s.conventions[0]
        else:
            where = (
                s.scope.departement
                if s.scope.kind == "departement"
                else "-".join(s.scope.communes or s.scope.programmes)
            )
            ident = (
                f"{s.reservataire}-{where}"
                if s.contingent is None
                else f"{s.reservataire}-{s.contingent.value.upper()}-{where}"
            )
            ident = ident.replace("_", "-")[:64]
        base, k = ident, 2
        while ident in used:
            ident = f"{base}-{k}"
            k += 1
        used.add(ident)
        lines.append("[[conventions]]")
        lines.append(f'id = "{ident}"')
        lines.append(f'reservataire = "{s.reservataire}"')
        lines.append(
            f"share = {round(share, 1)}   # stock {s.share_stock:.2f} %, rotation {s.share_rotation:.2f} %"
            + (f", aujourd'hui {s.current_share:g} %" if s.current_share is not None else "")
        )
        if s.contingent is not None:
            lines.append(f'contingent = "{s.contingent.value}"')
        if s.scope.kind == "departement":
            lines.append(f'scope = {{ kind = "departement", departement = "{s.scope.departement}" }}')
        elif s.scope.kind == "communes":
            lines.append(
                'scope = { kind = "communes", communes = ['
                + ", ".join(f'"{c}"' for c in s.scope.communes)
                + "] }"
            )
        else:
            lines.append(
                'scope = { kind = "programmes", programmes = ['
                + ", ".join(f'"{p}"' for p in s.scope.programmes)
                + "] }"
            )
        if len(s.conventions) > 1:
            lines.append(f"# remplace {', '.join(s.conventions)} (à répartir entre elles si besoin)")
        lines.append(
            f"# {s.reserved_dwellings} logement(s) réservé(s) sur {s.scope_dwellings}"
            + (
                f", dont {s.ending_rights} dont le droit s'achève dans les {conversion.horizon_years} ans"
                if s.ending_rights
                else ""
            )
        )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def conversion_as_dict(conversion: Conversion) -> dict[str, object]:
    """Plain values for `--json`."""
    return {
        "annee": conversion.year,
        "duree_convention_ans": conversion.horizon_years,
        "reservations": conversion.reservations_source,
        "rotation_sources": conversion.turnover_sources,
        "parts": [
            {
                "reservataire": s.reservataire,
                "contingent": s.contingent.value if s.contingent else None,
                "portee": s.scope.model_dump(mode="json", exclude_defaults=True),
                "conventions_actuelles": list(s.conventions),
                "part_actuelle": s.current_share,
                "reserves": s.reserved_dwellings,
                "reserves_ponderes": s.reserved_weighted,
                "logements_portee": s.scope_dwellings,
                "rotation_reservee": s.reserved_turnover,
                "rotation_portee": s.scope_turnover,
                "droits_a_echeance": s.ending_rights,
                "part_stock": s.share_stock,
                "part_rotation": s.share_rotation,
            }
            for s in conversion.shares
        ],
        "communes": [
            {
                "commune": c.commune,
                "logements": c.dwellings,
                "vacances_attendues": c.expected_vacancies,
                "reste_stock": c.remaining_stock,
                "reste_rotation": c.remaining_rotation,
                "reste_conventions_actuelles": c.remaining_current,
            }
            for c in conversion.communes
        ],
        "notes": list(conversion.notes),
    }


def convert_scenario(
    scenario_path: Path,
    *,
    reservations_path: Path | None = None,
    history_path: Path | None = None,
    horizon_years: int = DEFAULT_HORIZON_YEARS,
    warn: Callable[[str], None] = _ignore,
) -> Conversion:
    """`fluxopt convert`: load the scenario, find its optional tables (by name in its folder), convert."""
    from fluxopt.io.scenario import load_scenario

    # check=False: the rules on today's conventions (shares, model) must not block the analysis meant to fix them
    scenario = load_scenario(scenario_path, check=False, warn=warn)
    folder = scenario.folder
    reservations_file = reservations_path or find_input(folder, RESERVATIONS_FILES)
    history_file = history_path or find_input(folder, HISTORY_FILES)
    history = read_turnover_history(history_file, scenario.year, warn) if history_file is not None else None
    reservations = (
        read_reservations(reservations_file, scenario, warn) if reservations_file is not None else None
    )
    return convert(scenario, reservations, history=history, horizon_years=horizon_years)
