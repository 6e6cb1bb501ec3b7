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
