"""Orchestration of the annual plan: scenario → forecast → rows → model → solve → month split → Plan.

Public API (other commands build on it):
- `plan(scenario, ...) -> Plan`: the annual plan from the forecast (actuals are ignored; weekly
  re-planning from actuals is `designate`, which reuses `plan_units`);
- `plan_units(scenario, rowset, spec, fixed=...) -> Plan`: the same engine on any units (realised +
  forecast) with fixed past designations that never change;
- `precheck(rowset, fixed, spec)`: impossible targets explained in French before any solve;
- `write_plan(plan, out_dir, ...)`: plan.csv, objectifs.csv, sequence.csv, manifest.json, atomically.

Design, measured (README "Planifier"): the annual allocation is solved on *blocks* (segment cell ×
eligible columns) with HiGHS through MathOpt, level by level with the rounding cut; then the months are
filled by one min-cost flow per month with convex pacing costs. The ordre de passage of each commune is
the exact apportionment sequence (`fluxopt.sequence.order_of_passage`) of each month's counts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fluxopt.domain import Scenario
from fluxopt.domain.model_spec import ModelSpec, load_model_spec
from fluxopt.errors import InfeasibleError, NoSolutionError
from fluxopt.forecast import FluxForecast, forecast_flux
from fluxopt.manifest import RunManifest, sha256_bytes
from fluxopt.model.annual import LevelResult, Progress, settings_from_spec, solve_annual
from fluxopt.model.builder import INF, AnnualProblem, build_annual, build_linear
from fluxopt.model.months import split_months
from fluxopt.model.polish import polish_pacing
from fluxopt.model.repace import repace
from fluxopt.model.result import METHOD_FR, STATUS_FR, Plan
from fluxopt.model.solver import Interrupt, Status, solve
from fluxopt.rows import BAILLEUR, Row, RowKind, RowSet, Sense, build_rows, units_from_forecast

IntArray = npt.NDArray[np.int64]

#: at most this long for the pacing repair (it usually ends, proven, in 1–3 s on cap-habitat)
REPACE_MAX_SECONDS = 20.0

__all__ = ["load_spec", "plan", "plan_units", "precheck", "sequence_of", "write_plan"]


def load_spec(scenario: Scenario, model: str | ModelSpec | None) -> tuple[ModelSpec, str, str]:
    """The model to use: a spec, a shipped name, a path, else the scenario's `model`; with its name and hash."""
    if isinstance(model, ModelSpec):
        return model, model.name, sha256_bytes(model.model_dump_json().encode())
    spec, path, data = load_model_spec(model or scenario.config.scenario.model, Path(scenario.folder))
    return spec, path.name, sha256_bytes(data)


# ------------------------------------------------------------------------------------------ pre-checks


def _fmt(x: float) -> str:
    return f"{x:.1f}".replace(".", ",")


def precheck(rowset: RowSet, fixed: IntArray | None = None, spec: ModelSpec | None = None) -> None:
    """Raise `InfeasibleError` with a plain-French reason when targets cannot all be met.

    Checks, before any solve: every hard (legal) row can reach its admissible range given who may
    receive the dwellings and what is already fixed; the préfet's minimum outside QPV fits in his
    uniform share of the commune; every wish can be met by the dwellings its scope can offer.
    """
    units = rowset.units
    n_cols = len(rowset.columns)
    fixed_m = np.zeros((len(units), n_cols), dtype=np.int64) if fixed is None else fixed
    free = units.base - fixed_m.sum(axis=1)
    fixed_counts = rowset.counts(fixed_m)
    reasons: list[str] = []
    legal_on = spec is None or spec.legal == "hard"
    uniform: dict[tuple[str, str], Row] = {}
    for r in rowset.rows:
        if r.hard and r.rule == "prefet_uniforme":
            uniform[(r.convention, r.value)] = r
    for r in rowset.rows:
        if not (r.hard and legal_on):
            continue
        lo, hi = r.admissible()
        us, _cs = rowset.members(r)
        can_add = int(free[us].sum())
        have = round(fixed_counts[r.index])
        if have + can_add < lo:
            reasons.append(_legal_reason(r, lo, have + can_add))
        if have > hi:
            reasons.append(
                f"{_rule_label(r)} : les désignations déjà faites ({have}) dépassent le maximum permis ({hi})."
            )
        if r.rule == "prefet_hors_qpv":
            commune = r.value.split()[0]
            band = uniform.get((r.convention, commune))
            if band is not None:
                _ulo, uhi = band.admissible()
                if lo > uhi:
                    reasons.append(
                        f"Commune {commune} : le préfet doit recevoir au moins {lo} logements hors QPV "
                        f"({_fmt(r.target)} attendus = minimum légal sur {r.base} logements hors QPV), mais sa part "
                        f"uniforme dans la commune n'en permet que {uhi} ({_fmt(band.target)} sur {band.base}). "
                        "Ses conventions n'ont pas une part suffisante pour respecter le minimum hors QPV."
                    )
    for r in rowset.rows:
        if r.kind is RowKind.WISH and r.sense is Sense.GE:
            need = math.ceil(r.target - 1e-9)
            offer = r.base
            if need > offer:
                reasons.append(
                    f"Souhait impossible pour la convention {r.convention} ({r.rule}, {r.dimension} {r.value}) : "
                    f"il faudrait {need} logements {r.value} mais seulement {offer} sont attendus dans sa portée."
                )
    if reasons:
        raise InfeasibleError(
            "Objectifs impossibles : " + reasons[0] + "".join("\n" + x for x in reasons[1:])
        )


