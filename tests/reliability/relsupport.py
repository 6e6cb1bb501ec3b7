"""Helpers of the reliability suite (tests/reliability/): run commands, snapshot trees, build workspaces.

A *workspace* is a folder holding a small valid scenario (`scenario/`, the broken-inputs corpus base with a
stock-era `reservations.csv` for `convert`), a sweep file over it (`variantes.toml`), a plan used as input by
`compare`/`report` (`plan-entree/`), a previous run of every command (`sorties/`) and an empty working directory
(`cwd/`, where commands run, so that a file dropped in the current directory is noticed). Tests take a fresh copy
of one template workspace built once per session by really running every command.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import click
from click.testing import CliRunner

from fluxopt.cli import cli

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "tests" / "bad_inputs" / "_base"
MINI = ROOT / "scenarios" / "mini"
FLUXOPT = Path(sys.executable).parent / "fluxopt"

#: reservations of the old gestion en stock for the corpus base (read by `convert` only)
RESERVATIONS = "logement,reservataire,fin_droit\nL01,AL,\nL03,VILLE,31/12/2027\nL04,ETAT,\n"

SWEEP = """[sweep]
name = "Variantes de test"
base = "scenario"
seed = 1

[[variants]]
id = "actuel"
label = "Conventions actuelles"

[[variants]]
id = "al-30"
label = "Action Logement 30 %"
shares = { "AL-92" = 30 }
"""


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str
    exception: BaseException | None

    @property
    def text(self) -> str:
        return self.out + self.err


def run_cli(args: Iterable[object], cwd: Path | None = None) -> Outcome:
    """Run `fluxopt ARGS` in-process (click's CliRunner), from `cwd` when given."""
    previous = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)
    finally:
        os.chdir(previous)
    exception = result.exception if not isinstance(result.exception, SystemExit) else None
    return Outcome(result.exit_code, result.stdout, result.stderr, exception)


