"""Every rule of `fluxopt.validate.RULES`, each by its name, on the small base scenario of the corpus."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fluxopt.domain.scenario import Scenario
from fluxopt.errors import InputError, Problem
from fluxopt.io.scenario import load_scenario, with_config
from fluxopt.validate import RULES, validate


def load(folder: Path) -> Scenario:
    return load_scenario(folder, check=False, warn=lambda _: None)


def problems_after(folder: Path, file: str, old: str, new: str) -> list[Problem]:
    path = folder / file
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return validate(load(folder))


def configured(folder: Path, **changes: object) -> list[Problem]:
    """Validate the base scenario with parts of its configuration replaced (as if edited in scenario.toml)."""
    scenario = load(folder)
    data = scenario.config.model_dump(mode="python")
    for dotted, value in changes.items():
        target = data
        keys = dotted.split("__")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target[key]
        last = keys[-1]
        target[int(last) if last.isdigit() else last] = value
    config = type(scenario.config).model_validate(data)
    return validate(with_config(scenario, config))


def one(problems: list[Problem], fragment: str) -> Problem:
    found = [p for p in problems if fragment in p.message]
    assert len(found) == 1, [p.render() for p in problems]
    return found[0]


def test_base_scenario_is_valid(base_scenario: Path) -> None:
    assert validate(load(base_scenario)) == []


def test_model_unknown(base_scenario: Path) -> None:
    p = one(
        problems_after(base_scenario, "scenario.toml", 'model = "modele.toml"', 'model = "nulle-part"'),
        "modèle inconnu",
    )
    assert (p.file, p.line, p.column) == ("scenario.toml", 6, "scenario.model")


def test_reservataire_duplicate(base_scenario: Path) -> None:
    p = one(
        problems_after(base_scenario, "scenario.toml", 'id = "VILLE"', 'id = "AL"'), "réservataire en double"
    )
    assert p.line == 27 and p.column == "reservataires[3].id"


def test_convention_duplicate(base_scenario: Path) -> None:
    p = one(
        problems_after(base_scenario, "scenario.toml", 'id = "AL-92"', 'id = "ETAT-FONC-92"'),
        "convention en double",
    )
    assert p.column == "conventions[3].id" and "conventions[2]" in p.message


def test_convention_unknown_reservataire(base_scenario: Path) -> None:
    p = one(configured(base_scenario, conventions__3__reservataire="MAIRIE"), "réservataire inconnu")
    assert p.received == "MAIRIE" and p.column == "conventions[4].reservataire"


def test_contingent_state_only(base_scenario: Path) -> None:
    p = one(configured(base_scenario, conventions__2__contingent="etat_fonctionnaires"), "réservé au préfet")
    assert p.column == "conventions[3].contingent"


def test_scope_unknown_departement(base_scenario: Path) -> None:
    p = one(
        configured(base_scenario, conventions__2__scope={"kind": "departement", "departement": "93"}),
        "aucun logement du patrimoine dans ce département",
    )
    assert p.received == "93"


def test_scope_unknown_commune(base_scenario: Path) -> None:
    p = one(
        configured(base_scenario, conventions__3__scope={"kind": "communes", "communes": ["92046", "75056"]}),
        "75056",
    )
    assert p.column == "conventions[4].scope.communes"


def test_scope_unknown_programme(base_scenario: Path) -> None:
    p = one(
        configured(base_scenario, conventions__3__scope={"kind": "programmes", "programmes": ["P1", "P9"]}),
        "programme(s) absent(s)",
    )
    assert p.received == "P9"


def test_convention_outside_year(base_scenario: Path) -> None:
    import datetime as dt

    p = one(
        configured(
            base_scenario,
            conventions__3__start=dt.date(2024, 1, 1),
            conventions__3__end=dt.date(2025, 12, 31),
        ),
        "hors de l'année 2026",
    )
    assert p.column == "conventions[4]"


def test_wish_unknown_value(base_scenario: Path) -> None:
    wish = {"dimension": "typologie", "values": ["T4", "T7"], "min_share": 30}
    p = one(configured(base_scenario, conventions__3__wishes=[wish]), "T7")
    assert p.column == "conventions[4].wishes[1].values"


def test_prefet_max_30(base_scenario: Path) -> None:
    p = one(configured(base_scenario, conventions__0__share=26), "préfet")
    # 26 + 5 = 31 % in both communes of the département: one message, 1 point over
    assert (
        "communes 92025, 92046" in p.message and "31 %" in p.message and "dépassement de 1 point" in p.message
    )


def test_prefet_max_30_counts_overlapping_commune_convention(base_scenario: Path) -> None:
    # a préfet convention on Malakoff only adds up with the département ones there, not in Colombes
    problems = problems_after(
        base_scenario,
        "scenario.toml",
        'reservataire = "VILLE"\nshare = 20',
        'reservataire = "ETAT"\nshare = 1',
    )
    p = one(problems, "préfet")
    assert "commune 92046 " in p.message and "31 %" in p.message and "VILLE-92046 1 %" in p.message


def test_state_employees_max_5(base_scenario: Path) -> None:
    p = one(configured(base_scenario, conventions__1__share=5.5, conventions__0__share=20), "agents")
    assert "5,5 %" in p.message and "dépassement de 0,5 point" in p.message


def test_reserved_max_100(base_scenario: Path) -> None:
    p = one(configured(base_scenario, conventions__3__share=46), "au total")
    # Malakoff: 25 + 5 + 25 + 46 = 101 %; Colombes (55 %) is fine
    assert "commune 92046 " in p.message and "101 %" in p.message and "dépassement de 1 point" in p.message


def test_reserved_max_100_only_when_in_force_together(base_scenario: Path) -> None:
    import datetime as dt

    # two successive town conventions (Jan-Jun 20 %, Jul-Dec 45 %): never 100 % + together
    scenario = load(base_scenario)
    data = scenario.config.model_dump(mode="python")
    first = data["conventions"][3]
    first["end"] = dt.date(2026, 6, 30)
    second = {**first, "id": "VILLE-92046-B", "share": 45, "start": dt.date(2026, 7, 1), "end": None}
    data["conventions"] = [*data["conventions"], second]
    assert validate(with_config(scenario, type(scenario.config).model_validate(data))) == []
    second["share"] = 46
    p = one(validate(with_config(scenario, type(scenario.config).model_validate(data))), "au total")
    assert "à partir du 01/07/2026" in p.message


def test_stock_empty(base_scenario: Path) -> None:
    (base_scenario / "patrimoine.csv").write_text(
        "logement,programme,commune,qpv,typologie,financement,annee_construction\n", encoding="utf-8"
    )
    with pytest.raises(InputError) as raised:
        load_scenario(base_scenario, check=False)
    assert any("patrimoine vide" in p.message for p in raised.value.problems)


def test_flux_empty(base_scenario: Path) -> None:
    text = (base_scenario / "patrimoine.csv").read_text(encoding="utf-8")
    lines = text.splitlines()
    lines[1:] = [",".join([*row.split(",")[:7], "hopital", row.split(",")[8]]) for row in lines[1:]]
    (base_scenario / "patrimoine.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (base_scenario / "vacances.csv").write_text("logement,date_liberation\n", encoding="utf-8")
    (base_scenario / "designations.csv").write_text("logement,date,convention,statut\n", encoding="utf-8")
    one(validate(load(base_scenario)), "flux vide")


def test_stock_date_after_year(base_scenario: Path) -> None:
    p = one(
        problems_after(base_scenario, "patrimoine.csv", "2020-03-01", "2027-03-01"), "après la fin de l'année"
    )
    assert (p.file, p.line, p.column) == ("patrimoine.csv", 2, "date_bail")


def test_vacancy_date_outside_year(base_scenario: Path) -> None:
    p = one(
        problems_after(base_scenario, "vacances.csv", "L05,2026-03-01", "L05,2027-01-01"), "hors de l'année"
    )
    assert (p.file, p.line, p.column, p.received) == ("vacances.csv", 5, "date_liberation", "01/01/2027")


def test_vacancy_out_of_flux(base_scenario: Path) -> None:
    p = one(
        problems_after(base_scenario, "vacances.csv", "L05,2026-03-01,", "L05,2026-03-01,\nL06,2026-03-02,"),
        "hors flux",
    )
    assert (p.line, p.received) == (6, "L06") and "defense" in p.message


def test_vacancy_duplicate(base_scenario: Path) -> None:
    p = one(
        problems_after(base_scenario, "vacances.csv", "L05,2026-03-01,", "L05,2026-03-01,\nL05,2026-03-01,"),
        "deux fois",
    )
    assert p.line == 6 and "ligne 5" in p.message


def test_designation_date_outside_year(base_scenario: Path) -> None:
    problems = problems_after(base_scenario, "designations.csv", "L05,2026-03-02", "L05,2025-03-02")
    p = one(problems, "hors de l'année")
    assert (p.line, p.column) == (4, "date")


def test_designation_unknown_convention(base_scenario: Path) -> None:
    p = one(
        problems_after(base_scenario, "designations.csv", "AL-92,carence", "ACTION-LOGEMENT,carence"),
        "convention inconnue",
    )
    assert (p.line, p.column, p.received) == (4, "convention", "ACTION-LOGEMENT")


def test_designation_to_bailleur_is_valid(base_scenario: Path) -> None:
    assert problems_after(base_scenario, "designations.csv", "AL-92,carence", "Bailleur,propose") == []


def test_designation_not_vacant(base_scenario: Path) -> None:
    p = one(
        problems_after(base_scenario, "designations.csv", "L05,2026-03-02", "L02,2026-03-02"), "pas vacant"
    )
    assert (p.line, p.received) == (4, "L02")


def test_designation_before_vacancy(base_scenario: Path) -> None:
    p = one(
        problems_after(base_scenario, "designations.csv", "L05,2026-03-02", "L05,2026-02-27"),
        "avant la libération",
    )
    assert "01/03/2026" in p.message and p.received == "27/02/2026"


def test_designation_excluded_vacancy(base_scenario: Path) -> None:
    p = one(
        problems_after(base_scenario, "designations.csv", "L05,2026-03-02", "L04,2026-03-02"),
        "exclue du flux",
    )
    assert "mutation_interne" in p.message


def test_designation_twice(base_scenario: Path) -> None:
    problems = problems_after(
        base_scenario,
        "designations.csv",
        "L05,2026-03-02,AL-92,carence,,,",
        "L05,2026-03-02,AL-92,carence,,,\nL05,2026-03-09,ETAT-PRIO-92,propose,,,",
    )
    p = one(problems, "déjà désigné")
    assert p.line == 5 and "ligne 4" in p.message


def test_designation_after_a_new_vacancy_is_not_twice(base_scenario: Path) -> None:
    # the same dwelling freed again later in the year is a new vacancy: a new designation is fine
    (base_scenario / "vacances.csv").write_text(
        (base_scenario / "vacances.csv").read_text(encoding="utf-8") + "L01,2026-05-01,\n", encoding="utf-8"
    )
    assert (
        problems_after(
            base_scenario,
            "designations.csv",
            "L05,2026-03-02,AL-92,carence,,,",
            "L05,2026-03-02,AL-92,carence,,,\nL01,2026-05-04,AL-92,propose,,,",
        )
        == []
    )


def test_designation_out_of_scope(base_scenario: Path) -> None:
    p = one(
        problems_after(
            base_scenario, "designations.csv", "L05,2026-03-02,AL-92", "L05,2026-03-02,VILLE-92046"
        ),
        "ne couvre pas",
    )
    assert "commune 92025" in p.message


def test_designation_convention_not_in_force(base_scenario: Path) -> None:
    import datetime as dt

    scenario = load(base_scenario)
    data = scenario.config.model_dump(mode="python")
    data["conventions"][2]["start"] = dt.date(2026, 4, 1)  # AL-92 from April: the March designation is early
    p = one(validate(with_config(scenario, type(scenario.config).model_validate(data))), "pas en vigueur")
    assert (p.line, p.column) == (4, "date")


def test_lease_without_signed_status(base_scenario: Path) -> None:
    p = one(
        problems_after(base_scenario, "designations.csv", "AL-92,carence,,", "AL-92,carence,2026-03-30,"),
        "bail_signe ou repris",
    )
    assert (p.line, p.column) == (4, "date_bail")


def test_lease_before_designation(base_scenario: Path) -> None:
    p = one(
        problems_after(base_scenario, "designations.csv", "bail_signe,2026-02-20", "bail_signe,2026-01-11"),
        "avant la désignation",
    )
    assert (p.line, p.column) == (2, "date_bail")


def test_every_rule_has_a_test() -> None:
    names = {name for name in dir(sys.modules[__name__]) if name.startswith("test_")}
    missing = [rule for rule in RULES if f"test_{rule}" not in names]
    assert missing == []


def test_load_scenario_checks_rules_by_default(base_scenario: Path) -> None:
    text = (base_scenario / "scenario.toml").read_text(encoding="utf-8").replace("share = 20", "share = 50")
    (base_scenario / "scenario.toml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as raised:
        load_scenario(base_scenario)
    assert any("105 %" in p.message for p in raised.value.problems)
    assert len(load_scenario(base_scenario, check=False).stock) == 6


def test_exclusions_exceed_flux(base_scenario: Path) -> None:
    """Forecast exclusions that leave no flux base: validate says so (plan would refuse it), at the field."""
    p = one(
        problems_after(
            base_scenario,
            "scenario.toml",
            "turnover_rate = 0.06\n",
            "turnover_rate = 0.06\n\n[forecast.exclusions]\nanru = 5000\n",
        ),
        "Les exclusions prévues",
    )
    assert (p.file, p.column) == ("scenario.toml", "forecast.exclusions")
    assert p.line is not None and p.received == "5000"
    # below the expected vacancies: valid
    assert "(0,3)" in p.message  # French decimal comma
    assert configured(base_scenario, forecast__exclusions={"anru": 0.1}) == []
