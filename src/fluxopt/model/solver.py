"""Solver adapter: a `LinearProgram` (numpy) → MathOpt model proto → HiGHS, CP-SAT or SCIP → values + bound.

We go through MathOpt's proto-level entry point (``ortools.math_opt.core.python.solver.solve``) rather than
its Python modelling layer: the proto is filled from numpy arrays in milliseconds even for 100,000
variables, and the solution comes back as arrays too. One model, three solvers (all bundled in the
ortools wheel). Determinism: one thread and a fixed seed (HiGHS is deterministic single-threaded; CP-SAT
with one worker is deterministic for a given version).

An `Interrupt` (Ctrl-C) stops the solves: CP-SAT and SCIP through MathOpt's interrupter; HiGHS, which
MathOpt does not interrupt (OR-Tools' `highs_solver.cc` ignores the interrupter), by leaving its solve to
finish alone on its thread (`_until_interrupted`). The best solution found before is still returned,
marked as not proven.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from fluxopt.model.builder import LinearProgram

FloatArray = npt.NDArray[np.float64]


class Backend(StrEnum):
    """Solvers reachable through MathOpt (named as in the models/ files)."""

    HIGHS = "highs"
    CP_SAT = "cp-sat"
    SCIP = "scip"


class Status(StrEnum):
    OPTIMAL = "optimal"  # proven optimal (within the gap tolerance)
    FEASIBLE = "feasible"  # a solution, not proven optimal (limit reached)
    INTERRUPTED = "interrupted"  # stopped by the user; maybe a solution
    INFEASIBLE = "infeasible"  # proven infeasible
    NO_SOLUTION = "no_solution"  # limit reached without any solution
    ERROR = "error"


@dataclass
class Interrupt:
    """A Ctrl-C relay: `trigger()` ends the running solves (the level loop may run two at once, see
    `fluxopt.model.annual`) — CP-SAT and SCIP stop, HiGHS is left to finish alone (`_until_interrupted`) —
    and every later one."""

    triggered: bool = False
    _running: set[Any] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def trigger(self) -> None:
        self.triggered = True
        with self._lock:
            running = list(self._running)
        for interrupter in running:
            interrupter.interrupt()

    def _enter(self, interrupter: Any) -> None:
        with self._lock:
            self._running.add(interrupter)
        if self.triggered:  # Ctrl-C between the check and the registration
            interrupter.interrupt()

    def _leave(self, interrupter: Any) -> None:
        with self._lock:
            self._running.discard(interrupter)


@dataclass(frozen=True)
class SolveOutcome:
    status: Status
    values: FloatArray | None
    objective: float | None  # primal objective reported by the solver (recomputed by callers)
    bound: float | None  # proven lower bound (minimisation)
    seconds: float
    detail: str = ""


@dataclass
class SolveSettings:
    backend: Backend = Backend.HIGHS
    time_limit: float = 60.0
    seed: int = 0
    relative_gap: float = 1e-6
    absolute_gap: float = 1e-3  # dwellings: 0.001 of a dwelling is below anything that matters
    log: Callable[[str], None] | None = None
    interrupt: Interrupt = field(default_factory=Interrupt)
    #: branch-and-bound node limit per solve (None: none); deterministic, unlike a time limit
    node_limit: int | None = None
    #: HiGHS branches on pseudo-costs from the first node instead of strong branching until they are
    #: reliable (`mip_pscost_minreliable = 0`); see `fluxopt.model.annual._improve` for where and why
    pseudocost_branching: bool = False


#: solves left running after an interrupt (HiGHS cannot be stopped): `abandoned_solves` tells the CLI to
#: exit without waiting for them
_ABANDONED: set[threading.Thread] = set()
_ABANDONED_LOCK = threading.Lock()
#: how long an interrupted solve may take to stop by itself (CP-SAT, SCIP, a HiGHS solve about to end)
#: before it is left running
STOP_GRACE_SECONDS = 0.3


def abandoned_solves() -> bool:
    """Whether a solve left running after an interrupt is still running (see `_until_interrupted`)."""
    with _ABANDONED_LOCK:
        return any(thread.is_alive() for thread in _ABANDONED)


def _leave_running(thread: threading.Thread, left: threading.Event) -> None:
    left.set()
    with _ABANDONED_LOCK:
        _ABANDONED.add(thread)


def _until_interrupted(
    call: Callable[[], Any], interrupt: Interrupt, left: threading.Event
) -> tuple[bool, Any]:
    """`(True, call())`, with `call` run on its own daemon thread, or `(False, None)` as soon as `interrupt`
    is triggered and the solve does not stop within `STOP_GRACE_SECONDS` (`left` is then set).

    Why: MathOpt passes the interrupter to CP-SAT and SCIP but its HiGHS wrapper ignores it, so a Ctrl-C
    during one of fluxopt's HiGHS solves (up to the solver's time limit; grand-bailleur's plan answered
    after 8.7 s) would wait for it. The solve left running keeps its thread until it ends — a daemon, so it
    never holds the process, and the CLI exits without meeting it at the interpreter's shutdown
    (`fluxopt.cli._exit`); a KeyboardInterrupt in the waiting thread leaves it the same way."""
    box: list[tuple[bool, Any]] = []
    done = threading.Event()

    def run() -> None:
        try:
            box.append((True, call()))
        except BaseException as error:  # re-raised in the waiting thread
            box.append((False, error))
        finally:
            done.set()

    thread = threading.Thread(target=run, name="fluxopt-solve", daemon=True)
    thread.start()
    try:
        while not done.wait(0.05):
            if interrupt.triggered and not done.wait(STOP_GRACE_SECONDS):
                _leave_running(thread, left)
                return False, None
    except BaseException:
        _leave_running(thread, left)
        raise
    ok, value = box[0]
    if not ok:
        raise value
    return True, value


def _solver_type(backend: Backend) -> int:
    from ortools.math_opt import parameters_pb2

    return {
        Backend.HIGHS: parameters_pb2.SOLVER_TYPE_HIGHS,
        Backend.CP_SAT: parameters_pb2.SOLVER_TYPE_CP_SAT,
        Backend.SCIP: parameters_pb2.SOLVER_TYPE_GSCIP,
    }[backend]


def solve_parameters(settings: SolveSettings, time_limit: float, lp_algorithm: str | None = None) -> Any:
    """MathOpt's `SolveParametersProto` for one solve, built from the generated protos.

    Why not MathOpt's Python layer (`ortools.math_opt.python.parameters` and its siblings): importing it
    pulls absl's flags and logging, xml.dom and MathOpt's modelling classes — about 0.15 s of every
    command's start, for four protos fluxopt fills with constants. The bytes are the same as that layer's
    (tests/test_solver_protos.py compares them), so the solvers see exactly the same request."""
    from ortools.glop import parameters_pb2 as glop_pb2
    from ortools.math_opt import parameters_pb2
    from ortools.math_opt.solvers import glpk_pb2, gurobi_pb2, highs_pb2, osqp_pb2
    from ortools.math_opt.solvers.gscip import gscip_pb2
    from ortools.pdlp import solvers_pb2 as pdlp_pb2
    from ortools.sat import sat_parameters_pb2

    params = parameters_pb2.SolveParametersProto(
        enable_output=settings.log is not None,
        gscip=gscip_pb2.GScipParameters(),
        gurobi=gurobi_pb2.GurobiParametersProto(),
        glop=glop_pb2.GlopParameters(),
        cp_sat=sat_parameters_pb2.SatParameters(),
        pdlp=pdlp_pb2.PrimalDualHybridGradientParams(),
        osqp=osqp_pb2.OsqpSettingsProto(),
        glpk=glpk_pb2.GlpkParametersProto(),
        highs=highs_pb2.HighsOptionsProto(),
    )
    params.time_limit.FromTimedelta(dt.timedelta(seconds=max(0.01, time_limit)))
    if settings.node_limit is not None:
        params.node_limit = settings.node_limit
    params.random_seed = settings.seed
    params.absolute_gap_tolerance = settings.absolute_gap
    params.relative_gap_tolerance = settings.relative_gap
    if settings.backend is Backend.CP_SAT:
        params.cp_sat.num_workers = 1
    elif settings.backend is Backend.HIGHS:
        params.highs.string_options["parallel"] = "off"  # deterministic, single-threaded
        if settings.pseudocost_branching:
            params.highs.int_options["mip_pscost_minreliable"] = 0
        if lp_algorithm is not None:
            params.highs.string_options["solver"] = lp_algorithm  # "ipm": interior point + crossover
    else:
        params.threads = 1
    return params


def _model_parameters() -> Any:
    """MathOpt's default `ModelSolveParametersProto` (empty filters: every value returned), as its Python
    layer writes it."""
    from ortools.math_opt import model_parameters_pb2, sparse_containers_pb2

    empty = sparse_containers_pb2.SparseVectorFilterProto
    return model_parameters_pb2.ModelSolveParametersProto(
        variable_values_filter=empty(),
        dual_values_filter=empty(),
        quadratic_dual_values_filter=empty(),
        reduced_costs_filter=empty(),
        branching_priorities=sparse_containers_pb2.SparseInt32VectorProto(),
    )


def _no_callback() -> Any:
    """MathOpt's `CallbackRegistrationProto` with no event, as its Python layer writes it."""
    from ortools.math_opt import callback_pb2, sparse_containers_pb2

    empty = sparse_containers_pb2.SparseVectorFilterProto
    return callback_pb2.CallbackRegistrationProto(mip_solution_filter=empty(), mip_node_filter=empty())


