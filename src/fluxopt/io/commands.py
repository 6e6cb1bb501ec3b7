"""`fluxopt validate` and `fluxopt schema`: registered on the CLI group by `cli.py` (parse, call, render).

stdout carries data (the summary, JSON, the schema); stderr carries messages (verdict, warnings, problems).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from fluxopt.errors import InputError


def _dumps(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False)


def register(cli: click.Group, handle_errors: Callable[[Any], Any]) -> None:
    """Add the `validate` and `schema` commands to the `fluxopt` group."""

    @cli.command("validate")
    @click.argument("scenario", type=click.Path(path_type=Path))
    @click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="text : résumé lisible ; json : résultat complet sur la sortie standard.",
    )
    @handle_errors
    def validate_command(scenario: Path, fmt: str) -> None:
        """Vérifie un scénario (dossier ou scenario.toml) et résume son contenu.

        Code de sortie 0 si le scénario est valide, 1 avec la liste de tous les problèmes sinon.
        """
        from fluxopt.io.scenario import load_scenario
        from fluxopt.summary import render_summary, summarise

        def warn(message: str) -> None:
            click.echo(message, err=True)

        try:
            loaded = load_scenario(scenario, check=True, warn=warn)
        except InputError as error:
            if fmt == "json":
                click.echo(
                    _dumps(
                        {
                            "valide": False,
                            "message": error.message,
                            "problemes": [p.as_dict() for p in error.problems],
                        }
                    )
                )
            raise
        summary = summarise(loaded)
        if fmt == "json":
            click.echo(
                _dumps(
                    {
                        "valide": True,
                        "problemes": [],
                        "resume": summary.as_dict(),
                        "empreintes": loaded.input_hashes,
                    }
                )
            )
        else:
            click.echo(render_summary(summary))
        click.echo(f"Scénario valide : {scenario}", err=True)

    @cli.command("schema")
    @click.option(
        "-o",
        "--output",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Écrit le schéma dans ce fichier (écriture atomique) au lieu de la sortie standard.",
    )
    @handle_errors
    def schema_command(output: Path | None) -> None:
        """Affiche le schéma JSON de scenario.toml (complétion et vérification dans un éditeur)."""
        from fluxopt.io.config import config_schema

        text = _dumps(config_schema()) + "\n"
        if output is None:
            click.echo(text, nl=False)
        else:
            from fluxopt.io.atomic import write_text

            write_text(output, text)
            click.echo(f"Schéma écrit dans {output}", err=True)

    _ = (validate_command, schema_command)
