#!/usr/bin/env python3
"""Long fuzzing profile of tests/reliability/test_rel_fuzz.py (CI runs 25 derandomized examples per test).

    .venv/bin/python bench/fuzz.py                      # 500 fresh random examples per test
    .venv/bin/python bench/fuzz.py --examples 5000 -k scenarios

Each fuzz test runs in its own pytest process with `FLUXOPT_FUZZ_EXAMPLES` set, which also switches off
hypothesis' derandomization: every run explores new inputs. A failure prints hypothesis' minimal example
(and the `@reproduce_failure` line to replay it); the table gives examples, wall time and the verdict.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE = "tests/reliability/test_rel_fuzz.py"
TESTS = [
    "test_mutated_inputs_give_only_fluxopts_errors",
    "test_random_bytes_as_any_input",
    "test_arbitrary_scenarios_are_refused_cleanly_or_planned_correctly",
    "test_scenario_model_refuses_cleanly_and_keeps_numbers_finite",
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=500, help="examples per test (default 500)")
    parser.add_argument("-k", default="", help="only the tests whose name contains this text")
    args = parser.parse_args()
    env = {**os.environ, "FLUXOPT_FUZZ_EXAMPLES": str(args.examples)}
    rows: list[tuple[str, str, str]] = []
    failed = False
    for test in TESTS:
        if args.k and args.k not in test:
            continue
        start = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--timeout=0",
                f"{MODULE}::{test}",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - start
        verdict = "ok" if done.returncode == 0 else "ÉCHEC"
        failed |= done.returncode != 0
        rows.append((test, f"{seconds:.0f} s", verdict))
        if done.returncode != 0:
            print(done.stdout[-6000:], file=sys.stderr)
    width = max(len(r[0]) for r in rows) if rows else 10
    print(f"Fuzzing, {args.examples} exemples par test")
    print(f"{'test'.ljust(width)}  {'durée':>8}  verdict")
    for test, seconds, verdict in rows:
        print(f"{test.ljust(width)}  {seconds:>8}  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