def _rule_label(r: Row) -> str:
    if r.rule == "prefet_uniforme":
        return f"Part uniforme du préfet ({r.convention}) dans la commune {r.value}"
    if r.rule == "prefet_hors_qpv":
        return f"Part minimale du préfet ({r.convention}) {r.value}"
    if r.rule == "fonctionnaires":
        return f"Sous-part des agents de l'État ({r.convention}) dans le département {r.value}"
    return f"Règle {r.rule} ({r.convention}, {r.value})"


def _legal_reason(r: Row, lo: int, reachable: int) -> str:
    return (
        f"{_rule_label(r)} : il faut au moins {lo} logements ({_fmt(r.target)} attendus sur {r.base}), "
        f"mais au plus {reachable} peuvent lui être désignés (conventions hors période ou hors portée)."
    )


# --------------------------------------------------------------------------------------------- solving


def plan(
    scenario: Scenario,
    *,
    model: str | ModelSpec | None = None,
    time_limit: float | None = None,
    seed: int | None = None,
    as_of: dt.date | None = None,
    turnover_multiplier: float = 1.0,
    progress: Progress | None = None,
    interrupt: Interrupt | None = None,
) -> Plan:
    """The annual plan of `scenario` from its forecast (the rest of the year after `as_of` if given)."""
    spec = model if isinstance(model, ModelSpec) else load_spec(scenario, model)[0]
    t0 = time.perf_counter()
    forecast = forecast_flux(scenario, as_of=as_of, turnover_multiplier=turnover_multiplier)
    units = units_from_forecast(forecast)
    rowset = build_rows(scenario, units)
    t1 = time.perf_counter()
    result = plan_units(
        rowset,
        spec,
        time_limit=time_limit,
        seed=seed,
        progress=progress,
        interrupt=interrupt,
        forecast=forecast,
    )
    result.timings["prevision_et_lignes"] = t1 - t0
    return result


