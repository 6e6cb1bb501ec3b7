"""Rows: THE single definition of "what we promised" (ARCHITECTURE.md, "objectives are rows").

A row is a convention (or the préfet across his conventions, or the landlord), a set of *units* of the
flux base, and a target. Planner, checker, compare, simulate and the bench all evaluate the same rows.

Vocabulary
- **Units** (`Units`): the flux base, as pieces with attributes (commune, typology, QPV, financing,
  construction period, programme, month) and a whole number of dwellings (`base`). Forecast units are
  cell × month counts (`units_from_forecast`); realised units are actual vacancies, one dwelling each
  (`units_from_vacancies`). Both can be mixed (`Units.concat`) for re-planning.
- **Columns**: who can receive a dwelling — the conventions sorted by id, then `BAILLEUR` (the landlord,
  a pseudo-convention keeping what the conventions leave). Counts are an integer matrix
  ``counts[unit, column]`` whose rows sum to `Units.base`.
- **Shares** (`share_matrix`): the fraction of a unit owed to each column = convention share × the part
  of the unit's month (or the exact day, for a realised unit) the convention is in force, when the unit is
  in its scope; the landlord's column is 1 − Σ of the others (it varies by commune).
- **Rows** (`Row`): ``count = Σ counts[unit, column]`` over the row's units and columns, compared with
  ``target`` in the row's `sense` (``=`` two-sided, ``>=`` at least, ``<=`` at most):
  * ``total``: a convention over its whole scope (and the landlord over everything);
  * ``representativite``: a convention × one value of a dimension in its ``balance`` (commune only when
    the scope spans several communes);
  * ``rythme`` (pacing): a convention's cumulative count at the end of each month but the last;
  * ``legal``: the préfet's share in every commune (``prefet_uniforme``), the préfet's minimum outside QPV
    (``prefet_hors_qpv``, per commune when the share is uniform per commune, else per département), the
    State-employee sub-share at most 5 % per département (``fonctionnaires``). Legal rows are hard.
  * ``souhait`` (wish): a convention's minimum/maximum share of some dimension values, as a count
    relative to its total target (min_share × total target).
  Target = Σ share × base over the row's units (or rate × base for legal minima/maxima).
- **Rounding floor** of a two-sided row: dist(target, ℤ) — no integer plan can do better; one-sided rows
  have floor 0.

`RowSet.evaluate(counts)` returns every row's count and deviation in dwellings: ``|count − target|`` for
``=``, the shortfall for ``>=``, the excess for ``<=``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

import numpy as np
import numpy.typing as npt

from fluxopt.domain import BAILLEUR, Convention, Dimension, Scenario
from fluxopt.domain.enums import Contingent, ReservataireKind
from fluxopt.domain.tables import FINANCINGS, PERIODS, TYPOLOGIES, SegmentLabels, departement_of
from fluxopt.errors import InfeasibleError, InputError
from fluxopt.forecast import MONTHS, FluxForecast, scoped_programmes

__all__ = [
    "BAILLEUR",
    "Evaluation",
    "Family",
    "Row",
    "RowKind",
    "RowSet",
    "Sense",
    "Units",
    "build_rows",
    "columns_of",
    "deviation",
    "rounding_floor",
    "share_matrix",
    "units_from_forecast",
    "units_from_vacancies",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: State-employee sub-share ceiling (R441-5-2): at most 5 % of the flux
STATE_EMPLOYEE_MAX = 0.05
EPS = 1e-9
MONTH_NAMES = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip


class RowKind(StrEnum):
    """Kinds of rows; the values are the French words written in `objectifs.csv`."""

    TOTAL = "total"
    REPRESENTATIVENESS = "representativite"
    PACING = "rythme"
    LEGAL = "legal"
    WISH = "souhait"


class Sense(StrEnum):
    EQ = "="
    GE = ">="
    LE = "<="


# ----------------------------------------------------------------------------------------------- units


@dataclass(frozen=True)
class Units(SegmentLabels):
    """Pieces of the flux base with their attributes and a whole number of dwellings each."""

    communes: tuple[str, ...]  # sorted INSEE codes (all the stock's communes)
    programmes: tuple[str, ...]  # sorted codes of the programmes a scope names
    commune: IntArray
    typology: IntArray
    qpv: BoolArray
    financing: IntArray
    period: IntArray
    programme: IntArray  # code into `programmes`, -1 when no scope names it
    month: IntArray  # 1–12
    base: IntArray  # dwellings in the unit (≥ 0)
    realised: BoolArray  # an actual vacancy (True) or a forecast (False)
    date: npt.NDArray[np.datetime64]  # exact vacancy date of a realised unit, NaT for a forecast

    def __post_init__(self) -> None:
        n = len(self.commune)
        for name in (
            "typology",
            "qpv",
            "financing",
            "period",
            "programme",
            "month",
            "base",
            "realised",
            "date",
        ):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Units.{name} has the wrong length")

    def __len__(self) -> int:
        return len(self.commune)

    @property
    def total(self) -> int:
        return int(self.base.sum())

    def codes(self, dimension: Dimension) -> tuple[IntArray, tuple[str, ...]]:
        """Per-unit codes and labels along a dimension."""
        if dimension is Dimension.TYPOLOGY:
            return self.typology, TYPOLOGIES
        if dimension is Dimension.FINANCING:
            return self.financing, FINANCINGS
        if dimension is Dimension.QPV:
            return self.qpv.astype(np.int64), ("hors QPV", "QPV")
        if dimension is Dimension.COMMUNE:
            return self.commune, self.communes
        return self.period, PERIODS

    def departements(self) -> tuple[IntArray, tuple[str, ...]]:
        """Per-unit département code and labels (sorted)."""
        labels = tuple(sorted({departement_of(c) for c in self.communes}))
        of_commune = np.array([labels.index(departement_of(c)) for c in self.communes], dtype=np.int64)
        return (of_commune[self.commune] if len(self.commune) else np.zeros(0, np.int64)), labels

    def cell_index(self) -> tuple[IntArray, int]:
        """Segment cell of each unit (units differing only by month/date share a cell), sorted by labels."""
        key = self.commune.astype(np.int64)
        for arr, size in (
            (self.typology, len(TYPOLOGIES)),
            (self.qpv.astype(np.int64), 2),
            (self.financing, len(FINANCINGS)),
            (self.period, len(PERIODS)),
            (self.programme + 1, len(self.programmes) + 1),
        ):
            key = key * size + np.asarray(arr, dtype=np.int64)
        uniq, inverse = np.unique(key, return_inverse=True)
        return inverse.astype(np.int64), len(uniq)

    def select(self, index: npt.ArrayLike) -> Units:
        """The units at `index` (boolean mask or positions)."""
        idx = np.asarray(index)
        return Units(
            communes=self.communes,
            programmes=self.programmes,
            commune=self.commune[idx],
            typology=self.typology[idx],
            qpv=self.qpv[idx],
            financing=self.financing[idx],
            period=self.period[idx],
            programme=self.programme[idx],
            month=self.month[idx],
            base=self.base[idx],
            realised=self.realised[idx],
            date=self.date[idx],
        )

    @staticmethod
    def concat(parts: Sequence[Units]) -> Units:
        """Realised and forecast units together (same scenario: same label spaces)."""
        first = parts[0]
        for p in parts[1:]:
            if p.communes != first.communes or p.programmes != first.programmes:
                raise ValueError("units of different scenarios cannot be concatenated")
        return Units(
            communes=first.communes,
            programmes=first.programmes,
            **{
                name: np.concatenate([getattr(p, name) for p in parts])
                for name in (
                    "commune",
                    "typology",
                    "qpv",
                    "financing",
                    "period",
                    "programme",
                    "month",
                    "base",
                    "realised",
                    "date",
                )
            },
        )


def units_from_forecast(forecast: FluxForecast) -> Units:
    """One unit per cell × month with a whole forecast count > 0, in (cell, month) order."""
    cells = forecast.cells
    ci, mi = np.nonzero(forecast.counts > 0)
    n = len(ci)
    return Units(
        communes=cells.communes,
        programmes=cells.programmes,
        commune=cells.commune[ci],
        typology=cells.typology[ci],
        qpv=cells.qpv[ci],
        financing=cells.financing[ci],
        period=cells.period[ci],
        programme=cells.programme[ci],
        month=(mi + 1).astype(np.int64),
        base=forecast.counts[ci, mi].astype(np.int64),
        realised=np.zeros(n, dtype=bool),
        date=np.full(n, np.datetime64("NaT"), dtype="datetime64[D]"),
    )


def units_from_vacancies(
    scenario: Scenario, *, until: dt.date | None = None, positions: npt.ArrayLike | None = None
) -> tuple[Units, IntArray]:
    """Actual flux vacancies (not excluded, stock in the flux, in the year, dated ≤ `until`) as units.

    Returns the units (one dwelling each, ordered by date then dwelling id) and, for each unit, its
    position in `scenario.vacancies` so that callers can attach designations.
    """
    stock = scenario.stock
    vac = scenario.vacancies
    idx = np.arange(len(vac)) if positions is None else np.asarray(positions, dtype=np.int64)
    dwelling = vac.dwelling[idx]
    dates = vac.date[idx]
    year = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    keep = (vac.exclusion[idx] == -1) & (stock.out_of_flux[dwelling] == -1) & (year == scenario.year)
    if until is not None:
        keep &= dates <= np.datetime64(until, "D")
    idx, dwelling, dates = idx[keep], dwelling[keep], dates[keep]
    ids = np.asarray([stock.dwelling_id[d] for d in dwelling], dtype=str)
    order = np.lexsort((ids, dates)) if len(idx) else np.zeros(0, np.int64)
    idx, dwelling, dates = idx[order], dwelling[order], dates[order]
    communes = tuple(sorted(set(stock.communes)))
    c_rank = np.array([communes.index(c) for c in stock.communes], dtype=np.int64)
    named = scoped_programmes(scenario)
    p_rank = np.array([named.index(p) if p in named else -1 for p in stock.programmes], dtype=np.int64)
    n = len(idx)
    units = Units(
        communes=communes,
        programmes=named,
        commune=c_rank[stock.commune[dwelling]] if n else np.zeros(0, np.int64),
        typology=stock.typology[dwelling].astype(np.int64),
        qpv=stock.qpv[dwelling].astype(bool),
        financing=stock.financing[dwelling].astype(np.int64),
        period=stock.period[dwelling].astype(np.int64),
        programme=p_rank[stock.programme[dwelling]] if n else np.zeros(0, np.int64),
        month=(dates.astype("datetime64[M]").astype(np.int64) % 12 + 1).astype(np.int64),
        base=np.ones(n, dtype=np.int64),
        realised=np.ones(n, dtype=bool),
        date=dates.astype("datetime64[D]"),
    )
    return units, idx.astype(np.int64)


# --------------------------------------------------------------------------------------------- shares


def columns_of(scenario: Scenario) -> tuple[str, ...]:
    """Convention ids sorted, then BAILLEUR: the column order of every counts matrix."""
    return (*sorted(c.id for c in scenario.conventions), BAILLEUR)


def in_scope(convention: Convention, units: Units) -> BoolArray:
    """Units inside a convention's territorial scope."""
    scope = convention.scope
    if scope.kind == "departement":
        ok = np.array([departement_of(c) == scope.departement for c in units.communes], dtype=bool)
        return ok[units.commune] if len(units) else np.zeros(0, bool)
    if scope.kind == "communes":
        ok = np.array([c in scope.communes for c in units.communes], dtype=bool)
        return ok[units.commune] if len(units) else np.zeros(0, bool)
    okp = np.array([p in scope.programmes for p in units.programmes] + [False], dtype=bool)
    return okp[units.programme]  # -1 → the trailing False