def run_process(
    args: Iterable[object], cwd: Path | None = None, timeout: float = 120, env: dict[str, str] | None = None
) -> Outcome:
    """Run the installed `fluxopt` console script in a subprocess (real exit code, real stderr)."""
    proc = subprocess.run(
        [str(FLUXOPT), *(str(a) for a in args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        check=False,
    )
    return Outcome(proc.returncode, proc.stdout, proc.stderr, None)


def tree_digest(*roots: Path) -> dict[str, str]:
    """Every file, directory and link under `roots` (hidden ones too) → sha256 of its bytes (or its kind)."""
    out: dict[str, str] = {}
    for root in roots:
        if not root.exists():
            out[str(root)] = "absent"
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            out[str(Path(dirpath).relative_to(root.parent))] = "dossier"
            for name in sorted(filenames):
                path = Path(dirpath) / name
                key = str(path.relative_to(root.parent))
                if path.is_symlink():
                    out[key] = "lien:" + os.readlink(path)
                elif not path.is_file():  # a FIFO or a device: never opened
                    out[key] = "special"
                elif path.stat().st_size > 64 << 20:  # the corpus' sparse giants: size and time, not bytes
                    info = path.stat()
                    out[key] = f"{info.st_size}:{info.st_mtime_ns}"
                else:
                    out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def assert_clean_failure(outcome: Outcome, code: int, fragments: Iterable[str] = ()) -> None:
    """Exit `code`, a French message on stderr naming what to fix, no traceback, no internal error."""
    assert outcome.code == code, (
        f"code {outcome.code} au lieu de {code}\n{outcome.err}\n{outcome.exception!r}"
    )
    assert outcome.exception is None, repr(outcome.exception)
    assert "Traceback" not in outcome.text
    assert "Erreur interne" not in outcome.err
    if code in (1, 3, 4):  # warnings (ignored personal columns…) may come first
        assert any(line.startswith("Erreur : ") for line in outcome.err.splitlines()), outcome.err
    for fragment in fragments:
        assert fragment in outcome.err, f"{fragment!r} absent de :\n{outcome.err}"


# ------------------------------------------------------------------------------------------ workspaces


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def scenario(self) -> Path:
        return self.root / "scenario"

    @property
    def plan_input(self) -> Path:
        return self.root / "plan-entree"

    @property
    def outputs(self) -> Path:
        return self.root / "sorties"

    @property
    def cwd(self) -> Path:
        return self.root / "cwd"

    @property
    def sweep_file(self) -> Path:
        return self.root / "variantes.toml"

    def digest(self) -> dict[str, str]:
        """Everything a command could write or change: outputs, the input plan, the working directory."""
        return tree_digest(self.outputs, self.plan_input, self.cwd, self.scenario)

    def run_args(self, command: str) -> list[object]:
        return command_args(self, command)

    def run(self, command: str, *extra: object) -> Outcome:
        return run_cli([*command_args(self, command), *extra], cwd=self.cwd)


def registered(name: str) -> bool:
    return isinstance(cli, click.Group) and name in cli.commands


def _option_names(command: str) -> set[str]:
    cmd = cli.commands[command]  # type: ignore[attr-defined]
    return {opt for p in cmd.params for opt in getattr(p, "opts", [])}


def command_args(ws: Workspace, command: str) -> list[object]:
    """A complete, successful invocation of `command` on the workspace, writing into `sorties/`."""
    s, o = ws.scenario, ws.outputs
    table: dict[str, list[object]] = {
        "validate": ["validate", s],
        "plan": ["plan", s, "-o", o / "plan"],
        "compare": ["compare", s, "--plan", ws.plan_input, "--format", "csv", "-o", o / "comparaison.csv"],
        "bilan": ["bilan", s, "--year", "2026", "-o", o / "bilan"],
        "report": ["report", s, "--plan", ws.plan_input, "-o", o / "rapport"],
        "convert": ["convert", s, "--toml", o / "conventions-flux.toml"],
        "sweep": ["sweep", ws.sweep_file, "-o", o / "variantes", "--engine", "serial"],
        "designate": ["designate", s, "--as-of", "31/03/2026", "-o", o / "designations"],
        "simulate": ["simulate", s, "--runs", "1", "--seed", "1"],
    }
    args = table[command]
    if command == "simulate" and "-o" in _option_names("simulate"):
        args = [*args, "-o", o / "simulation"]
    return args


#: every command that reads a scenario, in the order they are run to build a template workspace
SCENARIO_COMMANDS = [
    c
    for c in ("validate", "plan", "compare", "bilan", "report", "convert", "sweep", "designate", "simulate")
    if registered(c)
]
#: commands that write files (validate only prints)
WRITING_COMMANDS = [c for c in SCENARIO_COMMANDS if c != "validate"]


def make_scenario(target: Path, source: Path = BASE) -> Path:
    """A copy of `source` with a stock-era reservations.csv; the corpus base gets a turnover of 50 % so that
    its 5 dwellings in the flux give a non-empty forecast (2 expected vacancies, see test_plan_of_an_empty_forecast).
    """
    shutil.copytree(source, target)
    if source == BASE:
        toml = target / "scenario.toml"
        toml.write_text(
            toml.read_text(encoding="utf-8").replace("turnover_rate = 0.06", "turnover_rate = 0.5"),
            encoding="utf-8",
        )
    (target / "reservations.csv").write_text(RESERVATIONS, encoding="utf-8")
    return target


def build_template(root: Path, source: Path = BASE) -> Workspace:
    """A workspace where every command has already run once, successfully."""
    ws = Workspace(root)
    root.mkdir(parents=True)
    make_scenario(ws.scenario, source)
    ws.sweep_file.write_text(SWEEP, encoding="utf-8")
    ws.cwd.mkdir()
    ws.outputs.mkdir()
    first = run_cli(["plan", ws.scenario, "-o", ws.plan_input], cwd=ws.cwd)
    assert first.code == 0, first.err
    for command in SCENARIO_COMMANDS:
        outcome = ws.run(command)
        assert outcome.code == 0, f"{command} : {outcome.err}\n{outcome.exception!r}"
    return ws


def copy_workspace(template: Workspace, target: Path) -> Workspace:
    shutil.copytree(template.root, target, symlinks=True)
    return Workspace(target)


def overlay(folder: Path, files: dict[str, bytes | str | Callable[[Path], None]]) -> None:
    """Write each file into `folder` (bytes, text, or a function that edits the folder)."""
    for name, content in files.items():
        if callable(content):
            content(folder)
        elif isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            (folder / name).write_text(content, encoding="utf-8")
