"""Year replay (*simulation d'une année*): vacancies and outcomes drawn, a policy designating each week.

The replay is what proves a designation policy: a year of vacancies is drawn from the forecast (seeded per
run), each week the policy designates the dwellings freed that week, outcomes (lease signed, refusal,
carence) are drawn from the scenario's `[simulation]` rates and revealed with realistic delays, and at the
end every row is measured on the realised base — the same rows the planner and the bilan use.

Randomness: one `numpy.random.Generator` per (seed, run, purpose), derived with `SeedSequence`, so that
every run is reproducible alone and the draws of run r do not depend on how many runs come before it, and
the vacancies of a run are the same whichever policy is replayed on them (paired comparison).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from fluxopt.domain import BAILLEUR, Designations, Scenario, Vacancies
from fluxopt.domain.enums import DesignationStatus
from fluxopt.domain.model_spec import Weekly
from fluxopt.domain.scenario import SimulationRates
from fluxopt.errors import InputError
from fluxopt.forecast import FluxForecast

__all__ = [
    "OUTCOME_DELAYS",
    "OutcomeDelays",
    "Outcomes",
    "PolicySummary",
    "RunResult",
    "SimulationReport",
    "SimulationSettings",
    "VacancyDraw",
    "Week",
    "cell_pools",
    "draw_outcomes",
    "draw_vacancies",
    "replay_year",
    "report_dict",
    "report_text",
    "run_rng",
    "simulate",
    "status_on",
    "summarise",
    "weekly_calendar",
]

#: Purposes of the random streams of one run (each gets its own generator).
_PURPOSES = {"vacancies": 1, "outcomes": 2, "policy": 3}


def run_rng(seed: int, run: int, purpose: str) -> np.random.Generator:
    """The generator of one run and one purpose, independent of every other run and purpose."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(run), _PURPOSES[purpose]]))


@dataclass(frozen=True)
class Week:
    """One weekly designation run: the vacancies freed from `first_day` to `last_day` are designated on
    `last_day` (the `--as-of` date of `fluxopt designate`)."""

    index: int
    first_day: dt.date
    last_day: dt.date


def weekly_calendar(year: int) -> tuple[Week, ...]:
    """Monday-to-Sunday weeks of the year, the first and last clipped to 1 January and 31 December."""
    start = dt.date(year, 1, 1)
    end = dt.date(year, 12, 31)
    weeks: list[Week] = []
    first = start
    while first <= end:
        last = min(first + dt.timedelta(days=6 - first.weekday()), end)
        weeks.append(Week(len(weeks), first, last))
        first = last + dt.timedelta(days=1)
    return tuple(weeks)


@dataclass(frozen=True)
class VacancyDraw:
    """One drawn year of vacancies in the flux base, sorted by (date, dwelling)."""

    dwelling: npt.NDArray[np.int32]  # position in the stock
    date: npt.NDArray[np.datetime64]

    def __len__(self) -> int:
        return len(self.dwelling)


def draw_vacancies(
    pools: list[npt.NDArray[np.int32]],
    expected: npt.NDArray[np.float64],
    year: int,
    rng: np.random.Generator,
    turnover_factor: float = 1.0,
    start: dt.date | None = None,
) -> VacancyDraw:
    """Draw a year of vacancies from per-cell monthly expectations.

    `pools[s]` lists the stock positions of cell s (a segment, or a single dwelling); `expected[s, m]` is
    the expected number of vacancies of cell s in month m (0 = January). The count of each cell × month is
    Poisson (× `turnover_factor`), the dwellings are drawn without replacement inside the cell (a dwelling
    is freed at most once a year), the day uniformly inside the month. With `start`, months before it are
    skipped and the days of its month start at `start` (re-planning mid-year).
    """
    if expected.shape != (len(pools), 12):
        raise ValueError(f"expected doit être de forme ({len(pools)}, 12), reçu {expected.shape}")
    if turnover_factor < 0:
        raise ValueError("turnover_factor doit être positif")
    month_start = np.array([np.datetime64(f"{year}-{m:02d}-01") for m in range(1, 13)], dtype="datetime64[D]")
    month_len = (np.append(month_start[1:], np.datetime64(f"{year + 1}-01-01")) - month_start).astype(int)
    first_day = np.zeros(12, int)
    if start is not None:
        first_day = np.where(np.arange(12) + 1 < start.month, month_len, 0)
        first_day[start.month - 1] = start.day - 1
    counts = rng.poisson(np.clip(expected, 0, None) * turnover_factor)
    counts[:, first_day >= month_len] = 0
    dwellings: list[npt.NDArray[np.int32]] = []
    dates: list[npt.NDArray[np.datetime64]] = []
    for s, pool in enumerate(pools):
        n = int(counts[s].sum())
        if n == 0 or len(pool) == 0:
            continue
        n = min(n, len(pool))
        chosen = rng.choice(pool, size=n, replace=False).astype(np.int32)
        months = np.repeat(np.arange(12), counts[s])[:n]
        offsets = first_day[months] + rng.integers(0, month_len[months] - first_day[months])
        dwellings.append(chosen)
        dates.append(month_start[months] + offsets.astype("timedelta64[D]"))
    if not dwellings:
        return VacancyDraw(np.zeros(0, np.int32), np.zeros(0, "datetime64[D]"))
    dwelling = np.concatenate(dwellings)
    date = np.concatenate(dates)
    order = np.lexsort((dwelling, date))
    return VacancyDraw(dwelling[order], date[order])


