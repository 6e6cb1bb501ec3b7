"""Variants applied to the base scenario, the scenario as plain values, and the per-variant summary task.

The parent process validates each variant against the base (unknown convention → French message at the
sweep file's line) and turns it into a complete `scenario.toml` configuration as plain values. A worker
receives the base stock once (`scenario_to_plain`) and, per task, only that configuration: it rebuilds the
`Scenario`, checks the legal and logical rules, forecasts the year, builds the rows and summarises what the
variant means for each réservataire. A variant is planned for a **whole year from the forecast**: actual
vacancies and designations to date are left out, so variants are compared on the same footing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from fluxopt.domain import BAILLEUR, Scenario, ScenarioConfig, Stock
from fluxopt.domain.tables import NAT, TYPOLOGIES, Designations, Vacancies
from fluxopt.errors import FluxoptError, Problem, ProblemList
from fluxopt.io.config import french_message, render_loc
from fluxopt.sweep.spec import Sweep, VariantSpec, resolve_shares

#: Bump when the summary's content changes: finished tasks of an older format are recomputed.
SUMMARY_FORMAT = 1


# --------------------------------------------------------------------------------------------------
# Scenario ⇄ plain values (what crosses the wire)
# --------------------------------------------------------------------------------------------------


def _dates(values: np.ndarray) -> list[str | None]:
    return [None if np.isnat(v) else str(v) for v in values]


#: the folder of a scenario rebuilt by a worker: none on disk. A worker needs no file — the parent reads the
#: model file of each variant and sends its content — and may run on another machine (Dask); leaving the
#: base's path out also keeps the tasks' fingerprints (a resumed sweep) the same when the folders move.
WORKER_FOLDER = Path("<balayage>")


def scenario_to_plain(scenario: Scenario) -> dict[str, Any]:
    """The base scenario as JSON-compatible values: configuration, stock columns, programme turnover
    (not its folder: see `WORKER_FOLDER`)."""
    stock = scenario.stock
    return {
        "config": scenario.config.model_dump(mode="json"),
        "programme_turnover": dict(sorted(scenario.programme_turnover.items())),
        "stock": {
            "dwelling_id": list(stock.dwelling_id),
            "programme": stock.programme.tolist(),
            "programmes": list(stock.programmes),
            "commune": stock.commune.tolist(),
            "communes": list(stock.communes),
            "qpv": stock.qpv.astype(int).tolist(),
            "typology": stock.typology.tolist(),
            "financing": stock.financing.tolist(),
            "construction_year": stock.construction_year.tolist(),
            "period": stock.period.tolist(),
            "turnover": [None if math.isnan(x) else x for x in stock.turnover.tolist()],
            "out_of_flux": stock.out_of_flux.tolist(),
            "first_letting": _dates(stock.first_letting),
            "lease_start": _dates(stock.lease_start),
            "source": stock.source,
        },
    }


def _date_array(values: Sequence[str | None]) -> np.ndarray:
    return np.array([NAT if v is None else np.datetime64(v, "D") for v in values], dtype="datetime64[D]")


def scenario_from_plain(data: dict[str, Any], config: dict[str, Any] | None = None) -> Scenario:
    """Rebuild a `Scenario` (no actuals) from `scenario_to_plain`, optionally with another configuration."""
    s = data["stock"]
    n = len(s["dwelling_id"])
    stock = Stock(
        dwelling_id=tuple(s["dwelling_id"]),
        programme=np.asarray(s["programme"], dtype=np.int32),
        programmes=tuple(s["programmes"]),
        commune=np.asarray(s["commune"], dtype=np.int32),
        communes=tuple(s["communes"]),
        qpv=np.asarray(s["qpv"], dtype=np.bool_),
        typology=np.asarray(s["typology"], dtype=np.int8),
        financing=np.asarray(s["financing"], dtype=np.int8),
        construction_year=np.asarray(s["construction_year"], dtype=np.int32),
        period=np.asarray(s["period"], dtype=np.int8),
        turnover=np.array([math.nan if x is None else x for x in s["turnover"]], dtype=np.float64),
        out_of_flux=np.asarray(s["out_of_flux"], dtype=np.int8),
        first_letting=_date_array(s["first_letting"]),
        lease_start=_date_array(s["lease_start"]),
        line=np.arange(2, n + 2, dtype=np.int32),
        source=s.get("source", ""),
    )
    return Scenario(
        config=ScenarioConfig.model_validate(config if config is not None else data["config"]),
        stock=stock,
        vacancies=Vacancies.empty(),
        designations=Designations.empty(),
        folder=WORKER_FOLDER,
        programme_turnover={k: float(v) for k, v in data["programme_turnover"].items()},
    )


# --------------------------------------------------------------------------------------------------
# Applying a variant (parent side, with line numbers)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedVariant:
    """A variant ready to run: its complete configuration as plain values and its turnover multiplier."""

    id: str
    label: str
    config: dict[str, Any]
    turnover_multiplier: float
    line: int | None
    model: dict[str, Any]  # the optimisation model, resolved here and sent as plain values


def apply_variant(
    base: Scenario, spec: VariantSpec, sweep: Sweep, problems: ProblemList
) -> PreparedVariant | None:
    """The base configuration changed by one variant; problems (with the sweep file's lines) are collected."""
    v = spec.variant
    display = sweep.display
    before = len(problems)

    def add(loc: tuple[str | int, ...], message: str, received: object | None = None) -> None:
        # grid variants are located at their grid; a key path inside a grid keeps the grid's loc
        where = (*spec.loc, *loc)
        problems.add(display, sweep.line(where), render_loc(where), message, received)

    config = base.config.model_dump(mode="json")
    ids = [c["id"] for c in config["conventions"]]
    for cid in v.remove:
        if cid not in ids:
            add(("remove",), f"convention inconnue « {cid} » : impossible de la retirer", cid)
    kept = [c for c in config["conventions"] if c["id"] not in set(v.remove)]
    known_reservataires = {r["id"] for r in config["reservataires"]}
    for r in v.reservataires:
        if r.id in known_reservataires:
            add(("reservataires",), f"réservataire déjà déclaré dans le scénario : « {r.id} »", r.id)
    config["reservataires"] = [
        *config["reservataires"],
        *(r.model_dump(mode="json") for r in v.reservataires),
    ]
    known_reservataires |= {r.id for r in v.reservataires}
    for k, c in enumerate(v.add):
        if c.id in ids and c.id not in v.remove:
            add(
                ("add", k, "id"),
                f"la convention « {c.id} » existe déjà : modifiez-la avec shares/scopes",
                c.id,
            )
        if c.reservataire not in known_reservataires:
            add(
                ("add", k, "reservataire"),
                f"réservataire inconnu « {c.reservataire} » : déclarez-le dans reservataires de la variante",
                c.reservataire,
            )
    kept += [c.model_dump(mode="json") for c in v.add]
    kept_ids = [c["id"] for c in kept]
    new_shares, share_problems = resolve_shares(v.shares, kept_ids)
    for key, message in share_problems:
        add(("shares", key), message, key)
    for key in v.scopes:
        if key not in kept_ids:
            add(("scopes", key), f"convention inconnue « {key} » (conventions : {', '.join(kept_ids)})", key)
    for c in kept:
        if c["id"] in new_shares:
            c["share"] = new_shares[c["id"]]
        if c["id"] in v.scopes:
            c["scope"] = v.scopes[c["id"]].model_dump(mode="json")
    config["conventions"] = kept
    if v.legal is not None:
        if v.legal.prefet_uniform_per_commune is not None:
            config["legal"]["prefet_uniform_per_commune"] = v.legal.prefet_uniform_per_commune
        if v.legal.prefet_min_outside_qpv is not None:
            value = v.legal.prefet_min_outside_qpv
            config["legal"]["prefet_min_outside_qpv"] = None if value is False else value
    if v.exclusions:
        config["forecast"]["exclusions"] = {
            **config["forecast"]["exclusions"],
            **{k.value: x for k, x in v.exclusions.items()},
        }
    model = v.model if v.model is not None else sweep.info.model
    if model is not None:
        config["scenario"]["model"] = model
    config["scenario"]["name"] = f"{config['scenario']['name']} — variante {v.id}"
    if len(problems) > before:
        return None
    try:
        ScenarioConfig.model_validate(config)
    except ValidationError as error:
        for item in error.errors(include_url=False):
            loc = tuple(p for p in item.get("loc", ()) if isinstance(p, str | int))
            add((), f"la variante rend le scénario invalide : {render_loc(loc)} : {french_message(item)}")
        return None
    from fluxopt.domain.model_spec import load_model_spec

    try:
        model_spec, _, _ = load_model_spec(config["scenario"]["model"], base.folder)
    except FluxoptError as error:
        add(("model",) if v.model is not None else (), f"modèle d'optimisation : {error.render()}")
        return None
    if not sweep.info.pacing:  # a sweep compares years: the monthly pacing stage is left to `fluxopt plan`
        model_spec = model_spec.model_copy(
            update={"pacing": model_spec.pacing.model_copy(update={"enabled": False})}
        )
    return PreparedVariant(
        v.id, v.label, config, 1.0 + v.turnover / 100.0, spec.line, model_spec.model_dump(mode="json")
    )


def prepare_variants(base: Scenario, sweep: Sweep) -> list[PreparedVariant]:
    """Every variant of the sweep applied to the base; all problems raised at once."""
    problems = ProblemList()
    prepared = [apply_variant(base, spec, sweep, problems) for spec in sweep.variants]
    problems.raise_if_any(
        "Fichier de variantes invalide : des variantes ne s'appliquent pas au scénario de base."
    )
    return [p for p in prepared if p is not None]


# --------------------------------------------------------------------------------------------------
# Worker side: the summary of one variant
# --------------------------------------------------------------------------------------------------

_BASE_CACHE: list[tuple[Any, Scenario]] = []


def base_scenario(shared: dict[str, Any]) -> Scenario:
    """The base scenario of this worker, rebuilt once per shared payload."""
    if _BASE_CACHE and _BASE_CACHE[0][0] is shared:
        return _BASE_CACHE[0][1]
    scenario = scenario_from_plain(shared)
    _BASE_CACHE[:] = [(shared, scenario)]
    return scenario


def variant_scenario(shared: dict[str, Any], config: dict[str, Any]) -> Scenario:
    """The base scenario with a variant's configuration (the stock is shared, not copied)."""
    return replace(base_scenario(shared), config=ScenarioConfig.model_validate(config))


def _problems_text(problems: Sequence[Problem]) -> list[str]:
    return [p.message for p in problems]


def check_rules(scenario: Scenario) -> list[str]:
    """Legal and logical rules a variant breaks (plain French), e.g. shares over 100 % in a commune. Not the
    model file's: the parent read and checked it while preparing the variant, where the files are."""
    from fluxopt.validate import validate

    return _problems_text(validate(scenario, model=False))


_FORECASTS: dict[str, Any] = {}
_FORECAST_CACHE_SIZE = 16


def cached_forecast(scenario: Scenario, turnover_multiplier: float) -> Any:
    """`forecast_flux` for this worker's base stock, reused by variants with the same forecast inputs
    (a grid over shares shares one forecast: it depends on the stock, the [forecast] settings, the year,
    the turnover multiplier and the programmes that scopes name — not on the shares)."""
    import json

    from fluxopt.forecast import forecast_flux, scoped_programmes

    key = json.dumps(
        [
            id(scenario.stock),
            scenario.year,
            scenario.config.forecast.model_dump(mode="json"),
            turnover_multiplier,
            scoped_programmes(scenario),
        ],
        sort_keys=True,
    )
    found = _FORECASTS.get(key)
    if found is not None and found[0] is scenario.stock:
        return found[1]
    forecast = forecast_flux(scenario, turnover_multiplier=turnover_multiplier)
    if len(_FORECASTS) >= _FORECAST_CACHE_SIZE:
        _FORECASTS.pop(next(iter(_FORECASTS)))
    _FORECASTS[key] = (scenario.stock, forecast)
    return forecast


def summarise_variant(
    scenario: Scenario,
    turnover_multiplier: float,
    model: dict[str, Any] | None = None,
    time_limit: float | None = None,
) -> dict[str, Any]:
    """What one variant means for a year, planned with `fluxopt.planning`: per réservataire the dwellings
    expected (share × forecast base) and planned (whole dwellings), in total and by typology, QPV and commune;
    the landlord's remaining share per commune; the plan's deviations and rounding floors by kind of row.

    `model` is a `ModelSpec` as plain values (None: plan the targets only, no solve — used by tests of
    the summary itself). Infeasible targets raise `InfeasibleError` with the planner's French reason."""
    from fluxopt.rows import RowKind, build_rows, units_from_forecast

    forecast = cached_forecast(scenario, turnover_multiplier)
    units = units_from_forecast(forecast)
    pacing = bool(model is not None and model.get("pacing", {}).get("enabled", True))
    rowset = build_rows(scenario, units, pacing=pacing)
    planned: np.ndarray | None = None
    plan_info: dict[str, Any] | None = None
    deviation: np.ndarray | None = None
    if model is not None:
        from fluxopt.domain.model_spec import ModelSpec
        from fluxopt.planning import plan_units

        spec = ModelSpec.model_validate(model)
        # no ordre de passage: a sweep compares yearly flows (the sequence is `fluxopt plan`'s business)
        result = plan_units(rowset, spec, time_limit=time_limit, forecast=forecast, sequence=False)
        planned = np.asarray(result.counts, dtype=np.float64)
        deviation = result.evaluation.deviation
        plan_info = {
            "modele": spec.name,
            "statut": result.status,
            "ecarts": {
                kind.value: {
                    "lignes": k.rows,
                    "ecart": round(k.deviation, 6),
                    "plancher": round(k.floor, 6),
                    "pire": round(k.worst, 6),
                }
                for kind in RowKind
                for k in [result.kind_summary(kind)]
                if k.rows
            },
        }
    base = units.base.astype(np.float64)
    expected = rowset.shares * base[:, None]  # [units, columns]
    owner = {c.id: c.reservataire for c in scenario.conventions}
    names = {r.id: r.name for r in scenario.reservataires}
    reservataires = [*sorted({owner[c] for c in rowset.columns if c != BAILLEUR}), BAILLEUR]
    column_of = {
        r: [j for j, c in enumerate(rowset.columns) if owner.get(c, BAILLEUR) == r] for r in reservataires
    }
    communes = units.communes
    n_communes = len(communes)

    def by(codes: np.ndarray, labels: Sequence[str], weights: np.ndarray) -> dict[str, float]:
        sums = np.bincount(codes, weights=weights, minlength=len(labels))
        return {labels[i]: round(float(sums[i]), 6) for i in range(len(labels)) if abs(sums[i]) > 1e-9}

    def breakdown(weights: np.ndarray) -> dict[str, Any]:
        return {
            "typologie": by(units.typology, TYPOLOGIES, weights),
            "qpv": by(units.qpv.astype(np.int64), ("hors QPV", "QPV"), weights),
            "communes": by(units.commune, communes, weights),
        }

    per_reservataire = []
    for r in reservataires:
        w = expected[:, column_of[r]].sum(axis=1)
        entry: dict[str, Any] = {
            "id": r,
            "nom": names.get(r, "Bailleur (part restante)"),
            "attendu": round(float(w.sum()), 6),
            **breakdown(w),
        }
        if planned is not None:
            c = planned[:, column_of[r]].sum(axis=1)
            entry["planifie"] = round(float(c.sum()))
            entry["planifie_detail"] = breakdown(c)
        per_reservataire.append(entry)
    commune_base = np.bincount(units.commune, weights=base, minlength=n_communes)
    landlord = np.bincount(
        units.commune, weights=expected[:, rowset.columns.index(BAILLEUR)], minlength=n_communes
    )
    remaining = {
        communes[i]: round(100.0 * float(landlord[i] / commune_base[i]), 6)
        for i in range(n_communes)
        if commune_base[i] > 0
    }
    floors = rowset.floors
    conventions = [
        {
            "id": row.convention,
            "reservataire": row.reservataire,
            "part": next((c.share for c in scenario.conventions if c.id == row.convention), None),
            "attendu": round(row.target, 6),
            "plancher": round(row.floor, 6),
            **(
                {}
                if deviation is None or planned is None
                else {
                    "planifie": int(planned[:, rowset.columns.index(row.convention)].sum()),
                    "ecart": round(float(deviation[row.index]), 6),
                }
            ),
        }
        for row in rowset.rows
        if row.kind is RowKind.TOTAL
    ]
    return {
        "base_prevue": round(float(forecast.total_expected), 6),
        "base_entiere": int(forecast.total),
        "reservataires": per_reservataire,
        "conventions": conventions,
        "reste_bailleur": remaining,
        "plancher_totaux": round(float(floors[rowset.mask(RowKind.TOTAL)].sum()), 6),
        "plancher_representativite": round(float(floors[rowset.mask(RowKind.REPRESENTATIVENESS)].sum()), 6),
        "plan": plan_info,
    }


def variant_task(payload: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    """Engine task: rebuild the variant, check its rules, summarise it (infeasible → the reason in French)."""
    out: dict[str, Any] = {"variante": payload["id"], "libelle": payload["label"], "format": SUMMARY_FORMAT}
    try:
        scenario = variant_scenario(shared, payload["config"])
        reasons = check_rules(scenario)
        if reasons:
            return {**out, "faisable": False, "raisons": reasons}
        summary = summarise_variant(
            scenario, payload["turnover_multiplier"], payload.get("model"), payload.get("time_limit")
        )
    except (FluxoptError, ValidationError) as error:
        reason = error.render() if isinstance(error, FluxoptError) else str(error)
        return {**out, "faisable": False, "raisons": [reason]}
    return {**out, "faisable": True, "raisons": [], **summary}


def variant_payload(prepared: PreparedVariant, time_limit: float | None = None) -> dict[str, Any]:
    return {
        "id": prepared.id,
        "label": prepared.label,
        "config": prepared.config,
        "turnover_multiplier": prepared.turnover_multiplier,
        "model": prepared.model,
        "time_limit": time_limit,
        "format": SUMMARY_FORMAT,
    }


__all__ = [
    "PreparedVariant",
    "apply_variant",
    "prepare_variants",
    "scenario_from_plain",
    "scenario_to_plain",
    "summarise_variant",
    "variant_payload",
    "variant_task",
]
