"""`fluxopt validate` and `fluxopt schema` through click's CliRunner, and the broken-inputs corpus.

Each folder of tests/bad_inputs/ (but `_base`) overlays files on the small valid scenario `_base`; its
`attendu.txt` lists fragments the French error output must contain (file:line:field, message, value).
Every case must exit 1, print no traceback, and name the place to fix.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import BAD_INPUTS, build_case
from fluxopt.cli import cli

CASES = sorted(p for p in BAD_INPUTS.iterdir() if p.is_dir() and not p.name.startswith("_"))


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_reported(case: Path, tmp_path: Path) -> None:
    folder = build_case(case, tmp_path / case.name)
    code, out, err = run("validate", str(folder))
    assert code == 1, err
    assert "Traceback" not in out + err
    assert err.startswith("Erreur : ")
    for fragment in (case / "attendu.txt").read_text(encoding="utf-8").splitlines():
        if fragment:
            assert fragment in err, f"{fragment!r} absent de :\n{err}"


@pytest.mark.parametrize("case", CASES[:5], ids=[c.name for c in CASES[:5]])
def test_bad_input_as_json(case: Path, tmp_path: Path) -> None:
    folder = build_case(case, tmp_path / case.name)
    code, out, _ = run("validate", str(folder), "--format", "json")
    assert code == 1
    result = json.loads(out)
    assert result["valide"] is False
    assert result["problemes"] and all(
        {"fichier", "ligne", "champ", "message", "recu"} <= set(p) for p in result["problemes"]
    )


def test_valid_scenario_prints_summary(base_scenario: Path) -> None:
    code, out, err = run("validate", str(base_scenario))
    assert code == 0, err
    assert "Logements : 6 dont 5 dans le flux" in out
    # the bailleur keeps 100 - (25 + 5 + 25 + 20) in Malakoff and 100 - 55 in Colombes
    assert "92046 (3 logements dans le flux)" in out and "bailleur 25,0 %" in out
    assert "92025 (2 logements dans le flux)" in out and "bailleur 45,0 %" in out
    assert "Scénario valide" in err


def test_valid_scenario_as_json(base_scenario: Path) -> None:
    code, out, _ = run("validate", str(base_scenario / "scenario.toml"), "--format", "json")
    assert code == 0
    result = json.loads(out)
    assert result["valide"] is True and result["problemes"] == []
    communes = {c["commune"]: c for c in result["resume"]["par_commune"]}
    assert communes["92046"]["reserve"] == 75.0 and communes["92046"]["bailleur"] == 25.0
    assert communes["92025"]["parts"] == {"AL-92": 25.0, "ETAT-FONC-92": 5.0, "ETAT-PRIO-92": 25.0}
    assert result["resume"]["logements"] == 6 and result["resume"]["dans_le_flux"] == 5
    assert set(result["empreintes"]) == {
        "scenario.toml",
        "modele.toml",
        "patrimoine.csv",
        "vacances.csv",
        "designations.csv",
    }


def test_scenario_file_under_another_name(base_scenario: Path) -> None:
    variant = base_scenario / "variante-2027.toml"
    variant.write_text(
        (base_scenario / "scenario.toml").read_text(encoding="utf-8").replace("share = 20", "share = 50"),
        encoding="utf-8",
    )
    code, _, err = run("validate", str(variant))
    assert code == 1
    assert "variante-2027.toml:55:conventions[4].share" in err


def test_a_table_given_instead_of_the_scenario(base_scenario: Path) -> None:
    code, _, err = run("validate", str(base_scenario / "patrimoine.csv"))
    assert code == 1
    assert "patrimoine.csv n'est pas un fichier de scénario" in err


def test_usage_error_exits_2() -> None:
    code, _, err = run("validate")
    assert code == 2
    assert "Traceback" not in err
    code, _, _ = run("validate", "x", "--format", "yaml")
    assert code == 2


def test_missing_folder_exits_1(tmp_path: Path) -> None:
    code, _, err = run("validate", str(tmp_path / "absent"))
    assert code == 1
    assert "introuvable" in err


def test_folder_without_scenario_toml(tmp_path: Path) -> None:
    code, _, err = run("validate", str(tmp_path))
    assert code == 1
    assert "scenario.toml" in err


def test_symlink_escaping_the_folder_is_refused(base_scenario: Path, tmp_path: Path) -> None:
    outside = tmp_path / "ailleurs.csv"
    outside.write_text((base_scenario / "patrimoine.csv").read_text(encoding="utf-8"), encoding="utf-8")
    (base_scenario / "patrimoine.csv").unlink()
    os.symlink(outside, base_scenario / "patrimoine.csv")
    code, _, err = run("validate", str(base_scenario))
    assert code == 1
    assert "scenario.toml:9:files.stock" in err and "lien symbolique" in err


def test_file_over_the_size_limit_is_refused(base_scenario: Path) -> None:
    from fluxopt.io.table import MAX_TABLE_BYTES

    with open(base_scenario / "patrimoine.csv", "r+b") as handle:
        handle.truncate(MAX_TABLE_BYTES + 1)  # sparse: no 200 MB actually written
    code, _, err = run("validate", str(base_scenario))
    assert code == 1
    assert "patrimoine.csv" in err and "trop volumineux" in err and "200 Mo" in err


def test_100_mb_single_field_file_is_refused_cleanly(base_scenario: Path) -> None:
    # 100 MB without a line break: one giant field; refused as malformed, never loaded into a huge table
    with open(base_scenario / "vacances.csv", "wb") as handle:
        handle.write(b"logement,date_liberation\n")
        chunk = b"a" * (1 << 20)
        for _ in range(100):
            handle.write(chunk)
    code, _, err = run("validate", str(base_scenario))
    assert code == 1
    assert "vacances.csv" in err and "CSV mal formé" in err


def test_toml_bomb_deep_nesting(base_scenario: Path) -> None:
    toml = base_scenario / "scenario.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8") + "\nbombe = " + "[" * 200_000 + "]" * 200_000 + "\n",
        encoding="utf-8",
    )
    code, _, err = run("validate", str(base_scenario))
    assert code == 1
    assert "Traceback" not in err and "scenario.toml" in err


def test_toml_bomb_huge_array(base_scenario: Path) -> None:
    toml = base_scenario / "scenario.toml"
    communes = ", ".join(['"92046"'] * 400_000)
    toml.write_text(
        toml.read_text(encoding="utf-8").replace('communes = ["92046"]', f"communes = [{communes}]"),
        encoding="utf-8",
    )
    code, _, err = run("validate", str(base_scenario))
    assert code == 1
    assert "trop volumineux" in err


def test_schema_is_json_schema_of_scenario_toml() -> None:
    code, out, _ = run("schema")
    assert code == 0
    schema = json.loads(out)
    assert schema["$schema"].endswith("2020-12/schema")
    assert {"scenario", "files", "reservataires", "conventions"} <= set(schema["properties"])
    assert set(schema["required"]) >= {"scenario", "files", "reservataires", "conventions"}
    assert "etat" in json.dumps(schema["$defs"]["ReservataireKind"])


def test_schema_to_file(tmp_path: Path) -> None:
    target = tmp_path / "schema.json"
    code, out, _ = run("schema", "-o", str(target))
    assert code == 0 and out == ""
    assert json.loads(target.read_text(encoding="utf-8"))["title"].startswith("Scénario fluxopt")
