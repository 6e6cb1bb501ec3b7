"""Weekly re-planning (*re-planification hebdomadaire*): this week's designations from the year to date.

The weekly question: the dwellings freed and not yet designated on `--as-of` go to which convention (or
stay with the landlord)? fluxopt answers it with the planner's model (`fluxopt.model.builder` and
`fluxopt.model.annual`) on the rows of the base seen so far: the realised base to date (targets
re-normalised on it), the designations already made fixed as counted (a carence counts to the landlord
when its convention does not count it), and the free dwellings as the only decisions. Every row — totals,
representativeness, wishes, legal rules — is brought as close as the week allows to share × realised base,
jointly for all the week's dwellings and with the rounding cut, so each week ends as close to target as
whole dwellings permit. Because the targets are re-normalised on the realised base every week, the year
ends on target whatever the turnover turns out to be. In the last weeks, a row also aims above its target by
the carences expected among its pending offers (`late_carence_loss`): one revealed in December may leave no
vacancy to make up for it; and a representativeness row pays for the dwellings it could end beyond the
2-dwelling limit, below target if several of them came back, above it if none did (`CarenceTail`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from math import comb
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fluxopt.domain import BAILLEUR, Scenario
from fluxopt.domain.model_spec import ModelSpec, Weekly
from fluxopt.domain.tables import TYPOLOGIES
from fluxopt.errors import InfeasibleError, InputError, NoSolutionError, ProblemList
from fluxopt.manifest import RunManifest
from fluxopt.model.annual import plan_counts_from_x, row_deviations
from fluxopt.model.builder import AnnualModel, AnnualProblem, build_annual, build_linear, row_expression
from fluxopt.model.result import Plan
from fluxopt.model.solver import Backend, SolveSettings, solve
from fluxopt.policies import Policy, RowIndex, WeekProblem
from fluxopt.rows import Row, RowKind, RowSet, Sense

__all__ = [
    "Churn",
    "Designation",
    "ReplanPolicy",
    "WeekSolution",
    "WeeklyResult",
    "WeeklyState",
    "allocate_units",
    "designate",
    "plan_churn",
    "read_plan_table",
    "solve_week",
    "weekly_state",
    "weekly_weights",
    "write_designations",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: The weekly model's weights, tiers and tail come from the model file's [weekly] section
#: (`fluxopt.domain.model_spec.Weekly`, defaults measured there). Legal rows weigh as much as totals and are
#: soft here, not hard as in the annual plan: they concern the year, and holding the préfet's per-commune
#: band and his minimum outside QPV exactly on every week's running base is often impossible once past
#: weeks are fixed. Weighted, and aimed at their lawful whole count in December (`legal_margins`), 1.2 of
#: Cap Habitat's 25 legal rows end a simulated year broken, mostly by a fraction of a dwelling (README).
HEAVY_KINDS = frozenset({RowKind.TOTAL, RowKind.LEGAL})
WEIGHTED_KINDS = frozenset({RowKind.TOTAL, RowKind.LEGAL, RowKind.REPRESENTATIVENESS, RowKind.WISH})
#: rows under the convex tiers: the part of a deviation beyond a tier's threshold costs more, which spreads
#: unavoidable deviations over several rows rather than leaving one row far off
EXCESS_KINDS = frozenset({RowKind.TOTAL, RowKind.REPRESENTATIVENESS})
#: rows under the late carences' tail (`CarenceTail`); totals are left out: kept ahead of their pending
#: carences, they miss ±1 when none comes (measured: README)
TAIL_KINDS = frozenset({RowKind.REPRESENTATIVENESS})
#: more carences than this among one row's late offers are not priced (probability < 1e-6 at Cap Habitat's
#: rates; such a row is a large one, with vacancies left to make up for them)
TAIL_MAX_FAILED = 8


def weekly_weights(rows: Sequence[Row], weekly: Weekly) -> FloatArray:
    """Weight of each row in the weekly model: totals and legal rows `weekly.total_weight`,
    representativeness and wishes 1, pacing rows 0 (the week has no month to pace)."""
    return np.array(
        [
            (weekly.total_weight if r.kind in HEAVY_KINDS else 1.0) if r.kind in WEIGHTED_KINDS else 0.0
            for r in rows
        ],
        dtype=np.float64,
    )


#: Solver time limit of one weekly model (seconds); it is solved to optimality in well under a second.
WEEKLY_TIME_LIMIT = 20.0


@dataclass(frozen=True)
class WeekSolution:
    """This week's designations and how the weekly model ended."""

    columns: IntArray  # column per free unit
    status: str  # optimal | feasible | ...
    objective: float  # weighted deviation recomputed from the designations
    bound: float | None
    seconds: float


def allocate_units(problem: AnnualProblem, x: IntArray, free_units: IntArray) -> IntArray:
    """Turn block counts into one column per free unit.

    Units of a block are interchangeable for every row (same segment cell, same eligible columns), so the
    block's units, in unit order (date, then dwelling id), go to its columns in column order.
    """
    blocks = problem.blocks
    out = np.full(len(free_units), -1, dtype=np.int64)
    position = {int(u): i for i, u in enumerate(free_units)}
    units_of_block: dict[int, list[int]] = {}
    for u in free_units.tolist():
        units_of_block.setdefault(int(blocks.of_unit[u]), []).append(u)
    order = np.lexsort((problem.var_col, problem.var_block))
    taken: dict[int, int] = {}
    for v in order.tolist():
        n = int(x[v])
        if n <= 0:
            continue
        b = int(problem.var_block[v])
        start = taken.get(b, 0)
        for u in units_of_block[b][start : start + n]:
            out[position[u]] = int(problem.var_col[v])
        taken[b] = start + n
    if np.any(out < 0):  # pragma: no cover - block equalities make every free unit allocated
        raise AssertionError("un logement libre n'a pas reçu de désignation")
    return out


