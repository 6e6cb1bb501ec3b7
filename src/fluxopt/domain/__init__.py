"""The scenario's data model: validated, immutable, solver-free (the domain never imports OR-Tools)."""

from fluxopt.domain.enums import (
    BAILLEUR,
    Contingent,
    DesignationStatus,
    Dimension,
    ExclusionCategory,
    Financing,
    OutOfFlux,
    ReservataireKind,
    Typology,
    construction_period_of,
)
from fluxopt.domain.scenario import (
    Convention,
    Forecast,
    LegalRules,
    Reservataire,
    Scenario,
    ScenarioConfig,
    Scope,
    SimulationRates,
    Wish,
)
from fluxopt.domain.tables import Designations, Stock, Vacancies

__all__ = [
    "BAILLEUR",
    "Contingent",
    "Convention",
    "DesignationStatus",
    "Designations",
    "Dimension",
    "ExclusionCategory",
    "Financing",
    "Forecast",
    "LegalRules",
    "OutOfFlux",
    "Reservataire",
    "ReservataireKind",
    "Scenario",
    "ScenarioConfig",
    "Scope",
    "SimulationRates",
    "Stock",
    "Typology",
    "Vacancies",
    "Wish",
    "construction_period_of",
]