def active_fraction(convention: Convention, year: int) -> FloatArray:
    """Per month (index 0–11), the fraction of its days the convention is in force."""
    out = np.zeros(MONTHS)
    for m in range(1, MONTHS + 1):
        days = calendar.monthrange(year, m)[1]
        first, last = dt.date(year, m, 1), dt.date(year, m, days)
        lo = max(first, convention.start) if convention.start else first
        hi = min(last, convention.end) if convention.end else last
        out[m - 1] = max(0, (hi - lo).days + 1) / days
    return out


def share_matrix(scenario: Scenario, units: Units, columns: Sequence[str] | None = None) -> FloatArray:
    """Fraction of each unit owed to each column (`columns_of` order); the landlord gets the rest.

    Raises `InfeasibleError` when the conventions covering some unit add up to more than 100 %.
    """
    cols = tuple(columns) if columns is not None else columns_of(scenario)
    by_id = {c.id: c for c in scenario.conventions}
    shares = np.zeros((len(units), len(cols)))
    realised_day = units.realised & ~np.isnat(units.date)
    for j, cid in enumerate(cols):
        if cid == BAILLEUR:
            continue
        conv = by_id[cid]
        frac = active_fraction(conv, scenario.year)[units.month - 1]
        if realised_day.any():
            days = units.date[realised_day].astype("datetime64[D]").astype(object)
            frac = frac.copy()
            frac[realised_day] = [1.0 if conv.active_on(d) else 0.0 for d in days]
        shares[:, j] = np.where(in_scope(conv, units), conv.share / 100.0 * frac, 0.0)
    if BAILLEUR in cols:
        j = cols.index(BAILLEUR)
        reserved = shares.sum(axis=1)
        over = reserved > 1.0 + 1e-9
        if over.any():
            u = int(np.flatnonzero(over)[0])
            commune = units.communes[int(units.commune[u])]
            names = [f"{cid} ({by_id[cid].share:g} %)" for k, cid in enumerate(cols) if shares[u, k] > 0]
            raise InfeasibleError(
                f"Objectifs impossibles : dans la commune {commune} ({MONTH_NAMES[int(units.month[u]) - 1]}), "
                f"les conventions {', '.join(names)} réservent ensemble {reserved[u] * 100:g} % du flux, "
                "plus que les logements libérés. Réduisez les parts ou corrigez les portées."
            )
        shares[:, j] = np.clip(1.0 - reserved, 0.0, 1.0)
    return shares


