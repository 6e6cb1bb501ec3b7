"""What a scenario holds, in figures a person checks at a glance (`fluxopt validate` prints it).

Shares are computed on *cells*: the (commune, programme) pairs of the stock in the flux. A convention covers
a cell or not (scopes are départements, communes or programmes), so the reserved share of a commune is exact
per cell; the commune figure is the average over its dwellings in the flux (equal to every cell's figure
unless a programme-scoped convention covers only part of the commune). `validate` uses the same cells for
the legal ceilings (préfet ≤ 30 %, ≤ 5 % for State employees, total ≤ 100 %).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from fluxopt.domain.enums import Contingent, ReservataireKind
from fluxopt.domain.scenario import Convention, Scenario
from fluxopt.domain.tables import EXCLUSIONS, OUT_OF_FLUX, STATUSES, Stock, departement_of


@dataclass(frozen=True)
class Cells:
    """(commune, programme) pairs of the dwellings in the flux, with their size."""

    commune: np.ndarray  # code into stock.communes, per cell
    programme: np.ndarray  # code into stock.programmes, per cell
    dwellings: np.ndarray  # dwellings in the flux, per cell
    of_dwelling: np.ndarray  # cell of every dwelling (-1 when out of flux)


def flux_cells(stock: Stock) -> Cells:
    """Group the dwellings in the flux by (commune, programme)."""
    in_flux = stock.out_of_flux < 0
    key = stock.commune.astype(np.int64) * max(len(stock.programmes), 1) + stock.programme
    keys, inverse, counts = np.unique(key[in_flux], return_inverse=True, return_counts=True)
    width = max(len(stock.programmes), 1)
    of_dwelling = np.full(len(stock), -1, dtype=np.int64)
    of_dwelling[in_flux] = inverse
    return Cells(
        commune=(keys // width).astype(np.int32),
        programme=(keys % width).astype(np.int32),
        dwellings=counts.astype(np.int64),
        of_dwelling=of_dwelling,
    )


def covers(convention: Convention, stock: Stock, commune: np.ndarray, programme: np.ndarray) -> np.ndarray:
    """Which (commune, programme) pairs a convention's scope covers (vectors of codes in, booleans out)."""
    scope = convention.scope
    if scope.kind == "departement":
        wanted = np.array([departement_of(c) == scope.departement for c in stock.communes], dtype=bool)
        return wanted[commune] if len(wanted) else np.zeros(len(commune), bool)
    if scope.kind == "communes":
        chosen = set(scope.communes)
        wanted = np.array([c in chosen for c in stock.communes], dtype=bool)
        return wanted[commune] if len(wanted) else np.zeros(len(commune), bool)
    chosen = set(scope.programmes)
    wanted = np.array([p in chosen for p in stock.programmes], dtype=bool)
    return wanted[programme] if len(wanted) else np.zeros(len(programme), bool)


def coverage(scenario: Scenario, cells: Cells) -> np.ndarray:
    """Boolean matrix conventions × cells."""
    stock = scenario.stock
    if not scenario.conventions:
        return np.zeros((0, len(cells.dwellings)), dtype=bool)
    return np.array(
        [covers(c, stock, cells.commune, cells.programme) for c in scenario.conventions], dtype=bool
    )


def days_in_force(convention: Convention, year: int) -> int:
    """Days of `year` during which the convention is in force."""
    first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    start = max(first, convention.start or first)
    end = min(last, convention.end or last)
    return max(0, (end - start).days + 1)


def is_state_employees(scenario: Scenario, convention: Convention) -> bool:
    """The convention counts against the préfet's 5 % for State employees (contingent etat_fonctionnaires)."""
    if convention.contingent is not None:
        return convention.contingent is Contingent.STATE_EMPLOYEES
    return False  # a réservataire's kind alone never implies the State-employees contingent


def is_prefet(scenario: Scenario, convention: Convention) -> bool:
    ids = {r.id for r in scenario.reservataires if r.kind is ReservataireKind.STATE}
    return convention.reservataire in ids


@dataclass(frozen=True)
class CommuneSummary:
    """One commune: its dwellings, each convention's share of its flux, and what the bailleur keeps."""

    commune: str
    departement: str
    dwellings: int
    in_flux: int
    shares: dict[str, float]  # convention id → yearly-average share of this commune's flux, %
    reserved: float  # sum of the shares, %
    bailleur: float  # 100 − reserved, %


@dataclass(frozen=True)
class Summary:
    """The figures `fluxopt validate` prints."""

    name: str
    year: int
    bailleur: str
    model: str
    dwellings: int
    in_flux: int
    out_of_flux: dict[str, int]
    programmes: int
    communes: int
    departements: tuple[str, ...]
    reservataires: int
    conventions: int
    vacancies: int
    vacancies_excluded: dict[str, int]
    designations: int
    designations_by_status: dict[str, int]
    last_actual: str | None  # ISO date of the latest vacancy or designation
    per_commune: tuple[CommuneSummary, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, object]:
        """French keys, as `fluxopt validate --format json` prints them."""
        return {
            "nom": self.name,
            "annee": self.year,
            "bailleur": self.bailleur,
            "modele": self.model,
            "logements": self.dwellings,
            "dans_le_flux": self.in_flux,
            "hors_flux": self.out_of_flux,
            "programmes": self.programmes,
            "communes": self.communes,
            "departements": list(self.departements),
            "reservataires": self.reservataires,
            "conventions": self.conventions,
            "vacances": self.vacancies,
            "vacances_exclues": self.vacancies_excluded,
            "designations": self.designations,
            "designations_par_statut": self.designations_by_status,
            "dernier_mouvement": self.last_actual,
            "par_commune": [
                {
                    "commune": c.commune,
                    "departement": c.departement,
                    "logements": c.dwellings,
                    "dans_le_flux": c.in_flux,
                    "parts": c.shares,
                    "reserve": c.reserved,
                    "bailleur": c.bailleur,
                }
                for c in self.per_commune
            ],
        }


