"""`fluxopt plan --report DIR`: the report is written from the plan just computed (issue 5: `--report` on plan)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from click.testing import CliRunner
from openpyxl import load_workbook

from fluxopt.cli import cli

MINI = Path(__file__).resolve().parents[1] / "scenarios" / "mini"


def test_plan_with_report_writes_html_and_workbook_showing_the_plan(tmp_path: Path) -> None:
    plan_dir, report_dir = tmp_path / "plan", tmp_path / "rapport"
    result = CliRunner().invoke(cli, ["plan", str(MINI), "-o", str(plan_dir), "--report", str(report_dir)])
    assert result.exit_code == 0, result.output
    html = (report_dir / "rapport.html").read_text(encoding="utf-8")
    assert "<svg" in html
    assert not re.search(r"(src|href)=\"https?://", html)  # self-contained: nothing fetched
    assert str(tmp_path) not in html and "plan" in html  # the plan folder by its name, not the local tree
    # the report shows the plan's order of passage: every convention of the written sequence appears in it
    text = (plan_dir / "sequence.csv").read_text(encoding="utf-8-sig")
    sequence = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert sequence
    conventions = {
        value for row in sequence for key, value in row.items() if key and "convention" in key.lower()
    }
    assert conventions
    assert all(c in html for c in conventions)
    book = load_workbook(report_dir / "rapport.xlsx")
    assert len(book.sheetnames) >= 2
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"formula in {sheet.title}!{cell.coordinate}"
                assert str(tmp_path) not in str(cell.value or ""), (
                    f"local path in {sheet.title}!{cell.coordinate}"
                )


def test_plan_report_path_that_is_a_file_fails_cleanly_after_the_plan(tmp_path: Path) -> None:
    blocker = tmp_path / "fichier"
    blocker.write_text("x")
    result = CliRunner().invoke(
        cli, ["plan", str(MINI), "-o", str(tmp_path / "plan"), "--report", str(blocker)]
    )
    assert result.exit_code == 4
    assert "Traceback" not in result.output
    assert (tmp_path / "plan" / "plan.csv").exists()  # the plan itself is kept
    assert blocker.read_text() == "x"


def test_designate_with_report_shows_the_situation_at_the_date(tmp_path: Path) -> None:
    out, report_dir = tmp_path / "designations", tmp_path / "rapport"
    result = CliRunner().invoke(
        cli, ["designate", str(MINI), "--as-of", "31/03/2026", "-o", str(out), "--report", str(report_dir)]
    )
    assert result.exit_code == 0, result.output
    html = (report_dir / "rapport.html").read_text(encoding="utf-8")
    assert "31/03/2026" in html
    assert "<svg" in html
    assert (report_dir / "rapport.xlsx").stat().st_size > 0