@dataclass(frozen=True)
class OutcomeDelays:
    """Delays (days) of the life of a designation (domain.md §4)."""

    candidates: int = 21  # mise à disposition: candidates due (15 days to a month)
    after_refusal: int = 10  # new request to the same réservataire, shorter delay
    lease: int = 14  # CALEOL and lease signature after the candidates arrive
    taken_back: int = 21  # the landlord re-lets a dwelling taken back after a carence
    max_refusals: int = 4  # after that many refusals the next request ends in carence


OUTCOME_DELAYS = OutcomeDelays()


@dataclass(frozen=True)
class Outcomes:
    """Drawn fate of n designations: refusals before the end, final status and when things happen.

    `decided` is the number of days after the designation when the final outcome is known (lease signed or
    carence); `lease` the days until the lease is signed (by the réservataire's candidate, or by the
    landlord after a carence).
    """

    refusals: npt.NDArray[np.int16]
    no_candidate: npt.NDArray[np.bool_]
    decided: npt.NDArray[np.int32]
    lease: npt.NDArray[np.int32]

    def __len__(self) -> int:
        return len(self.refusals)


def draw_outcomes(
    n: int, rates: SimulationRates, rng: np.random.Generator, delays: OutcomeDelays = OUTCOME_DELAYS
) -> Outcomes:
    """Each request ends in carence (`no_candidate_rate`), refusal (`refusal_rate`: a new request to the
    same réservataire) or a lease; after `max_refusals` refusals the next request fails for good (carence)."""
    p_none = rates.no_candidate_rate
    p_refuse = rates.refusal_rate
    if p_none + p_refuse > 1:
        raise ValueError("no_candidate_rate + refusal_rate dépasse 1")
    refusals = np.zeros(n, np.int16)
    no_candidate = np.zeros(n, np.bool_)
    open_ = np.ones(n, np.bool_)
    for _ in range(delays.max_refusals + 1):
        u = rng.random(n)
        ended_none = open_ & (u < p_none)
        refused = open_ & (u >= p_none) & (u < p_none + p_refuse)
        no_candidate |= ended_none
        refusals[refused] += 1
        open_ = refused
    no_candidate |= open_  # still refusing after max_refusals: carence
    decided = (delays.candidates + delays.after_refusal * refusals.astype(np.int32)).astype(np.int32)
    lease = (decided + np.where(no_candidate, delays.taken_back, delays.lease)).astype(np.int32)
    return Outcomes(refusals, no_candidate, decided, lease)


def status_on(
    designated: dt.date, outcomes: Outcomes, i: int, day: dt.date, delays: OutcomeDelays = OUTCOME_DELAYS
) -> tuple[DesignationStatus, dt.date | None]:
    """Status of designation i (made on `designated`) as known on `day`, and its lease date once signed."""
    elapsed = (day - designated).days
    if elapsed >= outcomes.decided[i]:
        lease_day = designated + dt.timedelta(days=int(outcomes.lease[i]))
        if outcomes.no_candidate[i]:
            if elapsed >= outcomes.lease[i]:
                return DesignationStatus.TAKEN_BACK, lease_day
            return DesignationStatus.NO_CANDIDATE, None
        if elapsed >= outcomes.lease[i]:
            return DesignationStatus.LEASE_SIGNED, lease_day
        return DesignationStatus.OFFERED, None
    if outcomes.refusals[i] > 0 and elapsed >= delays.candidates:
        return DesignationStatus.REFUSED, None
    return DesignationStatus.OFFERED, None


