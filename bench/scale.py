#!/usr/bin/env python3
"""Scale: every command on a 500,000-dwelling landlord with ~30,000 vacancies a year; time and peak memory.

    .venv/bin/python bench/scale.py                       # generate, then validate, plan, designate, compare, bilan
    .venv/bin/python bench/scale.py --report              # + the HTML/XLSX report
    .venv/bin/python bench/scale.py --dwellings 100000 --vacancies 6000 --communes 60

The scenario comes from `scenarios/generate.py custom` (seeded: the same arguments give the same files) with
actual vacancies and designations up to `--actuals-until` (30/09 by default: ~22,000 actual vacancies and
~17,000 designations, the rest of the year forecast). Each command runs as its own process, exactly as a user
runs it; its wall time, CPU time and peak resident memory (`wait4` rusage of that child) are printed in a
table, with the exit code and the size of what it wrote. A command that fails is reported, not hidden.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLUXOPT = Path(sys.executable).parent / "fluxopt"


@dataclass
class Run:
    label: str
    code: int
    wall: float
    cpu: float
    peak_mb: float
    written_mb: float
    last_line: str


def run(label: str, args: list[str], cwd: Path, written: Path | None) -> Run:
    """Run one process; wall time, CPU time and peak memory of that child alone (`os.wait4`)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        lines = [line for line in err.read().decode("utf-8", "replace").splitlines() if line.strip()]
    size = 0
    if written is not None and written.exists():
        files = [written] if written.is_file() else [p for p in written.rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
    peak = usage.ru_maxrss / 1024 if sys.platform.startswith("linux") else usage.ru_maxrss / 2**20
    return Run(
        label,
        proc.returncode,
        wall,
        usage.ru_utime + usage.ru_stime,
        peak,
        size / 2**20,
        (lines or [""])[-1][:110],
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dwellings", type=int, default=500_000)
    parser.add_argument("--communes", type=int, default=200)
    parser.add_argument("--departements", type=int, default=5)
    parser.add_argument("--vacancies", type=int, default=30_000, help="expected vacancies a year")
    parser.add_argument("--actuals-until", default="2026-09-30", help="actual vacancies/designations up to")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=None, help="plan/designate --time-limit (s)")
    parser.add_argument("--report", action="store_true", help="also run fluxopt report")
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="fluxopt-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    scenario, out = work / "scenario", work / "sorties"
    as_of = dt_fr(args.actuals_until)
    limit = ["--time-limit", str(args.time_limit)] if args.time_limit else []
    runs: list[Run] = []
    try:
        if scenario.exists():
            shutil.rmtree(scenario)
        runs.append(
            run(
                "génération (scenarios/generate.py)",
                [
                    sys.executable, str(ROOT / "scenarios" / "generate.py"), "custom", "--out", str(scenario),
                    "--seed", str(args.seed), "--dwellings", str(args.dwellings), "--communes", str(args.communes),
                    "--departements", str(args.departements), "--vacancies", str(args.vacancies),
                    "--actuals-until", args.actuals_until,
                ],
                work,
                scenario,
            )
        )  # fmt: skip
        steps: list[tuple[str, list[str], Path | None]] = [
            ("validate", ["validate", str(scenario)], None),
            ("plan", ["plan", str(scenario), "-o", str(out / "plan"), *limit], out / "plan"),
            (
                "designate",
                ["designate", str(scenario), "--as-of", as_of, "-o", str(out / "designations"), *limit],
                out / "designations",
            ),
            (
                "compare",
                [
                    "compare",
                    str(scenario),
                    "--plan",
                    str(out / "plan"),
                    "--format",
                    "csv",
                    "-o",
                    str(out / "c.csv"),
                ],
                out / "c.csv",
            ),
            (
                "compare --vue detail",
                [
                    "compare",
                    str(scenario),
                    "--vue",
                    "detail",
                    "--format",
                    "csv",
                    "-o",
                    str(out / "detail.csv"),
                ],
                out / "detail.csv",
            ),
            (
                "bilan",
                ["bilan", str(scenario), "--year", args.actuals_until[:4], "-o", str(out / "bilan")],
                out / "bilan",
            ),
        ]
        if args.report:
            steps.append(
                (
                    "report",
                    ["report", str(scenario), "--plan", str(out / "plan"), "-o", str(out / "rapport")],
                    out / "rapport",
                )
            )
        for label, command, written in steps:
            print(f"… {label}", file=sys.stderr, flush=True)
            runs.append(run(label, [str(FLUXOPT), *command], work, written))
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    stock = args.dwellings

    def fr(n: int) -> str:
        return f"{n:,}".replace(",", "\u202f")

    print(
        f"\nfluxopt à l'échelle : {fr(stock)} logements, {args.communes} communes, {args.departements} départements, "
        f"~{fr(args.vacancies)} libérations par an, réalisé jusqu'au {as_of} (graine {args.seed})"
    )
    print(f"{'commande':<36} {'code':>4} {'durée s':>8} {'CPU s':>7} {'mémoire max':>12} {'écrit':>9}")
    for r in runs:
        print(
            f"{r.label:<36} {r.code:>4} {r.wall:>8.1f} {r.cpu:>7.1f} {r.peak_mb:>9.0f} Mo {r.written_mb:>6.1f} Mo"
        )
    failed = [r for r in runs if r.code != 0]
    for r in failed:
        print(f"ÉCHEC {r.label} (code {r.code}) : {r.last_line}")
    if args.keep or args.work is not None:
        print(f"Dossier de travail : {work}")
    return 1 if failed else 0


def dt_fr(iso: str) -> str:
    """`2026-09-30` → `30/09/2026` (the form a user types)."""
    year, month, day = iso.split("-")
    return f"{day}/{month}/{year}"


if __name__ == "__main__":
    sys.exit(main())