def solve_week(
    rowset: RowSet,
    fixed: IntArray,
    free_units: IntArray,
    *,
    time_limit: float | None = None,
    expected_loss: npt.NDArray[np.float64] | None = None,
    weekly: Weekly | None = None,
    days_left: int | None = None,
) -> WeekSolution:
    """Designate `free_units` of `rowset` (rows on the base seen so far) given `fixed` designations.

    One weighted solve of the planner's linear model (`build_annual` + `build_linear`, with the rounding
    cut) over every non-pacing row; the objective is recomputed from the chosen designations.
    `expected_loss` (`late_carence_loss`) raises the targets by the carences expected late in the year
    and, with `weekly.tail_weight`, prices the representativeness rows' expected excess beyond
    `weekly.row_limit`. `weekly`: the model file's [weekly] section (default: `Weekly()`); `days_left`:
    days from the week's date to 31 December, which adds its closing tiers in the last weeks.
    """
    weekly = Weekly() if weekly is None else weekly
    tiers = weekly.tiers_on(days_left)
    start = time.perf_counter()
    undecided = np.flatnonzero(np.asarray(fixed).sum(axis=1) == 0)
    if not np.array_equal(undecided, np.sort(free_units)):
        raise ValueError("free_units must be exactly the units without a fixed designation")
    if weekly.margins_on(days_left):  # the lawful count first: the expected carences come on top of it
        rowset = legal_margins(rowset)
    tail = None
    if expected_loss is not None:
        tail = CarenceTail.of(rowset, expected_loss, weekly.tail_weight, weekly.row_limit)
        rowset = anticipate_carences(rowset, expected_loss)
    problem = build_annual(rowset, fixed)
    weights = weekly_weights(problem.rows, weekly)
    soft = {i for i, w in enumerate(weights) if w > 0}
    model = build_linear(problem, soft, set())
    objective = {model.dev[i]: float(weights[i]) for i in sorted(soft)}
    # convex penalty on the part of a deviation beyond each tier's threshold (the squared deviation of the
    # greedy, linearised)
    beyond = sorted(i for i in soft if problem.rows[i].kind in EXCESS_KINDS)
    n = len(beyond)
    for threshold, extra_weight in tiers if n else ():
        lp = model.lp
        extra = lp.add_vars(np.zeros(n), np.full(n, np.inf), integer=False)
        lp.add_cons(  # extra − dev ≥ −threshold
            np.repeat(np.arange(n), 2),
            np.column_stack([extra, [model.dev[i] for i in beyond]]).ravel(),
            np.tile([1.0, -1.0], n),
            np.full(n, -threshold),
            np.inf,
            n,
        )
        for k, i in enumerate(beyond):
            objective[int(extra[k])] = extra_weight * float(weights[i])
    if tail is not None:
        tail.add_to(model, objective)
    settings = SolveSettings(
        backend=Backend.HIGHS,
        time_limit=WEEKLY_TIME_LIMIT if time_limit is None else time_limit,
        seed=0,
        relative_gap=weekly.relative_gap,
    )
    outcome = solve(model.lp, objective, settings)
    if outcome.values is None:  # pragma: no cover - every allocation is feasible without hard rows
        raise NoSolutionError(f"Aucune désignation trouvée pour la semaine ({outcome.status.value}).")
    x = np.rint(outcome.values[model.x]).astype(np.int64)
    dev = row_deviations(problem, x)
    excess = np.array([r.kind in EXCESS_KINDS for r in problem.rows], dtype=bool)
    weighted = float((weights * dev).sum())
    for threshold, extra_weight in tiers:
        weighted += extra_weight * float((weights * np.maximum(dev - threshold, 0.0))[excess].sum())
    if tail is not None:
        weighted += tail.cost(problem, x)
    return WeekSolution(
        columns=allocate_units(problem, x, free_units),
        status=outcome.status.value,
        objective=weighted,
        bound=outcome.bound,
        seconds=time.perf_counter() - start,
    )


def carence_probability(no_candidate_rate: float, refusal_rate: float) -> float:
    """Probability that a designation ends in carence: each request fails with `no_candidate_rate` or is
    refused with `refusal_rate` (a new request to the same réservataire), a geometric series."""
    return min(1.0, no_candidate_rate / max(1e-9, 1.0 - refusal_rate))


def late_carence_loss(
    shape: tuple[int, int],
    landlord: int,
    units: IntArray,
    columns: IntArray,
    designated: npt.NDArray[np.datetime64],
    as_of: np.datetime64,
    year_end: np.datetime64,
    probability: float,
    candidates_days: int,
    late_days: int,
) -> npt.NDArray[np.float64]:
    """[units, columns] carences expected late in the year among pending designations (`units`,
    `columns`, `designated`: still without candidates on `as_of`, conventions that do not count a
    carence). The news of a designation comes `candidates_days` after it, and not before tomorrow; when
    it would come in the last `late_days` of the year, the convention may lose that dwelling (with
    `probability`) too late to make up for it, and the landlord may get it back. Earlier carences are made
    up for by the following weeks."""
    loss = np.zeros(shape)
    news = np.maximum(designated + np.timedelta64(candidates_days, "D"), as_of + np.timedelta64(1, "D"))
    late = (news <= year_end) & (news > year_end - np.timedelta64(late_days, "D"))
    np.add.at(loss, (units[late], columns[late]), probability)
    np.add.at(loss, (units[late], np.full(int(late.sum()), landlord)), -probability)
    return loss


