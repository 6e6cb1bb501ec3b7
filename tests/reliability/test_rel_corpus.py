"""Bad inputs fed to EVERY command: exact exit code, French message naming file/line/field, no traceback,
and nothing written or changed (outputs of a previous run, the input plan, the scenario and the working
directory are hashed before and after).

Two tables:
- the 57 folders of tests/bad_inputs/ (written for `validate`) replayed on plan, compare, bilan, report,
  convert, sweep, designate and simulate;
- `CASES` below: more broken scenario files (encodings, separators, truncation, binary junk, oversized and
  bomb files, impossible dates, shares as text, empty year, paths leaving the folder…) on every command, and
  broken inputs that only one command reads (a plan folder, reservations, a sweep file, a model file, options).
Known defects of other modules are `xfail(strict=True)` cases whose reason says what is wrong.
"""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from relsupport import (
    BASE,
    SCENARIO_COMMANDS,
    Outcome,
    Workspace,
    assert_clean_failure,
    build_template,
    copy_workspace,
    run_cli,
)

BAD_INPUTS = BASE.parent
VALIDATE_CORPUS = sorted(p for p in BAD_INPUTS.iterdir() if p.is_dir() and not p.name.startswith("_"))

#: corpus cases that break a rule of `fluxopt.validate` but read fine: `convert` loads scenarios without the
#: rules (documented: today's conventions must not block the analysis meant to fix them), so it succeeds.
RULE_ONLY = {
    "designation_before_vacancy", "designation_date_outside_year", "designation_excluded_vacancy",
    "designation_not_vacant", "designation_out_of_scope", "designation_twice", "designation_unknown_convention",
    "flux_empty", "lease_without_signed_status", "prefet_over_30", "shares_over_100_in_commune",
    "state_employees_over_5", "unknown_commune_in_scope", "unknown_model", "unknown_reservataire",
    "vacancy_date_outside_year", "vacancy_out_of_flux_dwelling",
}  # fmt: skip

_TEMPLATE: list[Workspace] = []


