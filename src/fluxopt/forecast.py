"""Forecast of the flux base: expected vacancies per segment cell and month, fractional then whole.

Expected vacancies of a dwelling in the flux (``hors_flux`` stock never enters, domain.md §2):

- a dwelling whose first letting (*mise en service*) falls in the year: exactly one vacancy, in that month,
  not subject to turnover; a dwelling first let after the year has none;
- any other dwelling: its yearly turnover — the dwelling's observed ``rotation``, else its programme's
  (``rotation.csv``), else the scenario's ``turnover_rate`` — times `turnover_multiplier`, spread over the
  months by the normalised seasonality.

Forecast exclusions (*mutations internes*, ANRU, ORCOD, habitat indigne, ventes) are yearly totals: they
are spread proportionally over every expected vacancy (each cell × month keeps ``1 − E/G`` of its gross
expectation, G = the year's gross expected vacancies). With a start date (`as_of`, the re-planning
date) only the days after it are covered: the month of `as_of` keeps the fraction of its days still to
come, earlier months are empty.

Cells are the segments the rows need: commune × typology × QPV × financing × construction period, and the
programme only for programmes that a convention's scope names (others share the programme code -1).

**Whole dwellings.** Plans designate whole dwellings, so the fractional table is rounded by *controlled
rounding* on two small networks (min-cost flow, see `fluxopt.model.flow`):
1. the commune × typology table is rounded so that every entry, every commune total, every typology total
   and the grand total are each the floor or the ceiling of their fractional value (a two-way table can
   always be rounded this way);
2. within those commune × typology totals, every cell × month entry, every cell's year total and every
   month total is rounded to floor or ceiling too (when the constraints of step 1 make that impossible the
   flow takes the nearest integral table instead of failing; in practice it never happens).
Among the admissible roundings the flow takes the one closest to the fractional table (sum of
``|count − expected|``). The result is deterministic and does not depend on the stock's row order (the
dwellings are summed in dwelling-id order).
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fluxopt.domain import Scenario
from fluxopt.domain.tables import FINANCINGS, PERIODS, TYPOLOGIES, SegmentLabels
from fluxopt.errors import ExclusionsError, InputError

__all__ = ["Cells", "FluxForecast", "forecast_flux", "scoped_programmes"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
MONTHS = 12


@dataclass(frozen=True)
class Cells(SegmentLabels):
    """Segment cells (one per distinct combination), sorted by labels: independent of input order."""

    communes: tuple[str, ...]  # sorted INSEE codes
    programmes: tuple[str, ...]  # sorted codes of the programmes a scope names
    commune: IntArray  # code into `communes`
    typology: IntArray  # code into TYPOLOGIES
    qpv: npt.NDArray[np.bool_]
    financing: IntArray  # code into FINANCINGS
    period: IntArray  # code into PERIODS
    programme: IntArray  # code into `programmes`, -1 for a programme no scope names

    def __len__(self) -> int:
        return len(self.commune)


@dataclass(frozen=True)
class FluxForecast:
    """Expected flux vacancies of the year (or of the rest of it after `as_of`), per cell × month."""

    year: int
    as_of: dt.date | None  # None: the whole year
    turnover_multiplier: float
    cells: Cells
    expected: FloatArray  # [cells, 12] fractional, net of exclusions
    counts: IntArray  # [cells, 12] whole dwellings (controlled rounding of `expected`)
    gross_year: float  # expected vacancies of the whole year, before exclusions
    exclusions: dict[str, float]  # forecast exclusions applied to the covered period, per category

    @property
    def total_expected(self) -> float:
        return float(self.expected.sum())

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def months(self) -> tuple[int, ...]:
        """Months (1–12) the forecast covers."""
        first = 1 if self.as_of is None else self.as_of.month
        return tuple(range(first, MONTHS + 1))


def scoped_programmes(scenario: Scenario) -> tuple[str, ...]:
    """Programmes named by some convention's scope: the only ones cells keep apart."""
    named = {p for c in scenario.conventions if c.scope.kind == "programmes" for p in c.scope.programmes}
    return tuple(sorted(named))


def month_coverage(year: int, as_of: dt.date | None) -> FloatArray:
    """Fraction of each month covered by a forecast that starts the day after `as_of`."""
    cover = np.ones(MONTHS)
    if as_of is None:
        return cover
    if as_of.year < year:
        return cover
    if as_of.year > year:
        return np.zeros(MONTHS)
    for m in range(1, MONTHS + 1):
        days = calendar.monthrange(year, m)[1]
        if m < as_of.month:
            cover[m - 1] = 0.0
        elif m == as_of.month:
            cover[m - 1] = (days - as_of.day) / days
    return cover


