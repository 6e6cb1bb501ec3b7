"""Solve the annual allocation level by level (or weighted), with bounds, hints and a diagnosis pass.

Lexicographic levels (CP-SAT and HiGHS have no native mode): solve level 1; bound its objective by the
value reached (plus the level's tolerance); keep the plan as a hint; solve level 2; and so on. A level is
skipped — and proven optimal at no cost — when the current plan already reaches its rounding floor
(Σ dist(target, ℤ), a bound no integer plan can beat). Every reported value is recomputed from the
integer plan, never read from the solver's objective; the proven bound of a level is the larger of the
solver's dual bound and the rounding floor.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from fluxopt.domain.model_spec import ModelSpec
from fluxopt.model.builder import INF, AnnualModel, AnnualProblem, build_linear
from fluxopt.model.solver import Backend, SolveOutcome, SolveSettings, Status, solve
from fluxopt.rows import Row, RowKind, deviation

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
        parts = [f"niveau {self.level_index}/{self.levels} ({self.level})"]
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


def _level_value(dev: FloatArray, positions: list[int], objective: str) -> float:
    if not positions:
        return 0.0
    vals = dev[positions]
    return float(vals.max() if objective == "max" else vals.sum())


def _level_floor(rows: tuple[Row, ...], positions: list[int], objective: str) -> float:
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
) -> AnnualSolution:
    """Optimise the levels of `spec` over `problem`; raise nothing: statuses say what happened."""
    hard = {i for i, r in enumerate(problem.rows) if r.hard} if spec.legal == "hard" else set()
    levels = [(lv, level_rows(problem, lv.rows)) for lv in spec.levels]
    soft = {i for _, pos in levels for i in pos}
    model = build_linear(problem, soft, hard)
    deadline = time.perf_counter() + settings.time_limit
    progress = progress or Progress()
    progress.levels = len(levels)
    if settings.log is None and progress is not None:
        settings.log = progress.on_log
    x = hint.copy() if hint is not None else None
    results: list[LevelResult] = []
    # auxiliary "max" variables per max-level
    if spec.mode == "weighted":
        return _solve_weighted(problem, spec, settings, model, levels, deadline, progress, x)
    for index, (lv, positions) in enumerate(levels, start=1):
        progress.level, progress.level_index = lv.name, index
        progress.objective = progress.bound = None
        floor = _level_floor(problem.rows, positions, lv.objective)
        start = time.perf_counter()
        if (
            x is not None
            and _level_value(row_deviations(problem, x), positions, lv.objective) <= floor + 1e-9
        ):
            value = _level_value(row_deviations(problem, x), positions, lv.objective)
            results.append(
                LevelResult(lv.name, lv.rows, lv.objective, len(positions), value, floor, floor, "floor", 0.0)
            )
            _bound_level(model, positions, lv.objective, value + lv.tolerance)
            continue
        objective = _objective(model, positions, lv.objective)
        remaining = deadline - time.perf_counter()
        hint_values = _hint_vector(model, problem, x) if x is not None else None
        outcome = solve(model.lp, objective, settings, time_limit=max(0.05, remaining), hint=hint_values)
        seconds = time.perf_counter() - start
        if outcome.values is not None:
            x = np.rint(outcome.values[model.x]).astype(np.int64)
        if x is None:
            # nothing feasible yet: report the level and stop (the caller decides: diagnose or exit 3)
            results.append(
                LevelResult(lv.name, lv.rows, lv.objective, len(positions), float("nan"), outcome.bound, floor,
                            outcome.status.value, seconds)
            )  # fmt: skip
            return AnnualSolution(np.zeros(0, np.int64), tuple(results), outcome.status.value, None)
        value = _level_value(row_deviations(problem, x), positions, lv.objective)
        bound = (
            max(b for b in (outcome.bound, floor) if b is not None) if outcome.values is not None else floor
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
            LevelResult(lv.name, lv.rows, lv.objective, len(positions), value, bound, floor, status, seconds)
        )
        _bound_level(model, positions, lv.objective, value + lv.tolerance + 1e-6 * max(1.0, value))
    overall = "optimal" if all(r.proven for r in results) else (
        "interrupted" if settings.interrupt.triggered else "feasible"
    )  # fmt: skip
    assert x is not None
    return AnnualSolution(x, tuple(results), overall, None)


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
        floor = _level_floor(problem.rows, positions, lv.objective)
        value = _level_value(dev, positions, lv.objective)
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
