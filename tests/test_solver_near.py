"""`solver.solve_near` (RINS from an incumbent, proven by the LP bound): same optimum as the whole MIP,
honest statuses and bounds, and the model left as it was."""

from __future__ import annotations

import numpy as np

from fluxopt.model.builder import LinearProgram
from fluxopt.model.solver import SolveSettings, Status, solve, solve_near


def _bounds(lp: LinearProgram) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate(lp.lb).copy(), np.concatenate(lp.ub).copy()


def test_rins_reaches_the_lp_bound_and_is_proven_by_it() -> None:
    # two blocks to share: x0 + x1 = 3, x2 + x3 = 2; the LP optimum (3, 0, 2, 0) is integral
    lp = LinearProgram()
    x = lp.add_vars(np.zeros(4), np.full(4, 3.0), integer=True)
    lp.add_cons(np.array([0, 0, 1, 1]), x, np.ones(4), np.array([3.0, 2.0]), np.array([3.0, 2.0]), 2)
    objective = {0: 1.0, 1: 2.0, 2: 1.0, 3: 3.0}
    incumbent = np.array([3, 0, 0, 2])  # agrees with the LP on the first block only
    before = _bounds(lp)
    out = solve_near(lp, objective, SolveSettings(), x, incumbent)
    assert out.status is Status.OPTIMAL
    assert out.values is not None
    assert np.allclose(out.values[x], [3, 0, 2, 0])
    assert out.bound is not None and abs(out.bound - 5.0) < 1e-9  # the LP's bound, which proves it
    after = _bounds(lp)
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])  # bounds restored
    assert all(part.all() for part in lp.integer)  # integrality restored


def test_whole_mip_runs_when_the_neighbourhood_stops_above_the_lp_bound() -> None:
    # maximise x0 + x1 (binary) with 2 x0 + 2 x1 ≤ 3: LP −1.5 (fractional), integer optimum −1;
    # x2 (cost 0) is 0 in the LP and in the incumbent, so RINS fixes it and its sub-MIP stops at −1 > −1.5
    lp = LinearProgram()
    x = lp.add_vars(np.zeros(3), np.ones(3), integer=True)
    lp.add_cons(np.zeros(2, np.int64), x[:2], np.full(2, 2.0), -np.inf, 3.0, 1)
    objective = {0: -1.0, 1: -1.0}
    out = solve_near(lp, objective, SolveSettings(), x, np.array([0, 0, 0]))
    whole = solve(lp, objective, SolveSettings())
    assert out.status is Status.OPTIMAL  # proven by the whole MIP, not by the LP
    assert out.objective is not None and whole.objective is not None
    assert abs(out.objective - whole.objective) < 1e-9 and abs(out.objective + 1.0) < 1e-9
    assert out.bound is not None and abs(out.bound + 1.0) < 1e-6  # the MIP's bound, above the LP's −1.5


def test_an_incumbent_at_the_lp_bound_is_returned_without_a_mip() -> None:
    lp = LinearProgram()
    x = lp.add_vars(np.zeros(2), np.full(2, 5.0), integer=True)
    lp.add_cons(np.zeros(2, np.int64), x, np.ones(2), 4.0, 4.0, 1)
    objective = {0: 1.0, 1: 1.0}  # every split of 4 is optimal
    hint = np.array([1.0, 3.0])
    out = solve_near(lp, objective, SolveSettings(), x, np.array([1, 3]), hint=hint)
    assert out.status is Status.OPTIMAL
    assert out.values is not None and np.allclose(out.values[x], [1, 3])  # the incumbent itself, unchanged
    assert out.detail == "plan at the LP bound"


def test_an_interrupted_rins_is_neither_proven_nor_bounded_by_its_neighbourhood() -> None:
    """Ctrl-C after the sub-MIP: its plan is returned, marked interrupted, with the LP's bound — the sub-MIP
    proved optimality (and a bound) for its neighbourhood only, not for the whole problem."""
    from fluxopt.model.solver import Interrupt

    class AfterSubMip(Interrupt):
        def _leave(self, interrupter: object) -> None:
            super()._leave(interrupter)
            object.__setattr__(self, "calls", getattr(self, "calls", 0) + 1)
            if self.calls == 2:  # 1: the LP relaxation, 2: the sub-MIP
                self.trigger()

    lp = LinearProgram()  # as above: LP −1.5, neighbourhood optimum −1 (x2 fixed at 0), whole optimum −1
    x = lp.add_vars(np.zeros(3), np.ones(3), integer=True)
    lp.add_cons(np.zeros(2, np.int64), x[:2], np.full(2, 2.0), -np.inf, 3.0, 1)
    settings = SolveSettings(interrupt=AfterSubMip())
    out = solve_near(lp, {0: -1.0, 1: -1.0}, settings, x, np.array([0, 0, 0]))
    assert out.status is Status.INTERRUPTED
    assert out.values is not None and out.objective is not None and abs(out.objective + 1.0) < 1e-9
    assert out.bound is not None and abs(out.bound + 1.5) < 1e-6  # the LP's bound
