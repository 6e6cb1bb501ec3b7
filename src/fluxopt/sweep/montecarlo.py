"""Monte-Carlo turnover: years of vacancies drawn around the forecast, replayed, measured per réservataire.

For each run a year of vacancies is drawn from the variant's forecast (`fluxopt.simulate.draw_vacancies` on
`simulate.cell_pools`: Poisson counts per segment × month, dwellings drawn without replacement, days uniform
in the month) and replayed in date order by one of two rules:
- `simple` (default): **each vacancy goes to the eligible convention furthest behind its share of the base
  realised so far** (the landlord is a column like the others) — the "most behind first" rule of
  modelling.md, within about one dwelling of the rounding floor on totals; ~0.15 s a year on Cap Habitat;
- `fluxopt`: the weekly re-planning of `fluxopt simulate` (`simulate.replay_year`, policy « fluxopt », with
  carences and refusals drawn from the scenario's `[simulation]` rates) on the very same draws; about
  100 times slower (≈ 12 s a year on Cap Habitat), for a few hundred runs rather than thousands.

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
from fluxopt.errors import FluxoptError
from fluxopt.forecast import FluxForecast
from fluxopt.rows import Units, share_matrix
from fluxopt.simulate import SimulationSettings, VacancyDraw, cell_pools, draw_vacancies, replay_year, run_rng
from fluxopt.sweep.variants import cached_forecast, variant_scenario

#: Runs per engine task: big enough to amortise the forecast, small enough to spread over workers.
#: Fixed (never derived from the number of workers) so that task files are the same on every engine.
RUNS_PER_TASK = 25

REPLAYS = ("simple", "fluxopt")
REPLAY_METHODS = {
    "simple": "rejeu simplifié : chaque vacance, dans l'ordre des dates, à la convention la plus en retard sur sa "
    "part de la base réalisée",
    "fluxopt": "re-planification hebdomadaire de fluxopt simulate (politique « fluxopt », carences et refus tirés)",
}

IntArray = npt.NDArray[np.int64]


def variant_seed(base_seed: int, variant_id: str) -> int:
    """A variant's seed from the sweep's base seed and the variant id (stable across machines and runs)."""
    digest = hashlib.sha256(f"{int(base_seed)}:{variant_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


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
    scenario: Scenario, turnover_multiplier: float, seed: int, runs: Sequence[int], replay: str = "simple"
) -> dict[str, list[list[float]]]:
    """Réservataire → [[count, target], …] for each run (in `runs` order).

    `replay="simple"`: most behind first, vacancy by vacancy (fast). `replay="fluxopt"`: the weekly
    re-planning of `fluxopt simulate` (`simulate.replay_year`, policy « fluxopt », with carences and refusals
    drawn from the scenario's [simulation] rates) — the same draws, about 100 times slower.
    """
    if replay not in REPLAYS:
        raise ValueError(f"replay must be one of {REPLAYS}")
    forecast = cached_forecast(scenario, turnover_multiplier)
    pools = cell_pools(scenario, forecast)
    from fluxopt.rows import columns_of

    columns = columns_of(scenario)
    owner = {c.id: c.reservataire for c in scenario.conventions}
    reservataires = [*sorted(set(owner.values())), BAILLEUR]
    column_owner = np.array([reservataires.index(owner.get(c, BAILLEUR)) for c in columns], dtype=np.int64)
    landlord = columns.index(BAILLEUR)
    settings = SimulationSettings(runs=1, seed=seed, policies=("fluxopt",))
    out: dict[str, list[list[float]]] = {r: [] for r in reservataires}
    for run in runs:
        draw = draw_vacancies(pools, forecast.expected, scenario.year, run_rng(seed, run, "vacancies"))
        units = draw_units(scenario, forecast, draw)
        shares = share_matrix(scenario, units, columns)
        target_by_column = shares.sum(axis=0)
        if replay == "simple":
            chosen = most_behind_first(shares, landlord)
            by_column = np.bincount(chosen, minlength=len(columns)).astype(np.float64)
        else:
            (result,) = replay_year(scenario, forecast, pools, run, settings)  # draws the same vacancies
            if result.vacancies != len(draw):
                raise RuntimeError("simulate.replay_year drew other vacancies than the sweep")
            by_column = np.zeros(len(columns))
            for cid, gap in zip(result.conventions, result.year_end, strict=True):
                j = columns.index(cid)
                by_column[j] = round(target_by_column[j] + gap)
            by_column[landlord] = len(draw) - by_column.sum()
        counts = np.bincount(column_owner, weights=by_column, minlength=len(reservataires))
        targets = np.bincount(column_owner, weights=target_by_column, minlength=len(reservataires))
        for i, r in enumerate(reservataires):
            out[r].append([round(float(counts[i])), round(float(targets[i]), 9)])
    return out


def montecarlo_task(payload: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    """Engine task: replay runs [first, last) of one variant."""
    runs = list(range(int(payload["first"]), int(payload["last"])))
    try:
        scenario = variant_scenario(shared, payload["config"])
        per_run = replay_runs(
            scenario,
            payload["turnover_multiplier"],
            int(payload["seed"]),
            runs,
            payload.get("replay", "simple"),
        )
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
