"""`fluxopt sweep`: plan every variant of a sweep file on an engine and lay the results side by side.

Output folder (`-o DIR`):
- `taches/*.json` — one file per finished task, written as soon as it finishes (a re-run resumes from them);
- `synthese.json` — every variant's summary and Monte-Carlo figures (identical whatever the engine);
- `synthese.csv` — one row per variant × réservataire; `reste_bailleur.csv` — variant × commune;
  `communes.csv` — variant × réservataire × commune; `monte_carlo.csv` when `--runs` > 0;
- `balayage.xlsx` — the same tables in a workbook; `execution.json` — engine, workers, timings.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fluxopt import __version__
from fluxopt.domain import BAILLEUR
from fluxopt.domain.tables import TYPOLOGIES
from fluxopt.engines import EngineReport, Task, run_tasks
from fluxopt.io.atomic import write_text
from fluxopt.io.csvwrite import write_csv
from fluxopt.report.tables import Column, Table
from fluxopt.sweep import montecarlo
from fluxopt.sweep.spec import Sweep, load_sweep
from fluxopt.sweep.variants import (
    PreparedVariant,
    check_rules,
    prepare_variants,
    scenario_to_plain,
    variant_payload,
    variant_scenario,
    variant_task,
)

TASK_FUNCTION = "fluxopt.sweep.run:sweep_task"


def sweep_task(payload: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    """The one engine task of a sweep: a variant's summary, or a chunk of its Monte-Carlo runs."""
    if payload["kind"] == "variante":
        return variant_task(payload, shared)
    if check_rules(variant_scenario(shared, payload["config"])):  # impossible: its summary says why
        return {"variante": payload["id"], "runs": [], "impossible": True}
    return montecarlo.montecarlo_task(payload, shared)


@dataclass
class SweepOutcome:
    """A finished (or partly failed) sweep: summaries by variant, Monte-Carlo figures, failures, tables."""

    sweep: Sweep
    variants: list[PreparedVariant]
    summaries: dict[str, dict[str, Any]]
    montecarlo: dict[str, dict[str, dict[str, float]]]
    runs: int
    failed: dict[str, str]
    engine: EngineReport
    out_dir: Path
    replay: str = "simple"
    tables: list[Table] = field(default_factory=list)


def _tasks(
    variants: list[PreparedVariant], runs: int, seed: int, time_limit: float | None, replay: str
) -> list[Task]:
    tasks = [
        Task(f"variante-{v.id}", {"kind": "variante", **variant_payload(v, time_limit)}) for v in variants
    ]
    for v in variants:
        for first in range(0, runs, montecarlo.RUNS_PER_TASK):
            last = min(runs, first + montecarlo.RUNS_PER_TASK)
            payload = {
                "kind": "monte_carlo",
                "id": v.id,
                "config": v.config,
                "turnover_multiplier": v.turnover_multiplier,
                "seed": montecarlo.variant_seed(seed, v.id),
                "first": first,
                "last": last,
                "replay": replay,
            }
            tasks.append(Task(f"mc-{v.id}-{first:06d}", payload))
    return tasks


