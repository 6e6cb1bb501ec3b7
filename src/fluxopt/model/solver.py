"""Solver adapter: a `LinearProgram` (numpy) → MathOpt model proto → HiGHS, CP-SAT or SCIP → values + bound.

We go through MathOpt's proto-level entry point (``ortools.math_opt.core.python.solver.solve``) rather than
its Python modelling layer: the proto is filled from numpy arrays in milliseconds even for 100,000
variables, and the solution comes back as arrays too. One model, three solvers (all bundled in the
ortools wheel). Determinism: one thread and a fixed seed (HiGHS is deterministic single-threaded; CP-SAT
with one worker is deterministic for a given version).

An `Interrupt` (Ctrl-C) stops the running solve through MathOpt's interrupter; the best solution found so
far is still returned, marked as not proven.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
    """A Ctrl-C relay: `trigger()` stops the current solve and every later one."""

    triggered: bool = False
    _current: Any = None

    def trigger(self) -> None:
        self.triggered = True
        if self._current is not None:
            self._current.interrupt()


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


def _solver_type(backend: Backend) -> int:
    from ortools.math_opt.python import parameters

    return {
        Backend.HIGHS: parameters.SolverType.HIGHS,
        Backend.CP_SAT: parameters.SolverType.CP_SAT,
        Backend.SCIP: parameters.SolverType.GSCIP,
    }[backend].value


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
    from ortools.math_opt import result_pb2, solution_pb2
    from ortools.math_opt.core.python import solver
    from ortools.math_opt.python import callback, init_arguments, model_parameters, parameters
    from ortools.util.python import solve_interrupter

    start = time.perf_counter()
    if settings.interrupt.triggered:
        return SolveOutcome(Status.INTERRUPTED, None, None, None, 0.0, "interrompu")
    proto = to_proto(lp, objective)
    limit = settings.time_limit if time_limit is None else time_limit
    params = parameters.SolveParameters(
        time_limit=dt.timedelta(seconds=max(0.01, limit)),
        random_seed=settings.seed,
        relative_gap_tolerance=settings.relative_gap,
        absolute_gap_tolerance=settings.absolute_gap,
        enable_output=settings.log is not None,
    )
    if settings.node_limit is not None:
        params.node_limit = settings.node_limit
    if settings.backend is Backend.CP_SAT:
        params.cp_sat.num_workers = 1
    elif settings.backend is Backend.HIGHS:
        params.highs.string_options["parallel"] = "off"  # deterministic, single-threaded
        if lp_algorithm is not None:
            params.highs.string_options["solver"] = lp_algorithm  # "ipm": interior point + crossover
    else:
        params.threads = 1
    model_params = model_parameters.ModelSolveParameters()
    mp_proto = model_params.to_proto()
    if hint is not None:
        h = mp_proto.solution_hints.add()
        idx = np.flatnonzero(np.isfinite(hint))
        h.variable_values.ids.extend(idx.tolist())
        h.variable_values.values.extend(hint[idx].tolist())
    interrupter = solve_interrupter.SolveInterrupter()
    settings.interrupt._current = interrupter
    try:
        raw = solver.solve(
            proto,
            _solver_type(settings.backend),
            init_arguments.StreamableSolverInitArguments().to_proto(),
            params.to_proto(),
            mp_proto,
            (lambda lines: [settings.log(x) for x in lines]) if settings.log else None,  # type: ignore[misc]
            callback.CallbackRegistration().to_proto(),
            None,
            interrupter.pybind_interrupter,
        )
    except Exception as error:  # solver-side failure: reported, never a traceback
        return SolveOutcome(Status.ERROR, None, None, None, time.perf_counter() - start, str(error)[:300])
    finally:
        settings.interrupt._current = None
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
