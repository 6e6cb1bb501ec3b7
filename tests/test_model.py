"""The model: rounding cut, bounds, levels, hints, month split, pacing polish, large path, determinism."""

from __future__ import annotations

import copy
import math
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from factories import convention, make_scenario, programme, two_commune_scenario
from fluxopt.domain.model_spec import load_model_spec
from fluxopt.forecast import forecast_flux
from fluxopt.manifest import RunManifest, stable_view
from fluxopt.model import annual as annual_mod
from fluxopt.model.annual import row_deviations, settings_from_spec, solve_annual
from fluxopt.model.builder import build_annual, build_linear, rounding_cut
from fluxopt.model.flow import SoftFlow
from fluxopt.model.months import split_months
from fluxopt.model.polish import polish_pacing
from fluxopt.model.solver import Interrupt, Status, solve
from fluxopt.planning import plan_units
from fluxopt.rows import RowKind, build_rows, units_from_forecast


def _setup(**kwargs):  # type: ignore[no-untyped-def]
    scen = two_commune_scenario(
        legal={"prefet_uniform_per_commune": True, "prefet_min_outside_qpv": 30}, **kwargs
    )
    units = units_from_forecast(forecast_flux(scen))
    rowset = build_rows(scen, units)
    spec, _, _ = load_model_spec("equilibre")
    return scen, rowset, spec


@pytest.mark.parametrize("target", [0.0, 0.2, 0.5, 2.75, 12.4, 7.999, 3.5])
def test_rounding_cut_is_valid_for_whole_counts_and_exact_at_floor_and_ceiling(target: float) -> None:
    cut = rounding_cut(target)
    if cut is None:
        assert target == math.floor(target) or abs(target - round(target)) < 1e-9
        return
    slope, intercept = cut
    for c in range(0, 20):
        assert slope * c + intercept <= abs(c - target) + 1e-9
    fl = math.floor(target)
    assert slope * fl + intercept == pytest.approx(abs(fl - target))
    assert slope * (fl + 1) + intercept == pytest.approx(abs(fl + 1 - target))


def test_lp_bound_with_the_cut_is_at_least_the_rounding_floor() -> None:
    _, rowset, spec = _setup()
    problem = build_annual(rowset)
    positions = [i for i, r in enumerate(problem.rows) if r.kind is RowKind.REPRESENTATIVENESS]
    model = build_linear(problem, set(positions), set())
    lp = copy.deepcopy(model.lp)
    for part in lp.integer:
        part[:] = False
    out = solve(lp, {model.dev[i]: 1.0 for i in positions}, settings_from_spec(spec))
    floor = sum(problem.rows[i].floor for i in positions)
    assert out.objective is not None and out.objective >= floor - 1e-6
    # without the cut the LP bound of |deviation| rows collapses to 0 (modelling.md)
    plain = build_linear(problem, set(positions), set(), cut=False)
    for part in plain.lp.integer:
        part[:] = False
    out2 = solve(plain.lp, {plain.dev[i]: 1.0 for i in positions}, settings_from_spec(spec))
    assert out2.objective is not None and out2.objective < 1e-6 < floor


def test_levels_are_proven_and_every_value_recomputed_from_the_plan() -> None:
    _, rowset, spec = _setup()
    problem = build_annual(rowset)
    solution = solve_annual(problem, spec, settings_from_spec(spec))
    dev = row_deviations(problem, solution.x)
    for lv in solution.levels:
        positions = annual_mod.level_rows(problem, lv.kinds)
        assert lv.value == pytest.approx(float(dev[positions].sum()))
        assert lv.bound is not None and lv.floor - 1e-9 <= lv.bound <= lv.value + 1e-9
        assert lv.proven
    assert solution.status == "optimal"


def test_the_solver_accepts_the_hint_and_keeps_an_optimal_plan() -> None:
    _, rowset, spec = _setup()
    problem = build_annual(rowset)
    first = solve_annual(problem, spec, settings_from_spec(spec))
    again = solve_annual(problem, spec, settings_from_spec(spec), hint=first.x)
    for a, b in zip(first.levels, again.levels, strict=True):
        assert b.value == pytest.approx(a.value)
    assert again.status == "optimal"


def test_same_inputs_give_the_same_plan() -> None:
    _, rowset, spec = _setup()
    problem = build_annual(rowset)
    a = solve_annual(problem, spec, settings_from_spec(spec, seed=3)).x
    b = solve_annual(build_annual(rowset), spec, settings_from_spec(spec, seed=3)).x
    assert np.array_equal(a, b)


