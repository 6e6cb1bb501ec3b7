"""The large tables as immutable columnar arrays: stock (patrimoine), vacancies, designations.

Columns are numpy arrays (categorical codes into label tuples) rather than one object per row: a
500,000-dwelling stock loads and slices in milliseconds, and rows are addressed by position everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fluxopt.domain.enums import (
    CONSTRUCTION_PERIODS,
    QPV_LABELS,
    DesignationStatus,
    Dimension,
    ExclusionCategory,
    Financing,
    OutOfFlux,
    Typology,
)

IntArray = npt.NDArray[np.int32]
SmallArray = npt.NDArray[np.int8]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
DateArray = npt.NDArray[np.datetime64]

TYPOLOGIES: tuple[str, ...] = tuple(t.value for t in Typology)
FINANCINGS: tuple[str, ...] = tuple(f.value for f in Financing)
PERIODS: tuple[str, ...] = tuple(label for label, _ in CONSTRUCTION_PERIODS)
EXCLUSIONS: tuple[str, ...] = tuple(e.value for e in ExclusionCategory)
OUT_OF_FLUX: tuple[str, ...] = tuple(o.value for o in OutOfFlux)
STATUSES: tuple[str, ...] = tuple(s.value for s in DesignationStatus)
NAT = np.datetime64("NaT", "D")


def departement_of(commune: str) -> str:
    """Département code of an INSEE commune code (three characters overseas: 971…976)."""
    return commune[:3] if commune.startswith("97") else commune[:2]


class SegmentLabels:
    """`label(i)` for any table of segments that has the columns below (forecast cells, planning units):
    one place decides how a segment is written in outputs."""

    communes: tuple[str, ...]
    programmes: tuple[str, ...]
    commune: np.ndarray
    typology: np.ndarray
    qpv: np.ndarray
    financing: np.ndarray
    period: np.ndarray
    programme: np.ndarray

    def label(self, i: int) -> tuple[str, str, str, str, str, str]:
        """(commune, typologie, qpv, financement, période, programme) of segment `i`, as written in outputs."""
        programme = int(self.programme[i])
        return (
            self.communes[int(self.commune[i])],
            TYPOLOGIES[int(self.typology[i])],
            QPV_LABELS[1] if bool(self.qpv[i]) else QPV_LABELS[0],
            FINANCINGS[int(self.financing[i])],
            PERIODS[int(self.period[i])],
            self.programmes[programme] if programme >= 0 else "",
        )


def _frozen(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.setflags(write=False)


@dataclass(frozen=True)
class Stock:
    """The landlord's dwellings (patrimoine), one position per dwelling, in file order."""

    dwelling_id: tuple[str, ...]
    programme: IntArray  # code into `programmes`
    programmes: tuple[str, ...]
    commune: IntArray  # code into `communes`
    communes: tuple[str, ...]
    qpv: BoolArray
    typology: SmallArray  # code into TYPOLOGIES
    financing: SmallArray  # code into FINANCINGS
    construction_year: IntArray
    period: SmallArray  # code into PERIODS
    turnover: FloatArray  # observed yearly turnover, NaN when unknown
    out_of_flux: SmallArray  # -1 in the flux, else code into OUT_OF_FLUX
    first_letting: DateArray  # mise en service date, NaT when none
    lease_start: DateArray  # current lease start, NaT when unknown
    line: IntArray  # source line, for messages
    source: str = ""
    index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        _frozen(
            self.programme,
            self.commune,
            self.qpv,
            self.typology,
            self.financing,
            self.construction_year,
            self.period,
            self.turnover,
            self.out_of_flux,
            self.first_letting,
            self.lease_start,
            self.line,
        )
        if not self.index:
            object.__setattr__(self, "index", {d: i for i, d in enumerate(self.dwelling_id)})

    def __len__(self) -> int:
        return len(self.dwelling_id)

    def codes(self, dimension: Dimension) -> tuple[npt.NDArray[np.integer], tuple[str, ...]]:
        """Per-dwelling codes and their labels along a representativeness dimension."""
        if dimension is Dimension.TYPOLOGY:
            return self.typology, TYPOLOGIES
        if dimension is Dimension.FINANCING:
            return self.financing, FINANCINGS
        if dimension is Dimension.QPV:
            return self.qpv.astype(np.int8), QPV_LABELS
        if dimension is Dimension.COMMUNE:
            return self.commune, self.communes
        return self.period, PERIODS

    def departements(self) -> tuple[str, ...]:
        """Département code of each commune in `communes`."""
        return tuple(departement_of(c) for c in self.communes)


@dataclass(frozen=True)
class Vacancies:
    """Actual vacancies (logements libérés) of the year to date."""

    dwelling: IntArray  # position in the stock
    date: DateArray
    exclusion: SmallArray  # -1 in the flux base, else code into EXCLUSIONS
    line: IntArray
    source: str = ""

    def __post_init__(self) -> None:
        _frozen(self.dwelling, self.date, self.exclusion, self.line)

    def __len__(self) -> int:
        return len(self.dwelling)

    @classmethod
    def empty(cls) -> Vacancies:
        return cls(
            np.zeros(0, np.int32), np.zeros(0, "datetime64[D]"), np.zeros(0, np.int8), np.zeros(0, np.int32)
        )


@dataclass(frozen=True)
class Designations:
    """Actual designations and their outcomes, year to date. `convention` is an id or `BAILLEUR`."""

    dwelling: IntArray  # position in the stock
    date: DateArray
    convention: tuple[str, ...]
    status: SmallArray  # code into STATUSES
    lease_date: DateArray
    priority_household: SmallArray  # -1 not recorded, 0 no, 1 yes
    first_quartile: SmallArray  # -1 not recorded, 0 no, 1 yes
    line: IntArray
    source: str = ""

    def __post_init__(self) -> None:
        _frozen(
            self.dwelling,
            self.date,
            self.status,
            self.lease_date,
            self.priority_household,
            self.first_quartile,
            self.line,
        )

    def __len__(self) -> int:
        return len(self.dwelling)

    @classmethod
    def empty(cls) -> Designations:
        z8 = np.zeros(0, np.int8)
        return cls(
            np.zeros(0, np.int32),
            np.zeros(0, "datetime64[D]"),
            (),
            z8,
            np.zeros(0, "datetime64[D]"),
            z8.copy(),
            z8.copy(),
            np.zeros(0, np.int32),
        )