def anticipate_carences(rowset: RowSet, expected_loss: npt.NDArray[np.float64]) -> RowSet:
    """Rows whose targets include the carences expected among pending designations.

    `expected_loss` [units, columns]: for each designation still without outcome whose convention does not
    count a carence, the probability that it ends in carence late in the year (minus that on the
    landlord's column, who then gets the dwelling back). A row that will probably lose ℓ dwellings that way
    aims at target + ℓ now: a carence revealed in December on a thin scope (one commune's convention) can
    no longer be made up for.
    """
    loss = rowset.counts(expected_loss)
    if not np.any(np.abs(loss) > 1e-12):
        return rowset
    rows = tuple(
        replace(r, target=max(0.0, r.target + float(loss[r.index]))) if loss[r.index] else r
        for r in rowset.rows
    )
    return replace(rowset, rows=rows)


def legal_margins(rowset: RowSet) -> RowSet:
    """Rows whose one-sided legal targets are their nearest lawful whole count: ⌈τ⌉ for a minimum (the
    préfet's 30 % outside QPV), ⌊τ⌋ for a maximum (State employees' 5 %).

    Why: the law is met by whole dwellings. Weighed against its fractional target, a minimum 0.1 short
    costs the weekly model a tenth of a dwelling, and the year ended with such rows broken by a fraction
    (2.2 of Cap Habitat's 25 legal rows a year, `fluxopt simulate`); against the lawful count, the same
    miss costs a whole dwelling, as it does in law. Two-sided legal rows keep their target: their band
    [⌊τ⌋, ⌈τ⌉] is what the rounding cut already prices. Applied in the year's last weeks only
    (`Weekly.legal_margin_days`): all year, the préfet's conventions ran ahead of their totals (README)."""

    def lawful(r: Row) -> Row:
        lo, hi = r.admissible()
        return replace(r, target=float(lo if r.sense is Sense.GE else hi))

    rows = tuple(lawful(r) if r.hard and r.sense is not Sense.EQ else r for r in rowset.rows)
    return replace(rowset, rows=rows)


