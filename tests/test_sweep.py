"""Sweep files, variants applied to a base scenario, summaries, Monte-Carlo, and `fluxopt sweep` end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fluxopt.cli import cli
from fluxopt.errors import InputError
from fluxopt.io.scenario import load_scenario
from fluxopt.sweep import montecarlo
from fluxopt.sweep.run import run_sweep
from fluxopt.sweep.spec import load_sweep, resolve_shares
from fluxopt.sweep.variants import (
    prepare_variants,
    scenario_from_plain,
    scenario_to_plain,
    variant_payload,
    variant_task,
)

ROOT = Path(__file__).parents[1]


@pytest.fixture()
def mini(tmp_path: Path) -> Path:
    """A copy of scenarios/mini (40 dwellings in Malakoff; ETAT-PRIO-92 25, ETAT-FONC-92 5, AL-92 25,
    MALAKOFF 20) beside which sweep files are written."""
    folder = tmp_path / "mini"
    shutil.copytree(ROOT / "scenarios" / "mini", folder)
    return folder


def sweep_file(folder: Path, body: str, name: str = "variantes.toml") -> Path:
    path = folder.parent / name
    path.write_text(f'[sweep]\nname = "Essai"\nbase = "{folder.name}"\nseed = 7\n\n{body}', encoding="utf-8")
    return path


def test_resolve_shares_exact_id_beats_a_pattern_and_unknown_keys_are_named() -> None:
    ids = ["AL-92", "AL-93", "ETAT-PRIO-92"]
    shares, problems = resolve_shares({"AL-*": 28, "AL-93": 20}, ids)
    assert shares == {"AL-92": 28, "AL-93": 20} and problems == []
    _, problems = resolve_shares({"AL-*": 28, "A*": 20, "PREFET": 30}, ids)
    messages = [m for _, m in problems]
    assert any("visée par « AL-* » et « A* »" in m for m in messages)
    assert any("convention inconnue « PREFET »" in m for m in messages)


def test_unknown_field_in_a_variant_is_reported_at_its_line(mini: Path) -> None:
    path = sweep_file(mini, '[[variants]]\nid = "a"\n\n[[variants]]\nid = "b"\nshare = { "AL-92" = 28 }\n')
    with pytest.raises(InputError) as caught:
        load_sweep(path)
    text = caught.value.render()
    assert "variantes.toml:11:variants[2].share: clé inconnue" in text


def test_unknown_convention_is_reported_at_its_line(mini: Path) -> None:
    path = sweep_file(
        mini,
        '[[variants]]\nid = "a"\nshares = { "AL-92" = 28 }\n\n[[variants]]\nid = "b"\n'
        '[variants.shares]\n"ACTION-LOGEMENT" = 28\n',
    )
    sweep = load_sweep(path)
    base = load_scenario(mini, check=False)
    with pytest.raises(InputError) as caught:
        prepare_variants(base, sweep)
    text = caught.value.render()
    assert (
        "variantes.toml:13:variants[2].shares.ACTION-LOGEMENT: convention inconnue « ACTION-LOGEMENT »"
        in text
    )
    assert "ETAT-PRIO-92, ETAT-FONC-92, AL-92, MALAKOFF" in text  # the known conventions are listed


def test_bad_values_and_duplicate_ids_are_all_reported(mini: Path) -> None:
    path = sweep_file(
        mini,
        '[[variants]]\nid = "a"\nturnover = "beaucoup"\n\n[[variants]]\nid = "a"\n\n'
        '[[variants]]\nid = "c"\nshares = { "AL-92" = 120 }\n',
    )
    with pytest.raises(InputError) as caught:
        load_sweep(path)
    text = caught.value.render()
    assert "variantes.toml:8:variants[1].turnover: une variation en % est attendue" in text
    assert "variants[3].shares.AL-92: valeur hors limites" in text
    path.write_text(path.read_text().replace('"beaucoup"', '"-5 %"').replace("120", "28"), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_sweep(path)
    assert "variantes.toml:10:variants[2].id: identifiant de variante en double (déjà utilisé ligne 6)" in (
        caught.value.render()
    )


def test_shares_over_100_percent_in_a_commune_make_the_variant_infeasible_in_plain_french(mini: Path) -> None:
    path = sweep_file(mini, '[[variants]]\nid = "trop"\nshares = { "AL-92" = 40, "MALAKOFF" = 35 }\n')
    base = load_scenario(mini)
    (prepared,) = prepare_variants(base, load_sweep(path))
    result = variant_task(variant_payload(prepared), json.loads(json.dumps(scenario_to_plain(base))))
    assert result["faisable"] is False
    (reason,) = [r for r in result["raisons"] if "100 %" in r]
    assert (
        "commune 92046" in reason
        and "105 %" in reason
        and "AL-92 40 %" in reason
        and "MALAKOFF 35 %" in reason
    )


def test_variant_summary_recomputed_by_hand(mini: Path) -> None:
    path = sweep_file(
        mini,
        '[[variants]]\nid = "actuel"\n\n[[variants]]\nid = "al-30"\nshares = { "AL-*" = 30 }\nturnover = "+20 %"\n',
    )
    base = load_scenario(mini)
    shared = json.loads(json.dumps(scenario_to_plain(base)))
    current, al30 = (
        variant_task(variant_payload(p), shared) for p in prepare_variants(base, load_sweep(path))
    )
    assert current["faisable"] and al30["faisable"]
    # 40 dwellings × 0.25 = 10 expected vacancies, minus 2 internal transfers: a base of 8
    assert current["base_prevue"] == pytest.approx(8.0)
    got = {r["id"]: r["attendu"] for r in current["reservataires"]}
    assert got == pytest.approx(
        {"ETAT": 0.30 * 8, "AL": 0.25 * 8, "MALAKOFF": 0.20 * 8, "BAILLEUR": 0.25 * 8}
    )
    assert current["reste_bailleur"] == {"92046": pytest.approx(25.0)}
    etat = next(r for r in current["reservataires"] if r["id"] == "ETAT")
    assert sum(etat["typologie"].values()) == pytest.approx(2.4)
    assert sum(etat["qpv"].values()) == pytest.approx(2.4) and etat["communes"] == {
        "92046": pytest.approx(2.4)
    }
    # +20 % turnover: 12 expected, minus 2 → 10; AL at 30 %, the landlord keeps 20 %
    assert al30["base_prevue"] == pytest.approx(10.0)
    got = {r["id"]: r["attendu"] for r in al30["reservataires"]}
    assert got["AL"] == pytest.approx(3.0) and got["BAILLEUR"] == pytest.approx(2.0)
    assert al30["reste_bailleur"] == {"92046": pytest.approx(20.0)}


def test_scenario_round_trips_through_plain_values(mini: Path) -> None:
    base = load_scenario(mini)
    again = scenario_from_plain(json.loads(json.dumps(scenario_to_plain(base))))
    assert again.config == base.config
    for name in ("dwelling_id", "programmes", "communes"):
        assert getattr(again.stock, name) == getattr(base.stock, name)
    for name in (
        "programme",
        "commune",
        "qpv",
        "typology",
        "financing",
        "period",
        "out_of_flux",
    ):
        assert np.array_equal(getattr(again.stock, name), getattr(base.stock, name))
    for name in ("first_letting", "lease_start"):  # NaT compared as its integer code
        assert np.array_equal(
            getattr(again.stock, name).view("int64"), getattr(base.stock, name).view("int64")
        )
    assert np.array_equal(again.stock.turnover, base.stock.turnover, equal_nan=True)


def test_montecarlo_is_seeded_per_variant_and_run(mini: Path) -> None:
    base = load_scenario(mini)
    seed = montecarlo.variant_seed(7, "actuel")
    assert seed == montecarlo.variant_seed(7, "actuel") != montecarlo.variant_seed(7, "autre")
    whole = montecarlo.replay_runs(base, 1.0, seed, range(6))
    split = [montecarlo.replay_runs(base, 1.0, seed, r) for r in (range(0, 2), range(2, 6))]
    for r in whole:
        assert whole[r] == split[0][r] + split[1][r]  # chunking never changes a run
    counts = np.array([whole[r] for r in whole])[:, :, 0].sum(axis=0)
    targets = np.array([whole[r] for r in whole])[:, :, 1].sum(axis=0)
    assert np.allclose(counts, targets)  # every drawn vacancy goes to someone
    agg = montecarlo.aggregate([{"runs": list(range(6)), "resultats": whole}])
    assert agg["AL"]["tirages"] == 6 and agg["AL"]["p10"] <= agg["AL"]["p50"] <= agg["AL"]["p90"]
    assert 0 <= agg["AL"]["proba_1"] <= agg["AL"]["proba_2"] <= 1


def test_montecarlo_weekly_replanning_replays_the_same_draws_through_simulate(mini: Path) -> None:
    base = load_scenario(mini)
    seed = montecarlo.variant_seed(7, "actuel")
    simple = montecarlo.replay_runs(base, 1.0, seed, range(3))
    weekly = montecarlo.replay_runs(base, 1.0, seed, range(3), replay="fluxopt")
    assert set(simple) == set(weekly) == {"AL", "ETAT", "MALAKOFF", "BAILLEUR"}
    for r in simple:  # same vacancies, hence the same targets on the realised base
        assert [t for _, t in simple[r]] == pytest.approx([t for _, t in weekly[r]])
    for run in range(3):
        assert sum(weekly[r][run][0] for r in weekly) == sum(simple[r][run][0] for r in simple)
    assert all(abs(c - t) <= 2 for r in weekly for c, t in weekly[r])


def test_most_behind_first_keeps_totals_within_one() -> None:
    shares = np.tile([0.3, 0.25, 0.45], (40, 1))
    chosen = montecarlo.most_behind_first(shares, landlord=2)
    counts = np.bincount(chosen, minlength=3)
    assert counts.tolist() == [12, 10, 18]
    running = np.cumsum(np.eye(3)[chosen], axis=0) - np.cumsum(shares, axis=0)
    assert np.abs(running).max() < 1


def test_sweep_end_to_end_outputs_and_resume(mini: Path) -> None:
    path = sweep_file(
        mini,
        '[[variants]]\nid = "actuel"\n\n[[variants]]\nid = "trop"\nshares = { "AL-92" = 50, "MALAKOFF" = 30 }\n\n'
        '[[grids]]\nid = "g"\nshares = { "AL-*" = [20, 25] }\nturnover = ["-10 %", "+10 %"]\n',
    )
    out = mini.parent / "out"
    first = run_sweep(path, out_dir=out, runs=30, engine="serial")
    assert [v.id for v in first.variants] == ["actuel", "trop", "g-001", "g-002", "g-003", "g-004"]
    assert first.summaries["trop"]["faisable"] is False
    assert len(first.engine.computed) == 6 + 6 * 2  # 30 runs = 2 chunks of 25 and 5 per variant
    assert set(first.montecarlo) == {"actuel", "g-001", "g-002", "g-003", "g-004"}  # not the infeasible one
    assert first.failed == {}  # an impossible variant is a result (its reason), not a failure
    for name in ("synthese.json", "synthese.csv", "reste_bailleur.csv", "communes.csv", "monte_carlo.csv"):
        assert (out / name).is_file(), name
    assert (out / "balayage.xlsx").stat().st_size > 0
    csv_text = (out / "synthese.csv").read_text(encoding="utf-8-sig")
    header = "Variante;Libellé;Faisable;Raison;Réservataire;Logements/an;Planifiés/an;T1"
    assert csv_text.splitlines()[0].startswith(header)
    assert (out / "ecarts.csv").read_text(encoding="utf-8-sig").count(
        "\nactuel;equilibre;optimal;total;"
    ) == 1
    synthesis = (out / "synthese.json").read_bytes()

    again = run_sweep(path, out_dir=out, runs=30, engine="serial")
    assert again.engine.computed == [] and len(again.engine.resumed) == 18
    assert (out / "synthese.json").read_bytes() == synthesis


def test_cli_sweep_prints_variants_side_by_side(mini: Path) -> None:
    path = sweep_file(
        mini, '[[variants]]\nid = "actuel"\n\n[[variants]]\nid = "al-30"\nshares = { "AL-92" = 30 }\n'
    )
    result = CliRunner().invoke(cli, ["sweep", str(path), "-o", str(mini.parent / "o"), "--engine", "serial"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith("Logements/an") and "actuel" in line and "al-30" in line for line in lines)
    al = next(line for line in lines if line.startswith("AL "))
    assert "2,0" in al and "2,4" in al
    assert any(line.startswith("Reste bailleur (communes)") and "25,0–25,0 %" in line for line in lines)

    bad = CliRunner().invoke(cli, ["sweep", str(mini.parent / "absent.toml")])
    assert bad.exit_code == 1 and "introuvable" in bad.output and "Traceback" not in bad.output


def test_cli_sweep_without_dask_says_how_to_install_it(mini: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_dask(name: str, *args: object, **kwargs: object) -> object:
        if name == "distributed" or name.startswith(("distributed.", "dask")):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_dask)
    path = sweep_file(mini, '[[variants]]\nid = "actuel"\n')
    result = CliRunner().invoke(cli, ["sweep", str(path), "--engine", "dask", "-o", str(mini.parent / "o")])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Erreur : Le moteur « dask » n'est pas installé : installez l'extra avec pip install \"fluxopt[dask]\""
    )


def test_shipped_negotiation_sweep_is_valid_and_applies_to_cap_habitat() -> None:
    sweep = load_sweep(ROOT / "scenarios" / "sweeps" / "negociation-cap-habitat.toml")
    assert sweep.base == (ROOT / "scenarios" / "cap-habitat").resolve()
    ids = [s.variant.id for s in sweep.variants]
    assert {"actuel", "demandes", "prefet-35", "tout-accorde"} <= set(ids) and len(ids) == len(set(ids))
    base = load_scenario(sweep.base, check=False)
    prepared = {p.id: p for p in prepare_variants(base, sweep)}
    shares = {c["id"]: c["share"] for c in prepared["demandes"].config["conventions"]}
    assert shares["AL-92"] == shares["AL-94"] == 28 and shares["COM-92036"] == 20
    assert prepared["demandes-rotation-basse"].turnover_multiplier == pytest.approx(0.9)


def test_serial_local_and_dask_sweeps_write_identical_results(mini: Path) -> None:
    pytest.importorskip("distributed")
    path = sweep_file(
        mini,
        '[[variants]]\nid = "actuel"\n\n[[variants]]\nid = "al-30"\nshares = { "AL-92" = 30 }\nturnover = "+10 %"\n',
    )
    written = {}
    for engine in ("serial", "local", "dask"):
        out = mini.parent / engine
        outcome = run_sweep(path, out_dir=out, runs=30, engine=engine, workers=2)
        assert not outcome.failed and len(outcome.engine.computed) == 2 + 2 * 2
        written[engine] = {
            p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted(out.rglob("*"))
            if p.is_file() and p.name not in ("execution.json", "balayage.xlsx")
        }
    assert written["serial"] == written["local"] == written["dask"]
    assert "taches/mc-al-30-000025.json" in written["serial"]


def test_a_worker_needs_no_file_of_the_base_folder(mini: Path, tmp_path: Path) -> None:
    """A sweep worker may run on another machine (Dask): the base's folder path is not sent (nor part of the
    tasks' fingerprints, so a resumed sweep survives moved folders), and a variant with a model file of the
    base folder is planned from the model's content, read by the parent — not reported "model unknown"."""
    custom = mini / "mon-modele.toml"
    shutil.copy(ROOT / "src" / "fluxopt" / "models" / "minimum-legal.toml", custom)
    toml = mini / "scenario.toml"
    text = toml.read_text(encoding="utf-8")
    assert 'model = "' in text
    toml.write_text(
        "\n".join(
            'model = "mon-modele.toml"' if line.startswith("model = ") else line for line in text.splitlines()
        )
        + "\n",
        encoding="utf-8",
    )
    path = sweep_file(mini, '[[variants]]\nid = "meme"\n')
    base = load_scenario(mini)
    (prepared,) = prepare_variants(base, load_sweep(path))
    shared = json.loads(json.dumps(scenario_to_plain(base)))
    assert str(mini) not in json.dumps(shared)
    shutil.move(mini, tmp_path / "ailleurs")  # the worker's machine has no such folder
    result = variant_task(variant_payload(prepared), shared)
    assert result["faisable"] is True, result.get("raisons")
