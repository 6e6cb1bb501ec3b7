"""`fluxopt designate` and `fluxopt simulate`: registered on the CLI group by `cli.py` (parse, call, render).

stdout carries data (the week's designations, the simulation table or JSON); stderr carries messages for
people (summary, warnings, progress bar — the bar only when stderr is a terminal).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from fluxopt.cli_options import csv_option
from fluxopt.io.text import CellError, parse_date


def _as_of(ctx: click.Context, param: click.Parameter, value: str) -> dt.date:
    try:
        return parse_date(value)
    except CellError as error:
        raise click.BadParameter(f"{error} (reçu : {value!r})") from error


def _default_output(scenario: Path, leaf: str) -> Path:
    folder = scenario if scenario.is_dir() else scenario.parent
    return Path("resultats") / folder.resolve().name / leaf


def register(cli: click.Group, handle_errors: Callable[[Any], Any]) -> None:
    """Add the `designate` and `simulate` commands to the `fluxopt` group."""

    @cli.command("designate")
    @click.argument("scenario", type=click.Path(path_type=Path))
    @click.option(
        "--as-of",
        "as_of",
        required=True,
        callback=_as_of,
        help="Date des données (jj/mm/aaaa ou aaaa-mm-jj) : les logements libres ce jour-là sont désignés.",
    )
    @click.option(
        "-o",
        "--output",
        "output",
        type=click.Path(path_type=Path),
        default=None,
        help="Dossier de sortie (défaut : ./resultats/<scénario>/designations). Le plan de la semaine "
        "précédente qui s'y trouve sert à mesurer les changements du plan.",
    )
    @click.option(
        "--model",
        default=None,
        help="Modèle du plan : equilibre, minimum-legal, equilibre-strict, ou un .toml.",
    )
    @click.option(
        "--sans-plan",
        "no_plan",
        is_flag=True,
        help="Désigne seulement les logements de la semaine, sans recalculer le plan du reste de l'année.",
    )
    @click.option(
        "--time-limit", type=click.FloatRange(min=0.1), default=None, help="Temps de calcul maximal (s)."
    )
    @csv_option(legacy_flag=True)
    @click.option(
        "--report",
        "report_dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Écrit aussi le rapport (rapport.html hors ligne et rapport.xlsx) à la date --as-of, avec le plan "
        "mis à jour, dans ce dossier.",
    )
    @handle_errors
    def designate_command(
        scenario: Path,
        as_of: dt.date,
        output: Path | None,
        model: str | None,
        no_plan: bool,
        time_limit: float | None,
        dialect: str,
        report_dir: Path | None,
    ) -> None:
        """Désigne les logements libres à la date --as-of et re-planifie le reste de l'année.

        À partir des libérations, désignations et suites connues à cette date (carences, refus, baux), chaque
        logement libre et pas encore désigné reçoit une convention (ou reste au bailleur), avec un motif
        vérifiable. Écrit designations.csv, le plan mis à jour (plan.csv, objectifs.csv), l'ordre de passage
        par commune (sequence.csv) et manifest.json, d'un seul bloc : une exécution interrompue laisse les
        sorties de la semaine précédente intactes. Les désignations déjà faites ne changent jamais.
        """
        from fluxopt.domain.model_spec import load_model_spec
        from fluxopt.io.scenario import load_scenario
        from fluxopt.manifest import RunManifest
        from fluxopt.replan import designate, read_plan_table, write_designations

        loaded = load_scenario(scenario)
        spec, model_path, model_bytes = load_model_spec(
            model or loaded.config.scenario.model, Path(loaded.folder)
        )
        out_dir = output or _default_output(scenario, "designations")
        previous = read_plan_table(out_dir / "plan.csv")
        manifest = RunManifest.for_scenario(
            "designate",
            loaded,
            as_of=as_of.isoformat(),
            modele=model or loaded.config.scenario.model,
            sans_plan=no_plan,
            time_limit=time_limit,
            csv=dialect,
        )
        manifest.solver = {"moteur": "highs", "graine": 0}
        manifest.model = _model_facts(spec, model_path, model_bytes)
        with manifest.stage("designation"):
            result = designate(
                loaded,
                as_of,
                model=spec,
                with_plan=not no_plan,
                previous_plan=previous,
                time_limit=time_limit,
            )
        write_designations(result, loaded, out_dir, dialect=dialect, manifest=manifest)
        if report_dir is not None:
            from fluxopt.report.html import write_report

            plan_dir = None if no_plan else out_dir
            written = write_report(loaded, report_dir, plan_dir, as_of)
            click.echo(f"Rapport écrit : {', '.join(str(p) for p in written)}", err=True)
        for d in result.designations:
            click.echo(f"{d.dwelling}\t{d.convention}\t{d.reason}")
        for message in result.messages:
            click.echo(message, err=True)
        click.echo(
            f"{len(result.designations)} logement(s) désigné(s) au {as_of:%d/%m/%Y} "
            f"(base réalisée : {result.state.rowset.units.total} logements). Sorties : {out_dir}",
            err=True,
        )
        if result.churn is not None:
            c = result.churn

            def pct(x: float) -> str:
                return f"{x * 100:.1f}".replace(".", ",")

            click.echo(
                f"Plan du reste de l'année depuis le plan précédent, sur {c.planned} logements prévus : "
                f"{c.changed_year} changent de convention ({pct(c.share_year)} %), {c.changed} de convention "
                f"ou de mois ({pct(c.share)} %).",
                err=True,
            )

    @cli.command("simulate")
    @click.argument("scenario", type=click.Path(path_type=Path))
    @click.option(
        "--runs", type=click.IntRange(min=1), default=100, show_default=True, help="Nombre d'années simulées."
    )
    @click.option(
        "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Graine (reproductibilité)."
    )
    @click.option(
        "--policy",
        "policies",
        multiple=True,
        type=click.Choice(["fluxopt", "plus-en-retard", "tour-de-role", "glouton"]),
        help="Politique à rejouer (répétable ; défaut : les quatre).",
    )
    @click.option(
        "--model",
        default=None,
        help="Modèle dont la section [weekly] règle la politique fluxopt (défaut : celui du scénario).",
    )
    @click.option(
        "--turnover-factor",
        type=click.FloatRange(min=0.01, max=5),
        default=1.0,
        show_default=True,
        help="Rotation réelle / rotation prévue (1.2 = 20 % de départs en plus que prévu).",
    )
    @click.option(
        "--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Processus en parallèle."
    )
    @click.option(
        "-o",
        "--output",
        "output",
        type=click.Path(path_type=Path),
        default=None,
        help="Dossier où écrire runs.csv, conventions.csv et manifest.json (facultatif).",
    )
    @click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "json"]),
        default="table",
        show_default=True,
        help="table : tableau lisible ; json : chiffres complets.",
    )
    @handle_errors
    def simulate_command(
        scenario: Path,
        runs: int,
        seed: int,
        policies: tuple[str, ...],
        model: str | None,
        turnover_factor: float,
        jobs: int,
        output: Path | None,
        fmt: str,
    ) -> None:
        """Rejoue l'année semaine par semaine pour comparer des politiques de désignation.

        Les libérations sont tirées de la prévision (graine par année simulée), les suites (carence, refus)
        des taux de [simulation] ; chaque semaine, la politique désigne les logements libérés. Mêmes
        tirages pour toutes les politiques. Affiche, par politique : écarts de fin d'année par convention,
        pire écart en cours d'année, représentativité par dimension face au plancher d'arrondi, part des
        conventions à ±1, temps par appel hebdomadaire.
        """
        from fluxopt.domain.model_spec import load_model_spec
        from fluxopt.io.scenario import load_scenario
        from fluxopt.manifest import RunManifest
        from fluxopt.simulate import SimulationSettings, report_dict, report_text, simulate, timing_dict

        loaded = load_scenario(scenario)
        model_name = model or loaded.config.scenario.model
        spec, model_path, model_bytes = load_model_spec(model_name, Path(loaded.folder))
        settings = SimulationSettings(
            runs=runs,
            seed=seed,
            policies=policies or SimulationSettings().policies,
            turnover_factor=turnover_factor,
            jobs=jobs,
            weekly=spec.weekly,
        )
        manifest = RunManifest.for_scenario(
            "simulate",
            loaded,
            runs=runs,
            seed=seed,
            politiques=list(settings.policies),
            modele=model_name,
            facteur_rotation=turnover_factor,
        )
        manifest.model = _model_facts(spec, model_path, model_bytes)
        with _progress(runs) as tick, manifest.stage("simulation"):
            report = simulate(loaded, settings, on_run=tick)
        if output is not None:
            _write_simulation(report, output, manifest, timing_dict(report))
        if fmt == "json":
            data = report_dict(report)
            data["temps_par_appel_s"] = timing_dict(report)
            click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            click.echo(report_text(report), nl=False)


def _model_facts(spec: Any, path: Path, data: bytes) -> dict[str, Any]:
    """The manifest's "modele": which model file, its hash, and the weekly model's parameters."""
    from fluxopt.manifest import sha256_bytes

    return {
        "nom": spec.name,
        "fichier": path.name,
        "sha256": sha256_bytes(data),
        "hebdomadaire": spec.weekly.model_dump(mode="json"),
    }


class _progress:
    """A rich progress bar on stderr, only when stderr is a terminal (NO_COLOR honoured by rich)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> Callable[[int, int], None]:
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("Années simulées"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("simulate", total=self.total)

        def tick(done: int, total: int) -> None:
            if self.bar is not None:
                self.bar.update(self.task, completed=done)

        return tick

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _write_simulation(report: Any, output: Path, manifest: Any, timings: dict[str, Any]) -> None:
    from fluxopt.io.atomic import atomic_output_dir
    from fluxopt.io.csvwrite import csv_bytes
    from fluxopt.simulate import CONVENTIONS_HEADER, RUNS_HEADER, convention_rows, report_dict, run_rows

    files = {
        "runs.csv": csv_bytes(RUNS_HEADER, run_rows(report)),
        "conventions.csv": csv_bytes(CONVENTIONS_HEADER, convention_rows(report)),
    }
    with atomic_output_dir(output) as staged:
        for name, data in files.items():
            staged.write_bytes(name, data)
        manifest.outputs = [*files, "manifest.json"]
        manifest.results = report_dict(report)
        manifest.durations.update({f"appel_{k}_moyen": v["moyen"] for k, v in timings.items()})
        manifest.finish("termine")
        staged.write_text("manifest.json", manifest.to_json())