def summarise(scenario: Scenario) -> Summary:
    """Counts, and the share of every convention and of the bailleur in every commune."""
    stock = scenario.stock
    year = scenario.year
    cells = flux_cells(stock)
    cover = coverage(scenario, cells)
    weights = np.array([days_in_force(c, year) for c in scenario.conventions], dtype=np.float64)
    days = (dt.date(year, 12, 31) - dt.date(year, 1, 1)).days + 1
    annual = np.array([c.share for c in scenario.conventions], dtype=np.float64) * weights / days
    in_flux = stock.out_of_flux < 0
    per_commune: list[CommuneSummary] = []
    total_by_commune = (
        np.bincount(stock.commune, minlength=len(stock.communes)) if len(stock) else np.zeros(0, int)
    )
    flux_by_commune = (
        np.bincount(stock.commune[in_flux], minlength=len(stock.communes)) if len(stock) else np.zeros(0, int)
    )
    for code, commune in enumerate(stock.communes):
        mask = cells.commune == code
        size = cells.dwellings[mask]
        n = int(size.sum())
        shares: dict[str, float] = {}
        if n:
            for i, convention in enumerate(scenario.conventions):
                covered = float(size[cover[i][mask]].sum()) if len(cover) else 0.0
                if covered:
                    shares[convention.id] = round(float(annual[i]) * covered / n, 4)
        reserved = round(sum(shares.values()), 4)
        per_commune.append(
            CommuneSummary(
                commune=commune,
                departement=departement_of(commune),
                dwellings=int(total_by_commune[code]),
                in_flux=int(flux_by_commune[code]),
                shares=dict(sorted(shares.items())),
                reserved=reserved,
                bailleur=round(100.0 - reserved, 4),
            )
        )
    out = {label: int(np.sum(stock.out_of_flux == i)) for i, label in enumerate(OUT_OF_FLUX)}
    excluded = {label: int(np.sum(scenario.vacancies.exclusion == i)) for i, label in enumerate(EXCLUSIONS)}
    by_status = {label: int(np.sum(scenario.designations.status == i)) for i, label in enumerate(STATUSES)}
    dates = np.concatenate([scenario.vacancies.date, scenario.designations.date])
    dates = dates[~np.isnat(dates)]
    return Summary(
        name=scenario.config.scenario.name,
        year=year,
        bailleur=scenario.config.scenario.bailleur,
        model=scenario.config.scenario.model,
        dwellings=len(stock),
        in_flux=int(in_flux.sum()),
        out_of_flux=out,
        programmes=len(stock.programmes),
        communes=len(stock.communes),
        departements=tuple(sorted(set(stock.departements()))),
        reservataires=len(scenario.reservataires),
        conventions=len(scenario.conventions),
        vacancies=len(scenario.vacancies),
        vacancies_excluded=excluded,
        designations=len(scenario.designations),
        designations_by_status=by_status,
        last_actual=str(dates.max()) if len(dates) else None,
        per_commune=tuple(per_commune),
    )


def _pct(value: float) -> str:
    return f"{value:.1f}".replace(".", ",") + " %"


def _n(value: int) -> str:
    """French thousands: 45 000."""
    return f"{value:,}".replace(",", " ")


def render_summary(summary: Summary, max_communes: int = 40) -> str:
    """Short French text: counts, then one line per commune with its shares and the bailleur's."""
    out_flux = ", ".join(f"{n} {label}" for label, n in summary.out_of_flux.items() if n) or "aucun"
    excluded = sum(summary.vacancies_excluded.values())
    statuses = (
        ", ".join(f"{n} {label}" for label, n in summary.designations_by_status.items() if n) or "aucune"
    )
    lines = [
        f"Scénario : {summary.name} ({summary.year}) — bailleur : {summary.bailleur} — modèle : {summary.model}",
        f"Logements : {_n(summary.dwellings)} dont {_n(summary.in_flux)} dans le flux (hors flux : {out_flux})",
        f"Programmes : {_n(summary.programmes)} · communes : {summary.communes} · départements : "
        f"{', '.join(summary.departements)}",
        f"Réservataires : {summary.reservataires} · conventions : {summary.conventions}",
        f"Logements libérés à date : {_n(summary.vacancies)} (dont {_n(excluded)} exclus du flux) · désignations : "
        f"{_n(summary.designations)} ({statuses})"
        + (f" · dernier mouvement : {summary.last_actual}" if summary.last_actual else ""),
        "",
        "Parts du flux par commune (moyenne annuelle, en % du flux de la commune) :",
    ]
    shown = summary.per_commune[:max_communes]
    for c in shown:
        parts = " · ".join(f"{cid} {_pct(v)}" for cid, v in c.shares.items()) or "aucune convention"
        lines.append(
            f"  {c.commune} ({_n(c.in_flux)} logements dans le flux) : {parts} · réservé {_pct(c.reserved)} · "
            f"bailleur {_pct(c.bailleur)}"
        )
    if len(summary.per_commune) > len(shown):
        lines.append(
            f"  … et {len(summary.per_commune) - len(shown)} autre(s) commune(s) (voir --format json)"
        )
    return "\n".join(lines)
