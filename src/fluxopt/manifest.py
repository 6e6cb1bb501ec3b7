"""Run manifest (`manifest.json`), written by every command beside its outputs.

It records what is needed to reproduce and to trust a run: input files and their SHA-256, parameters,
fluxopt / OR-Tools / Python versions, solver and seed, status, objective, bound, gap. Everything that
changes from one identical run to the next — start and end timestamps, durations — is kept in ONE field,
`execution`, so that two runs can be compared byte for byte without it (`stable_view`, `stable_json`).
Keys are written in a fixed order and floats are rounded, so the same inputs give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fluxopt import __version__

#: the only field whose content differs between two identical runs
VOLATILE_FIELD = "execution"
FORMAT = 1


def ortools_version() -> str:
    """OR-Tools' version, from the package itself (the installed metadata says the same:
    tests/test_cli_french.py checks it), without scanning site-packages for it."""
    import ortools

    return str(ortools.__version__)  # type: ignore[attr-defined]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _clean(value: Any) -> Any:
    """JSON-friendly, deterministic: floats rounded to 9 significant digits, NaN/inf → null."""
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return float(f"{value:.9g}")
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, Path):
        return value.as_posix()
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return _clean(value.item())
    return value


@dataclass
class RunManifest:
    """Collects a command's facts; `to_json()` renders them deterministically."""

    command: str
    parameters: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)  # file name → sha256
    scenario: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    solver: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    status: str = "inconnu"
    outputs: list[str] = field(default_factory=list)
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    _t0: float = field(default_factory=time.perf_counter)
    durations: dict[str, float] = field(default_factory=dict)
    finished_at: dt.datetime | None = None

    @classmethod
    def for_scenario(cls, command: str, scenario: Any, **parameters: Any) -> RunManifest:
        """A manifest pre-filled from a loaded `Scenario` (name, year, folder name, input hashes)."""
        manifest = cls(command=command, parameters=dict(parameters))
        manifest.inputs = dict(sorted(getattr(scenario, "input_hashes", {}).items()))
        config = scenario.config
        manifest.scenario = {
            "nom": config.scenario.name,
            "annee": config.scenario.year,
            "bailleur": config.scenario.bailleur,
            "dossier": Path(scenario.folder).name,
        }
        return manifest

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage of the run (kept in the volatile field)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.durations[name] = self.durations.get(name, 0.0) + time.perf_counter() - start

    def finish(self, status: str) -> None:
        self.status = status
        self.finished_at = dt.datetime.now(dt.UTC)
        self.durations["total"] = time.perf_counter() - self._t0

    def as_dict(self) -> dict[str, Any]:
        return _clean(
            {
                "format": FORMAT,
                "commande": self.command,
                "versions": {
                    "fluxopt": __version__,
                    "ortools": ortools_version(),
                    "python": platform.python_version(),
                },
                "scenario": self.scenario,
                "entrees": dict(sorted(self.inputs.items())),
                "parametres": dict(sorted(self.parameters.items())),
                "modele": self.model,
                "solveur": self.solver,
                "statut": self.status,
                "resultats": self.results,
                "sorties": sorted(self.outputs),
                VOLATILE_FIELD: {
                    "debut": self.started_at.isoformat(timespec="seconds"),
                    "fin": (self.finished_at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
                    "durees_s": {k: round(v, 3) for k, v in sorted(self.durations.items())},
                },
            }
        )

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2) + "\n"


def stable_view(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest without its volatile field: equal for two identical runs."""
    return {k: v for k, v in manifest.items() if k != VOLATILE_FIELD}


def stable_json(text: str) -> str:
    """`manifest.json` text → canonical JSON of its stable view (for byte-identity checks)."""
    return json.dumps(stable_view(json.loads(text)), ensure_ascii=False, indent=2, sort_keys=True)