# ------------------------------------------------------------------------------------------- replay


def cell_pools(scenario: Scenario, forecast: FluxForecast) -> list[npt.NDArray[np.int32]]:
    """Stock positions of the dwellings of each forecast cell (flux stock only, in stock order).

    A dwelling first let after the year has no vacancy to draw and stays out of every pool.
    """
    stock = scenario.stock
    cells = forecast.cells
    commune_code = {c: i for i, c in enumerate(cells.communes)}
    programme_code = {p: i for i, p in enumerate(cells.programmes)}
    key_of_cell = {
        (
            int(cells.commune[i]),
            int(cells.typology[i]),
            bool(cells.qpv[i]),
            int(cells.financing[i]),
            int(cells.period[i]),
            int(cells.programme[i]),
        ): i
        for i in range(len(cells))
    }
    commune = np.array([commune_code[c] for c in stock.communes], dtype=np.int64)[stock.commune]
    programme = np.array([programme_code.get(p, -1) for p in stock.programmes], dtype=np.int64)[
        stock.programme
    ]
    first = stock.first_letting
    later = ~np.isnat(first) & (first > np.datetime64(f"{scenario.year}-12-31"))
    members: list[list[int]] = [[] for _ in range(len(cells))]
    for d in np.flatnonzero((stock.out_of_flux == -1) & ~later).tolist():
        cell = key_of_cell.get(
            (
                int(commune[d]),
                int(stock.typology[d]),
                bool(stock.qpv[d]),
                int(stock.financing[d]),
                int(stock.period[d]),
                int(programme[d]),
            )
        )
        if cell is not None:
            members[cell].append(d)
    return [np.asarray(m, dtype=np.int32) for m in members]


@dataclass(frozen=True)
class SimulationSettings:
    """What `fluxopt simulate` replays: runs, seed, policies, turnover against the forecast."""

    runs: int = 100
    seed: int = 0
    policies: tuple[str, ...] = ("fluxopt", "plus-en-retard", "tour-de-role", "glouton")
    turnover_factor: float = 1.0  # actual turnover / forecast turnover (1.2 = 20 % more departures)
    jobs: int = 1  # worker processes (runs are independent; results do not depend on it)
    delays: OutcomeDelays = OUTCOME_DELAYS
    #: the fluxopt policy's weekly model (the model file's [weekly] section)
    weekly: Weekly = field(default_factory=Weekly)
    trace: bool = False  # keep each dwelling's designation in the results (tests, audits)


@dataclass(frozen=True)
class RunResult:
    """One policy on one simulated year, measured on the realised base (counter: dwellings offered)."""

    run: int
    policy: str
    vacancies: int  # flux base of the year
    conventions: tuple[str, ...]
    year_end: tuple[float, ...]  # count − target per convention at year end (signed, dwellings)
    worst_running: float  # largest |count − running target| of a convention at a week end
    representativeness: dict[str, float]  # Σ |deviation| of representativeness rows per dimension
    floor: dict[str, float]  # rounding floor of the same rows per dimension
    worst_row: float  # largest year-end deviation over total and representativeness rows
    legal_breaches: int  # legal rows outside their admissible range at year end
    no_candidate: int  # carences during the year
    leases: int  # leases signed by 31 December (candidates of the holder, or the landlord's)
    call_seconds: tuple[float, ...]  # time of each weekly call
    trace: tuple[
        tuple[str, str, str], ...
    ] = ()  # with `trace`: (dwelling id, column, designation day) per unit

    @property
    def within_one(self) -> float:
        """Share of conventions within ±1 dwelling of target at year end."""
        dev = np.abs(np.asarray(self.year_end))
        return float((dev <= 1 + 1e-9).mean()) if len(dev) else 1.0

    @property
    def all_within_one(self) -> bool:
        return bool(np.all(np.abs(np.asarray(self.year_end)) <= 1 + 1e-9))

    @property
    def all_within_two(self) -> bool:
        return bool(np.all(np.abs(np.asarray(self.year_end)) <= 2 + 1e-9))