@dataclass(frozen=True)
class _Turnover:
    """Each dwelling's expected vacancies of the year, in canonical dwelling order (sorted ids: sums do not
    depend on the stock file's row order)."""

    order: IntArray  # stock rows in canonical order
    rate: FloatArray  # expected re-lettings of the year (0 for dwellings out of the flux or not yet let)
    new_this_year: npt.NDArray[np.bool_]  # first letting in the year (one vacancy each)
    first: npt.NDArray[np.datetime64]  # first-letting date (NaT when none)
    turning: npt.NDArray[np.bool_]  # let before the year and in the flux

    @property
    def gross_year(self) -> float:
        """Expected vacancies of the whole year, before exclusions."""
        return float(self.rate.sum() + self.new_this_year.sum())


def _turnover(scenario: Scenario, turnover_multiplier: float) -> _Turnover:
    if not 0 < turnover_multiplier <= 5:
        raise InputError(
            f"Le multiplicateur de rotation doit être positif et raisonnable (reçu : {turnover_multiplier})."
        )
    stock = scenario.stock
    year = scenario.year
    fc = scenario.config.forecast
    order = np.argsort(np.asarray(stock.dwelling_id, dtype=str), kind="stable")
    in_flux = stock.out_of_flux[order] == -1
    prog_codes = stock.programme[order]
    first = stock.first_letting[order]
    has_first = ~np.isnat(first)
    first_year = np.where(has_first, first.astype("datetime64[Y]").astype(np.int64) + 1970, 0)
    new_this_year = in_flux & has_first & (first_year == year)
    not_yet = has_first & (first_year > year)
    turning = in_flux & ~new_this_year & ~not_yet

    # turnover: dwelling's, else programme's, else the scenario's
    prog_rate = np.array(
        [scenario.programme_turnover.get(p, np.nan) for p in stock.programmes], dtype=np.float64
    )
    rate = stock.turnover[order].astype(np.float64)
    rate = np.where(np.isnan(rate), prog_rate[prog_codes] if len(prog_rate) else np.nan, rate)
    rate = np.where(np.isnan(rate), fc.turnover_rate, rate)
    rate = np.where(turning, rate * turnover_multiplier, 0.0)
    return _Turnover(order, rate, new_this_year, first, turning)


def check_exclusions(scenario: Scenario) -> None:
    """Raise `ExclusionsError` when the forecast exclusions leave no flux base (what `forecast_flux` would
    refuse), without building the forecast: validation needs only the year's expected vacancies."""
    _refuse_empty_base(scenario, _turnover(scenario, 1.0).gross_year)


def _refuse_empty_base(scenario: Scenario, gross_year: float) -> None:
    excl_total = float(sum(scenario.config.forecast.exclusions.values()))
    if excl_total > 0 and excl_total >= gross_year:
        raise ExclusionsError(
            f"Les exclusions prévues ({f'{excl_total:g}'.replace('.', ',')} logements) atteignent ou dépassent les "
            f"libérations attendues sur l'année ({f'{gross_year:.1f}'.replace('.', ',')}) : la base du flux serait "
            "vide. Vérifiez [forecast.exclusions] "
            "et le taux de rotation."
        )