def run_sweep(
    path: str | Path,
    *,
    out_dir: Path | None = None,
    runs: int | None = None,
    engine: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool | None = None,
    time_limit: float | None = None,
    replay: str | None = None,
    warn: Callable[[str], None] | None = None,
) -> SweepOutcome:
    """Load the sweep and its base scenario, run every task on `engine`, write the outputs."""
    from fluxopt.io.scenario import load_scenario

    sweep = load_sweep(path)
    base = load_scenario(sweep.base, warn=warn)
    variants = prepare_variants(base, sweep)
    n_runs = sweep.info.runs if runs is None else runs
    target = out_dir if out_dir is not None else Path(f"resultats-{Path(path).stem}")
    limit = time_limit if time_limit is not None else sweep.info.time_limit
    mode = replay if replay is not None else sweep.info.replay
    tasks = _tasks(variants, n_runs, sweep.info.seed, limit, mode)
    from fluxopt.io.atomic import ensure_dir

    ensure_dir(target / "taches")  # a file in the way or a read-only place: exit 4, before any solve
    report = run_tasks(
        TASK_FUNCTION,
        tasks,
        shared=scenario_to_plain(base),
        engine=engine,
        workers=workers,
        scheduler=scheduler,
        results_dir=target / "taches",
        progress=progress,
        label="Variantes",
    )
    summaries: dict[str, dict[str, Any]] = {}
    chunks: dict[str, list[dict[str, Any]]] = {}
    failed: dict[str, str] = {}
    for task in tasks:
        if task.id in report.failed:
            failed[task.id] = report.failed[task.id]
            continue
        result = report.results[task.id]
        if task.payload["kind"] == "variante":
            summaries[task.payload["id"]] = result
        elif result.get("impossible"):
            continue
        elif "erreur" in result:
            failed.setdefault(f"mc-{task.payload['id']}", result["erreur"])
        else:
            chunks.setdefault(task.payload["id"], []).append(result)
    mc = {vid: montecarlo.aggregate(c) for vid, c in chunks.items()}
    outcome = SweepOutcome(sweep, variants, summaries, mc, n_runs, failed, report, target, mode)
    outcome.tables = sweep_tables(outcome)
    write_outputs(outcome)
    return outcome


# --------------------------------------------------------------------------------------------------
# Tables and files
# --------------------------------------------------------------------------------------------------


def _reservataire_ids(outcome: SweepOutcome) -> list[str]:
    ids: list[str] = []
    for v in outcome.variants:
        for r in outcome.summaries.get(v.id, {}).get("reservataires", []):
            if r["id"] not in ids and r["id"] != BAILLEUR:
                ids.append(r["id"])
    return [*sorted(ids), BAILLEUR]


