"""Pacing repair: re-time the designations of the conventions whose month ends drift, no level worse.

Why: the annual levels are solved on month-blind blocks, and even the best month split of *that*
allocation can leave a month-end row more than one dwelling off (measured on cap-habitat: the optimal
split of the annual plan still had 7 rows above 1). The annual plan's row counts, however, are
compatible with far better pacing: with every non-pacing row (totals, representativeness, wishes,
legal) held at its count, a plan exists whose month ends are all at their rounding floor. Finding it for
the whole plan at once is slow (26 s on cap-habitat); doing it for the few conventions with a row above
one dwelling — the others keep their designations — took 2 s and left no row above 1; holding their
rows within their current deviation rather than at their exact count, 0.7 s for the same month ends.

The neighbourhood model, on the by-month blocks (segment cell × month × eligibility):
- variables: how many of a block's dwellings each *free* column receives (free = the drifting
  conventions and the landlord, who has no pacing row and absorbs the exchanges);
- every other column keeps its designations exactly;
- every non-pacing row of a free column is held: a total or representativeness row within its current
  deviation (its count may move to the other side of the target, never further), legal rows and wishes
  at their count — so no level gets worse and every legal row stays met, by construction;
- objective: the free columns' month-end deviations, with the rounding cut; the current plan is the hint,
  so the result is never worse.

The drifting conventions are re-timed group by group — conventions that may receive the same dwellings
together, usually one département's — each model holding the rows as the previous group left them. One
model for all of them spent seconds in HiGHS's root cuts: grand-bailleur's weekly re-plan (31/03), 8.6 s
at once, 3.0 s by département for the same month ends. On the generated large landlord (300,000
dwellings), where the single model was too large to try, an experiment gave its 15-s plan 40 s more: two of
its three départements' groups fitted under `MAX_FREE_VARS` and were repaired in 16.9 s (pacing 785.8 →
550.4, the rounding floor 447.8); within `plan` itself no time is left at 15 s, and at 60 s the plan
leaves more conventions drifting and every group is above the cap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fluxopt.model.builder import build_annual, build_linear
from fluxopt.model.decompose import linked
from fluxopt.model.months import spread_to_units
from fluxopt.model.solver import SolveSettings, Status, solve_near
from fluxopt.rows import BAILLEUR, Row, RowKind, RowSet, Sense

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: above this many free allocation variables a group's repair is not tried: on the generated large landlord
#: (52 drifting conventions in one model, ≈ 51,000 variables) HiGHS found nothing better in 40 s and overran
#: its time limit by 40 s; on cap-habitat (≈ 3,900) it ends, proven, in 0.7–2.5 s
MAX_FREE_VARS = 15_000

#: a month-end row counts as drifting above this deviation (dwellings)
DRIFT = 1.0 + 1e-9

#: conventions re-timed: those with a month end at one dwelling or more. Including the ones exactly at the
#: limit gives the repair room (measured: Cap Habitat pacing 70.2 → 66.6 for + 0.3 s, the shipped
#: grand-bailleur 185.8 → 183.6, same time); at 0.5 the repair took 20 s for 61.2
SELECT = 1.0 - 1e-9

#: second round (`around=True`): conventions with a month end above this, re-timed together with every
#: convention that may receive their dwellings, on those dwellings only. Measured on Cap Habitat (dual-simplex
#: start): 0.9 → 71.2 to 66.3 and no month end above 1 in 0.2 s; 0.7 → 61.2 but 20 s
AROUND_SELECT = 0.9


@dataclass(frozen=True)
class RepaceStats:
    columns: int  # conventions re-timed (landlord excluded)
    before: float  # Σ pacing deviations before
    after: float
    rows_above_one_before: int
    rows_above_one_after: int
    seconds: float
    status: str


def _pacing(rowset: RowSet, counts: IntArray) -> tuple[float, int, npt.NDArray[np.float64]]:
    mask = rowset.mask(RowKind.PACING)
    dev = rowset.evaluate(counts).deviation
    return float(dev[mask].sum()), int((dev[mask] > DRIFT).sum()), dev


def repace(
    rowset: RowSet,
    counts: IntArray,
    fixed: IntArray,
    settings: SolveSettings,
    *,
    time_limit: float,
    around: bool = False,
) -> tuple[IntArray, RepaceStats]:
    """Counts [units, columns] with the drifting conventions re-timed; `fixed` designations never move.

    The drifting conventions are re-timed group by group (`_groups`: conventions that can receive the same
    dwellings, usually one département's), each group's non-pacing rows held within their deviation as
    it stands after the previous group — so no level gets worse at any step.

    With `around`, the conventions with a month end above `AROUND_SELECT` are re-timed together with their
    neighbours — every convention eligible on one of their dwellings — but only on those dwellings: a
    convention whose own rows leave it no exchange with the landlord (its representativeness rows at their
    floor) can still trade months with a neighbour, at the cost of a small model."""
    start = time.perf_counter()
    before, above, dev = _pacing(rowset, counts)
    columns = rowset.columns
    movable = _first_free_month(rowset, fixed)
    drifting = sorted(
        {
            columns.index(r.convention)
            for r in rowset.rows
            if r.kind is RowKind.PACING
            and dev[r.index] > (AROUND_SELECT if around else SELECT)
            and int(r.value[-2:]) >= movable[columns.index(r.convention)]
        }
    )
    area: npt.NDArray[np.bool_] | None = None
    if around and drifting:
        eligible = rowset.eligible()
        area = np.asarray(eligible[:, drifting].any(axis=1), dtype=bool)
        neighbours = set(np.flatnonzero(eligible[area].any(axis=0)).tolist())
        drifting = sorted((set(drifting) | neighbours) - {columns.index(BAILLEUR)})

    def stats(after: float, above_after: int, status: str) -> RepaceStats:
        return RepaceStats(
            len(drifting), before, after, above, above_after, time.perf_counter() - start, status
        )

    if not drifting or time_limit <= 0.05 or BAILLEUR not in columns:
        return counts, stats(before, above, "inutile" if not drifting else "sans temps")
    groups = [drifting] if around else _groups(rowset, drifting)
    statuses = []
    for group in groups:
        left = time_limit - (time.perf_counter() - start)
        if left <= 0.05 or settings.interrupt.triggered:
            statuses.append("sans temps")
            break
        counts, status = _retime(rowset, counts, fixed, settings, group, area, left)
        statuses.append(status)
    after, above_after, _ = _pacing(rowset, counts)
    done = [x for x in statuses if x not in (Status.OPTIMAL.value, "inutile")]
    return counts, stats(after, above_after, done[0] if done else Status.OPTIMAL.value)


def _groups(rowset: RowSet, drifting: list[int]) -> list[list[int]]:
    """The drifting columns in groups that share no dwelling they may receive (the landlord aside, who may
    receive every dwelling): usually one département's conventions. Why: one model over all of them is
    much slower than one per group in turn (grand-bailleur's weekly re-plan, 31/03: 8.6 s at once,
    0.3 + 1.9 + 1.3 s by département, the same month ends at the end). In turn, not at once on two threads:
    the groups share the landlord's total, so at once each would hold it at its count — tried (30/11), the
    same re-plan's first round took 5.8 s on two threads (9.1 s on one) instead of 3.8 s in turn, and its
    representativeness ended 204.02 instead of 202.02: the landlord's band is where the groups trade."""
    shared = rowset.eligible()[:, drifting]
    patterns = np.unique(shared[shared.sum(axis=1) > 1], axis=0)  # dwellings two of them may receive
    label = linked(len(drifting), (np.flatnonzero(pattern) for pattern in patterns))
    return [[drifting[i] for i in np.flatnonzero(label == k)] for k in np.unique(label).tolist()]


def _retime(
    rowset: RowSet,
    counts: IntArray,
    fixed: IntArray,
    settings: SolveSettings,
    drifting: list[int],
    area: npt.NDArray[np.bool_] | None,
    time_limit: float,
) -> tuple[IntArray, str]:
    """Re-time the columns `drifting` (and the landlord) once: the neighbourhood model of the module
    docstring, its non-pacing rows held within their deviation in `counts`; `counts` back unchanged when
    the result would be worse anywhere (defensive: the model forbids it)."""
    columns = rowset.columns
    before, _, dev = _pacing(rowset, counts)
    free_cols = np.zeros(len(columns), dtype=bool)
    free_cols[drifting] = True
    free_cols[columns.index(BAILLEUR)] = True
    # everything held by a non-free column, and every past designation, is fixed
    held = np.where(free_cols[None, :], fixed, counts)
    if area is not None:
        held[~area] = counts[~area]  # outside the drifting conventions' dwellings, nothing moves
    problem = build_annual(rowset, held, by_month=True)
    keep = free_cols[problem.var_col]
    pace = [
        i
        for i, r in enumerate(problem.rows)
        if r.kind is RowKind.PACING and free_cols[columns.index(r.convention)]
    ]
    if int(keep.sum()) > MAX_FREE_VARS:
        return counts, "trop grand"
    model = build_linear(problem, set(pace), set())
    lp = model.lp
    lp.ub[0][~keep] = 0.0  # a free dwelling goes to a free column
    # the current plan, as variables of the by-month blocks
    current = np.zeros((problem.blocks.n, len(columns)), dtype=np.int64)
    np.add.at(current, problem.blocks.of_unit, counts - held)
    x0 = current[problem.var_block, problem.var_col]
    # non-pacing rows with a free column held at their current counts (levels and legal rows unchanged)
    now = rowset.counts(counts)
    # (legal rows are named after the réservataire, not a column: select rows by their terms)
    touched = np.zeros(len(problem.rows), dtype=bool)
    touched[problem.term_row[keep[problem.term_var]]] = True
    held_rows = [i for i, r in enumerate(problem.rows) if r.kind is not RowKind.PACING and touched[i]]
    if held_rows:
        position = np.full(len(problem.rows), -1, dtype=np.int64)
        position[held_rows] = np.arange(len(held_rows))
        sel = (position[problem.term_row] >= 0) & keep[problem.term_var]
        lo, hi = _bands(problem.rows, held_rows, now)
        shift = problem.fixed_count[held_rows]
        lp.add_cons(
            position[problem.term_row[sel]], model.x[problem.term_var[sel]], np.ones(int(sel.sum())), lo - shift,
            hi - shift,
            len(held_rows),
        )  # fmt: skip
    hint = np.full(lp.n_vars, np.nan)
    hint[model.x] = x0
    objective = {model.dev[i]: 1.0 for i in pace}
    outcome = solve_near(lp, objective, settings, model.x, x0, time_limit=time_limit, hint=hint)
    if outcome.values is None or outcome.status not in (Status.OPTIMAL, Status.FEASIBLE, Status.INTERRUPTED):
        return counts, outcome.status.value
    x = np.rint(outcome.values[model.x]).astype(np.int64)
    new = held.copy()
    per_block = np.zeros((problem.blocks.n, len(columns)), dtype=np.int64)
    per_block[problem.var_block, problem.var_col] = x
    order = np.argsort(problem.blocks.of_unit, kind="stable")
    spread_to_units(
        order, problem.blocks.of_unit[order], per_block, rowset.units.base - held.sum(axis=1), new
    )
    after, _, _ = _pacing(rowset, new)
    held_index = [problem.rows[i].index for i in held_rows]
    dev_new = rowset.evaluate(new).deviation[held_index]
    if after > before + 1e-9 or np.any(dev_new > dev[held_index] + 1e-9):
        return counts, "rejeté"  # never worse, no row above pacing worse (defensive)
    return new, outcome.status.value


def _first_free_month(rowset: RowSet, fixed: IntArray) -> IntArray:
    """Per column, the first month with a dwelling it may still receive (13 when none): a month end before
    it is made of past designations only, and no re-timing can move it (weekly re-planning: the months
    before the date are history). Measured on Cap Habitat re-planned at 30/06: selecting conventions on those
    rows too made the repair 3.8 s + 3.8 s for nothing."""
    units = rowset.units
    free = (units.base - fixed.sum(axis=1)) > 0
    eligible = rowset.eligible() & free[:, None]
    months = np.where(eligible, units.month[:, None], 13)
    return np.asarray(months.min(axis=0) if len(units) else np.full(len(rowset.columns), 13), dtype=np.int64)


def _bands(
    rows: tuple[Row, ...], held: list[int], now: npt.NDArray[np.float64]
) -> tuple[FloatArray, FloatArray]:
    """Admissible counts of the held rows: a total or representativeness row may move only where its
    deviation does not grow (``|c − t| ≤ |now − t|``); legal rows and wishes stay at their count.
    Measured on cap-habitat: the bands found the same month ends as exact counts in 0.7 s instead of 2.1 s."""
    lo = np.empty(len(held))
    hi = np.empty(len(held))
    for k, i in enumerate(held):
        r = rows[i]
        c = float(now[r.index])
        lo[k] = hi[k] = c
        if not r.hard and r.sense is Sense.EQ and r.kind in (RowKind.TOTAL, RowKind.REPRESENTATIVENESS):
            d = abs(c - r.target)
            lo[k] = np.ceil(r.target - d - 1e-9)
            hi[k] = np.floor(r.target + d + 1e-9)
    return lo, hi
