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
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fluxopt.domain.enums import DesignationStatus
from fluxopt.domain.scenario import SimulationRates

__all__ = [
    "OUTCOME_DELAYS",
    "OutcomeDelays",
    "Outcomes",
    "VacancyDraw",
    "Week",
    "draw_outcomes",
    "draw_vacancies",
    "run_rng",
    "status_on",
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
