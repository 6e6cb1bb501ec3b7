"""Monte-Carlo turnover: years of vacancies drawn around the forecast, replayed, measured per réservataire.

For each run a year of vacancies is drawn from the variant's forecast (`fluxopt.simulate.draw_vacancies`:
Poisson counts per segment × month, dwellings drawn without replacement, days uniform in the month), then
replayed in date order with a simple online rule standing in for the weekly re-planning: **each vacancy goes
to the eligible convention furthest behind its share of the base realised so far** (the landlord is a column
like the others). This is the "most behind first" rule of modelling.md — within about one dwelling of the
rounding floor on totals; the weekly re-planning of `fluxopt simulate` does at least as well on totals and
better on representativeness, so the probabilities reported here are a conservative estimate for totals.

Each réservataire's count at the end of the year is compared with its target on the *realised* base
(share × the vacancies of that run): P10–P50–P90 of dwellings received, and the probability of ending within
±1 and ±2 dwellings of target.

Seeds: run r of variant v uses `SeedSequence([seed(base seed, v), r, purpose])` (`simulate.run_rng`), so a
run's draws never depend on which worker ran it, in which chunk, or how many runs came before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fluxopt.domain import BAILLEUR, Scenario
from fluxopt.domain.tables import FINANCINGS, PERIODS, TYPOLOGIES
from fluxopt.errors import FluxoptError
from fluxopt.forecast import FluxForecast
from fluxopt.rows import Units, share_matrix
from fluxopt.simulate import VacancyDraw, draw_vacancies, run_rng
from fluxopt.sweep.variants import cached_forecast, variant_scenario

#: Runs per engine task: big enough to amortise the forecast, small enough to spread over workers.
#: Fixed (never derived from the number of workers) so that task files are the same on every engine.
RUNS_PER_TASK = 25

REPLAY_METHOD = (
    "rejeu simplifié : chaque vacance, dans l'ordre des dates, à la convention la plus en retard sur sa part "
    "de la base réalisée (pas encore le re-planning hebdomadaire de fluxopt simulate)"
)

IntArray = npt.NDArray[np.int64]


def variant_seed(base_seed: int, variant_id: str) -> int:
    """A variant's seed from the sweep's base seed and the variant id (stable across machines and runs)."""
    digest = hashlib.sha256(f"{int(base_seed)}:{variant_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def dwelling_pools(scenario: Scenario, forecast: FluxForecast) -> list[IntArray]:
    """Stock positions of each forecast cell (same segment attributes), for drawing dwellings."""
    stock = scenario.stock
    cells = forecast.cells
    named = {p: i for i, p in enumerate(cells.programmes)}
    commune_rank = np.array([cells.communes.index(c) for c in stock.communes], dtype=np.int64)
    prog_rank = np.array([named.get(p, -1) for p in stock.programmes], dtype=np.int64)
    sizes = (len(TYPOLOGIES), 2, len(FINANCINGS), len(PERIODS), len(cells.programmes) + 1)

    def encode(
        commune: Any, typology: Any, qpv: Any, financing: Any, period: Any, programme: Any
    ) -> IntArray:
        key = np.asarray(commune, dtype=np.int64)
        for arr, size in zip(
            (typology, qpv, financing, period, np.asarray(programme) + 1), sizes, strict=True
        ):
            key = key * size + np.asarray(arr, dtype=np.int64)
        return key

    cell_key = encode(
        cells.commune, cells.typology, cells.qpv, cells.financing, cells.period, cells.programme
    )
    first = stock.first_letting
    has_first = ~np.isnat(first)
    first_year = np.where(has_first, first.astype("datetime64[Y]").astype(np.int64) + 1970, 0)
    eligible = (stock.out_of_flux == -1) & ~(has_first & (first_year > forecast.year))
    positions = np.flatnonzero(eligible)
    keys = encode(
        commune_rank[stock.commune[positions]],
        stock.typology[positions],
        stock.qpv[positions],
        stock.financing[positions],
        stock.period[positions],
        prog_rank[stock.programme[positions]],
    )
    order = np.argsort(cell_key)
    where = np.searchsorted(cell_key[order], keys)
    where = np.clip(where, 0, len(cell_key) - 1)
    found = cell_key[order][where] == keys
    cell_of = np.where(found, order[where], -1)
    pools: list[IntArray] = [np.zeros(0, np.int64) for _ in range(len(cell_key))]
    by_cell = np.argsort(cell_of, kind="stable")
    sorted_cells = cell_of[by_cell]
    bounds = np.searchsorted(sorted_cells, np.arange(len(cell_key) + 1))
    for c in range(len(cell_key)):
        pools[c] = positions[by_cell[bounds[c] : bounds[c + 1]]].astype(np.int64)
    return pools


def draw_units(scenario: Scenario, forecast: FluxForecast, draw: VacancyDraw) -> Units:
    """The drawn vacancies as realised units (one dwelling each), in date order."""
    stock = scenario.stock
    cells = forecast.cells
    named = {p: i for i, p in enumerate(cells.programmes)}
    commune_rank = np.array([cells.communes.index(c) for c in stock.communes], dtype=np.int64)
    prog_rank = np.array([named.get(p, -1) for p in stock.programmes], dtype=np.int64)
    d = draw.dwelling.astype(np.int64)
    n = len(d)
    return Units(
        communes=cells.communes,
        programmes=cells.programmes,
        commune=commune_rank[stock.commune[d]],
        typology=stock.typology[d].astype(np.int64),
        qpv=stock.qpv[d].astype(bool),
        financing=stock.financing[d].astype(np.int64),
        period=stock.period[d].astype(np.int64),
        programme=prog_rank[stock.programme[d]],
        month=(draw.date.astype("datetime64[M]").astype(np.int64) % 12 + 1).astype(np.int64),
        base=np.ones(n, dtype=np.int64),
        realised=np.ones(n, dtype=bool),
        date=draw.date.astype("datetime64[D]"),
    )


def most_behind_first(shares: npt.NDArray[np.float64], landlord: int) -> IntArray:
    """Column chosen for each unit in order: the eligible one with the largest deficit (ties: first column)."""
    n, k = shares.shape
    chosen = np.zeros(n, dtype=np.int64)
    owed = np.zeros(k)
    got = np.zeros(k)
    for u in range(n):
        owed += shares[u]
        eligible = shares[u] > 0
        eligible[landlord] = True
        deficit = np.where(eligible, owed - got, -np.inf)
        j = int(np.argmax(deficit))
        chosen[u] = j
        got[j] += 1.0
    return chosen


def replay_runs(
    scenario: Scenario, turnover_multiplier: float, seed: int, runs: Sequence[int]
) -> dict[str, list[list[float]]]:
    """Réservataire → [[count, target], …] for each run (in `runs` order)."""
    forecast = cached_forecast(scenario, turnover_multiplier)
    pools = [p.astype(np.int32) for p in dwelling_pools(scenario, forecast)]
    from fluxopt.rows import columns_of

    columns = columns_of(scenario)
    owner = {c.id: c.reservataire for c in scenario.conventions}
    reservataires = [*sorted(set(owner.values())), BAILLEUR]
    column_owner = np.array([reservataires.index(owner.get(c, BAILLEUR)) for c in columns], dtype=np.int64)
    landlord = columns.index(BAILLEUR)
    out: dict[str, list[list[float]]] = {r: [] for r in reservataires}
    for run in runs:
        rng = run_rng(seed, run, "vacancies")
        draw = draw_vacancies(pools, forecast.expected, scenario.year, rng)
        units = draw_units(scenario, forecast, draw)
        shares = share_matrix(scenario, units, columns)
        chosen = most_behind_first(shares, landlord)
        counts = np.bincount(column_owner[chosen], minlength=len(reservataires))
        targets = np.bincount(column_owner, weights=shares.sum(axis=0), minlength=len(reservataires))
        for i, r in enumerate(reservataires):
            out[r].append([int(counts[i]), round(float(targets[i]), 9)])
    return out


def montecarlo_task(payload: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    """Engine task: replay runs [first, last) of one variant."""
    runs = list(range(int(payload["first"]), int(payload["last"])))
    try:
        scenario = variant_scenario(shared, payload["config"])
        per_run = replay_runs(scenario, payload["turnover_multiplier"], int(payload["seed"]), runs)
    except FluxoptError as error:
        return {"variante": payload["id"], "runs": runs, "erreur": error.render()}
    return {"variante": payload["id"], "runs": runs, "resultats": per_run}


def aggregate(chunks: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Réservataire → P10/P50/P90 of dwellings received, mean target, P(|count − target| ≤ 1) and ≤ 2."""
    per: dict[str, list[list[float]]] = {}
    for chunk in sorted(chunks, key=lambda c: c["runs"][0] if c["runs"] else 0):
        for r, values in chunk.get("resultats", {}).items():
            per.setdefault(r, []).extend(values)
    out: dict[str, dict[str, float]] = {}
    for r, values in per.items():
        arr = np.asarray(values, dtype=np.float64)
        counts, targets = arr[:, 0], arr[:, 1]
        gap = np.abs(counts - targets)
        p10, p50, p90 = np.percentile(counts, [10, 50, 90], method="linear")
        out[r] = {
            "tirages": len(values),
            "p10": round(float(p10), 6),
            "p50": round(float(p50), 6),
            "p90": round(float(p90), 6),
            "cible_moyenne": round(float(targets.mean()), 6),
            "proba_1": round(float((gap <= 1 + 1e-9).mean()), 6),
            "proba_2": round(float((gap <= 2 + 1e-9).mean()), 6),
        }
    return out
