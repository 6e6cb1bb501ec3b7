"""Planned vs actual, per convention and per dimension value, at a date (`fluxopt compare`).

Targets are rows.py's rows evaluated on the **realised** flux base to date (actual vacancies not excluded,
stock in the flux, dated on or before `as_of`): one definition of "what we promised", shared with the
planner. What counts against a row is the actual designations of those vacancies, as **counted** (imputé)
under each convention's carence clause: a carence — or a dwelling taken back for one letting — that the
convention does not count is the landlord's. Two counters, as the law has them: offered (designations made
on or before `as_of`) and attributed (leases signed on or before `as_of`).

Breakdowns are given along the five dimensions for every convention (not only the dimensions its
`balance` asks to keep representative, which are flagged): the rows are built by rows.py on a copy of the
scenario whose conventions balance every dimension.

With a plan folder (`fluxopt plan -o DIR`), the plan's counts add "planned to date" (its months before
`as_of`, and the days of `as_of`'s month elapsed, pro rata) and a year-end projection: counted to date +
what the plan still has to come.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fluxopt.bilan import ActualDesignations, Counters, actual_designations
from fluxopt.domain import BAILLEUR, Dimension, Scenario
from fluxopt.domain.enums import DesignationStatus
from fluxopt.domain.tables import STATUSES
from fluxopt.errors import InputError
from fluxopt.report.tables import Cell, Column, Table
from fluxopt.rows import RowKind, RowSet, build_rows, units_from_vacancies

DIMENSION_LABELS: dict[str, str] = {
    Dimension.TYPOLOGY.value: "Typologie",
    Dimension.FINANCING.value: "Financement",
    Dimension.QPV.value: "QPV",
    Dimension.COMMUNE.value: "Commune",
    Dimension.CONSTRUCTION_PERIOD.value: "Période de construction",
}
MONTH_LABELS = (
    "janv.",
    "févr.",
    "mars",
    "avr.",
    "mai",
    "juin",
    "juil.",
    "août",
    "sept.",
    "oct.",
    "nov.",
    "déc.",
)

_NO_CANDIDATE = (
    STATUSES.index(DesignationStatus.NO_CANDIDATE.value),
    STATUSES.index(DesignationStatus.TAKEN_BACK.value),
)
_LEASE = STATUSES.index(DesignationStatus.LEASE_SIGNED.value)
_TAKEN_BACK = STATUSES.index(DesignationStatus.TAKEN_BACK.value)
_PENDING = (STATUSES.index(DesignationStatus.OFFERED.value), STATUSES.index(DesignationStatus.REFUSED.value))


# ------------------------------------------------------------------------------------------ plan input


@dataclass(frozen=True)
class PlanView:
    """What compare needs from a plan folder: planned dwellings per convention × month × dimension value."""

    folder: Path
    #: (convention, month 1–12) → planned dwellings
    monthly: dict[tuple[str, int], float]
    #: (convention, dimension, value, month) → planned dwellings
    by_value: dict[tuple[str, str, str, int], float]
    #: convention → year target of the plan (its total row), when the plan says it
    year_targets: dict[str, float]
    manifest: dict[str, Any] = field(default_factory=dict)

    def planned_through(
        self, convention: str, year: int, day: dt.date, dimension: str = "", value: str = ""
    ) -> float:
        """Planned dwellings up to `day` inclusive: whole months before it, its own month pro rata."""
        total = 0.0
        for m in range(1, 13):
            n = (
                self.monthly.get((convention, m), 0.0)
                if not dimension
                else self.by_value.get((convention, dimension, value, m), 0.0)
            )
            if not n:
                continue
            total += n * month_elapsed(year, m, day)
        return total

    def planned_year(self, convention: str, dimension: str = "", value: str = "") -> float:
        if not dimension:
            return sum(v for (c, _), v in self.monthly.items() if c == convention)
        return sum(
            v for (c, d, val, _), v in self.by_value.items() if (c, d, val) == (convention, dimension, value)
        )


def month_elapsed(year: int, month: int, day: dt.date) -> float:
    """Fraction of `month` of `year` elapsed at the end of `day` (0 before it, 1 after it)."""
    days = calendar.monthrange(year, month)[1]
    first, last = dt.date(year, month, 1), dt.date(year, month, days)
    if day < first:
        return 0.0
    if day >= last:
        return 1.0
    return ((day - first).days + 1) / days


def _norm(text: str) -> str:
    import unicodedata

    t = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(ch for ch in t if ch.isalnum())


def read_plan(folder: str | Path) -> PlanView:
    """Read `plan.csv` (segment × month × convention counts), `objectifs.csv` and `manifest.json` of a plan.

    Headers are matched without regard to case, accents and spacing; both French-Excel and plain CSV are
    read. Raises `InputError` naming the file when the folder is not a plan.
    """
    import csv
    import io

    root = Path(folder)
    plan_file = root / "plan.csv"
    if not plan_file.is_file():
        raise InputError(
            f"{root} n'est pas un dossier de plan : plan.csv est introuvable (produit par « fluxopt plan -o DOSSIER »)."
        )

    def rows_of(path: Path) -> tuple[list[str], list[list[str]]]:
        from fluxopt.io.text import CellError, decode_bytes

        try:  # BOM → UTF-8 → Windows-1252 (a plan re-saved by Excel), binary refused, as the loaders do
            text = decode_bytes(path.read_bytes())[0]
        except CellError as error:
            raise InputError(f"{path} : {error}.") from error
        first = text.splitlines()[0] if text else ""
        delimiter = ";" if first.count(";") >= first.count(",") else ","
        reader = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        return [_norm(h) for h in reader[0]] if reader else [], reader[1:]

    def number(text: str, name: str) -> float:
        try:
            value = (
                float(text.replace("\u00a0", "").replace(" ", "").replace(",", ".")) if text.strip() else 0.0
            )
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} : nombre positif attendu, reçu {text.strip()!r}")
        return value

    header, body = rows_of(plan_file)
    want = {
        "convention": ("convention",),
        "month": ("mois", "month"),
        "count": ("logements", "nombre", "count", "designations", "prevus"),
        "commune": ("commune",),
        "typologie": ("typologie", "typology"),
        "qpv": ("qpv",),
        "financement": ("financement", "financing"),
        "periode_construction": ("periodeconstruction", "periodedeconstruction", "periode", "period"),
    }
    col: dict[str, int] = {}
    for wanted, names in want.items():
        for name in names:
            if name in header:
                col[wanted] = header.index(name)
                break
    missing = [k for k in ("convention", "month", "count") if k not in col]
    if missing:
        raise InputError(
            f"{plan_file} : colonnes introuvables ({', '.join(missing)}) ; colonnes lues : {', '.join(header)}."
        )
    monthly: dict[tuple[str, int], float] = {}
    by_value: dict[tuple[str, str, str, int], float] = {}
    dims = [d for d in ("typologie", "financement", "qpv", "commune", "periode_construction") if d in col]
    for line_no, row in enumerate(body, start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        try:
            conv = row[col["convention"]].strip()
            month_text = row[col["month"]].strip()
            month = int(month_text[-2:]) if "-" in month_text else int(month_text)
            if not 1 <= month <= 12:
                raise ValueError(f"mois : entre 1 et 12 attendu, reçu {month_text!r}")
            n = number(row[col["count"]], header[col["count"]])
        except (ValueError, IndexError) as error:
            raise InputError(f"{plan_file}:{line_no} : ligne illisible ({error}).") from error
        if not n:
            continue
        monthly[(conv, month)] = monthly.get((conv, month), 0.0) + n
        for d in dims:
            value = row[col[d]].strip()
            if d == "qpv" and value.lower() in ("oui", "1", "true", "vrai"):
                value = "QPV"
            elif d == "qpv" and value.lower() in ("non", "0", "false", "faux", ""):
                value = "hors QPV"
            key = (conv, d, value, month)
            by_value[key] = by_value.get(key, 0.0) + n
    year_targets: dict[str, float] = {}
    obj = root / "objectifs.csv"
    if obj.is_file():
        oh, ob = rows_of(obj)
        kind_i = next((oh.index(n) for n in ("type", "kind", "famille", "ligne") if n in oh), None)
        conv_i = oh.index("convention") if "convention" in oh else None
        tgt_i = next((oh.index(n) for n in ("objectif", "target", "cible") if n in oh), None)
        if kind_i is not None and conv_i is not None and tgt_i is not None:
            for obj_line, row in enumerate(ob, start=2):
                if len(row) > max(kind_i, conv_i, tgt_i) and row[kind_i].strip() == RowKind.TOTAL.value:
                    try:
                        year_targets[row[conv_i].strip()] = number(row[tgt_i], oh[tgt_i])
                    except ValueError as error:
                        raise InputError(f"{obj}:{obj_line} : ligne illisible ({error}).") from error
    manifest: dict[str, Any] = {}
    man = root / "manifest.json"
    if man.is_file():
        try:
            manifest = json.loads(man.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise InputError(f"{man} : JSON illisible ({error}).") from error
        if not isinstance(manifest, dict):
            raise InputError(f"{man} : un objet JSON (manifeste de fluxopt) est attendu.")
    return PlanView(root, monthly, by_value, year_targets, manifest)


# ------------------------------------------------------------------------------------------ comparison


@dataclass(frozen=True)
class ConventionLine:
    """One convention (or the landlord) at the date."""

    convention: str
    reservataire: str
    name: str
    share: float | None  # % of the flux of the scope; None for the landlord
    counts_no_candidate: bool
    base: int  # realised flux base of its scope to date
    target: float  # share × base (rows.py)
    planned: float | None  # plan's dwellings to date
    offered: int  # designations made to date
    counted: int  # offered, counted under the carence clause, of vacancies in the base (rows.py count)
    leases: int  # leases signed to date (its own candidates)
    counted_leases: int  # leases counted under the carence clause
    year_target: float | None  # the plan's year target
    projected: float | None  # counted + plan still to come

    @property
    def gap(self) -> float:
        """Counted − target, in dwellings (negative: behind)."""
        return self.counted - self.target

    @property
    def gap_pct(self) -> float | None:
        return self.gap / self.target if self.target > 1e-9 else None


@dataclass(frozen=True)
class ValueLine:
    """One convention × dimension value at the date."""

    convention: str
    reservataire: str
    dimension: str
    value: str
    balanced: bool  # in the convention's `balance` list
    base: int
    target: float
    planned: float | None
    counted: int
    counted_leases: int
    offered: int = 0  # designations to date of dwellings with this value
    leases: int = 0  # leases signed to date (its own candidates)
    projected: float | None = None  # counted + what the plan still has for this value

    @property
    def gap(self) -> float:
        return self.counted - self.target

    @property
    def gap_pct(self) -> float | None:
        return self.gap / self.target if self.target > 1e-9 else None


@dataclass(frozen=True)
class MonthPoint:
    """Cumulative figures of a convention at the end of a month (or at `as_of` in its month)."""

    month: int
    day: dt.date
    target: float
    counted: int
    planned: float | None


@dataclass(frozen=True)
class Comparison:
    year: int
    as_of: dt.date
    scenario_name: str
    bailleur: str
    conventions: tuple[ConventionLine, ...]
    values: tuple[ValueLine, ...]
    cumulative: dict[str, tuple[MonthPoint, ...]]  # convention → points, January to as_of
    plan_folder: str | None
    input_hashes: dict[str, str]
    base: int  # realised flux base to date (all conventions' scopes and the landlord's)
    pending: int  # dwellings of that base not yet designated at the date
    plan_manifest: dict[str, Any] = field(default_factory=dict)
    #: input files (other than the actuals) whose hash differs between the plan's run and this scenario
    plan_mismatch: tuple[str, ...] = ()

    def gaps_over(self, threshold: float) -> list[ConventionLine]:
        """Conventions whose |gap| exceeds `threshold` dwellings (for `--fail-on-gap`).

        The landlord is not a convention: what it keeps is the rest, owed to nobody, so it never trips the alarm.
        """
        return [c for c in self.conventions if c.convention != BAILLEUR and abs(c.gap) > threshold + 1e-9]

    # -------------------------------------------------------------------------------------- tables

    def convention_table(self) -> Table:
        rows: list[tuple[Cell, ...]] = []
        for c in self.conventions:
            rows.append(
                (
                    c.convention,
                    c.reservataire,
                    c.name,
                    None if c.share is None else c.share / 100,
                    c.base,
                    round(c.target, 2),
                    None if c.planned is None else round(c.planned, 2),
                    c.offered,
                    c.counted,
                    c.leases,
                    c.counted_leases,
                    round(c.gap, 2),
                    c.gap_pct,
                    None if c.year_target is None else round(c.year_target, 2),
                    None if c.projected is None else round(c.projected, 2),
                )
            )
        return Table(
            name="conventions",
            title=f"Prévu et réalisé par convention au {self.as_of:%d/%m/%Y}",
            columns=(
                Column("Convention"),
                Column("Réservataire"),
                Column("Nom", width=30),
                Column("Part du flux (%)", "pct"),
                Column("Base réalisée à date", "int"),
                Column("Objectif à date", "float"),
                Column("Prévu à date (plan)", "float"),
                Column("Proposés", "int"),
                Column("Imputés", "int"),
                Column("Baux signés", "int"),
                Column("Baux imputés", "int"),
                Column("Écart (logements)", "float"),
                Column("Écart (%)", "pct"),
                Column("Objectif annuel (plan)", "float"),
                Column("Projection fin d'année", "float"),
            ),
            rows=tuple(rows),
            notes=(
                f"{self.bailleur} — {self.scenario_name}. Objectif à date = part × base du flux réalisée "
                f"(logements libérés du 01/01 au {self.as_of:%d/%m/%Y}, hors exclusions et hors flux).",
                "Imputés : logements de la base proposés au réservataire, comptés selon la clause de carence. "
                "Écart = imputés − objectif (négatif : en retard).",
                f"Base du flux réalisée : {self.base} logements, dont {self.pending} pas encore désignés au "
                f"{self.as_of:%d/%m/%Y} (ils ne comptent encore pour personne).",
            ),
        )

    def value_table(self) -> Table:
        rows: tuple[tuple[Cell, ...], ...] = tuple(
            (
                v.convention,
                v.reservataire,
                DIMENSION_LABELS.get(v.dimension, v.dimension),
                v.value,
                "oui" if v.balanced else "non",
                v.base,
                round(v.target, 2),
                None if v.planned is None else round(v.planned, 2),
                v.offered,
                v.counted,
                v.leases,
                v.counted_leases,
                round(v.gap, 2),
                v.gap_pct,
                None if v.projected is None else round(v.projected, 2),
            )
            for v in self.values
        )
        return Table(
            name="detail",
            title=f"Prévu et réalisé par convention et par caractéristique au {self.as_of:%d/%m/%Y}",
            columns=(
                Column("Convention"),
                Column("Réservataire"),
                Column("Dimension", width=22),
                Column("Valeur", width=14),
                Column("Équilibre demandé"),
                Column("Base réalisée à date", "int"),
                Column("Objectif à date", "float"),
                Column("Prévu à date (plan)", "float"),
                Column("Proposés", "int"),
                Column("Imputés", "int"),
                Column("Baux signés", "int"),
                Column("Baux imputés", "int"),
                Column("Écart (logements)", "float"),
                Column("Écart (%)", "pct"),
                Column("Projection fin d'année", "float"),
            ),
            rows=rows,
            notes=(
                "« Équilibre demandé » : la convention demande que ses logements soient représentatifs selon cette dimension.",
            ),
        )

    def cumulative_table(self) -> Table:
        rows: list[tuple[Cell, ...]] = []
        for conv, points in self.cumulative.items():
            for p in points:
                rows.append(
                    (
                        conv,
                        f"{MONTH_LABELS[p.month - 1]} {self.year}",
                        p.day,
                        round(p.target, 2),
                        p.counted,
                        None if p.planned is None else round(p.planned, 2),
                    )
                )
        return Table(
            name="cumul",
            title=f"Cumul mensuel des désignations imputées et de l'objectif, jusqu'au {self.as_of:%d/%m/%Y}",
            columns=(
                Column("Convention"),
                Column("Mois"),
                Column("Au", "date"),
                Column("Objectif cumulé", "float"),
                Column("Imputés cumulés", "int"),
                Column("Prévu cumulé (plan)", "float"),
            ),
            rows=tuple(rows),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view (numbers rounded to 0.01 dwelling; percentages as fractions)."""

        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 4)

        return {
            "annee": self.year,
            "au": self.as_of.isoformat(),
            "scenario": self.scenario_name,
            "bailleur": self.bailleur,
            "plan": self.plan_folder,
            "base_realisee": self.base,
            "non_designes": self.pending,
            "conventions": [
                {
                    "convention": c.convention,
                    "reservataire": c.reservataire,
                    "nom": c.name,
                    "part": c.share,
                    "carence_imputee": c.counts_no_candidate,
                    "base_realisee": c.base,
                    "objectif": r(c.target),
                    "prevu": r(c.planned),
                    "proposes": c.offered,
                    "imputes": c.counted,
                    "baux_signes": c.leases,
                    "baux_imputes": c.counted_leases,
                    "ecart": r(c.gap),
                    "ecart_pct": r(c.gap_pct),
                    "objectif_annuel_plan": r(c.year_target),
                    "projection_fin_annee": r(c.projected),
                }
                for c in self.conventions
            ],
            "detail": [
                {
                    "convention": v.convention,
                    "dimension": v.dimension,
                    "valeur": v.value,
                    "equilibre_demande": v.balanced,
                    "base_realisee": v.base,
                    "objectif": r(v.target),
                    "prevu": r(v.planned),
                    "proposes": v.offered,
                    "imputes": v.counted,
                    "baux_signes": v.leases,
                    "baux_imputes": v.counted_leases,
                    "projection_fin_annee": r(v.projected),
                    "ecart": r(v.gap),
                    "ecart_pct": r(v.gap_pct),
                }
                for v in self.values
            ],
        }