@dataclass(frozen=True)
class CarenceTail:
    """The representativeness rows that may end the year beyond the row limit, whether their late offers
    fail or not.

    A row holding n offers still without candidates, whose news comes in the last weeks
    (`late_carence_loss`), loses N of them to carences, N binomial (n, p); its year-end deviation is then
    about count − N − target. Below: the part beyond the limit has expectation
    Σ_j P(N = j) · max(0, j − limit − (count − target)): it keeps a thin row (one convention in one commune
    or a small typology) a dwelling ahead while several of its offers are pending, where three carences
    revealed in December would otherwise leave it 2.5–2.9 off with no vacancy left to make up for it.
    Above: Σ_j P(N = j) · max(0, count − target − j − limit), mostly j = 0: a row kept ahead of carences that
    do not come must not end beyond the limit either (the week aims at target + mean loss: a row kept within
    2 of that raised target ended 2.24 over when none came, README). Both are convex in the count, so one
    hinge variable per (row, side, j), weighted by `Weekly.tail_weight`; the mean of N is already in the
    target (`anticipate_carences`).
    """

    rows: IntArray  # row index (in the row set) of each hinge
    failed: IntArray  # j: carences among the row's pending offers
    side: IntArray  # +1: the excess below target − limit; −1: the excess above target + limit
    weight: FloatArray  # tail weight × P(N = j)
    target: FloatArray  # the row's target before the anticipation
    limit: float  # the year-end deviation beyond which the tail is priced (dwellings)

    @classmethod
    def of(
        cls, rowset: RowSet, expected_loss: npt.NDArray[np.float64], weight: float, limit: float
    ) -> CarenceTail | None:
        """The hinges of every representativeness row with pending late offers (None when there is none).

        Every pending offer has the same carence probability (the scenario's rates), the largest entry of
        `expected_loss`; the landlord's negative entries are not counted (he has no representativeness row).
        Below target, j = 0 is left to the tiers (no carence, no tail); above, j = 0 is the main term.
        """
        p = float(expected_loss.max(initial=0.0))
        if p <= 0.0 or weight <= 0.0:
            return None
        pending = np.rint(rowset.counts((expected_loss > 0).astype(np.int64))).astype(np.int64)
        rows: list[int] = []
        failed: list[int] = []
        sides: list[int] = []
        weights: list[float] = []
        for r in rowset.rows:
            n = int(pending[r.index])
            if r.kind not in TAIL_KINDS or n == 0:
                continue
            for j in range(min(n, TAIL_MAX_FAILED) + 1):
                q = weight * comb(n, j) * p**j * (1.0 - p) ** (n - j)
                if q < 1e-3:  # negligible: leaves the model smaller
                    continue
                for side in (1, -1) if j else (-1,):
                    rows.append(r.index)
                    failed.append(j)
                    sides.append(side)
                    weights.append(q)
        if not rows:
            return None
        idx = np.array(rows, dtype=np.int64)
        return cls(
            idx,
            np.array(failed, dtype=np.int64),
            np.array(sides, dtype=np.int64),
            np.array(weights),
            rowset.targets[idx].copy(),
            limit,
        )

    def _position(self, problem: AnnualProblem) -> IntArray:
        position = {r.index: i for i, r in enumerate(problem.rows)}
        return np.array([position[int(r)] for r in self.rows], dtype=np.int64)

    def add_to(self, model: AnnualModel, objective: dict[int, float]) -> None:
        """One hinge per (row, side, j): e ≥ a − s·y with a = s·(j + target − fixed) − limit, e ≥ 0, cost
        weight × e, where y = Σx is the row's free count, one variable per row (its sum written once, not
        once per hinge) and s the side.

        With the hinge's hull over whole counts, e ≥ f·(⌊a⌋ + 1 − s·y) (f = a − ⌊a⌋; the rounding cut of
        modelling.md for a one-sided row, on s·y), the relaxation is exact at every whole count: a week with
        57 rows under the tail took 4.0 s without it and 1.9 s with it (0.35 s without the tail).
        """
        problem, lp = model.problem, model.lp
        at = self._position(problem)
        rows, hinge_row = np.unique(at, return_inverse=True)
        t_row, t_var = row_expression(problem)
        bounds = np.searchsorted(t_row, np.arange(len(problem.rows) + 1))
        members = [model.x[t_var[bounds[i] : bounds[i + 1]]] for i in rows.tolist()]
        y = lp.add_vars(np.zeros(len(rows)), np.full(len(rows), np.inf), integer=False)
        lp.add_cons(  # y − Σx = 0
            np.repeat(np.arange(len(rows)), [1 + len(m) for m in members]),
            np.concatenate([np.concatenate([[y[k]], m]) for k, m in enumerate(members)]),
            np.concatenate([np.concatenate([[1.0], -np.ones(len(m))]) for m in members]),
            0.0,
            0.0,
            len(rows),
        )
        n = len(at)
        e = lp.add_vars(np.zeros(n), np.full(n, np.inf), integer=False)
        s = self.side.astype(np.float64)
        a = s * (self.failed + self.target - problem.fixed_count[at]) - self.limit
        fl = np.floor(a + 1e-9)
        f = np.maximum(a - fl, 0.0)
        lp.add_cons(  # e + s·y ≥ a, and the hinge's hull over whole counts: e + f·s·y ≥ f·(⌊a⌋ + 1)
            np.repeat(np.arange(2 * n), 2),
            np.concatenate([np.column_stack([e, y[hinge_row]]).ravel()] * 2),
            np.concatenate(
                [np.column_stack([np.ones(n), s]).ravel(), np.column_stack([np.ones(n), f * s]).ravel()]
            ),
            np.concatenate([a, f * (fl + 1.0)]),
            np.inf,
            2 * n,
        )
        for k in range(n):
            objective[int(e[k])] = float(self.weight[k])

    def cost(self, problem: AnnualProblem, x: IntArray) -> float:
        """The hinges' cost for the designations `x`, recomputed from the rows' counts."""
        count = plan_counts_from_x(problem, x)
        at = self._position(problem)
        excess = np.maximum(self.side * (self.failed - (count[at] - self.target)) - self.limit, 0.0)
        return float((self.weight * excess).sum())


class ReplanPolicy(Policy):
    """fluxopt's weekly re-planning as a policy of the year replay."""

    name = "fluxopt"

    def __init__(self, time_limit: float | None = None, weekly: Weekly | None = None) -> None:
        self.time_limit = time_limit
        self.weekly = Weekly() if weekly is None else weekly

    def designate(self, problem: WeekProblem) -> IntArray:
        if len(problem.free) == 0:
            return np.zeros(0, dtype=np.int64)
        arrived = np.flatnonzero(problem.arrived)
        if len(arrived) == len(problem.arrived):
            rowset = problem.index.rowset
            local = problem.free
        else:
            rowset = problem.index.running(problem.arrived)
            local = np.searchsorted(arrived, problem.free)
        loss = None if problem.expected_loss is None else problem.expected_loss[arrived]
        week = solve_week(
            rowset,
            problem.fixed[arrived],
            local.astype(np.int64),
            time_limit=self.time_limit,
            expected_loss=loss,
            weekly=self.weekly,
            days_left=_days_left(problem.as_of),
        )
        return week.columns


# ----------------------------------------------------------------------------------- weekly designate


@dataclass(frozen=True)
class WeeklyState:
    """The year to date on `as_of`: realised base, designations as counted, dwellings still free."""

    as_of: dt.date
    rowset: RowSet  # rows over the realised base to date (no pacing): running targets
    unit_vacancy: IntArray  # position in `scenario.vacancies` of each unit
    offered: IntArray  # [units, columns] designations (offered counter) as counted on `as_of`
    leases: IntArray  # [units, columns] leases signed by `as_of`, as counted
    free: IntArray  # units with no designation yet, in date order
    ignored_vacancies: int  # vacancies dated after `as_of` (next week's)
    ended: tuple[str, ...]  # conventions no longer in force on `as_of` (cannot receive dwellings)
    # [units, columns] late-year carences expected among pending designations (`late_carence_loss`)
    expected_loss: npt.NDArray[np.float64] | None = None


