"""Solve the annual allocation level by level (or weighted), with bounds, hints and a diagnosis pass.

Lexicographic levels (CP-SAT and HiGHS have no native mode): solve level 1; bound its objective by the
value reached (plus the level's tolerance); keep the plan as a hint; solve level 2; and so on. A level is
skipped — and proven optimal at no cost — when the current plan already reaches its rounding floor
(Σ dist(target, ℤ), a bound no integer plan can beat). Every reported value is recomputed from the
integer plan, never read from the solver's objective; the proven bound of a level is the larger of the
solver's dual bound and the rounding floor.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from fluxopt.domain.model_spec import ModelSpec
from fluxopt.model.builder import INF, AnnualModel, AnnualProblem, build_linear
from fluxopt.model.solver import (
    Backend,
    SolveOutcome,
    SolveSettings,
    Status,
    solve,
    solve_near,
    solve_relaxation,
)
from fluxopt.rows import BAILLEUR, Row, RowKind, deviation

#: above this many variables, the annual model is solved by LP rounding instead of exact levels
EXACT_MAX_VARS = 5_000

#: environment variable: "1" keeps the level loop on one thread (no relaxations ahead)
SOLVER_THREADS = "FLUXOPT_SOLVER_THREADS"

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class LevelResult:
    """Outcome of one objective level."""

    name: str
    kinds: tuple[str, ...]
    objective: str  # "sum" | "max"
    rows: int
    value: float  # recomputed from the plan
    bound: float | None  # proven lower bound (given earlier levels)
    floor: float  # rounding floor of the level (Σ or max of the rows' floors)
    status: str  # optimal | feasible | interrupted | skipped(floor) | heuristic
    seconds: float

    @property
    def gap(self) -> float | None:
        """Relative gap (value − bound) / value; 0 when both are 0; None without a bound."""
        if self.bound is None:
            return None
        if self.value <= 1e-9:
            return 0.0
        return max(0.0, (self.value - self.bound) / self.value)

    @property
    def proven(self) -> bool:
        return self.status in ("optimal", "floor") or (self.gap is not None and self.gap <= 1e-6)


@dataclass
class Progress:
    """Live figures for the progress line (updated from the solver's log)."""

    level: str = ""
    level_index: int = 0
    levels: int = 0
    objective: float | None = None
    bound: float | None = None
    started: float = field(default_factory=time.perf_counter)

    def on_log(self, line: str) -> None:
        """Parse a HiGHS branch-and-bound line: `[src] nodes queue leaves expl% bound sol gap% ...`."""
        tokens = line.split()
        if tokens and len(tokens[0]) == 1 and tokens[0].isalpha():
            tokens = tokens[1:]
        if len(tokens) < 11 or not tokens[0].isdigit() or not tokens[3].endswith("%"):
            return
        try:
            bound = float(tokens[4])
            sol = float(tokens[5]) if tokens[5] != "inf" else None
        except ValueError:
            return
        self.bound = bound
        if sol is not None:
            self.objective = sol

    def line(self) -> str:
        """The progress line, in French."""
        if self.level_index:
            parts = [f"niveau {self.level_index}/{self.levels} ({self.level})"]
        else:  # a stage that is not one level (the large path's components)
            parts = [self.level or "calcul"]
        if self.objective is not None:
            parts.append(f"objectif {self.objective:.2f}".replace(".", ","))
        if self.bound is not None:
            parts.append(f"borne {self.bound:.2f}".replace(".", ","))
        if self.objective is not None and self.bound is not None and self.objective > 1e-9:
            gap = max(0.0, (self.objective - self.bound) / self.objective) * 100
            parts.append(f"écart {gap:.1f} %".replace(".", ","))
        parts.append(f"{time.perf_counter() - self.started:.1f} s".replace(".", ","))
        return " · ".join(parts)


@dataclass(frozen=True)
class AnnualSolution:
    x: IntArray  # per variable of the problem
    levels: tuple[LevelResult, ...]
    status: str  # optimal (every level proven) | feasible | interrupted
    bound_total: float | None
    #: the levels' bounds still being computed on another thread (`_solve_large` with `later`): `settled()`
    pending: Callable[[], AnnualSolution] | None = None

    def settled(self) -> AnnualSolution:
        """This solution once its levels' bounds are in (waits for them if they are still computed)."""
        return self if self.pending is None else self.pending()


def level_rows(problem: AnnualProblem, kinds: tuple[str, ...]) -> list[int]:
    wanted = {RowKind(k) for k in kinds}
    return [i for i, r in enumerate(problem.rows) if r.kind in wanted and not r.hard]


def plan_counts_from_x(problem: AnnualProblem, x: IntArray) -> FloatArray:
    """Every row of `problem.rows`: fixed + Σ x (recomputed from the integer plan)."""
    counts = problem.fixed_count.astype(np.float64).copy()
    np.add.at(counts, problem.term_row, x[problem.term_var].astype(np.float64))
    return counts


def row_deviations(problem: AnnualProblem, x: IntArray) -> FloatArray:
    counts = plan_counts_from_x(problem, x)
    rows = problem.rows
    return deviation(counts, [r.target for r in rows], [r.sense.value for r in rows])


def level_value(dev: FloatArray, positions: list[int], objective: str) -> float:
    if not positions:
        return 0.0
    vals = dev[positions]
    return float(vals.max() if objective == "max" else vals.sum())


def level_floor(rows: tuple[Row, ...], positions: list[int], objective: str) -> float:
    floors = [rows[i].floor for i in positions]
    if not floors:
        return 0.0
    return float(max(floors) if objective == "max" else sum(floors))


def solve_annual(
    problem: AnnualProblem,
    spec: ModelSpec,
    settings: SolveSettings,
    *,
    progress: Progress | None = None,
    hint: IntArray | None = None,
    ahead: bool | None = None,
    later: bool = False,
) -> AnnualSolution:
    """Optimise the levels of `spec` over `problem`; raise nothing: statuses say what happened.

    With `later`, a large problem's level bounds may still be computed when this returns (see
    `_solve_large`): call `settled()` on the solution before reading its levels' bounds and statuses.

    With `ahead` (the default, unless the environment sets `FLUXOPT_SOLVER_THREADS=1`, as the sweep
    engines' worker processes do), each level's LP relaxation is solved on a second thread while the
    previous level's integer search runs (HiGHS releases the GIL), bounding that previous level by its
    own LP bound: when the level ends proven at that bound — the usual case — its bound constraint is
    exactly the one the relaxation was solved with, and the next level starts from it. Otherwise the
    relaxation is discarded. The results are the same with or without `ahead` (tested); only the wall time
    changes (Cap Habitat: the LP relaxations of later levels hide behind the integer searches)."""
    hard = {i for i, r in enumerate(problem.rows) if r.hard} if spec.legal == "hard" else set()
    levels = [(lv, level_rows(problem, lv.rows)) for lv in spec.levels]
    soft = {i for _, pos in levels for i in pos}
    model = build_linear(problem, soft, hard)
    deadline = time.perf_counter() + settings.time_limit
    progress = progress or Progress()
    progress.levels = len(levels)
    x = hint.copy() if hint is not None else None
    if problem.n_vars > EXACT_MAX_VARS and spec.mode == "lexicographic" and soft:
        # the components' solves run at once and their logs would interleave on one line (one
        # département's objective, then the other's): the line says the stage and the time only
        progress.level, progress.level_index = "niveaux par département", 0
        later = later and os.environ.get(SOLVER_THREADS, "2") != "1"  # sweep workers: one thread each
        return _solve_large(problem, model, levels, settings, deadline, hard, later=later)
    if settings.log is None and progress is not None:
        settings.log = progress.on_log
    if spec.mode == "weighted":
        return _solve_weighted(problem, spec, settings, model, levels, deadline, progress, x)
    if ahead is None:  # engine workers (sweeps) already use every core with processes: one thread each
        ahead = os.environ.get(SOLVER_THREADS, "2") != "1"
    with ThreadPoolExecutor(max_workers=1) as pool:
        side = pool if ahead else None
        return _levels(problem, model, levels, settings, deadline, progress, x, side)


def _levels(
    problem: AnnualProblem,
    model: AnnualModel,
    levels: list[tuple[Any, list[int]]],
    settings: SolveSettings,
    deadline: float,
    progress: Progress,
    x: IntArray | None,
    side: ThreadPoolExecutor | None,
) -> AnnualSolution:
    """The lexicographic level loop of `solve_annual` (`side`: the thread for relaxations ahead)."""
    applied: list[float | None] = []  # per level done: the bound put on it for the next ones (None: no rows)
    chain: _Chain | None = None
    first_relaxed: SolveOutcome | None = None
    if x is None and sum(1 for _, pos in levels if pos) >= 2:
        # level 1's relaxation here (no level bound yet), then the next levels' on the side thread while this
        # one rounds the weighted LP. Measured on Cap Habitat: the level-2 relaxation is ready 0.43 s in, as
        # with level 1's on the side too — two LPs at once slow each other on this machine (0.14 → 0.21 s)
        lv0, positions0 = levels[0]
        if positions0:
            first_relaxed = solve_relaxation(model.lp, _objective(model, positions0, lv0.objective), settings,
                                             time_limit=max(0.05, deadline - time.perf_counter()))  # fmt: skip
            if first_relaxed.status is Status.OPTIMAL and first_relaxed.bound is not None:
                ahead_bound = (positions0, lv0.objective, _rhs_at_bound(lv0, first_relaxed.bound))
                chain = _relax_chain(side, model, levels, 1, ahead_bound, settings, deadline)
        # first plan from the LP relaxation rounded by flow: measured 15-25 % faster level proofs. Dual
        # simplex here (Cap Habitat: 0.2 s, interior point 0.45 s); its vertex is another optimal allocation,
        # whose pacing the repair's second round brings to no month end above 1 (README "Planifier")
        x, _, _ = lp_round(problem, model, levels, settings, deadline, lp_algorithm="simplex")
    results: list[LevelResult] = []
    try:
        for index, (lv, positions) in enumerate(levels, start=1):
            progress.level, progress.level_index = lv.name, index
            progress.objective = progress.bound = None
            floor = level_floor(problem.rows, positions, lv.objective)
            start = time.perf_counter()
            relaxed: SolveOutcome | None = None
            if index == 1 and first_relaxed is not None:
                relaxed = first_relaxed
            elif chain is not None:
                relaxed, valid = chain.take(index - 1, applied)
                if not valid:
                    chain.stop()
                    chain = None
            if (
                x is not None
                and level_value(row_deviations(problem, x), positions, lv.objective) <= floor + 1e-9
            ):
                value = level_value(row_deviations(problem, x), positions, lv.objective)
                results.append(
                    LevelResult(
                        lv.name, lv.rows, lv.objective, len(positions), value, floor, floor, "floor", 0.0
                    )
                )
                _bound_level(model, positions, lv.objective, value + lv.tolerance)
                applied.append(value + lv.tolerance if positions else None)  # no rows: no bound was added
                continue
            objective = _objective(model, positions, lv.objective)
            remaining = deadline - time.perf_counter()
            lp_bound: float | None = None
            if x is None:
                outcome = solve(model.lp, objective, settings, time_limit=max(0.05, remaining))
            else:  # RINS from the current plan, proven by the LP bound when it reaches it (solver.solve_near)
                if relaxed is None:
                    relaxed = solve_relaxation(model.lp, objective, settings, time_limit=max(0.05, remaining))
                if relaxed.status is Status.OPTIMAL and relaxed.bound is not None:
                    lp_bound = relaxed.bound
                    if chain is None and index < len(levels):  # the next levels' relaxations, ahead
                        rhs_ahead = _rhs_at_bound(lv, lp_bound)
                        chain = _relax_chain(side, model, levels, index, (positions, lv.objective, rhs_ahead),
                                             settings, deadline)  # fmt: skip
                outcome = solve_near(model.lp, objective, settings, model.x, x, time_limit=max(0.05, remaining),
                                     hint=_hint_vector(model, problem, x), relaxed=relaxed)  # fmt: skip
            seconds = time.perf_counter() - start
            if outcome.values is not None:
                x = np.rint(outcome.values[model.x]).astype(np.int64)
            if x is None:
                # nothing feasible yet: report the level and stop (the caller decides: diagnose or exit 3)
                results.append(
                    LevelResult(lv.name, lv.rows, lv.objective, len(positions), float("nan"), outcome.bound,
                                floor, outcome.status.value, seconds)
                )  # fmt: skip
                return AnnualSolution(np.zeros(0, np.int64), tuple(results), outcome.status.value, None)
            value = level_value(row_deviations(problem, x), positions, lv.objective)
            bound = (
                max(b for b in (outcome.bound, floor) if b is not None)
                if outcome.values is not None
                else floor
            )
            bound = min(bound, value)
            status = (
                outcome.status.value
                if outcome.status in (Status.OPTIMAL, Status.FEASIBLE, Status.INTERRUPTED)
                else "feasible"
            )
            if outcome.values is None:
                status = "interrupted" if outcome.status is Status.INTERRUPTED else "feasible"
            results.append(
                LevelResult(
                    lv.name, lv.rows, lv.objective, len(positions), value, bound, floor, status, seconds
                )
            )
            # the next level keeps this one within its LP bound when the plan reached it (the bound the
            # relaxations ahead assumed), else within the plan's own value
            at_bound = lp_bound is not None and value <= _rhs_at_bound(lv, lp_bound) - lv.tolerance
            rhs = _rhs_at_bound(lv, lp_bound) if at_bound and lp_bound is not None else (
                value + lv.tolerance + 1e-6 * max(1.0, value)
            )  # fmt: skip
            _bound_level(model, positions, lv.objective, rhs)
            applied.append(rhs)
    finally:
        if chain is not None:
            chain.stop()
    overall = "optimal" if all(r.proven for r in results) else (
        "interrupted" if settings.interrupt.triggered else "feasible"
    )  # fmt: skip
    assert x is not None
    return AnnualSolution(x, tuple(results), overall, None)


def _rhs_at_bound(lv: Any, lp_bound: float) -> float:
    """The bound on a level whose plan reached its LP bound: that bound, the same relative slack as a bound
    on the plan's value (a wider one lets the next LP trade this level for the next: measured, a slack of
    0.001 dwelling made Cap Habitat's representativeness LP 0.001 lower than any plan, and its proof 5 s)."""
    return lp_bound + 1e-6 * max(1.0, abs(lp_bound)) + lv.tolerance


@dataclass
class _Chain:
    """Relaxations of levels `first`, `first + 1`, … solved ahead on a copy of the model, one after the
    other, each assuming that every level from `origin` on ended at its LP bound. `outcomes[i - first]`
    resolves to (the bounds assumed on levels origin … i − 1, the relaxation of level i, or None)."""

    origin: int
    first: int
    outcomes: list[Future[tuple[tuple[float | None, ...], SolveOutcome | None]]]
    halt: threading.Event

    def take(self, level: int, applied: list[float | None]) -> tuple[SolveOutcome | None, bool]:
        """Level `level`'s relaxation if the chain assumed the bounds the loop applied; else (None, False)."""
        if level < self.first:
            return None, True
        assumed, outcome = self.outcomes[level - self.first].result()
        if assumed != tuple(applied[self.origin : level]):
            return None, False
        return outcome, True

    def stop(self) -> None:
        self.halt.set()


def _relax_chain(
    side: ThreadPoolExecutor | None,
    model: AnnualModel,
    levels: list[tuple[Any, list[int]]],
    first: int,
    bound: tuple[list[int], str, float] | None,
    settings: SolveSettings,
    deadline: float,
) -> _Chain:
    """Solve, on a copy of `model`, the LP relaxations of levels `first`, `first + 1`, …, bounding each at
    its own LP bound before the next — the very steps the level loop takes when each level's plan reaches
    its LP bound (the usual case), so each relaxation is the one the loop would solve. `bound`: the bound
    (positions, objective kind, right-hand side) assumed on level `first − 1`. On the `side` thread; without
    one, right away (same results: tested)."""
    ahead = copy.copy(model)
    ahead.lp = copy.deepcopy(model.lp)
    ahead.extra = dict(model.extra)
    quiet = replace(settings, log=None)
    outcomes: list[Future[tuple[tuple[float | None, ...], SolveOutcome | None]]] = [
        Future() for _ in range(first, len(levels))
    ]
    halt = threading.Event()
    assumed: list[float | None] = []
    origin = first - 1 if bound is not None else first
    if bound is not None:
        _bound_level(ahead, *bound)
        assumed.append(bound[2])

    def run() -> None:
        pending = iter(outcomes)
        try:
            for i in range(first, len(levels)):
                lv, positions = levels[i]
                outcome: SolveOutcome | None = None
                if positions and not halt.is_set() and not quiet.interrupt.triggered:
                    objective = _objective(ahead, positions, lv.objective)
                    limit = max(0.05, deadline - time.perf_counter())
                    outcome = solve_relaxation(ahead.lp, objective, quiet, time_limit=limit)
                next(pending).set_result((tuple(assumed), outcome))
                if positions and (
                    outcome is None or outcome.status is not Status.OPTIMAL or outcome.bound is None
                ):
                    break  # the loop will not bound this level at an LP bound: nothing more to assume
                rhs = (
                    _rhs_at_bound(lv, outcome.bound)
                    if positions and outcome and outcome.bound is not None
                    else None
                )
                if positions and rhs is not None:
                    _bound_level(ahead, positions, lv.objective, rhs)
                assumed.append(rhs)
        finally:
            for rest in pending:  # never leave the loop waiting
                rest.set_result(((float("nan"),), None))

    if side is None:
        run()
    else:
        side.submit(run)
    return _Chain(origin, first, outcomes, halt)


def lp_round(
    problem: AnnualProblem,
    model: AnnualModel,
    levels: list[tuple[Any, list[int]]],
    settings: SolveSettings,
    deadline: float,
    *,
    timing: bool = False,
    lp_algorithm: str = "ipm",
) -> tuple[IntArray | None, float | None, FloatArray | None]:
    """Weighted LP relaxation (levels 100× apart; interior point + crossover unless `lp_algorithm` says
    otherwise), rounded by flow.

    On these problems the LP with the rounding cut is nearly integral (a few % of fractional
    variables). With `timing`, the LP also minimises, last, the gap between each convention's
    *expected* cumulative count at every month end (its blocks' allocations × the share of their
    dwellings vacated by then) and its pacing target: among the allocations equally good on the levels,
    the one whose months the month split can pace (measured: it made the large landlord's LP about five
    times slower, so the large path leaves it off). Returns the plan, the LP's weighted optimum and the LP's
    allocation (None, None, None without an LP solution).
    """
    weights: dict[int, float] = {}
    offset = 1 if timing else 0
    if timing:
        for var in _timing_rows(problem, model):
            weights[var] = 1.0
    for depth, (lv, positions) in enumerate(levels):
        w = float(100 ** (len(levels) - 1 - depth + offset))
        if lv.objective == "max":
            continue
        for i in positions:
            weights[model.dev[i]] = weights.get(model.dev[i], 0.0) + w
    if not weights:
        return None, None, None
    relaxed = solve_relaxation(
        model.lp,
        weights,
        settings,
        time_limit=max(0.1, deadline - time.perf_counter()),
        lp_algorithm=lp_algorithm,
    )
    if relaxed.values is None or relaxed.status not in (Status.OPTIMAL, Status.FEASIBLE):
        return None, None, None
    values = relaxed.values[model.x]
    x = flow_round(problem, values)
    x = _fix_state_employees(problem, x, values)
    return x, relaxed.bound, values


def _timing_rows(problem: AnnualProblem, model: AnnualModel) -> list[int]:
    """Add to the LP, per pacing row (k, M), ``d ≥ |Σ_{m ≤ M} e_km − target|`` where ``e_km = Σ_b x_bk ·
    (share of block b's free dwellings vacated in month m)``; returns the deviation variables.
    The monthly variables keep the LP sparse (a block has dwellings in one or two months)."""
    rowset = problem.rowset
    units = rowset.units
    inside = problem.blocks.of_unit >= 0
    free = units.base - problem.fixed.sum(axis=1)
    by_month = np.zeros((problem.blocks.n, 12))
    np.add.at(by_month, (problem.blocks.of_unit[inside], units.month[inside] - 1), free[inside])
    share = by_month / np.maximum(by_month.sum(axis=1, keepdims=True), 1)
    cols_in = sorted(set(problem.var_col.tolist()))
    pacing = [
        r for r in rowset.rows if r.kind is RowKind.PACING and rowset.columns.index(r.convention) in cols_in
    ]
    if not pacing:
        return []
    fixed_counts = rowset.counts(problem.fixed)
    col_pos = {c: i for i, c in enumerate(cols_in)}
    # e[k, m]: expected designations of column k in month m
    e = model.lp.add_vars(np.full(len(cols_in) * 12, -INF), np.full(len(cols_in) * 12, INF), integer=False)
    vb, vc = problem.var_block, problem.var_col
    nz_v, nz_m = np.nonzero(share[vb] > 0)
    rows_e = np.array([col_pos[int(c)] for c in vc[nz_v]], dtype=np.int64) * 12 + nz_m
    n_e = len(cols_in) * 12
    model.lp.add_cons(
        np.concatenate([rows_e, np.arange(n_e)]),
        np.concatenate([model.x[nz_v], e]),
        np.concatenate([-share[vb[nz_v], nz_m], np.ones(n_e)]),
        0.0,
        0.0,
        n_e,
    )
    d = model.lp.add_vars(np.zeros(len(pacing)), np.full(len(pacing), INF), integer=False)
    rr: list[int] = []
    cc: list[int] = []
    vv: list[float] = []
    rhs: list[float] = []
    k = 0
    for i, r in enumerate(pacing):
        base = col_pos[rowset.columns.index(r.convention)] * 12
        month = int(r.value[-2:])
        target = r.target - float(fixed_counts[r.index])
        for sign in (1.0, -1.0):
            rr += [k] * (month + 1)
            cc += [int(d[i]), *[int(e[base + m]) for m in range(month)]]
            vv += [1.0] + [sign] * month
            rhs.append(sign * target)
            k += 1
    model.lp.add_cons(np.asarray(rr), np.asarray(cc), np.asarray(vv), np.asarray(rhs), INF, k)
    return [int(v) for v in d]


def flow_round(problem: AnnualProblem, values: FloatArray) -> IntArray:
    """Round an LP allocation by min-cost flow: every variable, every block, every convention's total
    and the préfet's count per commune and per commune × QPV stay at the floor or ceiling of their LP
    value (a laminar family, hence a network), so the legal rows the LP met stay met."""
    from fluxopt.model.flow import SoftFlow

    rowset = problem.rowset
    units = rowset.units
    cols = rowset.columns
    first_unit = np.full(problem.blocks.n, -1, dtype=np.int64)
    inside = np.flatnonzero(problem.blocks.of_unit >= 0)[::-1]
    first_unit[problem.blocks.of_unit[inside]] = inside
    b_commune = units.commune[first_unit]
    b_qpv = units.qpv[first_unit].astype(np.int64)
    prefet_of_col = np.full(len(cols), -1, dtype=np.int64)
    prefets: list[str] = []
    for r in problem.rows:
        if r.hard and r.rule == "prefet_uniforme":
            if r.convention not in prefets:
                prefets.append(r.convention)
            _, members = rowset.members(r)
            prefet_of_col[members] = prefets.index(r.convention)
    net = SoftFlow()
    sink = int(net.nodes(1)[0])
    b_nodes = net.nodes(problem.blocks.n)
    c_nodes = net.nodes(len(cols))
    n_comm = len(units.communes)
    p_comm = net.nodes(max(1, len(prefets) * n_comm))
    p_comm_qpv = net.nodes(max(1, len(prefets) * n_comm * 2))
    vb, vc = problem.var_block, problem.var_col
    pref = prefet_of_col[vc]
    is_p = pref >= 0
    pc = pref * n_comm + b_commune[vb]
    pcq = pc * 2 + b_qpv[vb]
    head = np.where(is_p, p_comm_qpv[np.where(is_p, pcq, 0)], c_nodes[vc])
    var_edges = net.soft_edges(b_nodes[vb], head, values, hard_max=problem.blocks.free[vb])
    # préfet: (commune, qpv) → commune → sink; others: column → sink
    if is_p.any():
        sums_q = np.bincount(pcq[is_p], weights=values[is_p], minlength=len(p_comm_qpv))
        used_q = np.flatnonzero(np.bincount(pcq[is_p], minlength=len(p_comm_qpv)))
        net.soft_edges(p_comm_qpv[used_q], p_comm[used_q // 2], sums_q[used_q])
        sums_c = np.bincount(pc[is_p], weights=values[is_p], minlength=len(p_comm))
        used_c = np.flatnonzero(np.bincount(pc[is_p], minlength=len(p_comm)))
        net.soft_edges(p_comm[used_c], np.full(len(used_c), sink), sums_c[used_c])
    other = ~is_p
    sums_k = np.bincount(vc[other], weights=values[other], minlength=len(cols))
    used_k = np.flatnonzero(np.bincount(vc[other], minlength=len(cols)))
    net.soft_edges(c_nodes[used_k], np.full(len(used_k), sink), sums_k[used_k])
    total = int(problem.blocks.free.sum())
    for b in np.flatnonzero(problem.blocks.free).tolist():
        net.add_supply(int(b_nodes[b]), int(problem.blocks.free[b]))
    net.add_supply(sink, -total)
    return net.solve()[var_edges].astype(np.int64)


def _fix_state_employees(problem: AnnualProblem, x: IntArray, values: FloatArray) -> IntArray:
    """The State-employee ceiling (≤ 5 % per département) is not in the rounding's network: move any
    excess dwelling to another préfet convention of the same block (the préfet's counts per commune,
    hence the other legal rows, do not move), taking first those the LP least wanted."""
    x = x.copy()
    rowset = problem.rowset
    counts = plan_counts_from_x(problem, x)
    prefet_cols: dict[str, set[int]] = {}
    for r in problem.rows:
        if r.hard and r.rule == "prefet_uniforme":
            prefet_cols.setdefault(r.convention, set()).update(rowset.members(r)[1].tolist())
    for pos, r in enumerate(problem.rows):
        if not (r.hard and r.rule == "fonctionnaires"):
            continue
        _, hi = r.admissible()
        excess = round(counts[pos]) - hi
        if excess <= 0:
            continue
        in_row = problem.term_var[problem.term_row == pos]
        others = prefet_cols.get(r.convention, set()) - set(rowset.members(r)[1].tolist())
        by_block = {
            (int(b), int(k)): v
            for v, (b, k) in enumerate(zip(problem.var_block, problem.var_col, strict=True))
        }
        candidates = sorted(in_row[x[in_row] > 0].tolist(), key=lambda v: (values[v] - x[v], v))
        for v in candidates:
            if excess <= 0:
                break
            b = int(problem.var_block[v])
            targets = [by_block[(b, k)] for k in sorted(others) if (b, k) in by_block]
            if not targets:
                continue
            w = max(targets, key=lambda t: (values[t] - x[t], -t))
            x[v] -= 1
            x[w] += 1
            excess -= 1
    return x


def repair_hard(problem: AnnualProblem, x: IntArray, settings: SolveSettings, hard: set[int]) -> IntArray:
    """Bring violated hard rows back into their bands: re-solve, as a small MIP, the blocks they touch."""
    counts = plan_counts_from_x(problem, x)
    bad = [i for i in sorted(hard) if not _in_band(problem.rows[i], counts[i])]
    if not bad:
        return x
    term_rows = problem.term_row
    touched_vars = np.isin(term_rows, bad)
    blocks = np.unique(problem.var_block[problem.term_var[touched_vars]])
    vmask = np.isin(problem.var_block, blocks)
    from fluxopt.model.decompose import _subproblem

    sub, idx = _subproblem(problem, vmask, x, counts)
    # hard rows as heavily weighted soft rows: the repair can never be infeasible
    soft = set(range(len(sub.rows)))
    model = build_linear(sub, soft, set())
    objective = {model.dev[j]: (1e4 if sub.rows[j].hard else 1.0) for j in soft}
    out = solve(model.lp, objective, settings, time_limit=max(1.0, settings.time_limit / 4))
    if out.values is None:
        return x
    x = x.copy()
    x[idx] = np.rint(out.values[model.x]).astype(np.int64)
    return x


def _in_band(row: Row, count: float) -> bool:
    lo, hi = row.admissible()
    return lo <= round(count) <= hi


def components(problem: AnnualProblem) -> IntArray:
    """Connected components of blocks linked by rows, ignoring the landlord's rows (they span all)."""
    from fluxopt.model.decompose import linked

    landlord = np.array([r.convention == BAILLEUR for r in problem.rows], dtype=bool)
    keep = ~landlord[problem.term_row]
    rows = problem.term_row[keep]
    blocks = problem.var_block[problem.term_var[keep]]
    order = np.argsort(rows, kind="stable")
    rows, blocks = rows[order], blocks[order]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    ends = np.r_[starts[1:], len(rows)]
    return linked(problem.blocks.n, (np.unique(blocks[a:b]) for a, b in zip(starts, ends, strict=True)))


def _solve_large(
    problem: AnnualProblem,
    model: AnnualModel,
    levels: list[tuple[Any, list[int]]],
    settings: SolveSettings,
    deadline: float,
    hard: set[int],
    improve: bool = True,
    timing: bool = False,
    later: bool = False,
) -> AnnualSolution:
    """Large problems: per connected component (usually a département), the LP relaxation rounded by
    flow, legal rows kept; levels reported against their rounding floors (bounds), never as proven.

    With `later`, the levels' LP bounds (about 1.5 s on grand-bailleur) are computed on another thread
    and the solution returned at once, `pending` until `settled()`: the plan does not depend on them, so
    the caller's month split and pacing repair (one thread) run meanwhile on the second core."""
    from fluxopt.model.decompose import _subproblem

    start = time.perf_counter()
    label = components(problem)
    x = np.zeros(problem.n_vars, dtype=np.int64)
    lanes = 1 if os.environ.get(SOLVER_THREADS, "2") == "1" else 2

    def prepare(c: int) -> tuple[Any, ...] | Status:
        """Pass 1 for component `c`: its LP-rounded plan (the LP may use all the time left: it is
        essential). A component's sub-problem reads no other component's plan (the landlord's total is
        made local, every other row lies in one component), so the components prepare in any order."""
        vmask = label[problem.var_block] == c
        sub, idx = _subproblem(problem, vmask, x, problem.fixed_count.astype(np.float64))
        sub = _local_landlord(problem, sub, label == c)
        pos_of = {r.index: j for j, r in enumerate(sub.rows)}
        sub_levels = [
            (lv, [pos_of[problem.rows[i].index] for i in positions if problem.rows[i].index in pos_of])
            for lv, positions in levels
        ]
        sub_hard = {pos_of[problem.rows[i].index] for i in hard if problem.rows[i].index in pos_of}
        sub_model = build_linear(sub, {j for _, pos in sub_levels for j in pos}, sub_hard)
        xs, _, relaxed = lp_round(sub, sub_model, sub_levels, settings, deadline, timing=timing)
        if xs is None:
            return _unplanned(sub_model, settings, deadline)
        return (sub, idx, sub_model, sub_levels, relaxed, xs)

    present = np.unique(label[problem.var_block]).tolist()  # the components with variables
    outcomes = _in_lanes(prepare, present, lanes, settings)
    for failed in (Status.INFEASIBLE, Status.NO_SOLUTION):
        if any(out is failed for out in outcomes):
            return AnnualSolution(np.zeros(0, np.int64), (), failed.value, None)
    prepared = []
    for sub, idx, sub_model, sub_levels, relaxed, xs in outcomes:
        x[idx] = xs
        prepared.append((sub, idx, sub_model, sub_levels, relaxed, len(idx)))
    # pass 2: exact levels from those plans as hints, each component in its share of the time left
    if improve:
        _improve_components(prepared, x, settings, deadline, lanes)
    seconds = time.perf_counter() - start
    dev = row_deviations(problem, x)
    # the components' bounds hold for their local landlord rows, not for the global problem: the
    # levels are bounded by their rounding floors and, when time is left, by the global LP relaxation
    # with the rounding cut (earlier levels held at the plan's values)
    values = [level_value(dev, positions, lv.objective) for lv, positions in levels]

    def settle(lp: list[float | None]) -> AnnualSolution:
        results = bounded_levels(problem, levels, values, lp, seconds, proven_within=1e-3)
        overall = "optimal" if all(r.proven for r in results) else "feasible"
        if settings.interrupt.triggered:
            overall = "interrupted"
        return AnnualSolution(x, results, overall, None)

    unbounded: list[float | None] = [None] * len(levels)
    if deadline - time.perf_counter() <= 1.0 or settings.interrupt.triggered:
        return settle(unbounded)
    from fluxopt.model.decompose import lp_bounds_model

    def bounds() -> list[float | None]:
        return lp_bounds_model(problem, model, levels, values, settings, deadline)

    if not later:
        return settle(bounds())
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(bounds)
    pool.shutdown(wait=False)  # the thread ends with its one task
    return replace(settle(unbounded), pending=lambda: settle(future.result()))


def bounded_levels(
    problem: AnnualProblem,
    levels: list[tuple[Any, list[int]]],
    values: list[float],
    lp: list[float | None],
    seconds: float,
    *,
    proven_within: float | None,
) -> tuple[LevelResult, ...]:
    """Each level's result for a plan the solver did not prove level by level (the large path, the
    month-by-month plan): its value, its rounding floor, and its bound — the floor, raised to the LP bound
    with the rounding cut where one was solved (`lp`, None where not), never above the value. A level is
    "floor" at its floor, "optimal" within `proven_within` of its bound (None: never claimed), else
    "feasible"."""
    results = []
    for (lv, positions), value, lp_value in zip(levels, values, lp, strict=True):
        floor = level_floor(problem.rows, positions, lv.objective)
        bound = min(value, max(floor, lp_value if lp_value is not None else floor))
        if value <= floor + 1e-9:
            status = "floor"
        elif proven_within is not None and value - bound <= proven_within:
            status = "optimal"
        else:
            status = "feasible"
        results.append(
            LevelResult(lv.name, lv.rows, lv.objective, len(positions), value, bound, floor, status, seconds)
        )
    return tuple(results)


def _unplanned(model: AnnualModel, settings: SolveSettings, deadline: float) -> Status:
    """Why a component of `_solve_large` has no LP-rounded plan: INFEASIBLE when its LP relaxation (its hard
    legal rows with the designations already made) has no solution at all — then neither has the whole
    problem, and the caller says which rules cannot be met (or, re-planning a week, relaxes them) — else
    NO_SOLUTION (the LP ran out of time)."""
    check = solve_relaxation(model.lp, {}, settings, time_limit=max(0.1, deadline - time.perf_counter()))
    return Status.INFEASIBLE if check.status is Status.INFEASIBLE else Status.NO_SOLUTION


def _improve_components(
    prepared: list[tuple[Any, ...]],
    x: IntArray,
    settings: SolveSettings,
    deadline: float,
    lanes: int,
) -> None:
    """Improve every prepared component of `_solve_large` in place in `x`, on `lanes` threads.

    Why threads: the components are independent and HiGHS releases the GIL, so on the 2 cores of the
    machines fluxopt targets two components improve at once (measured on grand-bailleur's weekly re-plan:
    its two départements' exact levels, 8.5 s and 7.3 s one after the other). Each thread takes the
    largest component left (longest-processing-time order) and gives each of its components its share of
    the time left by size; with one lane (sweep workers, `FLUXOPT_SOLVER_THREADS=1`) the components run in
    their own order, as before. A component's plan depends on its budget only when a solve reaches it."""
    order = list(range(len(prepared)))
    if lanes > 1:
        order.sort(key=lambda k: (-prepared[k][-1], k))
    assigned: list[list[int]] = [[] for _ in range(lanes)]
    load = [0] * lanes
    for k in order:
        lane = min(range(lanes), key=lambda j: (load[j], j))
        assigned[lane].append(k)
        load[lane] += int(prepared[k][-1])

    def run(lane: int) -> None:
        left = float(load[lane])
        for k in assigned[lane]:
            sub, idx, sub_model, sub_levels, relaxed, size = prepared[k]
            if settings.interrupt.triggered:
                return
            share = size / max(1.0, left)
            left -= size
            now = time.perf_counter()
            budget = now + (deadline - now) * share
            if budget - now > 0.2:
                _around_relaxation(sub_model, x[idx], relaxed)
                x[idx], _ = _improve(sub, sub_model, sub_levels, settings, budget, x[idx])

    _in_lanes(run, list(range(lanes)), lanes if len(prepared) > 1 else 1, settings)


def _in_lanes(work: Callable[[int], Any], items: list[int], lanes: int, settings: SolveSettings) -> list[Any]:
    """`[work(i) for i in items]`, on `lanes` threads when there are several items (results in the
    items' order). Ctrl-C in the waiting main thread triggers the interrupt relay, so every thread's
    running solve stops at once."""
    if lanes == 1 or len(items) < 2:
        return [work(i) for i in items]
    with ThreadPoolExecutor(max_workers=lanes) as pool:
        try:
            return list(pool.map(work, items))
        except KeyboardInterrupt:
            settings.interrupt.trigger()
            raise


def _around_relaxation(model: AnnualModel, x: IntArray, relaxed: FloatArray | None) -> None:
    """Restrict every allocation variable to the floor or ceiling of its LP value (RENS: "relaxation
    enforced neighbourhood search"), keeping the current plan `x` inside (the flow rounding already is).

    Why: on the large landlord, the exact levels over the whole component found nothing better than the
    LP rounding in 40 s; inside this neighbourhood they reached representativeness 591.4 instead of 657.8
    (1.10× the floor instead of 1.22×), one component proven optimal in 9 s. The plan found is not proven
    optimal for the whole problem — the levels say so, with their bounds."""
    if relaxed is None:
        return
    assert len(model.lp.lb[0]) == len(model.x) and (len(model.x) == 0 or model.x[0] == 0)  # x: first batch
    lo = np.minimum(np.floor(relaxed + 1e-9), x)
    hi = np.maximum(np.ceil(relaxed - 1e-9), x)
    model.lp.lb[0][:] = lo
    model.lp.ub[0][:] = hi


def _local_landlord(
    problem: AnnualProblem, sub: AnnualProblem, in_comp: npt.NDArray[np.bool_]
) -> AnnualProblem:
    """Give the landlord's total row in a component sub-problem the component's own target and fixed
    count (remainder share × base of the component's units): every component keeps the landlord on
    target, so the landlord's global row adds up."""

    rowset = problem.rowset
    units_in = in_comp[problem.blocks.of_unit]
    j = rowset.columns.index(BAILLEUR)
    local_target = float((rowset.shares[units_in, j] * rowset.units.base[units_in]).sum())
    local_fixed = float(problem.fixed[units_in, j].sum())
    rows = list(sub.rows)
    fixed_count = sub.fixed_count.copy()
    for pos, r in enumerate(rows):
        if r.convention == BAILLEUR and r.kind is RowKind.TOTAL:
            rows[pos] = replace(r, target=local_target, base=int(rowset.units.base[units_in].sum()))
            fixed_count[pos] = local_fixed
    return replace(sub, rows=tuple(rows), fixed_count=fixed_count)


def _improve(
    problem: AnnualProblem,
    model: AnnualModel,
    levels: list[tuple[Any, list[int]]],
    settings: SolveSettings,
    budget: float,
    x: IntArray,
) -> tuple[IntArray, list[float]]:
    """Run the exact level loop from plan `x` (kept whenever a level finds nothing better); returns the
    plan and, per level, a proven lower bound (the floor when the solver proved nothing more).

    At the model's gap, not a looser one: tried on grand-bailleur's weekly re-plan (30/11), a 2 % gap cut
    its two components from 7.2 / 7.6 s to 2.7 / 5.9 s, but the pacing repair of the plan it left took
    6.8 s instead of 3.5 s — 16.0 s in all instead of 14.1 s, representativeness 202.42 instead of 202.02.

    With HiGHS branching on pseudo-costs from the first node (`pseudocost_branching`): after presolve, a
    component's representativeness level is small (grand-bailleur's larger département: 600 rows, 360
    columns, 147 binaries) but HiGHS spent 31,000 of its 39,000 LP iterations in strong branching, for 19
    nodes. Without it (134 nodes, 11,000 iterations), measured 30/11 on grand-bailleur's re-plans on 31/03
    and 30/06 and its annual plan: the larger component in 5.8 / 6.6 / 7.9 s instead of 9.0 / 10.2 /
    11.6 s, every level's value the same (each proven optimal in its neighbourhood either way)."""
    settings = replace(settings, pseudocost_branching=True)
    bounds = [level_floor(problem.rows, positions, lv.objective) for lv, positions in levels]
    for li, (lv, positions) in enumerate(levels):
        if not positions or lv.objective != "sum":
            continue
        remaining = budget - time.perf_counter()
        if remaining < 0.2:
            break
        before = level_value(row_deviations(problem, x), positions, "sum")
        if before <= bounds[li] + 1e-9:
            _bound_level(model, positions, "sum", before + 1e-6 * max(1.0, before))
            continue
        outcome = solve(model.lp, _objective(model, positions, "sum"), settings, time_limit=remaining / 2,
                        hint=_hint_vector(model, problem, x))  # fmt: skip
        if outcome.values is not None:
            candidate = np.rint(outcome.values[model.x]).astype(np.int64)
            dev = row_deviations(problem, candidate)
            if _lexi_le(problem, levels, dev, row_deviations(problem, x)):
                x = candidate
        if outcome.bound is not None and outcome.status is not Status.INFEASIBLE:
            bounds[li] = max(bounds[li], float(outcome.bound))
        value = level_value(row_deviations(problem, x), positions, "sum")
        bounds[li] = min(bounds[li], value)
        _bound_level(model, positions, "sum", value + 1e-6 * max(1.0, value))
    return x, bounds


def _lexi_le(
    problem: AnnualProblem, levels: list[tuple[Any, list[int]]], a: FloatArray, b: FloatArray
) -> bool:
    for lv, positions in levels:
        va, vb = level_value(a, positions, lv.objective), level_value(b, positions, lv.objective)
        if va < vb - 1e-9:
            return True
        if va > vb + 1e-9:
            return False
    return True


def _objective(model: AnnualModel, positions: list[int], kind: str) -> dict[int, float]:
    if kind == "max":
        z = _max_var(model, positions)
        return {z: 1.0}
    return {model.dev[i]: 1.0 for i in positions}


def _max_var(model: AnnualModel, positions: list[int]) -> int:
    key = ("max", tuple(positions))
    cached = model.extra.get(key)
    if cached is not None:
        return cached
    z = int(model.lp.add_vars(0.0, INF, integer=False)[0])
    n = len(positions)
    if n:
        rows = np.repeat(np.arange(n), 2)
        cols = np.array([[z, model.dev[i]] for i in positions]).ravel()
        vals = np.tile([1.0, -1.0], n)
        model.lp.add_cons(rows, cols, vals, 0.0, INF, n)
    model.extra[key] = z
    return z


def _bound_level(model: AnnualModel, positions: list[int], kind: str, value: float) -> None:
    """Keep later levels within this level's value."""
    if not positions:
        return
    if kind == "max":
        z = _max_var(model, positions)
        model.lp.add_cons(np.zeros(1, np.int64), np.array([z]), np.ones(1), -INF, value, 1)
        return
    ids = np.array([model.dev[i] for i in positions], dtype=np.int64)
    model.lp.add_cons(np.zeros(len(ids), np.int64), ids, np.ones(len(ids)), -INF, value, 1)


def _hint_vector(model: AnnualModel, problem: AnnualProblem, x: IntArray) -> FloatArray:
    """A complete hint: allocation, deviations recomputed, max variables; NaN where unknown."""
    hint = np.full(model.lp.n_vars, np.nan)
    hint[model.x] = x
    dev = row_deviations(problem, x)
    for pos, var in model.dev.items():
        hint[var] = dev[pos]
    for (tag, positions), z in model.extra.items():
        if tag == "max":
            hint[z] = float(dev[list(positions)].max()) if positions else 0.0
    return hint


def _solve_weighted(
    problem: AnnualProblem,
    spec: ModelSpec,
    settings: SolveSettings,
    model: AnnualModel,
    levels: list[tuple[Any, list[int]]],
    deadline: float,
    progress: Progress,
    x: IntArray | None,
) -> AnnualSolution:
    progress.level, progress.level_index, progress.levels = "pondéré", 1, 1
    objective: dict[int, float] = {}
    for lv, positions in levels:
        for var, coef in _objective(model, positions, lv.objective).items():
            objective[var] = objective.get(var, 0.0) + lv.weight * coef
    start = time.perf_counter()
    hint = _hint_vector(model, problem, x) if x is not None else None
    outcome: SolveOutcome = solve(
        model.lp, objective, settings, time_limit=max(0.05, deadline - start), hint=hint
    )
    seconds = time.perf_counter() - start
    if outcome.values is None:
        return AnnualSolution(np.zeros(0, np.int64), (), outcome.status.value, outcome.bound)
    x = np.rint(outcome.values[model.x]).astype(np.int64)
    dev = row_deviations(problem, x)
    results = []
    for lv, positions in levels:
        floor = level_floor(problem.rows, positions, lv.objective)
        value = level_value(dev, positions, lv.objective)
        results.append(
            LevelResult(
                lv.name, lv.rows, lv.objective, len(positions), value, floor, floor, "feasible", seconds
            )
        )
    status = "optimal" if outcome.status is Status.OPTIMAL else outcome.status.value
    return AnnualSolution(x, tuple(results), status, outcome.bound)


def settings_from_spec(
    spec: ModelSpec,
    *,
    time_limit: float | None = None,
    seed: int | None = None,
    log: Callable[[str], None] | None = None,
) -> SolveSettings:
    return SolveSettings(
        backend=Backend(spec.solver.backend),
        time_limit=spec.solver.time_limit if time_limit is None else time_limit,
        seed=spec.solver.seed if seed is None else seed,
        relative_gap=spec.solver.relative_gap,
        log=log,
    )
