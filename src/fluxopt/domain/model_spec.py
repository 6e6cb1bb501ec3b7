"""The optimisation model a `models/*.toml` file describes: objective levels, pacing and solver settings.

A model file never contains data: it says *what to optimise, in which order*. Levels are optimised in the
order listed (lexicographic: solve a level, bound its value, keep the plan as a hint, solve the next) or
all at once with their weights (``mode = "weighted"``). Legal rules are hard constraints whenever the
scenario turns them on (``legal = "hard"``), or only reported (``legal = "report"``).
Pacing (*rythme*) is the split of the annual plan over the months: it never changes the annual counts,
so it is solved after the annual levels whatever its place in the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fluxopt.errors import InputError

#: the row kinds a level may optimise (French words, as in objectifs.csv)
LEVEL_KINDS = ("total", "representativite", "souhait")
SHIPPED = ("equilibre", "minimum-legal", "equilibre-strict", "rythme-strict")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Level(_Strict):
    """One objective level: the sum (or the maximum) of the deviations of some kinds of rows."""

    name: str = Field(min_length=1)
    rows: tuple[str, ...] = Field(min_length=1)
    objective: Literal["sum", "max"] = "sum"
    weight: float = Field(default=1.0, gt=0)  # used when mode = "weighted"
    tolerance: float = Field(default=0.0, ge=0)  # lexicographic: slack (dwellings) allowed when bounding

    @field_validator("rows")
    @classmethod
    def _kinds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for kind in value:
            if kind == "rythme":
                raise ValueError("le rythme se règle dans [pacing], pas dans un niveau")
            if kind not in LEVEL_KINDS:
                raise ValueError(f"type de lignes inconnu « {kind} » (attendu : {', '.join(LEVEL_KINDS)})")
        return value


class Pacing(_Strict):
    """Monthly split of the annual plan: cumulative counts close to share × cumulative base."""

    enabled: bool = True
    period: Literal["month"] = "month"
    #: "annual-split": the annual levels month-blind, then split over the months (levels proven);
    #: "monthly": month by month, each month's designations optimised on the rows to date with the past
    #: fixed (pacing close to the rounding, annual levels not proven)
    method: Literal["annual-split", "monthly"] = "annual-split"


class SolverSpec(_Strict):
    backend: Literal["highs", "cp-sat", "scip"] = "highs"
    time_limit: float = Field(default=60.0, gt=0)  # seconds for the whole plan
    seed: int = Field(default=0, ge=0)
    relative_gap: float = Field(default=1e-6, ge=0, lt=1)


class Weekly(_Strict):
    """The weekly decision (`designate`, and `simulate`'s fluxopt policy): one weighted solve per week.

    Deviations are on the base seen so far, in dwellings. Defaults chosen on 100 simulated Cap Habitat
    years (README, "Every week: `fluxopt designate`"): every convention within ±1 at year end in 96 % of
    the years, no row beyond 2 dwellings in 99 % and 1.2 of 25 legal rows broken a year (seed 0); raising
    `tail_weight`, the all-year tiers or `legal_margin_days` keeps more rows within `row_limit` (or more
    legal rows met) and misses ±1 on totals more often (measured there).
    """

    #: weight of a total or legal row against a representativeness (or wish) row
    total_weight: float = Field(default=10.0, gt=0)
    #: convex tiers (threshold, extra weight) on totals and representativeness rows: the part of a deviation
    #: beyond `threshold` dwellings costs `extra weight` × the row's weight more
    tiers: tuple[tuple[float, float], ...] = ((1.0, 3.0), (1.8, 30.0))
    #: year-end deviation of a row beyond which the late carences' tail is priced (dwellings)
    row_limit: float = Field(default=2.0, gt=0)
    #: weight of the expected part of a representativeness row beyond `row_limit`, below or above its
    #: target, once its late offers' carences are drawn (0: only the mean loss is anticipated)
    tail_weight: float = Field(default=300.0, ge=0)
    #: carences whose news would come in the last this many days of the year are anticipated
    late_days: int = Field(default=35, ge=0, le=366)
    #: relative optimality gap of each weekly solve
    relative_gap: float = Field(default=0.005, ge=0, lt=1)
    #: in the year's last `closing_days` days, `closing_tiers` are added to `tiers`: a running deviation is
    #: then nearly the year-end one, so a row beyond the issue's 2 dwellings is priced as final
    closing_days: int = Field(default=31, ge=0, le=366)
    closing_tiers: tuple[tuple[float, float], ...] = ((2.0, 300.0),)
    #: in the year's last `legal_margin_days` days (366: all year; 0: never), one-sided legal rows (a
    #: minimum, a maximum) aim at their nearest lawful whole count rather than their fractional target
    #: (`fluxopt.replan.legal_margins`)
    legal_margin_days: int = Field(default=31, ge=0, le=366)

    @field_validator("tiers", "closing_tiers")
    @classmethod
    def _tiers(cls, value: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        thresholds = [t for t, _ in value]
        if any(t < 0 for t in thresholds) or any(w < 0 for _, w in value):
            raise ValueError("seuils et poids des paliers doivent être positifs ou nuls")
        if thresholds != sorted(set(thresholds)):
            raise ValueError("les seuils des paliers doivent être strictement croissants")
        return value

    def tiers_on(self, days_left: int | None) -> tuple[tuple[float, float], ...]:
        """The tiers of a week with `days_left` days to the year end (None: no date, the plain tiers)."""
        if days_left is not None and days_left < self.closing_days:
            return self.tiers + self.closing_tiers
        return self.tiers

    def margins_on(self, days_left: int | None) -> bool:
        """Whether a week with `days_left` days to the year end aims legal minima and maxima at their
        lawful whole count (None: no date, as a week of the year's start)."""
        return self.legal_margin_days > (365 if days_left is None else days_left)


class ModelSpec(_Strict):
    """A parsed models/ file."""

    name: str = Field(min_length=1)
    description: str = ""
    mode: Literal["lexicographic", "weighted"] = "lexicographic"
    legal: Literal["hard", "report"] = "hard"
    levels: tuple[Level, ...] = Field(min_length=1)
    pacing: Pacing = Pacing()
    solver: SolverSpec = SolverSpec()
    weekly: Weekly = Weekly()


def models_dirs() -> list[Path]:
    """Where shipped model files live: the package's `models/`, else the source tree's top-level `models/`."""
    here = Path(__file__).resolve()
    return [here.parents[1] / "models", here.parents[3] / "models"]


def resolve_model(name_or_path: str, scenario_folder: Path | None = None) -> Path:
    """Path of a model given by shipped name or by path (relative to the scenario folder, or to the cwd)."""
    if name_or_path in SHIPPED or (not name_or_path.endswith(".toml") and "/" not in name_or_path):
        for folder in models_dirs():
            candidate = folder / f"{name_or_path}.toml"
            if candidate.is_file():
                return candidate
        raise InputError(
            f"Modèle inconnu « {name_or_path} » : modèles fournis : {', '.join(SHIPPED)}, "
            "ou donnez le chemin d'un fichier .toml."
        )
    path = Path(name_or_path)
    candidates = [path] if path.is_absolute() else [Path.cwd() / path]
    if scenario_folder is not None and not path.is_absolute():
        candidates.insert(0, scenario_folder / path)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise InputError(f"Fichier de modèle introuvable : {name_or_path}")


def load_model_spec(name_or_path: str, scenario_folder: Path | None = None) -> tuple[ModelSpec, Path, bytes]:
    """Read and validate a model file; returns the spec, its path and its bytes (for the manifest hash)."""
    from fluxopt.io.config import model_file_problems  # io reads files; imported late to keep layers apart

    path = resolve_model(name_or_path, scenario_folder)
    spec, problems = model_file_problems(path)
    if spec is None:
        raise InputError(f"Le fichier de modèle {path.name} est invalide.", problems)
    return spec, path, path.read_bytes()
