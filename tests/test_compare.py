"""`compare`: targets, counts and gaps recounted from the raw rows, vacancy by vacancy, without rows.py."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fluxopt.compare import compare, month_elapsed, read_plan
from fluxopt.errors import InputError
from report_factories import (
    TYPOLOGY_OF,
    base_config,
    base_vacancies,
    recount_counted,
    recount_targets,
    rich_scenario,
)

YEAR = 2026
DATES = [dt.date(2026, 1, 31), dt.date(2026, 3, 15), dt.date(2026, 6, 30), dt.date(2026, 12, 31)]


@pytest.mark.parametrize("as_of", DATES)
def test_convention_targets_and_counts_match_a_recount(as_of: dt.date) -> None:
    scenario, raw = rich_scenario()
    config = base_config()
    result = compare(scenario, as_of)
    targets = recount_targets(config, raw, YEAR, as_of)
    counted = recount_counted(config, raw, YEAR, as_of)
    leases = recount_counted(config, raw, YEAR, as_of, leases=True)
    by_id = {c.convention: c for c in result.conventions}
    assert set(by_id) == set(targets)
    for conv, target in targets.items():
        line = by_id[conv]
        assert line.target == pytest.approx(target, abs=1e-9), conv
        assert line.counted == counted[conv], conv
        assert line.counted_leases == leases[conv], conv
        assert line.gap == pytest.approx(counted[conv] - target, abs=1e-9)
        if target > 0:
            assert line.gap_pct == pytest.approx((counted[conv] - target) / target)
    base = len(base_vacancies(raw, YEAR, as_of))
    assert result.base == base
    designated = {d.dwelling for d in raw.designations if d.date <= as_of}
    assert result.pending == sum(1 for v in base_vacancies(raw, YEAR, as_of) if v.dwelling not in designated)


def test_offered_and_leases_signed_are_raw_counts() -> None:
    scenario, raw = rich_scenario()
    as_of = dt.date(2026, 6, 30)
    result = compare(scenario, as_of)
    for line in result.conventions:
        offered = sum(1 for d in raw.designations if d.convention == line.convention and d.date <= as_of)
        signed = sum(
            1
            for d in raw.designations
            if d.convention == line.convention
            and d.status == "bail_signe"
            and (d.lease_date or d.date) <= as_of
        )
        assert (line.offered, line.leases) == (offered, signed), line.convention


def test_hand_checked_anchor() -> None:
    """AL-92 at 31 March: base of 92 = 8 vacancies (2 excluded of 10), 25 % → 2.0; its carence and
    its repris are not counted (counts_no_candidate = false): counted 1 (the lease of 15 March), gap −1."""
    scenario, _ = rich_scenario()
    al = next(c for c in compare(scenario, dt.date(2026, 3, 31)).conventions if c.convention == "AL-92")
    assert (al.base, al.target, al.offered, al.counted, al.gap) == (8, 2.0, 3, 1, -1.0)


@pytest.mark.parametrize("dimension", ["typologie", "financement", "qpv", "commune", "periode_construction"])
def test_breakdowns_match_a_recount(dimension: str) -> None:
    scenario, raw = rich_scenario()
    config = base_config()
    as_of = dt.date(2026, 12, 31)
    result = compare(scenario, as_of)
    lines = [v for v in result.values if v.dimension == dimension]
    assert lines
    for v in lines:
        where = TYPOLOGY_OF[dimension](v.value)
        target = recount_targets(config, raw, YEAR, as_of, where)[v.convention]
        counted = recount_counted(config, raw, YEAR, as_of, where)[v.convention]
        assert v.target == pytest.approx(target, abs=1e-9), (v.convention, v.value)
        assert v.counted == counted, (v.convention, v.value)
        dwellings = raw.dwelling()
        mine = [d for d in raw.designations if d.convention == v.convention and where(dwellings[d.dwelling])]
        assert v.offered == sum(1 for d in mine if d.date <= as_of)
        assert v.leases == sum(
            1 for d in mine if d.status == "bail_signe" and (d.lease_date or d.date) <= as_of
        )
    # balanced flags come from each convention's `balance` list (none in the factory config)
    assert not any(v.balanced for v in lines)


def test_cumulative_points_are_month_end_recounts() -> None:
    scenario, raw = rich_scenario()
    config = base_config()
    as_of = dt.date(2026, 7, 15)
    result = compare(scenario, as_of)
    for conv, points in result.cumulative.items():
        assert [p.month for p in points] == list(range(1, 8))
        for p in points:
            assert p.target == pytest.approx(recount_targets(config, raw, YEAR, p.day)[conv], abs=1e-9), (
                conv,
                p.month,
            )
            assert p.counted == recount_counted(config, raw, YEAR, p.day)[conv], (conv, p.month)
        assert points[-1].day == as_of


def test_fail_on_gap_selects_conventions_beyond_the_threshold() -> None:
    scenario, _ = rich_scenario()
    result = compare(scenario, dt.date(2026, 12, 31))
    reserved = [c for c in result.conventions if c.convention != "BAILLEUR"]
    worst = max(reserved, key=lambda c: abs(c.gap))
    assert result.gaps_over(abs(worst.gap)) == []
    assert worst in result.gaps_over(abs(worst.gap) - 0.01)
    # the landlord keeps the rest, owed to nobody: never an alarm
    landlord = next(c for c in result.conventions if c.convention == "BAILLEUR")
    assert abs(landlord.gap) > 1 and landlord not in result.gaps_over(0)


def test_as_of_outside_the_year_is_refused() -> None:
    scenario, _ = rich_scenario()
    with pytest.raises(InputError, match="n'est pas dans l'année"):
        compare(scenario, dt.date(2027, 1, 5))


def test_default_date_is_the_latest_actual() -> None:
    scenario, _ = rich_scenario()
    assert compare(scenario).as_of == dt.date(2026, 12, 28)


def _write_plan(folder: Path) -> None:
    folder.mkdir()
    lines = ["commune;typologie;qpv;financement;periode_construction;programme;mois;convention;logements"]
    lines += [
        "92046;T3;non;PLUS;1975-1999;;2026-01;AL-92;2",
        "92046;T3;non;PLUS;1975-1999;;2026-03;AL-92;1",
        "92040;T2;non;PLAI;2000-2012;;2026-06;AL-92;3",
        "92040;T2;non;PLAI;2000-2012;;2026-09;AL-92;4",
        "92046;T1;oui;PLUS;1949-1974;;2026-02;VILLE;1",
    ]
    (folder / "plan.csv").write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    (folder / "objectifs.csv").write_text(
        "type;convention;dimension;valeur;objectif\ntotal;AL-92;;;9,5\ntotal;VILLE;;;2,25\n", encoding="utf-8"
    )
    (folder / "manifest.json").write_text('{"statut": "optimal", "solveur": "CP-SAT"}', encoding="utf-8")


def test_plan_adds_planned_to_date_and_a_projection(tmp_path: Path) -> None:
    _write_plan(tmp_path / "plan")
    plan = read_plan(tmp_path / "plan")
    scenario, raw = rich_scenario()
    as_of = dt.date(2026, 6, 15)
    result = compare(scenario, as_of, plan)
    al = next(c for c in result.conventions if c.convention == "AL-92")
    # January 2 + March 1 + 15/30 of June's 3
    assert al.planned == pytest.approx(2 + 1 + 3 * 15 / 30)
    assert al.year_target == pytest.approx(9.5)
    counted = recount_counted(base_config(), raw, YEAR, as_of)["AL-92"]
    assert al.projected == pytest.approx(counted + (10 - al.planned))
    t3 = next(v for v in result.values if v.convention == "AL-92" and v.value == "T3")
    assert t3.planned == pytest.approx(3)
    t3_counted = recount_counted(base_config(), raw, YEAR, as_of, lambda d: d.typology == "T3")["AL-92"]
    assert t3.projected == pytest.approx(t3_counted + 0)  # all 3 planned T3 are before 15 June
    assert result.plan_manifest["statut"] == "optimal"
    ville = next(c for c in result.conventions if c.convention == "VILLE")
    assert ville.planned == pytest.approx(1)
    points = result.cumulative["AL-92"]
    assert [round(p.planned or 0, 6) for p in points] == [2, 2, 3, 3, 3, 4.5]


def test_a_folder_without_plan_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"plan\.csv est introuvable"):
        read_plan(tmp_path)


def test_month_elapsed() -> None:
    assert month_elapsed(2026, 2, dt.date(2026, 1, 31)) == 0
    assert month_elapsed(2026, 2, dt.date(2026, 2, 14)) == pytest.approx(0.5)
    assert month_elapsed(2026, 2, dt.date(2026, 2, 28)) == 1