def sweep_tables(outcome: SweepOutcome) -> list[Table]:
    """The sweep's tables (French headers), in the order files and the workbook show them."""
    rows_summary: list[tuple[Any, ...]] = []
    rows_remaining: list[tuple[Any, ...]] = []
    rows_communes: list[tuple[Any, ...]] = []
    rows_mc: list[tuple[Any, ...]] = []
    rows_gaps: list[tuple[Any, ...]] = []
    for v in outcome.variants:
        s = outcome.summaries.get(v.id)
        if s is None:
            reason = outcome.failed.get(f"variante-{v.id}", "non calculée")
            rows_summary.append(
                (v.id, v.label, "échec", reason, None, None, None, *([None] * (len(TYPOLOGIES) + 2)))
            )
            continue
        if not s["faisable"]:
            rows_summary.append(
                (
                    v.id,
                    v.label,
                    "non",
                    " ; ".join(s["raisons"]),
                    None,
                    None,
                    None,
                    *([None] * (len(TYPOLOGIES) + 2)),
                )
            )
            continue
        for r in s["reservataires"]:
            rows_summary.append(
                (
                    v.id,
                    v.label,
                    "oui",
                    "",
                    r["id"],
                    r["attendu"],
                    r.get("planifie"),
                    *(r["typologie"].get(t, 0.0) for t in TYPOLOGIES),
                    r["qpv"].get("QPV", 0.0),
                    r["qpv"].get("hors QPV", 0.0),
                )
            )
            for commune, value in sorted(r["communes"].items()):
                rows_communes.append((v.id, r["id"], commune, value))
        for commune, value in sorted(s["reste_bailleur"].items()):
            rows_remaining.append((v.id, commune, value / 100.0))
        plan = s.get("plan") or {}
        for kind, e in plan.get("ecarts", {}).items():
            rows_gaps.append(
                (
                    v.id,
                    plan["modele"],
                    plan["statut"],
                    kind,
                    e["lignes"],
                    e["ecart"],
                    e["plancher"],
                    e["pire"],
                )
            )
        for r_id, m in sorted(
            outcome.montecarlo.get(v.id, {}).items(), key=lambda kv: (kv[0] == BAILLEUR, kv[0])
        ):
            rows_mc.append(
                (
                    v.id,
                    r_id,
                    m["tirages"],
                    m["p10"],
                    m["p50"],
                    m["p90"],
                    m["cible_moyenne"],
                    m["proba_1"],
                    m["proba_2"],
                )
            )
    tables = [
        Table(
            "synthese",
            "Logements attendus par an, par variante et par réservataire",
            (
                Column("Variante"),
                Column("Libellé"),
                Column("Faisable"),
                Column("Raison"),
                Column("Réservataire"),
                Column("Logements/an", "float"),
                Column("Planifiés/an", "int"),
                *(Column(t, "float") for t in TYPOLOGIES),
                Column("QPV", "float"),
                Column("Hors QPV", "float"),
            ),
            tuple(rows_summary),
            notes=(
                "Année entière planifiée sur la prévision (vacances et désignations réelles non reprises) ; "
                "logements attendus = part × base prévue, par réservataire (toutes ses conventions) ; "
                "planifiés = logements entiers du plan (fluxopt.planning) ; typologie et QPV : attendus.",
            ),
        ),
        Table(
            "reste_bailleur",
            "Part restante du bailleur par commune",
            (Column("Variante"), Column("Commune"), Column("Part restante", "pct")),
            tuple(rows_remaining),
        ),
        Table(
            "ecarts",
            "Écarts du plan aux objectifs, par type de ligne (logements ; plancher = écart minimal possible)",
            (
                Column("Variante"),
                Column("Modèle"),
                Column("Statut"),
                Column("Lignes de"),
                Column("Nombre", "int"),
                Column("Écart total", "float"),
                Column("Plancher d'arrondi", "float"),
                Column("Pire ligne", "float"),
            ),
            tuple(rows_gaps),
        ),
        Table(
            "communes",
            "Logements attendus par an, par réservataire et par commune",
            (Column("Variante"), Column("Réservataire"), Column("Commune"), Column("Logements/an", "float")),
            tuple(rows_communes),
        ),
    ]
    if outcome.runs > 0:
        tables.append(
            Table(
                "monte_carlo",
                f"Monte-Carlo : {outcome.runs} années tirées par variante",
                (
                    Column("Variante"),
                    Column("Réservataire"),
                    Column("Tirages", "int"),
                    Column("P10", "float"),
                    Column("P50", "float"),
                    Column("P90", "float"),
                    Column("Cible moyenne", "float"),
                    Column("P(écart ≤ 1)", "pct"),
                    Column("P(écart ≤ 2)", "pct"),
                ),
                tuple(rows_mc),
                notes=(f"Méthode : {montecarlo.REPLAY_METHODS[outcome.replay]}.",),
            )
        )
    return tables


def synthesis(outcome: SweepOutcome) -> dict[str, Any]:
    """`synthese.json`: results only (no engine, timing or path), so every engine writes the same bytes."""
    return {
        "balayage": outcome.sweep.info.name,
        "fluxopt": __version__,
        "graine": outcome.sweep.info.seed,
        "tirages": outcome.runs,
        "methode_monte_carlo": montecarlo.REPLAY_METHODS[outcome.replay] if outcome.runs else None,
        "variantes": [
            {
                "id": v.id,
                "libelle": v.label,
                "multiplicateur_rotation": v.turnover_multiplier,
                "resultat": outcome.summaries.get(v.id),
                "monte_carlo": outcome.montecarlo.get(v.id),
            }
            for v in outcome.variants
        ],
        "echecs": dict(sorted(outcome.failed.items())),
    }


