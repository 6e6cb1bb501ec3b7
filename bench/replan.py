"""Benchmark of the weekly re-planning (issue 4): designate times, plan churn, and simulated years.

1. `designate` wall time on the Cap-Habitat-like scenario and on the large landlord: the week's decision
   alone (load + state + weekly model, i.e. `--sans-plan`) and with the re-planned rest of the year, in
   this process; then the whole command as a user runs it (a fresh `python -m fluxopt designate` process,
   Python's start and the imports included) against the issue's targets (≤ 1 s, ≤ 5 s).
1c. The whole weekly call (in this process) at several dates of each scenario's actuals: the re-plan's size
   and time change with the date (more forecast and fewer realised dwellings early in the year), so one date
   says little. `--skip-year` leaves it out (about 4 minutes).
2. Churn of the rest-of-year plan over four consecutive weeks of the Cap Habitat actuals.
3. `--runs` simulated years of Cap Habitat: fluxopt against the three baselines on the same draws.
4. Turnover 20 % below / above the forecast (fluxopt only, `--sensitivity-runs` years each).

    .venv/bin/python bench/replan.py [--runs 100] [--sensitivity-runs 30] [--jobs 2] [--skip-sim] [--skip-year]

Tables are printed in Markdown (the README quotes them). Timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CAP = ROOT / "scenarios" / "cap-habitat"
LARGE = ROOT / "scenarios" / "grand-bailleur"


def _fmt(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


def designate_times(folder: Path, as_of: dt.date, repeats: int) -> dict[str, float]:
    from fluxopt.io.scenario import load_scenario
    from fluxopt.replan import designate

    load, decision, full, free = [], [], [], 0
    status = ""
    for _ in range(repeats):
        t0 = time.perf_counter()
        scen = load_scenario(folder)
        t1 = time.perf_counter()
        res = designate(scen, as_of, with_plan=False)
        t2 = time.perf_counter()
        res_full = designate(scen, as_of)
        t3 = time.perf_counter()
        load.append(t1 - t0)
        decision.append(t2 - t1)
        full.append(t3 - t2)
        free = len(res.state.free)
        status = res_full.plan.status if res_full.plan else ""
    return {
        "load": statistics.median(load),
        "decision": statistics.median(decision),
        "week_model": res.week.seconds if res.week else 0.0,
        "full": statistics.median(full),
        "free": free,
        "base": res.state.rowset.units.total,
        "status": status,  # type: ignore[dict-item]
    }


def command_times(folder: Path, as_of: dt.date, repeats: int, *extra: str) -> list[float]:
    """Wall times of `repeats` fresh `python -m fluxopt designate` processes (outputs in a temporary
    directory), as a user runs the weekly command."""
    import subprocess
    import tempfile

    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            command = [
                sys.executable,
                "-m",
                "fluxopt",
                "designate",
                str(folder),
                "--as-of",
                f"{as_of:%Y-%m-%d}",
            ]
            t0 = time.perf_counter()
            done = subprocess.run([*command, "-o", out, *extra], capture_output=True, text=True, check=False)
            times.append(time.perf_counter() - t0)
            if done.returncode != 0:
                raise SystemExit(f"{' '.join(command)} : code {done.returncode}\n{done.stderr}")
    return times


#: dates of section 1c: within each scenario's actuals (Cap Habitat to 30/06, grand-bailleur to 31/03)
YEAR_DATES = {
    CAP: [dt.date(2026, m, d) for m, d in ((1, 31), (2, 28), (3, 31), (4, 30), (5, 31), (6, 30))],
    LARGE: [dt.date(2026, m, d) for m, d in ((1, 15), (2, 1), (2, 15), (3, 1), (3, 15), (3, 31))],
}


def year_times(folder: Path, days: list[dt.date]) -> list[dict[str, object]]:
    """The weekly call (week's decision and re-plan, scenario loaded) on `folder`'s actuals known at each
    date, once each: its time, the plan's size, its representativeness and pacing, and where the time went."""
    from fluxopt.io.scenario import load_scenario
    from fluxopt.replan import designate

    scen = load_scenario(folder)
    rows: list[dict[str, object]] = []
    for day in days:
        t0 = time.perf_counter()
        res = designate(truncated(scen, day), day)
        seconds = time.perf_counter() - t0
        plan = res.plan
        assert plan is not None
        levels = {lv.name: lv.value for lv in plan.levels}
        rows.append(
            {
                "day": day,
                "base": int(res.state.rowset.units.total),
                "planned": int(plan.counts.sum()),
                "seconds": seconds,
                "annual": plan.timings.get("annuel", 0.0),
                "months": plan.timings.get("mois", 0.0),
                "rep": levels.get("representativite", float("nan")),
                "pacing": plan.pacing.value,
                "status": plan.status,
            }
        )
    return rows


def truncated(scen, as_of: dt.date):  # type: ignore[no-untyped-def]
    """The scenario with only the facts known on `as_of` (vacancies and designations dated on or before)."""
    from fluxopt.domain import Designations, Vacancies

    day = np.datetime64(as_of, "D")
    v = scen.vacancies
    keep = v.date <= day
    vac = Vacancies(v.dwelling[keep], v.date[keep], v.exclusion[keep], v.line[keep], v.source)
    d = scen.designations
    k = d.date <= day
    des = Designations(
        d.dwelling[k],
        d.date[k],
        tuple(c for c, ok in zip(d.convention, k, strict=True) if ok),
        d.status[k],
        np.where(d.lease_date[k] <= day, d.lease_date[k], np.datetime64("NaT")),
        d.priority_household[k],
        d.first_quartile[k],
        d.line[k],
        d.source,
    )
    return replace(scen, vacancies=vac, designations=des)


def churn_weeks(folder: Path, days: list[dt.date]) -> list[tuple[dt.date, int, int, int, int]]:
    from fluxopt.io.scenario import load_scenario
    from fluxopt.planning import plan_rows
    from fluxopt.replan import designate, plan_table

    scen = load_scenario(folder)
    previous = None
    out = []
    for day in days:
        res = designate(truncated(scen, day), day, previous_plan=previous)
        assert res.plan is not None
        if res.churn is not None:
            c = res.churn
            out.append((day, len(res.designations), c.changed_year, c.changed, c.planned))
        previous = plan_table(plan_rows(res.plan, scen))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--sensitivity-runs", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-sim", action="store_true")
    parser.add_argument("--skip-designate", action="store_true")
    parser.add_argument("--skip-year", action="store_true")
    args = parser.parse_args()

    if not args.skip_designate:
        print("## 1. `fluxopt designate` (médiane de", args.repeats, "exécutions, en secondes)\n")
        print(
            "| scénario | date | base réalisée | logements libres | chargement | décision de la semaine (dont modèle) | plan du reste de l'année (statut) |"
        )
        print("|---|---|---|---|---|---|---|")
        for folder, day in ((CAP, dt.date(2026, 6, 30)), (LARGE, dt.date(2026, 3, 31))):
            t = designate_times(folder, day, args.repeats)
            print(
                f"| {folder.name} | {day:%d/%m/%Y} | {t['base']} | {t['free']} | {_fmt(t['load'])} | "
                f"{_fmt(t['decision'])} ({_fmt(t['week_model'])}) | {_fmt(t['full'])} ({t['status']}) |"
            )
            sys.stdout.flush()

        print(f"\n## 1b. La commande entière, processus neuf (min / médiane / max de {args.repeats})\n")
        print("| scénario | commande | min | médiane | max | cible | médiane / cible |")
        print("|---|---|---|---|---|---|---|")
        for folder, day, target in ((CAP, dt.date(2026, 6, 30), 1.0), (LARGE, dt.date(2026, 3, 31), 5.0)):
            for label, extra in (("designate", ()), ("designate --sans-plan", ("--sans-plan",))):
                times = command_times(folder, day, args.repeats, *extra)
                med = statistics.median(times)
                print(
                    f"| {folder.name} | {label} | {_fmt(min(times))} | {_fmt(med)} | {_fmt(max(times))} | "
                    f"≤ {target:g} s | {med / target:.2f} |"
                )
                sys.stdout.flush()

        if not args.skip_year:
            print(
                "\n## 1c. L'appel hebdomadaire à plusieurs dates (dans ce processus, une fois chacune, en secondes)\n"
            )
            print(
                "| scénario | date | base réalisée | logements planifiés | appel entier | dont niveaux annuels | "
                "dont mois et réparation | représentativité | rythme | statut |"
            )
            print("|---|---|---|---|---|---|---|---|---|---|")
            for folder, target in ((CAP, 1.0), (LARGE, 5.0)):
                rows = year_times(folder, YEAR_DATES[folder])
                for r in rows:
                    print(
                        f"| {folder.name} | {r['day']:%d/%m/%Y} | {r['base']} | {r['planned']} | "
                        f"{_fmt(float(r['seconds']))} | {_fmt(float(r['annual']))} | {_fmt(float(r['months']))} | "
                        f"{_fmt(float(r['rep']))} | {_fmt(float(r['pacing']))} | {r['status']} |"
                    )
                times = [float(r["seconds"]) for r in rows]
                print(
                    f"| {folder.name} | min / médiane / max | | | {_fmt(min(times))} / "
                    f"{_fmt(statistics.median(times))} / {_fmt(max(times))} (cible ≤ {target:g} s, processus neuf) "
                    "| | | | | |"
                )
                sys.stdout.flush()

        print("\n## 2. Changements du plan du reste de l'année, semaines consécutives (Cap Habitat)\n")
        print(
            "| semaine au | désignés | changent de convention (commune × convention) | "
            "changent de convention ou de mois | prévus (mois suivants) |"
        )
        print("|---|---|---|---|---|")
        days = [dt.date(2026, 6, 7), dt.date(2026, 6, 14), dt.date(2026, 6, 21), dt.date(2026, 6, 28)]
        for day, n, year, month, planned in churn_weeks(CAP, days):
            print(
                f"| {day:%d/%m/%Y} | {n} | {year} ({year / planned * 100:.1f} %) | "
                f"{month} ({month / planned * 100:.1f} %) | {planned} |"
            )
        sys.stdout.flush()

    if args.skip_sim:
        return
    from fluxopt.io.scenario import load_scenario
    from fluxopt.simulate import SimulationSettings, report_text, simulate

    scen = load_scenario(CAP)
    print(f"\n## 3. {args.runs} années simulées de Cap Habitat (rotation comme prévue)\n")
    start = time.perf_counter()
    report = simulate(scen, SimulationSettings(runs=args.runs, seed=args.seed, jobs=args.jobs))
    print("```")
    print(report_text(report), end="")
    print("```")
    print(f"({time.perf_counter() - start:.0f} s)")
    flux = report.summary("fluxopt")
    greedy = report.summary("glouton")
    print("\nCibles de l'issue 4 :")
    print(
        f"- toutes les conventions à ±1 en fin d'année : {flux.years_all_within_one * 100:.0f} % des années (cible ≥ 95 %)"
    )
    print(
        f"- représentativité / plancher : {flux.floor_ratio:.2f} (cible ≤ 2) ; fluxopt {flux.representativeness_total:.1f} "
        f"contre glouton {greedy.representativeness_total:.1f} sur les mêmes tirages"
    )
    print(
        f"- pire ligne en fin d'année : {flux.worst_row_max:.2f} (années sans ligne > 2 : "
        f"{flux.years_no_row_over_two * 100:.0f} %)"
    )
    sys.stdout.flush()

    print(
        f"\n## 4. Rotation 20 % sous / au-dessus de la prévision ({args.sensitivity_runs} années, fluxopt)\n"
    )
    print(
        "| rotation réelle | base moyenne | conventions à ±1 (années) | à ±2 (années) | pire écart de fin d'année | représentativité / plancher |"
    )
    print("|---|---|---|---|---|---|")
    for factor in (0.8, 1.2):
        rep = simulate(
            scen,
            SimulationSettings(
                runs=args.sensitivity_runs,
                seed=args.seed,
                policies=("fluxopt",),
                turnover_factor=factor,
                jobs=args.jobs,
            ),
        )
        s = rep.summaries[0]
        print(
            f"| × {factor:g} | {s.vacancies_mean:.0f} | {s.years_all_within_one * 100:.0f} % | "
            f"{s.years_all_within_two * 100:.0f} % | {s.year_end_max_abs:.2f} | {s.floor_ratio:.2f} |"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
