"""Forecast of the flux base: each domain rule recomputed by hand on tiny stocks."""

from __future__ import annotations

import datetime as dt
import math
import random

import numpy as np
import pytest

from factories import convention, make_scenario, programme, two_commune_scenario
from fluxopt.errors import InputError
from fluxopt.forecast import forecast_flux, month_coverage

DEP = [convention("AL-92", "AL", 25, departement="92")]


def test_stock_out_of_flux_never_enters_the_base() -> None:
    rows = (
        programme("P1", "92046", typologies={"T3": 10})
        + programme("P2", "92046", typologies={"T3": 10}, out_of_flux="defense")
        + programme("P3", "92046", typologies={"T2": 10}, out_of_flux="hopital")
    )
    fc = forecast_flux(make_scenario(rows, DEP, turnover_rate=0.1))
    assert fc.total_expected == pytest.approx(10 * 0.1)
    assert fc.gross_year == pytest.approx(1.0)


def test_turnover_precedence_dwelling_then_programme_then_scenario_rate() -> None:
    rows = (
        programme("P1", "92046", typologies={"T3": 10}, turnover=0.10)  # observed per dwelling
        + programme("P2", "92046", typologies={"T3": 20})  # programme rate from rotation.csv
        + programme("P3", "92046", typologies={"T3": 30})  # scenario rate
    )
    fc = forecast_flux(
        make_scenario(rows, DEP, turnover_rate=0.05, programme_turnover={"P2": 0.08, "P1": 0.5})
    )
    assert fc.gross_year == pytest.approx(10 * 0.10 + 20 * 0.08 + 30 * 0.05)


def test_first_letting_is_one_vacancy_in_its_month_not_subject_to_turnover() -> None:
    rows = (
        programme("P1", "92046", typologies={"T3": 10})
        + programme("NEW", "92046", typologies={"T2": 4}, first_letting=dt.date(2026, 9, 15), year=2026)
        + programme("LATER", "92046", typologies={"T2": 6}, first_letting=dt.date(2027, 2, 1), year=2027)
    )
    fc = forecast_flux(make_scenario(rows, DEP, turnover_rate=0.12), turnover_multiplier=1.2)
    assert fc.gross_year == pytest.approx(10 * 0.12 * 1.2 + 4)
    # the 4 first lettings all fall in September, on top of the turnover of P1
    september = fc.expected[:, 8].sum()
    assert september == pytest.approx(10 * 0.12 * 1.2 / 12 + 4)
    assert fc.expected[:, 9].sum() == pytest.approx(10 * 0.12 * 1.2 / 12)


def test_seasonality_spreads_the_year_by_normalised_weights() -> None:
    weights = [2.0] + [1.0] * 11
    rows = programme("P1", "92046", typologies={"T3": 130})
    fc = forecast_flux(make_scenario(rows, DEP, turnover_rate=0.1, seasonality=weights))
    monthly = fc.expected.sum(axis=0)
    assert monthly[0] == pytest.approx(13 * 2 / 13)
    assert monthly[1] == pytest.approx(13 / 13)


def test_forecast_exclusions_are_spread_proportionally() -> None:
    rows = programme("P1", "92046", typologies={"T3": 100}) + programme("P2", "92025", typologies={"T2": 100})
    scen = make_scenario(rows, DEP, turnover_rate=0.1, exclusions={"mutation_interne": 3, "vente": 1})
    fc = forecast_flux(scen)
    assert fc.gross_year == pytest.approx(20)
    assert fc.total_expected == pytest.approx(16)
    # every cell × month keeps the same ratio 1 − 4/20
    plain = forecast_flux(make_scenario(rows, DEP, turnover_rate=0.1))
    np.testing.assert_allclose(fc.expected, plain.expected * 0.8)
    assert fc.exclusions == {"mutation_interne": pytest.approx(3), "vente": pytest.approx(1)}


def test_exclusions_larger_than_the_expected_flux_are_refused() -> None:
    rows = programme("P1", "92046", typologies={"T3": 10})
    with pytest.raises(InputError, match="exclusions prévues"):
        forecast_flux(make_scenario(rows, DEP, turnover_rate=0.1, exclusions={"anru": 5}))


