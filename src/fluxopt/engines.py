"""Execution engines: run many independent tasks serially, on local worker processes, or on Dask distributed.

A task is a pure function of plain values. The function is named by its import path (`"package.module:name"`)
and looked up on the worker, which must have fluxopt installed; its input and output travel as JSON text. So no
pickled user data crosses the wire, and a result is the same whichever engine, worker or order computed it
(serial, local and Dask runs are byte-identical). Data common to every task (the base scenario) is sent once
per worker process (`shared`) rather than once per task.

- `serial`: in this process, one task after the other (debugging, tiny sweeps). A task that kills the process
  kills the run; finished results are on disk and a re-run resumes.
- `local`: a `ProcessPoolExecutor` with the spawn start method (safe with OR-Tools' threads), one process per
  core, one solver thread per process; a worker is replaced after `MAX_TASKS_PER_CHILD` tasks to bound
  memory growth.
- `dask`: a Dask `Client` on an existing scheduler (`scheduler="tcp://host:8786"`) or on a `LocalCluster`
  of single-threaded worker processes. Needs the optional extra: `pip install "fluxopt[dask]"`.

Every finished task is written at once to `results_dir/<task id>.json` (atomically) with a fingerprint of its
input; a re-run loads the finished ones instead of recomputing them, so an interrupted sweep resumes.
A worker that dies while running a task (crash, out of memory, `os._exit`) does not stop the run: the tasks it
was running are retried once, each alone so that a crash is pinned on the right task, and a task that kills
its worker again is reported as failed in French; the other results are kept.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import importlib
import json
import logging
import multiprocessing
import os
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fluxopt import __version__
from fluxopt.errors import ExitCode, FluxoptError, InputError
from fluxopt.io.atomic import write_text

ENGINES = ("serial", "local", "dask")

#: A local worker process is replaced after this many tasks (OR-Tools and numpy caches only grow).
MAX_TASKS_PER_CHILD = 200

#: Threads a solve may use inside one worker process: parallelism comes from processes, never from threads.
#: (`FLUXOPT_SOLVER_THREADS`: the planner's level loop then solves no relaxation ahead on a second thread)
_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "FLUXOPT_SOLVER_THREADS",
)

#: Seconds a lone retry waits for a local Dask cluster to be whole again after a worker died.
STEADY_TIMEOUT = 30.0

DASK_INSTALL_HINT = 'pip install "fluxopt[dask]"'

#: Local Dask cluster settings: a worker death fails its tasks at once (fluxopt retries them alone), and no
#: statistical profiler samples the solves (it slows Python-heavy tasks down).
_DASK_CONFIG = {
    "distributed.scheduler.allowed-failures": 0,
    "distributed.worker.profile.enabled": False,
}

TaskFunction = Callable[[dict[str, Any], Any], Any]


class MissingExtraError(FluxoptError):
    """An optional extra the command asked for is not installed (exit code 2: the command line asks for
    something this installation cannot do)."""

    exit_code = ExitCode.USAGE


class EngineError(FluxoptError):
    """The engine itself could not run (scheduler unreachable, cluster failed to start)."""

    exit_code = ExitCode.INTERNAL


@dataclass(frozen=True)
class Task:
    """One unit of work: an id (a file name: letters, digits, `.`, `_`, `-`) and JSON-compatible input."""

    id: str
    payload: dict[str, Any]


@dataclass
class EngineReport:
    """What a run produced: results by task id (finished now or resumed from disk) and failures in French."""

    engine: str
    workers: int
    results: dict[str, Any] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    resumed: list[str] = field(default_factory=list)
    computed: list[str] = field(default_factory=list)
    seconds: float = 0.0


# --------------------------------------------------------------------------------------------------
# Worker side: everything here runs in the worker process and only sees strings
# --------------------------------------------------------------------------------------------------

_SHARED: dict[str, Any] = {}


def _limit_threads() -> None:
    for name in _THREAD_VARIABLES:
        os.environ.setdefault(name, "1")


def _init_worker(shared_key: str | None, shared_json: str | None) -> None:
    """Initializer of a local worker process: one thread per solve, shared data parsed once."""
    _limit_threads()
    if shared_key is not None and shared_json is not None:
        _SHARED.clear()
        _SHARED[shared_key] = json.loads(shared_json)


def resolve_function(name: str) -> TaskFunction:
    """`"package.module:function"` → the function (imported on the worker, never pickled)."""
    module_name, _, attribute = name.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"task function must be 'module:function', got {name!r}")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


def _shared_value(shared_key: str | None, shared_json: str | None) -> Any:
    if shared_key is None:
        return None
    if shared_key not in _SHARED:
        if shared_json is None:
            raise RuntimeError("shared data missing on this worker")
        _SHARED.clear()  # one base at a time per process
        _SHARED[shared_key] = json.loads(shared_json)
    return _SHARED[shared_key]


def execute(function: str, task_json: str, shared_key: str | None, shared_json: str | None = None) -> str:
    """Run one task from JSON text and return JSON text: `{"ok": result}` or `{"error": "French message"}`.

    Errors are returned as text rather than raised so that no exception object has to be pickled back.
    """
    try:
        fn = resolve_function(function)
        result = fn(json.loads(task_json), _shared_value(shared_key, shared_json))
        return json.dumps({"ok": result}, ensure_ascii=False, sort_keys=True, allow_nan=False)
    except FluxoptError as error:
        return json.dumps({"error": error.render()}, ensure_ascii=False)
    except Exception as error:
        return json.dumps({"error": f"erreur interne ({type(error).__name__} : {error})"}, ensure_ascii=False)


def _identity(value: str) -> str:
    """Dask: hold the shared JSON as a recomputable task result (a lost copy is simply recomputed)."""
    return value


# --------------------------------------------------------------------------------------------------
# Results on disk
# --------------------------------------------------------------------------------------------------


def _fingerprint(function: str, task_json: str, shared_key: str | None) -> str:
    digest = hashlib.sha256()
    for part in (__version__, function, shared_key or "", task_json):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def result_path(results_dir: Path, task_id: str) -> Path:
    return results_dir / f"{task_id}.json"


def _load_finished(results_dir: Path | None, task_id: str, fingerprint: str) -> tuple[bool, Any]:
    """A result saved by an earlier run of the same task on the same inputs, if any."""
    if results_dir is None:
        return False, None
    path = result_path(results_dir, task_id)
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False, None
    if not isinstance(saved, dict) or saved.get("empreinte") != fingerprint or "resultat" not in saved:
        return False, None
    return True, saved["resultat"]


def _save(results_dir: Path | None, task_id: str, fingerprint: str, result_json: str) -> None:
    if results_dir is None:
        return
    text = '{"tache": %s, "empreinte": "%s", "resultat": %s}\n' % (  # noqa: UP031 - splice the JSON as is
        json.dumps(task_id),
        fingerprint,
        result_json,
    )
    write_text(result_path(results_dir, task_id), text)


# --------------------------------------------------------------------------------------------------
# Progress (stderr, only on a terminal)
# --------------------------------------------------------------------------------------------------


class _Progress:
    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self._bar: Any = None
        if not enabled or total == 0:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        console = Console(stderr=True, no_color=bool(os.environ.get("NO_COLOR")))
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task(label, total=total)

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


# --------------------------------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------------------------------


class _Backend(Protocol):
    capacity: int  # tasks in flight at once
    broken: bool  # a crash made every in-flight task fail: drain, then `recover`

    def submit(self, task_json: str) -> Any: ...  # None: refused (broken), resubmit after `recover`
    def wait_any(self, handles: Sequence[Any]) -> list[Any]: ...
    def outcome(self, handle: Any) -> tuple[str, str]: ...  # ("ok", json) | ("crash", why) | ("error", why)
    def recover(self) -> None: ...
    def steady(self) -> None: ...  # before a lone retry: wait until every worker is back after a crash
    def close(self) -> None: ...


class _SerialBackend:
    capacity = 1
    broken = False

    def __init__(self, function: str, shared_key: str | None, shared_json: str | None) -> None:
        self.function, self.shared_key = function, shared_key
        if shared_key is not None and shared_json is not None and shared_key not in _SHARED:
            _SHARED.clear()
            _SHARED[shared_key] = json.loads(shared_json)

    def submit(self, task_json: str) -> Any:
        return execute(self.function, task_json, self.shared_key)

    def wait_any(self, handles: Sequence[Any]) -> list[Any]:
        return list(handles)

    def outcome(self, handle: Any) -> tuple[str, str]:
        return "ok", handle

    def recover(self) -> None:
        return None

    def steady(self) -> None:
        return None

    def close(self) -> None:
        return None


class _LocalBackend:
    def __init__(self, function: str, shared_key: str | None, shared_json: str | None, workers: int) -> None:
        self.function, self.shared_key, self.shared_json = function, shared_key, shared_json
        self.capacity = workers
        self.broken = False
        self.pool = self._make_pool()

    def _make_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            max_workers=self.capacity,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.shared_key, self.shared_json),
            max_tasks_per_child=MAX_TASKS_PER_CHILD,
        )

    def submit(self, task_json: str) -> Any:
        try:
            return self.pool.submit(execute, self.function, task_json, self.shared_key)
        except cf.process.BrokenProcessPool:  # a worker died since the last look: not this task's fault
            self.broken = True
            return None

    def wait_any(self, handles: Sequence[Any]) -> list[Any]:
        done, _ = cf.wait(handles, return_when=cf.FIRST_COMPLETED)
        return list(done)

    def outcome(self, handle: Any) -> tuple[str, str]:
        try:
            return "ok", handle.result()
        except cf.process.BrokenProcessPool:
            self.broken = True
            return (
                "crash",
                "le processus de calcul s'est arrêté brutalement (plantage ou mémoire insuffisante)",
            )

    def recover(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool = self._make_pool()
        self.broken = False

    def steady(self) -> None:
        return None  # a broken pool is replaced whole by `recover`

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def kill(self) -> None:
        """Ctrl-C: stop the workers now rather than after their current solve."""
        stop_now(self.pool)


def stop_now(pool: cf.ProcessPoolExecutor) -> None:
    """Stop a process pool's workers now (Ctrl-C), not after their current task and the queued ones:
    `shutdown(wait=True)` would run every task already handed to the pool."""
    processes = dict(getattr(pool, "_processes", None) or {})  # no public API for this
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes.values():
        with contextlib.suppress(Exception):
            process.terminate()


def import_distributed() -> Any:
    """`dask.distributed`, or the one-line French message with the install command."""
    try:
        import distributed
    except ImportError:
        raise MissingExtraError(
            f"Le moteur « dask » n'est pas installé : installez l'extra avec {DASK_INSTALL_HINT}"
        ) from None
    return distributed


class _DaskBackend:
    def __init__(
        self,
        function: str,
        shared_key: str | None,
        shared_json: str | None,
        workers: int,
        scheduler: str | None,
    ) -> None:
        distributed = import_distributed()
        import dask

        self.distributed = distributed
        self.function, self.shared_key = function, shared_key
        self.broken = False
        self.workers = workers
        self.cluster: Any = None
        self.run = uuid.uuid4().hex[:8]  # keys unique per run; never part of a result
        try:
            if scheduler is None:
                with dask.config.set(_DASK_CONFIG):
                    self.cluster = distributed.LocalCluster(
                        n_workers=workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=":0",  # any free port: never clash with another cluster
                        silence_logs=logging.CRITICAL,
                    )
                self.client = distributed.Client(self.cluster)
            else:
                self.client = distributed.Client(scheduler, timeout="20s")
        except (OSError, TimeoutError, RuntimeError) as error:
            if self.cluster is not None:
                self.cluster.close()
            where = scheduler or "un cluster local"
            raise EngineError(f"Impossible de joindre le planificateur Dask ({where}) : {error}") from None
        nthreads = sum(self.client.nthreads().values()) or workers
        self.capacity = max(1, nthreads) * 2  # a little queue per worker keeps them busy
        self.shared: Any = None
        if shared_key is not None:
            self.shared = self.client.submit(
                _identity, shared_json, key=f"fluxopt-shared-{shared_key[:16]}-{self.run}"
            )
        self.counter = 0

    def submit(self, task_json: str) -> Any:
        self.counter += 1
        return self.client.submit(
            execute,
            self.function,
            task_json,
            self.shared_key,
            self.shared,
            key=f"fluxopt-task-{self.run}-{self.counter}",
            pure=False,
        )

    def wait_any(self, handles: Sequence[Any]) -> list[Any]:
        done, _ = self.distributed.wait(list(handles), return_when="FIRST_COMPLETED")
        return list(done)

    def outcome(self, handle: Any) -> tuple[str, str]:
        if handle.status == "finished":
            return "ok", handle.result()
        error = handle.exception()
        if isinstance(error, self.distributed.KilledWorker):
            return (
                "crash",
                "le processus de calcul Dask s'est arrêté brutalement (plantage ou mémoire insuffisante)",
            )
        return "error", f"erreur Dask ({type(error).__name__} : {error})"

    def recover(self) -> None:
        return None

    def steady(self) -> None:
        """On fluxopt's own local cluster, wait for the nanny to restart a dead worker: a lone retry sent
        while the cluster is still shrinking could be caught by the death of a worker it never caused
        (seen once under load: an innocent task reported failed after two "deaths")."""
        if self.cluster is None:
            return
        with contextlib.suppress(Exception):
            self.client.wait_for_workers(self.workers, timeout=STEADY_TIMEOUT)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()


# --------------------------------------------------------------------------------------------------
# The driver: one loop for every engine
# --------------------------------------------------------------------------------------------------


def default_workers() -> int:
    """As many worker processes as cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def check_task_ids(tasks: Sequence[Task]) -> None:
    seen: set[str] = set()
    for task in tasks:
        if not task.id or not all(c.isalnum() or c in "._-" for c in task.id) or task.id.startswith("."):
            raise ValueError(f"task id is not a safe file name: {task.id!r}")
        if task.id in seen:
            raise ValueError(f"duplicate task id {task.id!r}")
        seen.add(task.id)