def plan_units(
    rowset: RowSet,
    spec: ModelSpec,
    *,
    fixed: IntArray | None = None,
    time_limit: float | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
    interrupt: Interrupt | None = None,
    forecast: FluxForecast | None = None,
    log: Callable[[str], None] | None = None,
    sequence: bool = True,
) -> Plan:
    """Plan any units (realised and/or forecast); `fixed` designations [units, columns] never change.

    Without `sequence`, no ordre de passage is built (sweeps compare yearly flows only)."""
    precheck(rowset, fixed, spec)
    t0 = time.perf_counter()
    problem = build_annual(rowset, fixed)
    settings = settings_from_spec(spec, time_limit=time_limit, seed=seed, log=log)
    if interrupt is not None:
        settings.interrupt = interrupt
    progress = progress or Progress()
    if spec.pacing.enabled and spec.pacing.method == "monthly":
        monthly = _plan_monthly(rowset, spec, problem, settings, progress, forecast, t0, log)
        if monthly is not None:
            return monthly
    solution = solve_annual(problem, spec, settings, progress=progress, later=True)
    t1 = time.perf_counter()
    if len(solution.x) == 0 and problem.n_vars > 0:
        if settings.interrupt.triggered:
            raise KeyboardInterrupt
        if solution.status == Status.INFEASIBLE.value:
            raise InfeasibleError(diagnose(problem, spec, settings))
        raise NoSolutionError(
            f"Aucun plan réalisable trouvé en {settings.time_limit:g} s. Augmentez --time-limit ou essayez le "
            "modèle « minimum-legal »."
        )
    try:  # the level bounds of a large plan may be computed meanwhile on the other core
        counts = split_months(problem, solution.x, pacing=spec.pacing.enabled)
        if spec.pacing.enabled:
            kinds = {
                RowKind(k): i
                for i, lv in enumerate(spec.levels, start=1)
                for k in lv.rows
                if lv.objective == "sum"
            }
            kinds[RowKind.PACING] = len(spec.levels) + 1
            caps = {
                RowKind(k): lvr.value
                for lv, lvr in zip(spec.levels, solution.levels, strict=False)
                if lv.objective == "max"
                for k in lv.rows
            }
            counts, _stats = polish_pacing(
                rowset, counts, problem.fixed, kinds, hard=spec.legal == "hard", caps=caps
            )
            counts, repair = _repace(rowset, counts, problem.fixed, settings, t0)
        else:
            repair = None
    except KeyboardInterrupt:
        settings.interrupt.trigger()  # stops them too
        raise
    solution = solution.settled()
    t2 = time.perf_counter()
    evaluation = rowset.evaluate(counts)
    bad = rowset.hard_violations(evaluation) if spec.legal == "hard" else []
    if bad:  # never write a plan that breaks a legal rule
        raise AssertionError(f"plan breaks legal rows: {[r.index for r in bad]}")
    pacing = _pacing_level(rowset, evaluation)
    status = solution.status
    if status == "optimal" and not pacing.proven:
        status = "feasible"  # proven only if every level, pacing included, is proven
    if settings.interrupt.triggered:
        status = "interrupted"
    return Plan(
        rowset=rowset,
        counts=counts,
        evaluation=evaluation,
        levels=_refresh_levels(solution.levels, problem, evaluation),
        pacing=pacing,
        status=status,
        forecast=forecast,
        sequence=sequence_of(rowset, counts) if sequence else {},
        timings={"annuel": t1 - t0, "mois": t2 - t1},
        repair=repair,
    )


def _plan_monthly(
    rowset: RowSet,
    spec: ModelSpec,
    problem: AnnualProblem,
    settings: Any,
    progress: Progress,
    forecast: FluxForecast | None,
    t0: float,
    log: Callable[[str], None] | None,
) -> Plan | None:
    """The month-by-month plan (`fluxopt.model.monthly`), its annual levels reported against the annual
    LP bound with the rounding cut; None when some month has no feasible plan (the caller then plans
    annually, then splits)."""
    from fluxopt.model.annual import bounded_levels, level_rows, level_value
    from fluxopt.model.builder import build_linear
    from fluxopt.model.decompose import lp_bounds_model
    from fluxopt.model.monthly import plan_by_month

    outcome = plan_by_month(rowset, spec, problem.fixed, settings, progress=progress)
    if outcome.counts is None:
        if settings.interrupt.triggered:
            raise KeyboardInterrupt
        if log is not None:
            log(f"mois {outcome.failed_month} sans plan réalisable : plan annuel puis découpage mensuel")
        return None
    counts = outcome.counts
    t1 = time.perf_counter()
    evaluation = rowset.evaluate(counts)
    if spec.legal == "hard" and rowset.hard_violations(evaluation):
        return None
    dev = evaluation.deviation[[r.index for r in problem.rows]] if problem.rows else np.zeros(0)
    levels = [(lv, level_rows(problem, lv.rows)) for lv in spec.levels]
    values = [level_value(dev, positions, lv.objective) for lv, positions in levels]
    # annual LP bound with the rounding cut, earlier levels held at the plan's values
    hard = {i for i, r in enumerate(problem.rows) if r.hard} if spec.legal == "hard" else set()
    bounds: list[float | None] = [None] * len(levels)
    budget = min(max(0.5, settings.time_limit / 4), max(0.0, settings.time_limit - (t1 - t0)))
    if any(pos for _, pos in levels) and budget > 0.2 and not settings.interrupt.triggered:
        model = build_linear(problem, {i for _, pos in levels for i in pos}, hard)
        bounds = lp_bounds_model(problem, model, levels, values, settings, time.perf_counter() + budget)
    results = bounded_levels(problem, levels, values, bounds, t1 - t0, proven_within=None)
    pacing = _pacing_level(rowset, evaluation, heuristic="feasible")
    proven = all(r.proven for r in results) and pacing.proven
    status = "optimal" if proven else "feasible"
    if settings.interrupt.triggered:
        status = "interrupted"
    t2 = time.perf_counter()
    return Plan(
        rowset=rowset,
        counts=counts,
        evaluation=evaluation,
        levels=tuple(results),
        pacing=pacing,
        status=status,
        forecast=forecast,
        sequence=sequence_of(rowset, counts),
        timings={"mois_par_mois": t1 - t0, "bornes": t2 - t1},
        method="monthly",
    )