def forecast_flux(
    scenario: Scenario, *, as_of: dt.date | None = None, turnover_multiplier: float = 1.0
) -> FluxForecast:
    """Expected flux vacancies of `scenario`'s year after `as_of` (whole year when None).

    `turnover_multiplier` scales every turnover rate (e.g. 0.8 or 1.2 for a ±20 % sensitivity); first
    lettings are not scaled.
    """
    stock = scenario.stock
    year = scenario.year
    fc = scenario.config.forecast
    turnover = _turnover(scenario, turnover_multiplier)
    gross_year = turnover.gross_year
    _refuse_empty_base(scenario, gross_year)
    order, rate, new_this_year, first = turnover.order, turnover.rate, turnover.new_this_year, turnover.first
    prog_codes = stock.programme[order]

    weights = np.asarray(fc.monthly_weights())
    cover = month_coverage(year, as_of)
    first_month = np.where(new_this_year, first.astype("datetime64[M]").astype(np.int64) % 12, -1)
    first_day_ok = np.ones(len(order), dtype=bool)
    if as_of is not None:
        first_day_ok = first > np.datetime64(as_of, "D")

    # segment cells, sorted by labels
    named = scoped_programmes(scenario)
    named_index = {p: i for i, p in enumerate(named)}
    communes = tuple(sorted(set(stock.communes)))
    commune_rank = np.array([communes.index(c) for c in stock.communes], dtype=np.int64)
    prog_rank = np.array([named_index.get(p, -1) for p in stock.programmes], dtype=np.int64)
    contributes = turnover.turning | (new_this_year & first_day_ok)
    sel = np.flatnonzero(contributes)
    c_code = commune_rank[stock.commune[order][sel]] if len(sel) else np.zeros(0, np.int64)
    p_code = prog_rank[prog_codes[sel]] + 1 if len(sel) else np.zeros(0, np.int64)
    key = c_code
    for arr, size in (
        (stock.typology[order][sel], len(TYPOLOGIES)),
        (stock.qpv[order][sel].astype(np.int64), 2),
        (stock.financing[order][sel], len(FINANCINGS)),
        (stock.period[order][sel], len(PERIODS)),
        (p_code, len(named) + 1),
    ):
        key = key * size + np.asarray(arr, dtype=np.int64)
    uniq, inverse = np.unique(key, return_inverse=True)
    n_cells = len(uniq)
    rest = uniq.copy()
    parts = []
    for size in (len(named) + 1, len(PERIODS), len(FINANCINGS), 2, len(TYPOLOGIES)):
        parts.append(rest % size)
        rest = rest // size
    prog_c, period_c, fin_c, qpv_c, typ_c = parts
    cells = Cells(
        communes=communes,
        programmes=named,
        commune=rest.astype(np.int64),
        typology=typ_c.astype(np.int64),
        qpv=qpv_c.astype(bool),
        financing=fin_c.astype(np.int64),
        period=period_c.astype(np.int64),
        programme=(prog_c - 1).astype(np.int64),
    )

    gross = np.zeros((n_cells, MONTHS))
    sel_rate = rate[sel]
    for m in range(MONTHS):
        if cover[m] > 0:
            gross[:, m] = np.bincount(inverse, weights=sel_rate * weights[m] * cover[m], minlength=n_cells)
    sel_first = first_month[sel]
    firsts = (sel_first >= 0) & first_day_ok[sel]
    if firsts.any():
        np.add.at(gross, (inverse[firsts], sel_first[firsts]), 1.0)

    excl_total = float(sum(fc.exclusions.values()))
    keep = 1.0 - excl_total / gross_year if gross_year > 0 else 1.0
    expected = gross * keep
    covered_share = float(gross.sum()) / gross_year if gross_year > 0 else 0.0
    exclusions = {str(k.value): float(v) * covered_share for k, v in sorted(fc.exclusions.items())}
    counts = controlled_rounding(expected, cells.commune, cells.typology, len(communes), len(TYPOLOGIES))
    for a in (expected, counts):
        a.setflags(write=False)
    return FluxForecast(
        year=year,
        as_of=as_of,
        turnover_multiplier=turnover_multiplier,
        cells=cells,
        expected=expected,
        counts=counts,
        gross_year=gross_year,
        exclusions=exclusions,
    )


def controlled_rounding(
    expected: FloatArray, commune: IntArray, typology: IntArray, n_communes: int, n_typologies: int
) -> IntArray:
    """Round a cell × month table keeping commune, typology, month, cell and grand totals at floor/ceil.

    Two min-cost flows (module docstring); the grand total is rounded half up.
    """
    from fluxopt.model.flow import SoftFlow

    n_cells, n_months = expected.shape
    counts = np.zeros((n_cells, n_months), dtype=np.int64)
    grand = float(expected.sum())
    total = int(np.floor(grand + 0.5 + 1e-9))
    if n_cells == 0 or total == 0:
        return counts
    # step 1: commune × typology
    ct = np.zeros((n_communes, n_typologies))
    np.add.at(ct, (commune, typology), expected.sum(axis=1))
    net = SoftFlow()
    source, sink = net.nodes(2)
    c_nodes = net.nodes(n_communes)
    t_nodes = net.nodes(n_typologies)
    net.soft_edges(np.full(n_communes, source), c_nodes, ct.sum(axis=1))
    ci, ti = np.nonzero(ct > 0)
    ct_edges = net.soft_edges(c_nodes[ci], t_nodes[ti], ct[ci, ti])
    net.soft_edges(t_nodes, np.full(n_typologies, sink), ct.sum(axis=0))
    net.add_supply(int(source), total)
    net.add_supply(int(sink), -total)
    flows = net.solve()
    ct_int = np.zeros((n_communes, n_typologies), dtype=np.int64)
    ct_int[ci, ti] = flows[ct_edges]

    # step 2: cell × month inside the commune × typology totals
    net = SoftFlow()
    sink = int(net.nodes(1)[0])
    group_nodes = net.nodes(n_communes * n_typologies)
    cell_nodes = net.nodes(n_cells)
    month_nodes = net.nodes(n_months)
    group_of_cell = commune * n_typologies + typology
    net.soft_edges(group_nodes[group_of_cell], cell_nodes, expected.sum(axis=1))
    cm_cell, cm_month = np.nonzero(expected > 0)
    cm_edges = net.soft_edges(cell_nodes[cm_cell], month_nodes[cm_month], expected[cm_cell, cm_month])
    net.soft_edges(month_nodes, np.full(n_months, sink), expected.sum(axis=0))
    for g in np.flatnonzero(ct_int.ravel()):
        net.add_supply(int(group_nodes[g]), int(ct_int.ravel()[g]))
    net.add_supply(sink, -total)
    flows = net.solve()
    counts[cm_cell, cm_month] = flows[cm_edges]
    return counts
