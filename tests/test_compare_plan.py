"""compare/report with a real plan written by `fluxopt plan`: planned to date and projection recounted from
plan.csv by hand, the sequence shown, a changed scenario flagged."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from fluxopt.cli import cli
from report_factories import raw_from_folder, recount_counted

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "scenarios" / "mini"
AS_OF = dt.date(2026, 4, 10)


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plan")
    result = CliRunner().invoke(cli, ["plan", str(MINI), "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return out


def planned_by_hand(plan_dir: Path) -> dict[str, dict[int, int]]:
    text = (plan_dir / "plan.csv").read_bytes().decode("utf-8-sig")
    out: dict[str, dict[int, int]] = {}
    for r in csv.DictReader(io.StringIO(text), delimiter=";"):
        month = int(r["mois"][5:7])
        out.setdefault(r["convention"], {}).setdefault(month, 0)
        out[r["convention"]][month] += int(r["logements"])
    return out


def test_planned_to_date_and_projection_match_plan_csv(plan_dir: Path) -> None:
    result = CliRunner().invoke(
        cli, ["compare", str(MINI), "--plan", str(plan_dir), "--as-of", AS_OF.isoformat(), "--format", "json"]
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    by_hand = planned_by_hand(plan_dir)
    config, raw = raw_from_folder(MINI)
    counted = recount_counted(config, raw, 2026, AS_OF)
    april = 10 / 30
    for line in data["conventions"]:
        months = by_hand.get(line["convention"], {})
        to_date = sum(n for m, n in months.items() if m < 4) + months.get(4, 0) * april
        year = sum(months.values())
        assert line["prevu"] == pytest.approx(to_date, abs=1e-4), line["convention"]
        assert line["projection_fin_annee"] == pytest.approx(
            counted[line["convention"]] + year - to_date, abs=1e-4
        )
    objectives = (plan_dir / "objectifs.csv").read_bytes().decode("utf-8-sig")
    totals = {
        r["convention"]: float(r["cible"].replace(",", "."))
        for r in csv.DictReader(io.StringIO(objectives), delimiter=";")
        if r["type"] == "total"
    }
    assert {c["convention"]: c["objectif_annuel_plan"] for c in data["conventions"]} == pytest.approx(totals)


def test_report_shows_the_sequence_per_commune(plan_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "rapport"
    result = CliRunner().invoke(
        cli, ["report", str(MINI), "--plan", str(plan_dir), "--as-of", AS_OF.isoformat(), "-o", str(out)]
    )
    assert result.exit_code == 0, result.stderr
    html = (out / "rapport.html").read_text(encoding="utf-8")
    sequence = (plan_dir / "sequence.csv").read_bytes().decode("utf-8-sig")
    upcoming = [
        r["convention"]
        for r in csv.DictReader(io.StringIO(sequence), delimiter=";")
        if r["mois"] >= "2026-04"
    ]
    assert upcoming
    assert " → ".join(upcoming[:3]) in html
    assert (
        "mêmes données (hors réalisé)" in html and "l&#39;ordre de passage" in html.lower()
    ) or "Ordre de passage" in html


def test_a_plan_made_on_other_data_is_flagged(plan_dir: Path, tmp_path: Path) -> None:
    changed = tmp_path / "mini"
    shutil.copytree(MINI, changed)
    toml = changed / "scenario.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("share = 20.0", "share = 19.0"), encoding="utf-8"
    )
    result = CliRunner().invoke(cli, ["compare", str(changed), "--plan", str(plan_dir)])
    assert result.exit_code == 0
    assert "le plan a été calculé sur d'autres données" in result.stderr and "scenario.toml" in result.stderr
