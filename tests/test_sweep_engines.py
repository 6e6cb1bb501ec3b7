"""Execution engines: identical results on every engine, crashes retried then reported, resume after an interrupt.

The task functions below are looked up by name on the workers (`test_sweep_engines:...`): spawned processes
and Dask workers inherit this test process's `sys.path`.
"""

from __future__ import annotations

import builtins
import json
import os
from pathlib import Path
from typing import Any

import pytest

from fluxopt.engines import MissingExtraError, Task, run_tasks
from fluxopt.errors import ExitCode

INTERRUPT_AT = "FLUXOPT_TEST_INTERRUPT_AT"


def square(payload: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    """A deterministic task; logs each execution so that tests can count them."""
    x = payload["x"]
    if os.environ.get(INTERRUPT_AT) == str(x):
        raise KeyboardInterrupt
    with open(shared["log"], "a", encoding="utf-8") as log:
        log.write(f"{x}\n")
    if payload.get("die") == "always":
        os._exit(13)
    if payload.get("die") == "once":
        marker = Path(shared["log"]).with_suffix(f".died-{x}")
        if not marker.exists():
            marker.write_text("x")
            os._exit(13)
    if payload.get("fail"):
        raise ValueError("boum")
    return {"x": x, "carre": x * x + shared["offset"], "liste": [x / 3, {"k": "é"}]}


def executions(log: Path) -> list[int]:
    return sorted(int(line) for line in log.read_text().split()) if log.exists() else []


def tasks(n: int, **extra: dict[str, Any]) -> list[Task]:
    return [Task(f"t{x:03d}", {"x": x, **extra.get(f"t{x:03d}", {})}) for x in range(n)]


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.json"))}


def test_serial_and_local_give_identical_results(tmp_path: Path) -> None:
    """(Dask too: tests/test_sweep.py runs a whole sweep on the three engines and compares the files.)"""
    shared = {"offset": 7, "log": str(tmp_path / "log.txt")}
    outputs = {}
    for engine in ("serial", "local"):
        out = tmp_path / engine
        report = run_tasks(
            "test_sweep_engines:square", tasks(12), shared=shared, engine=engine, workers=2, results_dir=out
        )
        assert not report.failed and sorted(report.computed) == [f"t{x:03d}" for x in range(12)]
        outputs[engine] = (report.results, files(out))
    assert outputs["serial"] == outputs["local"]
    assert outputs["serial"][0]["t005"] == {"x": 5, "carre": 32, "liste": [5 / 3, {"k": "é"}]}
    assert executions(tmp_path / "log.txt") == sorted(list(range(12)) * 2)


@pytest.mark.parametrize(
    "engine",
    [
        "local",
        # on Dask, a lone retry first waits for the cluster to be whole again (`steady`); still flaky (1 CI
        # run in about 15, 29/11): a task already finished on the first worker to die is "lost" by Dask,
        # recomputed on the second worker while that one dies too, and an innocent task ends reported failed
        # ("Removing worker ... caused the cluster to lose already computed task(s)" in the scheduler's log)
        pytest.param(
            "dask",
            marks=pytest.mark.xfail(
                reason="Dask recomputes a lost finished task where a second worker dies (known flake)",
                strict=False,
            ),
        ),
    ],
)
def test_a_worker_that_dies_is_retried_once_then_reported(tmp_path: Path, engine: str) -> None:
    if engine == "dask":
        pytest.importorskip("distributed")
    shared = {"offset": 0, "log": str(tmp_path / "log.txt")}
    work = tasks(8, t002={"die": "always"}, t005={"die": "once"})
    report = run_tasks(
        "test_sweep_engines:square", work, shared=shared, engine=engine, workers=2, results_dir=tmp_path / "r"
    )
    assert set(report.failed) == {"t002"}
    assert report.failed["t002"].startswith("échec après 2 essais : le processus de calcul")
    assert sorted(report.results) == [t.id for t in work if t.id != "t002"]
    assert report.results["t005"]["carre"] == 25
    assert not (tmp_path / "r" / "t002.json").exists()
    runs = executions(tmp_path / "log.txt")
    assert runs.count(2) == 2  # tried, then retried alone
    assert runs.count(5) == 2  # died once, succeeded on its retry


def test_interrupted_sweep_resumes_and_skips_finished_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = {"offset": 1, "log": str(tmp_path / "log.txt")}
    out = tmp_path / "r"
    monkeypatch.setenv(INTERRUPT_AT, "6")
    with pytest.raises(KeyboardInterrupt):
        run_tasks("test_sweep_engines:square", tasks(10), shared=shared, engine="serial", results_dir=out)
    assert sorted(files(out)) == [f"t{x:03d}.json" for x in range(6)]
    monkeypatch.delenv(INTERRUPT_AT)
    report = run_tasks(
        "test_sweep_engines:square", tasks(10), shared=shared, engine="local", workers=2, results_dir=out
    )
    assert sorted(report.resumed) == [f"t{x:03d}" for x in range(6)]
    assert sorted(report.computed) == [f"t{x:03d}" for x in range(6, 10)]
    assert executions(tmp_path / "log.txt") == list(range(10))  # nothing ran twice
    assert report.results["t003"]["carre"] == 10

    # a changed input is recomputed, not taken from the old file
    again = run_tasks(
        "test_sweep_engines:square",
        tasks(10),
        shared={**shared, "offset": 2},
        engine="serial",
        results_dir=out,
    )
    assert again.resumed == [] and again.results["t003"]["carre"] == 11
    saved = json.loads((out / "t003.json").read_text(encoding="utf-8"))
    assert saved["tache"] == "t003" and saved["resultat"]["carre"] == 11


def test_a_task_error_is_reported_and_the_others_kept(tmp_path: Path) -> None:
    shared = {"offset": 0, "log": str(tmp_path / "log.txt")}
    report = run_tasks(
        "test_sweep_engines:square", tasks(4, t001={"fail": True}), shared=shared, engine="serial"
    )
    assert report.failed == {"t001": "erreur interne (ValueError : boum)"}
    assert sorted(report.results) == ["t000", "t002", "t003"]


def test_missing_dask_extra_is_one_french_line_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_import = builtins.__import__

    def no_dask(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "distributed" or name.startswith(("distributed.", "dask")):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    with pytest.raises(MissingExtraError) as caught:
        run_tasks("test_sweep_engines:square", tasks(2), shared={"offset": 0, "log": "x"}, engine="dask")
    message = caught.value.render()
    assert "\n" not in message
    assert 'pip install "fluxopt[dask]"' in message and "n'est pas installé" in message
    assert caught.value.exit_code == ExitCode.USAGE


def test_bad_task_ids_and_unknown_engine_are_refused() -> None:
    with pytest.raises(ValueError, match="safe file name"):
        run_tasks("test_sweep_engines:square", [Task("../x", {})])
    with pytest.raises(ValueError, match="duplicate"):
        run_tasks("test_sweep_engines:square", [Task("a", {}), Task("a", {})])
    with pytest.raises(Exception, match="Moteur inconnu"):
        run_tasks("test_sweep_engines:square", [], engine="ray")
