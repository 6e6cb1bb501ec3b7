"""Pacing repair (`fluxopt.model.repace`): month ends brought back within one dwelling, levels untouched.

Rule (issue "annual planner", pacing): no month-end deviation of any convention above 1 dwelling where
the rounding allows it; the levels above pacing (totals, representativeness, wishes, legal rows) never
get worse for it.
"""

from __future__ import annotations

import numpy as np
import pytest

import fluxopt.model.repace as repace_mod
from factories import convention, make_scenario, programme, two_commune_scenario
from fluxopt.domain.model_spec import load_model_spec
from fluxopt.forecast import forecast_flux
from fluxopt.model.builder import make_blocks
from fluxopt.model.repace import AROUND_SELECT, _first_free_month, _groups, repace
from fluxopt.model.solver import SolveSettings
from fluxopt.planning import plan_units
from fluxopt.rows import BAILLEUR, RowKind, build_rows, units_from_forecast


@pytest.fixture(scope="module")
def planned():  # type: ignore[no-untyped-def]
    scen = two_commune_scenario(legal={"prefet_uniform_per_commune": True, "prefet_min_outside_qpv": 30})
    rowset = build_rows(scen, units_from_forecast(forecast_flux(scen)))
    spec, _, _ = load_model_spec("equilibre")
    return rowset, plan_units(rowset, spec).counts


def _delay(rowset, counts, column: int, swaps: int):  # type: ignore[no-untyped-def]
    """Move `column`'s designations to later months inside their blocks (every non-pacing row unchanged)."""
    counts = counts.copy()
    blocks = make_blocks(rowset, rowset.units.base)
    month = rowset.units.month
    done = 0
    for b in range(blocks.n):
        members = sorted(np.flatnonzero(blocks.of_unit == b).tolist(), key=lambda u: month[u])
        for early in members:
            for late in reversed(members):
                if done >= swaps or month[late] <= month[early] or counts[early, column] == 0:
                    continue
                others = [j for j in np.flatnonzero(counts[late]).tolist() if j != column]
                if not others:
                    continue
                j = others[0]
                counts[early, column] -= 1
                counts[late, column] += 1
                counts[late, j] -= 1
                counts[early, j] += 1
                done += 1
    return counts


def test_repace_brings_drifting_month_ends_back_within_one_dwelling(planned) -> None:  # type: ignore[no-untyped-def]
    rowset, counts = planned
    pacing = rowset.mask(RowKind.PACING)
    column = next(j for j, c in enumerate(rowset.columns) if c != BAILLEUR)
    drifted = _delay(rowset, counts, column, swaps=12)
    before = rowset.evaluate(drifted).deviation[pacing]
    assert (before > 1 + 1e-9).any(), "the test must start from a plan that drifts"
    fixed = np.zeros_like(counts)
    new, stats = repace(rowset, drifted, fixed, SolveSettings(), time_limit=20)
    after = rowset.evaluate(new).deviation[pacing]
    # recomputed here, not read from the stats
    assert (after > 1 + 1e-9).sum() == 0
    assert after.sum() <= before.sum() + 1e-9
    assert stats.rows_above_one_after == 0 and stats.after == pytest.approx(after.sum())
    # every dwelling designated once, every non-pacing row (levels, legal) exactly as before
    assert new.sum(axis=1).tolist() == rowset.units.base.tolist()
    assert (new >= 0).all() and (new[~rowset.eligible()] == 0).all()
    # no row above pacing further from its target; legal rows and wishes at their very count
    others = ~rowset.mask(RowKind.PACING)
    dev_before = rowset.evaluate(drifted).deviation
    dev_after = rowset.evaluate(new).deviation
    assert (dev_after[others] <= dev_before[others] + 1e-9).all()
    exact = rowset.mask(RowKind.LEGAL) | rowset.mask(RowKind.WISH)
    assert np.array_equal(rowset.counts(new)[exact], rowset.counts(drifted)[exact])
    assert rowset.hard_violations(rowset.evaluate(new)) == rowset.hard_violations(rowset.evaluate(drifted))


def test_repace_never_moves_fixed_designations(planned) -> None:  # type: ignore[no-untyped-def]
    rowset, counts = planned
    column = next(j for j, c in enumerate(rowset.columns) if c != BAILLEUR)
    drifted = _delay(rowset, counts, column, swaps=12)
    fixed = np.where((rowset.units.month <= 4)[:, None], drifted, 0)
    new, _ = repace(rowset, drifted, fixed, SolveSettings(), time_limit=20)
    assert (new >= fixed).all()
    assert np.array_equal(new[rowset.units.month <= 4], drifted[rowset.units.month <= 4])


