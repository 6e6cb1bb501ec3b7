"""`fluxopt compare` and `fluxopt report` on the shipped scenarios, checked against a recount of the raw files."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fluxopt.cli import cli
from report_factories import raw_from_folder, recount_counted, recount_targets

ROOT = Path(__file__).resolve().parents[1]
CAP = ROOT / "scenarios" / "cap-habitat"
MINI = ROOT / "scenarios" / "mini"


def run(*args: str) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout_bytes, result.stderr


@pytest.fixture(scope="module")
def cap_json() -> dict:
    code, out, err = run("compare", str(CAP), "--as-of", "31/05/2026", "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_json_figures_match_a_recount_of_the_raw_files(cap_json: dict) -> None:
    config, raw = raw_from_folder(CAP)
    as_of = dt.date(2026, 5, 31)
    targets = recount_targets(config, raw, 2026, as_of)
    counted = recount_counted(config, raw, 2026, as_of)
    leases = recount_counted(config, raw, 2026, as_of, leases=True)
    assert cap_json["au"] == "2026-05-31"
    lines = {c["convention"]: c for c in cap_json["conventions"]}
    assert set(lines) == set(targets)
    for conv, target in targets.items():
        assert lines[conv]["objectif"] == pytest.approx(target, abs=1e-4), conv
        assert lines[conv]["imputes"] == counted[conv], conv
        assert lines[conv]["baux_imputes"] == leases[conv], conv
        assert lines[conv]["ecart"] == pytest.approx(counted[conv] - target, abs=1e-3)
        offered = sum(1 for d in raw.designations if d.convention == conv and d.date <= as_of)
        assert lines[conv]["proposes"] == offered
    assert cap_json["obligations"] and all("statut" in k for k in cap_json["obligations"])


def test_json_breakdown_by_commune_matches_a_recount(cap_json: dict) -> None:
    config, raw = raw_from_folder(CAP)
    as_of = dt.date(2026, 5, 31)
    rows = [d for d in cap_json["detail"] if d["dimension"] == "commune"]
    assert rows
    for d in rows:
        where = lambda dw, value=d["valeur"]: dw.commune == value  # noqa: E731
        assert d["objectif"] == pytest.approx(
            recount_targets(config, raw, 2026, as_of, where)[d["convention"]], abs=1e-4
        )
        assert d["imputes"] == recount_counted(config, raw, 2026, as_of, where)[d["convention"]]


def test_table_is_the_default_and_french() -> None:
    code, out, _ = run("compare", str(MINI))
    text = out.decode("utf-8")
    assert code == 0
    assert text.startswith("Prévu et réalisé par convention au 27/03/2026")
    assert "MALAKOFF" in text and "25,0\u00a0%" in text


def test_csv_dialects() -> None:
    code, out, _ = run("compare", str(MINI), "--format", "csv")
    assert code == 0 and out.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(out.decode("utf-8-sig")), delimiter=";"))
    header = rows[0]
    assert header[:3] == ["Convention", "Réservataire", "Nom"]
    al = next(r for r in rows if r[0] == "AL-92")
    assert al[header.index("Objectif à date")] == "1"  # 25 % of 4
    assert al[header.index("Imputés")] == "0"  # its carence is not counted
    code, out, _ = run("compare", str(MINI), "--format", "csv", "--csv", "plain", "--vue", "detail")
    assert code == 0 and not out.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(out.decode("utf-8"))))
    assert rows[0][2] == "Dimension" and len(rows) > 5


def test_fail_on_gap_exit_codes() -> None:
    code, _, err = run("compare", str(MINI), "--fail-on-gap", "0.5")
    assert code == 1
    assert "AL-92" in err and "plus de 0,5 logement" in err.replace("0.5", "0,5")
    code, _, _ = run("compare", str(MINI), "--fail-on-gap", "5")
    assert code == 0


def test_bad_date_is_a_usage_error() -> None:
    code, _, err = run("compare", str(MINI), "--as-of", "31-02-2026")
    assert code == 2 and "jj/mm/aaaa" in err


def test_xlsx_and_report_files(tmp_path: Path) -> None:
    target = tmp_path / "suivi.xlsx"
    code, _, err = run(
        "compare", str(MINI), "--format", "xlsx", "-o", str(target), "--report", str(tmp_path / "r")
    )
    assert code == 0, err
    assert target.read_bytes()[:2] == b"PK"
    assert (tmp_path / "r" / "rapport.html").is_file() and (tmp_path / "r" / "rapport.xlsx").is_file()
    code, _, err = run("report", str(MINI), "-o", str(tmp_path / "r2"), "--as-of", "2026-03-31")
    assert code == 0, err
    html = (tmp_path / "r2" / "rapport.html").read_text(encoding="utf-8")
    assert "31/03/2026" in html and "<svg" in html


def test_a_missing_plan_folder_is_explained(tmp_path: Path) -> None:
    code, _, err = run("compare", str(MINI), "--plan", str(tmp_path))
    assert code == 1 and "plan.csv est introuvable" in err and "Traceback" not in err