@dataclass(frozen=True)
class Designation:
    """One line of designations.csv: who this dwelling is offered to, and why (checkable by a person)."""

    dwelling: str
    vacancy_date: dt.date
    commune: str
    typology: str
    convention: str  # convention id or BAILLEUR
    reservataire: str  # réservataire id or BAILLEUR
    contingent: str  # SNE contingent code ("" for the landlord)
    reason: str


@dataclass(frozen=True)
class Churn:
    """How much of the rest-of-year plan changed since the previous week's plan (same months only).

    Two grains: per commune × convention over the compared months (what each réservataire is promised
    for the rest of the year), and per commune × month × convention (the order agents follow).
    """

    compared_months: tuple[int, ...]
    changed: int  # dwellings moved to another convention or month (½ Σ |new − old| per commune × month)
    changed_year: int  # dwellings moved to another convention over the compared months (per commune)
    planned: int  # dwellings planned in the compared months (new plan)

    @property
    def share(self) -> float:
        return self.changed / self.planned if self.planned else 0.0

    @property
    def share_year(self) -> float:
        return self.changed_year / self.planned if self.planned else 0.0


@dataclass(frozen=True)
class WeeklyResult:
    """Everything `fluxopt designate` writes and says."""

    state: WeeklyState
    designations: tuple[Designation, ...]
    week: WeekSolution | None  # None when no dwelling was free
    plan: Plan | None  # updated plan of the year (realised + forecast), None without it
    plan_legal_relaxed: bool  # the updated plan could not hold the legal rules after the fixed past
    churn: Churn | None
    messages: tuple[str, ...]


def _days_left(as_of: dt.date) -> int:
    """Days from `as_of` to the end of its year (0 on 31 December)."""
    return (dt.date(as_of.year, 12, 31) - as_of).days


def _day(value: np.datetime64) -> dt.date:
    return dt.date.fromisoformat(str(value.astype("datetime64[D]")))


