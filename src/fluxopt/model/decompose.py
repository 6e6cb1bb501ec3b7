"""Large plans: coordinate descent over communes, each step an exact small MIP (HiGHS).

On a large landlord (hundreds of communes, ~200 conventions, ~20,000 vacancies) the lexicographic MIP
over the whole year is too large for a one-thread solver to find good plans within seconds. This module
trades the proof for speed:

1. a start: one min-cost flow gives every convention its total (convex cost around share × base);
2. sweeps over the communes, in code order: the units of one commune (cell × month) are freed, every
   other designation is held, and a small MIP re-optimises all rows the commune touches — legal rows,
   totals, representativeness, wishes and pacing, with the rounding cut — as a weighted sum whose
   weights follow the levels of the models/ file (hard rows ≫ level 1 ≫ level 2 … ≫ pacing). Each step
   can only lower the weighted objective (the current designations are its hint and remain feasible).

The levels are then reported with bounds from the block-level LP relaxation with the rounding cut
(`lp_bounds`), so the gap of a decomposed plan is stated, never hidden.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from fluxopt.domain.model_spec import ModelSpec
from fluxopt.model.builder import INF, AnnualProblem, Blocks, build_annual, build_linear
from fluxopt.model.flow import SoftFlow, convex_edges
from fluxopt.model.solver import SolveSettings, solve
from fluxopt.rows import BAILLEUR, RowKind, RowSet, deviation

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

HARD_WEIGHT = 1e5


@dataclass(frozen=True)
class DecomposedResult:
    counts: IntArray
    steps: int
    seconds: float


def linked(n: int, sets: Iterable[npt.NDArray[np.signedinteger[Any]]]) -> IntArray:
    """The class of each of `n` items once the members of every set are linked (union-find), labelled by its
    smallest item — so the labels do not depend on the sets' order. One helper for the planner's components
    (blocks linked by rows, `annual.components`) and the pacing repair's groups (conventions linked by the
    dwellings they may share, `repace._groups`)."""
    parent = np.arange(n)

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = int(parent[a])
        return a

    for members in sets:
        if len(members) < 2:
            continue
        root = find(int(members[0]))
        for m in members[1:]:
            other = find(int(m))
            if other != root:  # the smaller root stays: every class is labelled by its smallest item
                root, loser = min(root, other), max(root, other)
                parent[loser] = root
    return np.array([find(i) for i in range(n)], dtype=np.int64)


def level_weights(spec: ModelSpec, pacing: bool) -> dict[RowKind, float]:
    """Weights that emulate the levels' order: each level 100× the next (pacing last, weight 1)."""
    kinds: list[RowKind] = []
    for lv in spec.levels:
        for k in lv.rows:
            if RowKind(k) not in kinds:
                kinds.append(RowKind(k))
    if pacing:
        kinds.append(RowKind.PACING)
    n = len(kinds)
    return {k: float(100 ** (n - 1 - i)) if i < n - 1 else 1.0 for i, k in enumerate(kinds)}


def _start(problem: AnnualProblem) -> IntArray:
    """Totals by one min-cost flow: blocks → eligible columns → convex cost around each total target."""
    rowset = problem.rowset
    n_cols = len(rowset.columns)
    net = SoftFlow()
    sink = int(net.nodes(1)[0])
    b_nodes = net.nodes(problem.blocks.n)
    c_nodes = net.nodes(n_cols)
    cap = problem.blocks.free[problem.var_block]
    arcs = net.edges(b_nodes[problem.var_block], c_nodes[problem.var_col], cap, np.zeros(len(cap), np.int64))
    total = int(problem.blocks.free.sum())
    totals = {r.convention: r.target for r in rowset.rows if r.kind is RowKind.TOTAL}
    for k, col in enumerate(rowset.columns):
        if col == BAILLEUR:
            net.edges([c_nodes[k]], [sink], [total], [0])
        else:
            done = float(problem.fixed[:, k].sum())
            convex_edges(net, [c_nodes[k]], [sink], [totals.get(col, 0.0) - done], total)
    for b in range(problem.blocks.n):
        if problem.blocks.free[b]:
            net.add_supply(int(b_nodes[b]), int(problem.blocks.free[b]))
    net.add_supply(sink, -total)
    return net.solve()[arcs].astype(np.int64)