def data_date(scenario: Scenario) -> dt.date:
    """The latest date in the year's actuals (vacancy, designation or lease), else 1 January."""
    year = scenario.year
    hi = np.datetime64(dt.date(year, 12, 31), "D")
    lo = np.datetime64(dt.date(year, 1, 1), "D")
    parts = [scenario.vacancies.date, scenario.designations.date, scenario.designations.lease_date]
    latest = lo
    for a in parts:
        ok = a[~np.isnat(a)]
        ok = ok[(ok >= lo) & (ok <= hi)]
        if len(ok):
            latest = max(latest, ok.max())
    return dt.date.fromisoformat(str(latest))


def _all_dimensions(scenario: Scenario) -> Scenario:
    """The scenario with every convention balancing every dimension (rows for every breakdown)."""
    every = tuple(Dimension)
    config = scenario.config.model_copy(
        update={"conventions": tuple(c.model_copy(update={"balance": every}) for c in scenario.conventions)}
    )
    return replace(scenario, config=config)


def _designation_units(
    scenario: Scenario, unit_vacancy: npt.NDArray[np.int64], actual: ActualDesignations, as_of: dt.date
) -> list[tuple[int, int]]:
    """(designation, unit) for every designation dated by `as_of` whose vacancy is in the base: a
    designation belongs to the latest vacancy of its dwelling dated on or before it."""
    unit_of_vacancy = {int(v): u for u, v in enumerate(unit_vacancy)}
    vac = scenario.vacancies
    by_dwelling: dict[int, list[tuple[np.datetime64, int]]] = {}
    for p in range(len(vac)):
        by_dwelling.setdefault(int(vac.dwelling[p]), []).append((vac.date[p], p))
    for lst in by_dwelling.values():
        lst.sort()
    day = np.datetime64(as_of, "D")
    out: list[tuple[int, int]] = []
    for i in range(len(actual)):
        if actual.date[i] > day:
            continue
        candidates = [p for d, p in by_dwelling.get(int(actual.dwelling[i]), []) if d <= actual.date[i]]
        if not candidates:
            continue
        u = unit_of_vacancy.get(candidates[-1])
        if u is None:  # an excluded vacancy, stock out of the flux, or another year: not in the base
            continue
        out.append((i, u))
    return out


