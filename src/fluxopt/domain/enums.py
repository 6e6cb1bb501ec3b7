"""Closed vocabularies of the domain. Values are the French words users write in their files."""

from __future__ import annotations

from enum import StrEnum

#: Reserved id of the landlord in actual designations: it keeps what the conventions leave.
BAILLEUR = "BAILLEUR"


class Typology(StrEnum):
    """Typologie: number of main rooms (T1 … T5 and more)."""

    T1 = "T1"
    T2 = "T2"
    T3 = "T3"
    T4 = "T4"
    T5_PLUS = "T5+"


class Financing(StrEnum):
    """Financement of the programme (PLAI < PLUS < PLS < PLI in rent level)."""

    PLAI = "PLAI"
    PLUS = "PLUS"
    PLS = "PLS"
    PLI = "PLI"
    OTHER = "AUTRE"


class ExclusionCategory(StrEnum):
    """Why a vacated dwelling leaves the flux base (domain.md §2, R441-5)."""

    INTERNAL_TRANSFER = "mutation_interne"
    URBAN_RENEWAL = "anru"
    ORCOD = "orcod"
    UNSAFE_HOUSING = "habitat_indigne"
    SALE = "vente"


class OutOfFlux(StrEnum):
    """Stock that never enters the flux: it stays identified dwellings (domain.md §2)."""

    DEFENCE = "defense"
    HOSPITAL = "hopital"


class Contingent(StrEnum):
    """SNE contingent code recorded at *radiation pour attribution* (arrêté 17 Sept 2012, domain.md §7)."""

    STATE_EMPLOYEES = "etat_fonctionnaires"
    STATE_PRIORITY = "etat_prioritaires"
    LOCAL_AUTHORITIES = "collectivites"
    EMPLOYERS = "employeurs_action_logement"
    OTHER = "autre"


class ReservataireKind(StrEnum):
    """Kind of réservataire; `etat` is the préfet, whom the legal rules of R441-5-2 concern."""

    STATE = "etat"
    ACTION_LOGEMENT = "action_logement"
    LOCAL_AUTHORITY = "collectivite"
    EMPLOYER = "employeur"
    OTHER = "autre"


class DesignationStatus(StrEnum):
    """Status of one designation (mise à disposition) of a vacant dwelling (domain.md §4)."""

    OFFERED = "propose"  # offered, candidates pending
    REFUSED = "refuse"  # refused: a new request to the same réservataire
    LEASE_SIGNED = "bail_signe"  # attributed: lease signed
    NO_CANDIDATE = "carence"  # no candidate in time: taken back for one letting
    TAKEN_BACK = "repris"  # taken back and let by the landlord


class Dimension(StrEnum):
    """Dimensions along which a convention's dwellings should be representative of the stock."""

    TYPOLOGY = "typologie"
    FINANCING = "financement"
    QPV = "qpv"
    COMMUNE = "commune"
    CONSTRUCTION_PERIOD = "periode_construction"


#: Construction periods (période de construction), lower bound inclusive.
CONSTRUCTION_PERIODS: tuple[tuple[str, int], ...] = (
    ("avant 1949", -10_000),
    ("1949-1974", 1949),
    ("1975-1999", 1975),
    ("2000-2012", 2000),
    ("2013 et après", 2013),
)

QPV_LABELS: tuple[str, str] = ("hors QPV", "QPV")


def construction_period_of(year: int) -> int:
    """Index in `CONSTRUCTION_PERIODS` of a construction year."""
    index = 0
    for i, (_, start) in enumerate(CONSTRUCTION_PERIODS):
        if year >= start:
            index = i
    return index