def _subproblem(
    problem: AnnualProblem, vmask: npt.NDArray[np.bool_], x: IntArray, counts: FloatArray
) -> tuple[AnnualProblem, IntArray]:
    """The problem restricted to variables `vmask`, every other variable held at `x`."""
    idx = np.flatnonzero(vmask)
    new_var = np.full(problem.n_vars, -1, dtype=np.int64)
    new_var[idx] = np.arange(len(idx))
    tmask = vmask[problem.term_var]
    rows_touched = np.unique(problem.term_row[tmask])
    new_row = np.full(len(problem.rows), -1, dtype=np.int64)
    new_row[rows_touched] = np.arange(len(rows_touched))
    keep = tmask & (new_row[problem.term_row] >= 0)
    own = np.zeros(len(problem.rows))
    np.add.at(own, problem.term_row[keep], x[problem.term_var[keep]])
    fixed_count = (counts - own)[rows_touched]
    blocks_used, vb = np.unique(problem.var_block[idx], return_inverse=True)
    remap = np.full(problem.blocks.n, -1, dtype=np.int64)
    remap[blocks_used] = np.arange(len(blocks_used))
    blocks = Blocks(
        of_unit=remap[problem.blocks.of_unit],  # -1: a unit outside the sub-problem
        free=problem.blocks.free[blocks_used],
        eligible=problem.blocks.eligible[blocks_used],
    )
    sub = replace(
        problem,
        blocks=blocks,
        var_block=vb.astype(np.int64),
        var_col=problem.var_col[idx],
        rows=tuple(problem.rows[i] for i in rows_touched),
        term_row=new_row[problem.term_row[keep]],
        term_var=new_var[problem.term_var[keep]],
        fixed_count=fixed_count,
    )
    return sub, idx


def solve_by_communes(
    rowset: RowSet,
    spec: ModelSpec,
    settings: SolveSettings,
    fixed: IntArray | None = None,
    *,
    sweeps: int = 2,
) -> DecomposedResult:
    """Designations [units, columns] by coordinate descent over communes (module docstring)."""
    start = time.perf_counter()
    deadline = start + settings.time_limit
    problem = build_annual(rowset, fixed, by_month=True)
    weights_by_kind = level_weights(spec, spec.pacing.enabled)
    weight = np.array(
        [
            HARD_WEIGHT if (r.hard and spec.legal == "hard") else weights_by_kind.get(r.kind, 0.0)
            for r in problem.rows
        ]
    )
    x = _start(problem)
    units = rowset.units
    first_unit = np.full(problem.blocks.n, -1, dtype=np.int64)
    first_unit[problem.blocks.of_unit[::-1]] = np.arange(len(units))[::-1]
    block_commune = units.commune[first_unit]
    var_commune = block_commune[problem.var_block]
    communes = np.unique(var_commune)
    steps = 0
    for _sweep in range(sweeps):
        for code in communes.tolist():
            if settings.interrupt.triggered or time.perf_counter() > deadline:
                break
            counts = problem.fixed_count.astype(np.float64).copy()
            np.add.at(counts, problem.term_row, x[problem.term_var])
            vmask = var_commune == code
            sub, idx = _subproblem(problem, vmask, x, counts)
            soft = {i for i, r in enumerate(sub.rows) if weight[_row_pos(problem, r)] > 0}
            model = build_linear(sub, soft, set())
            objective = {model.dev[i]: float(weight[_row_pos(problem, sub.rows[i])]) for i in soft}
            hint = np.full(model.lp.n_vars, np.nan)
            hint[model.x] = x[idx]
            sub_counts = sub.fixed_count.copy()
            np.add.at(sub_counts, sub.term_row, x[idx][sub.term_var])
            dev = deviation(sub_counts, [r.target for r in sub.rows], [r.sense.value for r in sub.rows])
            for i, var in model.dev.items():
                hint[var] = dev[i]
            remaining = max(0.05, deadline - time.perf_counter())
            outcome = solve(
                model.lp,
                objective,
                settings,
                time_limit=min(remaining, max(0.2, settings.time_limit / 20)),
                hint=hint,
            )
            steps += 1
            if outcome.values is not None:
                new = np.rint(outcome.values[model.x]).astype(np.int64)
                if _weighted(sub, new, weight, problem) <= _weighted(sub, x[idx], weight, problem) + 1e-9:
                    x[idx] = new
    counts_units = _to_units(problem, x)
    return DecomposedResult(counts_units, steps, time.perf_counter() - start)


_POS_CACHE: dict[int, dict[int, int]] = {}


