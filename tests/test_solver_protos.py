"""`solver.solve` builds MathOpt's request protos itself (to keep absl and MathOpt's Python layer out of
every command's start): the bytes must be exactly those MathOpt's Python layer writes, for every backend
and option fluxopt sets, so the solvers see the same request as before."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
from ortools.math_opt.python import callback, init_arguments, model_parameters, parameters

from fluxopt.model import solver
from fluxopt.model.solver import Backend, SolveSettings


def _layer(settings: SolveSettings, limit: float, lp_algorithm: str | None) -> bytes:
    """The parameters as MathOpt's Python layer writes them (the way fluxopt built them before)."""
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
        params.highs.string_options["parallel"] = "off"
        if lp_algorithm is not None:
            params.highs.string_options["solver"] = lp_algorithm
    else:
        params.threads = 1
    return params.to_proto().SerializeToString(deterministic=True)


@pytest.mark.parametrize("backend", list(Backend))
@pytest.mark.parametrize(
    ("limit", "seed", "gap", "node_limit", "log", "lp_algorithm"),
    [
        (60.0, 0, 1e-6, None, False, None),
        (0.0, 7, 0.005, 500, True, "ipm"),
        (2.345, 3, 0.02, None, False, "simplex"),
    ],
)
def test_solve_parameters_are_byte_for_byte_mathopt_s(
    backend: Backend,
    limit: float,
    seed: int,
    gap: float,
    node_limit: int | None,
    log: bool,
    lp_algorithm: str | None,
) -> None:
    settings = SolveSettings(
        backend=backend, seed=seed, relative_gap=gap, node_limit=node_limit, log=print if log else None
    )
    ours = solver.solve_parameters(settings, limit, lp_algorithm).SerializeToString(deterministic=True)
    assert ours == _layer(settings, limit, lp_algorithm)


def test_model_parameters_init_arguments_callback_and_solver_type_are_mathopt_s() -> None:
    def raw(proto: object) -> bytes:
        return proto.SerializeToString(deterministic=True)  # type: ignore[attr-defined]

    assert raw(solver._model_parameters()) == raw(model_parameters.ModelSolveParameters().to_proto())
    assert raw(solver._no_callback()) == raw(callback.CallbackRegistration().to_proto())
    assert init_arguments.StreamableSolverInitArguments().to_proto().SerializeToString() == b""
    named = {Backend.HIGHS: "HIGHS", Backend.CP_SAT: "CP_SAT", Backend.SCIP: "GSCIP"}
    for backend, name in named.items():
        assert solver._solver_type(backend) == parameters.SolverType[name].value


def test_a_solve_imports_neither_absl_nor_mathopt_s_python_layer() -> None:
    code = (
        "import sys, numpy as np\n"
        "from fluxopt.model.builder import LinearProgram\n"
        "from fluxopt.model.solver import SolveSettings, Status, solve\n"
        "lp = LinearProgram()\n"
        "x = lp.add_vars(np.zeros(2), np.full(2, 3.0), integer=True)\n"
        "lp.add_cons(np.array([0, 0]), x, np.ones(2), np.array([2.0]), np.array([2.0]), 1)\n"
        "out = solve(lp, {0: 1.0, 1: 2.0}, SolveSettings())\n"
        "assert out.status is Status.OPTIMAL and list(out.values) == [2.0, 0.0], out\n"
        "print(sorted(m for m in sys.modules if m.startswith(('absl', 'ortools.math_opt.python'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_pseudocost_branching_only_adds_highs_reliability_zero() -> None:
    """`pseudocost_branching` (the large path's exact levels) asks HiGHS for `mip_pscost_minreliable = 0`
    and changes nothing else of the request; other backends have no such option and are left as they are."""
    plain = SolveSettings()
    flagged = SolveSettings(pseudocost_branching=True)
    ours = solver.solve_parameters(flagged, 60.0)
    assert dict(ours.highs.int_options) == {"mip_pscost_minreliable": 0}
    del ours.highs.int_options["mip_pscost_minreliable"]
    assert ours.SerializeToString(deterministic=True) == _layer(plain, 60.0, None)
    for backend in (Backend.CP_SAT, Backend.SCIP):
        a = solver.solve_parameters(SolveSettings(backend=backend, pseudocost_branching=True), 60.0)
        b = solver.solve_parameters(SolveSettings(backend=backend), 60.0)
        assert a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True)


@pytest.mark.parametrize("backend", [Backend.HIGHS, Backend.CP_SAT])
def test_a_running_solve_answers_the_relay_at_once(backend: Backend) -> None:
    """A Ctrl-C relayed while a solve runs returns at once, marked interrupted: CP-SAT stops through
    MathOpt's interrupter; HiGHS, which MathOpt does not interrupt, is left to finish alone on its thread
    (the solve returns, the solver does not). The model is a market-split instance (4 equalities over 34
    binaries, no solution), on which both search until their limit (6 s here)."""
    import threading
    import time

    import numpy as np

    from fluxopt.model.builder import LinearProgram
    from fluxopt.model.solver import Status, abandoned_solves, solve

    rng = np.random.default_rng(1)
    m, n = 4, 34
    a = rng.integers(0, 100, size=(m, n)).astype(float)
    b = np.floor(a.sum(axis=1) / 2)
    lp = LinearProgram()
    x = lp.add_vars(np.zeros(n), np.ones(n), integer=True)
    lp.add_cons(np.repeat(np.arange(m), n), np.tile(x, m), a.ravel(), b, b, m)
    settings = SolveSettings(time_limit=6.0, backend=backend)
    timer = threading.Timer(0.3, settings.interrupt.trigger)
    start = time.perf_counter()
    timer.start()
    try:
        out = solve(lp, {int(i): 1.0 for i in x}, settings)
    finally:
        timer.cancel()
    assert out.status is Status.INTERRUPTED
    assert time.perf_counter() - start < 3.0  # answered by the relay, not by the 6-s limit
    left = "laissé" in out.detail  # HiGHS runs on alone; CP-SAT stopped
    assert left == (backend is Backend.HIGHS), out.detail
    if left:
        assert abandoned_solves()  # the CLI then exits without waiting for it (cli._exit)
