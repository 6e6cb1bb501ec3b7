"""Faults: killed runs, Ctrl-C, read-only or locked outputs, full disks. Earlier outputs always survive whole.

- `fluxopt plan` killed with SIGKILL at random moments (a subprocess, several times): the output folder is
  always one complete run, the previous one or the new one;
- killed inside the write phase (after every file is staged, and between the two renames of the fallback
  swap used where Linux' atomic exchange is unavailable): previous run intact, put back by the next run;
- Ctrl-C (SIGINT) during the solve: the best plan found is written, marked unproven in manifest.json, and it
  passes the independent checker; Ctrl-C while fluxopt starts: a French message, exit 130, no traceback;
- a read-only folder, a locked file (a workbook open in Excel, refused rename) and a full disk, for every
  command that writes: exit 4, one French line naming the path, nothing changed, no temporary left behind.
"""

from __future__ import annotations

import errno
import json
import os
import pty
import random
import select
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from relsupport import (
    FLUXOPT,
    MINI,
    ROOT,
    WRITING_COMMANDS,
    Workspace,
    assert_clean_failure,
    build_template,
    copy_workspace,
    run_cli,
)

from checker import check_plan_dir
from fluxopt.io.scenario import load_scenario
from fluxopt.manifest import stable_json

CAP_HABITAT = ROOT / "scenarios" / "cap-habitat"
PLAN_FILES = ("plan.csv", "objectifs.csv", "sequence.csv", "manifest.json")


def _plan_state(folder: Path) -> tuple[str, ...] | None:
    """The content of a plan folder (manifest without its timestamps), None when it is absent."""
    if not folder.exists():
        return None
    names = sorted(p.name for p in folder.iterdir())
    out = [",".join(names)]
    for name in PLAN_FILES:
        path = folder / name
        if not path.exists():
            out.append(f"{name}: absent")
        elif name == "manifest.json":
            out.append(stable_json(path.read_text(encoding="utf-8")))
        else:
            out.append(path.read_text(encoding="utf-8-sig"))
    return tuple(out)


def _visible(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if not p.name.startswith("."))


def test_sigkill_at_random_moments_keeps_one_complete_run(tmp_path: Path) -> None:
    """`fluxopt plan` killed at random moments: the folder holds the old run or the new one, whole."""
    scenario = tmp_path / "mini"
    shutil.copytree(MINI, scenario)
    out = tmp_path / "resultats" / "plan"
    first = subprocess.run(
        [FLUXOPT, "plan", scenario, "-o", out], capture_output=True, text=True, check=False
    )
    assert first.returncode == 0, first.stderr
    old = _plan_state(out)
    # new inputs, so that a completed run is told apart from the previous one
    toml = scenario / "scenario.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("share = 25.0", "share = 24.0", 1), encoding="utf-8"
    )
    start = time.perf_counter()
    reference = subprocess.run(
        [FLUXOPT, "plan", scenario, "-o", tmp_path / "reference"], capture_output=True, text=True, check=False
    )
    duration = time.perf_counter() - start
    assert reference.returncode == 0, reference.stderr
    new = _plan_state(tmp_path / "reference")
    assert new != old
    rng = random.Random(20260331)
    seen = set()
    for _ in range(4):
        proc = subprocess.Popen(
            [FLUXOPT, "plan", scenario, "-o", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.3, 1.1) * duration)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        state = _plan_state(out)
        assert state in (old, new), "dossier de sortie incomplet ou mélangé après SIGKILL"
        seen.add("ancien" if state == old else "nouveau")
        old = state  # a completed run becomes the previous one
        assert _visible(out.parent) == ["plan"]
    # the folder is still usable by the next command
    outcome = run_cli(["compare", scenario, "--plan", out, "--format", "json"])
    assert outcome.code == 0, outcome.err
    json.loads(outcome.out)


_KILL_INSIDE = textwrap.dedent(
    """
    import os, sys, time
    from fluxopt.io import atomic
    where = sys.argv[1]
    if where == "staged":
        real = atomic._fsync_tree
        def pause(root):  # every file is written in the staging folder, nothing swapped yet
            real(root)
            print("prêt", flush=True)
            time.sleep(60)
        atomic._fsync_tree = pause
    else:  # the fallback swap (no atomic exchange): stop between its two renames
        atomic._exchange = lambda a, b: False
        real_replace = os.replace
        def replace(src, dst):
            real_replace(src, dst)
            if ".old-" in str(dst):
                print("prêt", flush=True)
                time.sleep(60)
        atomic.os.replace = replace
    from fluxopt.cli import cli
    cli(sys.argv[2:], prog_name="fluxopt")
    """
)