def _refresh_levels(
    levels: tuple[LevelResult, ...], problem: AnnualProblem, evaluation: Any
) -> tuple[LevelResult, ...]:
    """Level values recomputed from the final counts: the pacing repair may bring a row closer to its
    target (never further), so a level's value can only drop — never below its proven bound."""
    from fluxopt.model.annual import level_rows, level_value

    dev = evaluation.deviation[[r.index for r in problem.rows]] if problem.rows else np.zeros(0)
    out = []
    for lv in levels:
        value = level_value(dev, level_rows(problem, lv.kinds), lv.objective)
        if abs(value - lv.value) > 1e-9 and not math.isnan(lv.value):
            lv = dataclasses.replace(lv, value=value)
        out.append(lv)
    return tuple(out)


def _repace(
    rowset: RowSet, counts: IntArray, fixed: IntArray, settings: Any, t0: float
) -> tuple[IntArray, dict[str, Any] | None]:
    """Re-time the conventions with a month end above one dwelling (`fluxopt.model.repace`), then, in a
    second round, those still above `AROUND_SELECT` with their neighbours on their own dwellings; within
    what is left of the time limit (no level gets worse); with what it did, for the manifest."""
    if settings.interrupt.triggered:
        return counts, None
    left = settings.time_limit - (time.perf_counter() - t0)
    new, first = repace(rowset, counts, fixed, settings, time_limit=min(left, REPACE_MAX_SECONDS))
    rounds = [first]
    if not settings.interrupt.triggered and first.status not in ("trop grand", "sans temps"):
        left = settings.time_limit - (time.perf_counter() - t0)
        new, second = repace(
            rowset, new, fixed, settings, time_limit=min(left, REPACE_MAX_SECONDS), around=True
        )
        rounds.append(second)
    last = rounds[-1]
    return new, {
        "conventions_recalees": first.columns,
        "rythme_avant": round(first.before, 6),
        "rythme_apres": round(last.after, 6),
        "fins_de_mois_au_dela_de_1_avant": first.rows_above_one_before,
        "fins_de_mois_au_dela_de_1_apres": last.rows_above_one_after,
        "statut": first.status,
        "second_tour": (
            {
                "conventions_recalees": last.columns,
                "rythme_apres": round(last.after, 6),
                "statut": last.status,
            }
            if len(rounds) > 1
            else None
        ),
    }


def _pacing_level(rowset: RowSet, evaluation: Any, heuristic: str = "heuristic") -> LevelResult:
    mask = rowset.mask(RowKind.PACING)
    value = float(evaluation.deviation[mask].sum())
    floor = float(rowset.floors[mask].sum())
    status = "floor" if value <= floor + 1e-9 else heuristic
    return LevelResult("rythme", ("rythme",), "sum", int(mask.sum()), value, floor, floor, status, 0.0)