def _simulated_scenario(scenario: Scenario, draw: VacancyDraw) -> Scenario:
    """The scenario with the drawn vacancies as its actuals and no designation."""
    n = len(draw)
    vacancies = Vacancies(
        dwelling=draw.dwelling.astype(np.int32),
        date=draw.date.astype("datetime64[D]"),
        exclusion=np.full(n, -1, dtype=np.int8),
        line=np.arange(2, n + 2, dtype=np.int32),
        source="simulation",
    )
    return replace(scenario, vacancies=vacancies, designations=Designations.empty())


@dataclass
class _Ledger:
    """One policy's designations in a replayed year: column and day of each unit's designation (−1: not
    yet), with the drawn outcomes it reveals as days pass."""

    column: npt.NDArray[np.int64]
    designated_on: npt.NDArray[np.datetime64]
    outcomes: Outcomes
    counts_carence: npt.NDArray[np.bool_]  # per column: does its convention count a carence?
    landlord: int

    def counted(self, day: np.datetime64) -> npt.NDArray[np.int64]:
        """[units, columns] designations as counted on `day`: a carence known by then counts to the
        landlord when its convention does not count it (domain.md §4)."""
        fixed = np.zeros((len(self.column), int(self.counts_carence.size)), dtype=np.int64)
        done = np.flatnonzero(self.column >= 0)
        col = self.column[done].copy()
        elapsed = (day - self.designated_on[done]).astype(np.int64)
        carence = self.outcomes.no_candidate[done] & (elapsed >= self.outcomes.decided[done])
        col[carence & ~self.counts_carence[col]] = self.landlord
        fixed[done, col] = 1
        return fixed

    def late_carences(
        self,
        day: np.datetime64,
        year_end: np.datetime64,
        probability: float,
        candidates_days: int,
        late_days: int,
    ) -> npt.NDArray[np.float64]:
        """Late-year carences expected among designations still without outcome on `day` (what a landlord
        knows: no candidate yet) whose convention does not count a carence (`replan.late_carence_loss`)."""
        from fluxopt.replan import late_carence_loss

        done = np.flatnonzero(self.column >= 0)
        col = self.column[done]
        elapsed = (day - self.designated_on[done]).astype(np.int64)
        pending = (elapsed < self.outcomes.decided[done]) & ~self.counts_carence[col]
        return late_carence_loss(
            (len(self.column), int(self.counts_carence.size)), self.landlord, done[pending], col[pending],
            self.designated_on[done[pending]], day, year_end, probability, candidates_days, late_days,
        )  # fmt: skip


