"""Small scenarios built in Python for the bilan / kpis / compare / report tests.

The raw inputs are kept as plain tuples next to the built `Scenario`, so that tests recount every figure from
them with simple loops, independently of the library's numpy code.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fluxopt.domain import Designations, Scenario, ScenarioConfig, Stock, Vacancies
from fluxopt.domain.enums import construction_period_of
from fluxopt.domain.tables import EXCLUSIONS, FINANCINGS, STATUSES, TYPOLOGIES


@dataclass(frozen=True)
class RawDwelling:
    id: str
    programme: str
    commune: str
    qpv: bool
    typology: str
    financing: str
    year: int
    out_of_flux: str = ""


@dataclass(frozen=True)
class RawVacancy:
    dwelling: str
    date: dt.date
    exclusion: str = ""


@dataclass(frozen=True)
class RawDesignation:
    dwelling: str
    date: dt.date
    convention: str
    status: str
    lease_date: dt.date | None = None
    priority: bool | None = None
    first_quartile: bool | None = None


@dataclass
class Raw:
    """The raw inputs of a factory scenario."""

    dwellings: list[RawDwelling] = field(default_factory=list)
    vacancies: list[RawVacancy] = field(default_factory=list)
    designations: list[RawDesignation] = field(default_factory=list)
    _index: dict[str, RawDwelling] = field(default_factory=dict, repr=False, compare=False)

    def dwelling(self) -> dict[str, RawDwelling]:
        """id → dwelling (built once; the lists are not changed after a scenario is built)."""
        if len(self._index) != len(self.dwellings):
            self._index.clear()
            self._index.update({d.id: d for d in self.dwellings})
        return self._index


def _tri(value: bool | None) -> int:
    return -1 if value is None else int(value)


def _date(value: dt.date | None) -> np.datetime64:
    return np.datetime64("NaT", "D") if value is None else np.datetime64(value.isoformat(), "D")


def build(config: dict[str, object], raw: Raw, folder: Path | None = None) -> Scenario:
    """Assemble a `Scenario` from a TOML-like dict and raw rows (no file is read)."""
    cfg = ScenarioConfig.model_validate(config)
    programmes = sorted({d.programme for d in raw.dwellings})
    communes = sorted({d.commune for d in raw.dwellings})
    stock = Stock(
        dwelling_id=tuple(d.id for d in raw.dwellings),
        programme=np.array([programmes.index(d.programme) for d in raw.dwellings], np.int32),
        programmes=tuple(programmes),
        commune=np.array([communes.index(d.commune) for d in raw.dwellings], np.int32),
        communes=tuple(communes),
        qpv=np.array([d.qpv for d in raw.dwellings], np.bool_),
        typology=np.array([TYPOLOGIES.index(d.typology) for d in raw.dwellings], np.int8),
        financing=np.array([FINANCINGS.index(d.financing) for d in raw.dwellings], np.int8),
        construction_year=np.array([d.year for d in raw.dwellings], np.int32),
        period=np.array([construction_period_of(d.year) for d in raw.dwellings], np.int8),
        turnover=np.full(len(raw.dwellings), np.nan),
        out_of_flux=np.array(
            [-1 if not d.out_of_flux else ("defense", "hopital").index(d.out_of_flux) for d in raw.dwellings],
            np.int8,
        ),
        first_letting=np.full(len(raw.dwellings), np.datetime64("NaT", "D")),
        lease_start=np.full(len(raw.dwellings), np.datetime64("NaT", "D")),
        line=np.arange(2, len(raw.dwellings) + 2, dtype=np.int32),
        source="patrimoine.csv",
    )
    index = {d.id: i for i, d in enumerate(raw.dwellings)}
    vacancies = Vacancies(
        dwelling=np.array([index[v.dwelling] for v in raw.vacancies], np.int32),
        date=np.array([_date(v.date) for v in raw.vacancies], "datetime64[D]"),
        exclusion=np.array(
            [EXCLUSIONS.index(v.exclusion) if v.exclusion else -1 for v in raw.vacancies], np.int8
        ),
        line=np.arange(2, len(raw.vacancies) + 2, dtype=np.int32),
        source="vacances.csv",
    )
    designations = Designations(
        dwelling=np.array([index[d.dwelling] for d in raw.designations], np.int32),
        date=np.array([_date(d.date) for d in raw.designations], "datetime64[D]"),
        convention=tuple(d.convention for d in raw.designations),
        status=np.array([STATUSES.index(d.status) for d in raw.designations], np.int8),
        lease_date=np.array([_date(d.lease_date) for d in raw.designations], "datetime64[D]"),
        priority_household=np.array([_tri(d.priority) for d in raw.designations], np.int8),
        first_quartile=np.array([_tri(d.first_quartile) for d in raw.designations], np.int8),
        line=np.arange(2, len(raw.designations) + 2, dtype=np.int32),
        source="designations.csv",
    )
    return Scenario(
        config=cfg,
        stock=stock,
        vacancies=vacancies,
        designations=designations,
        folder=folder or Path("."),
        input_hashes={"scenario.toml": "0" * 64},
    )


def base_config(year: int = 2026) -> dict[str, object]:
    """Two communes in 92 and one in 93; État, Action Logement, a commune, a département."""
    return {
        "scenario": {"name": "Fabrique de test — 2026", "year": year, "bailleur": "Office de test"},
        "files": {"stock": "patrimoine.csv"},
        "forecast": {
            "turnover_rate": 0.1,
            "exclusions": {"mutation_interne": 4, "anru": 1, "vente": 2},
        },
        "reservataires": [
            {"id": "ETAT", "name": "Préfet", "kind": "etat"},
            {"id": "AL", "name": "Action Logement Services", "kind": "action_logement"},
            {"id": "VILLE", "name": "Ville de Malakoff", "kind": "collectivite"},
            {"id": "CD93", "name": "Département de la Seine-Saint-Denis", "kind": "collectivite"},
            {"id": "EMP", "name": "Régie de transports", "kind": "employeur"},
        ],
        "conventions": [
            {
                "id": "ETAT-PRIO-92",
                "reservataire": "ETAT",
                "share": 25,
                "contingent": "etat_prioritaires",
                "scope": {"kind": "departement", "departement": "92"},
            },
            {
                "id": "ETAT-FONC-92",
                "reservataire": "ETAT",
                "share": 5,
                "contingent": "etat_fonctionnaires",
                "scope": {"kind": "departement", "departement": "92"},
            },
            {
                "id": "AL-92",
                "reservataire": "AL",
                "share": 25,
                "scope": {"kind": "departement", "departement": "92"},
                "counts_no_candidate": False,
            },
            {
                "id": "AL-93",
                "reservataire": "AL",
                "share": 20,
                "scope": {"kind": "departement", "departement": "93"},
                "counts_no_candidate": False,
            },
            {
                "id": "VILLE",
                "reservataire": "VILLE",
                "share": 20,
                "scope": {"kind": "communes", "communes": ["92046"]},
            },
            {
                "id": "CD93",
                "reservataire": "CD93",
                "share": 5,
                "scope": {"kind": "departement", "departement": "93"},
            },
            {
                "id": "EMP-P25",
                "reservataire": "EMP",
                "share": 8,
                "scope": {"kind": "programmes", "programmes": ["P2", "P5"]},
                "counts_no_candidate": False,
                "start": dt.date(2026, 4, 1),
            },
        ],
    }


def _stock() -> list[RawDwelling]:
    """36 dwellings: 92046 (QPV and not), 92040, 93001; all typologies, financings and periods present."""
    out: list[RawDwelling] = []
    specs = [
        ("92046", "P1", True, 1962),
        ("92046", "P2", False, 1978),
        ("92040", "P3", False, 2005),
        ("93001", "P4", True, 1930),
        ("93001", "P5", False, 2018),
        ("92040", "P6", False, 1990),
    ]
    typologies = ["T1", "T2", "T3", "T3", "T4", "T5+"]
    financings = ["PLUS", "PLAI", "PLUS", "PLS", "PLI", "PLUS"]
    for p, (commune, prog, qpv, year) in enumerate(specs):
        for k in range(6):
            out.append(
                RawDwelling(
                    id=f"{commune}-{prog}-{k + 1:04d}",
                    programme=prog,
                    commune=commune,
                    qpv=qpv,
                    typology=typologies[(k + p) % 6],
                    financing=financings[(k + 2 * p) % 6],
                    year=year,
                    out_of_flux="defense" if (prog == "P6" and k == 5) else "",
                )
            )
    return out


def rich_raw() -> Raw:
    """A year of actuals touching every status, flag state, exclusion and the year boundary."""
    raw = Raw(dwellings=_stock())
    d = {x.id: x for x in raw.dwellings}
    ids = list(d)

    def day(month: int, dd: int, year: int = 2026) -> dt.date:
        return dt.date(year, month, dd)

    plan = [
        # (dwelling, vacancy date, exclusion, convention, status, lease, priority, q1)
        (ids[0], day(1, 5), "", "ETAT-PRIO-92", "bail_signe", day(2, 1), True, False),
        (ids[1], day(1, 9), "", "AL-92", "carence", None, None, None),
        (ids[2], day(1, 20), "", "VILLE", "bail_signe", day(2, 15), False, True),
        (ids[3], day(2, 2), "mutation_interne", None, None, None, None, None),
        (ids[6], day(2, 11), "", "VILLE", "bail_signe", day(3, 2), True, None),
        (ids[7], day(2, 14), "", "BAILLEUR", "bail_signe", day(3, 20), None, True),
        (ids[8], day(3, 1), "", "ETAT-FONC-92", "propose", None, None, None),
        (ids[9], day(3, 3), "", "AL-92", "repris", day(4, 8), False, False),
        (ids[12], day(3, 9), "anru", None, None, None, None, None),
        (ids[13], day(3, 15), "", "AL-92", "bail_signe", day(4, 20), False, True),
        (ids[14], day(4, 1), "", "AL-92", "refuse", None, None, None),
        (ids[18], day(4, 6), "", "AL-93", "bail_signe", day(5, 1), True, False),
        (ids[19], day(4, 9), "", "CD93", "carence", None, None, None),
        (ids[20], day(4, 12), "", "AL-93", "bail_signe", day(5, 30), False, False),
        (ids[21], day(5, 2), "", "BAILLEUR", "bail_signe", day(6, 1), True, True),
        (ids[10], day(5, 4), "", "EMP-P25", "bail_signe", day(6, 2), None, True),
        (ids[24], day(5, 7), "vente", None, None, None, None, None),
        (ids[25], day(5, 20), "", "CD93", "repris", day(6, 15), None, None),
        (ids[26], day(6, 1), "", "AL-93", "carence", None, None, None),
        (ids[27], day(6, 3), "", "BAILLEUR", "bail_signe", day(6, 28), False, False),
        (ids[30], day(6, 10), "", "ETAT-PRIO-92", "bail_signe", day(7, 3), True, True),
        (ids[31], day(6, 18), "", "ETAT-PRIO-92", "bail_signe", day(7, 9), True, None),
        (ids[4], day(6, 22), "", "VILLE", "propose", None, None, None),
        (ids[35], day(7, 1), "", None, None, None, None, None),  # kept out of the flux (défense)
        (ids[28], day(7, 10), "", "EMP-P25", "carence", None, None, None),
        (ids[29], day(9, 14), "", "AL-93", "bail_signe", day(10, 20), False, True),
        (ids[15], day(12, 20), "", "AL-92", "bail_signe", day(1, 12, 2027), True, False),
        (ids[16], day(12, 28), "", None, None, None, None, None),  # vacant, not yet designated
    ]
    for dw, vdate, excl, conv, status, lease, prio, q1 in plan:
        raw.vacancies.append(RawVacancy(dw, vdate, excl))
        if conv is not None and status is not None:
            ddate = vdate + dt.timedelta(days=2)
            raw.designations.append(RawDesignation(dw, ddate, conv, status, lease, prio, q1))
    return raw


def rich_scenario(folder: Path | None = None) -> tuple[Scenario, Raw]:
    raw = rich_raw()
    return build(base_config(), raw, folder), raw


# ------------------------------------------------------------------------------ independent recounts


def in_scope_raw(convention: dict, dwelling: RawDwelling) -> bool:
    """Is a dwelling inside a convention's scope (read from the config dict, not from the library)?"""
    scope = convention["scope"]
    if scope["kind"] == "departement":
        return dwelling.commune[:2] == scope["departement"]
    if scope["kind"] == "communes":
        return dwelling.commune in scope["communes"]
    return dwelling.programme in scope["programmes"]


