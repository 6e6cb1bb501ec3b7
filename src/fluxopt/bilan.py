"""The annual bilan that R441-5-1 requires before 28 February (domain.md §5), computed from the actuals only.

Two counters, as the law asks: dwellings **offered** (proposés: every mise à disposition, counted in the year of
the designation) and dwellings **attributed** (lease signed, counted in the year of the lease; the designation
date stands in when the lease date was not recorded). Each is also given **as counted (imputé)** to the
réservataire under its convention's carence clause: a carence — and a dwelling taken back for one letting and
let by the landlord (`repris`) — still counts to the réservataire only when `counts_no_candidate` is set.

The same counts are broken down by réservataire × convention × typology × financing × QPV × commune ×
construction period, with the forecast of excluded dwellings and the year's realised exclusions, and the totals
per SNE contingent code so that the bilan and the SNE agree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fluxopt.domain import BAILLEUR, Scenario
from fluxopt.domain.enums import QPV_LABELS, Contingent, DesignationStatus, ExclusionCategory
from fluxopt.domain.tables import EXCLUSIONS, FINANCINGS, OUT_OF_FLUX, PERIODS, STATUSES, TYPOLOGIES
from fluxopt.errors import InputError, ProblemList
from fluxopt.io.atomic import atomic_output_dir
from fluxopt.io.csvwrite import Dialect, csv_bytes
from fluxopt.report.tables import Cell, Column, Table
from fluxopt.report.xlsx import Chart, Sheet, workbook_bytes

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int32]

CONTINGENT_LABELS: dict[str, str] = {
    Contingent.STATE_EMPLOYEES.value: "État — agents civils et militaires (fonctionnaires)",
    Contingent.STATE_PRIORITY.value: "État — ménages prioritaires",
    Contingent.LOCAL_AUTHORITIES.value: "Collectivités territoriales, établissements publics, EPCI",
    Contingent.EMPLOYERS.value: "Employeurs et Action Logement",
    Contingent.OTHER.value: "Autre contingent",
    "": "Non réservé (contingent propre du bailleur)",
}

EXCLUSION_LABELS: dict[str, str] = {
    ExclusionCategory.INTERNAL_TRANSFER.value: "Mutations internes",
    ExclusionCategory.URBAN_RENEWAL.value: "Relogements de renouvellement urbain (ANRU / NPNRU)",
    ExclusionCategory.ORCOD.value: "Opérations de requalification de copropriétés dégradées (ORCOD)",
    ExclusionCategory.UNSAFE_HOUSING.value: "Habitat indigne (L521-3-1 à L521-3-3)",
    ExclusionCategory.SALE.value: "Ventes de logements sociaux",
}

OUT_OF_FLUX_LABELS: dict[str, str] = {
    "defense": "Hors flux : défense nationale et sécurité intérieure",
    "hopital": "Hors flux : établissements publics de santé",
}

LANDLORD_NAME = "Bailleur (contingent propre)"

_S = {s: STATUSES.index(s.value) for s in DesignationStatus}


@dataclass(frozen=True)
class Holder:
    """Who a designation is made to: a convention, or the landlord keeping the dwelling."""

    convention: str  # convention id, or BAILLEUR
    reservataire: str  # réservataire id, or BAILLEUR
    reservataire_name: str
    contingent: str  # SNE code; "" for the landlord
    share: float | None  # % of the flux of the scope; None for the landlord
    counts_no_candidate: bool  # a carence still counts (imputée) to the réservataire

    @property
    def is_landlord(self) -> bool:
        return self.convention == BAILLEUR


def holders_of(scenario: Scenario) -> tuple[Holder, ...]:
    """The conventions in scenario order, then the landlord."""
    out = [
        Holder(
            convention=c.id,
            reservataire=c.reservataire,
            reservataire_name=scenario.reservataire_of(c).name,
            contingent=scenario.contingent_of(c).value,
            share=c.share,
            counts_no_candidate=c.counts_no_candidate,
        )
        for c in scenario.conventions
    ]
    out.append(Holder(BAILLEUR, BAILLEUR, LANDLORD_NAME, "", None, False))
    return tuple(out)


@dataclass(frozen=True)
class ActualDesignations:
    """The designations joined with their dwelling's attributes: one position per designation row."""

    holders: tuple[Holder, ...]
    holder: IntArray  # index into holders
    status: npt.NDArray[np.int8]
    date: npt.NDArray[np.datetime64]  # designation (mise à disposition) date
    attributed_on: npt.NDArray[np.datetime64]  # lease date, else designation date
    dwelling: IntArray
    typology: npt.NDArray[np.int8]
    financing: npt.NDArray[np.int8]
    qpv: BoolArray
    commune: IntArray
    period: npt.NDArray[np.int8]
    priority: npt.NDArray[np.int8]  # -1 not recorded, 0 no, 1 yes
    first_quartile: npt.NDArray[np.int8]
    communes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.holder)

    def counts_no_candidate(self) -> BoolArray:
        """Per designation: does its convention count a carence?"""
        flags = np.array([h.counts_no_candidate for h in self.holders], np.bool_)
        return flags[self.holder] if len(self.holder) else np.zeros(0, np.bool_)

    def counters(self, start: dt.date, end: dt.date) -> Counters:
        """Per-designation 0/1 counters for a window of days [start, end]."""
        lo, hi = np.datetime64(start, "D"), np.datetime64(end, "D")
        offered = (self.date >= lo) & (self.date <= hi)
        attributed_in = (self.attributed_on >= lo) & (self.attributed_on <= hi)
        no_cand_status = (self.status == _S[DesignationStatus.NO_CANDIDATE]) | (
            self.status == _S[DesignationStatus.TAKEN_BACK]
        )
        counts_nc = self.counts_no_candidate()
        leases = attributed_in & (self.status == _S[DesignationStatus.LEASE_SIGNED])
        taken_back_let = attributed_in & (self.status == _S[DesignationStatus.TAKEN_BACK])
        return Counters(
            offered=offered,
            no_candidate=offered & no_cand_status,
            counted_offered=offered & (~no_cand_status | counts_nc),
            leases=leases,
            taken_back_let=taken_back_let,
            counted_attributed=leases | (taken_back_let & counts_nc),
        )