def replay_year(
    scenario: Scenario,
    forecast: FluxForecast,
    pools: list[npt.NDArray[np.int32]],
    run: int,
    settings: SimulationSettings,
) -> list[RunResult]:
    """Replay one drawn year under every policy of `settings` (same vacancies and outcomes for all)."""
    from fluxopt.policies import RowIndex, WeekProblem, make_policy
    from fluxopt.replan import carence_probability
    from fluxopt.rows import RowKind, build_rows, units_from_vacancies

    draw = draw_vacancies(
        pools,
        forecast.expected,
        scenario.year,
        run_rng(settings.seed, run, "vacancies"),
        settings.turnover_factor,
    )
    simulated = _simulated_scenario(scenario, draw)
    units, unit_vacancy = units_from_vacancies(simulated)
    rowset = build_rows(simulated, units, pacing=False)
    index = RowIndex.of(rowset)
    n_units = len(units)
    columns = rowset.columns
    landlord = columns.index(BAILLEUR)
    by_id = {c.id: c for c in scenario.conventions}
    counts_carence = np.array([c == BAILLEUR or by_id[c].counts_no_candidate for c in columns], dtype=bool)
    outcomes = draw_outcomes(
        n_units, scenario.config.simulation, run_rng(settings.seed, run, "outcomes"), settings.delays
    )
    unit_day = units.date.astype("datetime64[D]")
    rows = rowset.rows
    total_rows = np.array(
        [r.index for r in rows if r.kind is RowKind.TOTAL and r.convention != BAILLEUR], np.int64
    )
    conventions = tuple(rows[int(i)].convention for i in total_rows)
    rep_rows = [r for r in rows if r.kind is RowKind.REPRESENTATIVENESS]
    dims = sorted({r.dimension for r in rep_rows})
    weeks = weekly_calendar(scenario.year)
    year_end = np.datetime64(weeks[-1].last_day, "D")
    rates = scenario.config.simulation
    p_carence = carence_probability(rates.no_candidate_rate, rates.refusal_rate)
    results: list[RunResult] = []
    for name in settings.policies:
        policy = make_policy(name, settings.weekly)
        ledger = _Ledger(
            np.full(n_units, -1, dtype=np.int64),
            np.zeros(n_units, dtype="datetime64[D]"),
            outcomes,
            counts_carence,
            landlord,
        )
        column, designated_on = ledger.column, ledger.designated_on
        seconds: list[float] = []
        worst_running = 0.0

        for week in weeks:
            day = np.datetime64(week.last_day, "D")
            arrived = unit_day <= day
            free = np.flatnonzero(arrived & (column < 0))
            fixed = ledger.counted(day)
            loss = ledger.late_carences(
                day, year_end, p_carence, settings.delays.candidates, settings.weekly.late_days
            )
            problem = WeekProblem(scenario, index, arrived, fixed, free, week.last_day, loss)
            start = time.perf_counter()
            chosen = policy.designate(problem)
            seconds.append(time.perf_counter() - start)
            column[free] = chosen
            designated_on[free] = day
            if len(total_rows):
                now = (
                    index.rowset.counts(ledger.counted(day))[total_rows] - index.targets(arrived)[total_rows]
                )
                worst_running = max(worst_running, float(np.abs(now).max()))
        end = np.datetime64(weeks[-1].last_day, "D")
        final = ledger.counted(end)
        evaluation = rowset.evaluate(final)
        dev_signed = evaluation.count - rowset.targets
        rep = {d: 0.0 for d in dims}
        floor = {d: 0.0 for d in dims}
        for r in rep_rows:
            rep[r.dimension] += float(evaluation.deviation[r.index])
            floor[r.dimension] += r.floor
        judged = [r.index for r in rows if r.kind in (RowKind.TOTAL, RowKind.REPRESENTATIVENESS)]
        elapsed = (end - designated_on).astype(np.int64)
        done = column >= 0
        leases = int((done & (elapsed >= outcomes.lease)).sum())
        carences = int(
            (done & (column != landlord) & outcomes.no_candidate & (elapsed >= outcomes.decided)).sum()
        )
        results.append(
            RunResult(
                run=run,
                policy=name,
                vacancies=n_units,
                conventions=conventions,
                year_end=tuple(float(v) for v in dev_signed[total_rows]),
                worst_running=worst_running,
                representativeness=rep,
                floor=floor,
                worst_row=float(evaluation.deviation[judged].max()) if judged else 0.0,
                legal_breaches=len(rowset.hard_violations(evaluation)),
                no_candidate=carences,
                leases=leases,
                call_seconds=tuple(seconds),
                trace=tuple(
                    (
                        scenario.stock.dwelling_id[int(simulated.vacancies.dwelling[int(v)])],
                        columns[int(column[u])],
                        str(designated_on[u]),
                    )
                    for u, v in enumerate(unit_vacancy.tolist())
                )
                if settings.trace
                else (),
            )
        )
    return results


@dataclass(frozen=True)
class PolicySummary:
    """One policy over every run (means are over runs; shares are shares of runs unless said)."""

    policy: str
    runs: int
    conventions: tuple[str, ...]
    mean_abs_by_convention: tuple[float, ...]  # mean |year-end deviation| per convention
    max_abs_by_convention: tuple[float, ...]
    year_end_mean_abs: float  # over runs × conventions
    year_end_max_abs: float
    years_all_within_one: float  # share of runs with every convention within ±1
    years_all_within_two: float
    conventions_within_one: float  # share of (run, convention) pairs within ±1
    worst_running_mean: float
    worst_running_max: float
    representativeness: dict[str, float]  # mean Σ|deviation| per dimension
    floor: dict[str, float]  # mean rounding floor per dimension
    representativeness_total: float
    floor_total: float
    worst_row_mean: float
    worst_row_max: float
    years_no_row_over_two: float  # share of runs whose worst year-end row is ≤ 2 dwellings
    legal_breaches_mean: float
    no_candidate_mean: float
    leases_mean: float
    vacancies_mean: float
    call_mean: float  # seconds per weekly call
    call_p95: float
    call_max: float

    @property
    def floor_ratio(self) -> float:
        """Representativeness deviation over its rounding floor (1 = no plan can do better)."""
        return self.representativeness_total / self.floor_total if self.floor_total > 0 else float("nan")