def active_raw(convention: dict, day: dt.date) -> bool:
    start, end = convention.get("start"), convention.get("end")
    return (start is None or start <= day) and (end is None or day <= end)


def base_vacancies(raw: Raw, year: int, until: dt.date) -> list[RawVacancy]:
    """Vacancies of the realised flux base: in the year, dated ≤ until, not excluded, stock in the flux."""
    dwellings = raw.dwelling()
    return [
        v
        for v in raw.vacancies
        if v.date.year == year
        and v.date <= until
        and not v.exclusion
        and not dwellings[v.dwelling].out_of_flux
    ]


def recount_targets(
    config: dict, raw: Raw, year: int, until: dt.date, where=lambda d: True
) -> dict[str, float]:
    """share × base per convention, and the landlord's rest, vacancy by vacancy."""
    dwellings = raw.dwelling()
    out: dict[str, float] = {c["id"]: 0.0 for c in config["conventions"]}
    out["BAILLEUR"] = 0.0
    for v in base_vacancies(raw, year, until):
        d = dwellings[v.dwelling]
        if not where(d):
            continue
        reserved = 0.0
        for c in config["conventions"]:
            if in_scope_raw(c, d) and active_raw(c, v.date):
                out[c["id"]] += c["share"] / 100
                reserved += c["share"] / 100
        out["BAILLEUR"] += 1 - reserved
    return out


