"""Privacy: exports carrying applicants' names, NUR, birth dates, phone numbers, e-mails and addresses, fed
to every command. None of those values may appear in any output file (CSV, XLSX unzipped, HTML, JSON, TOML,
manifest), on stdout or stderr — on success, on failure, and with `--debug`.

The personal columns sit between the columns fluxopt reads (not only at the end), under the headers
landlords' systems really use, and one row carries an unquoted comma inside a name: the row is refused
without echoing a value (it used to be read shifted, the name landing in the next column).
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from relsupport import BASE, SCENARIO_COMMANDS, SWEEP, Outcome, Workspace, make_scenario, run_cli

#: one value per kind of personal data, distinctive enough that a hit is never a coincidence
SECRETS = {
    "Nom": "DUPONTSECRET",
    "Prénom": "Anne-Séverine",
    "NUR": "075112600004242",
    "N° unique": "NUR-075-2026-0042",
    "Date de naissance": "12/05/1980",
    "Né(e) le": "1975-03-09",
    "Téléphone": "06 12 34 56 78",
    "Portable": "+33 7 98 76 54 32",
    "E-mail": "anne.dupont@exemple.fr",
    "Courriel du demandeur": "demandeur.secret@exemple.org",
    "Adresse du demandeur": "3 rue du Secret",
    "Nom du locataire": "LOCATAIRESECRET",
    "Civilité": "Madame",
    "NIR": "2800575112042",
}
#: every file a command could write, unzipped where it is a workbook
TEXT_SUFFIXES = {".csv", ".json", ".html", ".toml", ".txt", ".md", ".svg"}


def _with_personal_columns(path: Path, after: int) -> None:
    """Insert every personal column after the `after`-th column of a CSV table."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    header, body = rows[0], rows[1:]
    names, values = list(SECRETS), list(SECRETS.values())
    out = [header[:after] + names + header[after:]]
    out += [row[:after] + values + row[after:] for row in body]
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\n").writerows(out)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _workspace(root: Path) -> Workspace:
    ws = Workspace(root)
    root.mkdir(parents=True)
    make_scenario(ws.scenario, BASE)
    for name, after in (
        ("patrimoine.csv", 2),
        ("vacances.csv", 1),
        ("designations.csv", 3),
        ("reservations.csv", 1),
    ):
        _with_personal_columns(ws.scenario / name, after)
    ws.sweep_file.write_text(SWEEP, encoding="utf-8")
    ws.cwd.mkdir()
    ws.outputs.mkdir()
    return ws


def _leaks(blob: str) -> list[str]:
    folded = blob.casefold()
    return [value for value in SECRETS.values() if value.casefold() in folded]


def _written(folder: Path) -> str:
    parts: list[str] = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                parts += [archive.read(n).decode("utf-8", "replace") for n in archive.namelist()]
        elif path.suffix in TEXT_SUFFIXES or data[:3] == b"\xef\xbb\xbf":
            parts.append(data.decode("utf-8-sig", "replace"))
        else:
            parts.append(data.decode("latin-1"))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, list[Outcome]]:
    ws = _workspace(tmp_path_factory.mktemp("vie-privee") / "ws")
    outcomes = [run_cli(["plan", ws.scenario, "-o", ws.plan_input], cwd=ws.cwd)]
    outcomes += [ws.run(command) for command in SCENARIO_COMMANDS]
    outcomes += [
        run_cli(["compare", ws.scenario, "--plan", ws.plan_input, "--format", fmt], cwd=ws.cwd)
        for fmt in ("table", "json")
    ]
    outcomes.append(run_cli(["validate", ws.scenario, "--format", "json"], cwd=ws.cwd))
    outcomes.append(run_cli(["--debug", "bilan", ws.scenario, "--year", "2026"], cwd=ws.cwd))
    return ws, outcomes


def test_every_command_ran_on_the_export(ran: tuple[Workspace, list[Outcome]]) -> None:
    """The exports are accepted (personal columns ignored by header) and every command wrote its outputs."""
    ws, outcomes = ran
    for outcome in outcomes:
        assert outcome.code == 0, outcome.err
    assert "données personnelles" in outcomes[0].err
    assert len([p for p in ws.outputs.rglob("*") if p.is_file()]) >= 30


def test_no_personal_value_in_any_output_file(ran: tuple[Workspace, list[Outcome]]) -> None:
    ws, _ = ran
    assert _leaks(_written(ws.outputs) + _written(ws.plan_input) + _written(ws.cwd)) == []


def test_no_personal_value_on_stdout_or_stderr(ran: tuple[Workspace, list[Outcome]]) -> None:
    _, outcomes = ran
    assert _leaks("\n".join(o.text for o in outcomes)) == []


def test_failures_do_not_echo_personal_values(tmp_path: Path) -> None:
    """Errors in rows full of personal data, a name with an unquoted comma, and --debug: nothing shown."""
    ws = _workspace(tmp_path / "ws")
    stock = ws.scenario / "patrimoine.csv"
    lines = stock.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace(",T3,", ",Trois pièces,")  # a real error on a row of personal data
    lines[3] = lines[3].replace("DUPONTSECRET", "DUPONTSECRET, Anne-Séverine")  # shifts the row by one
    stock.write_text("\n".join(lines) + "\n", encoding="utf-8")
    seen: list[str] = []
    for command in SCENARIO_COMMANDS:
        for debug in ([], ["--debug"]):
            outcome = run_cli([*debug, *ws.run_args(command)], cwd=ws.cwd)
            assert outcome.code == 1, outcome.err
            seen.append(outcome.text)
    text = "\n".join(seen)
    assert "patrimoine.csv:3:typologie" in text and "patrimoine.csv:4:" in text and "trop de champs" in text
    assert _leaks(text) == []
    assert _leaks(_written(ws.outputs) + _written(ws.cwd)) == []