def summarise(policy: str, results: list[RunResult]) -> PolicySummary:
    """Aggregate the runs of one policy."""
    if not results:
        raise ValueError("aucune année simulée")
    conventions = results[0].conventions
    dev = np.abs(
        np.array([r.year_end for r in results], dtype=np.float64).reshape(len(results), len(conventions))
    )
    dims = sorted({d for r in results for d in r.representativeness})
    calls = np.concatenate([np.asarray(r.call_seconds, dtype=np.float64) for r in results])
    rep = {d: float(np.mean([r.representativeness.get(d, 0.0) for r in results])) for d in dims}
    floor = {d: float(np.mean([r.floor.get(d, 0.0) for r in results])) for d in dims}
    worst_row = np.array([r.worst_row for r in results])
    running = np.array([r.worst_running for r in results])
    tol = 1e-9
    return PolicySummary(
        policy=policy,
        runs=len(results),
        conventions=conventions,
        mean_abs_by_convention=tuple(float(v) for v in dev.mean(axis=0)) if dev.size else (),
        max_abs_by_convention=tuple(float(v) for v in dev.max(axis=0)) if dev.size else (),
        year_end_mean_abs=float(dev.mean()) if dev.size else 0.0,
        year_end_max_abs=float(dev.max()) if dev.size else 0.0,
        years_all_within_one=float(np.mean([r.all_within_one for r in results])),
        years_all_within_two=float(np.mean([r.all_within_two for r in results])),
        conventions_within_one=float((dev <= 1 + tol).mean()) if dev.size else 1.0,
        worst_running_mean=float(running.mean()),
        worst_running_max=float(running.max()),
        representativeness=rep,
        floor=floor,
        representativeness_total=float(sum(rep.values())),
        floor_total=float(sum(floor.values())),
        worst_row_mean=float(worst_row.mean()),
        worst_row_max=float(worst_row.max()),
        years_no_row_over_two=float((worst_row <= 2 + tol).mean()),
        legal_breaches_mean=float(np.mean([r.legal_breaches for r in results])),
        no_candidate_mean=float(np.mean([r.no_candidate for r in results])),
        leases_mean=float(np.mean([r.leases for r in results])),
        vacancies_mean=float(np.mean([r.vacancies for r in results])),
        call_mean=float(calls.mean()) if len(calls) else 0.0,
        call_p95=float(np.percentile(calls, 95)) if len(calls) else 0.0,
        call_max=float(calls.max()) if len(calls) else 0.0,
    )


@dataclass(frozen=True)
class SimulationReport:
    """Every run and the per-policy summaries of a `fluxopt simulate`."""

    scenario: str
    year: int
    settings: SimulationSettings
    forecast_total: float  # expected flux base of the year (forecast, before the turnover factor)
    results: tuple[RunResult, ...]
    summaries: tuple[PolicySummary, ...]

    def summary(self, policy: str) -> PolicySummary:
        for s in self.summaries:
            if s.policy == policy:
                return s
        raise KeyError(policy)


def _replay_job(
    args: tuple[Scenario, FluxForecast, list[npt.NDArray[np.int32]], int, SimulationSettings],
) -> list[RunResult]:
    return replay_year(*args)