def recount_counted(
    config: dict, raw: Raw, year: int, until: dt.date, where=lambda d: True, leases: bool = False
) -> dict[str, int]:
    """Designations (or leases) of base vacancies made by `until`, counted per carence clause."""
    dwellings = raw.dwelling()
    counts_nc = {c["id"]: c.get("counts_no_candidate", True) for c in config["conventions"]}
    in_base = {(v.dwelling) for v in base_vacancies(raw, year, until)}
    out: dict[str, int] = {c["id"]: 0 for c in config["conventions"]}
    out["BAILLEUR"] = 0
    for des in raw.designations:
        if des.dwelling not in in_base or des.date > until or not where(dwellings[des.dwelling]):
            continue
        if leases and (des.status not in ("bail_signe", "repris") or (des.lease_date or des.date) > until):
            continue
        who = des.convention
        if des.status in ("carence", "repris") and not counts_nc.get(who, False):
            who = "BAILLEUR"
        out[who] += 1
    return out


def _period_of_year(year: int) -> str:
    for label, start in (
        ("2013 et après", 2013),
        ("2000-2012", 2000),
        ("1975-1999", 1975),
        ("1949-1974", 1949),
    ):
        if year >= start:
            return label
    return "avant 1949"


#: dimension → (value → predicate on a raw dwelling), for breakdown recounts
TYPOLOGY_OF = {
    "typologie": lambda value: lambda d: d.typology == value,
    "financement": lambda value: lambda d: d.financing == value,
    "qpv": lambda value: lambda d: d.qpv is (value == "QPV"),
    "commune": lambda value: lambda d: d.commune == value,
    "periode_construction": lambda value: lambda d: _period_of_year(d.year) == value,
}


