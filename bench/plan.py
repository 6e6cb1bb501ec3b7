#!/usr/bin/env python3
"""Benchmark of the annual planner against the "most behind first" baseline, on the same forecast.

    .venv/bin/python bench/plan.py                 # cap-habitat + generated large landlord
    .venv/bin/python bench/plan.py --only cap-habitat
    .venv/bin/python bench/plan.py --only cap-habitat --no-lp --repeat 9   # median time of 9 plans
    .venv/bin/python bench/plan.py --large-dwellings 300000 --large-communes 150 --large-conventions 180

Each scenario runs in its own process (so that its peak memory is its own). Printed per scenario:
solve time (wall and CPU), every level's value / bound / floor, then for fluxopt's plan and for the
baseline the sums of deviations (in dwellings) on totals, representativeness and pacing, the rounding
floor, the ratios to the floor, the worst rows and the month-end rows above one dwelling.

Baseline "most behind first" (today's spreadsheet rule): the forecast dwellings are taken in time order
(month, then segment order); each goes to the eligible convention furthest below its running target
(share × base seen so far, this dwelling included); the landlord competes with its remainder share, so
it keeps the dwelling when no convention is owed more than it is.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def most_behind_first(rowset) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Designations [units, columns] by the largest-deficit rule, in time order."""
    units = rowset.units
    shares = rowset.shares
    n_units, n_cols = shares.shape
    counts = np.zeros((n_units, n_cols), dtype=np.int64)
    target = np.zeros(n_cols)
    got = np.zeros(n_cols)
    order = np.lexsort((np.arange(n_units), units.month))
    eligible = rowset.eligible()
    for u in order.tolist():
        for _ in range(int(units.base[u])):
            target += shares[u]
            deficit = np.where(eligible[u], target - got, -np.inf)
            k = int(np.argmax(deficit))
            counts[u, k] += 1
            got[k] += 1
    return counts