@pytest.fixture
def ws(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Workspace:
    """A fresh copy of a workspace where every command already ran once (built once per session)."""
    if not _TEMPLATE:
        _TEMPLATE.append(build_template(tmp_path_factory.mktemp("corpus") / "modele"))
    return copy_workspace(_TEMPLATE[0], tmp_path / "ws")


def check_every_command(
    ws: Workspace, fragments: list[str], *, convert_succeeds: bool = False, commands: list[str] | None = None
) -> None:
    before = ws.digest()
    for command in commands or SCENARIO_COMMANDS:
        outcome = ws.run(command)
        if command == "convert" and convert_succeeds:
            assert outcome.code == 0, outcome.err
            before = ws.digest()
            continue
        try:
            assert_clean_failure(outcome, 1, fragments)
        except AssertionError as error:
            raise AssertionError(f"fluxopt {command} : {error}") from None
        assert ws.digest() == before, f"fluxopt {command} a écrit ou modifié des fichiers"


def test_the_commands_under_test() -> None:
    """Every command that reads a scenario is exercised here (designate and simulate included)."""
    assert {"validate", "plan", "compare", "bilan", "report", "convert", "sweep"} <= set(SCENARIO_COMMANDS)
    assert {"designate", "simulate"} <= set(SCENARIO_COMMANDS)


@pytest.mark.parametrize("case", VALIDATE_CORPUS, ids=[c.name for c in VALIDATE_CORPUS])
def test_validate_corpus_on_every_command(case: Path, ws: Workspace) -> None:
    for file in case.iterdir():
        if file.name != "attendu.txt":
            shutil.copyfile(file, ws.scenario / file.name)
    fragments = [f for f in (case / "attendu.txt").read_text(encoding="utf-8").splitlines() if f]
    # validate itself runs this corpus in tests/test_cli_validate.py
    others = [c for c in SCENARIO_COMMANDS if c != "validate"]
    check_every_command(ws, fragments, convert_succeeds=case.name in RULE_ONLY, commands=others)


# ------------------------------------------------------------------------------- scenario files, all commands


def _edit(name: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        text = (folder / name).read_text(encoding="utf-8")
        assert old in text, f"{old!r} absent de {name}"
        (folder / name).write_text(text.replace(old, new, 1), encoding="utf-8")

    return edit


def _bytes(name: str, make: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        path = folder / name
        path.write_bytes(make(path.read_bytes() if path.exists() else b""))

    return write


def _append(name: str, text: str) -> Callable[[Path], None]:
    return _bytes(name, lambda data: data + text.encode("utf-8"))


def _sparse(name: str, size: int, toml: tuple[str, str] | None = None) -> Callable[[Path], None]:
    """A file of `size` bytes that takes no disk space (a hole): the size check must refuse it unread."""

    def write(folder: Path) -> None:
        with open(folder / name, "wb") as handle:
            handle.truncate(size)
        if toml:
            _edit("scenario.toml", *toml)(folder)

    return write


def _then(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def run(folder: Path) -> None:
        for step in steps:
            step(folder)

    return run


def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8").splitlines()


def _xlsx_bomb(folder: Path) -> None:
    """A 20 kB workbook whose directory announces a 2 GB sheet."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (1 << 20))
    data = bytearray(buffer.getvalue())
    entry = data.rfind(b"PK\x01\x02")  # central directory entry of the sheet: its uncompressed size at +24
    data[entry + 24 : entry + 28] = (2**31).to_bytes(4, "little")
    (folder / "patrimoine.xlsx").write_bytes(bytes(data))
    _edit("scenario.toml", "patrimoine.csv", "patrimoine.xlsx")(folder)


def _symlink_outside(folder: Path) -> None:
    shutil.copyfile(folder / "patrimoine.csv", folder.parent / "dehors.csv")
    (folder / "lien.csv").symlink_to("../dehors.csv")
    _edit("scenario.toml", 'stock = "patrimoine.csv"', 'stock = "lien.csv"')(folder)


def _with_turnover_file(text: bytes) -> Callable[[Path], None]:
    return _then(
        lambda folder: (folder / "rotation.csv").write_bytes(text),
        _edit(
            "scenario.toml",
            'designations = "designations.csv"',
            'designations = "designations.csv"\nturnover = "rotation.csv"',
        ),
    )


SEASON = "turnover_rate = 0.5\nseasonality = [{}]"


@dataclass(frozen=True)
class ScenarioCase:
    name: str
    mutate: Callable[[Path], None]
    fragments: list[str]
    rule_only: bool = False  # broken rule, readable files: convert still succeeds
    marks: tuple[pytest.MarkDecorator, ...] = field(default=())


def _stock_lines_with(extra_column: str, value: str) -> Callable[[Path], None]:
    def make(data: bytes) -> bytes:
        lines = _lines(data)
        out = [lines[0] + "," + extra_column] + [line + "," + value for line in lines[1:]]
        return ("\n".join(out) + "\n").encode("utf-8")

    return _bytes("patrimoine.csv", make)


SCENARIO_CASES = [
    # encodings, separators, truncation, binary junk
    ScenarioCase(
        "stock_utf16_without_bom",
        _bytes("patrimoine.csv", lambda d: d.decode("utf-8").encode("utf-16-le")),
        ["patrimoine.csv", "binaire"],
    ),
    ScenarioCase(
        "stock_rows_with_another_separator",
        _bytes("patrimoine.csv", lambda d: d.replace(b",", b";").replace(b";", b",", 8)),
        ["patrimoine.csv:2:", "séparateur différent"],
    ),
    ScenarioCase(
        "stock_nul_byte_inside",
        _bytes("patrimoine.csv", lambda d: d[:100] + b"\0" + d[100:]),
        ["patrimoine.csv", "binaire"],
    ),
    ScenarioCase(
        "stock_cut_inside_a_utf8_character",
        _bytes("patrimoine.csv", lambda d: d + "L09,P1,Malakoé".encode()[:-1]),
        ["patrimoine.csv:8", "ligne incomplète"],
    ),
    ScenarioCase(
        "stock_unbalanced_quote",
        _bytes("patrimoine.csv", lambda d: d.replace(b"L03,", b'"L03,', 1)),
        ["patrimoine.csv:4:", "ligne incomplète"],
    ),
    ScenarioCase(
        "stock_row_shifted_by_an_unquoted_comma",
        _edit("patrimoine.csv", "L02,P1,", "L02,P1,Résidence, bât. B,"),
        ["patrimoine.csv:3:", "trop de champs", "11 au lieu de 9"],
    ),
    ScenarioCase(
        "stock_row_shifted_with_empty_last_cell",
        _edit("patrimoine.csv", "L03,P2,92046,non,T4,PLAI,2015,,", "L03,P2,92046,non, T4,PLAI,2015,,,"),
        ["patrimoine.csv:4:", "trop de champs", "10 au lieu de 9"],
    ),
    ScenarioCase(
        "stock_cell_of_300_kilobytes",
        _append("patrimoine.csv", "L09,P1,92046,oui,T2,PLUS,1962,," + "x" * 300_000 + "\n"),
        ["patrimoine.csv:8:date_bail", "date attendue"],
    ),
    ScenarioCase(
        "stock_rotation_nan", _stock_lines_with("rotation", "nan"), ["patrimoine.csv:2:rotation", "'nan'"]
    ),
    ScenarioCase(
        "stock_rotation_overflowing",
        _stock_lines_with("rotation", "1e400"),
        ["patrimoine.csv:2:rotation", "'1e400'"],
    ),
    ScenarioCase(
        "stock_negative_year",
        _edit("patrimoine.csv", ",1962,", ",-1962,"),
        ["patrimoine.csv:2:annee_construction", "-1962"],
    ),
    ScenarioCase(
        "stock_five_digit_year",
        _edit("patrimoine.csv", ",1962,", ",99999,"),
        ["patrimoine.csv:2:annee_construction", "99999"],
    ),
    ScenarioCase(
        "stock_duplicate_id_hidden_by_spaces",
        _append("patrimoine.csv", " L01 ,P1,92046,oui,T2,PLUS,1962,,\n"),
        ["patrimoine.csv:8:logement", "logement en double", "ligne 2"],
    ),
    ScenarioCase(
        "vacancies_truncated", _bytes("vacances.csv", lambda d: d[:-12]), ["vacances.csv:5", "incomplète"]
    ),
    ScenarioCase(
        "designations_random_binary",
        _bytes("designations.csv", lambda d: bytes(range(256)) * 8),
        ["designations.csv", "binaire"],
    ),
    ScenarioCase("turnover_file_binary", _with_turnover_file(b"\x00\x01\x02"), ["rotation.csv", "binaire"]),
    ScenarioCase(
        "turnover_rate_as_text",
        _with_turnover_file(b"programme,rotation\nP1,beaucoup\n"),
        ["rotation.csv:2:rotation", "beaucoup"],
    ),
    # 10x oversized files and bombs: refused by size or depth before they are parsed
    ScenarioCase(
        "stock_csv_2_gigabytes", _sparse("patrimoine.csv", 2100 << 20), ["patrimoine.csv", "trop volumineux"]
    ),
    ScenarioCase(
        "stock_xlsx_500_megabytes",
        _sparse("patrimoine.xlsx", 520 << 20, ("patrimoine.csv", "patrimoine.xlsx")),
        ["patrimoine.xlsx", "trop volumineux", "50 Mo"],
    ),
    ScenarioCase("stock_xlsx_zip_bomb", _xlsx_bomb, ["patrimoine.xlsx", "décompressé"]),
    ScenarioCase(
        "stock_xlsx_encrypted",
        _then(
            lambda f: (f / "patrimoine.xlsx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600),
            _edit("scenario.toml", "patrimoine.csv", "patrimoine.xlsx"),
        ),
        ["patrimoine.xlsx", "classeur Excel illisible"],
    ),
    ScenarioCase(
        "toml_20_megabytes",
        _append("scenario.toml", "#" * (20 << 20) + "\n"),
        ["scenario.toml", "trop volumineux"],
    ),
    ScenarioCase(
        "toml_bomb_nested_arrays",
        _edit("scenario.toml", "[forecast]", "x = " + "[" * 50_000 + "]" * 50_000 + "\n[forecast]"),
        ["scenario.toml", "imbriquée"],
    ),
    ScenarioCase(
        "toml_bomb_nested_tables",
        _edit("scenario.toml", "[forecast]", "x = " + "{a=" * 3000 + "1" + "}" * 3000 + "\n[forecast]"),
        ["scenario.toml", "imbriquée"],
    ),
    # empty or impossible year, impossible dates
    ScenarioCase(
        "toml_empty_year",
        _edit("scenario.toml", "year = 2026", 'year = ""'),
        ["scenario.toml:4:scenario.year", "nombre entier attendu"],
    ),
    ScenarioCase(
        "toml_no_year",
        _edit("scenario.toml", "year = 2026\n", ""),
        ["scenario.toml:2:scenario.year", "champ obligatoire manquant"],
    ),
    ScenarioCase(
        "toml_year_zero", _edit("scenario.toml", "year = 2026", "year = 0"), ["scenario.year", "2000"]
    ),
    ScenarioCase(
        "toml_year_100000", _edit("scenario.toml", "year = 2026", "year = 100000"), ["scenario.year", "2100"]
    ),
    ScenarioCase(
        "toml_impossible_date",
        _edit("scenario.toml", "share = 20", "share = 20\nstart = 2026-02-30"),
        ["scenario.toml:56", "syntaxe TOML invalide"],
    ),
    ScenarioCase(
        "toml_end_before_start",
        _edit("scenario.toml", "share = 20", "share = 20\nstart = 2026-06-01\nend = 2026-03-01"),
        ["scenario.toml:52:conventions[4]", "fin précède"],
    ),
    ScenarioCase(
        "vacancy_29_february_2026",
        _append("vacances.csv", "L02,29/02/2026,\n"),
        ["vacances.csv:6:date_liberation", "date impossible", "29/02/2026"],
    ),
    ScenarioCase(
        "designation_day_zero",
        _edit("designations.csv", "2026-02-03", "00/02/2026"),
        ["designations.csv:3:date", "date impossible"],
    ),
    # shares and rates as text, out of range, nan/inf (TOML has them)
    ScenarioCase(
        "toml_share_nan",
        _edit("scenario.toml", "share = 25", "share = nan"),
        ["conventions[1].share", "'nan'"],
    ),
    ScenarioCase(
        "toml_share_inf",
        _edit("scenario.toml", "share = 25", "share = inf"),
        ["conventions[1].share", "'inf'"],
    ),
    ScenarioCase(
        "toml_share_negative",
        _edit("scenario.toml", "share = 25", "share = -5"),
        ["scenario.toml:34:conventions[1].share", "hors limites"],
    ),
    ScenarioCase(
        "toml_share_boolean",
        _edit("scenario.toml", "share = 25", "share = true"),
        ["conventions[1].share", "booléen"],
    ),
    ScenarioCase(
        "toml_share_in_words",
        _edit("scenario.toml", "share = 25", 'share = "vingt %"'),
        ["conventions[1].share", "pourcentage est attendu", "vingt %"],
    ),
    ScenarioCase(
        "toml_turnover_nan",
        _edit("scenario.toml", "turnover_rate = 0.5", "turnover_rate = nan"),
        ["scenario.toml:14:forecast.turnover_rate"],
    ),
    ScenarioCase(
        "toml_turnover_700_percent",
        _edit("scenario.toml", "turnover_rate = 0.5", "turnover_rate = 7"),
        ["forecast.turnover_rate", "hors limites"],
    ),
    ScenarioCase(
        "toml_seasonality_11_months",
        _edit("scenario.toml", "turnover_rate = 0.5", SEASON.format(",".join(["1"] * 11))),
        ["forecast", "12 valeurs"],
    ),
    ScenarioCase(
        "toml_seasonality_all_zero",
        _edit("scenario.toml", "turnover_rate = 0.5", SEASON.format(",".join(["0"] * 12))),
        ["forecast", "seasonality", "positifs"],
    ),
    ScenarioCase(
        "toml_seasonality_nan",
        _edit("scenario.toml", "turnover_rate = 0.5", SEASON.format(",".join(["nan"] + ["1"] * 11))),
        ["scenario.toml:13:forecast", "seasonality", "finis"],
    ),
    ScenarioCase(
        "toml_seasonality_inf",
        _edit("scenario.toml", "turnover_rate = 0.5", SEASON.format(",".join(["inf"] + ["1"] * 11))),
        ["scenario.toml:13:forecast", "seasonality", "finis"],
    ),
    ScenarioCase(
        "toml_exclusions_nan",
        _edit(
            "scenario.toml", "turnover_rate = 0.5", "turnover_rate = 0.5\n[forecast.exclusions]\nanru = nan"
        ),
        ["forecast", "exclusions", "finis"],
    ),
    ScenarioCase(
        "toml_negative_exclusions",
        _edit(
            "scenario.toml", "turnover_rate = 0.5", "turnover_rate = 0.5\n[forecast.exclusions]\nanru = -3"
        ),
        ["forecast", "exclusions", "négatives"],
    ),
    # duplicated ids
    ScenarioCase(
        "toml_duplicate_convention_id",
        _edit("scenario.toml", 'id = "AL-92"', 'id = "ETAT-PRIO-92"'),
        ["scenario.toml:46:conventions[3].id", "en double"],
        rule_only=True,
    ),
    ScenarioCase(
        "vacancy_entered_twice",
        _append("vacances.csv", "L01,2026-01-10,\n"),
        ["vacances.csv:6:logement", "deux fois", "ligne 2"],
        rule_only=True,
    ),
    ScenarioCase(
        "lease_before_designation",
        _edit("designations.csv", "2026-02-20", "2026-01-01"),
        ["designations.csv:2:date_bail", "avant la désignation"],
        rule_only=True,
    ),
    ScenarioCase(
        "toml_scope_without_commune",
        _edit("scenario.toml", 'communes = ["92046"]', "communes = []"),
        ["conventions[4].scope", "au moins une commune"],
    ),
    # paths leaving the folder, files that are not files
    ScenarioCase(
        "stock_symlink_outside_folder", _symlink_outside, ["scenario.toml:9:files.stock", "lien symbolique"]
    ),
    ScenarioCase(
        "stock_symlink_to_dev_zero",
        _then(
            lambda f: (f / "zero.csv").symlink_to("/dev/zero"),
            _edit("scenario.toml", 'stock = "patrimoine.csv"', 'stock = "zero.csv"'),
        ),
        ["files.stock", "lien symbolique"],
    ),
    ScenarioCase(
        "stock_is_a_fifo",
        _then(
            lambda f: os.mkfifo(f / "tube.csv"),
            _edit("scenario.toml", 'stock = "patrimoine.csv"', 'stock = "tube.csv"'),
        ),
        ["scenario.toml:9:files.stock", "pas un fichier ordinaire", "tube.csv"],
    ),
    ScenarioCase(
        "stock_is_a_folder",
        _then(
            lambda f: (f / "dossier").mkdir(),
            _edit("scenario.toml", 'stock = "patrimoine.csv"', 'stock = "dossier"'),
        ),
        ["scenario.toml:9:files.stock", "c'est un dossier", "dossier"],
    ),
    # the scenario's optimisation model (read by validate as plan reads it)
    ScenarioCase(
        "model_toml_bomb",
        lambda f: (f / "modele.toml").write_text("a = " + "[" * 50_000 + "]" * 50_000, encoding="utf-8"),
        ["modele.toml", "imbriquée"],
        rule_only=True,
    ),
    ScenarioCase(
        "model_binary",
        lambda f: (f / "modele.toml").write_bytes(b"\x00\xff\xfe"),
        ["modele.toml", "UTF-8"],
        rule_only=True,
    ),
    ScenarioCase(
        "model_pacing_as_a_level",
        lambda f: (f / "modele.toml").write_text(
            'name = "t"\n[[levels]]\nname = "x"\nrows = ["rythme"]\n', encoding="utf-8"
        ),
        ["modele.toml:4:levels[1].rows", "rythme"],
        rule_only=True,
    ),
]


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.name, marks=c.marks) for c in SCENARIO_CASES]
)  # fmt: skip
def test_broken_scenario_on_every_command(case: ScenarioCase, ws: Workspace) -> None:
    case.mutate(ws.scenario)
    check_every_command(ws, case.fragments, convert_succeeds=case.rule_only)


# --------------------------------------------------------------------------- inputs that one command reads


@dataclass(frozen=True)
class CommandCase:
    name: str
    args: Callable[[Workspace], list[object]]
    code: int
    fragments: list[str]
    mutate: Callable[[Workspace], None] | None = None
    marks: tuple[pytest.MarkDecorator, ...] = field(default=())


def _plan_file(name: str, content: bytes) -> Callable[[Workspace], None]:
    return lambda ws: (ws.plan_input / name).write_bytes(content)


def _compare(ws: Workspace) -> list[object]:
    return [
        "compare",
        ws.scenario,
        "--plan",
        ws.plan_input,
        "--format",
        "csv",
        "-o",
        ws.outputs / "comparaison.csv",
    ]


def _report(ws: Workspace) -> list[object]:
    return ["report", ws.scenario, "--plan", ws.plan_input, "-o", ws.outputs / "rapport"]


def _convert(ws: Workspace) -> list[object]:
    return ["convert", ws.scenario, "--toml", ws.outputs / "conventions-flux.toml"]


def _sweep(ws: Workspace) -> list[object]:
    return ["sweep", ws.sweep_file, "-o", ws.outputs / "variantes", "--engine", "serial"]


def _sweep_text(edit: Callable[[str], str]) -> Callable[[Workspace], None]:
    def write(ws: Workspace) -> None:
        ws.sweep_file.write_text(edit(ws.sweep_file.read_text(encoding="utf-8")), encoding="utf-8")

    return write


def _model_file(text: str) -> Callable[[Workspace], None]:
    return lambda ws: (ws.cwd / "modele-perso.toml").write_text(text, encoding="utf-8")


def _xfail(reason: str) -> tuple[pytest.MarkDecorator, ...]:
    return (pytest.mark.xfail(strict=True, reason=reason),)


PLAN_HEADER = b"commune,typologie,qpv,financement,periode_construction,programme,mois,convention,reservataire,logements\n"
BOMB = "a = " + "[" * 50_000 + "]" * 50_000 + "\n"

COMMAND_CASES = [
    # a plan folder given to compare / report
    CommandCase("compare_plan_folder_is_a_file", lambda ws: [*_compare(ws)[:3], ws.scenario / "patrimoine.csv"],
                1, ["n'est pas un dossier de plan"]),
    CommandCase("compare_plan_folder_missing", lambda ws: [*_compare(ws)[:3], ws.root / "nulle-part"],
                1, ["plan.csv est introuvable"]),
    CommandCase("compare_plan_csv_binary", _compare, 1, ["plan.csv", "binaire"],
                _plan_file("plan.csv", b"\x00\xff\xfe junk")),
    CommandCase("compare_plan_csv_resaved_by_excel", _compare, 0, [],
                lambda ws: (ws.plan_input / "plan.csv").write_bytes(
                    (ws.plan_input / "plan.csv").read_bytes()[3:].replace(b"T2", "T2 é".encode()).decode()
                    .encode("cp1252"))),
    CommandCase("compare_plan_month_13", _compare, 1, ["plan.csv:2", "mois", "2026-13"],
                _plan_file("plan.csv", b"convention,mois,logements\nAL-92,2026-13,1\n")),
    CommandCase("compare_plan_negative_count", _compare, 1, ["plan.csv:2", "logements", "-5"],
                _plan_file("plan.csv", b"convention,mois,logements\nAL-92,2026-01,-5\n")),
    CommandCase("report_plan_count_nan", _report, 1, ["plan.csv:2", "logements", "nan"],
                _plan_file("plan.csv", PLAN_HEADER + b"92046,T2,QPV,PLUS,1949-1974,P1,2026-01,AL-92,AL,nan\n")),
    CommandCase("compare_objectives_target_as_text", _compare, 1, ["objectifs.csv:2", "cible", "abc"],
                _plan_file("objectifs.csv", b"convention,type,cible\nAL-92,total,abc\n")),
    CommandCase("compare_manifest_is_a_list", _compare, 1, ["manifest.json", "objet JSON"],
                _plan_file("manifest.json", b"[1, 2]")),
    CommandCase("compare_manifest_not_utf8", _compare, 1, ["manifest.json", "JSON illisible"],
                _plan_file("manifest.json", b"\xff\xfe{")),
    # dates and years given as options
    CommandCase("compare_as_of_previous_year", lambda ws: [*_compare(ws), "--as-of", "31/12/2025"],
                1, ["--as-of 31/12/2025", "2026"]),
    CommandCase("compare_as_of_impossible_date", lambda ws: [*_compare(ws), "--as-of", "31/02/2026"], 2, ["31/02/2026"]),
    CommandCase("report_as_of_2030", lambda ws: [*_report(ws), "--as-of", "01/01/2030"], 1, ["--as-of 01/01/2030"]),
    CommandCase("bilan_year_without_data",
                lambda ws: ["bilan", ws.scenario, "--year", "2025", "-o", ws.outputs / "bilan"], 1, ["2025"]),
    CommandCase("bilan_year_99999999",
                lambda ws: ["bilan", ws.scenario, "--year", "99999999", "-o", ws.outputs / "bilan"], 2, ["99999999"]),
    CommandCase("bilan_year_negative",
                lambda ws: ["bilan", ws.scenario, "--year", "-5", "-o", ws.outputs / "bilan"], 2, ["-5"]),
    CommandCase("designate_as_of_before_recorded_designations",
                lambda ws: ["designate", ws.scenario, "--as-of", "15/01/2026", "-o", ws.outputs / "designations"],
                1, ["designations.csv:3:date", "après --as-of"]),
    CommandCase("designate_as_of_previous_year",
                lambda ws: ["designate", ws.scenario, "--as-of", "31/12/2025", "-o", ws.outputs / "designations"],
                1, ["31/12/2025"]),
    CommandCase("designate_as_of_next_year",
                lambda ws: ["designate", ws.scenario, "--as-of", "01/01/2027", "-o", ws.outputs / "designations"],
                1, ["01/01/2027", "close"]),
    CommandCase("designate_as_of_text",
                lambda ws: ["designate", ws.scenario, "--as-of", "demain", "-o", ws.outputs / "designations"],
                2, ["demain"]),
    CommandCase("designate_last_day_of_the_year",
                lambda ws: ["designate", ws.scenario, "--as-of", "31/12/2026", "-o", ws.outputs / "designations"],
                0, []),
    CommandCase("simulate_zero_runs", lambda ws: ["simulate", ws.scenario, "--runs", "0"], 2, ["--runs"]),
    # stock-era reservations and turnover history (convert)
    CommandCase("convert_reservations_binary", _convert, 1, ["reservations.csv", "binaire"],
                lambda ws: (ws.scenario / "reservations.csv").write_bytes(b"\x00\x01\x02")),
    CommandCase("convert_reservations_unknown_reservataire", _convert, 1,
                ["reservations.csv:2:reservataire", "réservataire inconnu", "ZZZ"],
                lambda ws: (ws.scenario / "reservations.csv").write_text("logement,reservataire\nL01,ZZZ\n")),
    CommandCase("convert_dwelling_reserved_twice", _convert, 1, ["reservations.csv:3:logement", "déjà réservé"],
                lambda ws: (ws.scenario / "reservations.csv").write_text("logement,reservataire\nL01,AL\nL01,ETAT\n")),
    CommandCase("convert_right_ends_on_impossible_date", _convert, 1,
                ["reservations.csv:2:fin_droit", "date impossible"],
                lambda ws: (ws.scenario / "reservations.csv").write_text(
                    "logement,reservataire,fin_droit\nL01,AL,31/02/2027\n")),
    CommandCase("convert_reservations_count_in_words", _convert, 1, ["reservations.csv:2:nombre", "dix"],
                lambda ws: (ws.scenario / "reservations.csv").write_text("programme,reservataire,nombre\nP1,AL,dix\n")),
    CommandCase("convert_history_rate_300_percent", _convert, 1, ["rotation_historique.csv:2:rotation", "300 %"],
                lambda ws: (ws.scenario / "rotation_historique.csv").write_text("programme,annee,rotation\nP1,2025,300 %\n")),
    CommandCase("convert_history_year_in_words", _convert, 1, ["rotation_historique.csv:2:annee", "deux"],
                lambda ws: (ws.scenario / "rotation_historique.csv").write_text("programme,annee,rotation\nP1,deux,0.05\n")),
    CommandCase("convert_reservations_file_missing",
                lambda ws: [*_convert(ws), "--reservations", ws.root / "absent.csv"], 1, ["absent.csv", "introuvable"]),
    # sweep files
    CommandCase("sweep_toml_bomb", _sweep, 1, ["variantes.toml", "imbriquée"], _sweep_text(lambda t: t + BOMB)),
    CommandCase("sweep_binary", _sweep, 1, ["variantes.toml", "UTF-8"],
                lambda ws: ws.sweep_file.write_bytes(b"\x00\xff" * 10)),
    CommandCase("sweep_25_megabytes", _sweep, 1, ["variantes.toml", "trop volumineux"],
                _sweep_text(lambda t: t + "#" * (25 << 20))),
    CommandCase("sweep_unknown_convention", _sweep, 1, ["variantes.toml:13:variants[2].shares.ZZ-92", "inconnue"],
                _sweep_text(lambda t: t.replace('"AL-92" = 30', '"ZZ-92" = 30'))),
    CommandCase("sweep_share_in_words", _sweep, 1, ["variantes.toml:13:variants[2].shares.AL-92", "trente"],
                _sweep_text(lambda t: t.replace('"AL-92" = 30', '"AL-92" = "trente"'))),
    CommandCase("sweep_share_200_percent", _sweep, 1, ["variants[2].shares.AL-92", "hors limites"],
                _sweep_text(lambda t: t.replace('"AL-92" = 30', '"AL-92" = 200'))),
    CommandCase("sweep_base_missing", _sweep, 1, ["ailleurs", "introuvable"],
                _sweep_text(lambda t: t.replace('base = "scenario"', 'base = "ailleurs"'))),
    CommandCase("sweep_without_variants", _sweep, 1, ["variantes.toml:variants", "aucune variante"],
                _sweep_text(lambda t: t.split("[[variants]]")[0])),
    CommandCase("sweep_duplicate_variant", _sweep, 1, ["variantes.toml:10:variants[2].id", "en double"],
                _sweep_text(lambda t: t.replace('id = "al-30"', 'id = "actuel"'))),
    CommandCase("sweep_negative_runs", _sweep, 1, ["variantes.toml:5:sweep.runs"],
                _sweep_text(lambda t: t.replace("seed = 1", "seed = 1\nruns = -3"))),
    CommandCase("sweep_turnover_in_words", _sweep, 1, ["variants[2].turnover", "beaucoup"],
                _sweep_text(lambda t: t.replace('shares = { "AL-92" = 30 }', 'turnover = "beaucoup"'))),
    CommandCase("sweep_10201_variants", _sweep, 1, ["grids", "10000"],
                _sweep_text(lambda t: t + '\n[[grids]]\nid = "g"\nshares = { "AL-92" = [' + ",".join(
                    str(i % 30) for i in range(101)) + '], "VILLE-92046" = [' + ",".join(
                    str(i % 20) for i in range(101)) + "] }\n")),
    CommandCase("sweep_variant_id_is_a_path", _sweep, 1, ["variants[2].id", "identifiant invalide"],
                _sweep_text(lambda t: t.replace('id = "al-30"', 'id = "../../ailleurs"'))),
    CommandCase("sweep_output_is_a_file",
                lambda ws: ["sweep", ws.sweep_file, "-o", ws.scenario / "patrimoine.csv", "--engine", "serial"],
                4, ["patrimoine.csv", "pas un dossier"]),
    # a model file given with --model
    CommandCase("plan_model_option_toml_bomb",
                lambda ws: ["plan", ws.scenario, "--model", ws.cwd / "modele-perso.toml", "-o", ws.outputs / "plan"],
                1, ["modele-perso.toml", "imbriquée"], _model_file(BOMB)),
    CommandCase("plan_model_option_unknown_key",
                lambda ws: ["plan", ws.scenario, "--model", ws.cwd / "modele-perso.toml", "-o", ws.outputs / "plan"],
                1, ["modele-perso.toml:2:foo", "clé inconnue"], _model_file('name = "x"\nfoo = 1\n')),
    CommandCase("designate_model_option_toml_bomb",
                lambda ws: ["designate", ws.scenario, "--as-of", "31/03/2026", "--model",
                            ws.cwd / "modele-perso.toml", "-o", ws.outputs / "designations"],
                1, ["modele-perso.toml", "imbriquée"], _model_file(BOMB)),
    CommandCase("plan_exclusions_above_the_flux",
                lambda ws: ["plan", ws.scenario, "-o", ws.outputs / "plan"], 1, ["exclusions prévues", "vide"],
                lambda ws: _edit("scenario.toml", "turnover_rate = 0.5",
                                 "turnover_rate = 0.5\n[forecast.exclusions]\nanru = 1000000")(ws.scenario)),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=c.marks) for c in COMMAND_CASES])
def test_broken_input_of_one_command(case: CommandCase, ws: Workspace) -> None:
    if case.mutate is not None:
        case.mutate(ws)
    before = ws.digest()
    outcome: Outcome = run_cli(case.args(ws), cwd=ws.cwd)
    if case.code == 0:
        assert outcome.code == 0 and outcome.exception is None, outcome.err
        return
    assert_clean_failure(outcome, case.code, case.fragments)
    assert ws.digest() == before, "des fichiers ont été écrits ou modifiés"


def test_corpus_size() -> None:
    """The issue asks for at least 40 cases beyond the validate corpus, on every command."""
    assert len(SCENARIO_CASES) + len(COMMAND_CASES) >= 40 + 40
    assert len(VALIDATE_CORPUS) >= 57