def test_repace_leaves_a_plan_without_drift_alone(planned) -> None:  # type: ignore[no-untyped-def]
    rowset, counts = planned
    zero = np.zeros_like(counts)
    steady, _ = repace(
        rowset, counts, zero, SolveSettings(), time_limit=20
    )  # no drift left, whatever the start
    assert (rowset.evaluate(steady).deviation[rowset.mask(RowKind.PACING)] <= 1 + 1e-9).all()
    again, stats = repace(rowset, steady, zero, SolveSettings(), time_limit=20)
    assert np.array_equal(again, steady) and stats.status == "inutile"


def test_second_round_moves_only_the_dwellings_of_drifting_conventions(planned) -> None:  # type: ignore[no-untyped-def]
    """`around=True`: conventions above `AROUND_SELECT` and their neighbours are re-timed on the drifting
    conventions' dwellings only; everything else stays, and no row above pacing gets worse."""
    rowset, counts = planned
    pacing = rowset.mask(RowKind.PACING)
    column = next(j for j, c in enumerate(rowset.columns) if c != BAILLEUR)
    drifted = _delay(rowset, counts, column, swaps=12)
    dev = rowset.evaluate(drifted).deviation
    drifting = sorted(
        {
            rowset.columns.index(r.convention)
            for r in rowset.rows
            if pacing[r.index] and dev[r.index] > AROUND_SELECT
        }
    )
    assert drifting, "the test must start from a plan that drifts"
    area = rowset.eligible()[:, drifting].any(axis=1)
    new, stats = repace(rowset, drifted, np.zeros_like(counts), SolveSettings(), time_limit=20, around=True)
    assert stats.columns >= len(drifting)
    assert np.array_equal(new[~area], drifted[~area])  # recomputed: outside the area, nothing moved
    assert new.sum(axis=1).tolist() == rowset.units.base.tolist()
    after = rowset.evaluate(new).deviation
    assert after[pacing].sum() <= dev[pacing].sum() + 1e-9
    others = ~pacing
    assert (after[others] <= dev[others] + 1e-9).all()
    exact = rowset.mask(RowKind.LEGAL) | rowset.mask(RowKind.WISH)
    assert np.array_equal(rowset.counts(new)[exact], rowset.counts(drifted)[exact])


def test_cap_habitat_plan_has_no_month_end_above_one_dwelling() -> None:
    """The issue's pacing target on the shipped Cap-Habitat-like scenario, recomputed from the plan's counts:
    no month end of any convention more than one dwelling off (the rounding allows it: every floor ≤ 0.5).
    Its first repair round leaves the commune 92024 convention 1.2 off in September (its rows at their floor
    leave it no exchange with the landlord); the second round, with its neighbours, brings it back."""
    from pathlib import Path

    from fluxopt.io.scenario import load_scenario
    from fluxopt.planning import plan

    result = plan(load_scenario(Path(__file__).parents[1] / "scenarios" / "cap-habitat"))
    rowset = result.rowset
    pacing = rowset.mask(RowKind.PACING)
    assert (rowset.floors[pacing] <= 0.5 + 1e-9).all()
    dev = rowset.evaluate(result.counts).deviation[pacing]
    assert (dev <= 1 + 1e-9).all(), sorted(dev)[-3:]
    assert result.repair is not None and result.repair["second_tour"] is not None
    assert result.repair["fins_de_mois_au_dela_de_1_apres"] == 0
    assert [lv.status for lv in result.levels] == ["optimal", "optimal", "optimal"]


def test_month_ends_made_of_past_designations_only_select_nobody(planned) -> None:  # type: ignore[no-untyped-def]
    """Weekly re-planning: a month end before a convention's first dwelling still to designate is history;
    the repair must not re-time a convention for it (measured: 3.8 s + 3.8 s of repair for nothing)."""
    rowset, counts = planned
    pacing = rowset.mask(RowKind.PACING)
    column = next(j for j, c in enumerate(rowset.columns) if c != BAILLEUR)
    drifted = _delay(rowset, counts, column, swaps=12)
    dev = rowset.evaluate(drifted).deviation
    late = [r for r in rowset.rows if pacing[r.index] and dev[r.index] > 1 + 1e-9]
    assert late, "the test must start from a plan that drifts"
    last = max(int(r.value[-2:]) for r in late)
    past = (rowset.units.month <= last)[:, None]
    fixed = np.where(past, drifted, 0)  # every drifting month end is made of fixed designations
    first = _first_free_month(rowset, fixed)
    month = rowset.units.month
    for k in range(len(rowset.columns)):  # recomputed: the earliest month of a free, eligible dwelling
        free_k = (~past[:, 0]) & rowset.eligible()[:, k] & (rowset.units.base > 0)
        assert first[k] == (int(month[free_k].min()) if free_k.any() else 13)
    new, stats = repace(rowset, drifted, fixed, SolveSettings(), time_limit=20)
    assert stats.status == "inutile" and stats.columns == 0
    assert np.array_equal(new, drifted)


