"""Benchmark: maximum running deviation of sequencing rules on random streams.

Each stream draws 3–12 conventions with shares in the realistic range and a year of D vacancies
(50–1,200); counts are the exact apportionment of D, and every rule then orders D slots with
shares = counts / D. Printed: mean and worst maximum running deviation |x_k(t) − t·p_k| (dwellings),
share of streams below 1, and mean time per stream.

    .venv/bin/python bench/sequence.py [--streams 200] [--seed 7]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from fluxopt.sequence import (
    divisor_sequence,
    largest_deficit_sequence,
    max_running_deviation,
    order_of_passage,
    sequence_from_shares,
)

Rule = Callable[[dict[str, int]], list[str]]


def _shares(counts: dict[str, int]) -> dict[str, float]:
    return {k: float(v) for k, v in counts.items()}


RULES: dict[str, Rule] = {
    "ordre de passage exact (Steiner–Yeomans)": order_of_passage,
    "méthode du quota (Balinski–Young)": lambda c: sequence_from_shares(_shares(c), sum(c.values())),
    "plus en retard d'abord (largest deficit)": lambda c: largest_deficit_sequence(
        _shares(c), sum(c.values())
    ),
    "Webster (Sainte-Laguë)": lambda c: divisor_sequence(_shares(c), sum(c.values()), 0.5),
    "Jefferson (D'Hondt)": lambda c: divisor_sequence(_shares(c), sum(c.values()), 1.0),
}


def random_counts(rng: np.random.Generator) -> dict[str, int]:
    """A convention mix like domain.md §3: a few large shares, a tail of small ones."""
    n = int(rng.integers(3, 13))
    weights = rng.dirichlet(np.full(n, 0.8))
    total = int(rng.integers(50, 1201))
    raw = weights * total
    counts = np.floor(raw).astype(int)
    for k in np.argsort(-(raw - counts), kind="stable")[: total - counts.sum()]:
        counts[k] += 1
    return {f"C{k:02d}": int(c) for k, c in enumerate(counts) if c > 0}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    streams = [random_counts(rng) for _ in range(args.streams)]
    print(f"{args.streams} flux aléatoires, 50 à 1 200 vacances, 3 à 12 conventions (graine {args.seed})\n")
    print("| règle | écart max moyen | pire écart max | flux < 1 | temps moyen (ms) |")
    print("|---|---|---|---|---|")
    for name, rule in RULES.items():
        devs, elapsed = [], 0.0
        for counts in streams:
            start = time.perf_counter()
            seq = rule(counts)
            elapsed += time.perf_counter() - start
            devs.append(max_running_deviation(seq, _shares(counts)))
        arr = np.array(devs)
        print(
            f"| {name} | {arr.mean():.3f} | {arr.max():.3f} | {np.mean(arr < 1 - 1e-9):.1%} "
            f"| {1000 * elapsed / len(streams):.1f} |"
        )


if __name__ == "__main__":
    main()
