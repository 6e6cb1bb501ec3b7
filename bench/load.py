#!/usr/bin/env python3
"""Time `load_scenario` (+ `validate`) on the shipped scenarios and on generated large stocks.

    .venv/bin/python bench/load.py            # shipped + 500,000 dwellings (plain and French Excel) + ~100 MB
    .venv/bin/python bench/load.py --quick    # shipped + 500,000 plain only

Each measurement runs in a fresh process (so peak memory is that load's own), best of `--repeat` runs.
Prints a Markdown table: rows, wall seconds, CPU seconds, seconds per 100,000 rows (wall and CPU),
validation seconds and peak resident memory. CPU time is the figure to quote on a busy machine.
Generated scenarios come from `scenarios/generate.py custom` (seeded), written under a temp directory.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def measure_one(folder: str) -> dict[str, float]:
    """Load and validate one scenario in this process; report times and peak memory."""
    from fluxopt.io.scenario import load_scenario
    from fluxopt.validate import validate

    wall, cpu = time.perf_counter(), time.process_time()
    scenario = load_scenario(folder, check=False, warn=lambda _: None)
    load_wall, load_cpu = time.perf_counter() - wall, time.process_time() - cpu
    wall = time.perf_counter()
    problems = validate(scenario)
    validate_wall = time.perf_counter() - wall
    return {
        "rows": len(scenario.stock) + len(scenario.vacancies) + len(scenario.designations),
        "dwellings": len(scenario.stock),
        "load_wall": load_wall,
        "load_cpu": load_cpu,
        "validate_wall": validate_wall,
        "problems": len(problems),
        "peak_mb": _peak_mb(),
    }


def _peak_mb() -> float:
    """Peak resident memory of this process (VmHWM; ru_maxrss would include the parent's, kept across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(folder: Path, repeat: int) -> dict[str, float]:
    best: dict[str, float] | None = None
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(folder)], check=True, capture_output=True, text=True
        ).stdout
        result = json.loads(out)
        if best is None or result["load_cpu"] < best["load_cpu"]:
            best = result
    assert best is not None
    return best


def generate(out: Path, dwellings: int, french_excel: bool) -> Path:
    spec = importlib.util.spec_from_file_location("generate", REPO / "scenarios" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.generate(
        "custom", out, seed=1, dwellings=dwellings, communes=150, departements=3, french_excel=french_excel
    )
    return out


def inflate(source: Path, out: Path, target_bytes: int) -> Path:
    """Copy a scenario, repeating its stock rows (with new ids) until the stock file reaches `target_bytes`."""
    out.mkdir(parents=True, exist_ok=True)
    for file in source.iterdir():
        if file.name != "patrimoine.csv":
            (out / file.name).write_bytes(file.read_bytes())
    lines = (source / "patrimoine.csv").read_text(encoding="utf-8").splitlines()
    header, body = lines[0], lines[1:]
    with open(out / "patrimoine.csv", "w", encoding="utf-8", newline="") as handle:
        handle.write(header + "\n")
        size, copy = len(header) + 1, 0
        while size < target_bytes:
            prefix = f"X{copy}-" if copy else ""
            for line in body:
                row = prefix + line + "\n"
                handle.write(row)
                size += len(row)
                if size >= target_bytes:
                    break
            copy += 1
    return out


def _n(value: float) -> str:
    return f"{value:,.0f}".replace(",", " ")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="shipped scenarios and 500,000 plain only")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (best CPU time kept)")
    parser.add_argument("--dwellings", type=int, default=500_000)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one)))
        return

    cases: list[tuple[str, Path, int]] = []
    for name in ("mini", "cap-habitat", "grand-bailleur"):
        if (REPO / "scenarios" / name / "scenario.toml").is_file():
            cases.append((f"{name} (livré)", REPO / "scenarios" / name, args.repeat))
    with tempfile.TemporaryDirectory(prefix="fluxopt-bench-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        plain = generate(root / "plain", args.dwellings, french_excel=False)
        count = f"{args.dwellings:,}".replace(",", " ")
        cases.append((f"{count} logements, CSV simple", plain, args.repeat))
        if not args.quick:
            french = generate(root / "french", args.dwellings, french_excel=True)
            cases.append((f"{count} logements, CSV Excel FR", french, args.repeat))
            big = inflate(plain, root / "big", 100 * 1024 * 1024)
            size = (big / "patrimoine.csv").stat().st_size / 2**20
            cases.append((f"patrimoine de {size:.0f} Mo", big, 1))
        print(f"(génération des scénarios : {time.perf_counter() - started:.1f} s)", file=sys.stderr)

        print(
            f"Python {sys.version.split()[0]}, {os.cpu_count()} cœurs ; meilleur de {args.repeat} (1 pour ~100 Mo)\n"
        )
        print(
            "| scénario | lignes | logements | chargement (s) | CPU (s) | s / 100 000 lignes | "
            "CPU s / 100 000 lignes | validation (s) | mémoire max (Mo) |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for label, folder, repeat in cases:
            r = run_child(folder, repeat)
            per = 100_000 / max(r["rows"], 1)
            print(
                f"| {label} | {_n(r['rows'])} | {_n(r['dwellings'])} | {r['load_wall']:.2f} | {r['load_cpu']:.2f} | "
                f"{r['load_wall'] * per:.2f} | {r['load_cpu'] * per:.2f} | {r['validate_wall']:.2f} | "
                f"{r['peak_mb']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