def test_month_split_keeps_the_annual_plan_and_every_dwelling() -> None:
    _, rowset, spec = _setup()
    problem = build_annual(rowset)
    solution = solve_annual(problem, spec, settings_from_spec(spec))
    counts = split_months(problem, solution.x)
    assert np.array_equal(counts.sum(axis=1), rowset.units.base)
    assert np.all(rowset.eligible() | (counts == 0))
    per_block = np.zeros((problem.blocks.n, len(rowset.columns)), dtype=np.int64)
    np.add.at(per_block, problem.blocks.of_unit, counts)
    expected = np.zeros_like(per_block)
    expected[problem.var_block, problem.var_col] = solution.x
    assert np.array_equal(per_block, expected)


def test_pacing_polish_never_degrades_the_levels_above() -> None:
    _, rowset, spec = _setup()
    problem = build_annual(rowset)
    solution = solve_annual(problem, spec, settings_from_spec(spec))
    counts = split_months(problem, solution.x)
    before = rowset.evaluate(counts)
    kinds = {RowKind.TOTAL: 1, RowKind.REPRESENTATIVENESS: 2, RowKind.WISH: 3, RowKind.PACING: 4}
    polished, stats = polish_pacing(rowset, counts, problem.fixed, kinds)
    after = rowset.evaluate(polished)
    for kind in (RowKind.TOTAL, RowKind.REPRESENTATIVENESS, RowKind.WISH):
        assert after.total(rowset, kind) <= before.total(rowset, kind) + 1e-9
    assert after.total(rowset, RowKind.PACING) <= before.total(rowset, RowKind.PACING) + 1e-9
    assert stats.after == pytest.approx(after.total(rowset, RowKind.PACING))
    assert not rowset.hard_violations(after)
    assert np.array_equal(polished.sum(axis=1), rowset.units.base)


class _ThreadLog(list[str]):
    """Names of the threads a wrapped function ran on; with `meet` set, each call first waits there (a
    barrier of 2 proves two calls run at the same time, on two threads)."""

    meet: threading.Barrier | None = None


def _record_threads(monkeypatch: pytest.MonkeyPatch, name: str) -> _ThreadLog:
    """Wrap `fluxopt.model.annual.<name>` so that each call records the name of the thread it ran on."""
    threads = _ThreadLog()
    original = getattr(annual_mod, name)

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        if threads.meet is not None:
            threads.meet.wait()
        return original(*args, **kwargs)

    monkeypatch.setattr(annual_mod, name, spy)
    return threads


def _two_departements():  # type: ignore[no-untyped-def]
    """A year in two départements (92, 94), each with its own conventions: two components."""
    rows = (
        programme("P1", "92046", typologies={"T2": 60, "T3": 80, "T4": 40}, qpv=True, year=1965)
        + programme("P2", "92025", typologies={"T1": 20, "T2": 50, "T3": 50}, financing="PLAI", year=2015)
        + programme("P3", "94081", typologies={"T2": 70, "T3": 90, "T4": 30}, year=1980)
    )
    convs = [
        convention("ETAT-92", "ETAT", 30, departement="92", balance=["typologie", "commune"]),
        convention("ETAT-94", "ETAT", 30, departement="94", balance=["typologie"]),
        convention("AL-92", "AL", 20, departement="92", balance=["typologie", "financement"]),
        convention("AL-94", "AL", 20, departement="94", balance=["typologie"]),
    ]
    scen = make_scenario(rows, convs, turnover_rate=0.2, legal={"prefet_min_outside_qpv": 30})
    spec, _, _ = load_model_spec("equilibre")
    return build_rows(scen, units_from_forecast(forecast_flux(scen))), spec


def test_large_path_by_components_meets_legal_rows_and_states_honest_bounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(annual_mod, "EXACT_MAX_VARS", 0)
    rowset, spec = _two_departements()
    result = plan_units(rowset, spec)
    assert not rowset.hard_violations(result.evaluation)
    for lv in result.levels:
        assert lv.bound is not None and lv.bound <= lv.value + 1e-9
        assert lv.floor <= lv.bound + 1e-9


