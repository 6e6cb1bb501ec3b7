"""`fluxopt plan` end to end: hand-checked mini plan, independent checker, determinism, impossible targets."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from checker import check_plan_dir, num, read_csv
from factories import convention, make_scenario, programme, two_commune_scenario
from fluxopt.cli import cli
from fluxopt.domain.model_spec import load_model_spec
from fluxopt.errors import InfeasibleError
from fluxopt.forecast import forecast_flux
from fluxopt.io.scenario import load_scenario
from fluxopt.manifest import stable_json
from fluxopt.planning import plan, plan_units, summary_fr, write_plan
from fluxopt.rows import BAILLEUR, RowKind, build_rows, units_from_forecast

MINI = Path(__file__).resolve().parents[1] / "scenarios" / "mini"


def _run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, args)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def mini_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mini") / "plan"
    code, output = _run(["plan", str(MINI), "-o", str(out), "--seed", "0"])
    assert code == 0, output
    return out


def test_mini_plan_passes_the_independent_checker(mini_plan: Path) -> None:
    assert check_plan_dir(mini_plan, load_scenario(MINI)) == []


def test_mini_plan_hand_checked(mini_plan: Path) -> None:
    # 40 dwellings × 0.25 = 10 vacancies, minus 2 forecast internal transfers = a base of 8.
    # Targets: AL 25 % → 2, ETAT-PRIO 25 % → 2, ETAT-FONC 5 % → 0.4, MALAKOFF 20 % → 1.6, landlord 25 % → 2.
    # The only totals at the rounding floor (0.4 + 0.4): 2, 2, 0, 2, 2.
    plan_lines = read_csv(mini_plan / "plan.csv")
    totals: dict[str, int] = {}
    for line in plan_lines:
        totals[line["convention"]] = totals.get(line["convention"], 0) + int(line["logements"])
    assert sum(totals.values()) == 8
    assert totals == {"AL-92": 2, "ETAT-PRIO-92": 2, "MALAKOFF": 2, BAILLEUR: 2}
    objectives = {(r["convention"], r["type"], r["regle"]): r for r in read_csv(mini_plan / "objectifs.csv")}
    fonc = objectives[("ETAT-FONC-92", "total", "")]
    assert fonc["cible"] == "0,4" and fonc["prevu"] == "0" and fonc["ecart"] == "0,4"
    # the préfet (PRIO + FONC) gets 30 % of 8 = 2.4 → 2 or 3, and ≥ 30 % of the 4 outside QPV → ≥ 2 there
    uniform = objectives[("ETAT", "legal", "prefet_uniforme")]
    assert uniform["prevu"] == "2"
    outside = [
        line for line in plan_lines if line["qpv"] == "hors QPV" and line["convention"].startswith("ETAT")
    ]
    assert sum(int(line["logements"]) for line in outside) >= 2
    manifest = json.loads((mini_plan / "manifest.json").read_text(encoding="utf-8"))
    # the annual levels are proven, the month split is not: the plan as a whole is not "optimal"
    assert all(lv["prouve"] for lv in manifest["resultats"]["niveaux"][:-1])
    proven_pacing = manifest["resultats"]["niveaux"][-1]["prouve"]
    assert manifest["statut"] == ("optimal" if proven_pacing else "feasible")
    assert manifest["resultats"]["niveaux"][0]["valeur"] == pytest.approx(0.8)


def test_same_inputs_and_seed_give_byte_identical_files(mini_plan: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    code, output = _run(["plan", str(MINI), "-o", str(out), "--seed", "0"])
    assert code == 0, output
    for name in ("plan.csv", "objectifs.csv", "sequence.csv"):
        assert (out / name).read_bytes() == (mini_plan / name).read_bytes(), name
    a = (out / "manifest.json").read_text(encoding="utf-8")
    b = (mini_plan / "manifest.json").read_text(encoding="utf-8")
    assert stable_json(a) == stable_json(b)


def test_shuffled_input_rows_give_the_same_plan(mini_plan: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mini-shuffled"
    shutil.copytree(MINI, folder)
    lines = (folder / "patrimoine.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    body = lines[1:]
    random.Random(7).shuffle(body)
    (folder / "patrimoine.csv").write_text(lines[0] + "".join(body), encoding="utf-8")
    out = tmp_path / "out"
    code, output = _run(["plan", str(folder), "-o", str(out)])
    assert code == 0, output
    for name in ("plan.csv", "objectifs.csv", "sequence.csv"):
        assert (out / name).read_bytes() == (mini_plan / name).read_bytes(), name


@pytest.mark.parametrize("option", [["--csv", "plain"], ["--csv-plain"]])
def test_csv_plain_option_writes_rfc_csv(tmp_path: Path, option: list[str]) -> None:
    """`--csv plain`, as on compare and bilan; `--csv-plain` is kept as its older name."""
    out = tmp_path / "plain"
    code, output = _run(["plan", str(MINI), "-o", str(out), *option])
    assert code == 0, output
    data = (out / "objectifs.csv").read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf") and data.split(b"\n")[0].count(b",") > 5
    assert check_plan_dir(out, load_scenario(MINI)) == []


def test_every_shipped_model_gives_a_checked_plan(tmp_path: Path) -> None:
    scenario = load_scenario(MINI)
    for name in ("equilibre", "minimum-legal", "equilibre-strict"):
        result = plan(scenario, model=name)
        out = tmp_path / name
        write_plan(result, scenario, out)
        (out / "manifest.json").write_text('{"commande": "plan", "statut": "x"}', encoding="utf-8")
        assert check_plan_dir(out, scenario) == [], name


def test_prefet_minimum_outside_qpv_above_his_share_is_explained(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    shutil.copytree(MINI, folder)
    toml = (folder / "scenario.toml").read_text(encoding="utf-8")
    toml = toml.replace("prefet_min_outside_qpv = 30.0", "prefet_min_outside_qpv = 80.0")
    (folder / "scenario.toml").write_text(toml, encoding="utf-8")
    code, output = _run(["plan", str(folder), "-o", str(tmp_path / "out")])
    assert code == 1
    assert "Commune 92046" in output and "hors QPV" in output
    assert "Traceback" not in output
    assert not (tmp_path / "out").exists()


def test_shares_above_the_base_are_explained() -> None:
    rows = programme("P1", "92046", typologies={"T3": 100})
    convs = [
        convention("AL", "AL", 60, departement="92"),
        convention("VILLE", "VILLE", 50, communes=["92046"]),
    ]
    with pytest.raises(InfeasibleError, match="commune 92046"):
        plan(make_scenario(rows, convs, turnover_rate=0.1), model="equilibre")


def test_impossible_wish_is_explained() -> None:
    rows = programme("P1", "92046", typologies={"T2": 90, "T5+": 10})
    convs = [
        convention(
            "VILLE", "VILLE", 50, communes=["92046"],
            wishes=[{"dimension": "typologie", "values": ["T5+"], "min_share": 60}],
        )
    ]  # fmt: skip
    with pytest.raises(InfeasibleError, match=r"Souhait impossible pour la convention VILLE"):
        plan(make_scenario(rows, convs, turnover_rate=0.2), model="equilibre")


def test_fixed_designations_never_change() -> None:
    scen = two_commune_scenario()
    spec, _, _ = load_model_spec("equilibre")
    from fluxopt.forecast import forecast_flux

    units = units_from_forecast(forecast_flux(scen))
    rowset = build_rows(scen, units)
    # fix the January units: everything to the landlord (a plan must keep it and compensate later)
    fixed = np.zeros((len(units), len(rowset.columns)), dtype=np.int64)
    jan = units.month == 1
    fixed[jan, rowset.columns.index(BAILLEUR)] = units.base[jan]
    result = plan_units(rowset, spec, fixed=fixed)
    assert np.array_equal(result.counts[jan], fixed[jan])
    assert np.array_equal(result.counts.sum(axis=1), units.base)
    # totals are still met as well as the rest of the year allows
    total_dev = result.kind_summary(RowKind.TOTAL).deviation
    assert total_dev < 3


def test_summary_is_french_and_counts_month_ends_above_one_dwelling() -> None:
    """Users read French: decimal commas; the pacing line says how many month ends drift, recomputed here."""
    result = plan(load_scenario(MINI))
    text = summary_fr(result)
    dev = result.rowset.evaluate(result.counts).deviation[result.rowset.mask(RowKind.PACING)]
    above = int((dev > 1 + 1e-9).sum())
    pacing_line = next(line for line in text.splitlines() if "rythme" in line)
    assert f"{above} fin(s) de mois à plus d'un logement" in pacing_line
    for line in text.splitlines():
        for token in line.split():
            assert not any(ch.isdigit() for ch in token) or "." not in token.rstrip("."), line


@pytest.mark.parametrize("large", [False, True], ids=["small-path", "large-path"])
def test_solver_infeasible_is_explained_in_french_naming_the_rules(
    monkeypatch: pytest.MonkeyPatch, large: bool
) -> None:
    """Impossible targets that the pre-checks do not catch: the solver proves them infeasible, and the
    diagnosis (hard rows relaxed, the smallest violation found) names the legal rules that must give way.

    On the large path (per component, LP-rounded first) they make a component's LP infeasible: the same
    `InfeasibleError` naming the rules — not "no plan found in 60 s" (exit 3 after 0.8 s), which also kept
    `designate` from re-planning with the rules relaxed (grand-bailleur re-planned on 15/06 from actuals
    ending 31/03). With the rules relaxed, as `designate` then re-plans, every dwelling is planned."""
    import dataclasses

    import fluxopt.model.annual as annual
    import fluxopt.planning as planning

    scen = two_commune_scenario(legal={"prefet_uniform_per_commune": True, "prefet_min_outside_qpv": 30})
    rowset = build_rows(scen, units_from_forecast(forecast_flux(scen)))
    rows = list(rowset.rows)
    outside = max(
        (r for r in rows if r.hard and r.rule == "prefet_hors_qpv"), key=lambda r: r.admissible()[0]
    )
    assert outside.admissible()[0] >= 1
    commune = outside.value.split()[0]
    uniform = next(r for r in rows if r.hard and r.rule == "prefet_uniforme" and r.value == commune)
    # the préfet's uniform band in that commune squeezed to zero, his minimum outside QPV kept
    rows[uniform.index] = dataclasses.replace(uniform, target=0.0)
    squeezed = dataclasses.replace(rowset, rows=tuple(rows))
    monkeypatch.setattr(planning, "precheck", lambda *args, **kwargs: None)
    if large:
        monkeypatch.setattr(annual, "EXACT_MAX_VARS", 0)
    spec, _, _ = load_model_spec("equilibre")
    with pytest.raises(InfeasibleError) as caught:
        plan_units(squeezed, spec)
    message = str(caught.value)
    assert message.startswith(
        "Objectifs impossibles : ces règles légales ne peuvent pas être respectées ensemble"
    )
    assert f"dans la commune {commune}" in message
    relaxed = spec.model_copy(update={"legal": "report"})  # what `designate` re-plans with then
    assert plan_units(squeezed, relaxed).counts.sum() == squeezed.units.base.sum()


def test_manifest_says_what_the_pacing_repair_did_recomputed_from_objectifs(tmp_path: Path) -> None:
    """The repair is a solve: its outcome is in the manifest, and its month-end count matches the rows."""
    run = CliRunner().invoke(cli, ["plan", str(MINI), "-o", str(tmp_path / "p")])
    assert run.exit_code == 0, run.output
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text(encoding="utf-8"))
    repair = manifest["resultats"]["reparation_rythme"]
    rows = read_csv(tmp_path / "p" / "objectifs.csv")
    pacing = [num(r["ecart"]) for r in rows if r["type"] == "rythme"]
    assert repair["fins_de_mois_au_dela_de_1_apres"] == sum(1 for d in pacing if d > 1 + 1e-9)
    assert repair["rythme_apres"] == pytest.approx(sum(pacing), abs=1e-6)
    assert repair["rythme_apres"] <= repair["rythme_avant"] + 1e-9
