"""Scenario configuration (`scenario.toml`) as pydantic models, and the assembled `Scenario`.

Small, nested settings are pydantic models (`extra="forbid"`: a misspelt key is an error, not a silent
default). The large tables (stock, vacancies, designations) are columnar arrays in `tables.py`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from fluxopt.domain.enums import (
    BAILLEUR,
    Contingent,
    Dimension,
    ExclusionCategory,
    ReservataireKind,
)
from fluxopt.domain.tables import Designations, Stock, Vacancies


def parse_percent(value: object) -> object:
    """Read a share written as `30`, `30.5`, `"30 %"`, `"30,5"` or `"0,3 %"` into percent.

    A bare number strictly between 0 and 1 (`0.3`) is refused as ambiguous: 0.3 % or 30 %?
    """
    if isinstance(value, bool):
        raise ValueError("un pourcentage est attendu, pas un booléen")
    explicit = False
    if isinstance(value, str):
        text = value.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
        if text.endswith("%"):
            explicit = True
            text = text[:-1]
        text = text.replace(",", ".")
        if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", text):
            raise ValueError("un pourcentage est attendu, par exemple 30 ou « 30 % »")
        value = float(text)
    if isinstance(value, int | float):
        number = float(value)
        if not explicit and 0 < number < 1:
            raise ValueError(
                f"part ambiguë : {number} — écrivez {number * 100:g} pour {number * 100:g} %, "
                f"ou « {number:g} % » s'il s'agit bien de {number:g} %"
            )
        return number
    return value


Percent = Annotated[float, BeforeValidator(parse_percent), Field(ge=0, le=100)]
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scope(_Strict):
    """Which dwellings a convention applies to: a whole département, some communes, or some programmes."""

    kind: Literal["departement", "communes", "programmes"]
    departement: str | None = Field(default=None, pattern=r"^(\d{2}|2A|2B|97\d)$")
    communes: tuple[str, ...] = ()
    programmes: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Scope:
        if self.kind == "departement" and not self.departement:
            raise ValueError(
                'une portée « departement » doit donner le code du département (departement = "92")'
            )
        if self.kind == "communes" and not self.communes:
            raise ValueError("une portée « communes » doit lister au moins une commune (codes INSEE)")
        if self.kind == "programmes" and not self.programmes:
            raise ValueError("une portée « programmes » doit lister au moins un programme")
        return self


class Wish(_Strict):
    """A representativeness wish: a minimum (or maximum) share of some dimension values."""

    dimension: Dimension
    values: tuple[str, ...] = Field(min_length=1)
    min_share: Percent | None = None
    max_share: Percent | None = None

    @model_validator(mode="after")
    def _bounded(self) -> Wish:
        if self.min_share is None and self.max_share is None:
            raise ValueError("un souhait doit fixer min_share ou max_share")
        if self.min_share is not None and self.max_share is not None and self.min_share > self.max_share:
            raise ValueError("min_share dépasse max_share")
        return self


class Reservataire(_Strict):
    """A stakeholder holding reservation rights (réservataire)."""

    id: Identifier
    name: str = Field(min_length=1)
    kind: ReservataireKind


class Convention(_Strict):
    """A convention de réservation: a share of the flux of a scope, and how it is counted."""

    id: Identifier
    reservataire: Identifier
    share: Percent
    scope: Scope
    contingent: Contingent | None = None
    counts_no_candidate: bool = True  # carence imputée au réservataire
    start: dt.date | None = None
    end: dt.date | None = None
    balance: tuple[Dimension, ...] = ()
    wishes: tuple[Wish, ...] = ()

    @model_validator(mode="after")
    def _dates(self) -> Convention:
        if self.start and self.end and self.start > self.end:
            raise ValueError("la date de fin précède la date de début")
        if self.id == BAILLEUR:
            raise ValueError(f"« {BAILLEUR} » est réservé au bailleur")
        return self

    def active_on(self, day: dt.date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)


class LegalRules(_Strict):
    """Switchable readings of R441-5-2 (domain.md §3)."""

    prefet_uniform_per_commune: bool = True
    prefet_min_outside_qpv: Percent | None = 30.0


class Forecast(_Strict):
    """Inputs of the flux-base forecast."""

    turnover_rate: float = Field(default=0.06, gt=0, lt=1)
    seasonality: tuple[float, ...] = (1.0,) * 12
    exclusions: dict[ExclusionCategory, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _shape(self) -> Forecast:
        if len(self.seasonality) != 12:
            raise ValueError(
                f"seasonality doit avoir 12 valeurs (janvier à décembre), pas {len(self.seasonality)}"
            )
        if not all(math.isfinite(w) for w in self.seasonality):  # TOML allows nan and inf
            raise ValueError("les poids de seasonality doivent être des nombres finis (ni nan ni inf)")
        if any(w < 0 for w in self.seasonality) or sum(self.seasonality) <= 0:
            raise ValueError("les poids de seasonality doivent être positifs")
        if not all(math.isfinite(v) for v in self.exclusions.values()):
            raise ValueError("les exclusions prévues doivent être des nombres finis (ni nan ni inf)")
        if any(v < 0 for v in self.exclusions.values()):
            raise ValueError("les exclusions prévues ne peuvent pas être négatives")
        return self

    def monthly_weights(self) -> tuple[float, ...]:
        """Seasonality normalised to sum to 1."""
        total = sum(self.seasonality)
        return tuple(w / total for w in self.seasonality)


class SimulationRates(_Strict):
    """Outcome rates used when a year is replayed (`fluxopt simulate`)."""

    no_candidate_rate: float = Field(default=0.05, ge=0, le=1)
    refusal_rate: float = Field(default=0.15, ge=0, le=1)


class ScenarioInfo(_Strict):
    name: str = Field(min_length=1)
    year: int = Field(ge=2000, le=2100)
    bailleur: str = Field(min_length=1)
    model: str = "equilibre"


class Files(_Strict):
    stock: str
    vacancies: str | None = None
    designations: str | None = None
    turnover: str | None = None


class ScenarioConfig(_Strict):
    """Everything `scenario.toml` holds. Its JSON Schema is what `fluxopt schema` prints."""

    scenario: ScenarioInfo
    files: Files
    forecast: Forecast = Forecast()
    legal: LegalRules = LegalRules()
    simulation: SimulationRates = SimulationRates()
    reservataires: tuple[Reservataire, ...] = Field(min_length=1)
    conventions: tuple[Convention, ...] = Field(min_length=1)


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario: configuration, tables and where they came from. Immutable."""

    config: ScenarioConfig
    stock: Stock
    vacancies: Vacancies
    designations: Designations
    folder: Path
    #: programme → observed yearly turnover, from the optional turnover file
    programme_turnover: dict[str, float] = field(default_factory=dict)
    #: input file name → sha256, for the run manifest
    input_hashes: dict[str, str] = field(default_factory=dict)

    @property
    def year(self) -> int:
        return self.config.scenario.year

    @property
    def conventions(self) -> tuple[Convention, ...]:
        return self.config.conventions

    @property
    def reservataires(self) -> tuple[Reservataire, ...]:
        return self.config.reservataires

    def reservataire_of(self, convention: Convention) -> Reservataire:
        for r in self.config.reservataires:
            if r.id == convention.reservataire:
                return r
        raise KeyError(convention.reservataire)

    def contingent_of(self, convention: Convention) -> Contingent:
        """SNE contingent code of a convention: explicit, else derived from its réservataire's kind."""
        if convention.contingent is not None:
            return convention.contingent
        kind = self.reservataire_of(convention).kind
        return {
            ReservataireKind.STATE: Contingent.STATE_PRIORITY,
            ReservataireKind.ACTION_LOGEMENT: Contingent.EMPLOYERS,
            ReservataireKind.EMPLOYER: Contingent.EMPLOYERS,
            ReservataireKind.LOCAL_AUTHORITY: Contingent.LOCAL_AUTHORITIES,
            ReservataireKind.OTHER: Contingent.OTHER,
        }[kind]