def counted_matrices(
    scenario: Scenario,
    rowset: RowSet,
    unit_vacancy: npt.NDArray[np.int64],
    actual: ActualDesignations,
    as_of: dt.date,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """[units, columns] matrices of designations (offered) and leases counted to each column by `as_of`.

    A carence, or a dwelling taken back for one letting, counts to the landlord when its convention does
    not count it.
    """
    columns = rowset.columns
    col = {c: j for j, c in enumerate(columns)}
    landlord = col[BAILLEUR]
    n_units = len(rowset.units)
    offered = np.zeros((n_units, len(columns)), np.int64)
    leases = np.zeros((n_units, len(columns)), np.int64)
    day = np.datetime64(as_of, "D")
    counts_nc = actual.counts_no_candidate()
    for i, u in _designation_units(scenario, unit_vacancy, actual, as_of):
        holder = actual.holders[int(actual.holder[i])].convention
        status = int(actual.status[i])
        own = col[holder]
        not_counted = status in _NO_CANDIDATE and not counts_nc[i]
        offered[u, landlord if not_counted else own] += 1
        if actual.attributed_on[i] <= day and status in (_LEASE, _TAKEN_BACK):
            leases[u, landlord if not_counted else own] += 1
    return offered, leases


def pending_designations(
    scenario: Scenario,
    rowset: RowSet,
    unit_vacancy: npt.NDArray[np.int64],
    actual: ActualDesignations,
    as_of: dt.date,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.datetime64]]:
    """(units, columns, dates) of the designations still waiting for candidates on `as_of` (proposé or
    refusé) whose convention does not count a carence: those a carence would take back from it."""
    col = {c: j for j, c in enumerate(rowset.columns)}
    counts_nc = actual.counts_no_candidate()
    units: list[int] = []
    cols: list[int] = []
    dates: list[np.datetime64] = []
    for i, u in _designation_units(scenario, unit_vacancy, actual, as_of):
        holder = actual.holders[int(actual.holder[i])].convention
        if int(actual.status[i]) in _PENDING and not counts_nc[i] and holder != BAILLEUR:
            units.append(u)
            cols.append(col[holder])
            dates.append(actual.date[i])
    return (
        np.asarray(units, dtype=np.int64),
        np.asarray(cols, dtype=np.int64),
        np.asarray(dates, dtype="datetime64[D]"),
    )


