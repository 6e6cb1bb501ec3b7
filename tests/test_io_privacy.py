"""Applicants' personal data is never read: columns that look like it are dropped by header, unparsed,
and none of their values reaches the Scenario, a message, or the CLI output."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

from click.testing import CliRunner

from fluxopt.cli import cli
from fluxopt.io.scenario import load_scenario

SECRETS = [
    "DUPONTSECRET",
    "Jean-Eudes",
    "NUR-075-2026-0042",
    "12/05/1980",
    "06 12 34 56 78",
    "jean@exemple.fr",
    "3 rue du Secret",
]
HEADERS = ["Nom", "Prénom", "NUR", "Date de naissance", "Téléphone", "E-mail", "Adresse du demandeur"]


def _personal(folder: Path) -> Path:
    stock = (folder / "patrimoine.csv").read_text(encoding="utf-8").splitlines()
    stock[0] += ";" + ";".join(HEADERS)
    stock = [stock[0].replace(",", ";")] + [
        row.replace(",", ";") + ";" + ";".join(SECRETS) for row in stock[1:]
    ]
    # a broken personal cell and a personal column that would fail to parse: neither may be reported
    stock[2] = stock[2].replace("12/05/1980", "pas une date")
    (folder / "patrimoine.csv").write_text("\n".join(stock) + "\n", encoding="utf-8")
    designations = (folder / "designations.csv").read_text(encoding="utf-8").splitlines()
    designations[0] += ",nom du demandeur,numéro unique,courriel"
    designations[1:] = [row + ",DUPONTSECRET,NUR-075-2026-0042,jean@exemple.fr" for row in designations[1:]]
    (folder / "designations.csv").write_text("\n".join(designations) + "\n", encoding="utf-8")
    return folder


def test_personal_columns_are_ignored_and_never_shown(base_scenario: Path) -> None:
    folder = _personal(base_scenario)
    warnings: list[str] = []
    scenario = load_scenario(folder, warn=warnings.append)
    assert len(scenario.stock) == 6 and len(scenario.designations) == 3
    blob = pickle.dumps(scenario) + repr(scenario).encode()
    for secret in SECRETS:
        assert secret.encode() not in blob
    text = "\n".join(warnings)
    assert all(header in text for header in HEADERS) and "numéro unique" in text
    for secret in SECRETS:
        assert secret not in text


def test_cli_output_never_shows_personal_values(base_scenario: Path) -> None:
    folder = _personal(base_scenario)
    for args in (["validate", str(folder)], ["validate", str(folder), "--format", "json"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.stderr
        for secret in SECRETS:
            assert secret not in result.stdout and secret not in result.stderr
        assert "données personnelles" in result.stderr
    json.loads(CliRunner().invoke(cli, ["validate", str(folder), "--format", "json"]).stdout)


def test_errors_in_a_file_with_personal_columns_do_not_leak_them(base_scenario: Path) -> None:
    folder = _personal(base_scenario)
    path = folder / "patrimoine.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace(";T4;", ";T-quatre;")  # a real error on a row full of personal data
    lines.append(";".join(["L09", "P3", "92025", "non"]))  # a truncated row
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(folder)])
    assert result.exit_code == 1
    assert "patrimoine.csv:4:typologie" in result.stderr and "ligne incomplète" in result.stderr
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr


def test_personal_columns_of_a_workbook_are_never_converted(base_scenario: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import xlsxwriter

    from fluxopt.io import table

    path = base_scenario / "patrimoine.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(
        0,
        0,
        [
            "logement",
            "programme",
            "commune",
            "qpv",
            "typologie",
            "financement",
            "annee_construction",
            "Nom",
            "Téléphone",
        ],
    )
    for r, line in enumerate(
        (base_scenario / "patrimoine.csv").read_text(encoding="utf-8").splitlines()[1:], start=1
    ):
        sheet.write_row(r, 0, [*line.split(",")[:7], "DUPONTSECRET", "0612345678"])
    book.close()
    toml = base_scenario / "scenario.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("patrimoine.csv", "patrimoine.xlsx"), encoding="utf-8"
    )
    seen: list[object] = []
    original = table._excel_cell

    def spy(value: object) -> str:
        seen.append(value)
        return original(value)

    monkeypatch.setattr(table, "_excel_cell", spy)
    warnings: list[str] = []
    scenario = load_scenario(base_scenario, warn=warnings.append)
    assert len(scenario.stock) == 6
    assert "DUPONTSECRET" not in seen and "0612345678" not in seen  # only the header row and kept columns
    assert "Nom" in warnings[0] and "Téléphone" in warnings[0]
    assert b"DUPONTSECRET" not in pickle.dumps(scenario)