@contextlib.contextmanager
def _backend(
    engine: str,
    function: str,
    shared_key: str | None,
    shared_json: str | None,
    workers: int,
    scheduler: str | None,
) -> Iterator[_Backend]:
    backend: _Backend
    if engine == "serial":
        backend = _SerialBackend(function, shared_key, shared_json)
    elif engine == "local":
        backend = _LocalBackend(function, shared_key, shared_json, workers)
    else:
        backend = _DaskBackend(function, shared_key, shared_json, workers, scheduler)
    try:
        yield backend
    except BaseException:
        if isinstance(backend, _LocalBackend):
            backend.kill()
        else:
            backend.close()
        raise
    else:
        backend.close()


def run_tasks(
    function: str,
    tasks: Sequence[Task],
    *,
    shared: Any = None,
    engine: str = "serial",
    workers: int | None = None,
    scheduler: str | None = None,
    results_dir: Path | None = None,
    progress: bool | None = None,
    retries: int = 1,
    label: str = "Calcul",
    on_result: Callable[[str, Any], None] | None = None,
) -> EngineReport:
    """Run `function(payload, shared)` for every task on `engine`; stream each result to `results_dir`.

    Tasks already finished in `results_dir` with the same inputs are loaded, not recomputed. `progress=None`
    shows a bar on stderr only when it is a terminal. Results are keyed by task id, so their order never
    depends on scheduling.
    """
    if engine not in ENGINES:
        raise InputError(f"Moteur inconnu « {engine} » : {', '.join(ENGINES)} attendu.")
    if scheduler is not None and engine != "dask":
        raise InputError("--scheduler ne s'utilise qu'avec --engine dask.")
    check_task_ids(tasks)
    resolve_function(function)  # fail early, here, if the function does not exist
    started = time.perf_counter()
    n_workers = 1 if engine == "serial" else (workers or default_workers())
    shared_json = (
        None if shared is None else json.dumps(shared, ensure_ascii=False, sort_keys=True, allow_nan=False)
    )
    shared_key = None if shared_json is None else hashlib.sha256(shared_json.encode("utf-8")).hexdigest()
    report = EngineReport(engine=engine, workers=n_workers)

    todo: deque[tuple[Task, str, str]] = deque()
    for task in tasks:
        task_json = json.dumps(task.payload, ensure_ascii=False, sort_keys=True, allow_nan=False)
        fingerprint = _fingerprint(function, task_json, shared_key)
        found, result = _load_finished(results_dir, task.id, fingerprint)
        if found:
            report.results[task.id] = result
            report.resumed.append(task.id)
            if on_result is not None:
                on_result(task.id, result)
        else:
            todo.append((task, task_json, fingerprint))
    if results_dir is not None:
        results_dir.mkdir(parents=True, exist_ok=True)
    if not todo:
        report.seconds = time.perf_counter() - started
        return report

    show = sys.stderr.isatty() if progress is None else progress
    bar = _Progress(len(todo), label, show)
    attempts: dict[str, int] = {}
    alone: deque[tuple[Task, str, str]] = deque()  # crashed once: retried one at a time

    def settle(item: tuple[Task, str, str], kind: str, text: str) -> None:
        task, _, fingerprint = item
        if kind == "ok":
            answer = json.loads(text)
            if "error" in answer:
                report.failed[task.id] = answer["error"]
                bar.advance()
                return
            result = answer["ok"]
            result_json = json.dumps(result, ensure_ascii=False, sort_keys=True, allow_nan=False)
            _save(results_dir, task.id, fingerprint, result_json)
            report.results[task.id] = result
            report.computed.append(task.id)
            if on_result is not None:
                on_result(task.id, result)
            bar.advance()
        elif kind == "crash":
            attempts[task.id] = attempts.get(task.id, 0) + 1
            if attempts[task.id] > retries:
                report.failed[task.id] = f"échec après {attempts[task.id]} essais : {text}"
                bar.advance()
            else:
                alone.append(item)
        else:
            report.failed[task.id] = text
            bar.advance()

    try:
        with _backend(engine, function, shared_key, shared_json, n_workers, scheduler) as backend:
            while todo or alone:
                source, capacity = (alone, 1) if alone and not todo else (todo, backend.capacity)
                in_flight: dict[Any, tuple[Task, str, str]] = {}
                while source or in_flight:
                    while source and len(in_flight) < capacity and not backend.broken:
                        if source is alone:
                            backend.steady()
                        item = source.popleft()
                        handle = backend.submit(item[1])
                        if handle is None:  # refused by a broken pool: back in line, uncharged
                            source.appendleft(item)
                            break
                        in_flight[handle] = item
                    if not in_flight:
                        if backend.broken:
                            backend.recover()
                            continue
                        break
                    for handle in backend.wait_any(list(in_flight)):
                        item = in_flight.pop(handle)
                        kind, text = backend.outcome(handle)
                        settle(item, kind, text)
                    if backend.broken and not in_flight:
                        backend.recover()
    finally:
        bar.close()
    report.seconds = time.perf_counter() - started
    return report