def diagnose(problem: AnnualProblem, spec: ModelSpec, settings: Any) -> str:
    """The solver proved the hard rows infeasible: relax them and name those that must give way."""
    hard = [i for i, r in enumerate(problem.rows) if r.hard]
    model = build_linear(problem, set(), set())
    lp = model.lp
    # violation variables per hard row: lo − v_lo ≤ fixed + Σx ≤ hi + v_hi
    from fluxopt.model.builder import row_expression

    t_row, t_var = row_expression(problem)
    viol: dict[int, tuple[int, int]] = {}
    for pos in hard:
        lo, hi = problem.rows[pos].admissible()
        v = lp.add_vars(np.zeros(2), np.full(2, INF), integer=False)
        viol[pos] = (int(v[0]), int(v[1]))
        members = model.x[t_var[t_row == pos]]
        fixed = float(problem.fixed_count[pos])
        n = len(members)
        lp.add_cons(
            np.zeros(n + 2, np.int64),
            np.concatenate([members, v]),
            np.concatenate([np.ones(n), [1.0, -1.0]]),
            lo - fixed,
            (hi - fixed) if hi < 10**11 else INF,
            1,
        )
    objective = {var: 1.0 for pair in viol.values() for var in pair}
    outcome = solve(lp, objective, settings, time_limit=max(1.0, settings.time_limit / 2))
    if outcome.values is None:
        return "les règles légales activées ne peuvent pas être respectées ensemble (diagnostic inachevé)."
    broken = [
        problem.rows[pos] for pos, (a, b) in viol.items() if outcome.values[a] + outcome.values[b] > 1e-6
    ]
    if not broken:
        return "Objectifs impossibles : les règles légales ne peuvent pas être respectées ensemble."
    return (
        "Objectifs impossibles : ces règles légales ne peuvent pas être respectées ensemble : "
        + "; ".join(_rule_label(r) for r in broken[:8])
    )


# ------------------------------------------------------------------------------------------- sequence


def sequence_of(rowset: RowSet, counts: IntArray) -> dict[str, list[tuple[int, str]]]:
    """Ordre de passage per commune: month by month, the exact apportionment order of that month's counts."""
    from fluxopt.sequence import order_of_passage

    units = rowset.units
    out: dict[str, list[tuple[int, str]]] = {}
    for code in np.unique(units.commune):
        commune = units.communes[int(code)]
        seq: list[tuple[int, str]] = []
        for m in range(1, 13):
            sel = (units.commune == code) & (units.month == m)
            if not sel.any():
                continue
            per = counts[sel].sum(axis=0)
            month_counts = {c: int(per[j]) for j, c in enumerate(rowset.columns) if per[j] > 0}
            seq.extend((m, c) for c in order_of_passage(month_counts))
        out[commune] = seq
    return dict(sorted(out.items()))


# -------------------------------------------------------------------------------------------- outputs

PLAN_HEADER = (
    "commune", "typologie", "qpv", "financement", "periode_construction", "programme", "mois",
    "convention", "reservataire", "logements",
)  # fmt: skip
OBJECTIVES_HEADER = (
    "convention", "reservataire", "type", "regle", "dimension", "valeur", "sens", "impose", "base", "cible",
    "prevu", "ecart", "plancher_arrondi",
)  # fmt: skip
SEQUENCE_HEADER = ("commune", "rang", "mois", "convention", "reservataire")
#: row sense as written in objectifs.csv (no leading "=", which Excel would take for a formula)
SENSE_FR = {Sense.EQ: "egal", Sense.GE: "au moins", Sense.LE: "au plus"}


def _reservataire_of(scenario: Scenario) -> dict[str, str]:
    out = {c.id: c.reservataire for c in scenario.conventions}
    out[BAILLEUR] = BAILLEUR
    return out


def plan_rows(plan: Plan, scenario: Scenario) -> list[tuple[object, ...]]:
    """plan.csv rows: one per unit × column with a count, in unit then column order."""
    res = _reservataire_of(scenario)
    units = plan.units
    year = plan.rowset.year
    rows: list[tuple[object, ...]] = []
    for u, k in zip(*np.nonzero(plan.counts), strict=True):
        label = units.label(int(u))
        col = plan.columns[int(k)]
        rows.append(
            (*label, f"{year}-{int(units.month[u]):02d}", col, res.get(col, col), int(plan.counts[u, k]))
        )
    return rows


def objective_rows(plan: Plan) -> list[tuple[object, ...]]:
    ev = plan.evaluation
    out: list[tuple[object, ...]] = []
    for r in plan.rowset.rows:
        out.append(
            (
                r.convention, r.reservataire, r.kind.value, r.rule, r.dimension, r.value, SENSE_FR[r.sense],
                r.hard, r.base, round(r.target, 6), round(ev.count[r.index]),
                round(float(ev.deviation[r.index]), 6), round(r.floor, 6),
            )
        )  # fmt: skip
    return out


