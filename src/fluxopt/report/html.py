"""The self-contained HTML report and the report workbook, from figures computed by `compare` and `kpis`.

The page embeds everything (CSS and inline SVG charts; no script, no font or image fetched): it opens offline,
and its print stylesheet lays it out on A4 landscape pages. `report_files` returns the bytes of both files
so that `plan` and `designate` can place them in their own staged output directory; `write_report` writes
them atomically into a folder.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from fluxopt import __version__
from fluxopt.compare import DIMENSION_LABELS, MONTH_LABELS, Comparison, PlanView, compare, read_plan
from fluxopt.domain import BAILLEUR, Scenario
from fluxopt.domain.tables import FINANCINGS, PERIODS, TYPOLOGIES
from fluxopt.io.atomic import atomic_output_dir
from fluxopt.kpis import KpiReport, overlay_kpis
from fluxopt.report import charts
from fluxopt.report.tables import Cell, Column, Table
from fluxopt.report.terminal import format_value
from fluxopt.report.xlsx import Chart, Sheet, workbook_bytes

HTML_NAME = "rapport.html"
XLSX_NAME = "rapport.xlsx"
MAX_COMMUNES_IN_MAP = 40
SEQUENCE_ROWS = 60
SEQUENCE_SHOWN = 20
MAX_KPI_ALERTS = 12  # the summary lists the most serious; section 5 has them all
MONTH_NAMES = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, computed by the library."""

    comparison: Comparison
    kpis: KpiReport
    plan: PlanView | None
    sequence: Table | None


def gather(
    scenario: Scenario, plan_dir: str | Path | None = None, as_of: dt.date | None = None
) -> ReportData:
    """Run the library functions the report shows: compare (with the plan) and the overlay KPIs."""
    plan = read_plan(plan_dir) if plan_dir is not None else None
    comparison = compare(scenario, as_of, plan)
    kpis = overlay_kpis(scenario, dt.date(comparison.year, 1, 1), comparison.as_of)
    sequence = read_sequence(Path(plan_dir), comparison.as_of) if plan_dir is not None else None
    return ReportData(comparison, kpis, plan, sequence)


def read_sequence(folder: Path, as_of: dt.date | None = None) -> Table | None:
    """The plan's `sequence.csv`, shown per commune from the month of `as_of` on; None when absent.

    With the planner's columns (commune, rang, mois, convention) each commune gets one line: its next
    designations in order. Another layout is shown as it is (first rows).
    """
    path = folder / "sequence.csv"
    if not path.is_file():
        return None
    text = path.read_bytes().decode("utf-8-sig")
    first = text.splitlines()[0] if text else ""
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    if not rows:
        return None
    header, body = rows[0], [r for r in rows[1:] if any(c.strip() for c in r)]
    keys = [h.strip().lower() for h in header]
    if all(k in keys for k in ("commune", "rang", "mois", "convention")):
        ic, ir, im, iv = (keys.index(k) for k in ("commune", "rang", "mois", "convention"))
        start = f"{as_of:%Y-%m}" if as_of else ""
        per: dict[str, list[tuple[int, str, str]]] = {}
        for r in body:
            if len(r) > max(ic, ir, im, iv) and r[im] >= start:
                per.setdefault(r[ic], []).append((int(r[ir]), r[im], r[iv]))
        lines: list[tuple[Cell, ...]] = []
        for commune in sorted(per):
            seq = sorted(per[commune])
            shown = " → ".join(c for _, _, c in seq[:SEQUENCE_SHOWN])
            lines.append((commune, _month_fr(seq[0][1]), shown, max(0, len(seq) - SEQUENCE_SHOWN)))
        return Table(
            name="sequence",
            title="Ordre de passage : les prochaines désignations, commune par commune",
            columns=(
                Column("Commune"),
                Column("À partir de"),
                Column(f"Ordre de passage ({SEQUENCE_SHOWN} suivants)", width=90),
                Column("Suivants dans l'année", "int"),
            ),
            rows=tuple(lines),
            notes=("Chaque logement libéré de la commune va au réservataire suivant de la liste.",),
        )
    width = len(header)
    shown_rows = [tuple((r + [""] * width)[:width]) for r in body[:SEQUENCE_ROWS]]
    notes = (
        (f"{len(body) - SEQUENCE_ROWS} lignes suivantes dans sequence.csv.",)
        if len(body) > SEQUENCE_ROWS
        else ()
    )
    return Table(
        name="sequence",
        title="Ordre de passage",
        columns=tuple(Column(h) for h in header),
        rows=tuple(shown_rows),
        notes=notes,
    )


def _month_fr(text: str) -> str:
    """`2026-03` → `mars 2026`."""
    try:
        year, month = (int(x) for x in text.split("-")[:2])
        return f"{MONTH_NAMES[month - 1]} {year}"
    except (ValueError, IndexError):
        return text


