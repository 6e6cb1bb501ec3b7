"""Rows: targets, bases, rounding floors and the evaluator, each recomputed independently."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pytest

from factories import convention, make_scenario, programme, two_commune_scenario
from fluxopt.errors import InfeasibleError
from fluxopt.forecast import forecast_flux
from fluxopt.rows import (
    BAILLEUR,
    RowKind,
    Sense,
    build_rows,
    columns_of,
    deviation,
    rounding_floor,
    share_matrix,
    units_from_forecast,
)


def _rows(scen):  # type: ignore[no-untyped-def]
    units = units_from_forecast(forecast_flux(scen))
    return units, build_rows(scen, units)


def test_rounding_floor_is_distance_to_nearest_whole_number() -> None:
    assert rounding_floor(12.4) == pytest.approx(0.4)
    assert rounding_floor(12.6) == pytest.approx(0.4)
    assert rounding_floor(3.0) == 0
    assert rounding_floor(3.7, Sense.GE) == 0


def test_deviation_by_sense() -> None:
    dev = deviation([3, 3, 3, 5, 5], [4.5, 4.5, 4.5, 4.5, 4.5], ["=", ">=", "<=", ">=", "<="])
    assert list(dev) == pytest.approx([1.5, 1.5, 0.0, 0.0, 0.5])


def test_landlord_keeps_the_remainder_which_varies_by_commune() -> None:
    scen = two_commune_scenario()
    units, rs = _rows(scen)
    cols = columns_of(scen)
    assert cols[-1] == BAILLEUR and list(cols[:-1]) == sorted(cols[:-1])
    shares = rs.shares
    j = cols.index(BAILLEUR)
    malakoff = units.commune == units.communes.index("92046")
    # 92046: 25 + 5 + 25 + 20 = 75 % reserved; 92025: 55 %
    assert np.allclose(shares[malakoff, j], 0.25)
    assert np.allclose(shares[~malakoff, j], 0.45)
    assert np.allclose(shares.sum(axis=1), 1.0)


def test_shares_above_100_percent_in_a_commune_are_impossible_targets() -> None:
    rows = programme("P1", "92046", typologies={"T3": 100})
    convs = [
        convention("ETAT", "ETAT", 30, departement="92"),
        convention("AL", "AL", 40, departement="92"),
        convention("VILLE", "VILLE", 35, communes=["92046"]),
    ]
    scen = make_scenario(rows, convs, turnover_rate=0.1)
    units = units_from_forecast(forecast_flux(scen))
    with pytest.raises(InfeasibleError, match=r"commune 92046.*105 %"):
        share_matrix(scen, units)


def test_convention_in_force_part_of_the_year_owns_only_those_months() -> None:
    rows = programme("P1", "92046", typologies={"T3": 240})
    convs = [
        convention("EMP", "AL", 10, departement="92", start=dt.date(2026, 4, 1), end=dt.date(2026, 6, 15))
    ]
    scen = make_scenario(rows, convs, turnover_rate=0.1)
    units, rs = _rows(scen)
    share = rs.shares[:, 0]
    by_month = {int(m): float(share[units.month == m][0]) for m in np.unique(units.month)}
    assert by_month[3] == 0 and by_month[4] == pytest.approx(0.1) and by_month[7] == 0
    assert by_month[6] == pytest.approx(0.1 * 15 / 30)
    total = next(r for r in rs.rows if r.kind is RowKind.TOTAL and r.convention == "EMP")
    expected = sum(units.base[i] * share[i] for i in range(len(units)))
    assert total.target == pytest.approx(expected)
    assert total.base == int(units.base[(units.month >= 4) & (units.month <= 6)].sum())


def test_representativeness_rows_follow_balance_and_skip_single_commune_scopes() -> None:
    scen = two_commune_scenario()
    units, rs = _rows(scen)
    dims = {(r.convention, r.dimension) for r in rs.rows if r.kind is RowKind.REPRESENTATIVENESS}
    assert dims == {
        ("ETAT-PRIO-92", "typologie"),
        ("ETAT-PRIO-92", "qpv"),
        ("ETAT-PRIO-92", "commune"),
        ("AL-92", "typologie"),
        ("AL-92", "financement"),
        ("VILLE-92046", "typologie"),
    }
    # target recomputed by hand: 25 % of the T3 dwellings of the base
    row = next(r for r in rs.rows if r.convention == "AL-92" and r.value == "T3")
    t3 = units.typology == 2
    assert row.base == int(units.base[t3].sum())
    assert row.target == pytest.approx(0.25 * units.base[t3].sum())


def test_pacing_rows_are_cumulative_targets_to_each_month_end() -> None:
    scen = two_commune_scenario()
    units, rs = _rows(scen)
    pacing = [r for r in rs.rows if r.kind is RowKind.PACING and r.convention == "VILLE-92046"]
    assert [r.value for r in pacing] == [f"2026-{m:02d}" for m in range(1, 12)]
    malakoff = units.commune == units.communes.index("92046")
    for r in pacing:
        m = int(r.value[-2:])
        assert r.target == pytest.approx(0.2 * units.base[malakoff & (units.month <= m)].sum())


def test_legal_rows_prefet_uniform_per_commune_and_outside_qpv_minimum() -> None:
    scen = two_commune_scenario(legal={"prefet_uniform_per_commune": True, "prefet_min_outside_qpv": 30})
    units, rs = _rows(scen)
    legal = [r for r in rs.rows if r.kind is RowKind.LEGAL]
    assert all(r.hard for r in legal)
    uniform = {r.value: r for r in legal if r.rule == "prefet_uniforme"}
    for code, row in uniform.items():
        sel = units.commune == units.communes.index(code)
        assert row.target == pytest.approx(0.30 * units.base[sel].sum())
        assert row.sense is Sense.EQ
    outside = {r.value: r for r in legal if r.rule == "prefet_hors_qpv"}
    for row in outside.values():
        code = row.value.split()[0]
        sel = (units.commune == units.communes.index(code)) & ~units.qpv
        assert row.sense is Sense.GE and row.target == pytest.approx(0.30 * units.base[sel].sum())
    fonc = [r for r in legal if r.rule == "fonctionnaires"]
    assert len(fonc) == 1 and fonc[0].sense is Sense.LE
    assert fonc[0].target == pytest.approx(0.05 * units.total)
    _, members = rs.members(fonc[0])
    assert [rs.columns[j] for j in members] == ["ETAT-FONC-92"]


def test_legal_rows_switched_off() -> None:
    scen = two_commune_scenario(legal={"prefet_uniform_per_commune": False, "prefet_min_outside_qpv": None})
    _, rs = _rows(scen)
    assert {r.rule for r in rs.rows if r.kind is RowKind.LEGAL} == {"fonctionnaires"}


def test_wish_rows_are_shares_of_the_conventions_total_target() -> None:
    rows = programme("P1", "92046", typologies={"T2": 50, "T4": 30, "T5+": 20})
    convs = [
        convention(
            "VILLE", "VILLE", 20, communes=["92046"],
            wishes=[{"dimension": "typologie", "values": ["T4", "T5+"], "min_share": 60}],
        )
    ]  # fmt: skip
    scen = make_scenario(rows, convs, turnover_rate=0.1)
    _units, rs = _rows(scen)
    wish = next(r for r in rs.rows if r.kind is RowKind.WISH)
    total = next(r for r in rs.rows if r.kind is RowKind.TOTAL and r.convention == "VILLE")
    assert wish.sense is Sense.GE and wish.target == pytest.approx(0.6 * total.target)
    assert wish.floor == 0


def test_programme_scope_counts_only_its_programmes() -> None:
    rows = programme("P1", "92046", typologies={"T3": 100}) + programme("P2", "92046", typologies={"T3": 100})
    convs = [convention("EMP", "AL", 10, programmes=["P2"])]
    units, rs = _rows(make_scenario(rows, convs, turnover_rate=0.1))
    share = rs.shares[:, 0]
    p2 = units.programme == units.programmes.index("P2")
    assert np.all(share[p2] == pytest.approx(0.1)) and np.all(share[~p2] == 0)


def test_evaluate_matches_a_naive_recount() -> None:
    scen = two_commune_scenario(legal={"prefet_min_outside_qpv": 30})
    units, rs = _rows(scen)
    rng = np.random.default_rng(5)
    elig = rs.eligible()
    counts = np.zeros((len(units), len(rs.columns)), dtype=np.int64)
    for u in range(len(units)):
        for _ in range(int(units.base[u])):
            counts[u, rng.choice(np.flatnonzero(elig[u]))] += 1
    ev = rs.evaluate(counts)
    for r in rs.rows:
        us, cs = rs.members(r)
        naive = sum(int(counts[u, c]) for u, c in itertools.product(us, cs))
        assert ev.count[r.index] == naive
        t = r.target
        exp = {"=": abs(naive - t), ">=": max(0.0, t - naive), "<=": max(0.0, naive - t)}[r.sense.value]
        assert ev.deviation[r.index] == pytest.approx(exp, abs=1e-9)


def test_row_counts_of_whole_numbers_are_the_family_by_family_counts() -> None:
    """`RowSet.counts` sums a whole-number matrix in one bincount over `incidence`; recomputed here family
    by family (each row: its units, or its months' units for pacing, over its columns)."""
    scen = two_commune_scenario(legal={"prefet_uniform_per_commune": True, "prefet_min_outside_qpv": 30})
    _, rowset = _rows(scen)
    rng = np.random.default_rng(7)
    matrix = rng.integers(0, 4, size=(len(rowset.units), len(rowset.columns)))
    fast = rowset.counts(matrix)
    for r in rowset.rows:
        units, columns = rowset.members(r)
        assert fast[r.index] == float(matrix[np.ix_(units, columns)].sum()), r
    # fractional matrices (expected losses) take the family-by-family path: same figures
    assert np.allclose(rowset.counts(matrix.astype(np.float64) + 0.25), fast + 0.25 * _member_sizes(rowset))


def _member_sizes(rowset):  # type: ignore[no-untyped-def]
    sizes = np.zeros(len(rowset.rows))
    for r in rowset.rows:
        units, columns = rowset.members(r)
        sizes[r.index] = len(units) * len(columns)
    return sizes