def sequence_rows(plan: Plan, scenario: Scenario) -> list[tuple[object, ...]]:
    res = _reservataire_of(scenario)
    year = plan.rowset.year
    out: list[tuple[object, ...]] = []
    for commune, seq in plan.sequence.items():
        for rank, (month, col) in enumerate(seq, start=1):
            out.append((commune, rank, f"{year}-{month:02d}", col, res.get(col, col)))
    return out


def plan_results(plan: Plan) -> dict[str, Any]:
    """The figures the manifest and the summary report (all recomputed from the plan)."""
    levels = [*plan.levels, *([plan.pacing] if plan.pacing else [])]
    kinds = {k.value: plan.kind_summary(k) for k in RowKind}
    return {
        "statut": plan.status,
        "statut_fr": STATUS_FR.get(plan.status, plan.status),
        "methode": plan.method,
        "logements_prevus": int(plan.units.total),
        "niveaux": [
            {
                "nom": lv.name,
                "lignes": lv.rows,
                "objectif": lv.objective,
                "valeur": lv.value,
                "borne": lv.bound,
                "ecart_relatif": lv.gap,
                "plancher_arrondi": lv.floor,
                "statut": lv.status,
                "prouve": lv.proven,
            }
            for lv in levels
        ],
        "ecarts_par_type": {
            k: {"lignes": s.rows, "ecart": s.deviation, "plancher": s.floor, "pire": s.worst}
            for k, s in kinds.items()
        },
        "plancher_arrondi_total": float(plan.rowset.floors.sum()),
        "reparation_rythme": plan.repair,
        "objectif": float(sum(lv.value for lv in plan.levels)),
        "borne": float(sum((lv.bound or 0.0) for lv in plan.levels)),
    }


def write_plan(
    plan: Plan,
    scenario: Scenario,
    out_dir: str | Path,
    *,
    dialect: str = "fr",
    manifest: RunManifest | None = None,
) -> Path:
    """Write plan.csv, objectifs.csv, sequence.csv and manifest.json into `out_dir`, atomically."""
    from fluxopt.io.atomic import atomic_output_dir
    from fluxopt.io.csvwrite import csv_bytes

    files = {
        "plan.csv": csv_bytes(PLAN_HEADER, plan_rows(plan, scenario), dialect),  # type: ignore[arg-type]
        "objectifs.csv": csv_bytes(OBJECTIVES_HEADER, objective_rows(plan), dialect),  # type: ignore[arg-type]
        "sequence.csv": csv_bytes(SEQUENCE_HEADER, sequence_rows(plan, scenario), dialect),  # type: ignore[arg-type]
    }
    target = Path(out_dir)
    with atomic_output_dir(target) as staged:
        for name, data in files.items():
            staged.write_bytes(name, data)
        if manifest is not None:
            manifest.outputs = [*files, "manifest.json"]
            manifest.results = plan_results(plan)
            manifest.finish(plan.status)
            staged.write_text("manifest.json", manifest.to_json())
    return target


def summary_fr(plan: Plan) -> str:
    """Human summary for stderr, in French."""
    lines = [
        f"Plan annuel : {plan.units.total} logements prévus — statut : {STATUS_FR.get(plan.status, plan.status)}"
        f" — méthode : {METHOD_FR.get(plan.method, plan.method)}."
    ]
    for lv in [*plan.levels, *([plan.pacing] if plan.pacing else [])]:
        gap = lv.gap
        proof = (
            "optimal prouvé"
            if lv.proven
            else (
                f"écart à la borne {gap * 100:.1f} %".replace(".", ",") if gap is not None else "non prouvé"
            )
        )
        if lv.status == "heuristic":
            proof = "heuristique (non prouvé)"
        if lv.name == "rythme":
            pacing_dev = plan.evaluation.deviation[plan.rowset.mask(RowKind.PACING)]
            above = int((pacing_dev > 1 + 1e-9).sum())
            proof += f", {above} fin(s) de mois à plus d'un logement de l'objectif"
        lines.append(
            f"  · {lv.name} : écart {_fmt2(lv.value)} logement(s), plancher d'arrondi {_fmt2(lv.floor)}, "
            f"borne {_fmt2(lv.bound) if lv.bound is not None else '—'} — {proof}"
        )
    legal = plan.kind_summary(RowKind.LEGAL)
    if legal.rows:
        lines.append(f"  · règles légales : {legal.rows} ligne(s) respectée(s)")
    return "\n".join(lines)


def _fmt2(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}".replace(".", ",")
