"""Overlay obligations (domain.md §6) monitored from the attribution records, with alerts.

fluxopt does not choose households: these are indicators on signed leases, read from the two flags the
designations file may carry (`menage_prioritaire`, `premier_quartile`), never from personal data.

- **Priority households**: ≥ 25 % of the attributions of each commune / collectivité, of Action Logement and of
  the landlord (L441-1). A lease signed by the landlord on a dwelling taken back for one letting (`repris`)
  is the landlord's attribution.
- **First quartile outside QPV**: ≥ 25 % of signed leases outside QPV go to first-quartile applicants.
- **Other quartiles in QPV**: ≥ 50 % of signed leases in QPV go to applicants outside the first quartile.
  Both are given for all the landlord's stock and per commune (the law's territory is the EPCI; a commune is
  the finest territory the stock file knows).

A missing flag is never read as "no": a share is computed over the leases whose flag is recorded, and the
status says whether the threshold is met whatever the missing flags turn out to be (`atteint` / `non atteint`),
depends on them (`incertain`), or cannot be told (`non renseigné`).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fluxopt.bilan import ActualDesignations, actual_designations
from fluxopt.domain import Scenario
from fluxopt.domain.enums import DesignationStatus, ReservataireKind
from fluxopt.domain.tables import STATUSES
from fluxopt.report.tables import Cell, Column, Table

PRIORITY_THRESHOLD = 0.25
FIRST_QUARTILE_OUTSIDE_QPV = 0.25
OTHER_QUARTILES_IN_QPV = 0.50

MET = "atteint"
NOT_MET = "non atteint"
UNCERTAIN = "incertain"
NOT_RECORDED = "non renseigné"
NO_LEASE = "aucun bail signé"

_PRIORITY_KINDS = (ReservataireKind.LOCAL_AUTHORITY, ReservataireKind.ACTION_LOGEMENT)
_LEASE = STATUSES.index(DesignationStatus.LEASE_SIGNED.value)
_TAKEN_BACK = STATUSES.index(DesignationStatus.TAKEN_BACK.value)


def pct_fr(value: float) -> str:
    """`0.125` → `12,5 %` (non-breaking space, as French typography wants)."""
    return f"{value * 100:.1f}".replace(".", ",") + "\u00a0%"


def leases_fr(n: int) -> str:
    """`1 bail`, `3 baux`."""
    return f"{n} bail" if n == 1 else f"{n} baux"


@dataclass(frozen=True)
class Kpi:
    """One obligation on one group of signed leases."""

    indicator: str  # French name of the obligation
    group: str  # convention id, "BAILLEUR", "Ensemble" or a commune code
    group_label: str  # a readable name of the group
    threshold: float  # minimum share, as a fraction
    leases: int  # signed leases in the group
    yes: int  # leases meeting the criterion
    no: int  # leases not meeting it
    missing: int  # leases whose flag is not recorded

    @property
    def recorded(self) -> int:
        return self.yes + self.no

    @property
    def share(self) -> float | None:
        """Share among the leases whose flag is recorded; None when none is."""
        return self.yes / self.recorded if self.recorded else None

    @property
    def status(self) -> str:
        if self.leases == 0:
            return NO_LEASE
        if self.recorded == 0:
            return NOT_RECORDED
        if self.yes >= self.threshold * self.leases:
            return MET
        if self.yes + self.missing < self.threshold * self.leases:
            return NOT_MET
        return UNCERTAIN

    @property
    def shortfall(self) -> int:
        """Leases meeting the criterion still missing to reach the threshold (counting missing flags as no)."""
        return max(0, math.ceil(self.threshold * self.leases - 1e-9) - self.yes)

    @property
    def alert(self) -> str | None:
        """A French sentence when the obligation is not met or cannot be checked, else None."""
        status = self.status
        head = f"{self.indicator} — {self.group_label}"
        seuil = pct_fr(self.threshold)
        if status == NOT_RECORDED:
            return f"{head} : non renseigné pour {leases_fr(self.leases)} signé(s) (seuil de {seuil} invérifiable)."
        if status == NOT_MET:
            share = pct_fr(self.share or 0.0)
            extra = f", {self.missing} non renseigné(s)" if self.missing else ""
            return (
                f"{head} : {share} sur {leases_fr(self.recorded)} renseigné(s){extra}, sous le seuil de {seuil} "
                f"(il en manque {self.shortfall})."
            )
        if status == UNCERTAIN:
            share = pct_fr(self.share or 0.0)
            return (
                f"{head} : {share} sur {leases_fr(self.recorded)} renseigné(s), mais {self.missing} sur "
                f"{self.leases} sans information : le seuil de {seuil} dépend d'eux."
            )
        return None


@dataclass(frozen=True)
class KpiReport:
    start: dt.date
    end: dt.date
    kpis: tuple[Kpi, ...]

    @property
    def alerts(self) -> list[str]:
        """Alerts, most serious first: not met (largest shortfall first), then uncertain, then not recorded."""
        rank = {NOT_MET: 0, UNCERTAIN: 1, NOT_RECORDED: 2}
        flagged = [(k, a) for k in self.kpis if (a := k.alert) is not None]
        order = sorted(
            range(len(flagged)), key=lambda i: (rank[flagged[i][0].status], -flagged[i][0].shortfall, i)
        )
        return [flagged[i][1] for i in order]

    def table(self) -> Table:
        rows: list[tuple[Cell, ...]] = [
            (
                k.indicator,
                k.group,
                k.group_label,
                k.threshold,
                k.leases,
                k.yes,
                k.no,
                k.missing,
                k.share,
                k.status,
            )
            for k in self.kpis
        ]
        return Table(
            name="obligations",
            title=(
                f"Obligations d'attribution (art. L441-1 du CCH), baux signés du {self.start:%d/%m/%Y} "
                f"au {self.end:%d/%m/%Y}"
            ),
            columns=(
                Column("Indicateur", width=34),
                Column("Groupe"),
                Column("Libellé", width=30),
                Column("Seuil (%)", "pct"),
                Column("Baux signés", "int"),
                Column("Oui", "int"),
                Column("Non", "int"),
                Column("Non renseignés", "int"),
                Column("Part parmi les baux renseignés (%)", "pct"),
                Column("Statut"),
            ),
            rows=tuple(rows),
            notes=(
                "« incertain » : le seuil est atteint ou non selon les baux non renseignés ; "
                "« non renseigné » : aucun bail du groupe ne porte l'information. Jamais lu comme 0 %.",
            ),
        )


def _kpi(
    indicator: str, group: str, label: str, threshold: float, flag: npt.NDArray[np.int8], want: int
) -> Kpi:
    return Kpi(
        indicator=indicator,
        group=group,
        group_label=label,
        threshold=threshold,
        leases=len(flag),
        yes=int((flag == want).sum()),
        no=int((flag == 1 - want).sum()),
        missing=int((flag < 0).sum()),
    )


def signed_leases(actual: ActualDesignations, start: dt.date, end: dt.date) -> npt.NDArray[np.bool_]:
    """Designations whose lease (bail signé or repris) is dated within [start, end]."""
    lo, hi = np.datetime64(start, "D"), np.datetime64(end, "D")
    dated = (actual.attributed_on >= lo) & (actual.attributed_on <= hi)
    return dated & ((actual.status == _LEASE) | (actual.status == _TAKEN_BACK))


def overlay_kpis(scenario: Scenario, start: dt.date, end: dt.date) -> KpiReport:
    """The three overlay obligations on the leases signed within [start, end]."""
    actual = actual_designations(scenario)
    leases = signed_leases(actual, start, end)
    landlord = len(actual.holders) - 1
    # A repris lease is the landlord's attribution.
    attributor = np.where(actual.status == _TAKEN_BACK, landlord, actual.holder)
    kpis: list[Kpi] = []

    priority = "Ménages prioritaires ≥ 25 % des attributions"
    for i, h in enumerate(actual.holders):
        if h.is_landlord:
            label = "Bailleur (contingent propre)"
        else:
            conv = scenario.conventions[i]
            if scenario.reservataire_of(conv).kind not in _PRIORITY_KINDS:
                continue
            label = f"{h.convention} ({h.reservataire_name})"
        mask = leases & (attributor == i)
        kpis.append(_kpi(priority, h.convention, label, PRIORITY_THRESHOLD, actual.priority[mask], 1))

    outside = "1er quartile ≥ 25 % des baux hors QPV"
    inside = "Autres quartiles ≥ 50 % des baux en QPV"
    groups: list[tuple[str, str, npt.NDArray[np.bool_]]] = [("Ensemble", "Tout le patrimoine", leases)]
    for c in sorted(set(actual.commune[leases].tolist()), key=lambda c: actual.communes[c]):
        code = actual.communes[c]
        groups.append((code, f"Commune {code}", leases & (actual.commune == c)))
    for group, label, mask in groups:
        out_mask = mask & ~actual.qpv
        in_mask = mask & actual.qpv
        if group == "Ensemble" or out_mask.any():
            kpis.append(
                _kpi(outside, group, label, FIRST_QUARTILE_OUTSIDE_QPV, actual.first_quartile[out_mask], 1)
            )
        if group == "Ensemble" or in_mask.any():
            kpis.append(_kpi(inside, group, label, OTHER_QUARTILES_IN_QPV, actual.first_quartile[in_mask], 0))
    return KpiReport(start=start, end=end, kpis=tuple(kpis))
