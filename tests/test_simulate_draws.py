"""Year-replay building blocks: weekly calendar, seeded vacancy draws, designation outcomes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from fluxopt.domain import DesignationStatus, SimulationRates
from fluxopt.simulate import (
    OUTCOME_DELAYS,
    draw_outcomes,
    draw_vacancies,
    run_rng,
    status_on,
    weekly_calendar,
)


@pytest.mark.parametrize("year", [2024, 2026, 2027])
def test_weekly_calendar_covers_every_day_once_monday_to_sunday(year: int) -> None:
    weeks = weekly_calendar(year)
    days = [
        w.first_day + dt.timedelta(days=d) for w in weeks for d in range((w.last_day - w.first_day).days + 1)
    ]
    expected = [
        dt.date(year, 1, 1) + dt.timedelta(days=d) for d in range((dt.date(year, 12, 31)).timetuple().tm_yday)
    ]
    assert days == expected
    assert [w.index for w in weeks] == list(range(len(weeks)))
    for w in weeks[1:-1]:
        assert w.first_day.weekday() == 0 and w.last_day.weekday() == 6
    assert 52 <= len(weeks) <= 54


def test_run_rng_is_reproducible_and_independent_per_run_and_purpose() -> None:
    a = run_rng(7, 3, "vacancies").random(5)
    assert np.array_equal(a, run_rng(7, 3, "vacancies").random(5))
    assert not np.array_equal(a, run_rng(7, 4, "vacancies").random(5))
    assert not np.array_equal(a, run_rng(7, 3, "outcomes").random(5))
    assert not np.array_equal(a, run_rng(8, 3, "vacancies").random(5))


def _pools() -> list[np.ndarray]:
    return [np.arange(0, 400, dtype=np.int32), np.arange(400, 1000, dtype=np.int32)]


def test_draw_vacancies_is_seeded_sorted_and_frees_a_dwelling_at_most_once() -> None:
    expected = np.vstack([np.full(12, 2.0), np.linspace(1, 5, 12)])
    a = draw_vacancies(_pools(), expected, 2026, run_rng(1, 0, "vacancies"))
    b = draw_vacancies(_pools(), expected, 2026, run_rng(1, 0, "vacancies"))
    assert np.array_equal(a.dwelling, b.dwelling) and np.array_equal(a.date, b.date)
    assert len(np.unique(a.dwelling)) == len(a)
    keys = list(zip(a.date.tolist(), a.dwelling.tolist(), strict=True))
    assert keys == sorted(keys)
    assert a.date.min() >= np.datetime64("2026-01-01") and a.date.max() <= np.datetime64("2026-12-31")


def test_draw_vacancies_matches_expected_counts_per_cell_and_month_on_average() -> None:
    """Independent recomputation: 300 seeded years, mean counts per cell within 3 % of the expectation."""
    expected = np.vstack([np.full(12, 2.0), np.linspace(1, 5, 12)])
    totals = np.zeros((2, 12))
    runs = 300
    for run in range(runs):
        draw = draw_vacancies(_pools(), expected, 2026, run_rng(5, run, "vacancies"))
        cell = (draw.dwelling >= 400).astype(int)
        month = draw.date.astype("datetime64[M]").astype(int) % 12
        np.add.at(totals, (cell, month), 1)
    assert totals.sum(axis=1) / runs == pytest.approx(expected.sum(axis=1), rel=0.03)
    assert totals[1, 11] / runs == pytest.approx(5.0, rel=0.15)


def test_draw_vacancies_turnover_factor_scales_the_flux() -> None:
    expected = np.vstack([np.full(12, 2.0), np.full(12, 3.0)])
    n = {
        f: sum(
            len(draw_vacancies(_pools(), expected, 2026, run_rng(2, r, "vacancies"), f)) for r in range(100)
        )
        for f in (0.8, 1.0, 1.2)
    }
    assert n[0.8] / 100 == pytest.approx(48, rel=0.04)
    assert n[1.2] / 100 == pytest.approx(72, rel=0.04)
    assert n[0.8] < n[1.0] < n[1.2]


def test_draw_vacancies_from_a_start_date_skips_the_past() -> None:
    expected = np.full((2, 12), 4.0)
    draw = draw_vacancies(_pools(), expected, 2026, run_rng(3, 0, "vacancies"), start=dt.date(2026, 7, 15))
    assert len(draw) > 0
    assert draw.date.min() >= np.datetime64("2026-07-15")


def test_draw_vacancies_rejects_a_bad_shape() -> None:
    with pytest.raises(ValueError):
        draw_vacancies(_pools(), np.zeros((3, 12)), 2026, run_rng(0, 0, "vacancies"))


def test_draw_outcomes_follows_the_simulation_rates() -> None:
    """Carence and refusal frequencies recomputed from the draws (domain.md §4)."""
    rates = SimulationRates(no_candidate_rate=0.05, refusal_rate=0.15)
    out = draw_outcomes(200_000, rates, run_rng(0, 0, "outcomes"))
    # P(carence) = p_n · Σ p_r^k  + p_r^(max+1) ; P(at least one refusal) = p_r
    p_n, p_r, k = 0.05, 0.15, OUTCOME_DELAYS.max_refusals
    expected_none = p_n * sum(p_r**i for i in range(k + 1)) + p_r ** (k + 1)
    assert out.no_candidate.mean() == pytest.approx(expected_none, abs=0.002)
    assert (out.refusals > 0).mean() == pytest.approx(p_r, abs=0.003)
    assert (out.decided == OUTCOME_DELAYS.candidates + OUTCOME_DELAYS.after_refusal * out.refusals).all()
    assert (out.lease > out.decided).all()


def test_no_outcome_rates_means_every_lease_is_signed() -> None:
    out = draw_outcomes(
        1000, SimulationRates(no_candidate_rate=0.0, refusal_rate=0.0), run_rng(0, 1, "outcomes")
    )
    assert not out.no_candidate.any() and not out.refusals.any()


def test_status_on_follows_the_life_of_a_designation() -> None:
    """Offered → refused (same réservataire) → lease signed; or carence → taken back by the landlord."""
    rates = SimulationRates(no_candidate_rate=0.3, refusal_rate=0.3)
    out = draw_outcomes(500, rates, run_rng(9, 0, "outcomes"))
    day0 = dt.date(2026, 3, 2)
    refused = int(np.flatnonzero((out.refusals > 0) & ~out.no_candidate)[0])
    assert status_on(day0, out, refused, day0)[0] is DesignationStatus.OFFERED
    assert status_on(day0, out, refused, day0 + dt.timedelta(days=22))[0] is DesignationStatus.REFUSED
    status, lease = status_on(day0, out, refused, day0 + dt.timedelta(days=int(out.lease[refused])))
    assert status is DesignationStatus.LEASE_SIGNED and lease == day0 + dt.timedelta(
        days=int(out.lease[refused])
    )
    none = int(np.flatnonzero(out.no_candidate)[0])
    decided = day0 + dt.timedelta(days=int(out.decided[none]))
    assert status_on(day0, out, none, decided)[0] is DesignationStatus.NO_CANDIDATE
    assert status_on(day0, out, none, day0 + dt.timedelta(days=int(out.lease[none])))[0] is (
        DesignationStatus.TAKEN_BACK
    )
