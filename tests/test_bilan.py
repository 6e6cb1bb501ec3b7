"""The annual bilan (R441-5-1): every figure recounted here from the raw rows with plain loops."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from pathlib import Path

import openpyxl
import pytest

from fluxopt.bilan import annual_report, write_annual_report
from fluxopt.errors import InputError
from report_factories import Raw, RawDesignation, base_config, build, rich_scenario

YEAR = 2026
COUNTS_NO_CANDIDATE = {
    "ETAT-PRIO-92": True,
    "ETAT-FONC-92": True,
    "AL-92": False,
    "AL-93": False,
    "EMP-P25": False,
}
CONTINGENT = {
    "ETAT-PRIO-92": "etat_prioritaires",
    "ETAT-FONC-92": "etat_fonctionnaires",
    "AL-92": "employeurs_action_logement",
    "AL-93": "employeurs_action_logement",
    "VILLE": "collectivites",
    "CD93": "collectivites",
    "EMP-P25": "employeurs_action_logement",
    "BAILLEUR": "non réservé",
}
FIELDS = ("offered", "no_candidate", "counted_offered", "leases", "taken_back_let", "counted_attributed")


def period_label(year: int) -> str:
    if year < 1949:
        return "avant 1949"
    if year < 1975:
        return "1949-1974"
    if year < 2000:
        return "1975-1999"
    if year < 2013:
        return "2000-2012"
    return "2013 et après"


def recount(raw: Raw, year: int, key) -> dict[object, Counter[str]]:
    """Independent recount of the six counters, grouped by `key(designation, dwelling)`."""
    dwellings = {d.id: d for d in raw.dwellings}
    out: dict[object, Counter[str]] = {}
    for des in raw.designations:
        counts_nc = COUNTS_NO_CANDIDATE.get(des.convention, des.convention not in ("BAILLEUR",))
        c: Counter[str] = Counter()
        if des.date.year == year:
            c["offered"] += 1
            if des.status in ("carence", "repris"):
                c["no_candidate"] += 1
                if counts_nc:
                    c["counted_offered"] += 1
            else:
                c["counted_offered"] += 1
        signed_on = des.lease_date or des.date
        if signed_on.year == year and des.status == "bail_signe":
            c["leases"] += 1
            c["counted_attributed"] += 1
        if signed_on.year == year and des.status == "repris":
            c["taken_back_let"] += 1
            if counts_nc:
                c["counted_attributed"] += 1
        if c:
            out.setdefault(key(des, dwellings[des.dwelling]), Counter()).update(c)
    return out


def as_tuple(c: Counter[str]) -> tuple[int, ...]:
    return tuple(c[f] for f in FIELDS)


def test_totals_per_convention_match_a_recount() -> None:
    scenario, raw = rich_scenario()
    report = annual_report(scenario, YEAR)
    expected = recount(raw, YEAR, lambda des, _: des.convention)
    got = {t.holder.convention: t.counts.cells() for t in report.totals}
    assert set(got) == {
        "ETAT-PRIO-92",
        "ETAT-FONC-92",
        "AL-92",
        "AL-93",
        "VILLE",
        "CD93",
        "EMP-P25",
        "BAILLEUR",
    }
    for conv, cells in got.items():
        assert cells == as_tuple(expected.get(conv, Counter())), conv
    # Hand-checked anchors: AL-92 offered 5 in 2026 (one lease falls in 2027), a carence and a repris not counted.
    assert got["AL-92"] == (5, 2, 3, 1, 1, 1)
    # CD93 counts its carences: the repris is imputed as an attribution.
    assert got["CD93"] == (2, 2, 2, 0, 1, 1)
    total = report.grand_total
    assert total.offered == sum(1 for d in raw.designations if d.date.year == YEAR)


def test_summary_table_is_what_the_totals_say() -> None:
    scenario, raw = rich_scenario()
    table = annual_report(scenario, YEAR).summary_table()
    expected = recount(raw, YEAR, lambda des, _: des.convention)
    by_conv = {row[2]: row for row in table.rows}
    assert by_conv["AL-92"][4] == pytest.approx(0.25)
    assert by_conv["AL-92"][5] == "non"
    assert by_conv["BAILLEUR"][3] == "non réservé"
    for conv, c in expected.items():
        assert tuple(by_conv[conv][6:]) == as_tuple(c)
    totals = table.rows[-1]
    assert totals[0] == "Total"
    assert tuple(totals[6:]) == tuple(sum(c[f] for c in expected.values()) for f in FIELDS)


def test_detail_lines_cover_every_dimension_and_match_a_recount() -> None:
    scenario, raw = rich_scenario()
    report = annual_report(scenario, YEAR)

    def key(des: RawDesignation, d) -> tuple[str, ...]:
        return (
            des.convention,
            d.typology,
            d.financing,
            "QPV" if d.qpv else "hors QPV",
            d.commune,
            period_label(d.year),
        )

    expected = recount(raw, YEAR, key)
    got = {
        (
            line.holder.convention,
            line.typology,
            line.financing,
            line.qpv,
            line.commune,
            line.period,
        ): line.counts.cells()
        for line in report.lines
    }
    assert got == {k: as_tuple(v) for k, v in expected.items()}
    # Each réservataire's sheet holds exactly its conventions' lines.
    etat = report.detail_table("ETAT")
    assert {row[0] for row in etat.rows} == {"ETAT-PRIO-92", "ETAT-FONC-92"}
    assert sum(row[7] for row in etat.rows) == 4  # type: ignore[misc]


def test_exclusions_forecast_and_realised() -> None:
    scenario, raw = rich_scenario()
    report = annual_report(scenario, YEAR)
    dwellings = {d.id: d for d in raw.dwellings}
    realised = Counter(
        v.exclusion
        for v in raw.vacancies
        if v.date.year == YEAR and v.exclusion and not dwellings[v.dwelling].out_of_flux
    )
    out = Counter(
        dwellings[v.dwelling].out_of_flux for v in raw.vacancies if dwellings[v.dwelling].out_of_flux
    )
    rows = {ex.code: ex for ex in report.exclusions}
    for code in ("mutation_interne", "anru", "orcod", "habitat_indigne", "vente"):
        assert rows[code].realised == realised[code]
    assert (
        rows["mutation_interne"].forecast == 4 and rows["vente"].forecast == 2 and rows["orcod"].forecast == 0
    )
    assert rows["defense"].realised == out["defense"] == 1
    vacated = sum(1 for v in raw.vacancies if v.date.year == YEAR)
    assert report.flow.vacated == vacated
    assert report.flow.base == vacated - sum(realised.values()) - sum(out.values())
    table = report.flow_table()
    assert table.rows[-1][-1] == report.flow.base


def test_contingents_add_up_per_sne_code() -> None:
    scenario, raw = rich_scenario()
    report = annual_report(scenario, YEAR)
    expected = recount(raw, YEAR, lambda des, _: CONTINGENT[des.convention])
    got = {c.code or "non réservé": c.counts.cells() for c in report.contingents}
    assert got == {k: as_tuple(v) for k, v in expected.items()}
    codes = [c.code for c in report.contingents]
    assert codes == [
        "etat_fonctionnaires",
        "etat_prioritaires",
        "collectivites",
        "employeurs_action_logement",
        "",
    ]


def test_a_year_without_data_is_a_clear_error() -> None:
    scenario, _ = rich_scenario()
    with pytest.raises(InputError, match=r"Aucun logement libéré.*2025.*2026"):
        annual_report(scenario, 2025)


def test_the_next_year_holds_only_the_leases_signed_in_it() -> None:
    scenario, raw = rich_scenario()
    report = annual_report(scenario, 2027)
    expected = recount(raw, 2027, lambda des, _: des.convention)
    assert {t.holder.convention: t.counts.cells() for t in report.totals if any(t.counts.cells())} == {
        k: as_tuple(v) for k, v in expected.items()
    }
    assert report.flow.vacated == 0


def _read_csv(path: Path, delimiter: str) -> list[list[str]]:
    data = path.read_bytes()
    text = data.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def test_files_workbook_and_csv_agree_with_the_recount(tmp_path: Path) -> None:
    scenario, raw = rich_scenario()
    report = annual_report(scenario, YEAR)
    paths = write_annual_report(report, tmp_path / "bilan")
    names = sorted(p.name for p in paths)
    assert "bilan-2026.xlsx" in names and "bilan-2026-synthese.csv" in names and "bilan-2026-AL.csv" in names
    expected = recount(raw, YEAR, lambda des, _: des.convention)

    # French CSV: BOM, ';', decimal comma for the share.
    synth = tmp_path / "bilan" / "bilan-2026-synthese.csv"
    assert synth.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = _read_csv(synth, ";")
    assert rows[0][:5] == ["Réservataire", "Nom", "Convention", "Contingent SNE", "Part du flux (%)"]
    by_conv = {r[2]: r for r in rows[1:]}
    assert by_conv["ETAT-FONC-92"][4] == "5"
    for conv, c in expected.items():
        assert tuple(int(x) for x in by_conv[conv][6:]) == as_tuple(c)

    # The workbook: one sheet per réservataire plus the summary, numbers as numbers, no formula anywhere.
    book = openpyxl.load_workbook(tmp_path / "bilan" / "bilan-2026.xlsx")
    assert book.sheetnames == [
        "Synthèse",
        "Exclusions",
        "Contingents SNE",
        "Obligations L441-1",
        "ETAT",
        "AL",
        "VILLE",
        "CD93",
        "EMP",
        "BAILLEUR",
    ]
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
    ws = book["Synthèse"]
    header_row = next(r for r in range(1, 10) if ws.cell(r, 1).value == "Réservataire")
    assert ws.freeze_panes == f"A{header_row + 1}"
    assert ws.auto_filter.ref is not None
    seen = {}
    for r in range(header_row + 1, ws.max_row + 1):
        conv = ws.cell(r, 3).value
        if conv:
            seen[conv] = tuple(ws.cell(r, c).value for c in range(7, 13))
            if conv == "AL-92":
                assert ws.cell(r, 5).value == pytest.approx(0.25)
                assert ws.cell(r, 5).number_format == "0.0%"
    for conv, c in expected.items():
        assert seen[conv] == as_tuple(c)
    assert ws._charts, "the summary sheet carries a native Excel chart"
    detail = book["AL"]
    hdr = next(r for r in range(1, 10) if detail.cell(r, 1).value == "Convention")
    offered = sum(detail.cell(r, 8).value or 0 for r in range(hdr + 1, detail.max_row + 1))
    assert offered == expected["AL-92"]["offered"] + expected["AL-93"]["offered"]


def test_plain_csv_dialect(tmp_path: Path) -> None:
    scenario, _ = rich_scenario()
    write_annual_report(annual_report(scenario, YEAR), tmp_path, dialect="plain")
    data = (tmp_path / "bilan-2026-synthese.csv").read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    assert rows[0][4] == "Part du flux (%)"
    assert {r[2]: r[4] for r in rows[1:]}["ETAT-FONC-92"] == "5"


def test_outputs_are_byte_identical_across_runs(tmp_path: Path) -> None:
    scenario, _ = rich_scenario()
    report = annual_report(scenario, YEAR)
    write_annual_report(report, tmp_path / "a")
    write_annual_report(annual_report(scenario, YEAR), tmp_path / "b")
    for f in sorted((tmp_path / "a").iterdir()):
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes(), f.name


def test_text_that_looks_like_a_formula_stays_text(tmp_path: Path) -> None:
    config = base_config()
    config["reservataires"][2]["name"] = '=HYPERLINK("http://example.invalid","clic")'  # type: ignore[index]
    scenario, raw = rich_scenario()
    scenario = build(config, raw)
    write_annual_report(annual_report(scenario, YEAR), tmp_path)
    book = openpyxl.load_workbook(tmp_path / "bilan-2026.xlsx")
    values = [
        c
        for row in book["Synthèse"].iter_rows()
        for c in row
        if isinstance(c.value, str) and "HYPERLINK" in c.value
    ]
    assert values and all(c.data_type == "s" and c.hyperlink is None for c in values)
    rows = _read_csv(tmp_path / "bilan-2026-synthese.csv", ";")
    assert any(r[1].startswith("'=HYPERLINK") for r in rows)


def test_dates_of_the_boundary() -> None:
    """A designation on 31 December counts in that year; its lease in January counts in the next."""
    scenario, raw = rich_scenario()
    late = [d for d in raw.designations if d.date.month == 12]
    assert late and all(d.lease_date and d.lease_date.year == 2027 for d in late)
    assert annual_report(scenario, 2026).data_until == dt.date(2026, 12, 28)