def _two_departements(*, landlord_wide: bool = False):  # type: ignore[no-untyped-def]
    """A planned year in the 92 and the 94, Action Logement and the State in each; with `landlord_wide`, a
    convention over all three communes too (eligible on every dwelling, it links the two départements)."""
    rows = (
        programme("P1", "92046", typologies={"T2": 60, "T3": 80, "T4": 40}, qpv=True, year=1965)
        + programme("P2", "92025", typologies={"T1": 20, "T2": 50, "T3": 50}, financing="PLAI", year=2015)
        + programme("P3", "94081", typologies={"T2": 70, "T3": 90, "T4": 30}, year=1980)
    )
    convs = [
        convention("ETAT-92", "ETAT", 30, departement="92", balance=["typologie"]),
        convention("ETAT-94", "ETAT", 30, departement="94", balance=["typologie"]),
        convention("AL-92", "AL", 20, departement="92", balance=["typologie"]),
        convention("AL-94", "AL", 20, departement="94", balance=["typologie"]),
    ]
    if landlord_wide:
        convs.append(convention("CD-ALL", "CD", 5, communes=["92025", "92046", "94081"]))
    scen = make_scenario(rows, convs, turnover_rate=0.2)
    rowset = build_rows(scen, units_from_forecast(forecast_flux(scen)))
    spec, _, _ = load_model_spec("equilibre")
    return rowset, plan_units(rowset, spec).counts


def test_conventions_that_share_no_dwelling_are_grouped_apart() -> None:
    rowset, _ = _two_departements()
    col = rowset.columns.index
    drifting = sorted(col(c) for c in ("ETAT-92", "ETAT-94", "AL-92", "AL-94"))
    assert _groups(rowset, drifting) == [
        sorted([col("ETAT-92"), col("AL-92")]),
        sorted([col("ETAT-94"), col("AL-94")]),
    ]
    two = sorted([col("AL-94"), col("ETAT-92")])
    assert _groups(rowset, two) == [[two[0]], [two[1]]]  # groups in the order of their first column
    wide, _ = _two_departements(landlord_wide=True)
    every = sorted(wide.columns.index(c) for c in ("ETAT-92", "ETAT-94", "AL-92", "AL-94", "CD-ALL"))
    assert _groups(wide, every) == [every]  # a convention eligible in both links them


def test_drifting_departements_are_retimed_one_after_the_other_no_level_worse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The repair re-times each group (département) in its own model, in turn: measured on grand-bailleur's
    weekly re-plan, 8.6 s in one model, 3.0 s by département, for the same month ends. Every guarantee of
    the one-model repair holds (recomputed here): month ends no worse, every other row no further from
    its target, legal rows and wishes at their very count, each dwelling designated once."""
    rowset, counts = _two_departements()
    col = rowset.columns.index
    drifted = _delay(rowset, counts, col("AL-92"), swaps=12)
    drifted = _delay(rowset, drifted, col("AL-94"), swaps=12)
    pacing = rowset.mask(RowKind.PACING)
    before = rowset.evaluate(drifted).deviation
    calls: list[list[int]] = []
    original = repace_mod._retime

    def spy(rowset_, counts_, fixed_, settings_, drifting_, area_, limit_):  # type: ignore[no-untyped-def]
        calls.append(list(drifting_))
        return original(rowset_, counts_, fixed_, settings_, drifting_, area_, limit_)

    monkeypatch.setattr(repace_mod, "_retime", spy)
    new, stats = repace(rowset, drifted, np.zeros_like(drifted), SolveSettings(), time_limit=20)
    assert len(calls) == 2 and not set(calls[0]) & set(calls[1])
    assert col("AL-92") in calls[0] and col("AL-94") in calls[1]
    after = rowset.evaluate(new).deviation
    assert after[pacing].sum() < before[pacing].sum() - 1e-9
    assert stats.after == pytest.approx(after[pacing].sum()) and stats.status == "optimal"
    assert (after[~pacing] <= before[~pacing] + 1e-9).all()
    exact = rowset.mask(RowKind.LEGAL) | rowset.mask(RowKind.WISH)
    assert np.array_equal(rowset.counts(new)[exact], rowset.counts(drifted)[exact])
    assert new.sum(axis=1).tolist() == rowset.units.base.tolist() and (new >= 0).all()
    assert (new[~rowset.eligible()] == 0).all()