@pytest.mark.parametrize("anru", [0.99, 1.0, 1.01])
def test_validation_refuses_the_exclusions_exactly_when_the_forecast_would(anru: float) -> None:
    """`check_exclusions` (validation, without the forecast's rounding) and `forecast_flux` agree at the
    boundary: 10 dwellings at 10 % turnover expect 1.0 vacancy, so exclusions of 1.0 or more leave no base."""
    from fluxopt.errors import ExclusionsError
    from fluxopt.forecast import check_exclusions

    scen = make_scenario(
        programme("P1", "92046", typologies={"T3": 10}), DEP, turnover_rate=0.1, exclusions={"anru": anru}
    )
    outcomes = []
    for check in (check_exclusions, forecast_flux):
        try:
            check(scen)
            outcomes.append(None)
        except ExclusionsError as error:
            outcomes.append(str(error))
    assert outcomes[0] == outcomes[1]
    assert (outcomes[0] is not None) == (anru >= 1.0)


def test_start_date_covers_only_the_rest_of_the_year() -> None:
    cover = month_coverage(2026, dt.date(2026, 4, 10))
    assert list(cover[:3]) == [0, 0, 0]
    assert cover[3] == pytest.approx(20 / 30)
    assert list(cover[4:]) == [1] * 8
    rows = programme("P1", "92046", typologies={"T3": 120})
    fc = forecast_flux(make_scenario(rows, DEP, turnover_rate=0.1), as_of=dt.date(2026, 4, 10))
    assert fc.expected[:, :3].sum() == 0
    assert fc.total_expected == pytest.approx(12 / 12 * (20 / 30 + 8))
    assert fc.months() == tuple(range(4, 13))
    assert fc.counts[:, :3].sum() == 0


def test_turnover_multiplier_scales_turnover() -> None:
    rows = programme("P1", "92046", typologies={"T3": 100})
    scen = make_scenario(rows, DEP, turnover_rate=0.1)
    assert forecast_flux(scen, turnover_multiplier=0.8).total_expected == pytest.approx(8)
    assert forecast_flux(scen, turnover_multiplier=1.2).total_expected == pytest.approx(12)
    with pytest.raises(InputError):
        forecast_flux(scen, turnover_multiplier=0)


def _floor_ceil(value: float, whole: int) -> bool:
    return math.floor(value + 1e-9) <= whole <= math.ceil(value - 1e-9)


def test_rounding_preserves_totals_per_commune_month_typology_and_cell() -> None:
    scen = two_commune_scenario(
        exclusions={"mutation_interne": 5},
        seasonality=[0.9, 0.85, 0.95, 0.95, 1.0, 1.1, 1.2, 1.25, 1.05, 0.95, 0.9, 0.9],
    )
    fc = forecast_flux(scen)
    e, c = fc.expected, fc.counts
    assert c.sum() == math.floor(e.sum() + 0.5)
    assert np.all(c >= 0)
    for i in range(len(fc.cells)):
        assert _floor_ceil(e[i].sum(), int(c[i].sum()))
        for m in range(12):
            assert _floor_ceil(e[i, m], int(c[i, m]))
    for m in range(12):
        assert _floor_ceil(e[:, m].sum(), int(c[:, m].sum()))
    for code in range(len(fc.cells.communes)):
        sel = fc.cells.commune == code
        assert _floor_ceil(e[sel].sum(), int(c[sel].sum()))
    for t in range(5):
        sel = fc.cells.typology == t
        assert _floor_ceil(e[sel].sum(), int(c[sel].sum()))


def test_forecast_does_not_depend_on_stock_row_order() -> None:
    rows = (
        programme("P1", "92046", typologies={"T2": 40, "T3": 60, "T4": 30}, qpv=True, turnover=0.07)
        + programme("P2", "92046", typologies={"T1": 10, "T2": 30}, financing="PLAI", year=2015)
        + programme("P3", "92025", typologies={"T2": 50, "T3": 70, "T5+": 10}, year=1980)
    )
    for i, r in enumerate(rows):
        r["id"] = f"L{i:05d}"
    a = forecast_flux(make_scenario(rows, DEP, turnover_rate=0.11))
    shuffled = rows[:]
    random.Random(3).shuffle(shuffled)
    b = forecast_flux(make_scenario(shuffled, DEP, turnover_rate=0.11))
    assert np.array_equal(a.expected, b.expected)
    assert np.array_equal(a.counts, b.counts)
    assert a.cells.communes == b.cells.communes


def test_cells_keep_programmes_only_when_a_scope_names_them() -> None:
    rows = programme("P1", "92046", typologies={"T3": 10}) + programme("P2", "92046", typologies={"T3": 10})
    plain = forecast_flux(make_scenario(rows, DEP))
    assert len(plain.cells) == 1 and plain.cells.programme[0] == -1
    scoped = [*DEP, convention("EMP", "AL", 10, programmes=["P2"])]
    fc = forecast_flux(make_scenario(rows, scoped))
    assert len(fc.cells) == 2
    assert {fc.cells.label(i)[5] for i in range(2)} == {"", "P2"}
