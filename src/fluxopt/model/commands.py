"""`fluxopt plan`: registered on the CLI group by `cli.py` (parse, call `planning`, render; no figures here)."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from fluxopt.cli_options import csv_option


def default_output(scenario_path: Path) -> Path:
    """`./resultats/<scenario folder name>/plan`: one folder per scenario, next to where fluxopt runs."""
    folder = scenario_path if scenario_path.is_dir() else scenario_path.parent
    return Path("resultats") / folder.resolve().name / "plan"


class _ProgressPrinter:
    """Rewrites one stderr line every half second while the solver works (only on a terminal)."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.shown = False

    def _run(self) -> None:
        if self.stop.wait(1.0):
            return
        while not self.stop.is_set():
            sys.stderr.write("\r\033[K" + self.progress.line())
            sys.stderr.flush()
            self.shown = True
            self.stop.wait(0.5)

    def __enter__(self) -> _ProgressPrinter:
        if sys.stderr.isatty():
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def register(cli: click.Group, handle_errors: Callable[[Any], Any]) -> None:
    """Add the `plan` command to the `fluxopt` group."""

    @cli.command("plan")
    @click.argument("scenario", type=click.Path(path_type=Path))
    @click.option(
        "--model",
        "model",
        default=None,
        help="Modèle : equilibre, minimum-legal, equilibre-strict, ou un fichier .toml.",
    )
    @click.option(
        "-o", "--output", "output", type=click.Path(path_type=Path), default=None,
        help="Dossier de sortie (défaut : ./resultats/<scénario>/plan).",
    )  # fmt: skip
    @click.option(
        "--time-limit", type=click.FloatRange(min=0.1), default=None, help="Temps de calcul maximal (s)."
    )
    @click.option(
        "--seed", type=click.IntRange(min=0), default=None, help="Graine du solveur (reproductibilité)."
    )
    @csv_option(legacy_flag=True)
    @click.option(
        "--report",
        "report_dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Écrit aussi le rapport (rapport.html hors ligne et rapport.xlsx) avec ce plan dans ce dossier.",
    )
    @handle_errors
    def plan_command(
        scenario: Path,
        model: str | None,
        output: Path | None,
        time_limit: float | None,
        seed: int | None,
        dialect: str,
        report_dir: Path | None,
    ) -> None:
        """Calcule le plan annuel de désignations à partir de la prévision du flux.

        Écrit plan.csv, objectifs.csv, sequence.csv et manifest.json (dossier remplacé d'un bloc).
        Codes de sortie : 0 plan écrit (statut dans le manifeste), 1 objectifs impossibles (avec la raison),
        3 aucun plan trouvé dans le temps imparti. Ctrl-C arrête la recherche et écrit le meilleur plan,
        marqué « non prouvé ».
        """
        from fluxopt.io.scenario import load_scenario
        from fluxopt.manifest import RunManifest
        from fluxopt.model.annual import Progress
        from fluxopt.model.solver import Interrupt
        from fluxopt.planning import load_spec, plan, summary_fr, write_plan

        loaded = load_scenario(scenario)
        spec, model_name, model_hash = load_spec(loaded, model)
        out_dir = output or default_output(scenario)
        manifest = RunManifest.for_scenario(
            "plan", loaded, modele=model or loaded.config.scenario.model, time_limit=time_limit, seed=seed,
            csv=dialect,
        )  # fmt: skip
        manifest.model = {"nom": spec.name, "fichier": model_name, "sha256": model_hash, "mode": spec.mode}
        manifest.solver = {
            "moteur": spec.solver.backend,
            "graine": spec.solver.seed if seed is None else seed,
            "limite_s": spec.solver.time_limit if time_limit is None else time_limit,
            "ecart_relatif_tolere": spec.solver.relative_gap,
        }
        progress = Progress()
        interrupt = Interrupt()

        def on_sigint(signum: int, frame: Any) -> None:
            if interrupt.triggered:
                raise KeyboardInterrupt
            interrupt.trigger()

        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            with manifest.stage("calcul"), _ProgressPrinter(progress):
                result = plan(
                    loaded,
                    model=spec,
                    time_limit=time_limit,
                    seed=seed,
                    progress=progress,
                    interrupt=interrupt,
                )
        finally:
            signal.signal(signal.SIGINT, previous)
        with manifest.stage("ecriture"):
            write_plan(result, loaded, out_dir, dialect=dialect, manifest=manifest)
        click.echo(summary_fr(result), err=True)
        click.echo(f"Résultats écrits dans {out_dir}", err=True)
        if report_dir is not None:
            from fluxopt.report.html import write_report

            written = write_report(loaded, report_dir, out_dir)
            click.echo(f"Rapport écrit : {', '.join(str(p) for p in written)}", err=True)