# ------------------------------------------------------------------------------------------ HTML


def html_table(
    table: Table,
    drop: tuple[str, ...] = (),
    group_by: str | None = None,
    group_labels: dict[str, str] | None = None,
) -> Markup:
    """A `Table` as an escaped HTML table; numbers right-aligned in French notation.

    `drop` hides columns; `group_by` turns a column into group header rows (labelled by `group_labels`).
    """
    hidden = set(drop) | ({group_by} if group_by else set())
    keep = [i for i, c in enumerate(table.columns) if c.header not in hidden]
    columns = [table.columns[i] for i in keep]
    g_index = table.headers.index(group_by) if group_by else None
    out = ["<table>", "<thead><tr>"]
    for c in columns:
        cls = ' class="num"' if c.kind != "text" else ""
        out.append(f"<th{cls}>{escape(c.header)}</th>")
    out.append("</tr></thead><tbody>")
    rows = list(table.rows)
    if g_index is not None:  # groups in order of first appearance, rows kept in order inside a group
        first: dict[object, int] = {}
        for k, r in enumerate(rows):
            first.setdefault(r[g_index], k)
        rows.sort(key=lambda r: first[r[g_index]])
    current: object = object()
    for full in rows:
        if g_index is not None and full[g_index] != current:
            current = full[g_index]
            label = (group_labels or {}).get(str(current), str(current))
            out.append(f'<tr class="group"><td colspan="{len(columns)}">{escape(label)}</td></tr>')
        row = [full[i] for i in keep]
        out.append("<tr>")
        for c, v in zip(columns, row, strict=True):
            css = []
            if c.kind != "text":
                css.append("num")
            if c.header.startswith("Écart") and c.kind != "pct" and isinstance(v, int | float):
                css.append("behind" if v < -0.5 - 1e-9 else ("ahead" if v > 0.5 + 1e-9 else ""))
            if c.header == "Statut" and isinstance(v, str):
                css.append("status-" + v.replace(" ", "-").replace("é", "e"))
            attr = f' class="{" ".join(x for x in css if x)}"' if any(css) else ""
            out.append(f"<td{attr}>{escape(format_value(v, c))}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    for note in table.notes:
        out.append(f'<p class="note">{escape(note)}</p>')
    return Markup("".join(out))


def _value_matrix(
    comparison: Comparison, dims: list[str], order: dict[str, list[str]]
) -> charts.HeatMap | None:
    conventions = [c.convention for c in comparison.conventions if c.convention != BAILLEUR]
    columns: list[tuple[str, str]] = [(d, v) for d in dims for v in order[d]]
    present = {(v.dimension, v.value) for v in comparison.values}
    columns = [c for c in columns if c in present]
    rows = [
        c for c in conventions if any(v.convention == c and v.dimension in dims for v in comparison.values)
    ]
    if not columns or not rows:
        return None
    values = np.full((len(rows), len(columns)), np.nan)
    col_index = {c: j for j, c in enumerate(columns)}
    row_index = {c: i for i, c in enumerate(rows)}
    for v in comparison.values:
        key = (v.dimension, v.value)
        if v.convention in row_index and key in col_index and v.base > 0:
            values[row_index[v.convention], col_index[key]] = v.gap
    groups = []
    for d in dims:
        n = sum(1 for c in columns if c[0] == d)
        if n:
            groups.append((DIMENSION_LABELS[d], n))
    title = "Écarts par " + " · ".join(
        DIMENSION_LABELS[d].lower() for d in dims if any(c[0] == d for c in columns)
    )
    return charts.HeatMap(title, rows, [v for _, v in columns], groups, values)


def render_html(data: ReportData) -> str:
    """The report page."""
    comp = data.comparison
    lines = list(comp.conventions)
    reserved = [c for c in lines if c.convention != BAILLEUR]
    on_target = sum(1 for c in reserved if abs(c.gap) < 1 - 1e-9)
    gap_alerts = [
        f"{c.convention} ({c.name}) : {charts.fr_number(c.counted, 0)} imputés pour un objectif à date de "
        f"{charts.fr_number(c.target)}, écart de {charts.fr_number(c.gap)} logements."
        for c in reserved
        if abs(c.gap) >= 2 - 1e-9
    ]
    kpi_alerts = data.kpis.alerts
    if comp.plan_mismatch:
        gap_alerts.insert(
            0,
            "Le plan a été calculé sur d'autres données que ce scénario (fichiers modifiés depuis : "
            + ", ".join(comp.plan_mismatch)
            + ") : relancez fluxopt plan.",
        )
    alerts = gap_alerts + kpi_alerts
    cards = [
        {"value": f"{comp.base}", "label": "logements dans la base du flux à date"},
        {
            "value": f"{sum(c.offered for c in lines)}",
            "label": "désignations (proposés) depuis le 1er janvier",
        },
        {"value": f"{comp.pending}", "label": "logements libérés pas encore désignés"},
        {
            "value": f"{on_target} / {len(reserved)}",
            "label": "conventions à moins d'un logement de l'objectif",
        },
        {
            "value": f"{len(alerts)}",
            "label": "alertes (écarts ≥ 2 logements, obligations)",
            "alert": bool(alerts),
        },
    ]
    gap_chart = charts.gap_bars(
        [c.convention for c in reserved],
        [c.gap for c in reserved],
        f"Écart à l'objectif au {comp.as_of:%d/%m/%Y}",
    )

    # Small multiples grouped by réservataire, in scenario order.
    blocks: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for c in reserved:
        names.setdefault(c.reservataire, c.name)
    for rid, name in names.items():
        svgs = []
        for c in reserved:
            if c.reservataire != rid or c.convention not in comp.cumulative:
                continue
            points = comp.cumulative[c.convention]
            svgs.append(
                Markup(
                    charts.cumulative_chart(
                        charts.CumulativeSeries(
                            title=f"{c.convention} — {charts.fr_number(c.share or 0)} %",
                            labels=[MONTH_LABELS[p.month - 1] for p in points],
                            target=[p.target for p in points],
                            counted=[p.counted for p in points],
                            planned=[p.planned or 0.0 for p in points] if data.plan is not None else None,
                        )
                    )
                )
            )
        blocks.append({"name": f"{name} ({rid})", "charts": svgs})

    order = {
        "typologie": list(TYPOLOGIES),
        "financement": list(FINANCINGS),
        "qpv": ["hors QPV", "QPV"],
        "periode_construction": list(PERIODS),
        "commune": sorted({v.value for v in comp.values if v.dimension == "commune"}),
    }
    main_map = _value_matrix(comp, ["typologie", "financement", "qpv", "periode_construction"], order)
    commune_map = None
    if 0 < len(order["commune"]) <= MAX_COMMUNES_IN_MAP:
        commune_map = _value_matrix(comp, ["commune"], order)

    value_table = comp.value_table()
    i_base, i_gap = (
        value_table.headers.index("Base réalisée à date"),
        value_table.headers.index("Écart (logements)"),
    )

    def number(cell: Cell) -> float:
        return float(cell) if isinstance(cell, int | float) else 0.0

    ranked = sorted(
        (r for r in value_table.rows if number(r[i_base]) > 0),
        key=lambda r: (-abs(number(r[i_gap])), str(r[0]), str(r[2]), str(r[3])),
    )
    worst_rows = tuple(ranked[:15])
    worst_table = Table("pires", "Les plus grands écarts", value_table.columns, worst_rows)

    no_plan = data.plan is None
    plan_columns = (
        ("Prévu à date (plan)", "Objectif annuel (plan)", "Projection fin d'année") if no_plan else ()
    )
    manifest: list[tuple[str, str]] = [
        ("fluxopt", __version__),
        ("Année", str(comp.year)),
        ("Situation au", f"{comp.as_of:%d/%m/%Y}"),
        ("Scénario", comp.scenario_name),
        ("Plan", _shown_folder(comp.plan_folder) or "aucun"),
    ]
    if comp.plan_folder:
        manifest.append(
            (
                "Plan et scénario",
                "mêmes données (hors réalisé)"
                if not comp.plan_mismatch
                else "différents : " + ", ".join(comp.plan_mismatch),
            )
        )
    manifest += [(f"Empreinte {name} (sha256)", digest) for name, digest in sorted(comp.input_hashes.items())]
    manifest += _flatten("Plan", comp.plan_manifest)

    env = Environment(
        loader=PackageLoader("fluxopt.report", "templates"), autoescape=select_autoescape(["html", "j2"])
    )
    template = env.get_template("rapport.html.j2")
    return template.render(
        title="Suivi de la gestion en flux des réservations",
        version=__version__,
        bailleur=comp.bailleur,
        scenario_name=comp.scenario_name,
        year=comp.year,
        as_of=f"{comp.as_of:%d/%m/%Y}",
        plan_folder=_shown_folder(comp.plan_folder),
        cards=cards,
        alerts=alerts,
        gap_alerts=gap_alerts,
        kpi_alerts=kpi_alerts[:MAX_KPI_ALERTS],
        kpi_alerts_more=max(0, len(kpi_alerts) - MAX_KPI_ALERTS),
        gap_chart=Markup(gap_chart),
        cumulative_blocks=blocks,
        heat_map=Markup(charts.heat_map(main_map))
        if main_map
        else Markup("<p class='note'>Aucune donnée.</p>"),
        commune_map=Markup(charts.heat_map(commune_map)) if commune_map else None,
        tables={
            "conventions": html_table(
                comp.convention_table(),
                drop=("Nom", *plan_columns),
                group_by="Réservataire",
                group_labels={rid: f"{name} ({rid})" for rid, name in names.items()} | {BAILLEUR: "Bailleur"},
            ),
            "worst": html_table(worst_table, drop=("Réservataire", *plan_columns)),
            "obligations": html_table(data.kpis.table()),
            "sequence": html_table(data.sequence) if data.sequence is not None else None,
        },
        manifest=manifest,
    )


def _flatten(prefix: str, value: object) -> list[tuple[str, str]]:
    """A nested manifest as (dotted key, text) lines; a list of records gives one line per record."""
    if isinstance(value, dict):
        out: list[tuple[str, str]] = []
        for k, v in value.items():
            out += _flatten(f"{prefix} · {k}", v)
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [
            (
                f"{prefix} · {item.get('nom', i + 1)}",
                ", ".join(f"{k} = {v}" for k, v in item.items() if k != "nom"),
            )
            for i, item in enumerate(value)
        ]
    if isinstance(value, list):
        return [(prefix, ", ".join(str(v) for v in value))]
    if value is None:
        return [(prefix, "—")]
    if isinstance(value, bool):
        return [(prefix, "oui" if value else "non")]
    return [(prefix, str(value))]


# ------------------------------------------------------------------------------------------ XLSX


def report_sheets(data: ReportData) -> list[Sheet]:
    """Workbook layout: conventions (charts), detail (filter), monthly cumulative (charts), obligations."""
    comp = data.comparison
    conventions = comp.convention_table()
    n_reserved = sum(1 for c in comp.conventions if c.convention != BAILLEUR)
    skip = len(conventions.rows) - n_reserved
    sheets = [
        Sheet(
            "Conventions",
            (conventions,),
            charts=(
                Chart(
                    kind="column",
                    title=f"Écart à l'objectif au {comp.as_of:%d/%m/%Y} (logements)",
                    table=conventions.name,
                    categories="Convention",
                    series=("Écart (logements)",),
                    skip_last_rows=skip,
                ),
                Chart(
                    kind="column",
                    title="Objectif à date et imputés",
                    table=conventions.name,
                    categories="Convention",
                    series=("Objectif à date", "Imputés"),
                    y_title="logements",
                    skip_last_rows=skip,
                ),
            ),
        ),
        Sheet("Détail", (comp.value_table(),)),
        Sheet(
            "Cumul mensuel",
            (comp.cumulative_table(),),
            charts=tuple(
                Chart(
                    kind="line",
                    title=f"{conv} : cumul imputé et objectif",
                    table="cumul",
                    categories="Mois",
                    series=("Objectif cumulé", "Imputés cumulés")
                    + (("Prévu cumulé (plan)",) if data.plan is not None else ()),
                    dashed=("Objectif cumulé",),
                    rows=_rows_of(comp, conv),
                )
                for conv in comp.cumulative
            ),
        ),
        Sheet("Obligations", (data.kpis.table(),)),
    ]
    if data.sequence is not None:
        sheets.append(Sheet("Ordre de passage", (data.sequence,)))
    return sheets


def _rows_of(comp: Comparison, convention: str) -> tuple[int, int]:
    start = 0
    for conv, points in comp.cumulative.items():
        if conv == convention:
            return start, start + len(points) - 1
        start += len(points)
    raise KeyError(convention)


# ------------------------------------------------------------------------------------------ files


def report_files(data: ReportData) -> dict[str, bytes]:
    """{file name: bytes} of the HTML report and its workbook."""
    comp = data.comparison
    html = render_html(data).encode("utf-8")
    xlsx = workbook_bytes(
        report_sheets(data),
        created=comp.as_of,
        title=f"Suivi de la gestion en flux — {comp.bailleur}",
        subject=f"Situation au {comp.as_of:%d/%m/%Y}",
    )
    return {HTML_NAME: html, XLSX_NAME: xlsx}


def write_report(
    scenario: Scenario, folder: str | Path, plan_dir: str | Path | None = None, as_of: dt.date | None = None
) -> list[Path]:
    """Compute and write `rapport.html` and `rapport.xlsx` into `folder`, atomically."""
    files = report_files(gather(scenario, plan_dir, as_of))
    with atomic_output_dir(folder) as out:
        for name, data in files.items():
            out.write_bytes(name, data)
    return [Path(folder) / name for name in files]


def _shown_folder(folder: str | None) -> str | None:
    """The plan folder's name only: a report goes to réservataires and partners, the landlord's own
    directory tree (user names, shares) does not belong in it."""
    return Path(folder).name if folder else None