def simulate(
    scenario: Scenario,
    settings: SimulationSettings,
    *,
    on_run: Callable[[int, int], None] | None = None,
) -> SimulationReport:
    """Replay `settings.runs` years under each policy; paired draws, reproducible for a seed.

    `on_run(done, total)` is called after each run (progress display). With `jobs > 1` the runs are spread
    over worker processes; the results do not depend on it (each run has its own random streams) — only
    the measured call times do.
    """
    from fluxopt.forecast import forecast_flux
    from fluxopt.policies import POLICY_LABELS

    unknown = [p for p in settings.policies if p not in POLICY_LABELS]
    if unknown:
        raise InputError(f"Politique inconnue : {', '.join(unknown)} (attendu : {', '.join(POLICY_LABELS)}).")
    if settings.runs < 1:
        raise InputError("Le nombre d'années simulées (--runs) doit être au moins 1.")
    if not 0 < settings.turnover_factor <= 5:
        raise InputError(
            f"Le facteur de rotation (--turnover-factor) doit être positif et raisonnable (reçu : {settings.turnover_factor})."
        )
    rates = scenario.config.simulation
    if rates.no_candidate_rate + rates.refusal_rate > 1:
        raise InputError(
            "[simulation] : no_candidate_rate + refusal_rate dépasse 1 "
            f"({rates.no_candidate_rate:g} + {rates.refusal_rate:g})."
        )
    forecast = forecast_flux(scenario)
    pools = cell_pools(scenario, forecast)
    jobs = [(scenario, forecast, pools, run, settings) for run in range(settings.runs)]
    per_run: list[list[RunResult]] = []
    if settings.jobs > 1 and settings.runs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from fluxopt.engines import stop_now

        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=settings.jobs, mp_context=context)
        try:
            for done, result in enumerate(pool.map(_replay_job, jobs), start=1):
                per_run.append(result)
                if on_run:
                    on_run(done, settings.runs)
        except BaseException:  # Ctrl-C: the years already handed to the workers are not waited for
            stop_now(pool)
            raise
        pool.shutdown()
    else:
        for done, job in enumerate(jobs, start=1):
            per_run.append(_replay_job(job))
            if on_run:
                on_run(done, settings.runs)
    results = tuple(r for run in per_run for r in run)
    summaries = tuple(summarise(p, [r for r in results if r.policy == p]) for p in settings.policies)
    return SimulationReport(
        scenario=scenario.config.scenario.name,
        year=scenario.year,
        settings=settings,
        forecast_total=forecast.total_expected,
        results=results,
        summaries=summaries,
    )


# ------------------------------------------------------------------------------------------ rendering

#: French names of the representativeness dimensions in tables
DIMENSION_FR = {
    "typologie": "typologie",
    "financement": "financement",
    "qpv": "QPV",
    "commune": "commune",
    "periode_construction": "période",
}


def _n(x: float, digits: int = 1) -> str:
    return f"{x:.{digits}f}".replace(".", ",")


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def report_text(report: SimulationReport) -> str:
    """The summary `fluxopt simulate` prints: one column per policy, one line per measure (French)."""
    from fluxopt.policies import POLICY_LABELS

    s = report.settings
    summaries = report.summaries
    lines = [
        f"Simulation de {s.runs} année(s) — {report.scenario} — graine {s.seed}, rotation × {_n(s.turnover_factor, 2)} "
        f"(base prévue {_n(report.forecast_total, 0)} logements, simulée {_n(summaries[0].vacancies_mean, 0)} en moyenne)",
        "Écarts en logements, compteur des logements proposés, mesurés sur la base réalisée.",
        "Politiques : "
        + " · ".join(f"{x.policy} = {POLICY_LABELS.get(x.policy, x.policy)}" for x in summaries),
        "",
    ]
    header = ["mesure", *(x.policy for x in summaries)]
    dims = sorted({d for x in summaries for d in x.representativeness})
    table: list[list[str]] = [
        ["conventions à ±1 en fin d'année (part des années où toutes le sont)", *(_pct(x.years_all_within_one) for x in summaries)],
        ["conventions à ±2 en fin d'année (part des années)", *(_pct(x.years_all_within_two) for x in summaries)],
        ["conventions à ±1 en fin d'année (part des conventions)", *(_pct(x.conventions_within_one) for x in summaries)],
        ["écart de fin d'année par convention : moyen / pire", *(f"{_n(x.year_end_mean_abs, 2)} / {_n(x.year_end_max_abs, 2)}" for x in summaries)],
        ["pire écart en cours d'année (fin de semaine) : moyen / pire", *(f"{_n(x.worst_running_mean, 2)} / {_n(x.worst_running_max, 2)}" for x in summaries)],
        *(
            [f"représentativité — {DIMENSION_FR.get(d, d)} (plancher {_n(summaries[0].floor.get(d, 0.0))})", *(_n(x.representativeness.get(d, 0.0)) for x in summaries)]
            for d in dims
        ),
        [f"représentativité — total (plancher d'arrondi {_n(summaries[0].floor_total)})", *(_n(x.representativeness_total) for x in summaries)],
        ["représentativité / plancher", *(_n(x.floor_ratio, 2) for x in summaries)],
        ["pire ligne en fin d'année : moyenne / pire", *(f"{_n(x.worst_row_mean, 2)} / {_n(x.worst_row_max, 2)}" for x in summaries)],
        ["années sans ligne à plus de 2 logements", *(_pct(x.years_no_row_over_two) for x in summaries)],
        ["règles légales non tenues en fin d'année (moyenne)", *(_n(x.legal_breaches_mean) for x in summaries)],
        ["carences / baux signés au 31/12 (moyenne)", *(f"{_n(x.no_candidate_mean)} / {_n(x.leases_mean, 0)}" for x in summaries)],
        ["temps par appel hebdomadaire : moyen / 95e centile / max (ms)", *(f"{x.call_mean * 1000:.0f} / {x.call_p95 * 1000:.0f} / {x.call_max * 1000:.0f}" for x in summaries)],
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]
    lines.append("  ".join(h.ljust(widths[i]) for i, h in enumerate(header)).rstrip())
    lines.append("  ".join("-" * w for w in widths))
    for row in table:
        lines.append(
            "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row))
        )
    return "\n".join(lines) + "\n"