def compare(scenario: Scenario, as_of: dt.date | None = None, plan: PlanView | None = None) -> Comparison:
    """Planned vs actual at `as_of` (default: the latest date in the actuals)."""
    year = scenario.year
    day = as_of or data_date(scenario)
    if not dt.date(year, 1, 1) <= day <= dt.date(year, 12, 31):
        raise InputError(f"La date --as-of {day:%d/%m/%Y} n'est pas dans l'année du scénario ({year}).")
    units, unit_vacancy = units_from_vacancies(scenario, until=day)
    rowset = build_rows(_all_dimensions(scenario), units, pacing=True)
    actual = actual_designations(scenario)
    offered_m, leases_m = counted_matrices(scenario, rowset, unit_vacancy, actual, day)
    counted = rowset.evaluate(offered_m).count
    counted_leases = rowset.evaluate(leases_m).count
    raw = actual.counters(dt.date(year, 1, 1), day)
    holder_index = {h.convention: i for i, h in enumerate(actual.holders)}
    by_id = {c.id: c for c in scenario.conventions}
    balanced = {c.id: {d.value for d in c.balance} for c in scenario.conventions}

    lines: list[ConventionLine] = []
    values: list[ValueLine] = []
    cumulative: dict[str, list[MonthPoint]] = {}
    total_rows = {r.convention: r for r in rowset.rows if r.kind is RowKind.TOTAL}
    order = [h.convention for h in actual.holders]  # scenario order, then the landlord
    for conv_id in order:
        row = total_rows.get(conv_id)
        h = actual.holders[holder_index[conv_id]]
        mask = actual.holder == holder_index[conv_id]
        sums = raw.sums(mask)
        target = row.target if row else 0.0
        count = _whole(counted[row.index]) if row else 0
        planned = plan.planned_through(conv_id, year, day) if plan else None
        year_target = plan.year_targets.get(conv_id) if plan else None
        projected = None
        if plan is not None:
            projected = count + plan.planned_year(conv_id) - plan.planned_through(conv_id, year, day)
        lines.append(
            ConventionLine(
                convention=conv_id,
                reservataire=h.reservataire,
                name=h.reservataire_name,
                share=h.share,
                counts_no_candidate=h.counts_no_candidate,
                base=row.base if row else 0,
                target=target,
                planned=planned,
                offered=sums.offered,
                counted=count,
                leases=sums.leases,
                counted_leases=_whole(counted_leases[row.index]) if row else 0,
                year_target=year_target,
                projected=projected,
            )
        )
    dim_order = [d.value for d in Dimension]
    raw_by_value = _raw_by_value(actual, raw)
    for r in rowset.rows:
        if r.kind is not RowKind.REPRESENTATIVENESS:
            continue
        planned_v = plan.planned_through(r.convention, year, day, r.dimension, r.value) if plan else None
        raw_v = raw_by_value.get((r.convention, r.dimension, r.value), (0, 0))
        values.append(
            ValueLine(
                convention=r.convention,
                reservataire=r.reservataire,
                dimension=r.dimension,
                value=r.value,
                balanced=r.dimension in balanced.get(r.convention, set()),
                base=r.base,
                target=r.target,
                planned=planned_v,
                counted=_whole(counted[r.index]),
                counted_leases=_whole(counted_leases[r.index]),
                offered=raw_v[0],
                leases=raw_v[1],
                projected=(
                    _whole(counted[r.index])
                    + plan.planned_year(r.convention, r.dimension, r.value)
                    - planned_v
                    if plan is not None and planned_v is not None
                    else None
                ),
            )
        )
    values.sort(key=lambda v: (order.index(v.convention), dim_order.index(v.dimension), _value_rank(v)))

    # Cumulative points: month ends from the pacing rows, then as_of from the total row.
    pacing = {(r.convention, int(r.value[-2:])): r for r in rowset.rows if r.kind is RowKind.PACING}
    last_unit_month = int(units.month.max()) if len(units) else 1
    for conv_id in order:
        if conv_id == BAILLEUR or conv_id not in by_id:
            continue
        points: list[MonthPoint] = []
        row = total_rows.get(conv_id)
        for m in range(1, day.month + 1):
            point_day = day if m == day.month else dt.date(year, m, calendar.monthrange(year, m)[1])
            # rows.py has pacing rows for the months before the last month with a vacancy; from that month
            # on, the cumulative count is the total row's.
            prow = pacing.get((conv_id, m))
            src = row if m == day.month or m >= last_unit_month else prow
            target = src.target if src is not None else 0.0
            count = _whole(counted[src.index]) if src is not None else 0
            planned = plan.planned_through(conv_id, year, point_day) if plan else None
            points.append(MonthPoint(m, point_day, target, count, planned))
        cumulative[conv_id] = points
    return Comparison(
        year=year,
        as_of=day,
        scenario_name=scenario.config.scenario.name,
        bailleur=scenario.config.scenario.bailleur,
        conventions=tuple(lines),
        values=tuple(values),
        cumulative={k: tuple(v) for k, v in cumulative.items()},
        plan_folder=str(plan.folder) if plan else None,
        input_hashes=dict(scenario.input_hashes),
        base=units.total,
        pending=int((offered_m.sum(axis=1) == 0).sum()),
        plan_manifest=dict(plan.manifest) if plan else {},
        plan_mismatch=plan_mismatch(scenario, plan) if plan else (),
    )