@dataclass(frozen=True)
class Counters:
    """Boolean masks over designations; summing one over a group gives that group's counter."""

    offered: BoolArray  # proposés
    no_candidate: BoolArray  # dont carences (incl. taken back and let by the landlord)
    counted_offered: BoolArray  # proposés imputés
    leases: BoolArray  # baux signés (candidate of the holder)
    taken_back_let: BoolArray  # repris pour un tour, loués par le bailleur
    counted_attributed: BoolArray  # attribués imputés

    FIELDS = ("offered", "no_candidate", "counted_offered", "leases", "taken_back_let", "counted_attributed")

    def any(self) -> BoolArray:
        return self.offered | self.leases | self.taken_back_let

    def sums(self, mask: BoolArray | None = None) -> Counts:
        def total(a: BoolArray) -> int:
            return int(a.sum() if mask is None else a[mask].sum())

        return Counts(*(total(getattr(self, f)) for f in self.FIELDS))


@dataclass(frozen=True)
class Counts:
    """The bilan's counters for one group of designations."""

    offered: int = 0
    no_candidate: int = 0
    counted_offered: int = 0
    leases: int = 0
    taken_back_let: int = 0
    counted_attributed: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(getattr(self, f) + getattr(other, f) for f in Counters.FIELDS))

    def cells(self) -> tuple[int, ...]:
        return tuple(getattr(self, f) for f in Counters.FIELDS)


COUNT_COLUMNS: tuple[Column, ...] = (
    Column("Proposés", "int"),
    Column("dont carences", "int"),
    Column("Proposés imputés", "int"),
    Column("Baux signés", "int"),
    Column("Repris pour un tour", "int"),
    Column("Attribués imputés", "int"),
)


def actual_designations(scenario: Scenario) -> ActualDesignations:
    """Join each designation with its dwelling's attributes; unknown convention ids are input errors."""
    holders = holders_of(scenario)
    index = {h.convention: i for i, h in enumerate(holders)}
    des = scenario.designations
    problems = ProblemList()
    holder = np.zeros(len(des), np.int32)
    for i, conv in enumerate(des.convention):
        if conv not in index:
            problems.add(
                des.source or "designations",
                int(des.line[i]),
                "convention",
                f"convention inconnue (attendu : l'une de {', '.join(sorted(index))})",
                conv,
            )
        else:
            holder[i] = index[conv]
    problems.raise_if_any("Des désignations citent une convention absente du scénario.")
    stock = scenario.stock
    pos = des.dwelling
    lease = des.lease_date
    attributed_on = np.where(np.isnat(lease), des.date, lease)
    return ActualDesignations(
        holders=holders,
        holder=holder,
        status=des.status,
        date=des.date,
        attributed_on=attributed_on,
        dwelling=pos,
        typology=stock.typology[pos],
        financing=stock.financing[pos],
        qpv=stock.qpv[pos],
        commune=stock.commune[pos],
        period=stock.period[pos],
        priority=des.priority_household,
        first_quartile=des.first_quartile,
        communes=stock.communes,
    )