# ------------------------------------------------------------------------------ shipped scenarios, read by hand


def _key(header: str) -> str:
    import unicodedata

    text = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode().lower()
    return "".join(ch for ch in text if ch.isalnum())


def _rows(path: Path) -> list[dict[str, str]]:
    import csv
    import io

    text = path.read_bytes().decode("utf-8-sig")
    delimiter = ";" if text.splitlines()[0].count(";") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [_key(h) for h in next(reader)]
    return [dict(zip(header, row, strict=False)) for row in reader if any(c.strip() for c in row)]


def _day(text: str) -> dt.date | None:
    text = text.strip()
    if not text:
        return None
    if "/" in text:
        d, m, y = text.split("/")
        return dt.date(int(y), int(m), int(d))
    return dt.date.fromisoformat(text)


def _flag(text: str) -> bool | None:
    t = text.strip().lower()
    return None if not t else t in ("oui", "o", "1", "vrai", "true", "x")


@functools.cache
def raw_from_folder(folder: Path) -> tuple[dict, Raw]:
    """A shipped scenario read with the csv module and tomllib only (no fluxopt code); cached, never mutate."""
    import tomllib

    config = tomllib.loads((folder / "scenario.toml").read_text(encoding="utf-8"))
    files = config["files"]
    raw = Raw()
    for r in _rows(folder / files["stock"]):
        raw.dwellings.append(
            RawDwelling(
                id=r["logement"],
                programme=r["programme"],
                commune=r["commune"],
                qpv=bool(_flag(r["qpv"])),
                typology=r["typologie"],
                financing=r["financement"],
                year=int(r["anneeconstruction"]),
                out_of_flux=r.get("horsflux", "").strip(),
            )
        )
    for r in _rows(folder / files["vacancies"]):
        raw.vacancies.append(
            RawVacancy(r["logement"], _day(r["dateliberation"]), r.get("exclusion", "").strip())
        )  # type: ignore[arg-type]
    for r in _rows(folder / files["designations"]):
        raw.designations.append(
            RawDesignation(
                dwelling=r["logement"],
                date=_day(r["date"]),  # type: ignore[arg-type]
                convention=r["convention"],
                status=r["statut"],
                lease_date=_day(r.get("datebail", "")),
                priority=_flag(r.get("menageprioritaire", "")),
                first_quartile=_flag(r.get("premierquartile", "")),
            )
        )
    return config, raw
