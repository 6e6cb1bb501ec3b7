"""`fluxopt designate`: the weekly designations from the actuals, the life of a designation, bad inputs."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fluxopt.cli import cli
from fluxopt.domain import BAILLEUR
from fluxopt.io.scenario import load_scenario
from fluxopt.manifest import stable_json
from fluxopt.replan import designate, plan_churn, weekly_state

MINI = Path(__file__).parents[1] / "scenarios" / "mini"
SHARES = {"ETAT-PRIO-92": 0.25, "ETAT-FONC-92": 0.05, "AL-92": 0.25, "MALAKOFF": 0.20}
#: three more dwellings freed in late March / early April (mini already has four in the base, one excluded)
EXTRA_VACANCIES = [
    "92046-P0003-0001,2026-03-30,",
    "92046-P0001-0002,2026-03-31,",
    "92046-P0002-0003,2026-04-02,",
]


def scenario_copy(tmp_path: Path, vacancies: list[str] = (), designations: list[str] = ()) -> Path:  # type: ignore[assignment]
    folder = tmp_path / "mini"
    shutil.copytree(MINI, folder)
    for name, extra in (("vacances.csv", vacancies), ("designations.csv", designations)):
        if extra:
            with open(folder / name, "a", encoding="utf-8") as handle:
                handle.write("\n".join(extra) + "\n")
    return folder


def read_csv(path: Path) -> list[dict[str, str]]:
    text = path.read_bytes().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def run(*args: str) -> object:
    return CliRunner().invoke(cli, ["designate", *args], catch_exceptions=False)


def realised_base(folder: Path, as_of: dt.date) -> int:
    """Independent recount: vacancies in the file, not excluded, dated on or before `as_of`."""
    with open(folder / "vacances.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return sum(1 for r in rows if not r["exclusion"] and dt.date.fromisoformat(r["date_liberation"]) <= as_of)


def test_free_dwellings_get_an_eligible_convention_and_a_reason_a_person_can_check(tmp_path: Path) -> None:
    folder = scenario_copy(tmp_path, EXTRA_VACANCIES)
    out = tmp_path / "out"
    result = run(str(folder), "--as-of", "05/04/2026", "-o", str(out))
    assert result.exit_code == 0, result.output
    lines = read_csv(out / "designations.csv")
    assert sorted(r["logement"] for r in lines) == sorted(v.split(",")[0] for v in EXTRA_VACANCIES)
    base = realised_base(folder, dt.date(2026, 4, 5))
    assert base == 7
    # counted before this week, by hand from designations.csv: the préfet's lease and Malakoff's count;
    # AL's carence does not count to AL (counts_no_candidate = false): it goes back to the landlord
    counted = {"ETAT-PRIO-92": 1, "ETAT-FONC-92": 0, "AL-92": 0, "MALAKOFF": 1}
    for line in lines:
        conv = line["convention"]
        assert conv in SHARES or conv == BAILLEUR
        if conv in SHARES:
            target = f"{SHARES[conv] * base:.1f}".replace(".", ",")
            n = counted[conv]
            assert f": {n} proposé{'s' if n > 1 else ''} pour un objectif à date de {target}" in line["motif"]
            assert line["contingent_sne"] in (
                "etat_prioritaires",
                "etat_fonctionnaires",
                "employeurs_action_logement",
                "collectivites",
            )
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["commande"] == "designate"
    assert manifest["resultats"]["logements_libres"] == 3
    # both counters (domain.md §4), by hand: the préfet's and Malakoff's leases are signed before 5 April
    counters = manifest["resultats"]["compteurs_a_date"]
    spring = {"carences_attendues_fin_annee": 0.0}  # nothing to anticipate in April
    assert counters["ETAT-PRIO-92"] == {"proposes": 1, "baux_signes": 1, "objectif_a_date": 1.75, **spring}
    assert counters["MALAKOFF"] == {"proposes": 1, "baux_signes": 1, "objectif_a_date": 1.4, **spring}
    assert counters["AL-92"]["proposes"] == 0 and counters[BAILLEUR]["proposes"] == 2
    assert {"designations.csv", "plan.csv", "objectifs.csv", "sequence.csv", "manifest.json"} <= {
        p.name for p in out.iterdir()
    }


def test_designations_already_made_never_change_and_are_in_the_updated_plan(tmp_path: Path) -> None:
    folder = scenario_copy(tmp_path, EXTRA_VACANCIES)
    scen = load_scenario(folder)
    res = designate(scen, dt.date(2026, 4, 5))
    state = res.state
    assert res.plan is not None
    realised = len(state.rowset.units)
    planned_past = res.plan.counts[:realised]
    designated = state.offered.sum(axis=1) > 0
    # every past designation is in the plan exactly as counted
    assert np.array_equal(planned_past[designated], state.offered[designated])
    # this week's designations too, on the free dwellings
    cols = res.plan.columns
    for d in res.designations:
        u = [
            i
            for i in state.free.tolist()
            if scen.stock.dwelling_id[scen.vacancies.dwelling[state.unit_vacancy[i]]] == d.dwelling
        ]
        assert planned_past[u[0], cols.index(d.convention)] == 1


def test_same_facts_give_the_same_answer_byte_for_byte(tmp_path: Path) -> None:
    folder = scenario_copy(tmp_path, EXTRA_VACANCIES)
    a, b = tmp_path / "a", tmp_path / "b"
    assert run(str(folder), "--as-of", "2026-04-05", "-o", str(a)).exit_code == 0
    assert run(str(folder), "--as-of", "2026-04-05", "-o", str(b)).exit_code == 0
    for name in ("designations.csv", "plan.csv", "objectifs.csv", "sequence.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert stable_json((a / "manifest.json").read_text()) == stable_json((b / "manifest.json").read_text())


def test_replanning_with_no_new_facts_changes_nothing_and_churn_is_measured(tmp_path: Path) -> None:
    folder = scenario_copy(tmp_path, EXTRA_VACANCIES)
    out = tmp_path / "out"
    assert run(str(folder), "--as-of", "2026-04-05", "-o", str(out)).exit_code == 0
    first = (out / "designations.csv").read_bytes()
    result = run(str(folder), "--as-of", "2026-04-05", "-o", str(out))
    assert result.exit_code == 0
    assert (out / "designations.csv").read_bytes() == first
    churn = json.loads((out / "manifest.json").read_text())["resultats"]["changement_du_plan"]
    assert churn["logements_changes_par_mois"] == 0 and churn["logements_changes_sur_l_annee"] == 0
    assert churn["logements_prevus"] > 0
    assert "0 changent de convention" in result.output


def test_plan_churn_counts_dwellings_moved_between_conventions() -> None:
    old = {
        ("92046", "2026-05", "AL-92"): 3,
        ("92046", "2026-05", "ETAT-PRIO-92"): 2,
        ("92046", "2026-04", "AL-92"): 9,
    }
    new = {
        ("92046", "2026-05", "AL-92"): 2,
        ("92046", "2026-05", "ETAT-PRIO-92"): 3,
        ("92046", "2026-04", "AL-92"): 1,
    }
    churn = plan_churn(old, new, "2026-04")  # April is this week's month: not compared
    assert churn.compared_months == (5,)
    assert churn.changed == 1 and churn.planned == 5
    assert churn.share == pytest.approx(0.2)


def test_carence_counts_or_not_per_the_convention_clause(tmp_path: Path) -> None:
    """Carence: back to the landlord for one letting; counted to AL only if its convention says so."""
    folder = scenario_copy(tmp_path, EXTRA_VACANCIES)
    state = weekly_state(load_scenario(folder), dt.date(2026, 4, 5))
    cols = state.rowset.columns
    al, landlord = cols.index("AL-92"), cols.index(BAILLEUR)
    assert state.offered[:, al].sum() == 0 and state.offered[:, landlord].sum() == 2
    toml = folder / "scenario.toml"
    text = toml.read_text(encoding="utf-8")
    start = text.index('id = "AL-92"')
    end = text.index("counts_no_candidate = false", start) + len("counts_no_candidate = false")
    toml.write_text(text[:start] + text[start:end].replace("false", "true") + text[end:], encoding="utf-8")
    state = weekly_state(load_scenario(folder), dt.date(2026, 4, 5))
    assert state.offered[:, al].sum() == 1 and state.offered[:, landlord].sum() == 1


def test_refusal_keeps_the_dwelling_with_the_same_reservataire(tmp_path: Path) -> None:
    folder = scenario_copy(tmp_path, EXTRA_VACANCIES, ["92046-P0003-0001,2026-03-31,AL-92,refuse,,,"])
    out = tmp_path / "out"
    assert run(str(folder), "--as-of", "2026-04-05", "-o", str(out)).exit_code == 0
    lines = read_csv(out / "designations.csv")
    assert "92046-P0003-0001" not in {r["logement"] for r in lines}  # not designated again
    for r in lines:
        if r["convention"] == "AL-92":
            assert ": 1 proposé pour" in r["motif"]  # the refused offer still counts to AL


def test_an_excluded_vacancy_is_out_of_the_base_and_never_designated(tmp_path: Path) -> None:
    folder = scenario_copy(tmp_path, ["92046-P0002-0004,2026-04-01,anru"])
    state = weekly_state(load_scenario(folder), dt.date(2026, 4, 5))
    assert state.rowset.units.total == realised_base(folder, dt.date(2026, 4, 5)) == 4
    assert len(state.free) == 0


def test_a_designation_dated_after_as_of_is_refused_with_its_line(tmp_path: Path) -> None:
    folder = scenario_copy(tmp_path, EXTRA_VACANCIES, ["92046-P0003-0001,2026-04-03,AL-92,propose,,,"])
    before = tmp_path / "out"
    result = run(str(folder), "--as-of", "2026-04-01", "-o", str(before))
    assert result.exit_code == 1
    assert "designations.csv:6:date" in result.output and "après --as-of 01/04/2026" in result.output
    assert "Traceback" not in result.output
    assert not before.exists()


def test_a_dwelling_designated_twice_is_refused(tmp_path: Path) -> None:
    folder = scenario_copy(
        tmp_path,
        EXTRA_VACANCIES,
        ["92046-P0003-0001,2026-03-31,AL-92,propose,,,", "92046-P0003-0001,2026-04-01,MALAKOFF,propose,,,"],
    )
    result = run(str(folder), "--as-of", "2026-04-05", "-o", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "déjà désigné" in result.output and "designations.csv:7" in result.output


def test_an_outcome_for_a_dwelling_never_freed_is_refused(tmp_path: Path) -> None:
    folder = scenario_copy(
        tmp_path, designations=["92046-P0003-0008,2026-03-10,AL-92,bail_signe,2026-03-30,,"]
    )
    result = run(str(folder), "--as-of", "2026-04-05", "-o", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "designations.csv:6" in result.output and "pas vacant" in result.output


def end_malakoff(folder: Path, end: str) -> None:
    toml = folder / "scenario.toml"
    text = toml.read_text(encoding="utf-8")
    anchor = 'scope = { kind = "communes", communes = ["92046"] }'
    toml.write_text(text.replace(anchor, anchor + f"\nend = {end}"), encoding="utf-8")


def test_a_convention_that_ended_mid_year_receives_nothing_more_and_keeps_its_past(tmp_path: Path) -> None:
    many = [f"92046-P0002-{k:04d},2026-04-0{1 + k % 5}," for k in range(1, 7)] + [
        f"92046-P0003-{k:04d},2026-04-0{1 + k % 5}," for k in (1, 2, 3, 4)
    ]
    folder = scenario_copy(tmp_path, many)
    end_malakoff(folder, "2026-03-31")
    scen = load_scenario(folder)
    res = designate(scen, dt.date(2026, 4, 6))
    assert len(res.designations) == 10
    assert "MALAKOFF" not in {d.convention for d in res.designations}
    assert any("MALAKOFF" in m for m in res.messages)
    state = res.state
    assert state.offered[:, state.rowset.columns.index("MALAKOFF")].sum() == 1  # its March designation stays
    assert res.plan is not None
    realised = len(state.rowset.units)
    assert res.plan.counts[realised:, res.plan.columns.index("MALAKOFF")].sum() == 0  # nor in the forecast


def test_a_designation_to_a_convention_after_its_end_is_refused(tmp_path: Path) -> None:
    folder = scenario_copy(tmp_path, EXTRA_VACANCIES, ["92046-P0003-0001,2026-04-02,MALAKOFF,propose,,,"])
    end_malakoff(folder, "2026-03-31")
    result = run(str(folder), "--as-of", "2026-04-05", "-o", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "designations.csv:6" in result.output


def test_a_week_with_no_vacancy_writes_empty_designations_and_a_plan(tmp_path: Path) -> None:
    folder = scenario_copy(tmp_path)
    out = tmp_path / "out"
    result = run(str(folder), "--as-of", "2026-04-10", "-o", str(out))
    assert result.exit_code == 0
    assert read_csv(out / "designations.csv") == []
    assert "Aucun logement libre" in result.output
    assert (out / "plan.csv").exists()


def test_a_complete_year_has_nothing_to_designate(tmp_path: Path) -> None:
    folder = scenario_copy(tmp_path)
    result = run(str(folder), "--as-of", "31/12/2026", "-o", str(tmp_path / "out"), "--sans-plan")
    assert result.exit_code == 0
    assert "complète" in result.output
    closed = run(str(folder), "--as-of", "05/01/2027", "-o", str(tmp_path / "out2"))
    assert closed.exit_code == 1 and "l'année est close" in closed.output


def test_a_bad_date_is_a_usage_error_in_french(tmp_path: Path) -> None:
    result = run(str(scenario_copy(tmp_path)), "--as-of", "2026-13-01")
    assert result.exit_code == 2 and "date impossible" in result.output


def test_an_interrupted_run_leaves_last_weeks_outputs_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = scenario_copy(tmp_path, EXTRA_VACANCIES)
    out = tmp_path / "out"
    assert run(str(folder), "--as-of", "2026-04-05", "-o", str(out)).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(*args: object, **kwargs: object) -> object:
        raise KeyboardInterrupt

    import fluxopt.replan as replan

    monkeypatch.setattr(replan, "weekly_results", interrupted)  # dies while the new outputs are staged
    result = CliRunner().invoke(cli, ["designate", str(folder), "--as-of", "2026-04-06", "-o", str(out)])
    assert result.exit_code == 130
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no staging left behind


def test_next_sequence_follows_the_rest_of_year_plan_and_keeps_every_prefix_within_one(
    tmp_path: Path,
) -> None:
    from collections import Counter

    from fluxopt.replan import next_sequence_rows
    from fluxopt.sequence import max_running_deviation

    folder = scenario_copy(tmp_path, EXTRA_VACANCIES)
    scen = load_scenario(folder)
    res = designate(scen, dt.date(2026, 4, 5))
    assert res.plan is not None
    rows = next_sequence_rows(res, scen)
    future = ~res.plan.units.realised
    planned = res.plan.counts[future].sum(axis=0)
    expected = {c: int(planned[j]) for j, c in enumerate(res.plan.columns) if planned[j] > 0}
    seq = [str(r[3]) for r in rows if r[0] == "92046"]
    assert Counter(seq) == Counter(expected)
    assert [r[1] for r in rows] == list(range(1, len(rows) + 1))
    assert max_running_deviation(seq, {k: float(v) for k, v in expected.items()}) < 1
    assert all(str(r[2]) >= "2026-04" for r in rows)


def test_csv_plain_writes_rfc_csv_as_on_the_other_commands(tmp_path: Path) -> None:
    folder = scenario_copy(tmp_path, EXTRA_VACANCIES)
    out = tmp_path / "out"
    result = run(str(folder), "--as-of", "05/04/2026", "-o", str(out), "--sans-plan", "--csv", "plain")
    assert result.exit_code == 0, result.output
    data = (out / "designations.csv").read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert sorted(r["logement"] for r in rows) == sorted(v.split(",")[0] for v in EXTRA_VACANCIES)


def test_a_designation_that_serves_the_prefets_legal_minimum_says_so_with_checkable_numbers(
    tmp_path: Path,
) -> None:
    """domain.md §3 (the préfet's share outside QPV may not fall below 30 %): a December week of outside-QPV
    vacancies; a designation to a préfet's convention names the legal minimum, with the préfet's count
    outside QPV before the week and the whole count the law requires, both recounted here from the files."""
    december = [f"92046-P0002-000{k},2026-12-0{k}," for k in range(1, 5)]
    folder = scenario_copy(tmp_path, december)
    out = tmp_path / "out"
    assert run(str(folder), "--as-of", "07/12/2026", "--sans-plan", "-o", str(out)).exit_code == 0
    with open(folder / "patrimoine.csv", encoding="utf-8") as handle:
        outside = {r["logement"] for r in csv.DictReader(handle) if r["qpv"] == "non"}
    with open(folder / "vacances.csv", encoding="utf-8") as handle:
        base = sum(1 for r in csv.DictReader(handle) if not r["exclusion"] and r["logement"] in outside)
    with open(folder / "designations.csv", encoding="utf-8") as handle:
        # the préfet's conventions count a carence too (counts_no_candidate = true): every row counts
        prefet = sum(
            1
            for r in csv.DictReader(handle)
            if r["convention"].startswith("ETAT") and r["logement"] in outside
        )
    need = -(-3 * base // 10)  # ⌈30 % × base outside QPV⌉, in integers
    assert (base, prefet, need) == (6, 0, 2)
    lines = read_csv(out / "designations.csv")
    phrase = f"minimum légal 92046 hors QPV : {prefet} pour {need} requis"
    to_prefet = [r for r in lines if r["convention"].startswith("ETAT")]
    assert to_prefet and all(phrase in r["motif"] for r in to_prefet)
    assert all("minimum légal" not in r["motif"] for r in lines if r not in to_prefet)


def test_late_pending_offers_of_a_convention_not_counting_carences_are_anticipated(tmp_path: Path) -> None:
    """domain.md §4: a carence counts to AL only if its convention says so (mini: it does not). An offer
    still waiting for candidates in December may come back too late to make up for: the week aims that
    much above AL's target, states it in the motif and the manifest; a convention that counts carences
    (ETAT-PRIO-92) and final outcomes are not anticipated."""
    from fluxopt.replan import carence_probability

    folder = scenario_copy(
        tmp_path,
        [
            "92046-P0003-0001,2026-12-01,",
            "92046-P0002-0003,2026-12-01,",
            "92046-P0001-0002,2026-12-10,",
            "92046-P0003-0002,2026-12-11,",
        ],
        [
            "92046-P0003-0001,2026-12-02,AL-92,propose,,,",
            "92046-P0002-0003,2026-12-02,ETAT-PRIO-92,propose,,,",
        ],
    )
    scenario = load_scenario(folder)
    rates = scenario.config.simulation
    q = carence_probability(rates.no_candidate_rate, rates.refusal_rate)
    state = weekly_state(scenario, dt.date(2026, 12, 13))
    cols = state.rowset.columns
    assert state.expected_loss is not None
    per_column = state.expected_loss.sum(axis=0)
    assert per_column[cols.index("AL-92")] == pytest.approx(q)
    assert per_column[cols.index("ETAT-PRIO-92")] == 0.0
    assert per_column[cols.index(BAILLEUR)] == pytest.approx(-q)
    # in spring the same kind of offer is answered in time to be made up for: nothing anticipated
    spring_folder = scenario_copy(
        tmp_path / "spring", EXTRA_VACANCIES, ["92046-P0003-0001,2026-03-31,AL-92,propose,,,"]
    )
    spring = weekly_state(load_scenario(spring_folder), dt.date(2026, 4, 5))
    assert spring.offered[:, cols.index("AL-92")].sum() == 1  # the same kind of pending offer is there
    assert spring.expected_loss is not None and not spring.expected_loss.any()
    out = tmp_path / "out"
    assert run(str(folder), "--as-of", "2026-12-13", "-o", str(out), "--sans-plan").exit_code == 0
    counters = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["resultats"][
        "compteurs_a_date"
    ]
    assert counters["AL-92"]["carences_attendues_fin_annee"] == pytest.approx(q, abs=1e-6)
    assert counters["ETAT-PRIO-92"]["carences_attendues_fin_annee"] == 0.0
    for line in read_csv(out / "designations.csv"):
        assert ("carences attendues" in line["motif"]) == (line["convention"] == "AL-92")


WEEKLY_MODEL = """name = "hebdo-maison"
[[levels]]
name = "totaux"
rows = ["total"]

[weekly]
total_weight = 4
tiers = [[1.0, 2.0]]
tail_weight = 0
late_days = 20
"""


def test_the_model_files_weekly_section_drives_the_week_and_is_in_the_manifest(tmp_path: Path) -> None:
    folder = scenario_copy(tmp_path, EXTRA_VACANCIES)
    (folder / "hebdo.toml").write_text(WEEKLY_MODEL, encoding="utf-8")
    out = tmp_path / "out"
    result = run(str(folder), "--as-of", "2026-04-05", "--sans-plan", "--model", "hebdo.toml", "-o", str(out))
    assert result.exit_code == 0, result.output
    model = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["modele"]
    assert model["nom"] == "hebdo-maison" and model["fichier"] == "hebdo.toml"
    assert model["hebdomadaire"]["total_weight"] == 4 and model["hebdomadaire"]["tiers"] == [[1.0, 2.0]]
    assert model["hebdomadaire"]["late_days"] == 20 and model["hebdomadaire"]["tail_weight"] == 0
    default = tmp_path / "default"
    assert run(str(folder), "--as-of", "2026-04-05", "--sans-plan", "-o", str(default)).exit_code == 0
    weekly = json.loads((default / "manifest.json").read_text(encoding="utf-8"))["modele"]["hebdomadaire"]
    assert weekly["total_weight"] == 10 and weekly["tail_weight"] == 300  # the shipped defaults


@pytest.mark.parametrize(
    ("line", "field", "words"),
    [
        ("tiers = [[1.8, 30.0], [1.0, 3.0]]", "weekly.tiers", "strictement croissants"),
        ("tail_weight = -1", "weekly.tail_weight", "tail_weight"),
        ("poids = 3", "weekly.poids", "poids"),
    ],
)
def test_a_bad_weekly_section_is_refused_with_its_file_line_and_field(
    tmp_path: Path, line: str, field: str, words: str
) -> None:
    folder = scenario_copy(tmp_path, EXTRA_VACANCIES)
    text = WEEKLY_MODEL.split("[weekly]")[0] + f"[weekly]\n{line}\n"
    (folder / "hebdo.toml").write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    result = run(str(folder), "--as-of", "2026-04-05", "--model", "hebdo.toml", "-o", str(out))
    assert result.exit_code == 1
    number = text.splitlines().index(line) + 1
    assert f"hebdo.toml:{number}:{field}" in result.output, result.output
    assert words in result.output and "Traceback" not in result.output
    assert not out.exists()
