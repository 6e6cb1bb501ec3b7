"""Formulas and markup in input cells stay inert data in every output (CSV for Excel, XLSX, HTML, JSON, TOML).

Dwelling ids starting with `=`, `@`, `+`, `-`, a programme code `=1+2`, a réservataire and a landlord named
with an Excel formula and an HTML `<script>` go through plan, designate, compare, bilan, report and convert.
No output may hold a cell Excel would evaluate, a formula cell, or raw markup.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from relsupport import BASE, make_scenario, run_cli

FORMULA = '=HYPERLINK("http://exemple.invalid/x","clic")'
SCRIPT = "<script>alert(1)</script>"
IDS = {"L01": "=L01", "L02": "@L02", "L03": "+L03", "L04": "-L04"}


def _inject(folder: Path) -> None:
    with open(folder / "vacances.csv", "a", encoding="utf-8") as vacancies:
        vacancies.write("L02,2026-03-16,\n")  # free on 31/03 and not designated yet: designate offers it
    for name in ("patrimoine.csv", "vacances.csv", "designations.csv", "reservations.csv"):
        path = folder / name
        text = path.read_text(encoding="utf-8")
        for old, new in IDS.items():
            text = text.replace(old + ",", f'"{new}",')
        path.write_text(text.replace(",P3,", ",=1+2,"), encoding="utf-8")
    toml = folder / "scenario.toml"
    text = toml.read_text(encoding="utf-8")
    text = text.replace('name = "Action Logement Services"', f"name = '{FORMULA} {SCRIPT}'")
    text = text.replace('bailleur = "Office de test"', f"bailleur = '{FORMULA}'")
    toml.write_text(text, encoding="utf-8")


def _csv_cells(path: Path) -> list[str]:
    data = path.read_bytes()
    text = data.decode("utf-8-sig")
    delimiter = ";" if data.startswith(b"\xef\xbb\xbf") else ","
    return [cell for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) for cell in row]


def _is_number(cell: str) -> bool:
    try:
        float(cell.replace(",", ".").replace("\u202f", "").replace(" ", ""))
    except ValueError:
        return False
    return True


def _xlsx_formulas(path: Path) -> list[str]:
    """Cells of the workbook stored as formulas (`<f>` elements), read straight from the XML."""
    with zipfile.ZipFile(path) as book:
        return [
            name
            for name in book.namelist()
            if name.startswith("xl/worksheets/") and b"<f>" in book.read(name)
        ]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("injection")
    scenario = make_scenario(root / "scenario", BASE)
    _inject(scenario)
    out = root / "sorties"
    runs = [
        ["validate", scenario],
        ["plan", scenario, "-o", out / "plan"],
        ["designate", scenario, "--as-of", "31/03/2026", "-o", out / "designations"],
        ["compare", scenario, "--plan", out / "plan", "--format", "csv", "-o", out / "comparaison.csv"],
        ["compare", scenario, "--plan", out / "plan", "--format", "xlsx", "-o", out / "comparaison.xlsx"],
        ["compare", scenario, "--plan", out / "plan", "--format", "json", "-o", out / "comparaison.json"],
        ["bilan", scenario, "--year", "2026", "-o", out / "bilan"],
        ["report", scenario, "--plan", out / "plan", "-o", out / "rapport"],
        ["convert", scenario, "--toml", out / "conventions-flux.toml"],
    ]
    for args in runs:
        outcome = run_cli(args, cwd=root)
        assert outcome.code == 0, f"{args[0]} : {outcome.err}\n{outcome.exception!r}"
    return out


def test_ids_and_names_reach_the_outputs(outputs: Path) -> None:
    """The test is only meaningful if the hostile text is really written somewhere."""
    everything = b"".join(p.read_bytes() for p in outputs.rglob("*") if p.is_file())
    assert b"@L02" in everything
    assert b"HYPERLINK" in everything


def test_csv_cells_never_start_a_formula(outputs: Path) -> None:
    files = sorted(outputs.rglob("*.csv"))
    assert len(files) >= 8
    for path in files:
        for cell in _csv_cells(path):
            if cell[:1] in ("=", "+", "@") or (cell[:1] == "-" and not _is_number(cell)):
                raise AssertionError(f"{path.name} : cellule évaluée par Excel {cell!r}")
    assert "'@L02" in _csv_cells(outputs / "designations" / "designations.csv")


def test_workbooks_hold_no_formula(outputs: Path) -> None:
    books = sorted(outputs.rglob("*.xlsx"))
    assert len(books) >= 3
    for book in books:
        assert _xlsx_formulas(book) == [], book.name


def test_html_report_escapes_markup(outputs: Path) -> None:
    html = (outputs / "rapport" / "rapport.html").read_text(encoding="utf-8")
    assert "HYPERLINK" in html
    assert SCRIPT not in html and "<script" not in html.lower()


def test_json_and_toml_stay_parseable(outputs: Path) -> None:
    import tomllib

    json.loads((outputs / "comparaison.json").read_text(encoding="utf-8"))
    json.loads((outputs / "plan" / "manifest.json").read_text(encoding="utf-8"))
    tomllib.loads((outputs / "conventions-flux.toml").read_text(encoding="utf-8"))
