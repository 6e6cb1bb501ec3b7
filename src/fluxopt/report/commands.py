"""The `bilan`, `compare` and `report` commands: parse, call the library, render. No figure is computed here.

They live in their own module, registered on the main group by `fluxopt.cli`, so that several commands can
evolve without editing one shared file. Heavy imports (numpy, matplotlib, xlsxwriter) are lazy: `--help`
stays fast.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def _parse_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    """`--as-of` as `jj/mm/aaaa` or `aaaa-mm-jj`."""
    if value is None:
        return None
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            continue
    raise click.BadParameter(f"date attendue au format jj/mm/aaaa ou aaaa-mm-jj (reçu : {value!r})")


def _load(path: Path) -> Any:
    from fluxopt.io.scenario import load_scenario

    return load_scenario(path)


def register(group: click.Group, handle_errors: Callable[[Any], Any]) -> None:
    """Add `bilan`, `compare` and `report` to the main command group."""

    @group.command("bilan")
    @click.argument("scenario", type=click.Path(path_type=Path))
    @click.option(
        "--year", "--annee", "year", type=int, required=True, help="Année du bilan (l'année écoulée)."
    )
    @click.option(
        "-o",
        "--output",
        "output",
        type=click.Path(path_type=Path),
        default=None,
        help="Dossier où écrire le classeur bilan-ANNÉE.xlsx et un CSV par feuille (sinon : synthèse à l'écran).",
    )
    @click.option(
        "--csv",
        "dialect",
        type=click.Choice(["fr", "plain"]),
        default="fr",
        show_default=True,
        help="CSV pour Excel français (BOM, « ; », virgule décimale) ou CSV simple (RFC 4180) pour les outils.",
    )
    @handle_errors
    def bilan_command(scenario: Path, year: int, output: Path | None, dialect: str) -> None:
        """Bilan annuel (art. R441-5-1 du CCH) : logements proposés et attribués par réservataire.

        Par réservataire × typologie × financement × QPV × commune × période de construction, avec la
        prévision des logements exclus du flux, le réalisé de l'année, les contingents SNE et les
        obligations d'attribution (ménages prioritaires, quartiles).
        """
        from fluxopt.bilan import annual_report, write_annual_report
        from fluxopt.report.terminal import render_table

        report = annual_report(_load(scenario), year)
        if output is None:
            click.echo(render_table(report.summary_table()))
            click.echo(render_table(report.flow_table()))
            click.echo("Classeur et CSV détaillés : relancez avec -o DOSSIER.", err=True)
            return
        paths = write_annual_report(report, output, dialect=dialect)  # type: ignore[arg-type]
        click.echo(
            f"Bilan {year} écrit dans {output} ({len(paths)} fichiers : {paths[0].name} et les CSV).",
            err=True,
        )
