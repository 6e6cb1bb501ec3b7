"""`load_scenario`: THE entry point that turns a scenario folder into a validated, immutable `Scenario`.

A scenario is a folder holding `scenario.toml` and the tables it names by relative paths; paths may not
leave the folder (no `..`, no absolute path, no symlink pointing outside), so a folder copied or e-mailed
anywhere behaves the same. Every problem — TOML schema, unreadable files, bad cells, broken rules — is
collected and raised at once as one `InputError`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from fluxopt.domain.scenario import Scenario, ScenarioConfig
from fluxopt.domain.tables import Designations, Stock, Vacancies
from fluxopt.errors import InputError, Problem, ProblemList
from fluxopt.io.config import key_lines, load_config, parse_toml
from fluxopt.io.readers import (
    DESIGNATIONS,
    STOCK,
    TURNOVER,
    VACANCIES,
    build_designations,
    build_stock,
    build_turnover,
    build_vacancies,
)
from fluxopt.io.table import read_table

SCENARIO_FILE = "scenario.toml"

#: Turnover derived from lease dates (docs/formats.md): per programme, the share of dwellings whose current
#: lease started in the 3 years before 1 January of the scenario year, divided by 3, kept within
#: [MIN, MAX]; programmes with fewer than `DERIVED_TURNOVER_MIN_DWELLINGS` dated leases keep the scenario rate.
DERIVED_TURNOVER_YEARS = 3
DERIVED_TURNOVER_MIN_DWELLINGS = 20
DERIVED_TURNOVER_MIN = 0.01
DERIVED_TURNOVER_MAX = 0.25

Warn = Callable[[str], None]


def _stderr(message: str) -> None:
    sys.stderr.write(message + "\n")


@contextlib.contextmanager
def _paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of small strings and lists are created.

    Reading builds no reference cycles; without the pause CPython re-scans the growing heap again and
    again, which doubles the time to load a 500,000-row stock.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --------------------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------------------


def scenario_file(path: str | Path) -> Path:
    """`scenario.toml` of a scenario folder (or the file itself when given)."""
    target = Path(path)
    if target.is_dir():
        return target / SCENARIO_FILE
    return target


def resolve_inside(folder: Path, relative: str) -> tuple[Path | None, str | None]:
    """(path, None) when `relative` stays inside `folder`, else (None, French reason)."""
    text = relative.strip()
    if not text:
        return None, "chemin vide"
    if re.match(r"^[A-Za-z]:[\\/]", text) or text.startswith(("/", "\\", "~")):
        return None, "chemin absolu refusé : donnez un chemin relatif au dossier du scénario"
    pure = PurePosixPath(text.replace("\\", "/"))
    if ".." in pure.parts:
        return None, "chemin refusé : « .. » sortirait du dossier du scénario"
    full = folder.joinpath(*pure.parts)
    try:
        resolved = full.resolve()
        base = folder.resolve()
    except (OSError, RuntimeError):
        return None, "chemin illisible (boucle de liens symboliques ?)"
    if resolved != base and base not in resolved.parents:
        return None, "chemin refusé : un lien symbolique sort du dossier du scénario"
    return full, None


# --------------------------------------------------------------------------------------------------
# Models (models/*.toml): shipped names or a path inside the folder
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRef:
    """An optimisation model file resolved for a scenario: its name, where it is, its hash and content."""

    name: str
    path: Path
    sha256: str
    data: dict[str, Any]
    text: str


def shipped_model_dirs(folder: Path | None = None) -> list[Path]:
    """Where shipped models are looked for, in order: beside the scenario, the repository, the package."""
    package = Path(__file__).resolve().parent.parent  # src/fluxopt
    candidates: list[Path] = []
    if folder is not None:
        candidates += [folder / "models", folder.parent / "models", folder.parent.parent / "models"]
    candidates += [package.parent.parent / "models", package / "models"]
    out: list[Path] = []
    for candidate in candidates:
        if candidate.is_dir() and candidate.resolve() not in [o.resolve() for o in out]:
            out.append(candidate)
    return out


def shipped_models(folder: Path | None = None) -> dict[str, Path]:
    """Model name → file, the first directory in `shipped_model_dirs` winning."""
    found: dict[str, Path] = {}
    for directory in shipped_model_dirs(folder):
        for file in sorted(directory.glob("*.toml")):
            found.setdefault(file.stem, file)
    return dict(sorted(found.items()))


def resolve_model(folder: Path, model: str) -> tuple[Path | None, str | None]:
    """The file of `model` (a shipped name, or a path inside the folder), or (None, reason)."""
    if "/" in model or "\\" in model or model.endswith(".toml"):
        path, why = resolve_inside(folder, model)
        if path is None:
            return None, why
        if not path.is_file():
            return None, f"fichier de modèle introuvable dans le dossier du scénario : {model}"
        return path, None
    models = shipped_models(folder)
    if model in models:
        return models[model], None
    names = ", ".join(models) or "aucun modèle installé"
    return (
        None,
        f"modèle inconnu : « {model} » (modèles fournis : {names} ; ou un chemin vers un fichier .toml du dossier)",
    )


def load_model_ref(scenario: Scenario) -> ModelRef:
    """Resolve and parse the scenario's optimisation model; errors are `InputError`s with a line."""
    name = scenario.config.scenario.model
    path, why = resolve_model(scenario.folder, name)
    if path is None:
        raise InputError(
            "Modèle d'optimisation introuvable.",
            [Problem(SCENARIO_FILE, None, "scenario.model", why or "", name)],
        )
    data, text = parse_toml(path, path.name)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return ModelRef(name=path.stem, path=path, sha256=digest, data=data, text=text)


