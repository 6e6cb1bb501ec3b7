"""The `bilan`, `compare` and `report` commands: parse, call the library, render. No figure is computed here.

They live in their own module, registered on the main group by `fluxopt.cli`, so that several commands can
evolve without editing one shared file. Heavy imports (numpy, matplotlib, xlsxwriter) are lazy: `--help`
stays fast.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from fluxopt.cli_options import csv_option


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
        "--year",
        "--annee",
        "year",
        type=click.IntRange(2000, 2100),
        required=True,
        help="Année du bilan (l'année écoulée).",
    )
    @click.option(
        "-o",
        "--output",
        "output",
        type=click.Path(path_type=Path),
        default=None,
        help="Dossier où écrire le classeur bilan-ANNÉE.xlsx et un CSV par feuille (sinon : synthèse à l'écran).",
    )
    @csv_option()
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

    @group.command("compare")
    @click.argument("scenario", type=click.Path(path_type=Path))
    @click.option(
        "--plan",
        "plan_dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Dossier d'un plan (fluxopt plan -o DOSSIER) : ajoute le prévu à date et la projection.",
    )
    @click.option(
        "--as-of",
        "as_of",
        callback=_parse_date,
        default=None,
        help="Date de la situation (jj/mm/aaaa ou aaaa-mm-jj ; défaut : dernière date des données).",
    )
    @click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "csv", "json", "xlsx"]),
        default="table",
        show_default=True,
        help="Tableau à l'écran, CSV, JSON ou classeur Excel.",
    )
    @click.option(
        "--vue",
        "view",
        type=click.Choice(["conventions", "detail", "cumul"]),
        default="conventions",
        show_default=True,
        help="Par convention, par convention × caractéristique, ou cumul mensuel (table et CSV).",
    )
    @csv_option()
    @click.option(
        "-o",
        "--output",
        "output",
        type=click.Path(path_type=Path),
        default=None,
        help="Fichier de sortie (défaut : la sortie standard ; comparaison-DATE.xlsx pour --format xlsx).",
    )
    @click.option(
        "--fail-on-gap",
        "fail_on_gap",
        type=click.FloatRange(min=0),
        default=None,
        help="Code de sortie 1 si l'écart d'une convention dépasse N logements (en valeur absolue).",
    )
    @click.option(
        "--report",
        "report_dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Écrit aussi le rapport (rapport.html et rapport.xlsx) dans ce dossier.",
    )
    @handle_errors
    def compare_command(
        scenario: Path,
        plan_dir: Path | None,
        as_of: dt.date | None,
        fmt: str,
        view: str,
        dialect: str,
        output: Path | None,
        fail_on_gap: float | None,
        report_dir: Path | None,
    ) -> None:
        """Prévu et réalisé à date, par convention et par caractéristique.

        Pour chaque convention : part, base réalisée à date, objectif à date, prévu à date (avec --plan),
        proposés, imputés selon la clause de carence, baux signés, écart en logements et en %, projection
        de fin d'année ; puis le même détail par typologie, financement, QPV, commune et période de
        construction.
        """
        import json

        from fluxopt.errors import GapError
        from fluxopt.io.atomic import write_bytes
        from fluxopt.io.csvwrite import csv_bytes
        from fluxopt.report.html import ReportData, gather, report_files, report_sheets
        from fluxopt.report.terminal import render_table
        from fluxopt.report.xlsx import workbook_bytes

        loaded = _load(scenario)
        data: ReportData = gather(loaded, plan_dir, as_of)
        comparison = data.comparison
        if comparison.plan_mismatch:
            click.echo(
                "Attention : le plan a été calculé sur d'autres données que ce scénario (modifiés depuis : "
                + ", ".join(comparison.plan_mismatch)
                + ") ; relancez fluxopt plan.",
                err=True,
            )
        if view == "detail":
            table = comparison.value_table()
        elif view == "cumul":
            table = comparison.cumulative_table()
        else:
            table = comparison.convention_table()
        payload: bytes | None = None
        if fmt == "table":
            hidden: tuple[str, ...] = ("Nom",)
            if plan_dir is None:
                hidden += (
                    "Prévu à date (plan)",
                    "Objectif annuel (plan)",
                    "Projection fin d'année",
                    "Prévu cumulé (plan)",
                )
            payload = render_table(table, drop=hidden).encode("utf-8")
        elif fmt == "csv":
            payload = csv_bytes(table.headers, table.csv_rows(), dialect)  # type: ignore[arg-type]
        elif fmt == "json":
            document = comparison.as_dict()
            document["obligations"] = [
                {
                    "indicateur": k.indicator,
                    "groupe": k.group,
                    "seuil": k.threshold,
                    "baux_signes": k.leases,
                    "oui": k.yes,
                    "non": k.no,
                    "non_renseignes": k.missing,
                    "part": None if k.share is None else round(k.share, 4),
                    "statut": k.status,
                }
                for k in data.kpis.kpis
            ]
            document["alertes"] = data.kpis.alerts
            payload = (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        else:
            target = output or Path(f"comparaison-{comparison.as_of.isoformat()}.xlsx")
            write_bytes(
                target,
                workbook_bytes(
                    report_sheets(data),
                    created=comparison.as_of,
                    title=f"Suivi de la gestion en flux — {comparison.bailleur}",
                    subject=f"Situation au {comparison.as_of:%d/%m/%Y}",
                ),
            )
            click.echo(f"Classeur écrit : {target}", err=True)
        if payload is not None:
            if output is not None:
                write_bytes(output, payload)
                click.echo(f"Écrit : {output}", err=True)
            else:
                sys.stdout.flush()
                sys.stdout.buffer.write(payload)
                sys.stdout.buffer.flush()
        if report_dir is not None:
            from fluxopt.io.atomic import atomic_output_dir

            with atomic_output_dir(report_dir) as out:
                for name, content in report_files(data).items():
                    out.write_bytes(name, content)
            click.echo(f"Rapport écrit dans {report_dir} (rapport.html, rapport.xlsx).", err=True)
        if fail_on_gap is not None:
            over = comparison.gaps_over(fail_on_gap)
            if over:
                listed = ", ".join(f"{c.convention} ({c.gap:+.1f})".replace(".", ",") for c in over)
                threshold = f"{fail_on_gap:g}".replace(".", ",")
                raise GapError(
                    f"{len(over)} convention(s) à plus de {threshold} logement(s) de leur objectif au "
                    f"{comparison.as_of:%d/%m/%Y} : {listed}."
                )

    @group.command("report")
    @click.argument("scenario", type=click.Path(path_type=Path))
    @click.option(
        "--plan",
        "plan_dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Dossier d'un plan (fluxopt plan -o DOSSIER) : prévu, projection et ordre de passage.",
    )
    @click.option(
        "--as-of",
        "as_of",
        callback=_parse_date,
        default=None,
        help="Date de la situation (jj/mm/aaaa ou aaaa-mm-jj ; défaut : dernière date des données).",
    )
    @click.option(
        "-o",
        "--output",
        "output",
        type=click.Path(path_type=Path),
        default=Path("rapport"),
        show_default=True,
        help="Dossier où écrire rapport.html et rapport.xlsx.",
    )
    @handle_errors
    def report_command(scenario: Path, plan_dir: Path | None, as_of: dt.date | None, output: Path) -> None:
        """Rapport autonome (HTML hors ligne, imprimable) et classeur Excel de suivi.

        Cumul des désignations face à l'objectif au fil de l'année, écarts par caractéristique en carte de
        chaleur, obligations d'attribution, ordre de passage du plan, méthode et manifeste de l'exécution.
        """
        from fluxopt.report.html import write_report

        paths = write_report(_load(scenario), output, plan_dir=plan_dir, as_of=as_of)
        click.echo(f"Rapport écrit : {', '.join(str(p) for p in paths)}", err=True)
