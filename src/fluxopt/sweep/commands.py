"""`fluxopt convert` and `fluxopt sweep`: registered on the CLI group by `cli.py` (parse, call, render).

stdout carries data (tables, JSON); stderr carries messages for people (progress, where files were written).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def register(cli: click.Group, handle_errors: Callable[[Any], Any]) -> None:
    """Add the `convert` and `sweep` commands to the `fluxopt` group."""

    @cli.command("convert")
    @click.argument("scenario", type=click.Path(path_type=Path))
    @click.option(
        "--reservations",
        "reservations",
        type=click.Path(path_type=Path),
        default=None,
        help="Réservations en stock (défaut : reservations.csv du dossier du scénario).",
    )
    @click.option(
        "--historique",
        "history",
        type=click.Path(path_type=Path),
        default=None,
        help="Rotation par programme et par année (défaut : rotation_historique.csv du scénario).",
    )
    @click.option(
        "--duree",
        "horizon",
        type=click.IntRange(1, 50),
        default=3,
        show_default=True,
        help="Durée de la convention en flux (ans) : un droit qui s'achève avant compte au prorata.",
    )
    @click.option(
        "--methode",
        "method",
        type=click.Choice(["rotation", "stock"]),
        default="rotation",
        show_default=True,
        help="Méthode des parts écrites dans le bloc TOML.",
    )
    @click.option(
        "--toml",
        "toml_out",
        type=click.Path(path_type=Path),
        default=Path("conventions-flux.toml"),
        show_default=True,
        help="Fichier où écrire le bloc [[conventions]] prêt à éditer.",
    )
    @click.option(
        "--json", "as_json", is_flag=True, help="Écrit la conversion en JSON sur la sortie standard."
    )
    @handle_errors
    def convert_command(
        scenario: Path,
        reservations: Path | None,
        history: Path | None,
        horizon: int,
        method: str,
        toml_out: Path,
        as_json: bool,
    ) -> None:
        """Conversion stock → flux : part de chaque réservataire par le stock et pondérée par la rotation."""
        from fluxopt import convert as conv
        from fluxopt.io.atomic import write_text

        result = conv.convert_scenario(
            scenario,
            reservations_path=reservations,
            history_path=history,
            horizon_years=horizon,
            warn=lambda m: click.echo(m, err=True),
        )
        if as_json:
            click.echo(json.dumps(conv.conversion_as_dict(result), ensure_ascii=False, indent=2))
        else:
            click.echo(conv.render_conversion(result))
        if result.shares:
            write_text(toml_out, conv.conventions_toml(result, method))
            click.echo(f"Bloc [[conventions]] écrit dans {toml_out} (méthode « {method} »).", err=True)

    @cli.command("sweep")
    @click.argument("sweep_file", type=click.Path(path_type=Path))
    @click.option(
        "-o",
        "--output",
        "output",
        type=click.Path(path_type=Path),
        default=None,
        help="Dossier des résultats (défaut : resultats-<nom du fichier>). Une relance reprend les variantes finies.",
    )
    @click.option(
        "--runs",
        type=click.IntRange(0, 100_000),
        default=None,
        help="Années Monte-Carlo tirées par variante (défaut : runs du fichier, sinon 0).",
    )
    @click.option(
        "--engine",
        type=click.Choice(["serial", "local", "dask"]),
        default="local",
        show_default=True,
        help="serial : un seul processus ; local : un processus par cœur ; dask : cluster Dask (extra fluxopt[dask]).",
    )
    @click.option(
        "--workers", type=click.IntRange(1, 1024), default=None, help="Processus (défaut : un par cœur)."
    )
    @click.option(
        "--scheduler",
        default=None,
        metavar="ADRESSE",
        help="Avec --engine dask : adresse d'un planificateur existant (tcp://hôte:8786) ; sinon un cluster local.",
    )
    @click.option(
        "--time-limit",
        type=click.FloatRange(min=0.1, max=3600),
        default=None,
        help="Secondes au plus par plan de variante (défaut : time_limit du fichier, sinon celui du modèle).",
    )
    @click.option(
        "--rejeu",
        "replay",
        type=click.Choice(["simple", "fluxopt"]),
        default=None,
        help="Monte-Carlo : simple (la convention la plus en retard, rapide) ou fluxopt (re-planification "
        "hebdomadaire de fluxopt simulate, ~100 fois plus lent). Défaut : replay du fichier, sinon simple.",
    )
    @click.option("--json", "as_json", is_flag=True, help="Écrit la synthèse JSON sur la sortie standard.")
    @handle_errors
    def sweep_command(
        sweep_file: Path,
        output: Path | None,
        runs: int | None,
        engine: str,
        workers: int | None,
        scheduler: str | None,
        time_limit: float | None,
        replay: str | None,
        as_json: bool,
    ) -> None:
        """Compare des variantes d'un scénario (parts, portées, règles, rotation, exclusions, modèle).

        Code de sortie 0 ; 1 fichier ou variante invalide ; 2 extra dask absent ; 70 si des variantes ont
        échoué (processus de calcul arrêté deux fois) : les autres résultats sont écrits et une relance ne
        calcule que les manquantes.
        """
        from fluxopt.errors import ExitCode
        from fluxopt.sweep.run import render_sweep, run_sweep, synthesis

        outcome = run_sweep(
            sweep_file,
            out_dir=output,
            runs=runs,
            engine=engine,
            workers=workers,
            scheduler=scheduler,
            time_limit=time_limit,
            replay=replay,
            warn=lambda m: click.echo(m, err=True),
        )
        if as_json:
            click.echo(json.dumps(synthesis(outcome), ensure_ascii=False, indent=1))
        else:
            click.echo(render_sweep(outcome))
        report = outcome.engine
        click.echo(
            f"Résultats dans {outcome.out_dir} ({len(report.computed)} tâche(s) calculée(s), "
            f"{len(report.resumed)} reprise(s), moteur {report.engine}, {report.seconds:.1f} s).",
            err=True,
        )
        if outcome.failed:
            click.echo(
                f"Erreur : {len(outcome.failed)} tâche(s) en échec (voir ci-dessus) ; relancez la même commande "
                "pour ne recalculer qu'elles.",
                err=True,
            )
            click.get_current_context().exit(int(ExitCode.INTERNAL))
