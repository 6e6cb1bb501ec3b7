"""Determinism: the same inputs (and seed) give byte-identical outputs, whatever the row order or dialect.

- every command run twice on the mini scenario: every output file identical byte for byte (manifests
  compared without their `execution` field, the only one allowed to change; the sweep's `execution.json`
  holds timings by design and is compared without them), and the same stdout (simulate's stdout shows the
  measured time per weekly call and is compared without that row);
- the stock, vacancies and designations with their rows shuffled and their columns permuted, or rewritten as
  French Excel writes them: the same plan, designations, comparison and bilan.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import shutil
import types
from pathlib import Path

import pytest
from relsupport import MINI, SCENARIO_COMMANDS, SWEEP, Workspace, make_scenario, run_cli

from fluxopt.manifest import stable_json

RESERVATIONS = "logement,reservataire\n92046-P0001-0006,AL\n92046-P0002-0001,MALAKOFF\n"
VOLATILE_FILES = {"execution.json"}


def _workspace(root: Path) -> Workspace:
    ws = Workspace(root)
    root.mkdir(parents=True)
    make_scenario(ws.scenario, MINI)
    (ws.scenario / "reservations.csv").write_text(RESERVATIONS, encoding="utf-8")
    ws.sweep_file.write_text(SWEEP, encoding="utf-8")
    ws.cwd.mkdir()
    ws.outputs.mkdir()
    assert run_cli(["plan", ws.scenario, "-o", ws.plan_input], cwd=ws.cwd).code == 0
    return ws


def _snapshot(folder: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        key = str(path.relative_to(folder))
        if path.name == "manifest.json":
            out[key] = stable_json(path.read_text(encoding="utf-8"))
        elif path.name in VOLATILE_FILES:
            data = json.loads(path.read_text(encoding="utf-8"))
            out[key] = json.dumps({k: v for k, v in data.items() if k != "secondes"}, sort_keys=True)
        else:
            out[key] = path.read_bytes()
    return out


def _stdout(command: str, text: str) -> str:
    if command == "simulate":  # the measured time per weekly call is a row of its table
        return "\n".join(line for line in text.splitlines() if not line.startswith("temps par appel"))
    return text


def test_every_command_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "ws")
    runs: list[tuple[dict[str, bytes | str], dict[str, str]]] = []
    for attempt in range(2):
        if attempt:
            shutil.rmtree(ws.outputs)
            ws.outputs.mkdir()
        stdout: dict[str, str] = {}
        for command in SCENARIO_COMMANDS:
            outcome = ws.run(command)
            assert outcome.code == 0, f"{command} : {outcome.err}"
            stdout[command] = _stdout(command, outcome.out)
        for fmt in ("table", "csv", "json"):
            outcome = run_cli(["compare", ws.scenario, "--plan", ws.plan_input, "--format", fmt], cwd=ws.cwd)
            assert outcome.code == 0, outcome.err
            stdout[f"compare {fmt}"] = outcome.out
        outcome = run_cli(["schema"], cwd=ws.cwd)
        stdout["schema"] = outcome.out
        runs.append((_snapshot(ws.outputs), stdout))
    (first, out1), (second, out2) = runs
    assert len(first) >= 30
    assert sorted(first) == sorted(second)
    different = [name for name in first if first[name] != second[name]]
    assert different == [], different
    assert [c for c in out1 if out1[c] != out2[c]] == []


def test_sweep_workbook_does_not_depend_on_the_day(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fluxopt.sweep.run as sweep_run

    ws = _workspace(tmp_path / "ws")
    first = ws.run("sweep")
    assert first.code == 0, first.err
    book = (ws.outputs / "variantes" / "balayage.xlsx").read_bytes()

    class OtherDay(dt.date):
        @classmethod
        def today(cls) -> OtherDay:
            return cls(2031, 7, 14)

    monkeypatch.setattr(sweep_run, "dt", types.SimpleNamespace(date=OtherDay, datetime=dt.datetime))
    shutil.rmtree(ws.outputs / "variantes")
    assert ws.run("sweep").code == 0
    assert (ws.outputs / "variantes" / "balayage.xlsx").read_bytes() == book


# --------------------------------------------------------------------------------- order and dialect of rows


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    return rows[0], rows[1:]


def _write(path: Path, header: list[str], rows: list[list[str]], *, french: bool = False) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";" if french else ",", lineterminator="\r\n" if french else "\n")
    writer.writerow(header)
    writer.writerows(rows)
    text = buffer.getvalue()
    path.write_bytes(("\ufeff" + text).encode("utf-8") if french else text.encode("utf-8"))


def _shuffled(folder: Path, seed: int) -> None:
    rng = random.Random(seed)
    for name in ("patrimoine.csv", "vacances.csv", "designations.csv"):
        header, rows = _rows(folder / name)
        order = list(range(len(header)))
        rng.shuffle(order)
        rows = [[row[i] for i in order] for row in rows]
        rng.shuffle(rows)
        _write(folder / name, [header[i] for i in order], rows)


def _french_excel(folder: Path) -> None:
    """The same tables as French Excel saves them: `;`, BOM, CRLF, dd/mm/yyyy dates, `oui`/`non`."""
    for name in ("patrimoine.csv", "vacances.csv", "designations.csv"):
        header, rows = _rows(folder / name)
        out = []
        for row in rows:
            cells = []
            for cell in row:
                if len(cell) == 10 and cell[4] == "-" and cell[7] == "-":
                    cell = f"{cell[8:]}/{cell[5:7]}/{cell[:4]}"
                cells.append(cell)
            out.append(cells)
        _write(folder / name, header, out, french=True)


def _results(ws: Workspace) -> dict[str, bytes | str]:
    runs = [
        ["plan", ws.scenario, "-o", ws.outputs / "plan"],
        ["designate", ws.scenario, "--as-of", "31/03/2026", "-o", ws.outputs / "designations"],
        [
            "compare",
            ws.scenario,
            "--plan",
            ws.outputs / "plan",
            "--format",
            "csv",
            "-o",
            ws.outputs / "c.csv",
        ],
        ["bilan", ws.scenario, "--year", "2026", "-o", ws.outputs / "bilan"],
    ]
    for args in runs:
        outcome = run_cli(args, cwd=ws.cwd)
        assert outcome.code == 0, f"{args[0]} : {outcome.err}"
    snapshot = _snapshot(ws.outputs)
    # the inputs' hashes differ by construction: compare the manifests without them
    for key, value in list(snapshot.items()):
        if key.endswith("manifest.json"):
            data = json.loads(str(value))
            data.pop("entrees", None)
            snapshot[key] = json.dumps(data, sort_keys=True)
    return snapshot


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes | str]:
    return _results(_workspace(tmp_path_factory.mktemp("reference") / "ws"))


@pytest.mark.parametrize("seed", [1, 2])
def test_shuffled_rows_and_columns_give_the_same_results(
    seed: int, tmp_path: Path, reference: dict[str, bytes | str]
) -> None:
    ws = _workspace(tmp_path / "ws")
    _shuffled(ws.scenario, seed)
    got = _results(ws)
    assert sorted(got) == sorted(reference)
    assert [name for name in got if got[name] != reference[name]] == []


def test_french_excel_dialect_gives_the_same_results(
    tmp_path: Path, reference: dict[str, bytes | str]
) -> None:
    ws = _workspace(tmp_path / "ws")
    _french_excel(ws.scenario)
    assert (ws.scenario / "patrimoine.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    got = _results(ws)
    assert [name for name in got if got[name] != reference[name]] == []
