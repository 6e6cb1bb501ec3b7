"""Atomic outputs: an interrupted or failed run leaves earlier results intact (brief: "Bad input never ... loses data")."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fluxopt.errors import OutputError
from fluxopt.io.atomic import atomic_output_dir, write_bytes, write_text


def test_write_text_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "a.csv"
    write_text(target, "ancien\n")
    write_text(target, "nouveau\n")
    assert target.read_text() == "nouveau\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.csv"]  # no temporary left behind


def test_failed_block_keeps_previous_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with atomic_output_dir(out) as staged:
        staged.write_text("plan.csv", "v1")
    with pytest.raises(RuntimeError), atomic_output_dir(out) as staged:
        staged.write_text("plan.csv", "v2-partiel")
        raise RuntimeError("solve failed")
    assert (out / "plan.csv").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_files_not_rewritten_are_carried_over(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with atomic_output_dir(out) as staged:
        staged.write_text("rapport.html", "r1")
        staged.write_text("plan.csv", "v1")
    with atomic_output_dir(out) as staged:
        staged.write_text("plan.csv", "v2")
    assert (out / "plan.csv").read_text() == "v2"
    assert (out / "rapport.html").read_text() == "r1"


def test_read_only_destination_is_explained(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root ignores permission bits: use a path whose parent is a file instead
        blocker = tmp_path / "fichier"
        blocker.write_text("x")
        with pytest.raises(OutputError) as info:
            write_bytes(blocker / "plan.csv", b"x")
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(OutputError) as info:
            write_bytes(ro / "plan.csv", b"x")
    assert "Impossible d'écrire" in info.value.message
    assert "intacts" in info.value.message


def test_sigkill_while_writing_leaves_previous_outputs(tmp_path: Path) -> None:
    """A run killed with SIGKILL in the middle of writing leaves the previous run complete."""
    out = tmp_path / "out"
    with atomic_output_dir(out) as staged:
        staged.write_text("plan.csv", "ancien plan\n")
        staged.write_text("manifest.json", "{}\n")
    script = textwrap.dedent(
        f"""
        import time
        from fluxopt.io.atomic import atomic_output_dir
        with atomic_output_dir({str(out)!r}) as staged:
            staged.write_text("plan.csv", "nouveau plan partiel")
            print("started", flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert (out / "plan.csv").read_text() == "ancien plan\n"
    assert (out / "manifest.json").read_text() == "{}\n"
