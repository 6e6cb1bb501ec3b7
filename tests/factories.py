"""Build small `Scenario` objects in Python for tests (no files needed).

`dwellings(...)` expands compact programme descriptions into stock rows; `make_scenario(...)` assembles a
validated `Scenario` from plain dicts, so a test states exactly the few facts it relies on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fluxopt.domain import Scenario, ScenarioConfig, Stock
from fluxopt.domain.enums import OutOfFlux, construction_period_of
from fluxopt.domain.tables import FINANCINGS, NAT, OUT_OF_FLUX, TYPOLOGIES, Designations, Vacancies

Dwelling = dict[str, Any]


def programme(
    code: str,
    commune: str,
    *,
    typologies: Mapping[str, int],
    qpv: bool = False,
    financing: str = "PLUS",
    year: int = 1970,
    turnover: float | None = None,
    out_of_flux: str | None = None,
    first_letting: dt.date | None = None,
) -> list[Dwelling]:
    """Dwellings of one programme: `typologies` maps T1…T5+ to a number of dwellings."""
    rows: list[Dwelling] = []
    for typ, n in typologies.items():
        for _ in range(n):
            rows.append(
                {
                    "programme": code,
                    "commune": commune,
                    "qpv": qpv,
                    "typology": typ,
                    "financing": financing,
                    "year": year,
                    "turnover": turnover,
                    "out_of_flux": out_of_flux,
                    "first_letting": first_letting,
                }
            )
    return rows


def make_stock(rows: Sequence[Dwelling]) -> Stock:
    """A `Stock` from dwelling dicts (ids are generated as `<programme>-<n>` when absent)."""
    programmes = sorted({r["programme"] for r in rows})
    communes = sorted({r["commune"] for r in rows})
    p_index = {p: i for i, p in enumerate(programmes)}
    c_index = {c: i for i, c in enumerate(communes)}
    counter: dict[str, int] = {}
    ids = []
    for r in rows:
        if "id" in r:
            ids.append(r["id"])
        else:
            counter[r["programme"]] = counter.get(r["programme"], 0) + 1
            ids.append(f"{r['programme']}-{counter[r['programme']]:04d}")
    n = len(rows)
    first = np.array(
        [np.datetime64(r["first_letting"], "D") if r.get("first_letting") else NAT for r in rows],
        dtype="datetime64[D]",
    )
    return Stock(
        dwelling_id=tuple(ids),
        programme=np.array([p_index[r["programme"]] for r in rows], np.int32),
        programmes=tuple(programmes),
        commune=np.array([c_index[r["commune"]] for r in rows], np.int32),
        communes=tuple(communes),
        qpv=np.array([bool(r["qpv"]) for r in rows], np.bool_),
        typology=np.array([TYPOLOGIES.index(r["typology"]) for r in rows], np.int8),
        financing=np.array([FINANCINGS.index(r["financing"]) for r in rows], np.int8),
        construction_year=np.array([r["year"] for r in rows], np.int32),
        period=np.array([construction_period_of(r["year"]) for r in rows], np.int8),
        turnover=np.array([np.nan if r.get("turnover") is None else r["turnover"] for r in rows], np.float64),
        out_of_flux=np.array(
            [
                OUT_OF_FLUX.index(OutOfFlux(r["out_of_flux"]).value) if r.get("out_of_flux") else -1
                for r in rows
            ],
            np.int8,
        ),
        first_letting=first,
        lease_start=np.full(n, NAT, dtype="datetime64[D]"),
        line=np.arange(2, n + 2, dtype=np.int32),
        source="patrimoine.csv",
    )


def convention(
    cid: str,
    reservataire: str,
    share: float,
    *,
    departement: str | None = None,
    communes: Iterable[str] = (),
    programmes: Iterable[str] = (),
    balance: Iterable[str] = (),
    contingent: str | None = None,
    wishes: Iterable[Mapping[str, Any]] = (),
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> dict[str, Any]:
    """A convention dict as `scenario.toml` would hold it."""
    if departement:
        scope: dict[str, Any] = {"kind": "departement", "departement": departement}
    elif communes:
        scope = {"kind": "communes", "communes": list(communes)}
    else:
        scope = {"kind": "programmes", "programmes": list(programmes)}
    out: dict[str, Any] = {
        "id": cid,
        "reservataire": reservataire,
        "share": share,
        "scope": scope,
        "balance": list(balance),
        "wishes": [dict(w) for w in wishes],
    }
    if contingent:
        out["contingent"] = contingent
    if start:
        out["start"] = start
    if end:
        out["end"] = end
    return out


DEFAULT_RESERVATAIRES = (
    {"id": "ETAT", "name": "Préfet", "kind": "etat"},
    {"id": "AL", "name": "Action Logement Services", "kind": "action_logement"},
    {"id": "VILLE", "name": "Ville", "kind": "collectivite"},
    {"id": "CD", "name": "Département", "kind": "collectivite"},
)


def make_scenario(
    rows: Sequence[Dwelling],
    conventions: Sequence[Mapping[str, Any]],
    *,
    reservataires: Sequence[Mapping[str, Any]] = DEFAULT_RESERVATAIRES,
    year: int = 2026,
    turnover_rate: float = 0.06,
    seasonality: Sequence[float] = (1.0,) * 12,
    exclusions: Mapping[str, float] | None = None,
    legal: Mapping[str, Any] | None = None,
    programme_turnover: Mapping[str, float] | None = None,
    name: str = "Scénario de test",
) -> Scenario:
    """A validated `Scenario` built in memory (no actuals)."""
    config = ScenarioConfig.model_validate(
        {
            "scenario": {"name": name, "year": year, "bailleur": "Bailleur de test"},
            "files": {"stock": "patrimoine.csv"},
            "forecast": {
                "turnover_rate": turnover_rate,
                "seasonality": list(seasonality),
                "exclusions": dict(exclusions or {}),
            },
            "legal": dict(legal) if legal is not None else {"prefet_min_outside_qpv": None},
            "reservataires": [dict(r) for r in reservataires],
            "conventions": [dict(c) for c in conventions],
        }
    )
    return Scenario(
        config=config,
        stock=make_stock(rows),
        vacancies=Vacancies.empty(),
        designations=Designations.empty(),
        folder=Path("."),
        programme_turnover=dict(programme_turnover or {}),
        input_hashes={},
    )


def two_commune_scenario(**kwargs: Any) -> Scenario:
    """Two communes in the 92, one QPV programme, a préfet, Action Logement and a commune convention."""
    rows = (
        programme("P1", "92046", typologies={"T2": 40, "T3": 60, "T4": 30}, qpv=True, year=1965)
        + programme("P2", "92046", typologies={"T1": 10, "T2": 30, "T3": 30}, financing="PLAI", year=2015)
        + programme("P3", "92025", typologies={"T2": 50, "T3": 70, "T4": 40, "T5+": 10}, year=1980)
        + programme("P4", "92025", typologies={"T3": 20}, financing="PLS", year=2005, out_of_flux="defense")
    )
    conventions = [
        convention(
            "ETAT-PRIO-92",
            "ETAT",
            25,
            departement="92",
            balance=["typologie", "qpv", "commune"],
            contingent="etat_prioritaires",
        ),
        convention("ETAT-FONC-92", "ETAT", 5, departement="92", contingent="etat_fonctionnaires"),
        convention("AL-92", "AL", 25, departement="92", balance=["typologie", "financement"]),
        convention("VILLE-92046", "VILLE", 20, communes=["92046"], balance=["typologie"]),
    ]
    kwargs.setdefault("turnover_rate", 0.2)
    return make_scenario(rows, conventions, **kwargs)
