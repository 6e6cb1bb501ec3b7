"""`fluxopt bilan` on the shipped Cap-Habitat-like scenario: files written, figures recounted from the raw CSV."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from fluxopt.cli import cli
from report_factories import raw_from_folder

ROOT = Path(__file__).resolve().parents[1]
CAP = ROOT / "scenarios" / "cap-habitat"


@pytest.fixture(scope="module")
def bilan_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bilan")
    result = CliRunner().invoke(
        cli, ["bilan", str(CAP), "--year", "2026", "-o", str(out)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.stderr
    return out


def read_fr_csv(path: Path) -> list[dict[str, str]]:
    text = path.read_bytes().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))


def test_summary_matches_a_recount_of_designations_csv(bilan_dir: Path) -> None:
    config, raw = raw_from_folder(CAP)
    counts_nc = {c["id"]: c.get("counts_no_candidate", True) for c in config["conventions"]}
    expected: dict[str, Counter[str]] = {}
    for d in raw.designations:
        c = expected.setdefault(d.convention, Counter())
        signed = (d.lease_date or d.date).year == 2026
        if d.date.year == 2026:
            c["Proposés"] += 1
            if d.status in ("carence", "repris"):
                c["dont carences"] += 1
            if d.status not in ("carence", "repris") or counts_nc.get(d.convention, False):
                c["Proposés imputés"] += 1
        if signed and d.status == "bail_signe":
            c["Baux signés"] += 1
            c["Attribués imputés"] += 1
        if signed and d.status == "repris":
            c["Repris pour un tour"] += 1
            if counts_nc.get(d.convention, False):
                c["Attribués imputés"] += 1
    table = read_fr_csv(bilan_dir / "bilan-2026-synthese.csv")
    rows = {r["Convention"]: r for r in table}
    for conv, c in expected.items():
        for column in (
            "Proposés",
            "dont carences",
            "Proposés imputés",
            "Baux signés",
            "Repris pour un tour",
            "Attribués imputés",
        ):
            assert int(rows[conv][column]) == c[column], (conv, column)
    total = next(r for r in table if r["Réservataire"] == "Total")
    assert int(total["Proposés"]) == sum(1 for d in raw.designations if d.date.year == 2026)


def test_exclusions_match_vacances_csv_and_the_forecast(bilan_dir: Path) -> None:
    config, raw = raw_from_folder(CAP)
    realised = Counter(v.exclusion for v in raw.vacancies if v.exclusion and v.date.year == 2026)
    rows = {r["Code"]: r for r in read_fr_csv(bilan_dir / "bilan-2026-exclusions.csv") if r["Code"]}
    for code, forecast in config["forecast"]["exclusions"].items():
        assert int(rows[code]["Réalisé 2026"]) == realised[code]
        assert float(rows[code]["Prévision 2026"].replace(",", ".")) == forecast


def test_one_sheet_per_reservataire_and_detail_adds_up(bilan_dir: Path) -> None:
    config, raw = raw_from_folder(CAP)
    book = openpyxl.load_workbook(bilan_dir / "bilan-2026.xlsx", read_only=True)
    reservataires = [r["id"] for r in config["reservataires"]]
    assert book.sheetnames[:4] == ["Synthèse", "Exclusions", "Contingents SNE", "Obligations L441-1"]
    assert book.sheetnames[4:] == [*reservataires, "BAILLEUR"]
    owner = {c["id"]: c["reservataire"] for c in config["conventions"]}
    dwellings = raw.dwelling()
    for rid in ("ETAT", "VILLE-92036"):
        rows = read_fr_csv(bilan_dir / f"bilan-2026-{rid}.csv")
        got = Counter()
        for r in rows:
            got[(r["Commune"], r["Typologie"])] += int(r["Proposés"])
        want = Counter(
            (dwellings[d.dwelling].commune, dwellings[d.dwelling].typology)
            for d in raw.designations
            if d.date.year == 2026 and owner.get(d.convention) == rid
        )
        assert got == want, rid


def test_contingents_agree_with_the_conventions(bilan_dir: Path) -> None:
    config, raw = raw_from_folder(CAP)
    code_of = {c["id"]: c["contingent"] for c in config["conventions"]}
    signed = Counter(
        code_of.get(d.convention, "non réservé")
        for d in raw.designations
        if d.status == "bail_signe" and (d.lease_date or d.date).year == 2026
    )
    rows = {r["Code contingent"]: r for r in read_fr_csv(bilan_dir / "bilan-2026-contingents.csv")}
    for code, n in signed.items():
        assert int(rows[code]["Baux signés"]) == n


def test_screen_summary_and_a_year_without_data() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["bilan", str(ROOT / "scenarios" / "mini"), "--year", "2026"])
    assert result.exit_code == 0 and "Bilan annuel 2026" in result.stdout
    result = runner.invoke(cli, ["bilan", str(ROOT / "scenarios" / "mini"), "--year", "2024"])
    assert result.exit_code == 1
    assert "Aucun logement libéré" in result.stderr and "Traceback" not in result.stderr