def test_large_path_prepares_and_improves_its_components_on_two_threads_with_the_same_plan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The components (départements) of the large path are LP-rounded (pass 1), then improved (pass 2), two
    at once on two threads (HiGHS releases the GIL); `FLUXOPT_SOLVER_THREADS=1` (sweep workers) keeps one
    thread — and the plan is the same."""
    monkeypatch.setattr(annual_mod, "EXACT_MAX_VARS", 0)
    rowset, spec = _two_departements()
    problem = build_annual(rowset)
    assert len(set(annual_mod.components(problem).tolist())) == 2
    rounded = _record_threads(monkeypatch, "lp_round")
    threads = _record_threads(monkeypatch, "_improve")
    monkeypatch.setenv(annual_mod.SOLVER_THREADS, "1")
    alone = solve_annual(problem, spec, settings_from_spec(spec))
    assert threads == [threading.main_thread().name] * 2
    assert rounded == [threading.main_thread().name] * 2
    monkeypatch.delenv(annual_mod.SOLVER_THREADS)
    threads.clear()
    rounded.clear()
    rounded.meet = threading.Barrier(2, timeout=30)  # both components inside `lp_round` at once
    threads.meet = threading.Barrier(2, timeout=30)  # both components inside `_improve` at once
    two = solve_annual(problem, spec, settings_from_spec(spec))
    for log in (rounded, threads):
        assert len(log) == 2 and len(set(log)) == 2 and threading.main_thread().name not in log
    assert np.array_equal(alone.x, two.x)
    assert [lv.value for lv in alone.levels] == [lv.value for lv in two.levels]


def test_large_path_bounds_its_levels_on_another_thread_while_the_repair_runs_same_plan_and_bounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The large path's level bounds (global LP relaxations) do not change the plan: they are computed on
    a second thread while the month split and the pacing repair run on the main one (both inside at once,
    checked by a barrier), and the plan, its levels' values, bounds and statuses are those of computing
    them first (`FLUXOPT_SOLVER_THREADS=1`, as sweep workers do)."""
    from fluxopt import planning as planning_mod
    from fluxopt.model import decompose as decompose_mod

    monkeypatch.setattr(annual_mod, "EXACT_MAX_VARS", 0)
    rowset, spec = _two_departements()
    meet: list[threading.Barrier] = []
    where: dict[str, list[str]] = {"bounds": [], "repair": []}

    def spy(module: object, name: str, key: str) -> None:
        original = getattr(module, name)

        def wrapped(*args, **kwargs):  # type: ignore[no-untyped-def]
            where[key].append(threading.current_thread().name)
            if meet:
                meet[0].wait()
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapped)

    spy(decompose_mod, "lp_bounds_model", "bounds")
    spy(planning_mod, "_repace", "repair")
    monkeypatch.setenv(annual_mod.SOLVER_THREADS, "1")
    first = plan_units(rowset, spec)
    assert where["bounds"] == where["repair"] == [threading.main_thread().name]
    monkeypatch.delenv(annual_mod.SOLVER_THREADS)
    where["bounds"].clear()
    where["repair"].clear()
    meet.append(threading.Barrier(2, timeout=30))  # the bounds and the repair inside at once
    meanwhile = plan_units(rowset, spec)
    assert where["repair"] == [threading.main_thread().name]
    assert len(where["bounds"]) == 1 and where["bounds"] != where["repair"]
    assert np.array_equal(first.counts, meanwhile.counts)
    assert [(lv.value, lv.bound, lv.status) for lv in first.levels] == [
        (lv.value, lv.bound, lv.status) for lv in meanwhile.levels
    ]
    assert first.status == meanwhile.status
    assert any(lv.bound > lv.floor + 1e-6 for lv in meanwhile.levels)  # the LP bounds did bound something


def test_ctrl_c_during_the_repair_stops_the_bounds_thread_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C while the large path's pacing repair runs (its level bounds still computed on the other
    thread) triggers the interrupt relay, so that thread's solves stop too."""
    from fluxopt import planning as planning_mod
    from fluxopt.model import decompose as decompose_mod

    monkeypatch.setattr(annual_mod, "EXACT_MAX_VARS", 0)
    monkeypatch.delenv(annual_mod.SOLVER_THREADS, raising=False)
    rowset, spec = _two_departements()
    started = threading.Event()
    stopped: list[float] = []

    def bounds(problem, model, levels, values, settings, deadline):  # type: ignore[no-untyped-def]
        started.set()
        start = time.perf_counter()
        while not settings.interrupt.triggered and time.perf_counter() - start < 10:
            time.sleep(0.01)  # a long solve that answers the relay, as `solver.solve` does
        stopped.append(time.perf_counter() - start)
        return [None] * len(levels)

    def repair(*args, **kwargs):  # type: ignore[no-untyped-def]
        assert started.wait(10)
        raise KeyboardInterrupt

    monkeypatch.setattr(decompose_mod, "lp_bounds_model", bounds)
    monkeypatch.setattr(planning_mod, "_repace", repair)
    interrupt = Interrupt()
    with pytest.raises(KeyboardInterrupt):
        plan_units(rowset, spec, interrupt=interrupt)
    assert interrupt.triggered
    deadline = time.perf_counter() + 5
    while not stopped and time.perf_counter() < deadline:
        time.sleep(0.01)
    assert stopped and stopped[0] < 5  # stopped by the relay, not by its limit


