"""The sweep file: a base scenario and its variants, validated with pydantic and located at TOML lines.

```toml
[sweep]
name = "Négociation Cap Habitat 2026"
base = "../cap-habitat"          # scenario folder, relative to this file
seed = 2026                      # base seed of the Monte-Carlo draws
runs = 0                         # Monte-Carlo years per variant (--runs overrides)
model = "minimum-legal"          # optional: model of the variants that name none (default: the base's)
time_limit = 20                  # optional: seconds per variant plan (default: the model's)
replay = "simple"                # Monte-Carlo replay: "simple" (fast) or "fluxopt" (weekly re-planning)
pacing = false                   # true: also pace each variant's plan month by month (slower)

[[variants]]
id = "demandes"
label = "Préfet 30 %, Action Logement 28 %, communes 20 %"
shares = { "ETAT-PRIO-*" = 25, "ETAT-FONC-*" = 5, "AL-*" = 28, "COM-*" = 20 }
scopes = { "AL-94" = { kind = "communes", communes = ["94041"] } }
legal = { prefet_min_outside_qpv = false }     # a legal reading switched off (or a number)
turnover = "-10 %"                            # every turnover rate −10 %
exclusions = { anru = 0 }                     # forecast exclusions replaced
model = "minimum-legal"                       # another optimisation model
remove = ["EMP-TRANSPORT-NAN"]                 # conventions dropped
add = [{ id = "CD93-NEW", reservataire = "CD93", share = 5, scope = { kind = "departement", departement = "93" } }]
reservataires = [{ id = "CD93", name = "Département de la Seine-Saint-Denis", kind = "collectivite" }]

[[grids]]                        # every combination of the listed values is a variant
id = "al-communes"
shares = { "AL-*" = [20, 24, 28], "COM-*" = [15, 20, 25] }
turnover = ["-10 %", "0 %", "+10 %"]
```
Share keys are convention ids or shell patterns (`AL-*`); an exact id wins over a pattern; a key matching
no convention is an error located at its line.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from fluxopt.domain.enums import ExclusionCategory
from fluxopt.domain.scenario import (
    Convention,
    Identifier,
    Percent,
    Reservataire,
    Scope,
)
from fluxopt.errors import InputError, ProblemList
from fluxopt.io.config import french_message, key_lines, line_of, parse_toml, render_loc

MAX_RUNS = 100_000
MAX_VARIANTS = 10_000


def parse_change(value: object) -> object:
    """A relative change in percent: `-10`, `"-10 %"`, `"+5,5 %"`, `"−10 %"` (typographic minus) → -10.0."""
    if isinstance(value, bool):
        raise ValueError("une variation en % est attendue, par exemple « -10 % »")
    if isinstance(value, str):
        text = (
            value.strip().replace("\u2212", "-").replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
        )
        text = text.removesuffix("%").replace(",", ".")
        if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", text):
            raise ValueError("une variation en % est attendue, par exemple « -10 % » ou « +5 % »")
        return float(text)
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Change = Annotated[float, BeforeValidator(parse_change), Field(gt=-90, le=300)]


class SweepInfo(_Strict):
    name: str = Field(min_length=1)
    base: str = Field(min_length=1)
    seed: int = Field(default=2026, ge=0, lt=2**63)
    runs: int = Field(default=0, ge=0, le=MAX_RUNS)
    description: str = ""
    model: str | None = None  # optimisation model of every variant that names none (default: the base's)
    time_limit: float | None = Field(default=None, gt=0, le=3600)  # seconds per variant plan
    replay: Literal["simple", "fluxopt"] = "simple"  # Monte-Carlo replay (see fluxopt.sweep.montecarlo)
    pacing: bool = False  # also pace each plan month by month (slower; the sweep compares years)


class LegalSwitch(_Strict):
    """Legal readings a variant changes; `prefet_min_outside_qpv = false` switches the minimum off."""

    prefet_uniform_per_commune: bool | None = None
    prefet_min_outside_qpv: Literal[False] | Percent | None = None


class Variant(_Strict):
    id: Identifier
    label: str = ""
    shares: dict[str, Percent] = Field(default_factory=dict)
    scopes: dict[str, Scope] = Field(default_factory=dict)
    legal: LegalSwitch | None = None
    turnover: Change = 0.0
    exclusions: dict[ExclusionCategory, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    model: str | None = None
    remove: tuple[str, ...] = ()
    add: tuple[Convention, ...] = ()
    reservataires: tuple[Reservataire, ...] = ()


class Grid(_Strict):
    id: Identifier
    label: str = ""
    shares: dict[str, tuple[Percent, ...]] = Field(default_factory=dict)
    turnover: tuple[Change, ...] = (0.0,)
    legal: LegalSwitch | None = None
    exclusions: dict[ExclusionCategory, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    model: str | None = None

    @model_validator(mode="after")
    def _non_empty(self) -> Grid:
        if any(len(v) == 0 for v in self.shares.values()) or not self.turnover:
            raise ValueError("chaque liste de valeurs d'une grille doit avoir au moins une valeur")
        return self


class SweepFile(_Strict):
    sweep: SweepInfo
    variants: tuple[Variant, ...] = ()
    grids: tuple[Grid, ...] = ()


@dataclass(frozen=True)
class VariantSpec:
    """One variant, grids expanded, with where it was written (for messages)."""

    variant: Variant
    loc: tuple[str | int, ...]  # ("variants", i) or ("grids", i)
    line: int | None


@dataclass(frozen=True)
class Sweep:
    """A validated sweep file: its settings, the base scenario's folder and the variants in file order."""

    path: Path
    display: str
    info: SweepInfo
    base: Path
    variants: tuple[VariantSpec, ...]
    lines: Mapping[tuple[str | int, ...], int]

    def line(self, loc: Sequence[str | int]) -> int | None:
        return line_of(tuple(loc), dict(self.lines))


