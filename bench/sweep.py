"""Benchmark of `fluxopt sweep` on the Cap-Habitat-like scenario (45,000 dwellings).

1. 200 variants (Action Logement share × commune share × turnover change) planned with the « minimum-legal »
   model and summarised on each engine — serial, local worker processes, a 2-worker Dask `LocalCluster` —
   with variants per second, the speed-up over serial, and a check that the three `synthese.json` files are
   byte-identical. Target: ≤ 60 s on 2 cores. A few variants are also planned with « equilibre » (every
   representativeness row optimised), to show what a full-model sweep costs per variant.
2. 1,000 Monte-Carlo years of one variant on local worker processes (simple replay), and a few years with
   the weekly re-planning of `fluxopt simulate` (`--rejeu fluxopt`). Target: ≤ 5 minutes on 2 cores.

    python bench/sweep.py                 # everything
    python bench/sweep.py --variants 40 --runs 100 --engines serial,local   # a quicker look

Each run uses a fresh output folder, so nothing is resumed.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "scenarios" / "cap-habitat"

AL = (20, 22, 24, 26, 28)
COMMUNES = (15, 18, 20, 22, 25)
TURNOVER = ("-15 %", "-10 %", "-5 %", "0 %", "+5 %", "+10 %", "+15 %", "+20 %")


def grid_file(folder: Path, variants: int, runs: int, model: str = "minimum-legal") -> Path:
    """A sweep file of exactly `variants` variants: the first ones of AL share × commune share × turnover."""
    combos = list(itertools.product(TURNOVER, AL, COMMUNES))[:variants]
    lines = [
        "[sweep]",
        'name = "Banc d\'essai Cap Habitat"',
        f'base = "{BASE.as_posix()}"',
        "seed = 2026",
        f"runs = {runs}",
        f'model = "{model}"',
    ]
    for k, (turnover, al, communes) in enumerate(combos, start=1):
        lines += [
            "",
            "[[variants]]",
            f'id = "v{k:03d}"',
            f'shares = {{ "AL-*" = {al}, "COM-*" = {communes} }}',
            f'turnover = "{turnover}"',
        ]
    path = folder / f"variantes-{variants}-{model}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(
    path: Path, out: Path, engine: str, workers: int, runs: int | None = None, replay: str | None = None
) -> tuple[float, int, str]:
    from fluxopt.sweep.run import run_sweep

    started = time.perf_counter()
    outcome = run_sweep(
        path, out_dir=out, engine=engine, workers=workers, runs=runs, progress=False, replay=replay
    )
    seconds = time.perf_counter() - started
    if outcome.failed:
        print(f"  échecs : {outcome.failed}", file=sys.stderr)
    digest = hashlib.sha256((out / "synthese.json").read_bytes()).hexdigest()[:16]
    return seconds, len(outcome.variants), digest


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variants", type=int, default=200)
    parser.add_argument("--runs", type=int, default=1000, help="Monte-Carlo years of one variant (0: skip)")
    parser.add_argument("--engines", default="serial,local,dask")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--full", type=int, default=4, help="variants planned with « equilibre » (0: skip)")
    parser.add_argument(
        "--weekly", type=int, default=4, help="Monte-Carlo years with --rejeu fluxopt (0: skip)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="fluxopt-bench-") as tmp:
        folder = Path(tmp)
        path = grid_file(folder, args.variants, 0)
        from fluxopt.sweep.spec import load_sweep

        n_variants = len(load_sweep(path).variants)
        print(
            f"Balayage de {n_variants} variantes de Cap Habitat (45 000 logements), {args.workers} processus"
        )
        print(f"{'moteur':<8} {'secondes':>9} {'variantes/s':>12} {'accélération':>13}  synthese.json")
        results: dict[str, tuple[float, int, str]] = {}
        for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
            results[engine] = run(path, folder / f"out-{engine}", engine, args.workers)
            seconds, n, digest = results[engine]
            speedup = results["serial"][0] / seconds if "serial" in results else float("nan")
            print(f"{engine:<8} {seconds:9.1f} {n / seconds:12.2f} {speedup:12.2f}×  {digest}")
        digests = {r[2] for r in results.values()}
        print("résultats identiques sur tous les moteurs :", "oui" if len(digests) == 1 else "NON")
        best = min(r[0] for e, r in results.items() if e != "serial") if len(results) > 1 else None
        if best is not None:
            print(
                f"objectif ≤ 60 s sur {args.workers} cœurs : {'atteint' if best <= 60 else 'MANQUÉ'} ({best:.1f} s)"
            )

        if args.full > 0:
            full = grid_file(folder, args.full, 0, model="equilibre")
            seconds, n, _ = run(full, folder / "out-full", "local", args.workers)
            print(
                f"modèle « equilibre » : {n} variantes en {seconds:.1f} s ({seconds / n:.1f} s par variante et "
                f"{args.workers} processus)"
            )

        mc = folder / "mc.toml"
        if args.runs > 0 or args.weekly > 0:
            mc.write_text(
                f'[sweep]\nname = "Monte-Carlo"\nbase = "{BASE.as_posix()}"\nseed = 2026\n\n'
                'model = "minimum-legal"\n\n[[variants]]\nid = "demandes"\n'
                'shares = { "ETAT-PRIO-*" = 25, "ETAT-FONC-*" = 5, "AL-*" = 28, "COM-*" = 20 }\n',
                encoding="utf-8",
            )
        if args.runs > 0:
            seconds, _, _ = run(mc, folder / "out-mc", "local", args.workers, runs=args.runs)
            print(
                f"Monte-Carlo : {args.runs} années d'une variante en {seconds:.1f} s "
                f"({args.runs / seconds:.1f} années/s) — objectif ≤ 300 s : {'atteint' if seconds <= 300 else 'MANQUÉ'}"
            )
        if args.weekly > 0:
            seconds, _, _ = run(
                mc, folder / "out-weekly", "local", args.workers, runs=args.weekly, replay="fluxopt"
            )
            print(f"Monte-Carlo re-planification hebdomadaire : {args.weekly} années en {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