# --------------------------------------------------------------------------------------------------
# Turnover derived from lease dates
# --------------------------------------------------------------------------------------------------


def derive_turnover(stock: Stock, year: int, known: dict[str, float]) -> dict[str, float]:
    """Per-programme yearly turnover from current lease start dates, for programmes without a given rate.

    Rate = (dwellings whose lease started in the `DERIVED_TURNOVER_YEARS` years before 1 January of `year`)
    / (dwellings with a lease date) / `DERIVED_TURNOVER_YEARS`, clipped to [1 %, 25 %]. Only dwellings in
    the flux count; programmes with fewer than 20 dated leases are left out (the scenario rate applies).
    """
    lease = stock.lease_start
    if len(stock) == 0 or not np.any(~np.isnat(lease)):
        return {}
    reference = np.datetime64(dt.date(year, 1, 1), "D")
    start = np.datetime64(dt.date(year - DERIVED_TURNOVER_YEARS, 1, 1), "D")
    usable = (~np.isnat(lease)) & (stock.out_of_flux < 0) & (lease < reference)
    recent = usable & (lease >= start)
    count = np.bincount(stock.programme[usable], minlength=len(stock.programmes))
    moved = np.bincount(stock.programme[recent], minlength=len(stock.programmes))
    out: dict[str, float] = {}
    for code, label in enumerate(stock.programmes):
        if label in known or count[code] < DERIVED_TURNOVER_MIN_DWELLINGS:
            continue
        rate = moved[code] / count[code] / DERIVED_TURNOVER_YEARS
        out[label] = round(float(min(max(rate, DERIVED_TURNOVER_MIN), DERIVED_TURNOVER_MAX)), 4)
    return out


def effective_turnover(scenario: Scenario) -> np.ndarray:
    """Yearly turnover of every dwelling: its own rate, else its programme's (file or lease-derived), else
    the scenario's `forecast.turnover_rate`."""
    stock = scenario.stock
    default = scenario.config.forecast.turnover_rate
    per_programme = np.array(
        [scenario.programme_turnover.get(p, default) for p in stock.programmes], dtype=np.float64
    )
    rates = per_programme[stock.programme] if len(stock) else np.zeros(0)
    own = stock.turnover
    return np.where(np.isnan(own), rates, own)


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------


def load_scenario(path: str | Path, check: bool = True, warn: Warn | None = None) -> Scenario:
    """Load the scenario folder (or its scenario.toml) at `path`.

    Raises one `InputError` listing every problem. With `check=False` the logical and legal rules of
    `fluxopt.validate` are not applied (files must still be readable), for tools that want to inspect.
    Warnings (such as ignored personal-data columns) go to `warn` (default: stderr).
    """
    with _paused_gc():
        scenario = _load(path, warn or _stderr)
    if check:
        from fluxopt.validate import validate

        found = validate(scenario, scenario_file(path).name)
        if found:
            raise InputError(f"Le scénario {scenario.folder} enfreint des règles ({len(found)}) :", found)
    return scenario