def plan_mismatch(scenario: Scenario, plan: PlanView) -> tuple[str, ...]:
    """Files the plan was computed from that differ now (the actuals — vacancies, designations — may)."""
    planned = plan.manifest.get("entrees")
    if not isinstance(planned, dict):
        return ()
    files = scenario.config.files
    actuals = {name for name in (files.vacancies, files.designations) if name}
    out = []
    for name, digest in sorted(planned.items()):
        now = scenario.input_hashes.get(name)
        if name not in actuals and now is not None and now != digest:
            out.append(name)
    return tuple(out)


def _raw_by_value(actual: ActualDesignations, raw: Counters) -> dict[tuple[str, str, str], tuple[int, int]]:
    """(convention, dimension, value) → (offered, leases signed) to date, from the designations."""
    from fluxopt.domain.enums import QPV_LABELS
    from fluxopt.domain.tables import FINANCINGS, PERIODS, TYPOLOGIES

    labels: dict[str, tuple[npt.NDArray[np.integer], tuple[str, ...]]] = {
        Dimension.TYPOLOGY.value: (actual.typology, TYPOLOGIES),
        Dimension.FINANCING.value: (actual.financing, FINANCINGS),
        Dimension.QPV.value: (actual.qpv.astype(np.int8), QPV_LABELS),
        Dimension.COMMUNE.value: (actual.commune, actual.communes),
        Dimension.CONSTRUCTION_PERIOD.value: (actual.period, PERIODS),
    }
    out: dict[tuple[str, str, str], tuple[int, int]] = {}
    for i in np.flatnonzero(raw.offered | raw.leases):
        conv = actual.holders[int(actual.holder[i])].convention
        for dim, (codes, names) in labels.items():
            key = (conv, dim, names[int(codes[i])])
            o, le = out.get(key, (0, 0))
            out[key] = (o + int(raw.offered[i]), le + int(raw.leases[i]))
    return out


def _whole(x: float) -> int:
    """A row count (a float sum of whole designations) as an int."""
    return int(np.rint(x))


def _value_rank(v: ValueLine) -> tuple[int, str]:
    from fluxopt.domain.tables import FINANCINGS, PERIODS, TYPOLOGIES

    for labels in (TYPOLOGIES, FINANCINGS, PERIODS, ("hors QPV", "QPV")):
        if v.value in labels:
            return labels.index(v.value), v.value
    return 0, v.value