@dataclass(frozen=True)
class HolderTotal:
    holder: Holder
    counts: Counts


@dataclass(frozen=True)
class BilanLine:
    """One non-empty cell of réservataire × convention × typology × financing × QPV × commune × period."""

    holder: Holder
    typology: str
    financing: str
    qpv: str
    commune: str
    period: str
    counts: Counts


@dataclass(frozen=True)
class ExclusionLine:
    code: str
    label: str
    forecast: float | None  # the scenario's forecast for its planning year; None when not applicable
    realised: int  # vacancies of the bilan year in this category


@dataclass(frozen=True)
class FlowSummary:
    """The realised flux base of the year: vacated dwellings less exclusions and stock kept out of the flux."""

    vacated: int
    out_of_flux: int
    excluded: int
    base: int


@dataclass(frozen=True)
class ContingentTotal:
    code: str
    label: str
    conventions: tuple[str, ...]
    counts: Counts


@dataclass(frozen=True)
class AnnualReport:
    """Everything the bilan says, as values; `tables()` gives its French presentation."""

    year: int
    scenario_name: str
    bailleur: str
    forecast_year: int
    data_until: dt.date | None  # latest date seen in the year's actuals
    totals: tuple[HolderTotal, ...]
    lines: tuple[BilanLine, ...]
    exclusions: tuple[ExclusionLine, ...]
    flow: FlowSummary
    contingents: tuple[ContingentTotal, ...]
    obligations: Table | None = None  # overlay obligations of the year's leases (fluxopt.kpis)

    @property
    def grand_total(self) -> Counts:
        out = Counts()
        for t in self.totals:
            out = out + t.counts
        return out

    def reservataires(self) -> list[tuple[str, str]]:
        """(id, name) of every réservataire with a convention, in scenario order, then the landlord."""
        seen: dict[str, str] = {}
        for t in self.totals:
            seen.setdefault(t.holder.reservataire, t.holder.reservataire_name)
        return list(seen.items())

    def lines_of(self, reservataire: str) -> list[BilanLine]:
        return [line for line in self.lines if line.holder.reservataire == reservataire]

    def tables(self) -> list[Table]:
        """Summary, flux base and exclusions, SNE contingents, then one detail table per réservataire."""
        return [
            self.summary_table(),
            self.flow_table(),
            self.contingent_table(),
            *([self.obligations] if self.obligations is not None else []),
            *(self.detail_table(rid) for rid, _ in self.reservataires()),
        ]

    def _until(self) -> str:
        return self.data_until.strftime("%d/%m/%Y") if self.data_until else "—"

    def summary_table(self) -> Table:
        rows: list[tuple[Cell, ...]] = []
        for t in self.totals:
            h = t.holder
            rows.append(
                (
                    h.reservataire if not h.is_landlord else "BAILLEUR",
                    h.reservataire_name,
                    h.convention,
                    h.contingent or "non réservé",
                    None if h.share is None else h.share / 100,
                    "—" if h.is_landlord else ("oui" if h.counts_no_candidate else "non"),
                    *t.counts.cells(),
                )
            )
        rows.append(("Total", "", "", "", None, "", *self.grand_total.cells()))
        return Table(
            name="synthese",
            title=f"Bilan annuel {self.year} des logements proposés et attribués (art. R441-5-1 du CCH)",
            columns=(
                Column("Réservataire"),
                Column("Nom", width=34),
                Column("Convention"),
                Column("Contingent SNE", width=26),
                Column("Part du flux (%)", "pct"),
                Column("Carence imputée"),
                *COUNT_COLUMNS,
            ),
            rows=tuple(rows),
            notes=(
                f"{self.bailleur} — {self.scenario_name}. Données jusqu'au {self._until()}.",
                "Proposés : logements mis à disposition dans l'année (date de désignation). "
                "Baux signés : baux signés dans l'année (date du bail, à défaut date de désignation).",
                "Repris pour un tour : logement repris après une carence et loué par le bailleur (bail signé). Imputés : comptés au réservataire selon la clause de carence de sa convention "
                "(une carence, ou une reprise pour un tour, n'est imputée que si la convention le prévoit).",
            ),
        )

    def flow_table(self) -> Table:
        rows: list[tuple[Cell, ...]] = [
            (ex.label, ex.code, ex.forecast, ex.realised) for ex in self.exclusions
        ]
        rows.append(("Logements libérés dans l'année", "", None, self.flow.vacated))
        rows.append(("Base du flux réalisée (libérés − exclus − hors flux)", "", None, self.flow.base))
        return Table(
            name="exclusions",
            title=f"Logements exclus du flux : prévision {self.forecast_year} et réalisé {self.year}",
            columns=(
                Column("Catégorie", width=52),
                Column("Code"),
                Column(f"Prévision {self.forecast_year}", "float"),
                Column(f"Réalisé {self.year}", "int"),
            ),
            rows=tuple(rows),
            notes=(
                f"Prévision : déclarée par le bailleur pour {self.forecast_year} (section [forecast.exclusions] "
                "du scénario). Réalisé : logements libérés dans l'année et sortis de la base du flux.",
            ),
        )

    def contingent_table(self) -> Table:
        rows: tuple[tuple[Cell, ...], ...] = tuple(
            (c.code or "non réservé", c.label, ", ".join(c.conventions), *c.counts.cells())
            for c in self.contingents
        )
        return Table(
            name="contingents",
            title=f"Attributions {self.year} par contingent SNE (radiation pour attribution)",
            columns=(
                Column("Code contingent"),
                Column("Contingent", width=44),
                Column("Conventions", width=30),
                *COUNT_COLUMNS,
            ),
            rows=rows,
            notes=(
                "Chaque convention relève d'un contingent SNE : ces totaux doivent concorder avec le SNE.",
            ),
        )

    def detail_table(self, reservataire: str) -> Table:
        lines = self.lines_of(reservataire)
        name = dict(self.reservataires()).get(reservataire, reservataire)
        rows: tuple[tuple[Cell, ...], ...] = tuple(
            (
                line.holder.convention,
                line.holder.contingent or "non réservé",
                line.typology,
                line.financing,
                line.qpv,
                line.commune,
                line.period,
                *line.counts.cells(),
            )
            for line in lines
        )
        return Table(
            name=reservataire,
            title=f"{name} — logements proposés et attribués en {self.year}, par caractéristique",
            columns=(
                Column("Convention"),
                Column("Contingent SNE", width=26),
                Column("Typologie"),
                Column("Financement"),
                Column("QPV"),
                Column("Commune"),
                Column("Période de construction", width=22),
                *COUNT_COLUMNS,
            ),
            rows=rows,
        )