def _load(path: str | Path, emit: Warn) -> Scenario:
    toml_path = scenario_file(path)
    if toml_path.is_file() and toml_path.suffix.lower() != ".toml":
        raise InputError(
            f"{toml_path.name} n'est pas un fichier de scénario : donnez le dossier du scénario ou son {SCENARIO_FILE}."
        )
    if not toml_path.exists():
        where = Path(path)
        if not where.exists():
            raise InputError(f"Scénario introuvable : {where} n'existe pas.")
        raise InputError(
            f"Pas de {SCENARIO_FILE} dans {where} : un scénario est un dossier contenant {SCENARIO_FILE}."
        )
    folder = toml_path.parent
    config = load_config(toml_path, toml_path.name)
    text = toml_path.read_bytes()
    hashes: dict[str, str] = {toml_path.name: hashlib.sha256(text).hexdigest()}
    lines = key_lines(text.decode("utf-8-sig", errors="replace"))
    problems = ProblemList()

    def locate(field: str, relative: str | None) -> Path | None:
        if relative is None:
            return None
        full, why = resolve_inside(folder, relative)
        if full is None:
            problems.add(toml_path.name, lines.get(("files", field)), f"files.{field}", why or "", relative)
            return None
        if not full.is_file():
            problems.add(
                toml_path.name,
                lines.get(("files", field)),
                f"files.{field}",
                "c'est un dossier, pas un fichier"
                if full.is_dir()
                else "ce n'est pas un fichier ordinaire (tube ou périphérique)"
                if full.exists()
                else "fichier introuvable dans le dossier du scénario",
                relative,
            )
            return None
        return full

    files = config.files
    stock_path = locate("stock", files.stock)
    turnover_path = locate("turnover", files.turnover)
    vacancies_path = locate("vacancies", files.vacancies)
    designations_path = locate("designations", files.designations)

    model_path, _ = resolve_model(folder, config.scenario.model)  # an unknown model is a rule of validate()
    if model_path is not None:
        key = model_path.name if model_path.is_relative_to(folder) else f"models/{model_path.name}"
        hashes[key] = hashlib.sha256(model_path.read_bytes()).hexdigest()

    def name_of(field: str, full: Path) -> str:
        relative = getattr(files, field)
        return str(PurePosixPath(relative.replace("\\", "/"))) if relative else full.name

    stock: Stock | None = None
    if stock_path is not None:
        raw = read_table(stock_path, name_of("stock", stock_path), STOCK, problems, emit)
        if raw is not None:
            hashes[raw.file] = raw.sha256
            stock = build_stock(raw, problems)
            if len(stock) == 0:
                problems.add(raw.file, None, None, "patrimoine vide : au moins un logement est attendu")
            if not raw.has("programme"):
                emit(
                    f"Avertissement : {raw.file} : pas de colonne « programme » ; les logements sont regroupés "
                    "par commune et année de construction."
                )
    turnover: dict[str, float] = {}
    if turnover_path is not None:
        raw = read_table(turnover_path, name_of("turnover", turnover_path), TURNOVER, problems, emit)
        if raw is not None:
            hashes[raw.file] = raw.sha256
            turnover = build_turnover(raw, problems, stock.programmes if stock is not None else None)
    vacancies = Vacancies.empty()
    designations = Designations.empty()
    if stock is not None:
        if vacancies_path is not None:
            raw = read_table(vacancies_path, name_of("vacancies", vacancies_path), VACANCIES, problems, emit)
            if raw is not None:
                hashes[raw.file] = raw.sha256
                vacancies = build_vacancies(raw, stock, problems)
        if designations_path is not None:
            raw = read_table(
                designations_path, name_of("designations", designations_path), DESIGNATIONS, problems, emit
            )
            if raw is not None:
                hashes[raw.file] = raw.sha256
                designations = build_designations(raw, stock, problems)
    problems.raise_if_any(f"Le scénario {folder} contient des erreurs ({len(problems)}) :")
    assert stock is not None
    derived = derive_turnover(stock, config.scenario.year, turnover)
    programme_turnover = dict(sorted({**turnover, **derived}.items()))
    return Scenario(
        config=config,
        stock=stock,
        vacancies=vacancies,
        designations=designations,
        folder=folder,
        programme_turnover=programme_turnover,
        input_hashes=dict(sorted(hashes.items())),
    )


def with_config(scenario: Scenario, config: ScenarioConfig) -> Scenario:
    """The same scenario with another configuration (variants); tables are shared, never copied."""
    return replace(scenario, config=config)