@pytest.mark.parametrize("where", ["staged", "between_renames"])
def test_sigkill_inside_the_write_phase(where: str, tmp_path: Path) -> None:
    scenario = tmp_path / "mini"
    shutil.copytree(MINI, scenario)
    out = tmp_path / "resultats" / "plan"
    assert run_cli(["plan", scenario, "-o", out]).code == 0
    old = _plan_state(out)
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_INSIDE, where, "plan", str(scenario), "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "prêt"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    if where == "staged":
        assert _plan_state(out) == old
    else:  # the previous run waits aside; the next command that writes there puts it back first
        assert not out.exists() and list(out.parent.glob(".plan.old-*"))
        from fluxopt.io.atomic import atomic_output_dir

        with pytest.raises(RuntimeError), atomic_output_dir(out):
            raise RuntimeError("échec pendant le calcul")
        assert _plan_state(out) == old
        assert not list(out.parent.glob(".plan.old-*"))


# ------------------------------------------------------------------------------------------------ Ctrl-C


def _progress_lines(fd: int, proc: subprocess.Popen[bytes], timeout: float) -> Iterator[str]:
    """Text written on the terminal (a pty) by the child, as it comes."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            yield chunk.decode("utf-8", "replace")


def _plan_interrupted(scenario: Path, out: Path, when: str | tuple[str, ...]) -> tuple[int, str, str, float]:
    """`fluxopt plan` with stderr on a terminal (a pty: fluxopt shows its progress line), sent SIGINT as soon
    as the line shows one of `when`; its exit code, the text before and after, and the seconds from the
    signal to its end."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [FLUXOPT, "plan", scenario, "-o", out],
        stdout=subprocess.DEVNULL,
        stderr=secondary,
        env={**os.environ, "NO_COLOR": "1"},
    )
    os.close(secondary)
    marks = (when,) if isinstance(when, str) else when
    shown = ""
    try:
        for text in _progress_lines(primary, proc, timeout=120):
            shown += text
            if any(mark in shown for mark in marks):
                proc.send_signal(signal.SIGINT)
                break
        sent = time.monotonic()
        rest = "".join(_progress_lines(primary, proc, timeout=120))
        proc.wait(timeout=120)
        answered = time.monotonic() - sent
    finally:
        os.close(primary)
    return proc.returncode, shown, rest, answered


