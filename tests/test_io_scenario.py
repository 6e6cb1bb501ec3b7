"""load_scenario: shipped scenarios, both CSV dialects, XLSX, RPLS extracts, turnover from leases, paths, models."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pytest

from fluxopt.domain.tables import FINANCINGS, TYPOLOGIES
from fluxopt.errors import InputError
from fluxopt.io.config import key_lines, line_of, render_loc
from fluxopt.io.scenario import (
    DERIVED_TURNOVER_MIN_DWELLINGS,
    derive_turnover,
    effective_turnover,
    load_model_ref,
    load_scenario,
    resolve_inside,
    shipped_models,
)
from fluxopt.validate import validate

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted(p for p in (REPO / "scenarios").iterdir() if (p / "scenario.toml").is_file())

FRENCH_STOCK = (
    "\ufeffN° logement;Code programme;Code INSEE;Quartier prioritaire;Type;Financement;Année de construction;"
    "Taux de rotation;Hors flux;Date du bail\r\n"
    "L01;P1;92046;Oui;T2;PLUS;1962;4,5 %;;01/03/2020\r\n"
    "L02;P1;92046;Oui;3;PLUS;1 962;0,045;;\r\n"
    "L03;P2;92046;Non;F4;PLA-I;2015;;;\r\n"
    "L04;P3;92025;Non;T1;PLS;1990;;;\r\n"
    "L05;P3;92025;Non;T3;PLUS;1990;;;\r\n"
    "L06;P3;92025;Non;T5 et +;PLUS;1990;;Défense;\r\n"
    ";;;;;;;;;\r\n"
)


def quiet(_: str) -> None:
    pass


def test_base_scenario_loads(base_scenario: Path) -> None:
    scenario = load_scenario(base_scenario, warn=quiet)
    stock = scenario.stock
    assert stock.dwelling_id == ("L01", "L02", "L03", "L04", "L05", "L06")
    assert stock.communes == ("92025", "92046") and stock.programmes == ("P1", "P2", "P3")
    assert [stock.communes[c] for c in stock.commune] == ["92046"] * 3 + ["92025"] * 3
    assert [TYPOLOGIES[t] for t in stock.typology] == ["T2", "T3", "T4", "T1", "T3", "T5+"]
    assert [FINANCINGS[f] for f in stock.financing] == ["PLUS", "PLUS", "PLAI", "PLS", "PLUS", "PLUS"]
    assert stock.qpv.tolist() == [True, True, False, False, False, False]
    assert stock.out_of_flux.tolist() == [-1, -1, -1, -1, -1, 0]
    assert stock.line.tolist() == [2, 3, 4, 5, 6, 7]
    assert str(stock.lease_start[0]) == "2020-03-01" and np.isnat(stock.lease_start[1])
    assert len(scenario.vacancies) == 4 and scenario.vacancies.dwelling.tolist() == [0, 2, 3, 4]
    assert scenario.vacancies.exclusion.tolist() == [-1, -1, 0, -1]
    assert scenario.designations.convention == ("ETAT-PRIO-92", "VILLE-92046", "AL-92")
    assert scenario.designations.priority_household.tolist() == [1, -1, -1]


def test_input_hashes_are_sha256_of_every_input(base_scenario: Path) -> None:
    scenario = load_scenario(base_scenario, warn=quiet)
    expected = {
        name: hashlib.sha256((base_scenario / name).read_bytes()).hexdigest()
        for name in ("scenario.toml", "modele.toml", "patrimoine.csv", "vacances.csv", "designations.csv")
    }
    assert scenario.input_hashes == dict(sorted(expected.items()))


def test_french_excel_dialect(base_scenario: Path) -> None:
    (base_scenario / "patrimoine.csv").write_bytes(FRENCH_STOCK.encode("utf-8"))
    scenario = load_scenario(base_scenario, warn=quiet)
    stock = scenario.stock
    assert len(stock) == 6  # the trailing ;;;; row is not a dwelling
    assert [TYPOLOGIES[t] for t in stock.typology] == ["T2", "T3", "T4", "T1", "T3", "T5+"]
    assert FINANCINGS[stock.financing[2]] == "PLAI"
    assert stock.construction_year.tolist() == [1962, 1962, 2015, 1990, 1990, 1990]
    assert stock.turnover[:2].tolist() == pytest.approx([0.045, 0.045])
    assert stock.out_of_flux.tolist() == [-1, -1, -1, -1, -1, 0]
    assert str(stock.lease_start[0]) == "2020-03-01"


def test_french_excel_dialect_in_cp1252(base_scenario: Path) -> None:
    text = FRENCH_STOCK.removeprefix("\ufeff").replace("Défense", "défense")
    (base_scenario / "patrimoine.csv").write_bytes(text.encode("cp1252"))
    assert len(load_scenario(base_scenario, warn=quiet).stock) == 6


def test_tab_separated_utf16_export(base_scenario: Path) -> None:
    text = FRENCH_STOCK.replace(";", "\t")
    (base_scenario / "patrimoine.csv").write_bytes(text.encode("utf-16"))
    assert len(load_scenario(base_scenario, warn=quiet).stock) == 6


def test_formula_like_cells_are_plain_data(base_scenario: Path) -> None:
    text = (
        (base_scenario / "patrimoine.csv")
        .read_text(encoding="utf-8")
        .replace("L02,P1", "=L02,+P1")
        .replace("L03,P2", "@L03,-P2")
    )
    (base_scenario / "patrimoine.csv").write_text(text, encoding="utf-8")
    (base_scenario / "vacances.csv").write_text("logement,date_liberation\n", encoding="utf-8")
    (base_scenario / "designations.csv").write_text("logement,date,convention,statut\n", encoding="utf-8")
    stock = load_scenario(base_scenario, warn=quiet).stock
    assert (
        stock.dwelling_id[1:3] == ("=L02", "@L03") and "+P1" in stock.programmes and "-P2" in stock.programmes
    )


def test_xlsx_with_typed_cells(base_scenario: Path) -> None:
    import xlsxwriter

    path = base_scenario / "patrimoine.xlsx"
    book = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_numbers": False})
    sheet = book.add_worksheet("Patrimoine")
    date_format = book.add_format({"num_format": "dd/mm/yyyy"})
    sheet.write_row(
        0,
        0,
        [
            "Logement",
            "Programme",
            "Commune",
            "QPV",
            "Typologie",
            "Financement",
            "Année de construction",
            "Date du bail",
            "Mise en service",
        ],
    )
    rows = [
        ("L01", "P1", 92046, "oui", "T2", "PLUS", 1962),
        ("L02", "P1", 92046, "oui", 3, "PLUS", 1962.0),
        ("L03", "P2", "92046", "non", "T4", "PLAI", 2015),
        ("L04", "P3", 92025, False, "T1", "PLS", 1990),
        ("L05", "P3", 92025, 0, "T3", "PLUS", 1990),
        ("L06", "P3", 92025, "non", "T5+", "PLUS", 1990),
    ]
    for r, row in enumerate(rows, start=1):
        sheet.write_row(r, 0, row)
    sheet.write_datetime(1, 7, dt.datetime(2020, 3, 1), date_format)
    sheet.write_number(2, 8, 46054)  # a date typed as a bare serial number: 2026-02-01
    book.close()
    toml = base_scenario / "scenario.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("patrimoine.csv", "patrimoine.xlsx"), encoding="utf-8"
    )
    stock = load_scenario(base_scenario, warn=quiet).stock
    assert stock.dwelling_id == ("L01", "L02", "L03", "L04", "L05", "L06")
    assert stock.communes == ("92025", "92046")
    assert stock.qpv.tolist() == [True, True, False, False, False, False]
    assert [TYPOLOGIES[t] for t in stock.typology] == ["T2", "T3", "T4", "T1", "T3", "T5+"]
    assert stock.construction_year.tolist() == [1962, 1962, 2015, 1990, 1990, 1990]
    assert str(stock.lease_start[0]) == "2020-03-01"
    assert str(stock.first_letting[1]) == "2026-02-01"


def test_xlsx_errors_name_the_cell_row(base_scenario: Path) -> None:
    import xlsxwriter

    path = base_scenario / "patrimoine.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(
        0, 0, ["logement", "programme", "commune", "qpv", "typologie", "financement", "annee_construction"]
    )
    sheet.write_row(1, 0, ["L01", "P1", "92046", "oui", "T2", "PLUS", 1962])
    sheet.write_row(2, 0, ["L02", "P1", "92046", "oui", "grand", "PLUS", 1962])
    book.close()
    toml = base_scenario / "scenario.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("patrimoine.csv", "patrimoine.xlsx"), encoding="utf-8"
    )
    (base_scenario / "vacances.csv").write_text("logement,date_liberation\n", encoding="utf-8")
    (base_scenario / "designations.csv").write_text("logement,date,convention,statut\n", encoding="utf-8")
    with pytest.raises(InputError) as raised:
        load_scenario(base_scenario, warn=quiet)
    rendered = [p.render() for p in raised.value.problems]
    assert (
        "patrimoine.xlsx:3:typologie: typologie attendue : T1, T2, T3, T4 ou T5+ (ou un nombre de pièces) (reçu : 'grand')"
        in rendered
    )


RPLS_STOCK = (
    "DEPCOM;LIBCOM;NUMVOIE;NOMVOIE;IDENT_INT;NBPIECE;SURFHAB;CONSTRUCT;FINAN;QPV;BAIL;LOYERPRINC;MODE\n"
    + "".join(
        f"92046;Malakoff;{i};rue de la Paix;R{i:03d};{1 + i % 5};55,5;1975;{14 if i % 3 else 16};"
        f"{'QP092001' if i < 10 else ''};{'15/06/2024' if i % 4 == 0 else '01/01/2010'};412,30;1\n"
        for i in range(40)
    )
)


def test_rpls_extract_as_stock(base_scenario: Path) -> None:
    (base_scenario / "patrimoine.csv").write_text(RPLS_STOCK, encoding="utf-8")
    (base_scenario / "vacances.csv").write_text(
        "logement,date_liberation\nR001,2026-02-01\n", encoding="utf-8"
    )
    (base_scenario / "designations.csv").write_text("logement,date,convention,statut\n", encoding="utf-8")
    warnings: list[str] = []
    scenario = load_scenario(base_scenario, warn=warnings.append)
    stock = scenario.stock
    assert len(stock) == 40 and stock.dwelling_id[0] == "R000"
    assert stock.communes == ("92046",)
    assert int(stock.qpv.sum()) == 10
    assert [TYPOLOGIES[t] for t in stock.typology[:6]] == ["T1", "T2", "T3", "T4", "T5+", "T1"]
    assert FINANCINGS[stock.financing[0]] == "PLS" and FINANCINGS[stock.financing[1]] == "PLUS"
    # no programme column: grouped by commune and construction year, and the user is told
    assert stock.programmes == ("92046-1975",)
    assert any("programme" in w for w in warnings)
    # turnover derived from lease dates: 10 of 40 leases started in 2023-2025 → 10 / 40 / 3
    assert scenario.programme_turnover == {"92046-1975": pytest.approx(10 / 40 / 3, abs=1e-4)}


def _stock_for_turnover(base_scenario: Path, leases: list[str]) -> Path:
    rows = "".join(f"D{i},PX,92046,non,T3,PLUS,1990,,{lease}\n" for i, lease in enumerate(leases))
    (base_scenario / "patrimoine.csv").write_text(
        "logement,programme,commune,qpv,typologie,financement,annee_construction,hors_flux,date_bail\n"
        + rows,
        encoding="utf-8",
    )
    (base_scenario / "vacances.csv").write_text("logement,date_liberation\n", encoding="utf-8")
    (base_scenario / "designations.csv").write_text("logement,date,convention,statut\n", encoding="utf-8")
    return base_scenario


def test_turnover_from_lease_dates(base_scenario: Path) -> None:
    leases = ["2024-05-01"] * 6 + ["2022-12-31"] * 1 + ["2015-01-01"] * 23 + [""] * 10  # 6 recent of 30 dated
    scenario = load_scenario(_stock_for_turnover(base_scenario, leases), warn=quiet)
    assert scenario.programme_turnover == {"PX": pytest.approx(6 / 30 / 3, abs=1e-4)}
    assert effective_turnover(scenario).tolist() == pytest.approx([6 / 30 / 3] * 40, abs=1e-4)


def test_turnover_from_leases_is_capped_and_floored(base_scenario: Path) -> None:
    scenario = load_scenario(_stock_for_turnover(base_scenario, ["2025-01-01"] * 30), warn=quiet)
    assert scenario.programme_turnover == {"PX": 0.25}
    scenario = load_scenario(_stock_for_turnover(base_scenario, ["2001-01-01"] * 30), warn=quiet)
    assert scenario.programme_turnover == {"PX": 0.01}


def test_small_programmes_keep_the_scenario_rate(base_scenario: Path) -> None:
    leases = ["2025-01-01"] * (DERIVED_TURNOVER_MIN_DWELLINGS - 1)
    scenario = load_scenario(_stock_for_turnover(base_scenario, leases), warn=quiet)
    assert scenario.programme_turnover == {}
    assert effective_turnover(scenario).tolist() == pytest.approx([0.06] * len(leases))


def test_turnover_file_wins_over_lease_dates(base_scenario: Path) -> None:
    folder = _stock_for_turnover(base_scenario, ["2025-01-01"] * 30)
    (folder / "rotation.csv").write_text("Programme;Rotation\nPX;4,2 %\n", encoding="utf-8")
    toml = folder / "scenario.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace(
            'designations = "designations.csv"',
            'designations = "designations.csv"\nturnover = "rotation.csv"',
        ),
        encoding="utf-8",
    )
    scenario = load_scenario(folder, warn=quiet)
    assert scenario.programme_turnover == {"PX": pytest.approx(0.042)}
    assert "rotation.csv" in scenario.input_hashes


def test_derive_turnover_ignores_out_of_flux(base_scenario: Path) -> None:
    scenario = load_scenario(base_scenario, warn=quiet)
    assert derive_turnover(scenario.stock, 2026, {}) == {}  # programmes far below the 20-lease minimum


@pytest.mark.parametrize(
    ("relative", "fragment"),
    [
        ("../x.csv", ".."),
        ("/etc/passwd", "absolu"),
        ("C:\\data\\x.csv", "absolu"),
        ("sub/../../x.csv", ".."),
        ("", "vide"),
    ],
)
def test_paths_may_not_leave_the_folder(tmp_path: Path, relative: str, fragment: str) -> None:
    path, why = resolve_inside(tmp_path, relative)
    assert path is None and why is not None and fragment in why


def test_paths_inside_the_folder(tmp_path: Path) -> None:
    (tmp_path / "donnees").mkdir()
    path, why = resolve_inside(tmp_path, "donnees/patrimoine.csv")
    assert why is None and path == tmp_path / "donnees" / "patrimoine.csv"
    path, why = resolve_inside(tmp_path, "donnees\\patrimoine.csv")
    assert why is None and path == tmp_path / "donnees" / "patrimoine.csv"


def test_toml_errors_are_located_at_their_line(base_scenario: Path) -> None:
    toml = base_scenario / "scenario.toml"
    text = toml.read_text(encoding="utf-8").replace(
        'share = 25\ncontingent = "employeurs', 'share = 250\ncontingent = "employeurs'
    )
    text = text.replace('kind = "action_logement"', 'kind = "action_logement"\ncouleur = "bleu"')
    toml.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as raised:
        load_scenario(base_scenario, warn=quiet)
    rendered = {p.render() for p in raised.value.problems}
    lines = text.splitlines()
    share_line = lines.index("share = 250") + 1
    extra_line = lines.index('couleur = "bleu"') + 1
    assert (
        f"scenario.toml:{share_line}:conventions[3].share: valeur hors limites : doit être ≤ 100 (reçu : '250')"
        in rendered
    )
    assert (
        f"scenario.toml:{extra_line}:reservataires[2].couleur: clé inconnue (faute de frappe ?) (reçu : 'bleu')"
        in rendered
    )


def test_key_lines_of_nested_arrays_of_tables() -> None:
    text = (
        "[scenario]\nname = 'x'\n\n[[conventions]]\nid = 'A'\n[[conventions.wishes]]\nmin_share = 3\n"
        "[[conventions]]\nid = 'B'\nscope = { kind = 'departement' }\n[[conventions.wishes]]\nvalues = []\n"
        "[[conventions.wishes]]\nvalues = [\n 'T1',\n]\n[forecast.exclusions]\nanru = 1\n"
    )
    lines = key_lines(text)
    assert lines[("conventions", 0, "id")] == 5
    assert lines[("conventions", 0, "wishes", 0, "min_share")] == 7
    assert lines[("conventions", 1, "scope")] == 10
    assert lines[("conventions", 1, "wishes", 1, "values")] == 14
    assert lines[("forecast", "exclusions", "anru")] == 18
    assert line_of(("conventions", 1, "scope", "departement"), lines) == 10
    assert render_loc(("conventions", 1, "wishes", 0, "values")) == "conventions[2].wishes[1].values"


def test_check_false_skips_rules_but_not_reading(base_scenario: Path) -> None:
    toml = base_scenario / "scenario.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("share = 20", "share = 60"), encoding="utf-8")
    scenario = load_scenario(base_scenario, check=False, warn=quiet)
    assert any("au total" in p.message for p in validate(scenario))
    (base_scenario / "vacances.csv").write_text("logement,date_liberation\nL01,hier\n", encoding="utf-8")
    with pytest.raises(InputError):
        load_scenario(base_scenario, check=False, warn=quiet)


def test_model_by_path_inside_the_folder(base_scenario: Path) -> None:
    scenario = load_scenario(base_scenario, warn=quiet)
    ref = load_model_ref(scenario)
    assert ref.name == "modele" and ref.data["name"] == "test"
    assert ref.sha256 == scenario.input_hashes["modele.toml"]


def test_model_by_shipped_name_beside_the_scenario(base_scenario: Path) -> None:
    models = base_scenario / "models"
    models.mkdir()
    (models / "maison.toml").write_text(
        'name = "maison"\n[[levels]]\nname = "totaux"\nrows = ["total"]\n', encoding="utf-8"
    )
    toml = base_scenario / "scenario.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace('model = "modele.toml"', 'model = "maison"'),
        encoding="utf-8",
    )
    scenario = load_scenario(base_scenario, warn=quiet)
    assert load_model_ref(scenario).data["name"] == "maison"
    assert "maison" in shipped_models(base_scenario)


def test_model_file_with_syntax_error(base_scenario: Path) -> None:
    (base_scenario / "modele.toml").write_text("name = \n", encoding="utf-8")
    with pytest.raises(InputError) as refused:  # validate() reads the model as plan will
        load_scenario(base_scenario, warn=quiet)
    assert refused.value.problems[0].render().startswith("modele.toml:1: syntaxe TOML invalide")
    scenario = load_scenario(base_scenario, check=False, warn=quiet)
    with pytest.raises(InputError) as raised:
        load_model_ref(scenario)
    assert raised.value.problems[0].render().startswith("modele.toml:1: syntaxe TOML invalide")


@pytest.mark.parametrize("folder", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_scenarios_are_valid(folder: Path) -> None:
    scenario = load_scenario(folder, warn=quiet)
    assert len(scenario.stock) > 0
    assert load_model_ref(scenario).name == scenario.config.scenario.model


def test_shipped_models_are_found_by_name() -> None:
    on_disk = {p.stem for p in (REPO / "models").glob("*.toml")}
    assert on_disk and set(shipped_models()) == on_disk
    # the package directory src/fluxopt/models links to the repository's models/ (shipped in the wheel)
    package_dir = REPO / "src" / "fluxopt" / "models"
    assert {p.stem for p in package_dir.glob("*.toml")} == on_disk


@pytest.mark.parametrize("folder", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_scenarios_load_and_break_no_rule_but_the_model(folder: Path) -> None:
    scenario = load_scenario(folder, check=False, warn=quiet)
    problems = [p for p in validate(scenario) if p.column != "scenario.model"]
    assert problems == []
    assert set(scenario.input_hashes) >= {"scenario.toml", scenario.config.files.stock}


def test_excel_sep_line_names_the_delimiter(base_scenario: Path) -> None:
    text = (
        (base_scenario / "patrimoine.csv")
        .read_text(encoding="utf-8")
        .replace(",", "|")
        .replace("T2|PLUS", "T2|PLUS")
    )
    (base_scenario / "patrimoine.csv").write_text(
        "sep=|\n" + text.replace("L02|P1|92046|oui|T3", "L02|P1|92046|oui|T3x"), encoding="utf-8"
    )
    with pytest.raises(InputError) as raised:
        load_scenario(base_scenario, warn=quiet)
    # the sep= line counts as line 1: the bad cell of the 3rd dwelling is on line 4
    assert raised.value.problems[0].render().startswith("patrimoine.csv:4:typologie:")


def test_workbook_that_unzips_too_large_is_refused(
    base_scenario: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import xlsxwriter

    from fluxopt.io import table

    book = xlsxwriter.Workbook(str(base_scenario / "patrimoine.xlsx"))
    book.add_worksheet().write_row(0, 0, ["logement", "programme"])
    book.close()
    toml = base_scenario / "scenario.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("patrimoine.csv", "patrimoine.xlsx"), encoding="utf-8"
    )
    monkeypatch.setattr(table, "MAX_XLSX_EXPANDED_BYTES", 1000)  # a real zip bomb would take seconds to build
    with pytest.raises(InputError) as raised:
        load_scenario(base_scenario, warn=quiet)
    assert "décompressé" in raised.value.problems[0].message
