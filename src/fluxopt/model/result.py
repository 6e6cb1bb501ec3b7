"""A solver-neutral result: the plan (counts per unit × column), its rows' figures, bounds and status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from fluxopt.forecast import FluxForecast
from fluxopt.model.annual import LevelResult
from fluxopt.rows import BAILLEUR, Evaluation, RowKind, RowSet

IntArray = npt.NDArray[np.int64]

#: status words written in the manifest and on stderr
STATUS_FR = {
    "optimal": "optimal prouvé",
    "feasible": "réalisable, non prouvé optimal",
    "interrupted": "interrompu — meilleur plan trouvé, non prouvé",
}

#: planning methods (models/ file, [pacing] method), as written on stderr
METHOD_FR = {
    "annual-split": "niveaux annuels puis découpage mensuel",
    "monthly": "mois par mois (mois passés fixés)",
}


@dataclass(frozen=True)
class KindSummary:
    kind: str
    rows: int
    deviation: float
    floor: float
    worst: float

    @property
    def ratio(self) -> float | None:
        return self.deviation / self.floor if self.floor > 1e-9 else None


@dataclass(frozen=True)
class Plan:
    """The annual plan: designations per unit (cell × month) and column (conventions, then BAILLEUR)."""

    rowset: RowSet
    counts: IntArray
    evaluation: Evaluation
    levels: tuple[LevelResult, ...]
    pacing: LevelResult | None
    status: str  # optimal | feasible | interrupted
    forecast: FluxForecast | None = None
    sequence: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # commune → [(month, column)]
    timings: dict[str, float] = field(default_factory=dict)
    method: str = "annual-split"  # annual-split | monthly (models/ file, [pacing] method)
    #: the pacing repair (`fluxopt.model.repace`): what it did, for the manifest; None when not run
    repair: dict[str, Any] | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return self.rowset.columns

    @property
    def units(self):  # type: ignore[no-untyped-def]
        return self.rowset.units

    @property
    def proven(self) -> bool:
        return self.status == "optimal"

    def kind_summary(self, kind: RowKind) -> KindSummary:
        mask = self.rowset.mask(kind)
        dev = self.evaluation.deviation[mask]
        return KindSummary(
            kind.value,
            int(mask.sum()),
            float(dev.sum()),
            float(self.rowset.floors[mask].sum()),
            float(dev.max()) if len(dev) else 0.0,
        )

    def totals_by_column(self) -> dict[str, int]:
        return {c: int(self.counts[:, j].sum()) for j, c in enumerate(self.columns)}

    def landlord_total(self) -> int:
        return int(self.counts[:, self.columns.index(BAILLEUR)].sum())
