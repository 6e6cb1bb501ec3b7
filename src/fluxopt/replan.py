"""Weekly re-planning (*re-planification hebdomadaire*): this week's designations from the year to date.

The weekly question: the dwellings freed and not yet designated on `--as-of` go to which convention (or
stay with the landlord)? fluxopt answers it with the planner's model (`fluxopt.model.builder` and
`fluxopt.model.annual`) on the rows of the base seen so far: the realised base to date (targets
re-normalised on it), the designations already made fixed as counted (a carence counts to the landlord
when its convention does not count it), and the free dwellings as the only decisions. Every row — totals,
representativeness, wishes, legal rules — is brought as close as the week allows to share × realised base,
jointly for all the week's dwellings and with the rounding cut, so each week ends as close to target as
whole dwellings permit. Because the targets are re-normalised on the realised base every week, the year
ends on target whatever the turnover turns out to be.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fluxopt.errors import NoSolutionError
from fluxopt.model.annual import row_deviations
from fluxopt.model.builder import AnnualProblem, build_annual, build_linear
from fluxopt.model.solver import Backend, SolveSettings, solve
from fluxopt.policies import TOTAL_WEIGHT, Policy, WeekProblem
from fluxopt.rows import RowKind, RowSet

__all__ = ["WEEKLY_WEIGHTS", "ReplanPolicy", "WeekSolution", "allocate_units", "solve_week"]

IntArray = npt.NDArray[np.int64]

#: Weight of each kind of row in the weekly model (deviations in dwellings). Totals and legal rules weigh
#: `TOTAL_WEIGHT` times a representativeness row. Legal rows are soft here, not hard as in the annual plan:
#: they concern the year, and holding the préfet's per-commune band and his minimum outside QPV exactly on
#: every week's running base is often impossible once past weeks are fixed; weighted, they are met at the
#: year end (measured by `fluxopt simulate`).
WEEKLY_WEIGHTS: dict[RowKind, float] = {
    RowKind.TOTAL: TOTAL_WEIGHT,
    RowKind.LEGAL: TOTAL_WEIGHT,
    RowKind.REPRESENTATIVENESS: 1.0,
    RowKind.WISH: 1.0,
}

#: Extra weight (per dwelling, times the row's weight) of the part of a deviation beyond one dwelling.
EXCESS_WEIGHT = 3.0
EXCESS_KINDS = frozenset({RowKind.TOTAL, RowKind.REPRESENTATIVENESS})

#: Relative optimality gap of the weekly model. The objective carries the constant deviations of rows the
#: week cannot touch, so 0.5 % is a fraction of a dwelling; it halves the slowest weeks (measured).
WEEKLY_GAP = 0.005

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
    rowset: RowSet, fixed: IntArray, free_units: IntArray, *, time_limit: float | None = None
) -> WeekSolution:
    """Designate `free_units` of `rowset` (rows on the base seen so far) given `fixed` designations.

    One weighted solve of the planner's linear model (`build_annual` + `build_linear`, with the rounding
    cut) over every non-pacing row; the objective is recomputed from the chosen designations.
    """
    start = time.perf_counter()
    problem = build_annual(rowset, fixed)
    weights = np.array([WEEKLY_WEIGHTS.get(r.kind, 0.0) for r in problem.rows], dtype=np.float64)
    soft = {i for i, w in enumerate(weights) if w > 0}
    model = build_linear(problem, soft, set())
    objective = {model.dev[i]: float(weights[i]) for i in sorted(soft)}
    # convex penalty on the part of a deviation beyond one dwelling: spreads unavoidable deviations over
    # several rows rather than leaving one row far off (the squared deviation of the greedy, linearised)
    beyond = sorted(i for i in soft if problem.rows[i].kind in EXCESS_KINDS)
    if beyond and EXCESS_WEIGHT > 0:
        lp = model.lp
        extra = lp.add_vars(np.zeros(len(beyond)), np.full(len(beyond), np.inf), integer=False)
        n = len(beyond)
        lp.add_cons(
            np.repeat(np.arange(n), 2),
            np.column_stack([extra, [model.dev[i] for i in beyond]]).ravel(),
            np.tile([1.0, -1.0], n),
            np.full(n, -1.0),
            np.inf,
            n,
        )
        for k, i in enumerate(beyond):
            objective[int(extra[k])] = EXCESS_WEIGHT * float(weights[i])
    settings = SolveSettings(
        backend=Backend.HIGHS,
        time_limit=WEEKLY_TIME_LIMIT if time_limit is None else time_limit,
        seed=0,
        relative_gap=WEEKLY_GAP,
    )
    outcome = solve(model.lp, objective, settings)
    if outcome.values is None:  # pragma: no cover - every allocation is feasible without hard rows
        raise NoSolutionError(f"Aucune désignation trouvée pour la semaine ({outcome.status.value}).")
    x = np.rint(outcome.values[model.x]).astype(np.int64)
    weighted = float((weights * row_deviations(problem, x)).sum())
    return WeekSolution(
        columns=allocate_units(problem, x, free_units),
        status=outcome.status.value,
        objective=weighted,
        bound=outcome.bound,
        seconds=time.perf_counter() - start,
    )


class ReplanPolicy(Policy):
    """fluxopt's weekly re-planning as a policy of the year replay."""

    name = "fluxopt"

    def __init__(self, time_limit: float | None = None) -> None:
        self.time_limit = time_limit

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
        week = solve_week(rowset, problem.fixed[arrived], local.astype(np.int64), time_limit=self.time_limit)
        return week.columns
