"""Stock → flux conversion: shares recomputed by hand on a tiny stock (domain.md §8)."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from pathlib import Path

import pytest

from factories import convention, make_scenario, programme
from fluxopt.convert import (
    conventions_toml,
    convert,
    read_reservations,
    read_turnover_history,
    render_conversion,
    right_weight,
)
from fluxopt.domain import Contingent, Convention, Scenario
from fluxopt.errors import InputError

RESERVATAIRES = (
    {"id": "ETAT", "name": "Préfet", "kind": "etat"},
    {"id": "AL", "name": "Action Logement Services", "kind": "action_logement"},
    {"id": "VILLE", "name": "Ville de Malakoff", "kind": "collectivite"},
    {"id": "CD", "name": "Département des Hauts-de-Seine", "kind": "collectivite"},
)


def tiny(conventions: list[dict] | None = None) -> Scenario:
    """92046: P1 10 dwellings τ 0.10, P2 10 dwellings τ 0.05; 92025: P3 20 dwellings at the default 0.06,
    P4 5 defence dwellings (out of the flux)."""
    rows = (
        programme("P1", "92046", typologies={"T3": 10})
        + programme("P2", "92046", typologies={"T2": 10})
        + programme("P3", "92025", typologies={"T4": 20})
        + programme("P4", "92025", typologies={"T3": 5}, out_of_flux="defense")
    )
    if conventions is None:
        conventions = [
            convention("VILLE-92046", "VILLE", 20, communes=["92046"]),
            convention("AL-92", "AL", 25, departement="92"),
        ]
    return make_scenario(
        rows,
        conventions,
        reservataires=RESERVATAIRES,
        turnover_rate=0.06,
        programme_turnover={"P1": 0.10, "P2": 0.05},
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


RESERVATIONS = """logement;programme;nombre;reservataire;fin_droit;contingent
;P1;;VILLE;;
P2-0001;;;AL;;
P2-0002;;;AL;;
P2-0003;;;AL;31/12/2027;
P2-0004;;;AL;2027-12-31;
;P3;5;CD;;
P4-0001;;;ETAT;;etat_prioritaires
P3-0020;;;ETAT;30/06/2025;etat_prioritaires
"""

W = 730 / 1096  # 2026-01-01 .. 2027-12-31 over 2026 .. 2028 (2028 is a leap year)


def test_right_weight_counts_remaining_years_only() -> None:
    assert right_weight(None, 2026, 3) == 1.0
    assert right_weight(dt.date(2027, 12, 31), 2026, 3) == pytest.approx(W)
    assert right_weight(dt.date(2025, 6, 30), 2026, 3) == 0.0
    assert right_weight(dt.date(2035, 1, 1), 2026, 3) == 1.0
    assert right_weight(dt.date(2026, 12, 31), 2026, 1) == 1.0


def test_shares_by_stock_and_by_rotation_recomputed_by_hand(tmp_path: Path) -> None:
    scenario = tiny()
    reservations = read_reservations(write(tmp_path / "reservations.csv", RESERVATIONS), scenario)
    result = convert(scenario, reservations)
    by = {(s.reservataire, s.scope_label): s for s in result.shares}
    assert set(by) == {("VILLE", "commune 92046"), ("AL", "département 92"), ("CD", "département 92")}

    ville = by["VILLE", "commune 92046"]
    assert ville.conventions == ("VILLE-92046",) and ville.current_share == 20
    assert ville.scope_dwellings == 20 and ville.reserved_dwellings == 10
    assert ville.share_stock == pytest.approx(50.0)  # 10 / 20
    assert ville.share_rotation == pytest.approx(100 * 1.0 / 1.5)  # 10×0.10 / (10×0.10 + 10×0.05)

    al = by["AL", "département 92"]
    n_al = 2 + 2 * W
    assert al.scope_dwellings == 40  # the 5 defence dwellings stay stock
    assert al.reserved_weighted == pytest.approx(n_al)
    assert al.ending_rights == 2
    assert al.share_stock == pytest.approx(100 * n_al / 40)
    tau_92 = 1.0 + 0.5 + 20 * 0.06
    assert al.share_rotation == pytest.approx(100 * 0.05 * n_al / tau_92)

    cd = by["CD", "département 92"]  # no convention yet, a département: default scope is the département
    assert cd.conventions == () and cd.current_share is None
    assert cd.reserved_dwellings == 5
    assert cd.share_stock == pytest.approx(12.5)
    assert cd.share_rotation == pytest.approx(100 * 5 * 0.06 / tau_92)

    # the préfet's only rights are a defence dwelling (stays stock) and a right that ended in 2025
    assert not any(s.reservataire == "ETAT" for s in result.shares)
    assert any("hors flux" in n for n in result.notes)
    assert any("échu" in n for n in result.notes)

    communes = {c.commune: c for c in result.communes}
    rot_92046 = ville.share_rotation + al.share_rotation + cd.share_rotation
    assert communes["92046"].remaining_rotation == pytest.approx(100 - rot_92046)
    assert communes["92025"].remaining_rotation == pytest.approx(100 - al.share_rotation - cd.share_rotation)
    assert communes["92046"].remaining_stock == pytest.approx(100 - 50 - 100 * n_al / 40 - 12.5)
    assert communes["92046"].remaining_current == pytest.approx(55.0)
    assert communes["92025"].remaining_current == pytest.approx(75.0)
    assert communes["92025"].dwellings == 20

    text = render_conversion(result)
    assert "Part rotation" in text and "66,7 %" in text and "Reste (rotation)" in text


def test_programme_scope_weighs_by_the_flux_it_covers(tmp_path: Path) -> None:
    scenario = tiny(
        [
            convention("VILLE-92046", "VILLE", 20, communes=["92046"]),
            convention("AL-P1", "AL", 30, programmes=["P1"]),
        ]
    )
    result = convert(scenario, None)
    communes = {c.commune: c for c in result.communes}
    # P1 carries 1.0 of the 1.5 expected vacancies of 92046
    assert communes["92046"].remaining_current == pytest.approx(100 - 20 - 30 * 1.0 / 1.5)
    assert communes["92025"].remaining_current == pytest.approx(100.0)
    assert communes["92046"].remaining_rotation is None


def test_without_reservations_says_so_in_french() -> None:
    result = convert(tiny(), None)
    assert result.shares == ()
    text = render_conversion(result)
    assert "Aucune réservation en stock n'est fournie" in text
    assert "Aucune réservation en stock" in conventions_toml(result)


def test_turnover_history_three_year_average_takes_precedence(tmp_path: Path) -> None:
    history_file = write(
        tmp_path / "rotation_historique.csv",
        "programme;annee;rotation\nP2;2022;2 %\nP2;2023;4 %\nP2;2024;6 %\nP2;2025;8 %\nP2;2026;50 %\n",
    )
    history = read_turnover_history(history_file, 2026)
    assert history == {"P2": pytest.approx(0.06)}
    scenario = tiny()
    reservations = read_reservations(
        write(tmp_path / "r.csv", "programme;reservataire\nP2;VILLE\n"), scenario
    )
    result = convert(scenario, reservations, history=history)
    (ville,) = result.shares
    assert ville.share_rotation == pytest.approx(100 * 0.6 / (1.0 + 0.6))
    assert result.turnover_sources == {"logement": 0, "historique": 10, "programme": 10, "défaut": 25}


def test_contingent_splits_the_prefet(tmp_path: Path) -> None:
    scenario = tiny(
        [
            convention("ETAT-PRIO-92", "ETAT", 25, departement="92", contingent="etat_prioritaires"),
            convention("ETAT-FONC-92", "ETAT", 5, departement="92", contingent="etat_fonctionnaires"),
        ]
    )
    text = "logement;reservataire;contingent\nP1-0001;ETAT;etat_prioritaires\nP1-0002;ETAT;etat_prioritaires\nP3-0001;ETAT;État fonctionnaires\n"
    result = convert(scenario, read_reservations(write(tmp_path / "r.csv", text), scenario))
    by = {s.contingent: s for s in result.shares}
    assert by[Contingent.STATE_PRIORITY].conventions == ("ETAT-PRIO-92",)
    assert by[Contingent.STATE_PRIORITY].share_stock == pytest.approx(5.0)
    assert by[Contingent.STATE_EMPLOYEES].share_stock == pytest.approx(2.5)


def test_toml_block_is_ready_to_paste(tmp_path: Path) -> None:
    scenario = tiny()
    result = convert(
        scenario, read_reservations(write(tmp_path / "reservations.csv", RESERVATIONS), scenario)
    )
    block = conventions_toml(result, method="stock")
    parsed = tomllib.loads(block)["conventions"]
    conventions = [Convention.model_validate(c) for c in parsed]
    by_id = {c.id: c for c in conventions}
    assert by_id["VILLE-92046"].share == 50.0
    assert by_id["VILLE-92046"].scope.communes == ("92046",)
    assert by_id["CD-92"].share == 12.5 and by_id["CD-92"].scope.departement == "92"
    rotation = {c["id"]: c["share"] for c in tomllib.loads(conventions_toml(result))["conventions"]}
    assert rotation["VILLE-92046"] == pytest.approx(66.7)


def test_a_commune_without_convention_gets_its_commune_as_scope(tmp_path: Path) -> None:
    scenario = tiny([convention("AL-92", "AL", 25, departement="92")])
    result = convert(
        scenario, read_reservations(write(tmp_path / "r.csv", "programme;reservataire\nP2;VILLE\n"), scenario)
    )
    (ville,) = result.shares
    assert ville.scope_label == "commune 92046"
    assert ville.share_stock == pytest.approx(50.0)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("logement;reservataire\nP1-0001;PREFET\n", "r.csv:2:reservataire: réservataire inconnu"),
        ("logement;reservataire\nZZZ;AL\n", "r.csv:2:logement: logement absent du patrimoine"),
        (
            "logement;reservataire\nP1-0001;AL\nP1-0001;VILLE\n",
            "r.csv:3:logement: logement déjà réservé ligne 2",
        ),
        (
            "programme;nombre;reservataire\nP1;8;AL\nP1;5;VILLE\n",
            "le programme P1 compte 10 logement(s) mais 13 sont réservés",
        ),
        ("logement;reservataire;fin_droit\nP1-0001;AL;31/02/2027\n", "r.csv:2:fin_droit: date impossible"),
        ("logement;reservataire;contingent\nP1-0001;AL;patronat\n", "r.csv:2:contingent: contingent inconnu"),
        ("reservataire\nAL\n", "une colonne « logement » ou « programme » est obligatoire"),
        ("logement;programme;reservataire\nP1-0001;P2;AL\n", "appartient au programme P1"),
    ],
)
def test_bad_reservations_are_reported_with_file_line_and_field(
    tmp_path: Path, text: str, fragment: str
) -> None:
    with pytest.raises(InputError) as caught:
        read_reservations(write(tmp_path / "r.csv", text), tiny())
    assert fragment in caught.value.render()


def test_cli_convert_prints_the_table_and_writes_the_toml_block(tmp_path: Path) -> None:
    import shutil

    from click.testing import CliRunner

    from fluxopt.cli import cli

    folder = tmp_path / "mini"
    shutil.copytree(Path(__file__).parents[1] / "scenarios" / "mini", folder)
    runner = CliRunner()
    without = runner.invoke(cli, ["convert", str(folder), "--toml", str(tmp_path / "none.toml")])
    assert without.exit_code == 0, without.output
    assert "Aucune réservation en stock n'est fournie" in without.stdout
    assert not (tmp_path / "none.toml").exists()

    # P0003 (8 dwellings) reserved for the commune; 2 dwellings of P0001 for Action Logement until end 2026
    (folder / "reservations.csv").write_text(
        "programme;logement;reservataire;fin_droit\nP0003;;MALAKOFF;\n;92046-P0001-0001;AL;31/12/2026\n"
        ";92046-P0001-0002;AL;31/12/2026\n",
        encoding="utf-8",
    )
    out = tmp_path / "conventions.toml"
    result = runner.invoke(cli, ["convert", str(folder), "--toml", str(out), "--methode", "stock"])
    assert result.exit_code == 0, result.output
    assert "Conversion stock → flux (reservations.csv)" in result.stdout
    parsed = {c["id"]: c for c in tomllib.loads(out.read_text(encoding="utf-8"))["conventions"]}
    assert parsed["MALAKOFF"]["share"] == 20.0  # 8 of 40 dwellings, same turnover everywhere
    assert parsed["AL-92"]["share"] == pytest.approx(round(100 * 2 * (365 / 1096) / 40, 1))
    as_json = runner.invoke(cli, ["convert", str(folder), "--json", "--toml", str(out)])
    data = json.loads(as_json.stdout)
    assert {p["reservataire"] for p in data["parts"]} == {"MALAKOFF", "AL"}

    bad = runner.invoke(cli, ["convert", str(folder), "--reservations", str(tmp_path / "absent.csv")])
    assert bad.exit_code == 1 and "absent.csv" in bad.output and "Traceback" not in bad.output


def test_shipped_cap_habitat_reservations_convert_and_recompute_by_hand() -> None:
    """The realistic scenario ships stock-era reservations and 3 years of turnover history: `convert` reads
    them, and the préfet's stock share in the 92 is recomputed here from the CSV alone."""
    import csv

    from fluxopt.io.scenario import load_scenario

    folder = Path(__file__).parents[1] / "scenarios" / "cap-habitat"
    scenario = load_scenario(folder)
    reservations = read_reservations(folder / "reservations.csv", scenario)
    history = read_turnover_history(folder / "rotation_historique.csv", scenario.year)
    result = convert(scenario, reservations, history=history)
    by = {(s.reservataire, s.contingent, s.scope_label): s for s in result.shares}
    prefet = by["ETAT", Contingent.STATE_PRIORITY, "département 92"]

    with (folder / "reservations.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    named = [r["Logement"] for r in rows if r["Logement"]]
    assert len(named) == len(set(named))  # a dwelling is reserved by one réservataire at most
    with (folder / "patrimoine.csv").open(encoding="utf-8-sig", newline="") as f:
        stock = {r["Logement"]: r for r in csv.DictReader(f, delimiter=";")}
    in_flux_92 = [d for d, r in stock.items() if r["Commune"].startswith("92") and not r.get("Hors_flux")]
    reserved_92 = [
        r["Logement"]
        for r in rows
        if r["reservataire"] == "ETAT"
        and r["contingent"] == "etat_prioritaires"
        and r["Logement"] in stock
        and stock[r["Logement"]]["Commune"].startswith("92")
        and not stock[r["Logement"]].get("Hors_flux")
    ]
    assert prefet.scope_dwellings == len(in_flux_92)
    assert prefet.reserved_dwellings == len(reserved_92)
    assert prefet.share_stock == pytest.approx(100 * len(reserved_92) / len(in_flux_92))
    # realistic: close to today's 25 % convention, and rights that end are counted pro rata
    assert 20 <= prefet.share_stock <= 30
    assert sum(s.ending_rights for s in result.shares if s.reservataire == "AL") > 0