def _fr_date(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def _fr_num(x: float) -> str:
    return f"{x:.1f}".replace(".", ",")


def weekly_state(scenario: Scenario, as_of: dt.date, weekly: Weekly | None = None) -> WeeklyState:
    """The year to date on `as_of`, checked: facts dated after `as_of` and a closed year are refused.

    `weekly` (the model's [weekly] section) says which pending offers' carences count as late."""
    from fluxopt.bilan import actual_designations
    from fluxopt.compare import counted_matrices, pending_designations
    from fluxopt.rows import build_rows, units_from_vacancies
    from fluxopt.simulate import OUTCOME_DELAYS

    year = scenario.year
    if as_of < dt.date(year, 1, 1):
        raise InputError(
            f"La date --as-of {_fr_date(as_of)} précède l'année du scénario ({year}) : rien n'est encore libéré."
        )
    if as_of > dt.date(year, 12, 31):
        raise InputError(
            f"La date --as-of {_fr_date(as_of)} est après la fin de l'année du scénario ({year}) : l'année est "
            f"close. Les désignations de {as_of.year} se font dans un scénario de l'année {as_of.year}."
        )
    des = scenario.designations
    day = np.datetime64(as_of, "D")
    problems = ProblemList()
    for i in np.flatnonzero(des.date > day).tolist():
        problems.add(
            des.source or "designations",
            int(des.line[i]),
            "date",
            f"désignation datée après --as-of {_fr_date(as_of)} : un fait futur ne peut pas entrer dans la "
            "semaine ; relancez avec la date de vos données",
            _fr_date(_day(des.date[i])),
        )
    problems.raise_if_any(f"Des désignations sont postérieures à la date --as-of ({len(problems)}) :")
    units, unit_vacancy = units_from_vacancies(scenario, until=as_of)
    rowset = build_rows(scenario, units, pacing=False)
    actual = actual_designations(scenario)
    offered, leases = counted_matrices(scenario, rowset, unit_vacancy, actual, as_of)
    free = np.flatnonzero(offered.sum(axis=1) == 0).astype(np.int64)
    rates = scenario.config.simulation
    pending_units, pending_columns, pending_dates = pending_designations(
        scenario, rowset, unit_vacancy, actual, as_of
    )
    expected_loss = late_carence_loss(
        offered.shape, rowset.columns.index(BAILLEUR), pending_units, pending_columns, pending_dates, day,
        np.datetime64(dt.date(year, 12, 31), "D"), carence_probability(rates.no_candidate_rate, rates.refusal_rate),
        OUTCOME_DELAYS.candidates, (Weekly() if weekly is None else weekly).late_days,
    )  # fmt: skip
    vac = scenario.vacancies
    in_year = vac.date.astype("datetime64[Y]").astype(np.int64) + 1970 == year
    ignored = int((in_year & (vac.date > day)).sum())
    ended = tuple(sorted(c.id for c in scenario.conventions if c.end is not None and c.end < as_of))
    return WeeklyState(
        as_of=as_of,
        rowset=rowset,
        unit_vacancy=unit_vacancy.astype(np.int64),
        offered=offered.astype(np.int64),
        leases=leases.astype(np.int64),
        free=free,
        ignored_vacancies=ignored,
        ended=ended,
        expected_loss=expected_loss,
    )


def _without_ended(rowset: RowSet, free: IntArray, ended: tuple[str, ...]) -> RowSet:
    """The rowset where conventions no longer in force cannot receive the free dwellings.

    Their rows and targets are untouched (their past stays counted); only eligibility changes.
    """
    if not ended or len(free) == 0:
        return rowset
    shares = rowset.shares.copy()
    for cid in ended:
        shares[free, rowset.columns.index(cid)] = 0.0
    return replace(rowset, shares=shares)


def _reasons(scenario: Scenario, state: WeeklyState, columns_of_free: IntArray) -> list[str]:
    """One French sentence per designation, with the numbers a person can check in objectifs.csv.

    Counts are those before this week's designations; targets are share × realised base to date; in the
    last weeks, the carences expected among the convention's pending designations (`late_carence_loss`),
    which the week's model adds to its target, are stated too.
    """
    rowset = state.rowset
    index = RowIndex.of(rowset)
    count = rowset.counts(state.offered)
    targets = rowset.targets
    late = rowset.counts(state.expected_loss) if state.expected_loss is not None else np.zeros(len(targets))
    names = {r.id: r.name for r in scenario.reservataires}
    by_id = {c.id: c for c in scenario.conventions}
    out = []
    for u, j in zip(state.free.tolist(), columns_of_free.tolist(), strict=True):
        col = rowset.columns[j]
        total = int(index.total_row[j])
        if col == BAILLEUR:
            who = "Bailleur"
            verb = "gardés"
        else:
            who = names.get(by_id[col].reservataire, by_id[col].reservataire)
            if sum(1 for c in scenario.conventions if c.reservataire == by_id[col].reservataire) > 1:
                who = f"{who} ({col})"
            verb = "proposés"
        n = round(float(count[total]))
        text = (
            f"{who} : {n} {verb if n > 1 else verb[:-1]} pour un objectif à date de {_fr_num(targets[total])}"
        )
        behind = []
        lawful = []
        for r in index.members(u, j).tolist():
            row = rowset.rows[r]
            if row.kind is RowKind.REPRESENTATIVENESS and targets[r] - count[r] >= 0.5:
                label = row.value if row.dimension != "commune" else f"commune {row.value}"
                behind.append(label)
            if row.kind is RowKind.LEGAL and row.sense is Sense.GE:
                need = row.admissible()[0]
                if count[r] < need - 1e-9:  # a legal minimum not yet met in whole dwellings
                    lawful.append(f"minimum légal {row.value} : {round(float(count[r]))} pour {need} requis")
        if behind:
            text += " ; " + ", ".join(behind) + " en retard"
        if lawful:
            text += " ; " + ", ".join(lawful)
        if late[total] >= 0.05:
            text += f" ; carences attendues d'ici le 31/12 : {_fr_num(late[total])}"
        out.append(text)
    return out


def _updated_plan(
    scenario: Scenario,
    state: WeeklyState,
    this_week: IntArray,
    spec: ModelSpec,
    time_limit: float | None,
) -> tuple[Plan, bool]:
    """The rest of the year re-planned: realised base + forecast after `as_of`, past and this week fixed."""
    from fluxopt.forecast import forecast_flux
    from fluxopt.planning import plan_units
    from fluxopt.rows import Units, build_rows, units_from_forecast

    forecast = forecast_flux(scenario, as_of=state.as_of)
    realised = state.rowset.units
    future = units_from_forecast(forecast)
    units = Units.concat([realised, future]) if len(future) else realised
    rowset = build_rows(scenario, units)
    fixed = np.zeros((len(units), len(rowset.columns)), dtype=np.int64)
    fixed[: len(realised)] = this_week
    if state.ended and len(future):  # no forecast dwelling goes to a convention that has ended
        rowset = _without_ended(rowset, np.arange(len(realised), len(units)), state.ended)
    try:
        return plan_units(rowset, spec, fixed=fixed, time_limit=time_limit, forecast=forecast), False
    except InfeasibleError:
        relaxed = spec.model_copy(update={"legal": "report"})
        return plan_units(rowset, relaxed, fixed=fixed, time_limit=time_limit, forecast=forecast), True


def plan_churn(
    previous: Mapping[tuple[str, ...], int], current: Mapping[tuple[str, ...], int], after_month: str
) -> Churn:
    """Churn between two plan tables (`plan_table`): dwellings planned for another convention (or month).

    Only months after `after_month` ("2026-05") are compared: both plans cover them with forecasts.
    """

    def half_l1(a: Mapping[tuple[str, ...], int], b: Mapping[tuple[str, ...], int]) -> int:
        diff = sum(abs(a.get(k, 0) - b.get(k, 0)) for k in {*a, *b})
        return diff // 2 + diff % 2

    months = sorted({k[1] for k in (*previous, *current) if k[1] > after_month})
    prev = {k: v for k, v in previous.items() if k[1] in months}
    cur = {k: v for k, v in current.items() if k[1] in months}
    prev_year: dict[tuple[str, ...], int] = {}
    cur_year: dict[tuple[str, ...], int] = {}
    for table, year in ((prev, prev_year), (cur, cur_year)):
        for (commune, _, convention), n in table.items():
            year[(commune, convention)] = year.get((commune, convention), 0) + n
    return Churn(
        compared_months=tuple(int(m[-2:]) for m in months),
        changed=half_l1(cur, prev),
        changed_year=half_l1(cur_year, prev_year),
        planned=sum(cur.values()),
    )


def designate(
    scenario: Scenario,
    as_of: dt.date,
    *,
    model: str | ModelSpec | None = None,
    with_plan: bool = True,
    previous_plan: Mapping[tuple[str, ...], int] | None = None,
    time_limit: float | None = None,
) -> WeeklyResult:
    """This week's designations on `as_of`, and the re-planned rest of the year.

    `model` (a spec, a shipped name or a path; default: the scenario's) gives the week's weights (its
    [weekly] section) and the plan's levels."""
    from fluxopt.domain.model_spec import load_model_spec

    if isinstance(model, ModelSpec):
        spec = model
    else:
        spec = load_model_spec(model or scenario.config.scenario.model, Path(scenario.folder))[0]
    state = weekly_state(scenario, as_of, spec.weekly)
    messages: list[str] = []
    columns = state.rowset.columns
    free = state.free
    week: WeekSolution | None = None
    chosen = np.zeros(0, dtype=np.int64)
    if len(free):
        rowset = _without_ended(state.rowset, free, state.ended)
        week = solve_week(
            rowset,
            state.offered,
            free,
            time_limit=time_limit,
            expected_loss=state.expected_loss,
            weekly=spec.weekly,
            days_left=_days_left(as_of),
        )
        chosen = week.columns
    elif as_of == dt.date(scenario.year, 12, 31):
        messages.append(
            f"Année {scenario.year} complète : tous les logements libérés sont désignés, rien à désigner."
        )
    else:
        messages.append(f"Aucun logement libre à désigner au {_fr_date(as_of)} (semaine sans vacance).")
    if state.ignored_vacancies:
        messages.append(
            f"{state.ignored_vacancies} libération(s) datée(s) après le {_fr_date(as_of)} : ignorée(s) cette "
            "semaine, elles seront désignées à leur date."
        )
    if state.ended:
        messages.append(
            f"Convention(s) terminée(s), plus rien ne leur est désigné : {', '.join(state.ended)}."
        )
    this_week = state.offered.copy()
    this_week[free, chosen] += 1
    reasons = _reasons(scenario, state, chosen)
    by_id = {c.id: c for c in scenario.conventions}
    stock = scenario.stock
    vac = scenario.vacancies
    lines = []
    for k, (u, j) in enumerate(zip(free.tolist(), chosen.tolist(), strict=True)):
        p = int(state.unit_vacancy[u])
        d = int(vac.dwelling[p])
        col = columns[j]
        conv = by_id.get(col)
        lines.append(
            Designation(
                dwelling=stock.dwelling_id[d],
                vacancy_date=_day(vac.date[p]),
                commune=stock.communes[int(stock.commune[d])],
                typology=TYPOLOGIES[int(stock.typology[d])],
                convention=col,
                reservataire=conv.reservataire if conv else BAILLEUR,
                contingent=scenario.contingent_of(conv).value if conv else "",
                reason=reasons[k],
            )
        )
    plan: Plan | None = None
    relaxed = False
    churn: Churn | None = None
    if with_plan:
        from fluxopt.planning import plan_rows

        plan, relaxed = _updated_plan(scenario, state, this_week, spec, time_limit)
        if relaxed:
            messages.append(
                "Plan du reste de l'année : les désignations passées rendent une règle légale impossible à "
                "tenir exactement ; le plan la suit au plus près (voir objectifs.csv, colonne impose)."
            )
        if previous_plan is not None:
            current = plan_table(plan_rows(plan, scenario))
            churn = plan_churn(previous_plan, current, f"{scenario.year}-{as_of.month:02d}")
    return WeeklyResult(
        state=state,
        designations=tuple(lines),
        week=week,
        plan=plan,
        plan_legal_relaxed=relaxed,
        churn=churn,
        messages=tuple(messages),
    )


def plan_table(rows: Iterable[Sequence[object]]) -> dict[tuple[str, ...], int]:
    """plan.csv rows → {(commune, month, convention): dwellings}.

    Churn is measured at this grain — how many dwellings each convention gets in each commune each month —
    because the forecast's rounding to cells moves from week to week while what agents follow does not.
    """
    out: dict[tuple[str, ...], int] = {}
    for row in rows:
        key = (str(row[0]), str(row[-4]), str(row[-3]))
        out[key] = out.get(key, 0) + int(str(row[-1]))
    return out


def read_plan_table(path: Path) -> dict[tuple[str, ...], int] | None:
    """A previous plan.csv written by fluxopt (either dialect), or None when absent or unreadable."""
    import csv
    import io

    if not path.is_file():
        return None
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    delimiter = ";" if text.split("\n", 1)[0].count(";") else ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows or rows[0][: len(PLAN_HEADER_START)] != list(PLAN_HEADER_START):
        return None
    body = [r for r in rows[1:] if r]
    # month column: "2026-03"; mois stays text in both dialects
    try:
        return plan_table(body)
    except (ValueError, IndexError):
        return None


PLAN_HEADER_START = ("commune", "typologie", "qpv")

DESIGNATIONS_HEADER = (
    "logement",
    "date_liberation",
    "commune",
    "typologie",
    "convention",
    "reservataire",
    "contingent_sne",
    "motif",
)


def write_designations(
    result: WeeklyResult,
    scenario: Scenario,
    out_dir: str | Path,
    *,
    dialect: str = "fr",
    manifest: RunManifest | None = None,
) -> Path:
    """designations.csv, the updated plan (plan.csv, objectifs.csv, sequence.csv) and manifest.json,
    swapped into `out_dir` in one piece: an interrupted run leaves last week's outputs intact."""
    from fluxopt.io.atomic import atomic_output_dir
    from fluxopt.io.csvwrite import csv_bytes
    from fluxopt.planning import OBJECTIVES_HEADER, PLAN_HEADER, SEQUENCE_HEADER, objective_rows, plan_rows

    files: dict[str, bytes] = {
        "designations.csv": csv_bytes(
            DESIGNATIONS_HEADER,
            [
                (
                    d.dwelling,
                    d.vacancy_date,
                    d.commune,
                    d.typology,
                    d.convention,
                    d.reservataire,
                    d.contingent,
                    d.reason,
                )
                for d in result.designations
            ],
            dialect,  # type: ignore[arg-type]
        )
    }
    if result.plan is not None:
        plan = result.plan
        files["plan.csv"] = csv_bytes(PLAN_HEADER, plan_rows(plan, scenario), dialect)  # type: ignore[arg-type]
        files["objectifs.csv"] = csv_bytes(OBJECTIVES_HEADER, objective_rows(plan), dialect)  # type: ignore[arg-type]
        files["sequence.csv"] = csv_bytes(
            SEQUENCE_HEADER,
            next_sequence_rows(result, scenario),
            dialect,  # type: ignore[arg-type]
        )
    target = Path(out_dir)
    with atomic_output_dir(target) as staged:
        for name, data in files.items():
            staged.write_bytes(name, data)
        if manifest is not None:
            manifest.outputs = [*files, "manifest.json"]
            manifest.results = weekly_results(result)
            manifest.finish(result.plan.status if result.plan is not None else "designe")
            staged.write_text("manifest.json", manifest.to_json())
    return target


def next_sequence_rows(result: WeeklyResult, scenario: Scenario) -> list[tuple[object, ...]]:
    """sequence.csv: per commune, the ordre de passage of the dwellings forecast after `as_of`.

    The order is the exact apportionment sequence (`order_of_passage`) of each commune's rest-of-year
    counts per convention, so every prefix — the next vacancies, whenever they come — stays within one
    dwelling of the plan's mix. It follows the plan per commune × convention, which moves little from week
    to week (measured: ~3 % of dwellings), rather than the plan's month split, which reshuffles more;
    the month column labels each rank with the month the plan expects it in.
    """
    from fluxopt.sequence import order_of_passage

    plan = result.plan
    if plan is None:
        return []
    units = plan.units
    future = ~units.realised
    reservataire = {c.id: c.reservataire for c in scenario.conventions}
    out: list[tuple[object, ...]] = []
    for code in sorted(np.unique(units.commune[future]).tolist(), key=lambda c: units.communes[c]):
        sel = future & (units.commune == code)
        per_column = plan.counts[sel].sum(axis=0)
        order = order_of_passage(
            {c: int(per_column[j]) for j, c in enumerate(plan.columns) if per_column[j] > 0}
        )
        per_month = np.bincount(units.month[sel], weights=plan.counts[sel].sum(axis=1), minlength=13).astype(
            int
        )
        months = np.repeat(np.arange(13), per_month)
        for rank, col in enumerate(order, start=1):
            month = int(months[rank - 1])
            out.append(
                (
                    units.communes[code],
                    rank,
                    f"{scenario.year}-{month:02d}",
                    col,
                    reservataire.get(col, BAILLEUR),
                )
            )
    return out


def _counters(state: WeeklyState) -> dict[str, dict[str, float]]:
    """Both counters of every column on `as_of` (before this week), beside its target on the base to date."""
    rowset = state.rowset
    offered = rowset.counts(state.offered)
    leases = rowset.counts(state.leases)
    late = (
        rowset.counts(state.expected_loss) if state.expected_loss is not None else np.zeros(len(rowset.rows))
    )
    out: dict[str, dict[str, float]] = {}
    for row in rowset.rows:
        if row.kind is RowKind.TOTAL:
            out[row.convention] = {
                "proposes": float(offered[row.index]),
                "baux_signes": float(leases[row.index]),
                "objectif_a_date": row.target,
                "carences_attendues_fin_annee": round(float(late[row.index]), 6),
            }
    return dict(sorted(out.items()))


def weekly_results(result: WeeklyResult) -> dict[str, Any]:
    """The figures of the manifest (recomputed from the outputs' data)."""
    state = result.state
    counts: dict[str, int] = {}
    for d in result.designations:
        counts[d.convention] = counts.get(d.convention, 0) + 1
    out: dict[str, Any] = {
        "date": state.as_of.isoformat(),
        "base_realisee": int(state.rowset.units.total),
        "logements_libres": len(state.free),
        "designations_par_convention": dict(sorted(counts.items())),
        "conventions_terminees": list(state.ended),
        "compteurs_a_date": _counters(state),
        "messages": list(result.messages),
    }
    if result.week is not None:
        out["semaine"] = {
            "statut": result.week.status,
            "objectif_pondere": result.week.objective,
            "borne": result.week.bound,
        }
    if result.plan is not None:
        from fluxopt.planning import plan_results

        out["plan"] = plan_results(result.plan)
        out["plan_regles_legales_assouplies"] = result.plan_legal_relaxed
    if result.churn is not None:
        out["changement_du_plan"] = {
            "mois_compares": list(result.churn.compared_months),
            "logements_changes_par_mois": result.churn.changed,
            "logements_changes_sur_l_annee": result.churn.changed_year,
            "logements_prevus": result.churn.planned,
            "part_par_mois": result.churn.share,
            "part_sur_l_annee": result.churn.share_year,
        }
    return out