def test_ctrl_c_during_the_solve_writes_the_best_plan_marked_unproven(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    # a first plan exists: interrupt the search
    code, shown, rest, _ = _plan_interrupted(CAP_HABITAT, out, ("objectif", "niveau 2/"))
    assert code == 0, shown + rest
    assert "interrompu" in rest and "Traceback" not in rest
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["statut"] == "interrupted"
    assert "non prouvé" in manifest["resultats"]["statut_fr"]
    assert not all(level["prouve"] for level in manifest["resultats"]["niveaux"])
    problems = check_plan_dir(out, load_scenario(CAP_HABITAT, warn=lambda _: None))
    assert problems == [], problems[:10]


def test_ctrl_c_during_a_long_highs_solve_answers_at_once(tmp_path: Path) -> None:
    """MathOpt does not interrupt HiGHS: fluxopt leaves the running solve to finish alone
    (`fluxopt.model.solver._until_interrupted`) and goes on with the best plan so far. On grand-bailleur,
    Ctrl-C while the départements' exact levels run (seconds more) is answered, the plan written and the
    process ended, within 4 s (2.0 s measured; 8.7 s when the solves were waited for)."""
    out = tmp_path / "plan"
    # "· 2,5 s": the départements' exact levels run (≈ 6 s each), with seconds to go
    code, shown, rest, answered = _plan_interrupted(ROOT / "scenarios" / "grand-bailleur", out, "· 2,5 s")
    assert code == 0, shown + rest
    assert "interrompu" in rest and "Traceback" not in rest
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["statut"] == "interrupted"
    assert answered < 4.0, f"{answered:.1f} s"


_CTRL_C_WHILE_IMPORTING = textwrap.dedent(
    """
    import builtins, os, signal, sys
    real_import = builtins.__import__
    def hook(name, *args, **kwargs):  # Ctrl-C exactly while cli.py imports the command modules
        if name == "fluxopt.sweep.commands":
            builtins.__import__ = real_import
            os.kill(os.getpid(), signal.SIGINT)
        return real_import(name, *args, **kwargs)
    builtins.__import__ = hook
    from fluxopt.cli import main
    sys.argv = ["fluxopt", *sys.argv[1:]]
    main()
    """
)


def test_ctrl_c_while_fluxopt_starts(tmp_path: Path) -> None:
    """A Ctrl-C while the commands are imported (the first half second): French message, 130, no traceback."""
    done = subprocess.run(
        [sys.executable, "-c", _CTRL_C_WHILE_IMPORTING, "plan", str(MINI), "-o", str(tmp_path / "plan")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.startswith("Interrompu : ")
    assert not (tmp_path / "plan").exists()


def test_ctrl_c_right_after_start(tmp_path: Path) -> None:
    """The real console script interrupted at once: never Python's traceback."""
    proc = subprocess.Popen(
        [FLUXOPT, "plan", MINI, "-o", tmp_path / "plan"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.3)  # past the interpreter's start, inside fluxopt's imports on any machine of this decade
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Interrompu" in err
    assert not (tmp_path / "plan").exists()


def test_ctrl_c_during_a_parallel_simulation_stops_its_workers_at_once(tmp_path: Path) -> None:
    """`fluxopt simulate --jobs 2`: Ctrl-C in a terminal (SIGINT to the whole process group) is answered at
    once — exit 130, the French message, no traceback, nothing written, no worker left — instead of after
    the years already handed to the workers (7.3 s measured with four years on two workers)."""
    out = tmp_path / "sim"
    proc = subprocess.Popen(
        [FLUXOPT, "simulate", CAP_HABITAT, "--runs", "4", "--jobs", "2", "--policy", "fluxopt", "-o", out],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    time.sleep(5.0)  # the workers are replaying their first years
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    answered = time.monotonic() - sent
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Interrompu" in err
    assert not out.exists()
    assert answered < 3.0, f"{answered:.1f} s"
    deadline = time.monotonic() + 10  # the group empties: no worker left behind (the reaping takes a moment)
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("a worker of the simulation is still running")


# --------------------------------------------------------------------- read-only, locked, full: every command

_TEMPLATE: list[Workspace] = []


@pytest.fixture
def ws(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Workspace:
    if not _TEMPLATE:
        _TEMPLATE.append(build_template(tmp_path_factory.mktemp("pannes") / "modele"))
    return copy_workspace(_TEMPLATE[0], tmp_path / "ws")


def _one_line_failure(ws: Workspace, command: str, before: dict[str, str], why: str) -> None:
    outcome = ws.run(command)
    assert_clean_failure(outcome, 4, ["Impossible d'écrire", why, "intacts"])
    assert len(outcome.err.strip().splitlines()) == 1, outcome.err
    assert str(ws.outputs) in outcome.err
    assert ws.digest() == before, "une sortie précédente a changé"


def _leftovers(ws: Workspace) -> list[str]:
    return sorted(str(p.relative_to(ws.root)) for p in ws.outputs.rglob(".*"))


@pytest.mark.parametrize("command", WRITING_COMMANDS)
def test_locked_output(command: str, ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """An output another program holds (Excel on a shared drive): the final rename is refused (EACCES)."""
    from fluxopt.io import atomic

    real_replace = os.replace
    outputs = str(ws.outputs)

    def refused(src: object, dst: object, *args: object, **kwargs: object) -> None:
        if str(dst).startswith(outputs) and ".old-" not in str(dst):
            raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        real_replace(src, dst, *args, **kwargs)  # type: ignore[arg-type]

    def exchange_refused(a: Path, b: Path) -> bool:
        raise PermissionError(errno.EACCES, "Permission denied", str(b))

    before = ws.digest()
    monkeypatch.setattr(os, "replace", refused)
    monkeypatch.setattr(atomic, "_exchange", exchange_refused)
    _one_line_failure(ws, command, before, "accès refusé")
    assert _leftovers(ws) == []


@pytest.mark.parametrize("command", WRITING_COMMANDS)
def test_disk_full_when_flushing(command: str, ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC reported at fsync (delayed allocation): exit 4, nothing half-written, temporaries removed."""

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    before = ws.digest()
    monkeypatch.setattr(os, "fsync", full)
    _one_line_failure(ws, command, before, "disque plein")
    assert _leftovers(ws) == []


def _mount_tmpfs(where: Path, options: str) -> bool:
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    return done.returncode == 0


@pytest.fixture
def mounted_outputs(ws: Workspace) -> Iterator[Workspace]:
    """`sorties/` on its own small file system holding the previous run (root only; skipped elsewhere)."""
    saved = ws.root / "sorties-avant"
    shutil.copytree(ws.outputs, saved, symlinks=True)
    shutil.rmtree(ws.outputs)
    ws.outputs.mkdir()
    if not _mount_tmpfs(ws.outputs, "size=16m,mode=0755"):
        pytest.skip("monter un système de fichiers demande les droits root (le cas simulé couvre le reste)")
    try:
        shutil.copytree(saved, ws.outputs, symlinks=True, dirs_exist_ok=True)
        yield ws
    finally:
        subprocess.run(["umount", "-l", str(ws.outputs)], check=False)


#: one command per way of writing: a staged folder, a single file, the sweep's file-by-file results
MOUNTED = [c for c in ("plan", "compare", "sweep", "designate") if c in WRITING_COMMANDS]


@pytest.mark.parametrize("command", MOUNTED)
def test_really_full_disk(command: str, mounted_outputs: Workspace) -> None:
    ws = mounted_outputs
    used = int(subprocess.run(["df", "--output=used", "-k", str(ws.outputs)], capture_output=True, text=True,
                              check=True).stdout.split()[-1])  # fmt: skip
    # shrink the file system to what the previous run uses: not one more page for the new run
    subprocess.run(["mount", "-o", f"remount,size={used}k", str(ws.outputs)], check=True)
    before = ws.digest()
    _one_line_failure(ws, command, before, "disque plein")
    assert _leftovers(ws) == []


@pytest.mark.parametrize("command", MOUNTED)
def test_read_only_folder(command: str, mounted_outputs: Workspace) -> None:
    ws = mounted_outputs
    subprocess.run(["mount", "-o", "remount,ro", str(ws.outputs)], check=True)
    before = ws.digest()
    _one_line_failure(ws, command, before, "accès refusé")


def test_read_only_folder_without_root(tmp_path: Path) -> None:
    """The same refusal by permissions, for a user who is not root (root ignores permission bits)."""
    if os.geteuid() == 0:
        pytest.skip("root écrit malgré les droits : voir test_read_only_folder")
    folder = tmp_path / "lecture-seule"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        outcome = run_cli(["plan", MINI, "-o", folder / "plan"])
        assert_clean_failure(outcome, 4, ["Impossible d'écrire", "accès refusé"])
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_output_path_is_an_existing_file(tmp_path: Path) -> None:
    blocker = tmp_path / "sorties"
    blocker.write_text("un fichier, pas un dossier\n", encoding="utf-8")
    for args in (["plan", MINI, "-o", blocker], ["bilan", MINI, "--year", "2026", "-o", blocker]):
        outcome = run_cli(args)
        assert_clean_failure(outcome, 4, ["n'est pas un dossier"])
    assert blocker.read_text(encoding="utf-8") == "un fichier, pas un dossier\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sorties"]


# ------------------------------------------------------------------ output paths that are not plain files


def test_output_through_a_symbolic_link_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "partage" / "comparaison.csv"
    real.parent.mkdir()
    real.write_text("ancien\n", encoding="utf-8")
    link = tmp_path / "comparaison.csv"
    link.symlink_to(real)
    outcome = run_cli(["compare", MINI, "--format", "csv", "-o", link])
    assert outcome.code == 0, outcome.err
    assert link.is_symlink() and real.read_bytes().startswith(b"\xef\xbb\xbfConvention;")


def test_output_to_a_pipe_or_a_device(tmp_path: Path) -> None:
    """`-o /dev/stdout`, a FIFO, a link to /dev/null: written into, never renamed over (as root, a rename
    would replace the device node itself for every program). A link in tmp stands for /dev/stdout."""
    stdout_link = tmp_path / "sortie-standard"
    stdout_link.symlink_to("/proc/self/fd/1")
    done = subprocess.run(
        [FLUXOPT, "compare", MINI, "--format", "csv", "-o", stdout_link], capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"\xef\xbb\xbfConvention;") and stdout_link.is_symlink()
    null_link = tmp_path / "rien.csv"
    null_link.symlink_to(os.devnull)
    assert run_cli(["compare", MINI, "--format", "csv", "-o", null_link]).code == 0
    assert null_link.is_symlink() and Path(os.devnull).is_char_device()
    fifo = tmp_path / "tube.csv"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    assert run_cli(["compare", MINI, "--format", "csv", "-o", fifo]).code == 0
    received, _ = reader.communicate(timeout=30)
    assert received.startswith(b"\xef\xbb\xbfConvention;") and fifo.is_fifo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rien.csv", "sortie-standard", "tube.csv"]