def write_outputs(outcome: SweepOutcome) -> None:
    """Write the synthesis files atomically (the task files are already on disk)."""
    folder = outcome.out_dir
    folder.mkdir(parents=True, exist_ok=True)
    write_text(
        folder / "synthese.json",
        json.dumps(synthesis(outcome), ensure_ascii=False, indent=1, sort_keys=False) + "\n",
    )
    for table in outcome.tables:
        write_csv(folder / f"{table.name}.csv", table.headers, table.csv_rows())
    from fluxopt.report.xlsx import Sheet, write_workbook

    sheets = [Sheet(name=t.name, tables=(t,)) for t in outcome.tables]
    # dated by the scenario year, not today: the same sweep gives the same workbook whatever the day
    year = int(outcome.variants[0].config["scenario"]["year"]) if outcome.variants else 2000
    write_workbook(
        folder / "balayage.xlsx", sheets, dt.date(year, 1, 1), title=f"Balayage — {outcome.sweep.info.name}"
    )
    report = outcome.engine
    execution = {
        "moteur": report.engine,
        "processus": report.workers,
        "secondes": round(report.seconds, 3),
        "taches_calculees": len(report.computed),
        "taches_reprises": len(report.resumed),
        "taches_en_echec": sorted(report.failed),
    }
    write_text(folder / "execution.json", json.dumps(execution, ensure_ascii=False, indent=1) + "\n")


def _fr(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}".replace(",", "\u202f").replace(".", ",")


def render_sweep(outcome: SweepOutcome, block: int = 6) -> str:
    """Variants side by side (réservataires as rows), in blocks of `block` variants, for the terminal."""
    from fluxopt.convert import text_table

    out: list[str] = [f"Balayage « {outcome.sweep.info.name} » — {len(outcome.variants)} variante(s)"]
    ids = _reservataire_ids(outcome)
    for start in range(0, len(outcome.variants), block):
        chunk = outcome.variants[start : start + block]
        headers = ["Logements/an", *(v.id for v in chunk)]
        rows: list[list[str]] = []
        for r in ids:
            row = ["Bailleur" if r == BAILLEUR else r]
            for v in chunk:
                s = outcome.summaries.get(v.id)
                found = (
                    next((x for x in s["reservataires"] if x["id"] == r), None)
                    if s and s.get("faisable")
                    else None
                )
                if s is not None and s.get("faisable") and outcome.montecarlo.get(v.id, {}).get(r):
                    m = outcome.montecarlo[v.id][r]
                    row.append(
                        f"{_fr(found['attendu']) if found else '—'} [{_fr(m['p10'], 0)}–{_fr(m['p90'], 0)}]"
                    )
                else:
                    row.append(_fr(found["attendu"]) if found else "—")
            rows.append(row)
        status = ["Faisable"]
        remaining = ["Reste bailleur (communes)"]
        for v in chunk:
            s = outcome.summaries.get(v.id)
            if s is None:
                status.append("échec")
                remaining.append("—")
            elif not s["faisable"]:
                status.append("non")
                remaining.append("—")
            else:
                status.append("oui")
                values = list(s["reste_bailleur"].values())
                remaining.append(f"{_fr(min(values))}–{_fr(max(values))} %")
        gaps = ["Écart totaux (plancher)"]
        for v in chunk:
            s = outcome.summaries.get(v.id)
            e = ((s or {}).get("plan") or {}).get("ecarts", {}).get("total")
            gaps.append(f"{_fr(e['ecart'])} ({_fr(e['plancher'])})" if e else "—")
        rows += [remaining, gaps, status]
        out += ["", text_table(headers, rows, [False] + [True] * len(chunk))]
    if outcome.runs:
        out += [
            "",
            f"Entre crochets : P10–P90 sur {outcome.runs} années tirées ({montecarlo.REPLAY_METHODS[outcome.replay]}).",
        ]
    for v in outcome.variants:
        s = outcome.summaries.get(v.id)
        if s is not None and not s["faisable"]:
            out.append(f"Variante {v.id} impossible : " + " ; ".join(s["raisons"]))
    for task_id, reason in sorted(outcome.failed.items()):
        out.append(f"Échec de {task_id} : {reason}")
    return "\n".join(out)
