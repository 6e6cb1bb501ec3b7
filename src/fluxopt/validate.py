"""Logical and legal rules a loaded scenario must satisfy, each reported as a `Problem` saying what to fix.

`load_scenario` calls `validate` (so an invalid scenario never reaches the planner); `fluxopt validate`
prints the problems. Every rule has a name (the keys of `RULES`) and a test that names it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import numpy as np

from fluxopt.domain.enums import BAILLEUR, Contingent, DesignationStatus, Dimension, ReservataireKind
from fluxopt.domain.scenario import Scenario
from fluxopt.domain.tables import (
    EXCLUSIONS,
    FINANCINGS,
    OUT_OF_FLUX,
    PERIODS,
    STATUSES,
    TYPOLOGIES,
    departement_of,
)
from fluxopt.errors import ExclusionsError, InputError, Problem
from fluxopt.io.config import key_lines, model_file_problems
from fluxopt.io.scenario import SCENARIO_FILE, resolve_model
from fluxopt.summary import coverage, flux_cells, is_prefet, is_state_employees

#: R441-5-2 CCH: the préfet's conventions may not exceed 30 % of the flux, of which 5 % for State employees.
PREFET_MAX = 30.0
STATE_EMPLOYEES_MAX = 5.0
RESERVED_MAX = 100.0
_EPS = 1e-9

RULES: dict[str, str] = {
    "model_unknown": "le modèle d'optimisation nommé existe et se lit (syntaxe, encodage, champs)",
    "reservataire_duplicate": "identifiants de réservataires uniques",
    "convention_duplicate": "identifiants de conventions uniques",
    "convention_unknown_reservataire": "une convention nomme un réservataire déclaré",
    "contingent_state_only": "les contingents État sont réservés au préfet",
    "scope_unknown_departement": "le département d'une portée existe dans le patrimoine",
    "scope_unknown_commune": "les communes d'une portée existent dans le patrimoine",
    "scope_unknown_programme": "les programmes d'une portée existent dans le patrimoine",
    "convention_outside_year": "une convention est en vigueur pendant l'année",
    "wish_unknown_value": "les valeurs d'un souhait existent",
    "prefet_max_30": "préfet ≤ 30 % du flux dans chaque commune (R441-5-2)",
    "state_employees_max_5": "agents de l'État ≤ 5 % du flux (R441-5-2)",
    "reserved_max_100": "total réservé ≤ 100 % dans chaque commune",
    "stock_empty": "le patrimoine n'est pas vide",
    "flux_empty": "au moins un logement est dans le flux",
    "stock_date_after_year": "dates du patrimoine au plus tard dans l'année",
    "vacancy_date_outside_year": "dates de libération dans l'année",
    "vacancy_out_of_flux": "un logement hors flux (défense, hôpital) n'est pas dans les vacances",
    "vacancy_duplicate": "une vacance n'est pas saisie deux fois",
    "designation_date_outside_year": "dates de désignation dans l'année",
    "designation_unknown_convention": "une désignation nomme une convention déclarée ou BAILLEUR",
    "designation_not_vacant": "un logement désigné est vacant",
    "designation_before_vacancy": "une désignation suit la libération",
    "designation_excluded_vacancy": "une vacance exclue du flux n'est pas désignée",
    "designation_twice": "un logement est désigné une seule fois par vacance",
    "designation_out_of_scope": "la portée de la convention couvre le logement désigné",
    "designation_convention_not_in_force": "la convention est en vigueur à la date de désignation",
    "lease_without_signed_status": "une date de bail va avec le statut bail_signe ou repris",
    "lease_before_designation": "le bail est signé après la désignation",
    "exclusions_exceed_flux": "les exclusions prévues restent inférieures aux libérations attendues",
}


def _fr(day: dt.date | np.datetime64) -> str:
    if isinstance(day, np.datetime64):
        day = day.astype(dt.date)
    assert isinstance(day, dt.date)
    return day.strftime("%d/%m/%Y")


def _pct(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") + " %"


class _Report:
    """Problems of one validation run, located in scenario.toml by key path when possible."""

    def __init__(self, scenario: Scenario, toml_name: str) -> None:
        self.problems: list[Problem] = []
        self.toml_name = toml_name
        try:
            text = (scenario.folder / toml_name).read_text(encoding="utf-8-sig")
            self.lines = key_lines(text)
        except (OSError, UnicodeDecodeError):
            self.lines = {}

    def toml(self, path: tuple[str | int, ...], field: str, message: str, received: object = None) -> None:
        line = None
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                line = self.lines[path[:end]]
                break
        self.problems.append(
            Problem(self.toml_name, line, field, message, None if received is None else str(received))
        )

    def table(self, file: str, line: int, field: str, message: str, received: object = None) -> None:
        self.problems.append(
            Problem(file, int(line), field, message, None if received is None else str(received))
        )


def validate(scenario: Scenario, toml_name: str = SCENARIO_FILE, *, model: bool = True) -> list[Problem]:
    """Every rule of `RULES` that the scenario breaks, as problems naming file, line and field (without
    `model`, not the model file's: a sweep worker has the model's content, not its file)."""
    report = _Report(scenario, toml_name)
    _config_rules(scenario, report, model=model)
    _stock_rules(scenario, report)
    if len(scenario.stock):
        _share_rules(scenario, report)
        _exclusion_rule(scenario, report)
    _vacancy_rules(scenario, report)
    _designation_rules(scenario, report)
    return report.problems


# --------------------------------------------------------------------------------------------------
# scenario.toml
# --------------------------------------------------------------------------------------------------


def _exclusion_rule(scenario: Scenario, report: _Report) -> None:
    """exclusions_exceed_flux: the forecast exclusions must leave a flux base (what `plan` would refuse)."""
    from fluxopt.forecast import check_exclusions

    exclusions = scenario.config.forecast.exclusions
    if not exclusions or sum(exclusions.values()) <= 0:
        return
    try:
        check_exclusions(scenario)
    except ExclusionsError as error:
        report.toml(
            ("forecast", "exclusions"), "forecast.exclusions", str(error), f"{sum(exclusions.values()):g}"
        )
    except InputError:
        return  # other forecast problems are other rules' business (flux_empty, dates…)


def model_problems(path: Path) -> list[Problem]:
    """What `fluxopt plan` would refuse in a model file, located at its lines, in French.

    The file is read with the scenario's TOML guards (size, encoding, nesting) and checked against the
    planner's `ModelSpec`, so a scenario said valid never fails later on its own model.
    """
    return model_file_problems(path)[1]


def _config_rules(scenario: Scenario, report: _Report, *, model: bool = True) -> None:
    config = scenario.config
    year = scenario.year
    model_path, why = resolve_model(scenario.folder, config.scenario.model) if model else (None, "")
    if why:
        report.toml(("scenario", "model"), "scenario.model", why, config.scenario.model)  # model_unknown
    elif model_path is not None:
        report.problems.extend(model_problems(model_path))  # model_unknown: a model plan cannot read
    seen: dict[str, int] = {}
    for i, r in enumerate(config.reservataires):
        if r.id in seen:  # reservataire_duplicate
            report.toml(
                ("reservataires", i, "id"),
                f"reservataires[{i + 1}].id",
                f"identifiant de réservataire en double (déjà reservataires[{seen[r.id] + 1}])",
                r.id,
            )
        seen.setdefault(r.id, i)
    kinds = {r.id: r.kind for r in config.reservataires}
    conv_seen: dict[str, int] = {}
    stock = scenario.stock
    communes = set(stock.communes)
    departements = set(stock.departements())
    programmes = set(stock.programmes)
    first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    for i, c in enumerate(config.conventions):
        where = f"conventions[{i + 1}]"
        if c.id in conv_seen:  # convention_duplicate
            report.toml(
                ("conventions", i, "id"),
                f"{where}.id",
                f"identifiant de convention en double (déjà conventions[{conv_seen[c.id] + 1}])",
                c.id,
            )
        conv_seen.setdefault(c.id, i)
        kind = kinds.get(c.reservataire)
        if kind is None:  # convention_unknown_reservataire
            known = ", ".join(sorted(kinds)) or "aucun"
            report.toml(
                ("conventions", i, "reservataire"),
                f"{where}.reservataire",
                f"réservataire inconnu (déclarés : {known})",
                c.reservataire,
            )
        elif (
            c.contingent in (Contingent.STATE_EMPLOYEES, Contingent.STATE_PRIORITY)
            and kind is not ReservataireKind.STATE
        ):
            report.toml(
                ("conventions", i, "contingent"),
                f"{where}.contingent",  # contingent_state_only
                f"le contingent « {c.contingent.value} » est réservé au préfet (réservataire de type etat), "
                f"or « {c.reservataire} » est de type {kind.value}",
                c.contingent.value,
            )
        scope = c.scope
        if scope.kind == "departement" and len(stock) and scope.departement not in departements:
            report.toml(
                ("conventions", i, "scope"),
                f"{where}.scope.departement",  # scope_unknown_departement
                f"aucun logement du patrimoine dans ce département (présents : {', '.join(sorted(departements))})",
                scope.departement,
            )
        if scope.kind == "communes" and len(stock):
            unknown = [x for x in scope.communes if x not in communes]
            if unknown:  # scope_unknown_commune
                report.toml(
                    ("conventions", i, "scope"),
                    f"{where}.scope.communes",
                    f"commune(s) sans logement dans le patrimoine : {', '.join(unknown[:10])}"
                    + (" …" if len(unknown) > 10 else ""),
                    unknown[0],
                )
        if scope.kind == "programmes" and len(stock):
            unknown = [x for x in scope.programmes if x not in programmes]
            if unknown:  # scope_unknown_programme
                report.toml(
                    ("conventions", i, "scope"),
                    f"{where}.scope.programmes",
                    f"programme(s) absent(s) du patrimoine : {', '.join(unknown[:10])}"
                    + (" …" if len(unknown) > 10 else ""),
                    unknown[0],
                )
        if (c.end is not None and c.end < first) or (c.start is not None and c.start > last):
            report.toml(
                ("conventions", i, "start" if c.start and c.start > last else "end"),
                where,  # convention_outside_year
                f"convention hors de l'année {year} (du {_fr(c.start) if c.start else '…'} "
                f"au {_fr(c.end) if c.end else '…'})",
            )
        for j, wish in enumerate(c.wishes):  # wish_unknown_value
            allowed = _dimension_values(scenario, wish.dimension)
            bad = [v for v in wish.values if v not in allowed]
            if bad:
                report.toml(
                    ("conventions", i, "wishes", j, "values"),
                    f"{where}.wishes[{j + 1}].values",
                    f"valeur(s) inconnue(s) pour {wish.dimension.value} : {', '.join(bad)} "
                    f"(attendu : {', '.join(list(allowed)[:12])})",
                    bad[0],
                )


def _dimension_values(scenario: Scenario, dimension: Dimension) -> tuple[str, ...]:
    if dimension is Dimension.TYPOLOGY:
        return TYPOLOGIES
    if dimension is Dimension.FINANCING:
        return FINANCINGS
    if dimension is Dimension.QPV:
        return ("QPV", "hors QPV", "oui", "non")
    if dimension is Dimension.COMMUNE:
        return scenario.stock.communes
    return PERIODS


# --------------------------------------------------------------------------------------------------
# Stock
# --------------------------------------------------------------------------------------------------


def _stock_rules(scenario: Scenario, report: _Report) -> None:
    stock = scenario.stock
    if len(stock) == 0:  # stock_empty
        report.toml(("files", "stock"), "files.stock", "patrimoine vide : au moins un logement est attendu")
        return
    if not np.any(stock.out_of_flux < 0):  # flux_empty
        report.toml(
            ("files", "stock"),
            "files.stock",
            "flux vide : tous les logements sont hors flux (défense, hôpital) ; rien à planifier",
        )
    end = np.datetime64(dt.date(scenario.year, 12, 31), "D")
    for column, values, label in (
        ("mise_en_service", stock.first_letting, "mise en service"),
        ("date_bail", stock.lease_start, "début de bail"),
    ):
        late = np.nonzero(~np.isnat(values) & (values > end))[0]
        for position in late[:20]:  # stock_date_after_year
            report.table(
                stock.source,
                stock.line[position],
                column,
                f"date de {label} après la fin de l'année {scenario.year}",
                _fr(values[position]),
            )


# --------------------------------------------------------------------------------------------------
# Shares: préfet ≤ 30 %, State employees ≤ 5 %, total ≤ 100 %, in every commune
# --------------------------------------------------------------------------------------------------


def _breakpoints(scenario: Scenario) -> list[dt.date]:
    """Dates in the year where the set of conventions in force may change."""
    year = scenario.year
    first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    days = {first}
    for c in scenario.conventions:
        if c.start and first < c.start <= last:
            days.add(c.start)
        if c.end and first <= c.end < last:
            days.add(c.end + dt.timedelta(days=1))
    return sorted(days)


def _share_rules(scenario: Scenario, report: _Report) -> None:
    cells = flux_cells(scenario.stock)
    if len(cells.dwellings) == 0:
        return
    cover = coverage(scenario, cells).astype(np.float64)
    shares = np.array([c.share for c in scenario.conventions], dtype=np.float64)
    prefet = np.array([is_prefet(scenario, c) for c in scenario.conventions], dtype=bool)
    employees = np.array([is_state_employees(scenario, c) for c in scenario.conventions], dtype=bool)
    # worst excess per (rule, commune): total, date, conventions in force, worst cell, violating cells
    worst: dict[tuple[str, int], tuple[float, dt.date, np.ndarray, int, set[int]]] = {}
    for day in _breakpoints(scenario):
        active = np.array([c.active_on(day) for c in scenario.conventions], dtype=bool)
        for rule, mask, limit in (
            ("prefet_max_30", active & prefet, PREFET_MAX),
            ("state_employees_max_5", active & employees, STATE_EMPLOYEES_MAX),
            ("reserved_max_100", active, RESERVED_MAX),
        ):
            totals = (shares * mask) @ cover
            for found in np.nonzero(totals > limit + _EPS)[0]:
                cell = int(found)
                key = (rule, int(cells.commune[cell]))
                previous = worst.get(key)
                violating = (previous[4] if previous else set()) | {cell}
                if previous is None or totals[cell] > previous[0] + _EPS:
                    worst[key] = (float(totals[cell]), day, mask, cell, violating)
                else:
                    worst[key] = (*previous[:4], violating)
    # communes with the same excess from the same conventions are reported together
    groups: dict[tuple[str, float, dt.date, tuple[int, ...]], list[int]] = defaultdict(list)
    partial: dict[int, list[str]] = {}
    for (rule, commune), (total, day, mask, worst_cell, violating) in sorted(
        worst.items(), key=lambda kv: kv[0]
    ):
        contributing = tuple(int(i) for i in np.nonzero(mask & (cover[:, worst_cell] > 0))[0])
        groups[(rule, round(total, 6), day, contributing)].append(commune)
        in_commune = int(np.sum(cells.commune == commune))
        if len(violating) < in_commune:
            partial[commune] = sorted(scenario.stock.programmes[cells.programme[c]] for c in violating)
    for (rule, total, day, contributing), communes in sorted(
        groups.items(), key=lambda kv: (kv[0][0], kv[1])
    ):
        _report_share(scenario, report, rule, communes, partial, total, day, contributing)


_LIMITS = {
    "prefet_max_30": PREFET_MAX,
    "state_employees_max_5": STATE_EMPLOYEES_MAX,
    "reserved_max_100": RESERVED_MAX,
}
_WHAT = {
    "prefet_max_30": "les conventions du préfet réservent",
    "state_employees_max_5": "les conventions « agents de l'État » (etat_fonctionnaires) réservent",
    "reserved_max_100": "les conventions réservent au total",
}
_LEGAL = {
    "prefet_max_30": " (plafond légal du préfet, R441-5-2 CCH)",
    "state_employees_max_5": " (plafond légal des agents civils et militaires de l'État, R441-5-2 CCH)",
    "reserved_max_100": "",
}


def _report_share(
    scenario: Scenario,
    report: _Report,
    rule: str,
    communes: list[int],
    partial: dict[int, list[str]],
    total: float,
    day: dt.date,
    contributing: tuple[int, ...],
) -> None:
    names = [scenario.stock.communes[c] for c in communes]
    departements = sorted({departement_of(n) for n in names})
    shown = ", ".join(
        n
        + (
            f" (programmes {', '.join(partial[c][:5])}{' …' if len(partial[c]) > 5 else ''})"
            if c in partial
            else ""
        )
        for c, n in zip(communes[:15], names[:15], strict=True)
    )
    more = f" et {len(names) - 15} autre(s)" if len(names) > 15 else ""
    where = f"commune {shown}" if len(names) == 1 else f"communes {shown}{more}"
    where += f" (département{'s' if len(departements) > 1 else ''} {', '.join(departements)})"
    conventions = scenario.conventions
    detail = ", ".join(f"{conventions[i].id} {_pct(conventions[i].share)}" for i in contributing)
    limit = _LIMITS[rule]
    when = "" if day == dt.date(scenario.year, 1, 1) else f" à partir du {_fr(day)}"
    message = (
        f"{where} : {_WHAT[rule]} {_pct(total)} du flux{when}, au-delà de {_pct(limit)}{_LEGAL[rule]} — "
        f"dépassement de {_pct(total - limit).removesuffix(' %')} point(s) ; conventions en cause : {detail}"
    )
    first = contributing[-1] if contributing else 0
    report.toml(("conventions", first, "share"), f"conventions[{first + 1}].share", message)


# --------------------------------------------------------------------------------------------------
# Vacancies and designations
# --------------------------------------------------------------------------------------------------


def _year_bounds(year: int) -> tuple[np.datetime64, np.datetime64]:
    return np.datetime64(dt.date(year, 1, 1), "D"), np.datetime64(dt.date(year, 12, 31), "D")


def _vacancy_rules(scenario: Scenario, report: _Report) -> None:
    vac = scenario.vacancies
    stock = scenario.stock
    if not len(vac):
        return
    first, last = _year_bounds(scenario.year)
    ids = stock.dwelling_id
    seen: dict[tuple[int, np.datetime64], int] = {}
    for k in range(len(vac)):
        position = int(vac.dwelling[k])
        day = vac.date[k]
        line = int(vac.line[k])
        if not np.isnat(day) and not first <= day <= last:  # vacancy_date_outside_year
            report.table(
                vac.source,
                line,
                "date_liberation",
                f"date de libération hors de l'année {scenario.year}",
                _fr(day),
            )
        if position < 0:
            continue
        if stock.out_of_flux[position] >= 0:  # vacancy_out_of_flux
            kind = OUT_OF_FLUX[stock.out_of_flux[position]]
            report.table(
                vac.source,
                line,
                "logement",
                f"logement hors flux ({kind}, ligne {stock.line[position]} du patrimoine) : "
                "il reste en gestion en stock et ne doit pas figurer dans les logements libérés du flux",
                ids[position],
            )
        key = (position, day)
        if key in seen:  # vacancy_duplicate
            report.table(
                vac.source,
                line,
                "logement",
                f"vacance saisie deux fois (déjà ligne {seen[key]})",
                ids[position],
            )
        else:
            seen[key] = line


def _designation_rules(scenario: Scenario, report: _Report) -> None:
    des = scenario.designations
    if not len(des):
        return
    stock = scenario.stock
    vac = scenario.vacancies
    conventions = {c.id: c for c in scenario.conventions}
    first, last = _year_bounds(scenario.year)
    ids = stock.dwelling_id
    # vacancies of each dwelling, sorted by date
    by_dwelling: dict[int, list[int]] = defaultdict(list)
    for k in np.argsort(vac.date, kind="stable"):
        if vac.dwelling[k] >= 0 and not np.isnat(vac.date[k]):
            by_dwelling[int(vac.dwelling[k])].append(int(k))
    used: dict[int, int] = {}  # vacancy row → line of the designation that took it
    signed = {
        STATUSES.index(DesignationStatus.LEASE_SIGNED.value),
        STATUSES.index(DesignationStatus.TAKEN_BACK.value),
    }
    cells_commune = stock.commune
    order = np.lexsort((des.line, des.date))
    for k in order:
        k = int(k)
        line = int(des.line[k])
        day = des.date[k]
        position = int(des.dwelling[k])
        conv_id = des.convention[k]
        if not np.isnat(day) and not first <= day <= last:  # designation_date_outside_year
            report.table(
                des.source, line, "date", f"date de désignation hors de l'année {scenario.year}", _fr(day)
            )
        lease = des.lease_date[k]
        status = int(des.status[k])
        if not np.isnat(lease):
            if status not in signed:  # lease_without_signed_status
                report.table(
                    des.source,
                    line,
                    "date_bail",
                    f"date de bail renseignée alors que le statut est « {STATUSES[status]} » "
                    "(attendu : bail_signe ou repris, ou date de bail vide)",
                    _fr(lease),
                )
            elif not np.isnat(day) and lease < day:  # lease_before_designation
                report.table(
                    des.source,
                    line,
                    "date_bail",
                    f"bail signé avant la désignation du {_fr(day)}",
                    _fr(lease),
                )
        convention = conventions.get(conv_id)
        if conv_id and conv_id != BAILLEUR and convention is None:  # designation_unknown_convention
            known = ", ".join(sorted(conventions)[:12])
            report.table(
                des.source,
                line,
                "convention",
                f"convention inconnue (déclarées : {known} … ou {BAILLEUR})",
                conv_id,
            )
        if position < 0 or np.isnat(day):
            continue
        dwelling = ids[position]
        if convention is not None:
            commune = stock.communes[cells_commune[position]]
            programme = stock.programmes[stock.programme[position]]
            scope = convention.scope
            inside = (
                (scope.kind == "departement" and departement_of(commune) == scope.departement)
                or (scope.kind == "communes" and commune in scope.communes)
                or (scope.kind == "programmes" and programme in scope.programmes)
            )
            if not inside:  # designation_out_of_scope
                report.table(
                    des.source,
                    line,
                    "convention",
                    f"la convention {conv_id} ne couvre pas ce logement (commune {commune}, programme "
                    f"{programme}) : sa portée est {_scope_text(scope)}",
                    conv_id,
                )
            if not convention.active_on(day.astype(dt.date)):  # designation_convention_not_in_force
                report.table(
                    des.source,
                    line,
                    "date",
                    f"la convention {conv_id} n'est pas en vigueur à cette date "
                    f"(du {_fr(convention.start) if convention.start else '…'} "
                    f"au {_fr(convention.end) if convention.end else '…'})",
                    _fr(day),
                )
        rows = by_dwelling.get(position, [])
        before = [r for r in rows if vac.date[r] <= day]
        if not before:
            if rows:  # designation_before_vacancy
                report.table(
                    des.source,
                    line,
                    "date",
                    f"désignation datée avant la libération du logement {dwelling} "
                    f"(libéré le {_fr(vac.date[rows[0]])}, ligne {vac.line[rows[0]]} de {vac.source})",
                    _fr(day),
                )
            else:  # designation_not_vacant
                report.table(
                    des.source,
                    line,
                    "logement",
                    "logement désigné alors qu'il n'est pas vacant : aucune libération à cette date "
                    f"dans {vac.source or 'les vacances'}",
                    dwelling,
                )
            continue
        vacancy = before[-1]
        if vac.exclusion[vacancy] >= 0:  # designation_excluded_vacancy
            report.table(
                des.source,
                line,
                "logement",
                f"la vacance du {_fr(vac.date[vacancy])} (ligne {vac.line[vacancy]} de {vac.source}) est exclue "
                f"du flux ({EXCLUSIONS[vac.exclusion[vacancy]]}) : elle ne se désigne pas à un réservataire",
                dwelling,
            )
            continue
        if vacancy in used:  # designation_twice
            report.table(
                des.source,
                line,
                "logement",
                f"logement déjà désigné pour la même vacance (ligne {used[vacancy]}) : "
                "une seule désignation par logement libéré",
                dwelling,
            )
            continue
        used[vacancy] = line


def _scope_text(scope: object) -> str:
    kind = getattr(scope, "kind", "")
    if kind == "departement":
        return f"le département {getattr(scope, 'departement', '')}"
    if kind == "communes":
        return "les communes " + ", ".join(getattr(scope, "communes", ()))
    return "les programmes " + ", ".join(getattr(scope, "programmes", ())[:10])