def _row_pos(problem: AnnualProblem, row) -> int:  # type: ignore[no-untyped-def]
    cache = _POS_CACHE.setdefault(id(problem), {r.index: i for i, r in enumerate(problem.rows)})
    return cache[row.index]


def _weighted(sub: AnnualProblem, xs: IntArray, weight: FloatArray, problem: AnnualProblem) -> float:
    counts = sub.fixed_count.copy()
    np.add.at(counts, sub.term_row, xs[sub.term_var])
    dev = deviation(counts, [r.target for r in sub.rows], [r.sense.value for r in sub.rows])
    w = np.array([weight[_row_pos(problem, r)] for r in sub.rows])
    return float((w * dev).sum())


def _to_units(problem: AnnualProblem, x: IntArray) -> IntArray:
    """Spread block allocations (cell × month × eligibility) over their units, in unit order."""
    units = problem.rowset.units
    n_cols = len(problem.rowset.columns)
    counts = problem.fixed.copy()
    left = np.zeros((problem.blocks.n, n_cols), dtype=np.int64)
    left[problem.var_block, problem.var_col] = x
    free = units.base - problem.fixed.sum(axis=1)
    for u in np.flatnonzero(free > 0).tolist():
        b = int(problem.blocks.of_unit[u])
        room = int(free[u])
        for k in np.flatnonzero(left[b]).tolist():
            take = min(room, int(left[b, k]))
            counts[u, k] += take
            left[b, k] -= take
            room -= take
            if room == 0:
                break
    return counts


def lp_bounds(
    problem: AnnualProblem, spec: ModelSpec, values: list[float], settings: SolveSettings
) -> list[float | None]:
    """Lower bound of each level from the LP relaxation with the rounding cut, earlier levels held at
    the plan's values (`values`): valid for any plan at least as good on the earlier levels."""
    from fluxopt.model.annual import level_rows

    hard = {i for i, r in enumerate(problem.rows) if r.hard} if spec.legal == "hard" else set()
    levels = [level_rows(problem, lv.rows) for lv in spec.levels]
    model = build_linear(problem, {i for pos in levels for i in pos}, hard)
    for part in model.lp.integer:
        part[:] = False
    out: list[float | None] = []
    for lv, positions, value in zip(spec.levels, levels, values, strict=True):
        if not positions:
            out.append(0.0)
            continue
        if lv.objective == "max":
            out.append(max(problem.rows[i].floor for i in positions))
        else:
            res = solve(model.lp, {model.dev[i]: 1.0 for i in positions}, settings)
            out.append(res.bound if res.bound is not None else res.objective)
            ids = np.array([model.dev[i] for i in positions], dtype=np.int64)
            model.lp.add_cons(
                np.zeros(len(ids), np.int64), ids, np.ones(len(ids)), -INF, value + 1e-6 * max(1.0, value), 1
            )
    return out


def lp_bounds_model(
    problem: AnnualProblem,
    model: Any,
    levels: list[tuple[Any, list[int]]],
    values: list[float],
    settings: SolveSettings,
    deadline: float,
) -> list[float | None]:
    """Like `lp_bounds`, on an already built linear model (its integrality is restored afterwards)."""
    integer = [part.copy() for part in model.lp.integer]
    n_cons = model.lp.n_cons
    saved = (
        list(model.lp.a_row),
        list(model.lp.a_col),
        list(model.lp.a_val),
        list(model.lp.con_lb),
        list(model.lp.con_ub),
    )
    out: list[float | None] = [None] * len(levels)
    try:
        for part in model.lp.integer:
            part[:] = False
        for li, ((lv, positions), value) in enumerate(zip(levels, values, strict=True)):
            remaining = deadline - time.perf_counter()
            if remaining < 0.2 or not positions or lv.objective != "sum":
                break
            res = solve(
                model.lp,
                {model.dev[i]: 1.0 for i in positions},
                settings,
                time_limit=remaining,
                lp_algorithm="ipm",
            )
            if res.status.value != "optimal":
                break
            out[li] = res.bound if res.bound is not None else res.objective
            ids = np.array([model.dev[i] for i in positions], dtype=np.int64)
            model.lp.add_cons(
                np.zeros(len(ids), np.int64), ids, np.ones(len(ids)), -INF, value + 1e-6 * max(1.0, value), 1
            )
    finally:
        model.lp.integer = integer
        model.lp.a_row, model.lp.a_col, model.lp.a_val, model.lp.con_lb, model.lp.con_ub = (
            list(x) for x in saved
        )
        model.lp.n_cons = n_cons
    return out