def to_proto(lp: LinearProgram, objective: dict[int, float]) -> Any:
    """The MathOpt `ModelProto` of `lp` minimising `objective` (variable id → coefficient)."""
    from ortools.math_opt import model_pb2

    arr = lp.arrays()
    proto = model_pb2.ModelProto()
    n = lp.n_vars
    proto.variables.ids.extend(range(n))
    proto.variables.lower_bounds.extend(arr["lb"].tolist())
    proto.variables.upper_bounds.extend(arr["ub"].tolist())
    proto.variables.integers.extend(arr["integer"].tolist())
    proto.linear_constraints.ids.extend(range(lp.n_cons))
    proto.linear_constraints.lower_bounds.extend(arr["con_lb"].tolist())
    proto.linear_constraints.upper_bounds.extend(arr["con_ub"].tolist())
    order = np.lexsort((arr["a_col"], arr["a_row"]))
    mat = proto.linear_constraint_matrix
    mat.row_ids.extend(arr["a_row"][order].tolist())
    mat.column_ids.extend(arr["a_col"][order].tolist())
    mat.coefficients.extend(arr["a_val"][order].tolist())
    ids = sorted(i for i, c in objective.items() if c != 0)
    proto.objective.linear_coefficients.ids.extend(ids)
    proto.objective.linear_coefficients.values.extend([objective[i] for i in ids])
    return proto


