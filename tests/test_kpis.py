"""Overlay obligations (domain.md §6): recounted from the raw rows; missing flags never read as 0 %."""

from __future__ import annotations

import datetime as dt

import pytest

from fluxopt.kpis import MET, NO_LEASE, NOT_MET, NOT_RECORDED, UNCERTAIN, Kpi, overlay_kpis
from report_factories import Raw, RawDesignation, RawDwelling, RawVacancy, base_config, build, rich_scenario

START, END = dt.date(2026, 1, 1), dt.date(2026, 12, 31)
PRIORITY_CONVENTIONS = {"AL-92", "AL-93", "VILLE", "CD93", "BAILLEUR"}  # not the préfet's


def signed(raw: Raw, start: dt.date, end: dt.date) -> list[RawDesignation]:
    out = []
    for d in raw.designations:
        on = d.lease_date or d.date
        if d.status in ("bail_signe", "repris") and start <= on <= end:
            out.append(d)
    return out


def tally(values: list[bool | None], want: bool) -> tuple[int, int, int, int]:
    return (
        len(values),
        sum(1 for v in values if v is want),
        sum(1 for v in values if v is (not want)),
        sum(1 for v in values if v is None),
    )


def test_priority_households_per_convention_match_a_recount() -> None:
    scenario, raw = rich_scenario()
    report = overlay_kpis(scenario, START, END)
    got = {
        k.group: (k.leases, k.yes, k.no, k.missing) for k in report.kpis if k.indicator.startswith("Ménages")
    }
    assert set(got) == PRIORITY_CONVENTIONS
    leases = signed(raw, START, END)
    for conv in PRIORITY_CONVENTIONS:
        mine = [
            d.priority
            for d in leases
            if (d.convention == conv and d.status == "bail_signe")
            or (conv == "BAILLEUR" and d.status == "repris")
        ]
        assert got[conv] == tally(mine, True), conv


def test_quartile_obligations_match_a_recount() -> None:
    scenario, raw = rich_scenario()
    report = overlay_kpis(scenario, START, END)
    dwellings = {d.id: d for d in raw.dwellings}
    leases = signed(raw, START, END)
    for k in report.kpis:
        if k.indicator.startswith("Ménages"):
            continue
        in_qpv = k.indicator.startswith("Autres")
        group = [
            d.first_quartile
            for d in leases
            if dwellings[d.dwelling].qpv is in_qpv
            and (k.group == "Ensemble" or dwellings[d.dwelling].commune == k.group)
        ]
        assert (k.leases, k.yes, k.no, k.missing) == tally(group, not in_qpv), (k.indicator, k.group)
        assert k.threshold == (0.5 if in_qpv else 0.25)
    groups = {(k.indicator[:5], k.group) for k in report.kpis}
    assert (
        ("1er q", "Ensemble") in groups and ("Autre", "Ensemble") in groups and ("1er q", "92040") in groups
    )


def test_status_rules() -> None:
    def k(leases: int, yes: int, no: int, missing: int, threshold: float = 0.25) -> Kpi:
        return Kpi("Ménages prioritaires", "X", "X", threshold, leases, yes, no, missing)

    assert k(0, 0, 0, 0).status == NO_LEASE and k(0, 0, 0, 0).alert is None
    assert k(4, 0, 0, 4).status == NOT_RECORDED  # never a silent 0 %
    assert k(4, 0, 0, 4).share is None
    assert "non renseigné" in (k(4, 0, 0, 4).alert or "")
    assert k(8, 2, 6, 0).status == MET  # exactly 25 %
    assert k(8, 1, 7, 0).status == NOT_MET
    assert k(8, 1, 4, 3).status == UNCERTAIN  # 12.5 % to 50 % depending on the missing flags
    assert k(8, 2, 3, 3).status == MET  # already 25 % of all leases
    assert k(8, 0, 7, 1).status == NOT_MET  # even if the missing one is yes: 12.5 %
    alert = k(8, 1, 7, 0).alert or ""
    assert "12,5\u00a0%" in alert and "25,0\u00a0%" in alert


def test_all_flags_missing_reads_non_renseigne_not_zero() -> None:
    config = base_config()
    dwellings = [
        RawDwelling(f"92046-P1-{i:04d}", "P1", "92046", i % 2 == 0, "T3", "PLUS", 1970) for i in range(6)
    ]
    raw = Raw(dwellings=dwellings)
    for i, d in enumerate(dwellings):
        day = dt.date(2026, 2, 1 + i)
        raw.vacancies.append(RawVacancy(d.id, day))
        raw.designations.append(RawDesignation(d.id, day, "VILLE", "bail_signe", day + dt.timedelta(days=20)))
    report = overlay_kpis(build(config, raw), START, END)
    ville = next(k for k in report.kpis if k.group == "VILLE")
    assert ville.status == NOT_RECORDED and ville.leases == 6 and ville.share is None
    assert any("VILLE" in a and "non renseigné" in a for a in report.alerts)
    row = next(r for r in report.table().rows if r[1] == "VILLE")
    assert row[8] is None and row[9] == "non renseigné"


def test_window_limits_the_leases() -> None:
    scenario, raw = rich_scenario()
    spring = overlay_kpis(scenario, dt.date(2026, 4, 1), dt.date(2026, 5, 31))
    total = next(k for k in spring.kpis if k.group == "Ensemble" and k.indicator.startswith("1er"))
    dwellings = {d.id: d for d in raw.dwellings}
    expected = [
        d.first_quartile
        for d in signed(raw, dt.date(2026, 4, 1), dt.date(2026, 5, 31))
        if not dwellings[d.dwelling].qpv
    ]
    assert (total.leases, total.yes, total.no, total.missing) == tally(expected, True)


@pytest.mark.parametrize("threshold", [0.25, 0.5])
def test_alerts_are_french_sentences(threshold: float) -> None:
    kpi = Kpi("Indicateur", "G", "Groupe", threshold, 10, 1, 9, 0)
    assert kpi.alert is not None and kpi.alert.startswith("Indicateur — Groupe : 10,0\u00a0% sur 10 baux")


def test_shortfall_and_alert_order() -> None:
    from fluxopt.kpis import KpiReport

    def k(group: str, leases: int, yes: int, no: int, missing: int) -> Kpi:
        return Kpi("Ménages prioritaires", group, group, 0.25, leases, yes, no, missing)

    assert k("A", 10, 0, 10, 0).shortfall == 3  # ⌈2,5⌉ − 0
    assert k("A", 8, 2, 6, 0).shortfall == 0
    report = KpiReport(
        START,
        END,
        (k("incertain", 8, 1, 4, 3), k("petit", 4, 0, 4, 0), k("vide", 3, 0, 0, 3), k("gros", 20, 1, 19, 0)),
    )
    order = [a.split(" — ")[1].split(" :")[0] for a in report.alerts]
    assert order == ["gros", "petit", "incertain", "vide"]
    assert "il en manque 4" in report.alerts[0]