def measure(
    scenario_path: str, model: str, lp_bound: bool, time_limit: float | None, repeat: int = 1
) -> dict:  # type: ignore[type-arg]
    from fluxopt.domain.model_spec import load_model_spec
    from fluxopt.io.scenario import load_scenario
    from fluxopt.model.annual import settings_from_spec
    from fluxopt.model.builder import build_annual
    from fluxopt.model.decompose import lp_bounds
    from fluxopt.planning import plan
    from fluxopt.rows import RowKind

    scenario = load_scenario(scenario_path)
    walls, cpus = [], []
    for _ in range(max(1, repeat)):  # the same deterministic plan each time: only the timings vary
        t0, c0 = time.perf_counter(), time.process_time()
        result = plan(scenario, model=model, time_limit=time_limit)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    wall, cpu = float(np.median(walls)), float(np.median(cpus))
    rowset = result.rowset
    baseline = rowset.evaluate(most_behind_first(rowset))
    out: dict = {  # type: ignore[type-arg]
        "scenario": Path(scenario_path).name,
        "dwellings": int(rowset.units.total),
        "conventions": len(rowset.columns) - 1,
        "communes": len(set(rowset.units.commune.tolist())),
        "rows": len(rowset.rows),
        "wall_s": wall,
        "cpu_s": cpu,
        "walls": walls,
        "timings": result.timings,
        "status": result.status,
        "levels": [
            {"name": lv.name, "value": lv.value, "bound": lv.bound, "floor": lv.floor, "status": lv.status}
            for lv in [*result.levels, *([result.pacing] if result.pacing else [])]
        ],
    }
    kinds = {}
    for kind in (RowKind.TOTAL, RowKind.REPRESENTATIVENESS, RowKind.PACING, RowKind.LEGAL, RowKind.WISH):
        mask = rowset.mask(kind)
        floor = float(rowset.floors[mask].sum())
        plan_dev = result.evaluation.deviation[mask]
        base_dev = baseline.deviation[mask]
        kinds[kind.value] = {
            "rows": int(mask.sum()),
            "floor": floor,
            "fluxopt": float(plan_dev.sum()),
            "fluxopt_worst": float(plan_dev.max()) if mask.any() else 0.0,
            "fluxopt_above_1": int((plan_dev > 1 + 1e-9).sum()),
            "baseline": float(base_dev.sum()),
            "baseline_worst": float(base_dev.max()) if mask.any() else 0.0,
            "baseline_above_1": int((base_dev > 1 + 1e-9).sum()),
        }
    out["kinds"] = kinds
    legal_bad = rowset.hard_violations(baseline)
    out["baseline_legal_violations"] = len(legal_bad)
    if lp_bound:
        spec, _, _ = load_model_spec(model)
        problem = build_annual(rowset)
        values = [lv.value for lv in result.levels]
        t1 = time.perf_counter()
        bounds = lp_bounds(problem, spec, values, settings_from_spec(spec, time_limit=120))
        out["lp_bounds"] = bounds
        out["lp_seconds"] = time.perf_counter() - t1
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def generate_large(folder: Path, dwellings: int, communes: int, conventions: int, seed: int) -> None:
    spec = importlib.util.spec_from_file_location("generate", ROOT / "scenarios" / "generate.py")
    assert spec and spec.loader
    subprocess.run(
        [
            sys.executable, str(ROOT / "scenarios" / "generate.py"), "custom", "--out", str(folder),
            "--seed", str(seed), "--dwellings", str(dwellings), "--communes", str(communes),
            "--conventions", str(conventions), "--departements", "3",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip


def fmt(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def table(result: dict) -> str:  # type: ignore[type-arg]
    walls = result.get("walls", [])
    spread = (
        f" (median of {len(walls)} runs in one process, wall {min(walls):.2f}–{max(walls):.2f} s)"
        if len(walls) > 1
        else ""
    )
    lines = [
        f"### {result['scenario']} — {result['dwellings']} logements prévus, {result['conventions']} conventions, "
        f"{result['communes']} communes, {result['rows']} lignes",
        "",
        f"solve: {fmt(result['wall_s'], 2)} s wall, {fmt(result['cpu_s'], 2)} s CPU "
        f"(annual {fmt(result['timings'].get('annuel'), 2)} s, months+polish {fmt(result['timings'].get('mois'), 2)} s); "
        f"status {result['status']}; peak RSS {fmt(result['peak_rss_mb'], 0)} MB{spread}",
        "",
        "| level | value | bound | rounding floor | gap to bound | status |",
        "|---|---|---|---|---|---|",
    ]
    for lv in result["levels"]:
        gap = None
        if lv["bound"] is not None and lv["value"] > 1e-9:
            gap = 100 * (lv["value"] - lv["bound"]) / lv["value"]
        lines.append(
            f"| {lv['name']} | {fmt(lv['value'], 2)} | {fmt(lv['bound'], 2)} | {fmt(lv['floor'], 2)} | "
            f"{fmt(gap, 1)} % | {lv['status']} |"
        )
    if "lp_bounds" in result:
        lines.append("")
        lines.append(
            "LP bound with the rounding cut per level (earlier levels held at the plan's values): "
            + ", ".join(fmt(b, 2) for b in result["lp_bounds"])
            + f" ({fmt(result['lp_seconds'], 1)} s)"
        )
    lines += [
        "",
        "| rows | floor | fluxopt | ratio | worst | rows > 1 | most behind first | ratio | worst | rows > 1 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, k in result["kinds"].items():
        if not k["rows"]:
            continue
        fl = k["floor"]
        r1 = k["fluxopt"] / fl if fl > 1e-9 else None
        r2 = k["baseline"] / fl if fl > 1e-9 else None
        lines.append(
            f"| {kind} ({k['rows']}) | {fmt(fl)} | {fmt(k['fluxopt'])} | {fmt(r1, 2)}× | {fmt(k['fluxopt_worst'], 2)} | "
            f"{k['fluxopt_above_1']} | {fmt(k['baseline'])} | {fmt(r2, 2)}× | {fmt(k['baseline_worst'], 2)} | "
            f"{k['baseline_above_1']} |"
        )
    lines.append(f"\nbaseline legal-rule violations: {result['baseline_legal_violations']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["cap-habitat", "large"], default=None)
    parser.add_argument("--model", default="equilibre")
    parser.add_argument("--large-dwellings", type=int, default=300_000)
    parser.add_argument("--large-communes", type=int, default=150)
    parser.add_argument("--large-conventions", type=int, default=180)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-lp", action="store_true", help="skip the LP bounds (slow on the large landlord)"
    )
    parser.add_argument(
        "--time-limit", type=float, default=None, help="solver time limit for cap-habitat (s)"
    )
    parser.add_argument(
        "--large-time-limit", type=float, default=15.0, help="solver time limit for the large landlord (s)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="plan each scenario N times in its process; report the median time",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.model, not args.no_lp, args.time_limit, args.repeat)))
        return
    runs: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "cap-habitat"):
            runs.append(str(ROOT / "scenarios" / "cap-habitat"))
        if args.only in (None, "large"):
            large = Path(tmp) / "grand-bailleur-300k"
            generate_large(
                large, args.large_dwellings, args.large_communes, args.large_conventions, args.seed
            )
            runs.append(str(large))
        for path in runs:
            cmd = [
                sys.executable,
                __file__,
                "--one",
                path,
                "--model",
                args.model,
                "--repeat",
                str(args.repeat),
            ]
            limit = args.time_limit if path == runs[0] and args.only != "large" else args.large_time_limit
            if limit is not None:
                cmd += ["--time-limit", str(limit)]
            if args.no_lp or path != runs[0]:
                cmd.append("--no-lp")
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            print(table(json.loads(done.stdout.strip().splitlines()[-1])))
            print()


if __name__ == "__main__":
    main()