def solve(
    lp: LinearProgram,
    objective: dict[int, float],
    settings: SolveSettings,
    *,
    time_limit: float | None = None,
    hint: FloatArray | None = None,
    lp_algorithm: str | None = None,
) -> SolveOutcome:
    """Minimise `objective` over `lp`; never raises on solver trouble (returns a status instead)."""
    from ortools.math_opt import parameters_pb2, result_pb2, solution_pb2
    from ortools.math_opt.core.python import solver
    from ortools.util.python import pybind_solve_interrupter

    start = time.perf_counter()
    if settings.interrupt.triggered:
        return SolveOutcome(Status.INTERRUPTED, None, None, None, 0.0, "interrompu")
    proto = to_proto(lp, objective)
    limit = settings.time_limit if time_limit is None else time_limit
    params = solve_parameters(settings, limit, lp_algorithm)
    mp_proto = _model_parameters()
    if hint is not None:
        h = mp_proto.solution_hints.add()
        idx = np.flatnonzero(np.isfinite(hint))
        h.variable_values.ids.extend(idx.tolist())
        h.variable_values.values.extend(hint[idx].tolist())
    interrupter = pybind_solve_interrupter.PySolveInterrupter()
    waiting = threading.Event()  # set when the solve is left running: its log lines are then dropped
    log = settings.log

    def relay(lines: list[str]) -> None:
        if log is not None and not waiting.is_set():
            for line in lines:
                log(line)

    call = functools.partial(
        solver.solve,
        proto,
        _solver_type(settings.backend),
        parameters_pb2.SolverInitializerProto(),
        params,
        mp_proto,
        relay if log is not None else None,
        _no_callback(),
        None,
        interrupter,
    )
    settings.interrupt._enter(interrupter)
    try:
        finished, raw = _until_interrupted(call, settings.interrupt, waiting)
    except Exception as error:  # solver-side failure: reported, never a traceback
        return SolveOutcome(Status.ERROR, None, None, None, time.perf_counter() - start, str(error)[:300])
    finally:
        settings.interrupt._leave(interrupter)
    if not finished:
        seconds = time.perf_counter() - start
        return SolveOutcome(
            Status.INTERRUPTED, None, None, None, seconds, "interrompu (solveur laissé à sa fin)"
        )
    result = result_pb2.SolveResultProto.FromString(raw) if isinstance(raw, bytes) else raw
    seconds = time.perf_counter() - start
    term = result.termination
    values = None
    primal = None
    for sol in result.solutions:
        if (
            sol.HasField("primal_solution")
            and sol.primal_solution.feasibility_status == solution_pb2.SOLUTION_STATUS_FEASIBLE
        ):
            vv = sol.primal_solution.variable_values
            values = np.zeros(lp.n_vars)
            values[np.asarray(vv.ids, dtype=np.int64)] = np.asarray(vv.values, dtype=np.float64)
            primal = sol.primal_solution.objective_value
            break
    bound = term.objective_bounds.dual_bound
    bound_f = float(bound) if np.isfinite(bound) else None
    reason = result_pb2.TerminationReasonProto.Name(term.reason)
    interrupted = settings.interrupt.triggered or term.limit == result_pb2.LIMIT_INTERRUPTED
    if term.reason == result_pb2.TERMINATION_REASON_OPTIMAL:
        status = Status.OPTIMAL
        bound_f = bound_f if bound_f is not None else primal
    elif term.reason == result_pb2.TERMINATION_REASON_INFEASIBLE:
        status = Status.INFEASIBLE
    elif values is not None:
        status = Status.INTERRUPTED if interrupted else Status.FEASIBLE
    elif interrupted:
        status = Status.INTERRUPTED
    elif term.reason in (
        result_pb2.TERMINATION_REASON_NO_SOLUTION_FOUND,
        result_pb2.TERMINATION_REASON_FEASIBLE,
    ):
        status = Status.NO_SOLUTION
    else:
        status = Status.ERROR
    return SolveOutcome(status, values, primal, bound_f, seconds, f"{reason} {term.detail}".strip())


