"""`fluxopt simulate`: a year replayed week by week; figures recomputed independently; the CLI."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from factories import two_commune_scenario
from fluxopt.cli import cli
from fluxopt.domain import BAILLEUR, SimulationRates
from fluxopt.simulate import (
    OUTCOME_DELAYS,
    RunResult,
    SimulationSettings,
    _Ledger,
    cell_pools,
    draw_outcomes,
    report_text,
    run_rng,
    simulate,
)

MINI = Path(__file__).parents[1] / "scenarios" / "mini"
ALL = ("fluxopt", "plus-en-retard", "tour-de-role", "glouton")


@pytest.fixture(scope="module")
def scenario():  # type: ignore[no-untyped-def]
    """Two communes, ~90 flux vacancies a year, carence 10 %, refusal 20 %."""
    scen = two_commune_scenario()
    config = scen.config.model_copy(
        update={"simulation": SimulationRates(no_candidate_rate=0.1, refusal_rate=0.2)}
    )
    return replace(scen, config=config)


@pytest.fixture(scope="module")
def report(scenario):  # type: ignore[no-untyped-def]
    return simulate(scenario, SimulationSettings(runs=3, seed=11, policies=ALL, trace=True))


def stable(results: tuple[RunResult, ...]) -> list[RunResult]:
    return [replace(r, call_seconds=()) for r in results]


def test_same_seed_same_years_and_every_policy_replays_the_same_draws(scenario, report) -> None:  # type: ignore[no-untyped-def]
    again = simulate(scenario, SimulationSettings(runs=3, seed=11, policies=ALL, trace=True))
    assert stable(again.results) == stable(report.results)
    for run in range(3):
        per_policy = [r for r in report.results if r.run == run]
        assert len({r.vacancies for r in per_policy}) == 1  # paired: same vacancies for every policy
        assert len({tuple(t[0] for t in r.trace) for r in per_policy}) == 1
    other = simulate(scenario, SimulationSettings(runs=1, seed=12, policies=("glouton",)))
    assert other.results[0].vacancies != report.results[0].vacancies or stable(other.results) != stable(
        report.results[3:4]
    )


def test_year_end_deviation_recounted_by_hand_from_the_trace(scenario, report) -> None:  # type: ignore[no-untyped-def]
    """Independent recount: share × realised base per scope vs designations as counted on 31 December."""
    stock = scenario.stock
    convs = {c.id: c for c in scenario.conventions}
    end = dt.date(scenario.year, 12, 31)
    for r in report.results:
        outcomes = draw_outcomes(len(r.trace), scenario.config.simulation, run_rng(11, r.run, "outcomes"))
        counted = dict.fromkeys(convs, 0)
        base = dict.fromkeys(convs, 0)
        for u, (dwelling, column, day) in enumerate(r.trace):
            d = stock.index[dwelling]
            commune = stock.communes[int(stock.commune[d])]
            for cid, conv in convs.items():
                in_scope = (
                    commune.startswith(conv.scope.departement)
                    if conv.scope.departement
                    else commune in conv.scope.communes
                )
                base[cid] += int(in_scope)
            designated = dt.date.fromisoformat(day)
            known_carence = outcomes.no_candidate[u] and (end - designated).days >= outcomes.decided[u]
            if column != BAILLEUR and not (known_carence and not convs[column].counts_no_candidate):
                counted[column] += 1
        expected = [counted[c] - convs[c].share / 100 * base[c] for c in r.conventions]
        assert list(r.year_end) == pytest.approx(expected, abs=1e-9), r.policy


def test_fluxopt_ends_the_year_on_target_and_beats_the_baselines_on_the_same_draws(report) -> None:  # type: ignore[no-untyped-def]
    flux = report.summary("fluxopt")
    assert flux.years_all_within_one == 1.0
    assert flux.worst_row_max <= 2.0
    for name in ("plus-en-retard", "tour-de-role", "glouton"):
        assert flux.representativeness_total < report.summary(name).representativeness_total, name
    assert flux.representativeness_total >= flux.floor_total - 1e-9  # nobody beats the rounding floor


def test_carence_is_counted_per_the_clause_once_it_is_known() -> None:
    """A carence counts to the landlord when the convention does not count it, from the day it is known."""
    out = draw_outcomes(
        4, SimulationRates(no_candidate_rate=1.0, refusal_rate=0.0), run_rng(0, 0, "outcomes")
    )
    column = np.array([0, 1, 2, -1])
    day0 = np.datetime64("2026-03-02")
    designated = np.array([day0] * 4, dtype="datetime64[D]")
    counts_carence = np.array([True, False, True])  # convention 0 counts carences, 1 does not, 2 = landlord
    ledger = _Ledger(column, designated, out, counts_carence, 2)
    before = ledger.counted(day0 + 1)
    assert before.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]
    after = ledger.counted(day0 + OUTCOME_DELAYS.candidates)
    assert after.tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 1], [0, 0, 0]]


def test_the_replay_anticipates_late_carences_from_what_a_landlord_knows() -> None:
    """Only offers still without outcome, to a convention that does not count carences, whose news would
    come late in the year; the drawn outcome itself is not peeked at (a lease-to-be counts the same)."""
    year_end = np.datetime64("2026-12-31")
    for rate in (1.0, 0.0):  # the same anticipation whether the draw ends in carence or in a lease
        out = draw_outcomes(
            4, SimulationRates(no_candidate_rate=rate, refusal_rate=0.0), run_rng(0, 0, "outcomes")
        )
        column = np.array([0, 1, 1, -1])
        designated = np.array(["2026-12-01", "2026-12-01", "2026-06-01", "2026-12-01"], dtype="datetime64[D]")
        ledger = _Ledger(column, designated, out, np.array([True, False, True]), 2)
        loss = ledger.late_carences(
            np.datetime64("2026-12-06"), year_end, 0.25, OUTCOME_DELAYS.candidates, 35
        )
        # unit 0: its convention counts carences; unit 1: news on 22/12, late; unit 2: known since June
        assert loss.tolist() == [[0.0, 0.0, 0.0], [0.0, 0.25, -0.25], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]


def test_turnover_above_forecast_draws_more_vacancies_and_fluxopt_keeps_totals_within_two(scenario) -> None:  # type: ignore[no-untyped-def]
    low = simulate(scenario, SimulationSettings(runs=2, seed=3, policies=("fluxopt",), turnover_factor=0.8))
    high = simulate(scenario, SimulationSettings(runs=2, seed=3, policies=("fluxopt",), turnover_factor=1.2))
    assert high.summaries[0].vacancies_mean > low.summaries[0].vacancies_mean
    for rep in (low, high):
        assert rep.summaries[0].years_all_within_two == 1.0


def test_runs_in_worker_processes_give_the_same_figures(scenario) -> None:  # type: ignore[no-untyped-def]
    one = simulate(scenario, SimulationSettings(runs=2, seed=5, policies=("glouton", "plus-en-retard")))
    two = simulate(
        scenario, SimulationSettings(runs=2, seed=5, policies=("glouton", "plus-en-retard"), jobs=2)
    )
    assert stable(one.results) == stable(two.results)


def test_report_text_names_every_measure_in_french(report) -> None:  # type: ignore[no-untyped-def]
    text = report_text(report)
    for word in (
        "fin d'année",
        "en cours d'année",
        "représentativité",
        "plancher",
        "temps par appel",
        "glouton",
    ):
        assert word in text


def test_pools_hold_the_flux_stock_only(scenario) -> None:  # type: ignore[no-untyped-def]
    from fluxopt.forecast import forecast_flux

    pools = cell_pools(scenario, forecast_flux(scenario))
    members = np.concatenate(pools)
    assert len(np.unique(members)) == len(members)
    assert set(members.tolist()) == set(np.flatnonzero(scenario.stock.out_of_flux == -1).tolist())


def test_cli_simulate_prints_the_table_writes_outputs_and_no_progress_bar_off_a_terminal(
    tmp_path: Path,
) -> None:
    out = tmp_path / "sim"
    result = CliRunner().invoke(cli, ["simulate", str(MINI), "--runs", "2", "--seed", "4", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "fluxopt" in result.output and "tour-de-role" in result.output
    assert "Années simulées" not in result.output
    assert {p.name for p in out.iterdir()} == {"runs.csv", "conventions.csv", "manifest.json"}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["commande"] == "simulate" and set(manifest["resultats"]["politiques"]) == set(ALL)
    as_json = CliRunner().invoke(
        cli, ["simulate", str(MINI), "--runs", "1", "--policy", "glouton", "--format", "json"]
    )
    assert as_json.exit_code == 0
    data = json.loads(as_json.output)
    assert list(data["politiques"]) == ["glouton"]


def test_cli_simulate_replays_the_fluxopt_policy_with_the_models_weekly_section(tmp_path: Path) -> None:
    """`simulate --model` gives the fluxopt policy the model file's [weekly] weights (in the manifest), so
    a landlord can replay a trade-off before using it; a bad section is refused before any replay."""
    model = tmp_path / "hebdo.toml"
    model.write_text(
        'name = "hebdo"\n[[levels]]\nname = "totaux"\nrows = ["total"]\n\n[weekly]\ntail_weight = 1000\n'
        "tiers = [[1.0, 3.0], [1.8, 30.0], [2.0, 300.0]]\n",
        encoding="utf-8",
    )
    out = tmp_path / "sim"
    args = ["simulate", str(MINI), "--runs", "1", "--policy", "fluxopt", "-o", str(out)]
    result = CliRunner().invoke(cli, [*args, "--model", str(model)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["parametres"]["modele"] == str(model) and manifest["modele"]["nom"] == "hebdo"
    assert manifest["modele"]["hebdomadaire"]["tail_weight"] == 1000
    assert manifest["modele"]["hebdomadaire"]["tiers"][-1] == [2.0, 300.0]
    model.write_text(model.read_text(encoding="utf-8").replace("1000", "-5"), encoding="utf-8")
    refused = CliRunner().invoke(cli, [*args, "--model", str(model)])
    assert refused.exit_code == 1 and "hebdo.toml:7:weekly.tail_weight" in refused.output


def test_cli_simulate_refuses_an_unknown_policy_in_french() -> None:
    result = CliRunner().invoke(cli, ["simulate", str(MINI), "--policy", "hasard"])
    assert result.exit_code == 2