def _year_bounds(year: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


def _latest(*arrays: npt.NDArray[np.datetime64]) -> dt.date | None:
    values = [a[~np.isnat(a)] for a in arrays]
    values = [v for v in values if len(v)]
    if not values:
        return None
    latest = max(v.max() for v in values)
    return dt.date.fromisoformat(str(latest))


def annual_report(scenario: Scenario, year: int) -> AnnualReport:
    """The bilan of `year` from the scenario's actual vacancies and designations."""
    start, end = _year_bounds(year)
    lo, hi = np.datetime64(start, "D"), np.datetime64(end, "D")
    actual = actual_designations(scenario)
    counters = actual.counters(start, end)
    vac = scenario.vacancies
    in_year = (vac.date >= lo) & (vac.date <= hi)
    touched = counters.any()
    if not in_year.any() and not touched.any():
        years = sorted({int(str(d)[:4]) for d in np.concatenate([vac.date, actual.date]) if not np.isnat(d)})
        seen = ", ".join(str(y) for y in years) if years else "aucune"
        raise InputError(
            f"Aucun logement libéré ni aucune désignation en {year} dans ce scénario "
            f"(années présentes dans les données : {seen})."
        )

    totals = tuple(HolderTotal(h, counters.sums(actual.holder == i)) for i, h in enumerate(actual.holders))

    # Detail lines: group the designations touched in the year by holder and the five dimensions.
    lines: list[BilanLine] = []
    idx = np.flatnonzero(touched)
    if len(idx):
        keys = np.stack(
            [
                actual.holder[idx],
                actual.typology[idx].astype(np.int32),
                actual.financing[idx].astype(np.int32),
                actual.qpv[idx].astype(np.int32),
                actual.commune[idx],
                actual.period[idx].astype(np.int32),
            ],
            axis=1,
        )
        unique, inverse = np.unique(keys, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        for g, key in enumerate(unique):
            mask = np.zeros(len(actual), np.bool_)
            mask[idx[inverse == g]] = True
            h, t, f, q, c, p = (int(k) for k in key)
            lines.append(
                BilanLine(
                    holder=actual.holders[h],
                    typology=TYPOLOGIES[t],
                    financing=FINANCINGS[f],
                    qpv=QPV_LABELS[q],
                    commune=actual.communes[c],
                    period=PERIODS[p],
                    counts=counters.sums(mask),
                )
            )
    lines.sort(
        key=lambda line: (
            [h.convention for h in actual.holders].index(line.holder.convention),
            line.commune,
            TYPOLOGIES.index(line.typology),
            FINANCINGS.index(line.financing),
            line.qpv,
            PERIODS.index(line.period),
        )
    )

    # Flux base and exclusions of the year.
    out_flux_code = scenario.stock.out_of_flux[vac.dwelling] if len(vac) else np.zeros(0, np.int8)
    out_flux = in_year & (out_flux_code >= 0)
    excluded = in_year & (vac.exclusion >= 0) & ~out_flux
    forecast = scenario.config.forecast.exclusions
    exclusions = [
        ExclusionLine(
            code=code,
            label=EXCLUSION_LABELS[code],
            forecast=float(forecast.get(ExclusionCategory(code), 0.0)),
            realised=int((excluded & (vac.exclusion == k)).sum()),
        )
        for k, code in enumerate(EXCLUSIONS)
    ]
    exclusions += [
        ExclusionLine(
            code=code,
            label=OUT_OF_FLUX_LABELS[code],
            forecast=None,
            realised=int((out_flux & (out_flux_code == k)).sum()),
        )
        for k, code in enumerate(OUT_OF_FLUX)
    ]
    vacated = int(in_year.sum())
    flow = FlowSummary(
        vacated=vacated,
        out_of_flux=int(out_flux.sum()),
        excluded=int(excluded.sum()),
        base=vacated - int(out_flux.sum()) - int(excluded.sum()),
    )

    # SNE contingents, in the order of the arrêté, then the landlord's own stock.
    contingents: list[ContingentTotal] = []
    for code in [*(c.value for c in Contingent), ""]:
        members = [i for i, h in enumerate(actual.holders) if h.contingent == code]
        if not members:
            continue
        mask = np.isin(actual.holder, members)
        contingents.append(
            ContingentTotal(
                code=code,
                label=CONTINGENT_LABELS[code],
                conventions=tuple(
                    actual.holders[i].convention for i in members if not actual.holders[i].is_landlord
                ),
                counts=counters.sums(mask),
            )
        )

    from fluxopt.kpis import overlay_kpis  # kpis builds on this module's joins

    until = _latest(
        vac.date[in_year],
        actual.date[counters.offered],
        actual.attributed_on[counters.leases | counters.taken_back_let],
    )
    return AnnualReport(
        year=year,
        scenario_name=scenario.config.scenario.name,
        bailleur=scenario.config.scenario.bailleur,
        forecast_year=scenario.year,
        data_until=until,
        totals=totals,
        lines=tuple(lines),
        exclusions=tuple(exclusions),
        flow=flow,
        contingents=tuple(contingents),
        obligations=overlay_kpis(scenario, start, end).table(),
    )


def bilan_sheets(report: AnnualReport) -> list[Sheet]:
    """The workbook layout: summary (with a chart), exclusions, SNE contingents, one sheet per réservataire."""
    summary = report.summary_table()
    sheets = [
        Sheet(
            "Synthèse",
            (summary,),
            charts=(
                Chart(
                    kind="column",
                    title=f"Logements proposés et baux signés en {report.year}",
                    table=summary.name,
                    categories="Convention",
                    series=("Proposés", "Baux signés", "Attribués imputés"),
                    y_title="logements",
                    skip_last_rows=1,
                ),
            ),
        ),
        Sheet("Exclusions", (report.flow_table(),)),
        Sheet("Contingents SNE", (report.contingent_table(),)),
    ]
    if report.obligations is not None:
        sheets.append(Sheet("Obligations L441-1", (report.obligations,)))
    sheets += [Sheet(rid, (report.detail_table(rid),)) for rid, _ in report.reservataires()]
    return sheets


def csv_name(year: int, table: Table) -> str:
    return f"bilan-{year}-{table.name}.csv"


def write_annual_report(report: AnnualReport, folder: str | Path, dialect: Dialect = "fr") -> list[Path]:
    """Write the workbook and one CSV per sheet into `folder`, atomically (all files or none)."""
    written: list[str] = []
    with atomic_output_dir(folder) as out:
        name = f"bilan-{report.year}.xlsx"
        created = report.data_until or dt.date(report.year, 12, 31)
        out.write_bytes(
            name,
            workbook_bytes(
                bilan_sheets(report),
                created=created,
                title=f"Bilan annuel {report.year} — {report.bailleur}",
                subject="Bilan R441-5-1 du CCH",
            ),
        )
        written.append(name)
        for table in report.tables():
            cname = csv_name(report.year, table)
            out.write_bytes(cname, csv_bytes(table.headers, table.csv_rows(), dialect))
            written.append(cname)
    return [Path(folder) / n for n in written]