def solve_relaxation(
    lp: LinearProgram,
    objective: dict[int, float],
    settings: SolveSettings,
    *,
    time_limit: float | None = None,
    lp_algorithm: str | None = None,
) -> SolveOutcome:
    """The LP relaxation of `lp` (every variable continuous); `lp` is left as it was."""
    integer = [part.copy() for part in lp.integer]
    try:
        for part in lp.integer:
            part[:] = False
        return solve(lp, objective, settings, time_limit=time_limit, lp_algorithm=lp_algorithm)
    finally:
        lp.integer = integer


def solve_near(
    lp: LinearProgram,
    objective: dict[int, float],
    settings: SolveSettings,
    variables: npt.NDArray[np.int64],
    incumbent: npt.NDArray[np.int64],
    *,
    time_limit: float | None = None,
    hint: FloatArray | None = None,
    relaxed: SolveOutcome | None = None,
) -> SolveOutcome:
    """Minimise `objective` over `lp` from a feasible integer plan: RINS first, the whole MIP if needed.

    RINS ("relaxation induced neighbourhood search"): solve the LP relaxation; fix every variable of
    `variables` on which the LP optimum and the `incumbent` agree; solve the MIP over the others (the
    incumbent is inside, so the sub-MIP is feasible). When its optimum reaches the LP bound (within the
    settings' gaps), it is optimal for the whole problem, proven by the LP. Otherwise the whole MIP runs
    from the sub-MIP's plan in the time left. Why: on these models the LP with the rounding cut is nearly
    tight and HiGHS finds the LP bound at the root, then spends seconds in root cut rounds before its
    heuristics find a plan at that bound (Cap Habitat's pacing repair: 2.2 s for the whole MIP, 0.3 s for
    LP + RINS, same optimum). A `hint` that covers the objective's variables and is already at the LP
    bound is returned as it is (proven optimal) without any MIP. `relaxed`: the LP relaxation of this very
    model and objective, when already solved (the level loop solves it ahead, on a copy).
    """
    start = time.perf_counter()
    limit = settings.time_limit if time_limit is None else time_limit

    def left() -> float:
        return max(0.05, limit - (time.perf_counter() - start))

    if relaxed is None:
        relaxed = solve_relaxation(lp, objective, settings, time_limit=limit)
    if relaxed.status is not Status.OPTIMAL or relaxed.values is None or settings.interrupt.triggered:
        return solve(lp, objective, settings, time_limit=left(), hint=hint)
    lp_bound = relaxed.bound if relaxed.bound is not None else relaxed.objective
    if hint is not None and lp_bound is not None:  # the incumbent may already be at the LP bound
        ids = np.fromiter(objective, dtype=np.int64, count=len(objective))
        coef = np.fromiter(objective.values(), dtype=np.float64, count=len(objective))
        if np.all(np.isfinite(hint[ids])):
            value = float(coef @ hint[ids])
            if value - lp_bound <= max(settings.absolute_gap, settings.relative_gap * abs(value)):
                values = np.where(np.isfinite(hint), hint, relaxed.values)
                seconds = time.perf_counter() - start
                return SolveOutcome(Status.OPTIMAL, values, value, lp_bound, seconds, "plan at the LP bound")
    same = np.abs(relaxed.values[variables] - incumbent) < 1e-6
    if not same.any():
        return solve(lp, objective, settings, time_limit=left(), hint=hint)
    agree = variables[same]
    lb = [part.copy() for part in lp.lb]
    ub = [part.copy() for part in lp.ub]
    try:
        flat_lb, flat_ub = np.concatenate(lp.lb), np.concatenate(lp.ub)
        values = incumbent[same].astype(np.float64)
        flat_lb[agree] = values
        flat_ub[agree] = values
        cuts = np.cumsum([len(part) for part in lp.lb])[:-1]
        lp.lb, lp.ub = np.split(flat_lb, cuts), np.split(flat_ub, cuts)
        near = solve(lp, objective, settings, time_limit=left(), hint=hint)
    finally:
        lp.lb, lp.ub = lb, ub
    seconds = time.perf_counter() - start
    if near.values is not None and near.objective is not None and lp_bound is not None:
        tolerance = max(settings.absolute_gap, settings.relative_gap * abs(near.objective))
        if near.objective - lp_bound <= tolerance:
            return SolveOutcome(
                Status.OPTIMAL, near.values, near.objective, lp_bound, seconds, "RINS + LP bound"
            )
    if settings.interrupt.triggered:
        # not proven for the whole problem, whatever the sub-MIP proved for its neighbourhood; and the bound of
        # the whole problem is the LP's (the sub-MIP's own bound holds for the neighbourhood only)
        status = Status.INTERRUPTED if near.values is not None else near.status
        return replace(near, status=status, seconds=seconds, bound=lp_bound)
    whole = solve(
        lp, objective, settings, time_limit=left(), hint=near.values if near.values is not None else hint
    )
    best = whole
    if near.values is not None and (
        whole.values is None or _objective_of(whole) > _objective_of(near) + 1e-9
    ):  # the whole MIP stopped at its limit with nothing better than the neighbourhood's plan
        best = replace(near, status=Status.INTERRUPTED if settings.interrupt.triggered else Status.FEASIBLE)
    bounds = [b for b in (whole.bound, lp_bound) if b is not None]
    return replace(best, bound=max(bounds) if bounds else None, seconds=time.perf_counter() - start)


def _objective_of(outcome: SolveOutcome) -> float:
    return float("inf") if outcome.objective is None else outcome.objective