# ----------------------------------------------------------------------------------------------- rows


def rounding_floor(target: float, sense: Sense = Sense.EQ) -> float:
    """Smallest deviation any whole count can reach: dist(target, ℤ) for a two-sided row, else 0."""
    if sense is not Sense.EQ:
        return 0.0
    frac = target - math.floor(target)
    return min(frac, 1.0 - frac)


def deviation(count: npt.ArrayLike, target: npt.ArrayLike, sense: npt.ArrayLike) -> FloatArray:
    """Deviation in dwellings of counts from targets, per row sense (vectorised)."""
    c = np.asarray(count, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    s = np.asarray(sense)
    dev = np.abs(c - t)
    dev = np.where(s == Sense.GE.value, np.maximum(0.0, t - c), dev)
    dev = np.where(s == Sense.LE.value, np.maximum(0.0, c - t), dev)
    return np.where(dev < 1e-9, 0.0, dev)


@dataclass(frozen=True)
class Row:
    """One promise: who (`convention`, `columns`), over which units, what target, in which sense."""

    index: int
    kind: RowKind
    convention: str  # convention id, BAILLEUR, or the préfet's réservataire id for legal rows
    reservataire: str
    dimension: str  # "" for totals; a Dimension value, "mois", or the legal rule's subject
    value: str  # dimension value label; "2026-03" for pacing; commune/département for legal rows
    sense: Sense
    hard: bool
    base: int  # dwellings of the flux base in the row's units
    target: float
    rule: str = ""  # legal rule id (prefet_uniforme, prefet_hors_qpv, fonctionnaires) or wish text

    @property
    def floor(self) -> float:
        """Rounding floor: no whole count gets closer to the target."""
        return rounding_floor(self.target, self.sense)

    def admissible(self) -> tuple[int, int]:
        """Whole counts a hard row accepts: [⌊t⌋, ⌈t⌉] for `=`, [⌈t⌉, ∞) for `>=`, [0, ⌊t⌋] for `<=`."""
        lo = math.floor(self.target + EPS)
        hi = math.ceil(self.target - EPS)
        if self.sense is Sense.EQ:
            return min(lo, hi), max(lo, hi)
        if self.sense is Sense.GE:
            return hi, 10**12
        return 0, lo


@dataclass(frozen=True)
class Family:
    """Rows sharing columns and a partition of units: counted together with one bincount.

    Row ``rows[g]`` counts the units whose ``group`` is g (or ≤ g when `cumulative`) over `columns`;
    a unit with group −1 is in none of the family's rows; ``rows[g] == −1`` means group g has no row.
    """

    columns: IntArray
    group: IntArray
    n_groups: int
    rows: IntArray
    cumulative: bool = False

    def counts(self, counts: npt.NDArray[np.integer] | npt.NDArray[np.floating]) -> FloatArray:
        inside = self.group >= 0
        weights = counts[np.ix_(inside, self.columns)].sum(axis=1).astype(np.float64)
        per_group = np.bincount(self.group[inside], weights=weights, minlength=self.n_groups)
        out = np.cumsum(per_group) if self.cumulative else per_group
        return np.asarray(out, dtype=np.float64)

    def units_of(self, g: int) -> IntArray:
        """Units counted by group g's row."""
        return (
            np.flatnonzero((self.group >= 0) & (self.group <= g))
            if self.cumulative
            else np.flatnonzero(self.group == g)
        )


@dataclass(frozen=True)
class Evaluation:
    """Per-row count and deviation (aligned with `RowSet.rows`)."""

    count: FloatArray
    deviation: FloatArray

    def total(self, rowset: RowSet, kind: RowKind | None = None) -> float:
        mask = rowset.mask(kind)
        return float(self.deviation[mask].sum())

    def worst(self, rowset: RowSet, kind: RowKind | None = None) -> float:
        mask = rowset.mask(kind)
        return float(self.deviation[mask].max()) if mask.any() else 0.0


@dataclass(frozen=True)
class RowSet:
    """Every row of a scenario over some units, with the shares they were computed from."""

    columns: tuple[str, ...]
    units: Units
    shares: FloatArray  # [units, columns]
    rows: tuple[Row, ...]
    families: tuple[Family, ...]
    row_family: IntArray  # family of each row
    row_group: IntArray  # group of each row inside its family
    year: int
    _targets: FloatArray = field(repr=False, default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        object.__setattr__(self, "_targets", np.array([r.target for r in self.rows], dtype=np.float64))

    @property
    def targets(self) -> FloatArray:
        return self._targets

    @property
    def senses(self) -> npt.NDArray[np.str_]:
        return np.array([r.sense.value for r in self.rows])

    @property
    def floors(self) -> FloatArray:
        return np.array([r.floor for r in self.rows], dtype=np.float64)

    def mask(self, kind: RowKind | None = None) -> BoolArray:
        if kind is None:
            return np.ones(len(self.rows), dtype=bool)
        return np.array([r.kind is kind for r in self.rows], dtype=bool)

    def eligible(self) -> BoolArray:
        """[units, columns]: may this column receive this unit's dwellings? (landlord: always)."""
        ok = self.shares > 0
        if BAILLEUR in self.columns:
            ok[:, self.columns.index(BAILLEUR)] = True
        return ok

    def members(self, row: Row) -> tuple[IntArray, IntArray]:
        """(units, columns) a row counts."""
        fam = self.families[int(self.row_family[row.index])]
        return fam.units_of(int(self.row_group[row.index])), fam.columns

    @cached_property
    def incidence(self) -> tuple[IntArray, IntArray]:
        """Every (unit, column) pair a row counts, as (``unit × n_columns + column``, row) arrays — a
        cumulative (pacing) row listed with every unit of its months. Built once per row set: `counts` of a
        whole-number matrix is then one bincount (≈ 5× faster than family by family on Cap Habitat, which
        matters to the polish and the repair, that count the rows many times)."""
        n_cols = len(self.columns)
        keys: list[IntArray] = []
        rows: list[IntArray] = []
        for fam in self.families:
            inside = np.flatnonzero(fam.group >= 0)
            if not len(inside):
                continue
            g = fam.group[inside]
            if fam.cumulative:
                for g2 in range(fam.n_groups):
                    r2 = int(fam.rows[g2])
                    if r2 < 0:
                        continue
                    us = inside[g <= g2]
                    k = (us[:, None] * n_cols + fam.columns[None, :]).ravel()
                    keys.append(k)
                    rows.append(np.full(len(k), r2, dtype=np.int64))
            else:
                r = fam.rows[g]
                ok = r >= 0
                us, r = inside[ok], r[ok]
                keys.append((us[:, None] * n_cols + fam.columns[None, :]).ravel())
                rows.append(np.repeat(r, len(fam.columns)).astype(np.int64))
        key = np.concatenate(keys).astype(np.int64) if keys else np.zeros(0, np.int64)
        row = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        return key, row

    def counts(self, counts: npt.NDArray[np.integer] | npt.NDArray[np.floating]) -> FloatArray:
        """Every row's count for a counts matrix [units, columns]."""
        c = np.asarray(counts)
        if np.issubdtype(c.dtype, np.integer) and c.shape == (len(self.units), len(self.columns)):
            # whole numbers: the sums are exact in any order, so one bincount gives the very same counts
            key, row = self.incidence
            weights = c.reshape(-1)[key].astype(np.float64)
            return np.bincount(row, weights=weights, minlength=len(self.rows)).astype(np.float64)
        out = np.zeros(len(self.rows))
        for fam in self.families:
            per = fam.counts(c)
            has = fam.rows >= 0
            out[fam.rows[has]] = per[has]
        return out

    def evaluate(self, counts: npt.NDArray[np.integer]) -> Evaluation:
        """Counts and deviations of every row (`counts` is [units, columns], rows summing to `units.base`)."""
        c = np.asarray(counts)
        if c.shape != (len(self.units), len(self.columns)):
            raise ValueError(f"counts has shape {c.shape}, expected {(len(self.units), len(self.columns))}")
        count = self.counts(c)
        return Evaluation(count=count, deviation=deviation(count, self.targets, self.senses))

    def hard_violations(self, evaluation: Evaluation) -> list[Row]:
        """Hard (legal) rows whose count is outside their admissible range."""
        bad = []
        for r in self.rows:
            if r.hard:
                lo, hi = r.admissible()
                c = round(float(evaluation.count[r.index]))
                if c < lo or c > hi:
                    bad.append(r)
        return bad


class _Builder:
    def __init__(
        self, scenario: Scenario, units: Units, shares: FloatArray, columns: tuple[str, ...]
    ) -> None:
        self.scenario = scenario
        self.units = units
        self.shares = shares
        self.columns = columns
        self.rows: list[Row] = []
        self.families: list[Family] = []
        self.row_family: list[int] = []
        self.row_group: list[int] = []

    def family(
        self,
        columns: Sequence[int],
        group: IntArray,
        n_groups: int,
        make_row: Iterable[tuple[int, dict[str, object]]],
        *,
        cumulative: bool = False,
    ) -> None:
        """Register a family; `make_row` yields (group, Row fields without index)."""
        fam_index = len(self.families)
        row_of_group = np.full(n_groups, -1, dtype=np.int64)
        for g, fields in make_row:
            idx = len(self.rows)
            self.rows.append(Row(index=idx, **fields))  # type: ignore[arg-type]
            self.row_family.append(fam_index)
            self.row_group.append(g)
            row_of_group[g] = idx
        self.families.append(
            Family(
                columns=np.asarray(columns, dtype=np.int64),
                group=group.astype(np.int64),
                n_groups=n_groups,
                rows=row_of_group,
                cumulative=cumulative,
            )
        )

    def sums(
        self, group: IntArray, n_groups: int, weights: FloatArray, cumulative: bool = False
    ) -> FloatArray:
        inside = group >= 0
        out = np.bincount(group[inside], weights=weights[inside], minlength=n_groups)
        return np.asarray(np.cumsum(out) if cumulative else out, dtype=np.float64)


def build_rows(scenario: Scenario, units: Units, *, pacing: bool = True) -> RowSet:
    """All rows of `scenario` over `units`: totals, representativeness, pacing, legal rules, wishes."""
    columns = columns_of(scenario)
    shares = share_matrix(scenario, units, columns)
    b = _Builder(scenario, units, shares, columns)
    base = units.base.astype(np.float64)
    col_of = {c: j for j, c in enumerate(columns)}
    conventions = sorted(scenario.conventions, key=lambda c: c.id)
    total_target: dict[str, float] = {}

    # totals
    for conv in conventions:
        j = col_of[conv.id]
        eligible = shares[:, j] > 0
        group = np.where(eligible, 0, -1)
        target = float((shares[:, j] * base).sum())
        total_target[conv.id] = target
        b.family(
            [j],
            group,
            1,
            [
                (
                    0,
                    dict(
                        kind=RowKind.TOTAL, convention=conv.id, reservataire=conv.reservataire, dimension="",
                        value="", sense=Sense.EQ, hard=False, base=int(base[eligible].sum()), target=target,
                    ),
                )
            ],
        )  # fmt: skip
    jb = col_of[BAILLEUR]
    b.family(
        [jb],
        np.zeros(len(units), dtype=np.int64),
        1,
        [
            (
                0,
                dict(
                    kind=RowKind.TOTAL, convention=BAILLEUR, reservataire=BAILLEUR, dimension="", value="",
                    sense=Sense.EQ, hard=False, base=int(base.sum()), target=float((shares[:, jb] * base).sum()),
                ),
            )
        ],
    )  # fmt: skip

    # representativeness
    for conv in conventions:
        j = col_of[conv.id]
        eligible = shares[:, j] > 0
        weights = shares[:, j] * base
        for dim in sorted(set(conv.balance), key=lambda d: list(Dimension).index(d)):
            codes, labels = units.codes(dim)
            if dim is Dimension.COMMUNE and len(np.unique(codes[eligible])) <= 1:
                continue  # a single-commune scope: the commune row is the total
            group = np.where(eligible, codes, -1)
            n = len(labels)
            tgt = b.sums(group, n, weights)
            bas = b.sums(group, n, base)
            b.family(
                [j],
                group,
                n,
                [
                    (
                        g,
                        dict(
                            kind=RowKind.REPRESENTATIVENESS, convention=conv.id, reservataire=conv.reservataire,
                            dimension=dim.value, value=labels[g], sense=Sense.EQ, hard=False,
                            base=round(bas[g]), target=float(tgt[g]),
                        ),
                    )
                    for g in range(n)
                    if bas[g] > 0
                ],
            )  # fmt: skip

    # pacing: cumulative count at the end of each month but the last month of the units
    if pacing and len(units):
        last = int(units.month.max())
        for conv in conventions:
            j = col_of[conv.id]
            eligible = shares[:, j] > 0
            if not eligible.any():
                continue
            group = np.where(eligible, units.month - 1, -1)
            tgt = b.sums(group, MONTHS, shares[:, j] * base, cumulative=True)
            bas = b.sums(group, MONTHS, base, cumulative=True)
            first = int(units.month[eligible].min())
            b.family(
                [j],
                group,
                MONTHS,
                [
                    (
                        m - 1,
                        dict(
                            kind=RowKind.PACING, convention=conv.id, reservataire=conv.reservataire,
                            dimension="mois", value=f"{scenario.year}-{m:02d}", sense=Sense.EQ, hard=False,
                            base=round(bas[m - 1]), target=float(tgt[m - 1]),
                        ),
                    )
                    for m in range(first, last)
                    if bas[m - 1] > 0
                ],
                cumulative=True,
            )  # fmt: skip

    _legal_rows(b, scenario, conventions, base)
    _wish_rows(b, conventions, total_target, base)
    return RowSet(
        columns=columns,
        units=units,
        shares=shares,
        rows=tuple(b.rows),
        families=tuple(b.families),
        row_family=np.asarray(b.row_family, dtype=np.int64),
        row_group=np.asarray(b.row_group, dtype=np.int64),
        year=scenario.year,
    )


def _legal_rows(b: _Builder, scenario: Scenario, conventions: Sequence[Convention], base: FloatArray) -> None:
    units, shares, columns = b.units, b.shares, b.columns
    legal = scenario.config.legal
    kinds = {r.id: r.kind for r in scenario.reservataires}
    prefets = sorted(
        {c.reservataire for c in conventions if kinds.get(c.reservataire) is ReservataireKind.STATE}
    )
    dep_code, dep_labels = units.departements()
    for pref in prefets:
        cols = [columns.index(c.id) for c in conventions if c.reservataire == pref]
        pshare = shares[:, cols].sum(axis=1)
        eligible = pshare > 0
        if legal.prefet_uniform_per_commune:
            group = np.where(eligible, units.commune, -1)
            n = len(units.communes)
            tgt = b.sums(group, n, pshare * base)
            bas = b.sums(group, n, base)
            b.family(
                cols,
                group,
                n,
                [
                    (
                        g,
                        dict(
                            kind=RowKind.LEGAL, convention=pref, reservataire=pref, dimension="commune",
                            value=units.communes[g], sense=Sense.EQ, hard=True, base=round(bas[g]),
                            target=float(tgt[g]), rule="prefet_uniforme",
                        ),
                    )
                    for g in range(n)
                    if bas[g] > 0
                ],
            )  # fmt: skip
        if legal.prefet_min_outside_qpv is not None:
            rate = legal.prefet_min_outside_qpv / 100.0
            outside = eligible & ~units.qpv
            if legal.prefet_uniform_per_commune:
                codes, labels, dim = units.commune, units.communes, "commune"
            else:
                codes, labels, dim = dep_code, dep_labels, "departement"
            group = np.where(outside, codes, -1)
            n = len(labels)
            bas = b.sums(group, n, base)
            b.family(
                cols,
                group,
                n,
                [
                    (
                        g,
                        dict(
                            kind=RowKind.LEGAL, convention=pref, reservataire=pref, dimension=dim,
                            value=f"{labels[g]} hors QPV", sense=Sense.GE, hard=True, base=round(bas[g]),
                            target=float(rate * bas[g]), rule="prefet_hors_qpv",
                        ),
                    )
                    for g in range(n)
                    if bas[g] > 0
                ],
            )  # fmt: skip
        fonc = [
            columns.index(c.id)
            for c in conventions
            if c.reservataire == pref and b.scenario.contingent_of(c) is Contingent.STATE_EMPLOYEES
        ]
        if fonc:
            f_eligible = shares[:, fonc].sum(axis=1) > 0
            group = np.where(f_eligible, dep_code, -1)
            n = len(dep_labels)
            bas = b.sums(group, n, base)
            b.family(
                fonc,
                group,
                n,
                [
                    (
                        g,
                        dict(
                            kind=RowKind.LEGAL, convention=pref, reservataire=pref, dimension="departement",
                            value=dep_labels[g], sense=Sense.LE, hard=True, base=round(bas[g]),
                            target=float(STATE_EMPLOYEE_MAX * bas[g]), rule="fonctionnaires",
                        ),
                    )
                    for g in range(n)
                    if bas[g] > 0
                ],
            )  # fmt: skip


def _wish_rows(
    b: _Builder, conventions: Sequence[Convention], total_target: dict[str, float], base: FloatArray
) -> None:
    units, shares, columns = b.units, b.shares, b.columns
    for conv in conventions:
        j = columns.index(conv.id)
        eligible = shares[:, j] > 0
        for w, wish in enumerate(conv.wishes):
            codes, labels = units.codes(wish.dimension)
            unknown = [v for v in wish.values if v not in labels]
            if unknown and wish.dimension is not Dimension.COMMUNE:
                raise InputError(
                    f"Souhait de la convention {conv.id} : valeur(s) inconnue(s) {', '.join(unknown)} pour "
                    f"« {wish.dimension.value} » (valeurs possibles : {', '.join(labels)})."
                )
            wanted = np.array([lab in wish.values for lab in labels] + [False], dtype=bool)
            inside = eligible & wanted[codes]
            group = np.where(inside, 0, -1)
            text = f"{'/'.join(wish.values)}"
            bas = int(base[inside].sum())
            rows: list[tuple[int, dict[str, object]]] = []
            for sense, pct in ((Sense.GE, wish.min_share), (Sense.LE, wish.max_share)):
                if pct is None:
                    continue
                rows.append(
                    (
                        0,
                        dict(
                            kind=RowKind.WISH, convention=conv.id, reservataire=conv.reservataire,
                            dimension=wish.dimension.value, value=text, sense=sense, hard=False, base=bas,
                            target=float(pct / 100.0 * total_target[conv.id]),
                            rule=f"souhait {w + 1} : {'au moins' if sense is Sense.GE else 'au plus'} {pct:g} %",
                        ),
                    )
                )  # fmt: skip
            for row in rows:  # one family per row: both rows share the same group 0
                b.family([j], group, 1, [row])