def test_large_path_exact_levels_branch_on_pseudo_costs_and_nothing_else_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only the large path's exact levels per component (`_improve`) ask HiGHS for pseudo-cost branching
    from the first node (measured faster there, same values); its LP roundings, its bounds and the
    pacing repair keep HiGHS's defaults."""
    monkeypatch.setattr(annual_mod, "EXACT_MAX_VARS", 0)
    rowset, spec = _two_departements()
    seen: list[tuple[str, bool]] = []
    original = annual_mod.solve

    def spy(lp, objective, settings, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(("levels", settings.pseudocost_branching))
        return original(lp, objective, settings, **kwargs)

    from fluxopt.model import solver as solver_mod

    original_any = solver_mod.solve

    def spy_any(lp, objective, settings, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(("other", settings.pseudocost_branching))
        return original_any(lp, objective, settings, **kwargs)

    monkeypatch.setattr(annual_mod, "solve", spy)
    monkeypatch.setattr(solver_mod, "solve", spy_any)
    plan_units(rowset, spec)
    flagged = [who for who, flag in seen if flag]
    assert flagged and set(flagged) == {"levels"}  # the exact levels, and only them
    assert ("other", False) in seen  # the LP roundings, bounds and repair: HiGHS's defaults


def test_progress_line_names_the_level_or_the_large_path_s_stage() -> None:
    """The progress line (stderr, on a terminal) says « niveau k/n (nom) » with the running level's
    objective and bound; on the large path, whose départements are solved at once (their solver logs
    would interleave), it names the stage and shows no objective."""
    from fluxopt.model.annual import Progress

    _, rowset, spec = _setup()
    small = Progress()
    plan_units(rowset, spec, progress=small)
    assert small.line().startswith(f"niveau {len(spec.levels)}/{len(spec.levels)} (")
    large = Progress()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(annual_mod, "EXACT_MAX_VARS", 0)
        big, big_spec = _two_departements()
        plan_units(big, big_spec, progress=large)
    line = large.line()
    assert line.startswith("niveaux par département · ") and line.endswith(" s")
    assert "niveau 0" not in line and "objectif" not in line and large.objective is None


def test_ctrl_c_during_the_components_stops_both_threads_solves(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C (SIGINT to the main thread, waiting for the two component threads) triggers the interrupt
    relay, so the threads' solves stop at once instead of running to their time limit."""
    import signal

    monkeypatch.setattr(annual_mod, "EXACT_MAX_VARS", 0)
    rowset, spec = _two_departements()
    problem = build_annual(rowset)
    settings = settings_from_spec(spec)
    first = threading.Lock()
    both = threading.Barrier(2, timeout=10)
    stopped: list[float] = []

    def improve(sub, model, levels, settings_, budget, x):  # type: ignore[no-untyped-def]
        both.wait()  # both components are being solved
        start = time.perf_counter()
        if first.acquire(blocking=False):  # the user presses Ctrl-C while both components are solved
            time.sleep(0.2)  # the main thread is then waiting for the threads' results
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # type: ignore[arg-type]
        while not settings_.interrupt.triggered and time.perf_counter() - start < 10:
            time.sleep(0.01)  # a long solve that answers the relay, as `solver.solve` does
        stopped.append(time.perf_counter() - start)
        return x, []

    monkeypatch.setattr(annual_mod, "_improve", improve)
    monkeypatch.delenv(annual_mod.SOLVER_THREADS, raising=False)
    with pytest.raises(KeyboardInterrupt):
        solve_annual(problem, spec, settings)
    assert settings.interrupt.triggered
    assert len(stopped) == 2 and max(stopped) < 5  # both stopped by the relay, not by their limit


def test_interrupt_before_any_plan_stops_cleanly() -> None:
    _, rowset, spec = _setup()
    interrupt = Interrupt()
    interrupt.trigger()
    with pytest.raises(KeyboardInterrupt):
        plan_units(rowset, spec, interrupt=interrupt)
    problem = build_annual(rowset)
    settings = settings_from_spec(spec)
    settings.interrupt = interrupt
    model = build_linear(problem, set(), set())
    assert solve(model.lp, {}, settings).status is Status.INTERRUPTED


def test_soft_flow_rounds_to_floor_or_ceiling_keeping_the_total() -> None:
    net = SoftFlow()
    source, sink = net.nodes(2)
    mids = net.nodes(3)
    values = [0.4, 0.6, 2.0]
    net.soft_edges([source] * 3, mids, values)
    edges = net.soft_edges(mids, [sink] * 3, values)
    net.add_supply(int(source), 3)
    net.add_supply(int(sink), -3)
    flows = net.solve()[edges]
    assert flows.sum() == 3
    assert list(flows) == [0, 1, 2]


def test_manifest_differs_only_in_its_volatile_field() -> None:
    a = RunManifest("plan", parameters={"seed": 1})
    a.finish("optimal")
    b = RunManifest("plan", parameters={"seed": 1})
    b.durations["calcul"] = 12.5
    b.finish("optimal")
    assert stable_view(a.as_dict()) == stable_view(b.as_dict())
    assert a.as_dict()["execution"] != b.as_dict()["execution"] or True
    assert "execution" in a.as_dict()


class _InterruptAtSolve(Interrupt):
    """Stops the search as the n-th solver call starts (a Ctrl-C in the middle of the levels)."""

    def __init__(self, at: int) -> None:
        super().__init__()
        object.__setattr__(self, "calls", 0)
        object.__setattr__(self, "at", at)

    def _enter(self, interrupter: object) -> None:
        super()._enter(interrupter)
        object.__setattr__(self, "calls", self.calls + 1)
        if self.calls >= self.at:
            self.trigger()


def test_interrupt_during_the_levels_still_gives_a_valid_plan_marked_not_proven() -> None:
    _, rowset, spec = _setup()
    result = plan_units(rowset, spec, interrupt=_InterruptAtSolve(3))
    assert result.status == "interrupted"
    assert np.array_equal(result.counts.sum(axis=1), rowset.units.base)
    assert not rowset.hard_violations(result.evaluation)


def test_rens_neighbourhood_keeps_the_rounded_plan_and_floor_ceiling_of_the_lp() -> None:
    """Large path: the exact levels search only between the floor and ceiling of each LP value (RENS);
    the flow-rounded plan they start from must lie inside, or the search could not start from it."""
    _, rowset, spec = _setup()
    problem = build_annual(rowset)
    levels = [(lv, annual_mod.level_rows(problem, lv.rows)) for lv in spec.levels]
    hard = {i for i, r in enumerate(problem.rows) if r.hard}
    model = build_linear(problem, {i for _, pos in levels for i in pos}, hard)
    settings = settings_from_spec(spec)
    x, _, relaxed = annual_mod.lp_round(problem, model, levels, settings, time.perf_counter() + 60)
    assert x is not None and relaxed is not None
    annual_mod._around_relaxation(model, x, relaxed)
    lo, hi = model.lp.lb[0], model.lp.ub[0]
    assert ((lo <= x) & (x <= hi)).all()
    # recomputed: floor/ceil of the LP values, widened only where the rounded plan sits outside
    assert np.array_equal(lo, np.minimum(np.floor(relaxed + 1e-9), x))
    assert np.array_equal(hi, np.maximum(np.ceil(relaxed - 1e-9), x))
    assert (hi - lo <= 1).all()


def test_relaxations_solved_ahead_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The levels' LP relaxations run on a second thread, ahead of the level loop: the plan, values, bounds
    and statuses must be those of the loop without it — and the loop must not solve them again itself."""
    _, rowset, spec = _setup()
    problem = build_annual(rowset)
    on_main: list[bool] = []
    original = annual_mod.solve_relaxation

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        on_main.append(threading.current_thread() is threading.main_thread())
        return original(*args, **kwargs)

    monkeypatch.setattr(annual_mod, "solve_relaxation", spy)
    with_ahead = solve_annual(problem, spec, settings_from_spec(spec), ahead=True)
    # on the main thread: level 1's relaxation and lp_round's weighted LP; every later level's came from ahead
    assert on_main.count(True) == 2
    assert on_main.count(False) >= 1
    without = solve_annual(problem, spec, settings_from_spec(spec), ahead=False)
    assert np.array_equal(with_ahead.x, without.x)
    assert with_ahead.status == without.status
    for a, b in zip(with_ahead.levels, without.levels, strict=True):
        assert (a.name, a.value, a.bound, a.status) == (b.name, b.value, b.bound, b.status)


def test_relaxations_ahead_are_the_relaxations_the_loop_would_solve() -> None:
    """The chain bounds each level at its LP bound before the next, on a copy: its relaxations must be the
    very LPs the loop builds on the model, and the model itself must be left untouched."""
    _, rowset, spec = _setup()
    problem = build_annual(rowset)
    levels = [(lv, annual_mod.level_rows(problem, lv.rows)) for lv in spec.levels]
    model = build_linear(problem, {i for _, pos in levels for i in pos}, set())
    settings = settings_from_spec(spec)
    n_cons = model.lp.n_cons
    chain = annual_mod._relax_chain(None, model, levels, 0, None, settings, time.perf_counter() + 60)
    assert model.lp.n_cons == n_cons  # the copy was bounded, not the model
    first, ok = chain.take(0, [])
    assert ok and first is not None and first.bound is not None
    rhs = annual_mod._rhs_at_bound(levels[0][0], first.bound)
    # what the loop does when level 1 ends at its LP bound, on the model itself
    direct_first = annual_mod.solve_relaxation(
        model.lp, annual_mod._objective(model, levels[0][1], "sum"), settings
    )
    assert direct_first.objective == first.objective
    annual_mod._bound_level(model, levels[0][1], "sum", rhs)
    direct = annual_mod.solve_relaxation(
        model.lp, annual_mod._objective(model, levels[1][1], "sum"), settings
    )
    second, ok = chain.take(1, [rhs])
    assert ok and second is not None and second.values is not None and direct.values is not None
    assert second.objective == direct.objective and np.array_equal(second.values, direct.values)
    # a loop that bounded level 1 otherwise (its plan above the LP bound) must not use the chain
    assert chain.take(1, [rhs + 0.5]) == (None, False)


def test_engine_workers_keep_the_level_loop_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sweep workers already fill every core with processes: `FLUXOPT_SOLVER_THREADS=1` (set by the local
    engine's worker initializer) turns the relaxations ahead off — and changes no result."""
    from fluxopt import engines

    assert annual_mod.SOLVER_THREADS in engines._THREAD_VARIABLES
    _, rowset, spec = _setup()
    problem = build_annual(rowset)
    threads = _record_threads(monkeypatch, "solve_relaxation")
    monkeypatch.setenv(annual_mod.SOLVER_THREADS, "1")
    alone = solve_annual(problem, spec, settings_from_spec(spec))
    assert set(threads) == {threading.main_thread().name}
    monkeypatch.delenv(annual_mod.SOLVER_THREADS)
    threads.clear()
    two = solve_annual(problem, spec, settings_from_spec(spec))
    assert len(set(threads)) == 2
    assert np.array_equal(alone.x, two.x)


def test_the_default_model_file_states_the_weekly_defaults_and_the_others_inherit_them() -> None:
    """models/equilibre.toml writes out its [weekly] section for users to read and copy; it must be what a
    model file without the section gets (`Weekly()`), so the file never says one thing while the code
    does another."""
    from fluxopt.domain.model_spec import SHIPPED, Weekly

    assert load_model_spec("equilibre")[0].weekly == Weekly()
    import tomllib

    root = Path(__file__).resolve().parents[1]
    written = tomllib.loads((root / "models" / "equilibre.toml").read_text(encoding="utf-8"))
    assert set(written["model"]["weekly"]) == set(Weekly.model_fields)  # every weight written out
    for name in SHIPPED:
        assert load_model_spec(name)[0].weekly == Weekly()


def test_linked_labels_each_class_by_its_smallest_item_whatever_the_sets_order() -> None:
    """The union-find shared by the large path's components and the repair's groups."""
    from fluxopt.model.decompose import linked

    sets = [np.array([4, 2]), np.array([5]), np.array([2, 0]), np.array([3, 6])]
    expected = [0, 1, 0, 3, 0, 5, 3]
    assert linked(7, sets).tolist() == expected
    assert linked(7, reversed(sets)).tolist() == expected
    assert linked(3, []).tolist() == [0, 1, 2]