RUNS_HEADER = (
    "annee_simulee",
    "politique",
    "base",
    "conventions_a_1",
    "toutes_a_1",
    "pire_ecart_convention",
    "pire_ecart_en_cours",
    "representativite",
    "plancher",
    "pire_ligne",
    "regles_legales_non_tenues",
    "carences",
    "baux_signes",
)


def run_rows(report: SimulationReport) -> list[tuple[object, ...]]:
    """One line per (simulated year, policy) for runs.csv (times excluded: they vary between machines)."""
    out: list[tuple[object, ...]] = []
    for r in report.results:
        out.append(
            (
                r.run + 1,
                r.policy,
                r.vacancies,
                round(r.within_one, 6),
                r.all_within_one,
                round(float(np.abs(np.asarray(r.year_end)).max()) if r.year_end else 0.0, 6),
                round(r.worst_running, 6),
                round(sum(r.representativeness.values()), 6),
                round(sum(r.floor.values()), 6),
                round(r.worst_row, 6),
                r.legal_breaches,
                r.no_candidate,
                r.leases,
            )
        )
    return out


CONVENTIONS_HEADER = ("politique", "convention", "ecart_moyen_fin_annee", "pire_ecart_fin_annee")


def convention_rows(report: SimulationReport) -> list[tuple[object, ...]]:
    """Year-end deviation per convention and policy, over the runs (conventions.csv)."""
    out: list[tuple[object, ...]] = []
    for s in report.summaries:
        for cid, mean, worst in zip(
            s.conventions, s.mean_abs_by_convention, s.max_abs_by_convention, strict=True
        ):
            out.append((s.policy, cid, round(mean, 6), round(worst, 6)))
    return out


def report_dict(report: SimulationReport) -> dict[str, Any]:
    """Per-policy figures for the manifest and `--format json` (times kept apart: they vary)."""
    return {
        "annees": report.settings.runs,
        "graine": report.settings.seed,
        "facteur_rotation": report.settings.turnover_factor,
        "base_prevue": report.forecast_total,
        "politiques": {
            s.policy: {
                "annees_toutes_conventions_a_1": s.years_all_within_one,
                "annees_toutes_conventions_a_2": s.years_all_within_two,
                "conventions_a_1": s.conventions_within_one,
                "ecart_fin_annee_moyen": s.year_end_mean_abs,
                "ecart_fin_annee_pire": s.year_end_max_abs,
                "ecart_en_cours_pire_moyen": s.worst_running_mean,
                "ecart_en_cours_pire": s.worst_running_max,
                "representativite_par_dimension": s.representativeness,
                "plancher_par_dimension": s.floor,
                "representativite": s.representativeness_total,
                "plancher": s.floor_total,
                "representativite_sur_plancher": s.floor_ratio,
                "pire_ligne_moyenne": s.worst_row_mean,
                "pire_ligne": s.worst_row_max,
                "annees_sans_ligne_a_plus_de_2": s.years_no_row_over_two,
                "regles_legales_non_tenues_moyenne": s.legal_breaches_mean,
                "carences_moyenne": s.no_candidate_mean,
                "baux_signes_moyenne": s.leases_mean,
            }
            for s in report.summaries
        },
    }


def timing_dict(report: SimulationReport) -> dict[str, dict[str, float]]:
    """Seconds per weekly call, per policy (volatile: kept out of the stable figures)."""
    return {s.policy: {"moyen": s.call_mean, "p95": s.call_p95, "max": s.call_max} for s in report.summaries}