def _grid_variants(grid: Grid, index: int, lines: Mapping[tuple[str | int, ...], int]) -> list[VariantSpec]:
    keys = list(grid.shares)
    out: list[VariantSpec] = []
    combos = itertools.product(*(grid.shares[k] for k in keys), grid.turnover)
    for n, combo in enumerate(combos, start=1):
        shares = dict(zip(keys, combo[:-1], strict=True))
        change = combo[-1]
        parts = [f"{k} {v:g} %" for k, v in shares.items()]
        if len(grid.turnover) > 1 or change:
            parts.append(f"rotation {change:+g} %")
        label = (grid.label + " — " if grid.label else "") + ", ".join(parts)
        variant = Variant(
            id=f"{grid.id}-{n:03d}",
            label=label,
            shares=shares,
            legal=grid.legal,
            turnover=change,
            exclusions=grid.exclusions,
            model=grid.model,
        )
        out.append(VariantSpec(variant, ("grids", index), line_of(("grids", index), dict(lines))))
    return out


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file; every problem is reported at once with its line."""
    target = Path(path)
    display = target.name
    if not target.is_file():
        raise InputError(f"Fichier de variantes introuvable : {target}")
    parsed, text = parse_toml(target, display)
    lines = key_lines(text)
    try:
        data = SweepFile.model_validate(parsed)
    except ValidationError as error:
        problems = ProblemList()
        for item in error.errors(include_url=False):
            loc = tuple(p for p in item.get("loc", ()) if isinstance(p, str | int))
            shown = item.get("input") if item.get("type") != "missing" else None
            received = None if isinstance(shown, dict | list | tuple) else shown
            problems.add(
                display, line_of(loc, lines), render_loc(loc) or None, french_message(item), received
            )
        raise InputError("Fichier de variantes invalide.", problems.problems) from None
    specs: list[VariantSpec] = [
        VariantSpec(v, ("variants", i), line_of(("variants", i), lines)) for i, v in enumerate(data.variants)
    ]
    for i, grid in enumerate(data.grids):
        specs.extend(_grid_variants(grid, i, lines))
    problems = ProblemList()
    if not specs:
        problems.add(
            display, None, "variants", "aucune variante : ajoutez au moins un [[variants]] ou un [[grids]]"
        )
    if len(specs) > MAX_VARIANTS:
        problems.add(display, None, "grids", f"{len(specs)} variantes : au plus {MAX_VARIANTS} par fichier")
    seen: dict[str, int | None] = {}
    for spec in specs:
        if spec.variant.id in seen:
            problems.add(
                display,
                spec.line,
                render_loc((*spec.loc, "id")),
                f"identifiant de variante en double (déjà utilisé ligne {seen[spec.variant.id]})",
                spec.variant.id,
            )
        seen.setdefault(spec.variant.id, spec.line)
    problems.raise_if_any("Fichier de variantes invalide.")
    base = (target.parent / data.sweep.base).resolve()
    return Sweep(target, display, data.sweep, base, tuple(specs), lines)


def match_conventions(key: str, ids: Sequence[str]) -> list[str]:
    """Convention ids a share key names: the id itself, or those matching a shell pattern."""
    if any(ch in key for ch in "*?["):
        return [c for c in ids if fnmatch.fnmatchcase(c, key)]
    return [key] if key in ids else []


def resolve_shares(
    shares: Mapping[str, float], ids: Sequence[str]
) -> tuple[dict[str, float], list[tuple[str, str]]]:
    """Convention id → new share, and (key, French problem) for keys that match nothing or clash."""
    out: dict[str, float] = {}
    by_pattern: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    for key, value in shares.items():
        matched = match_conventions(key, ids)
        if not matched:
            problems.append(
                (key, f"convention inconnue « {key} » (conventions du scénario : {', '.join(ids)})")
            )
            continue
        exact = matched == [key]
        for cid in matched:
            if exact:
                out[cid] = value
                by_pattern[cid] = key
            elif cid in by_pattern and by_pattern[cid] != cid:
                problems.append(
                    (key, f"la convention {cid} est visée par « {by_pattern[cid]} » et « {key} »")
                )
            elif cid not in by_pattern:
                out[cid] = value
                by_pattern[cid] = key
    return out, problems


def variant_dict(variant: Variant) -> dict[str, Any]:
    """The variant as plain values (for the task payload and the outputs)."""
    return variant.model_dump(mode="json", exclude_defaults=True)
