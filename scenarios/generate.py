#!/usr/bin/env python3
"""Seeded, deterministic generator of fluxopt scenario folders (docs/formats.md).

Standalone: needs only the standard library and numpy (it never imports fluxopt).

    python scenarios/generate.py mini           --out scenarios/mini
    python scenarios/generate.py cap-habitat    --out scenarios/cap-habitat    --seed 92
    python scenarios/generate.py grand-bailleur --out scenarios/grand-bailleur --seed 93
    python scenarios/generate.py custom --out /tmp/bench --seed 1 \\
        --dwellings 300000 --communes 150 --conventions 180 --departements 3

Same arguments -> byte-identical files. Benchmarks and tests may load this file by path
(importlib) and call :func:`generate`.

Everything here is synthetic: programme codes, dwelling ids and actuals are invented; commune
INSEE codes are real (or real-looking for large custom runs); there is no personal data.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
from pathlib import Path

import numpy as np

YEAR = 2026

# ---------------------------------------------------------------------------------------------
# Reference data
# ---------------------------------------------------------------------------------------------

DEPARTEMENTS = {
    "77": "Seine-et-Marne",
    "78": "Yvelines",
    "91": "Essonne",
    "92": "Hauts-de-Seine",
    "93": "Seine-Saint-Denis",
    "94": "Val-de-Marne",
    "95": "Val-d'Oise",
}

# Real INSEE codes (commune -> name). Ordered lists per département, used in this order.
COMMUNES = {
    "92": [
        ("92025", "Colombes"),
        ("92036", "Gennevilliers"),
        ("92046", "Malakoff"),
        ("92050", "Nanterre"),
        ("92004", "Asnières-sur-Seine"),
        ("92024", "Clichy"),
        ("92007", "Bagneux"),
        ("92002", "Antony"),
        ("92023", "Clamart"),
        ("92019", "Châtenay-Malabry"),
        ("92073", "Suresnes"),
        ("92078", "Villeneuve-la-Garenne"),
        ("92012", "Boulogne-Billancourt"),
        ("92063", "Rueil-Malmaison"),
        ("92040", "Issy-les-Moulineaux"),
        ("92049", "Montrouge"),
        ("92020", "Châtillon"),
        ("92062", "Puteaux"),
        ("92026", "Courbevoie"),
        ("92075", "Vanves"),
        ("92032", "Fontenay-aux-Roses"),
        ("92060", "Le Plessis-Robinson"),
        ("92048", "Meudon"),
        ("92009", "Bois-Colombes"),
        ("92035", "La Garenne-Colombes"),
        ("92044", "Levallois-Perret"),
        ("92072", "Sèvres"),
        ("92064", "Saint-Cloud"),
        ("92014", "Bourg-la-Reine"),
        ("92071", "Sceaux"),
        ("92022", "Chaville"),
        ("92033", "Garches"),
    ],
    "93": [
        ("93066", "Saint-Denis"),
        ("93001", "Aubervilliers"),
        ("93048", "Montreuil"),
        ("93008", "Bobigny"),
        ("93027", "La Courneuve"),
        ("93029", "Drancy"),
        ("93005", "Aulnay-sous-Bois"),
        ("93071", "Sevran"),
        ("93072", "Stains"),
        ("93055", "Pantin"),
        ("93010", "Bondy"),
        ("93007", "Le Blanc-Mesnil"),
        ("93031", "Épinay-sur-Seine"),
        ("93051", "Noisy-le-Grand"),
        ("93014", "Clichy-sous-Bois"),
        ("93047", "Montfermeil"),
        ("93059", "Pierrefitte-sur-Seine"),
        ("93079", "Villetaneuse"),
        ("93070", "Saint-Ouen-sur-Seine"),
        ("93053", "Noisy-le-Sec"),
        ("93064", "Rosny-sous-Bois"),
        ("93006", "Bagnolet"),
        ("93063", "Romainville"),
        ("93078", "Villepinte"),
        ("93073", "Tremblay-en-France"),
        ("93046", "Livry-Gargan"),
        ("93032", "Gagny"),
        ("93050", "Neuilly-sur-Marne"),
        ("93039", "L'Île-Saint-Denis"),
        ("93030", "Dugny"),
        ("93013", "Le Bourget"),
        ("93045", "Les Lilas"),
        ("93061", "Le Pré-Saint-Gervais"),
        ("93077", "Villemomble"),
        ("93049", "Neuilly-Plaisance"),
        ("93057", "Les Pavillons-sous-Bois"),
    ],
    "94": [
        ("94041", "Ivry-sur-Seine"),
        ("94081", "Vitry-sur-Seine"),
        ("94028", "Créteil"),
        ("94017", "Champigny-sur-Marne"),
        ("94076", "Villejuif"),
        ("94022", "Choisy-le-Roi"),
        ("94054", "Orly"),
        ("94078", "Villeneuve-Saint-Georges"),
        ("94002", "Alfortville"),
        ("94033", "Fontenay-sous-Bois"),
        ("94011", "Bonneuil-sur-Marne"),
        ("94037", "Gentilly"),
        ("94003", "Arcueil"),
        ("94016", "Cachan"),
        ("94038", "L'Haÿ-les-Roses"),
        ("94043", "Le Kremlin-Bicêtre"),
        ("94034", "Fresnes"),
        ("94073", "Thiais"),
        ("94074", "Valenton"),
        ("94046", "Maisons-Alfort"),
        ("94068", "Saint-Maur-des-Fossés"),
        ("94071", "Sucy-en-Brie"),
        ("94044", "Limeil-Brévannes"),
        ("94077", "Villeneuve-le-Roi"),
        ("94079", "Villiers-sur-Marne"),
        ("94021", "Chevilly-Larue"),
        ("94004", "Boissy-Saint-Léger"),
        ("94042", "Joinville-le-Pont"),
        ("94058", "Le Perreux-sur-Marne"),
        ("94052", "Nogent-sur-Marne"),
        ("94080", "Vincennes"),
    ],
    "95": [
        ("95018", "Argenteuil"),
        ("95585", "Sarcelles"),
        ("95268", "Garges-lès-Gonesse"),
        ("95127", "Cergy"),
        ("95680", "Villiers-le-Bel"),
        ("95063", "Bezons"),
        ("95277", "Gonesse"),
        ("95280", "Goussainville"),
        ("95500", "Pontoise"),
        ("95572", "Saint-Ouen-l'Aumône"),
        ("95210", "Ermont"),
        ("95252", "Franconville"),
        ("95582", "Sannois"),
        ("95219", "Eaubonne"),
        ("95607", "Taverny"),
        ("95306", "Herblay-sur-Seine"),
    ],
}
COMMUNE_NAMES = {code: name for dep in sorted(COMMUNES) for code, name in COMMUNES[dep]}

# Département codes used (in this order) by `custom`; names are only used in free text.
CUSTOM_DEPS = [
    "93",
    "94",
    "92",
    "95",
    "91",
    "78",
    "77",
    "13",
    "69",
    "59",
    "33",
    "31",
    "44",
    "67",
    "06",
    "34",
    "38",
    "76",
    "62",
    "57",
    "35",
    "83",
    "54",
    "45",
    "63",
    "68",
    "60",
    "42",
    "29",
    "74",
]

# Turnover (RPLS 2022, domain.md §9)
DEP_TURNOVER = {"75": 0.050, "92": 0.060, "93": 0.053, "94": 0.056, "95": 0.060}
DEFAULT_TURNOVER = 0.058

TYPOLOGIES = ["T1", "T2", "T3", "T4", "T5+"]
TYPO_MIX = np.array([0.07, 0.20, 0.37, 0.27, 0.09])
FINANCINGS = ["PLAI", "PLUS", "PLS", "PLI", "AUTRE"]
SEASONALITY = [0.9, 0.85, 0.95, 0.95, 1.0, 1.1, 1.2, 1.25, 1.05, 0.95, 0.9, 0.9]
EXCLUSION_CATEGORIES = ["mutation_interne", "anru", "orcod", "habitat_indigne", "vente"]


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def dep_of(commune: str) -> str:
    return commune[:3] if commune.startswith("97") else commune[:2]


def days_in_month(year: int, month: int) -> int:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return (nxt - dt.date(year, month, 1)).days


class Dialect:
    def __init__(self, french_excel: bool):
        self.french = french_excel
        self.delimiter = ";" if french_excel else ","
        self.encoding = "utf-8-sig" if french_excel else "utf-8"
        self.lineterminator = "\r\n" if french_excel else "\n"

    def date(self, d: dt.date | None) -> str:
        if d is None:
            return ""
        return d.strftime("%d/%m/%Y") if self.french else d.isoformat()

    def dec(self, x: float, digits: int = 3) -> str:
        s = f"{x:.{digits}f}"
        return s.replace(".", ",") if self.french else s

    def pct(self, x: float) -> str:
        """A rate as the French Excel user types it ('6,2 %'), or a plain decimal for pipelines."""
        return f"{x * 100:.1f} %".replace(".", ",") if self.french else f"{x:.3f}"

    @staticmethod
    def yesno(b: bool | None) -> str:
        return "" if b is None else ("oui" if b else "non")

    def header(self, canonical: list[str]) -> list[str]:
        """French Excel users write headers with capitals and accents (matched case/accent-blind)."""
        if not self.french:
            return canonical
        pretty = {
            "logement": "Logement",
            "programme": "Programme",
            "commune": "Commune",
            "qpv": "QPV",
            "typologie": "Typologie",
            "financement": "Financement",
            "annee_construction": "Année_construction",
            "rotation": "Rotation",
            "hors_flux": "Hors_flux",
            "mise_en_service": "Mise_en_service",
            "date_bail": "Date_bail",
            "date_liberation": "Date_libération",
            "exclusion": "Exclusion",
            "date": "Date",
            "convention": "Convention",
            "statut": "Statut",
            "menage_prioritaire": "Ménage_prioritaire",
            "premier_quartile": "Premier_quartile",
        }
        return [pretty.get(h, h) for h in canonical]


def write_csv(path: Path, dialect: Dialect, header: list[str], rows) -> int:
    n = 0
    with open(path, "w", encoding=dialect.encoding, newline="") as f:
        w = csv.writer(f, delimiter=dialect.delimiter, lineterminator=dialect.lineterminator)
        w.writerow(dialect.header(header))
        for r in rows:
            w.writerow(r)
            n += 1
    return n


def toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def toml_val(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, float):
        return repr(round(v, 6))
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, str):
        return toml_str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_val(x) for x in v) + "]"
    raise TypeError(type(v))


# ---------------------------------------------------------------------------------------------
# Scenario model (plain data, ordered)
# ---------------------------------------------------------------------------------------------


class Programme:
    __slots__ = ("code", "commune", "fin", "hors_flux", "mise_en_service", "qpv", "rotation", "typ", "year")

    def __init__(self, code, commune, qpv, year, typ, fin, hors_flux="", mise_en_service=None, rotation=None):
        self.code, self.commune, self.qpv, self.year = code, commune, qpv, year
        self.typ, self.fin = list(typ), list(fin)  # per dwelling, index into TYPOLOGIES / FINANCINGS
        self.hors_flux, self.mise_en_service, self.rotation = hors_flux, mise_en_service, rotation

    @property
    def n(self) -> int:
        return len(self.typ)

    def dwelling_id(self, k: int) -> str:
        return f"{self.commune}-{self.code}-{k + 1:04d}"


class Scenario:
    def __init__(self, **kw):
        self.name = kw["name"]
        self.bailleur = kw["bailleur"]
        self.year = kw.get("year", YEAR)
        self.programmes: list[Programme] = kw["programmes"]
        self.turnover_rate: float = kw["turnover_rate"]
        self.exclusions: dict = kw["exclusions"]
        self.reservataires: list[dict] = kw["reservataires"]
        self.conventions: list[dict] = kw["conventions"]
        self.legal_min_outside_qpv = kw.get("legal_min_outside_qpv", 30.0)
        self.write_rotation_file: bool = kw.get("write_rotation_file", True)
        self.comment: str = kw.get("comment", "")


def scope_contains(conv: dict, prog: Programme) -> bool:
    sc = conv["scope"]
    if sc["kind"] == "departement":
        return dep_of(prog.commune) == sc["departement"]
    if sc["kind"] == "communes":
        return prog.commune in sc["communes"]
    return prog.code in sc["programmes"]


def in_force(conv: dict, day: dt.date) -> bool:
    return (conv.get("start") is None or conv["start"] <= day) and (
        conv.get("end") is None or day <= conv["end"]
    )


def reserved_share(scn: Scenario, prog: Programme) -> float:
    return sum(c["share"] for c in scn.conventions if scope_contains(c, prog))


# ---------------------------------------------------------------------------------------------
# Stock generation
# ---------------------------------------------------------------------------------------------


def split_sizes(rng, total: int, mean: float, lo: int = 12, hi: int = 450) -> list[int]:
    """Split `total` dwellings into programme sizes (lognormal around `mean`)."""
    sizes = []
    left = total
    sigma = 0.7
    mu = math.log(mean) - sigma**2 / 2
    while left > 0:
        s = int(np.clip(round(rng.lognormal(mu, sigma)), lo, hi))
        if left - s < lo:
            s = left
        sizes.append(s)
        left -= s
    return sizes


def draw_year(rng) -> int:
    u = rng.random()
    if u < 0.07:
        return int(rng.integers(1925, 1949))
    if u < 0.55:
        return int(rng.integers(1955, 1981))
    if u < 0.77:
        return int(rng.integers(1981, 2000))
    if u < 0.89:
        return int(rng.integers(2000, 2013))
    return int(rng.integers(2013, 2026))


def financing_probs(year: int) -> list[float]:
    # PLAI PLUS PLS PLI AUTRE
    if year < 1977:
        return [0.04, 0.93, 0.01, 0.0, 0.02]
    if year < 2000:
        return [0.07, 0.85, 0.06, 0.02, 0.0]
    return [0.24, 0.56, 0.18, 0.02, 0.0]


def make_units(rng, n: int, year: int) -> tuple[list[int], list[int]]:
    mix = rng.dirichlet(TYPO_MIX * 40)
    typ = sorted(rng.choice(5, size=n, p=mix).tolist())  # sorted: small flats on lower ids
    fin = rng.choice(5, size=n, p=financing_probs(year)).tolist()
    return typ, fin


def build_programmes(
    rng,
    plan: list[tuple[str, str, int]],
    mean_size: float,
    code_width: int | None = None,
    prefix_per_group: bool = True,
) -> list[Programme]:
    """plan: ordered (group_prefix, commune, n_dwellings). Programme codes are `<prefix><nnnn>`,
    numbered per prefix (prefix_per_group) or globally."""
    raw = []
    for prefix, commune, n in plan:
        for s in split_sizes(rng, n, mean_size):
            raw.append((prefix, commune, s))
    width = code_width or max(4, len(str(len(raw))))
    counters: dict[str, int] = {}
    progs = []
    for prefix, commune, s in raw:
        key = prefix if prefix_per_group else ""
        counters[key] = counters.get(key, 0) + 1
        code = f"{prefix}{counters[key]:0{width}d}"
        year = draw_year(rng)
        typ, fin = make_units(rng, s, year)
        progs.append(Programme(code, commune, False, year, typ, fin))
    return progs


def assign_qpv(
    rng, progs: list[Programme], target_share: float, commune_weight: dict[str, float] | None = None
):
    """Mark programmes in QPV until ~target_share of the dwellings; 1955-1980 estates are favoured."""
    keys = []
    for i, p in enumerate(progs):
        w = 3.0 if 1955 <= p.year <= 1980 else (0.3 if p.year >= 2000 else 1.0)
        if commune_weight:
            w *= commune_weight.get(p.commune, 1.0)
        u = rng.random()
        keys.append((-(u ** (1.0 / w)), i))
    total = sum(p.n for p in progs)
    acc = 0
    for _, i in sorted(keys):
        if acc >= target_share * total:
            break
        progs[i].qpv = True
        acc += progs[i].n


def assign_rotation(rng, progs: list[Programme], target: float, lo=0.03, hi=0.14):
    """Per-programme observed turnover: lognormal around the département's rate, clipped to [lo, hi],
    rescaled so that the dwelling-weighted mean over flux programmes is `target`."""
    base = []
    for p in progs:
        m = DEP_TURNOVER.get(dep_of(p.commune), DEFAULT_TURNOVER)
        m *= 1.12 if p.qpv else 1.0
        m *= 0.8 if p.year >= 2013 else 1.0
        base.append(m * rng.lognormal(-0.5 * 0.38**2, 0.38))
    base = np.array(base)
    w = np.array([p.n if not p.hors_flux and p.mise_en_service is None else 0 for p in progs], dtype=float)
    scale = 1.0
    for _ in range(30):
        r = np.clip(base * scale, lo, hi)
        mean = float((r * w).sum() / w.sum())
        scale *= target / mean
    r = np.clip(base * scale, lo, hi)
    for p, x in zip(progs, r, strict=False):
        p.rotation = round(float(x), 3)


def new_programme(rng, code: str, commune: str, n: int, mes: dt.date) -> Programme:
    mix = rng.dirichlet(TYPO_MIX * 40)
    typ = sorted(rng.choice(5, size=n, p=mix).tolist())
    fin = rng.choice(5, size=n, p=[0.30, 0.55, 0.15, 0.0, 0.0]).tolist()
    return Programme(code, commune, False, YEAR - 1, typ, fin, mise_en_service=mes)


# ---------------------------------------------------------------------------------------------
# Actuals: vacancies and designations
# ---------------------------------------------------------------------------------------------


def draw_vacancies(rng, scn: Scenario, until: dt.date) -> list[tuple[dt.date, str, Programme, int, str]]:
    """Re-lettings drawn from the turnover with seasonality (one vacancy per dwelling at most) plus
    first lettings of new programmes put in service on or before `until`. Returns rows
    (date, dwelling id, programme, index, exclusion) sorted by date then id."""
    year = scn.year
    season = np.array(SEASONALITY) / sum(SEASONALITY)
    excl_total = sum(scn.exclusions.values())
    expected = expected_vacancies(scn)
    p_excl = min(0.9, excl_total / expected) if expected else 0.0
    cats = [c for c in EXCLUSION_CATEGORIES if scn.exclusions.get(c, 0) > 0]
    cat_p = np.array([scn.exclusions[c] for c in cats], dtype=float)
    cat_p = cat_p / cat_p.sum() if len(cats) else cat_p
    out = []
    for p in scn.programmes:
        if p.hors_flux:
            continue
        if p.mise_en_service is not None:
            if p.mise_en_service.year == year and p.mise_en_service <= until:
                for k in range(p.n):
                    out.append((p.mise_en_service, p.dwelling_id(k), p, k))
            continue
        rate = p.rotation if p.rotation is not None else scn.turnover_rate
        hit = np.nonzero(rng.random(p.n) < rate)[0]
        if len(hit) == 0:
            continue
        months = rng.choice(12, size=len(hit), p=season)
        days = rng.random(len(hit))
        for k, m, u in zip(hit.tolist(), months.tolist(), days.tolist(), strict=False):
            d = dt.date(year, m + 1, 1 + int(u * days_in_month(year, m + 1)))
            if d <= until:
                out.append((d, p.dwelling_id(k), p, k))
    out.sort(key=lambda r: (r[0], r[1]))
    rows = []
    for d, did, p, k in out:
        exc = ""
        if cats and p.mise_en_service is None and rng.random() < p_excl:
            exc = cats[int(rng.choice(len(cats), p=cat_p))]
        rows.append((d, did, p, k, exc))
    return rows


def designate(rng, scn: Scenario, vacancies, until: dt.date):
    """'Most behind first': each non-excluded vacancy goes to the convention (or BAILLEUR) whose
    count lags most behind share x base seen so far in its scope. Outcomes are then drawn."""
    convs = scn.conventions
    seen = [0] * len(convs)
    got = [0.0] * len(convs)
    b_seen: dict[str, int] = {}
    b_got: dict[str, float] = {}
    prog_convs: dict[str, list[int]] = {}
    for p in scn.programmes:
        prog_convs[p.code] = [i for i, c in enumerate(convs) if scope_contains(c, p)]
    rows = []
    for d, did, p, _k, exc in vacancies:
        if exc:
            continue
        ddate = d + dt.timedelta(days=int(rng.integers(0, 8)))
        if ddate > until:
            continue  # not designated yet
        idx = [i for i in prog_convs[p.code] if in_force(convs[i], ddate)]
        for i in idx:
            seen[i] += 1
        b_share = max(0.0, 100.0 - sum(convs[i]["share"] for i in idx))
        b_seen[p.commune] = b_seen.get(p.commune, 0) + 1
        best, best_gap = None, -1e9
        for i in idx:
            gap = convs[i]["share"] / 100.0 * seen[i] - got[i]
            if gap > best_gap + 1e-12:
                best, best_gap = i, gap
        bgap = b_share / 100.0 * b_seen[p.commune] - b_got.get(p.commune, 0.0)
        if best is None or bgap > best_gap + 1e-12:
            conv_id, conv = "BAILLEUR", None
            b_got[p.commune] = b_got.get(p.commune, 0.0) + 1
        else:
            conv_id, conv = convs[best]["id"], convs[best]
            got[best] += 1
        # outcome
        u = rng.random()
        age = (until - ddate).days
        lease = ddate + dt.timedelta(days=int(rng.integers(15, 50)))
        status, date_bail = "bail_signe", lease
        if conv is not None and u < 0.06:
            status, date_bail = "carence", None
            if age < 30:
                status = "propose"
        elif conv is not None and u < 0.08:
            status, date_bail = "repris", ddate + dt.timedelta(days=int(rng.integers(40, 80)))
            if date_bail > until:
                status, date_bail = ("carence", None) if age >= 30 else ("propose", None)
        elif u < 0.17:
            status, date_bail = "refuse", None
            if age < 21:
                status = "propose"
        elif lease > until:
            status, date_bail = "propose", None
        if conv is not None and status == "carence" and not conv.get("counts_no_candidate", True):
            got[best] -= 1  # a carence not counted frees the slot again
        prio = quart = None
        if status in ("bail_signe", "repris") and rng.random() >= 0.06:
            p_prio = 0.9 if conv is not None and conv["contingent"] == "etat_prioritaires" else 0.3
            prio = bool(rng.random() < p_prio)
            quart = bool(rng.random() < (0.22 if p.qpv else 0.28))
        rows.append((did, ddate, conv_id, status, date_bail, prio, quart))
    rows.sort(key=lambda r: (r[1], r[0]))
    return rows


def expected_vacancies(scn: Scenario) -> float:
    tot = 0.0
    for p in scn.programmes:
        if p.hors_flux:
            continue
        if p.mise_en_service is not None:
            tot += p.n if p.mise_en_service.year == scn.year else 0
        else:
            tot += p.n * (p.rotation if p.rotation is not None else scn.turnover_rate)
    return tot


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------


def write_scenario(scn: Scenario, out: Path, dialect: Dialect, vacancies=None, designations=None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    has_hf = any(p.hors_flux for p in scn.programmes)
    has_mes = any(p.mise_en_service is not None for p in scn.programmes)
    header = ["logement", "programme", "commune", "qpv", "typologie", "financement", "annee_construction"]
    if has_hf:
        header.append("hors_flux")
    if has_mes:
        header.append("mise_en_service")

    def stock_rows():
        for p in scn.programmes:
            for k in range(p.n):
                r = [
                    p.dwelling_id(k),
                    p.code,
                    p.commune,
                    dialect.yesno(p.qpv),
                    TYPOLOGIES[p.typ[k]],
                    FINANCINGS[p.fin[k]],
                    str(p.year),
                ]
                if has_hf:
                    r.append(p.hors_flux)
                if has_mes:
                    r.append(dialect.date(p.mise_en_service))
                yield r

    files = {"stock": "patrimoine.csv"}
    write_csv(out / "patrimoine.csv", dialect, header, stock_rows())
    if scn.write_rotation_file:
        rot = [
            [p.code, dialect.pct(p.rotation)]
            for p in scn.programmes
            if p.rotation is not None and p.mise_en_service is None and not p.hors_flux
        ]
        write_csv(out / "rotation.csv", dialect, ["programme", "rotation"], rot)
        files["turnover"] = "rotation.csv"
    if vacancies is not None:
        write_csv(
            out / "vacances.csv",
            dialect,
            ["logement", "date_liberation", "exclusion"],
            ([did, dialect.date(d), exc] for d, did, _p, _k, exc in vacancies),
        )
        files["vacancies"] = "vacances.csv"
    if designations is not None:
        write_csv(
            out / "designations.csv",
            dialect,
            [
                "logement",
                "date",
                "convention",
                "statut",
                "date_bail",
                "menage_prioritaire",
                "premier_quartile",
            ],
            (
                [did, dialect.date(d), cid, st, dialect.date(db), dialect.yesno(pr), dialect.yesno(q)]
                for did, d, cid, st, db, pr, q in designations
            ),
        )
        files["designations"] = "designations.csv"
    # stale optional files from an earlier run would be misleading: remove those we did not write
    for opt in ("rotation.csv", "vacances.csv", "designations.csv"):
        if opt not in files.values() and (out / opt).exists():
            (out / opt).unlink()
    write_toml(scn, out / "scenario.toml", files)
    return files


def stock_era(seed: int, scn: Scenario, dialect: Dialect) -> tuple[list[list[str]], list[list[str]]]:
    """Stock-era reservations (`reservations.csv`) and 3 years of turnover history
    (`rotation_historique.csv`) for `fluxopt convert`, drawn from their own random stream (the other files do
    not change). Realistic shapes: the préfet reserved about 30 % of every programme (more in the older
    ones), Action Logement 18–32 % of most programmes, a third of those financed since 1990 with rights
    ending with their loans in 2027–2029; each commune about 20 % of most of its programmes (loan guarantees,
    some ending in 2028); the
    départements and the employer reserve a number of dwellings per programme (no dwelling named)."""
    rng = np.random.default_rng(seed + 10_000)
    rows: list[list[str]] = []
    history: list[list[str]] = []
    for p in sorted(scn.programmes, key=lambda q: q.code):
        if p.hors_flux or p.mise_en_service is not None:
            continue
        order = [int(i) for i in rng.permutation(p.n)]
        taken = [0]  # dwellings of the programme already reserved (one réservataire per dwelling)

        def reserve(
            share: float,
            reservataire: str,
            contingent: str = "",
            end: str = "",
            p=p,
            order=order,
            taken=taken,
        ) -> None:
            k = max(0, min(round(share * p.n), int(0.9 * p.n) - taken[0]))
            for i in order[taken[0] : taken[0] + k]:
                rows.append([p.dwelling_id(i), "", "", reservataire, end, contingent])
            taken[0] += k

        reserve((0.27 if p.year < 1980 else 0.22) + rng.uniform(-0.03, 0.03), "ETAT", "etat_prioritaires")
        reserve(0.05, "ETAT", "etat_fonctionnaires")
        if rng.random() < 0.9:
            ending = p.year >= 1990 and rng.random() < 0.35
            end = dialect.date(dt.date(int(rng.choice([2027, 2028, 2029])), 12, 31)) if ending else ""
            reserve(rng.uniform(0.18, 0.32), "AL", "employeurs_action_logement", end)
        if rng.random() < 0.85:
            end = dialect.date(dt.date(2028, 6, 30)) if rng.random() < 0.2 else ""
            reserve(rng.uniform(0.15, 0.25), commune_res_id(p.commune), "collectivites", end)
        dep = dep_of(p.commune)
        if dep in ("92", "94") and rng.random() < 0.15:
            rows.append(["", p.code, str(max(1, int(0.05 * p.n))), f"CD{dep}", "", "collectivites"])
        for year in (YEAR - 3, YEAR - 2, YEAR - 1):
            base = p.rotation if p.rotation is not None else scn.turnover_rate
            history.append([p.code, str(year), dialect.dec(base * rng.uniform(0.8, 1.2), 4)])
    for conv in scn.conventions:
        if conv["id"] == "EMP-TRANSPORT-NAN":
            for code in conv["scope"]["programmes"]:
                rows.append(["", code, "6", "EMP-TRANSPORT", "", "employeurs_action_logement"])
    return rows, history


def write_toml(scn: Scenario, path: Path, files: dict):
    L = []
    if scn.comment:
        L += [f"# {line}" if line else "#" for line in scn.comment.splitlines()] + [""]
    L += [
        "[scenario]",
        f"name = {toml_str(scn.name)}",
        f"year = {scn.year}",
        f"bailleur = {toml_str(scn.bailleur)}",
        'model = "equilibre"',
        "",
        "[files]",
    ]
    for key in ("stock", "vacancies", "designations", "turnover"):
        if key in files:
            L.append(f"{key} = {toml_str(files[key])}")
    L += [
        "",
        "[forecast]",
        f"turnover_rate = {toml_val(scn.turnover_rate)}",
        f"seasonality = {toml_val(SEASONALITY)}",
        "",
        "[forecast.exclusions]",
    ]
    for c in EXCLUSION_CATEGORIES:
        L.append(f"{c} = {int(scn.exclusions.get(c, 0))}")
    L += ["", "[legal]", "prefet_uniform_per_commune = true"]
    if scn.legal_min_outside_qpv is not None:
        L.append(f"prefet_min_outside_qpv = {toml_val(float(scn.legal_min_outside_qpv))}")
    L += ["", "[simulation]", "no_candidate_rate = 0.05", "refusal_rate = 0.15"]
    for r in scn.reservataires:
        L += [
            "",
            "[[reservataires]]",
            f"id = {toml_str(r['id'])}",
            f"name = {toml_str(r['name'])}",
            f"kind = {toml_str(r['kind'])}",
        ]
    for c in scn.conventions:
        sc = c["scope"]
        if sc["kind"] == "departement":
            scope = f'{{ kind = "departement", departement = {toml_str(sc["departement"])} }}'
        else:
            scope = f"{{ kind = {toml_str(sc['kind'])}, {sc['kind']} = {toml_val(sc[sc['kind']])} }}"
        L += [
            "",
            "[[conventions]]",
            f"id = {toml_str(c['id'])}",
            f"reservataire = {toml_str(c['reservataire'])}",
            f"share = {toml_val(float(c['share']))}",
            f"contingent = {toml_str(c['contingent'])}",
            f"scope = {scope}",
            f"counts_no_candidate = {toml_val(c.get('counts_no_candidate', True))}",
        ]
        if c.get("start"):
            L.append(f"start = {c['start'].isoformat()}")
        if c.get("end"):
            L.append(f"end = {c['end'].isoformat()}")
        if c.get("balance"):
            L.append(f"balance = {toml_val(c['balance'])}")
        for w in c.get("wishes", []):
            L += [
                "",
                "[[conventions.wishes]]",
                f"dimension = {toml_str(w['dimension'])}",
                f"values = {toml_val(w['values'])}",
                f"min_share = {toml_val(float(w['min_share']))}",
            ]
    path.write_text("\n".join(L) + "\n", encoding="utf-8", newline="\n")


# ---------------------------------------------------------------------------------------------
# Conventions helpers
# ---------------------------------------------------------------------------------------------

BAL_ALL = ["typologie", "financement", "qpv", "commune", "periode_construction"]


def etat_al_conventions(deps: list[str], al_share: dict[str, float]) -> list[dict]:
    convs = []
    for d in deps:
        convs.append(
            dict(
                id=f"ETAT-PRIO-{d}",
                reservataire="ETAT",
                share=25.0,
                contingent="etat_prioritaires",
                scope={"kind": "departement", "departement": d},
                counts_no_candidate=True,
                balance=BAL_ALL,
            )
        )
        convs.append(
            dict(
                id=f"ETAT-FONC-{d}",
                reservataire="ETAT",
                share=5.0,
                contingent="etat_fonctionnaires",
                scope={"kind": "departement", "departement": d},
                counts_no_candidate=True,
                balance=["typologie", "commune"],
            )
        )
        convs.append(
            dict(
                id=f"AL-{d}",
                reservataire="AL",
                share=al_share[d],
                contingent="employeurs_action_logement",
                scope={"kind": "departement", "departement": d},
                counts_no_candidate=False,
                balance=["typologie", "financement", "qpv", "commune"],
            )
        )
    return convs


def commune_res_id(code: str) -> str:
    return f"VILLE-{code}"


def commune_name(code: str) -> str:
    return COMMUNE_NAMES.get(code, f"Commune {code}")


def base_reservataires(deps: list[str]) -> list[dict]:
    names = ", ".join(f"{d}" for d in deps)
    return [
        dict(
            id="ETAT",
            name=f"État — préfet de département ({names})"
            if len(deps) > 1
            else f"Préfet — {DEPARTEMENTS.get(deps[0], 'département ' + deps[0])}",
            kind="etat",
        ),
        dict(id="AL", name="Action Logement Services", kind="action_logement"),
    ]


def check_reserved(scn: Scenario, max_total: float = 95.0):
    for p in scn.programmes:
        s = reserved_share(scn, p)
        if s > max_total + 1e-9:
            raise AssertionError(f"programme {p.code}: reserved {s} % > {max_total} %")


# ---------------------------------------------------------------------------------------------
# The scenarios
# ---------------------------------------------------------------------------------------------


def build_mini(seed: int) -> tuple[Scenario, list, list]:
    """Hand-written, hand-checkable (the seed is not used)."""
    c = "92046"

    # typology counts per programme: T1 T2 T3 T4 T5+
    def units(counts, fins):
        typ = [i for i, n in enumerate(counts) for _ in range(n)]
        return typ, fins

    p1 = Programme("P0001", c, True, 1962, *units([1, 4, 7, 5, 1], [1] * 18))
    p2 = Programme("P0002", c, False, 1978, *units([1, 3, 5, 4, 1], [1] * 14))
    p3 = Programme("P0003", c, False, 2018, *units([0, 2, 3, 3, 0], [0, 1, 2, 1, 0, 1, 2, 1]))
    progs = [p1, p2, p3]
    res = [
        dict(id="ETAT", name="Préfet des Hauts-de-Seine", kind="etat"),
        dict(id="AL", name="Action Logement Services", kind="action_logement"),
        dict(id="MALAKOFF", name="Ville de Malakoff", kind="collectivite"),
    ]
    convs = [
        dict(
            id="ETAT-PRIO-92",
            reservataire="ETAT",
            share=25.0,
            contingent="etat_prioritaires",
            scope={"kind": "departement", "departement": "92"},
            counts_no_candidate=True,
            balance=["typologie", "qpv"],
        ),
        dict(
            id="ETAT-FONC-92",
            reservataire="ETAT",
            share=5.0,
            contingent="etat_fonctionnaires",
            scope={"kind": "departement", "departement": "92"},
            counts_no_candidate=True,
        ),
        dict(
            id="AL-92",
            reservataire="AL",
            share=25.0,
            contingent="employeurs_action_logement",
            scope={"kind": "departement", "departement": "92"},
            counts_no_candidate=False,
            balance=["typologie"],
        ),
        dict(
            id="MALAKOFF",
            reservataire="MALAKOFF",
            share=20.0,
            contingent="collectivites",
            scope={"kind": "communes", "communes": ["92046"]},
            counts_no_candidate=True,
            balance=["typologie", "financement"],
        ),
    ]
    scn = Scenario(
        name="Mini — Malakoff, 40 logements — 2026",
        bailleur="Office de démonstration (Malakoff)",
        programmes=progs,
        turnover_rate=0.25,
        exclusions={"mutation_interne": 2, "anru": 0, "orcod": 0, "habitat_indigne": 0, "vente": 0},
        reservataires=res,
        conventions=convs,
        write_rotation_file=False,
        comment="Tiny hand-checkable scenario (generated by scenarios/generate.py mini).\n"
        "turnover_rate 0.25 is deliberately high: 40 dwellings x 0.25 = 10 vacancies a year.",
    )
    D = dt.date
    vac = [
        (D(2026, 1, 9), "92046-P0001-0006", p1, 5, ""),
        (D(2026, 1, 26), "92046-P0002-0007", p2, 6, "mutation_interne"),
        (D(2026, 2, 13), "92046-P0001-0013", p1, 12, ""),
        (D(2026, 3, 2), "92046-P0003-0005", p3, 4, ""),
        (D(2026, 3, 23), "92046-P0002-0012", p2, 11, ""),
    ]
    des = [
        ("92046-P0001-0006", D(2026, 1, 12), "ETAT-PRIO-92", "bail_signe", D(2026, 2, 20), True, False),
        ("92046-P0001-0013", D(2026, 2, 16), "AL-92", "carence", None, None, None),
        ("92046-P0003-0005", D(2026, 3, 4), "MALAKOFF", "bail_signe", D(2026, 3, 27), False, True),
        ("92046-P0002-0012", D(2026, 3, 25), "BAILLEUR", "propose", None, None, None),
    ]
    return scn, vac, des


CAP_MEMBERS = [
    # prefix, name, [(commune, dwellings)]
    ("COL", "Colombes Habitat Public", [("92025", 7864), ("92004", 300)]),
    ("GEN", "Gennevilliers Habitat", [("92036", 7600)]),
    ("IVR", "OPH d'Ivry-sur-Seine", [("94041", 6200), ("94081", 250)]),
    ("MAL", "Malakoff Habitat", [("92046", 4500)]),
    ("NAN", "Nanterre Coop'Habitat", [("92050", 9600)]),
    (
        "IDF",
        "IDF Habitat",
        [
            ("92004", 1500),
            ("92024", 1300),
            ("93001", 1700),
            ("93066", 1500),
            ("94081", 1400),
            ("94028", 1150),
        ],
    ),
]
CAP_COMMUNE_SHARE = {
    "92025": 22.0,
    "92036": 25.0,
    "94041": 22.0,
    "92046": 22.0,
    "92050": 22.0,
    "92004": 20.0,
    "92024": 20.0,
    "93001": 22.0,
    "93066": 22.0,
    "94081": 22.0,
    "94028": 20.0,
}


def build_cap_habitat(seed: int, until: dt.date | None):
    rng = np.random.default_rng(seed)
    plan = [(pre, c, n) for pre, _name, lst in CAP_MEMBERS for c, n in lst]
    progs = build_programmes(rng, plan, mean_size=110)
    # defence stock and one hospital programme: small, older programmes
    small = [p for p in progs if 20 <= p.n <= 60 and p.year < 2000]
    order = sorted(range(len(small)), key=lambda i: (rng.random(), small[i].code))
    for i in order[:3]:
        small[i].hors_flux = "defense"
    hosp = [p for p in small if p.commune == "92025" and not p.hors_flux]
    (hosp or [small[order[3]]])[0].hors_flux = "hopital"
    # two new programmes put in service in the second half of 2026 (first lettings count in the flux)
    progs.append(new_programme(rng, "NAN9001", "92050", 84, dt.date(2026, 9, 15)))
    progs.append(new_programme(rng, "IDF9001", "93066", 52, dt.date(2026, 11, 2)))
    assign_qpv(rng, progs, 0.25, {"92046": 0.6, "92050": 1.2, "93066": 1.5, "93001": 1.5})
    assign_rotation(rng, progs, target=0.0535)
    deps = ["92", "93", "94"]
    res = base_reservataires(deps)
    convs = etat_al_conventions(deps, {"92": 25.0, "93": 28.0, "94": 25.0})
    communes = sorted({p.commune for p in progs})
    for c in communes:
        res.append(dict(id=commune_res_id(c), name=f"Ville de {commune_name(c)}", kind="collectivite"))
        conv = dict(
            id=f"COM-{c}",
            reservataire=commune_res_id(c),
            share=CAP_COMMUNE_SHARE[c],
            contingent="collectivites",
            scope={"kind": "communes", "communes": [c]},
            counts_no_candidate=c in ("92036", "92050", "94041"),
            balance=["typologie", "financement", "qpv"],
        )
        if c == "92036":
            conv["wishes"] = [dict(dimension="typologie", values=["T4", "T5+"], min_share=30.0)]
        convs.append(conv)
    res.append(dict(id="CD92", name="Département des Hauts-de-Seine", kind="collectivite"))
    convs.append(
        dict(
            id="CD92",
            reservataire="CD92",
            share=3.0,
            contingent="collectivites",
            scope={"kind": "departement", "departement": "92"},
            counts_no_candidate=True,
            balance=["typologie", "commune"],
        )
    )
    res.append(dict(id="CD94", name="Département du Val-de-Marne", kind="collectivite"))
    convs.append(
        dict(
            id="CD94",
            reservataire="CD94",
            share=5.0,
            contingent="collectivites",
            scope={"kind": "departement", "departement": "94"},
            counts_no_candidate=True,
        )
    )
    # a small employer convention on a few Nanterre programmes, in force from 1 April
    nan = [
        p.code
        for p in progs
        if p.commune == "92050" and not p.hors_flux and p.mise_en_service is None and not p.qpv
    ][:4]
    res.append(dict(id="EMP-TRANSPORT", name="Régie de transports (employeur)", kind="employeur"))
    convs.append(
        dict(
            id="EMP-TRANSPORT-NAN",
            reservataire="EMP-TRANSPORT",
            share=8.0,
            contingent="employeurs_action_logement",
            scope={"kind": "programmes", "programmes": nan},
            counts_no_candidate=False,
            start=dt.date(2026, 4, 1),
            end=dt.date(2026, 12, 31),
            wishes=[dict(dimension="typologie", values=["T2", "T3"], min_share=60.0)],
        )
    )
    scn = Scenario(
        name="Coopérative Cap Habitat (fictive) — 2026",
        bailleur="Cap Habitat (coopérative, six offices)",
        programmes=progs,
        turnover_rate=0.055,
        exclusions={"mutation_interne": 500, "anru": 60, "orcod": 0, "habitat_indigne": 8, "vente": 15},
        reservataires=res,
        conventions=convs,
        comment="Synthetic Cap-Habitat-like cooperative (generated by scenarios/generate.py cap-habitat).",
    )
    check_reserved(scn)
    return scn, *actuals(rng, scn, until)


def actuals(rng, scn, until):
    if until is None:
        return None, None
    vac = draw_vacancies(rng, scn, until)
    return vac, designate(rng, scn, vac, until)


def spread_counts(weights: np.ndarray, total: int, minimum: int) -> list[int]:
    w = weights / weights.sum()
    raw = w * (total - minimum * len(w))
    base = np.floor(raw).astype(int)
    rem = total - minimum * len(w) - int(base.sum())
    order = np.argsort(-(raw - base), kind="stable")
    base[order[:rem]] += 1
    return (base + minimum).tolist()


def pick_communes(n_communes: int, n_deps: int) -> list[str]:
    deps = (
        CUSTOM_DEPS[:n_deps]
        if n_deps <= len(CUSTOM_DEPS)
        else CUSTOM_DEPS
        + [f"{i:02d}" for i in range(1, 96) if f"{i:02d}" not in CUSTOM_DEPS and i != 20 and i != 75]
    )
    deps = deps[:n_deps]
    per = [n_communes // n_deps + (1 if i < n_communes % n_deps else 0) for i in range(n_deps)]
    out = []
    for d, k in zip(deps, per, strict=False):
        known = [c for c, _ in COMMUNES.get(d, [])]
        codes = known[:k]
        j = 1
        while len(codes) < k:
            cand = f"{d}{j:03d}"
            if cand not in known and cand not in codes:
                codes.append(cand)
            j += 2
        out += codes
    return out


def build_multi(
    seed: int,
    until,
    name: str,
    bailleur: str,
    dwellings: int,
    communes: int,
    departements: int,
    conventions: int | None,
    vacancies_target: int | None,
    prefix: str = "P",
):
    """A large multi-commune landlord (grand-bailleur and custom)."""
    if departements < 1 or communes < departements:
        raise ValueError("need at least one commune per département")
    if dwellings < 30 * communes:
        raise ValueError("need at least 30 dwellings per commune")
    rng = np.random.default_rng(seed)
    codes = pick_communes(communes, departements)
    deps = sorted(
        {dep_of(c) for c in codes}, key=lambda d: codes.index(next(c for c in codes if dep_of(c) == d))
    )
    ranks = np.arange(1, len(codes) + 1, dtype=float)
    weights = 1.0 / ranks**0.7
    weights = weights[rng.permutation(len(codes))]
    counts = spread_counts(weights, dwellings, 30)
    n_new = max(1, round(0.012 * dwellings / 80)) if dwellings >= 5000 else 0
    new_sizes = [int(rng.integers(40, 121)) for _ in range(n_new)]
    # take the new dwellings out of the largest communes so that the total is exact
    big = sorted(range(len(codes)), key=lambda i: (-counts[i], i))
    new_communes = []
    for j, s in enumerate(new_sizes):
        i = big[j % len(big)]
        if counts[i] - s < 30:
            s = max(0, counts[i] - 30)
            new_sizes[j] = s
        counts[i] -= s
        new_communes.append(codes[i])
    plan = [(prefix, c, n) for c, n in zip(codes, counts, strict=False)]
    n_prog_est = dwellings // 60 + len(codes) + n_new + 10
    width = max(4, len(str(n_prog_est)))
    progs = build_programmes(rng, plan, mean_size=85, code_width=width, prefix_per_group=False)
    last = len(progs)
    for j, (s, c) in enumerate(zip(new_sizes, new_communes, strict=False)):
        if s <= 0:
            continue
        month = 5 + (j * 7) % 8  # May..December
        mes = dt.date(YEAR, month, 1 + int(rng.integers(0, 28)))
        progs.append(new_programme(rng, f"{prefix}{last + j + 1:0{width}d}", c, s, mes))
    # a little defence / hospital stock
    old = [p for p in progs if p.mise_en_service is None and p.n <= 60]
    n_hf = max(1, len(progs) // 150) if len(old) > 2 else 0
    sel = sorted(rng.choice(len(old), size=min(n_hf + 1, len(old)), replace=False).tolist()) if n_hf else []
    for j, i in enumerate(sel):
        old[i].hors_flux = "hopital" if j == 0 else "defense"
    assign_qpv(rng, progs, 0.30)
    flux_dw = sum(p.n for p in progs if not p.hors_flux and p.mise_en_service is None)
    first = sum(p.n for p in progs if p.mise_en_service is not None and not p.hors_flux)
    target = 0.057 if vacancies_target is None else (vacancies_target - first) / flux_dw
    target = float(np.clip(target, 0.035, 0.12))
    assign_rotation(rng, progs, target=target)
    # conventions
    res = base_reservataires(deps)
    al = {d: [25.0, 28.0, 25.0, 24.0, 28.0][i % 5] for i, d in enumerate(deps)}
    convs = etat_al_conventions(deps, al)
    n_conv = (
        conventions
        if conventions is not None
        else len(convs) + len(codes) + len(deps) + max(1, len(codes) // 8)
    )
    if n_conv < len(convs):
        raise ValueError(f"at least {len(convs)} conventions are needed for {len(deps)} département(s)")
    room = n_conv - len(convs)
    n_com = min(len(codes), room)
    shares_c = [20.0, 22.0, 25.0, 18.0, 22.0, 20.0, 20.0, 24.0]
    for i, c in enumerate(codes[:n_com]):
        res.append(dict(id=commune_res_id(c), name=f"Ville de {commune_name(c)}", kind="collectivite"))
        convs.append(
            dict(
                id=f"COM-{c}",
                reservataire=commune_res_id(c),
                share=shares_c[i % len(shares_c)],
                contingent="collectivites",
                scope={"kind": "communes", "communes": [c]},
                counts_no_candidate=(i % 3 != 0),
                balance=["typologie", "financement", "qpv"],
            )
        )
    room -= n_com
    n_dep = min(len(deps), room)
    for i, d in enumerate(deps[:n_dep]):
        res.append(dict(id=f"CD{d}", name=f"Département {DEPARTEMENTS.get(d, d)}", kind="collectivite"))
        convs.append(
            dict(
                id=f"CD{d}",
                reservataire=f"CD{d}",
                share=[3.0, 5.0, 2.0][i % 3],
                contingent="collectivites",
                scope={"kind": "departement", "departement": d},
                counts_no_candidate=True,
                balance=["typologie", "commune"],
            )
        )
    room -= n_dep
    if room > 0:
        # employer / other conventions scoped to a few programmes each, where there is room left
        cand = [p for p in progs if not p.hors_flux and p.mise_en_service is None]
        order = rng.permutation(len(cand)).tolist()
        tmp = Scenario(
            name="",
            bailleur="",
            programmes=[],
            turnover_rate=0,
            exclusions={},
            reservataires=[],
            conventions=convs,
        )
        free = [cand[i] for i in order if reserved_share(tmp, cand[i]) <= 80.0]
        kinds = [
            ("EMP", "employeur", "employeurs_action_logement", "Employeur"),
            ("ASSO", "autre", "autre", "Organisme"),
        ]
        used = set()
        k = 0
        for j in range(room):
            kind = kinds[j % 2]
            rid = f"{kind[0]}-{j // 2 + 1:03d}"
            picks = []
            while k < len(free) and len(picks) < 3:
                if free[k].code not in used:
                    picks.append(free[k].code)
                    used.add(free[k].code)
                k += 1
            if not picks:  # out of programmes: share an already used one
                picks = [free[j % len(free)].code]
            res.append(dict(id=rid, name=f"{kind[3]} réservataire n° {j // 2 + 1}", kind=kind[1]))
            convs.append(
                dict(
                    id=f"{rid}-CONV",
                    reservataire=rid,
                    share=5.0 if kind[1] == "employeur" else 3.0,
                    contingent=kind[2],
                    scope={"kind": "programmes", "programmes": sorted(picks)},
                    counts_no_candidate=False,
                )
            )
    exp_tmp = Scenario(
        name="",
        bailleur="",
        programmes=progs,
        turnover_rate=target,
        exclusions={},
        reservataires=[],
        conventions=[],
    )
    expected = expected_vacancies(exp_tmp)
    excl = {
        "mutation_interne": round(0.20 * expected),
        "anru": round(0.025 * expected),
        "orcod": 0,
        "habitat_indigne": round(0.004 * expected),
        "vente": round(0.006 * expected),
    }
    scn = Scenario(
        name=name,
        bailleur=bailleur,
        programmes=progs,
        turnover_rate=round(target, 3),
        exclusions=excl,
        reservataires=res,
        conventions=convs,
    )
    check_reserved(scn, 100.0)
    return scn, *actuals(rng, scn, until)


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------

DEFAULT_SEEDS = {"mini": 1, "cap-habitat": 92, "grand-bailleur": 93, "custom": 0}
DEFAULT_UNTIL = {
    "mini": dt.date(YEAR, 3, 31),
    "cap-habitat": dt.date(YEAR, 6, 30),
    "grand-bailleur": dt.date(YEAR, 3, 31),
    "custom": dt.date(YEAR, 3, 31),
}
DEFAULT_EXCEL = {"mini": False, "cap-habitat": True, "grand-bailleur": False, "custom": False}


def _parse_until(v):
    if v is None or isinstance(v, dt.date):
        return v
    if str(v).lower() in ("", "none", "non", "no"):
        return None
    return dt.date.fromisoformat(str(v))


def generate(
    kind: str,
    out_dir,
    seed: int | None = None,
    *,
    dwellings: int | None = None,
    communes: int | None = None,
    conventions: int | None = None,
    departements: int | None = None,
    vacancies: int | None = None,
    actuals_until="default",
    french_excel: bool | None = None,
) -> dict:
    """Write scenario `kind` into `out_dir` and return a summary dict (sizes, counts).

    kind: mini | cap-habitat | grand-bailleur | custom. `actuals_until`: a date / ISO string, None or
    "none" for no actuals, "default" for the kind's default. `vacancies` (custom): target expected
    vacancies per year (sets the turnover). Same arguments -> byte-identical files."""
    if kind not in DEFAULT_SEEDS:
        raise ValueError(f"unknown scenario kind {kind!r}")
    seed = DEFAULT_SEEDS[kind] if seed is None else int(seed)
    until = DEFAULT_UNTIL[kind] if actuals_until == "default" else _parse_until(actuals_until)
    if until is not None and until.year != YEAR:
        raise ValueError("--actuals-until must be inside the planning year")
    fe = DEFAULT_EXCEL[kind] if french_excel is None else bool(french_excel)
    out = Path(out_dir)
    if kind == "mini":
        scn, vac, des = build_mini(seed)
        if until is None:
            vac = des = None
        else:
            vac = [v for v in vac if v[0] <= until]
            des = [d for d in des if d[1] <= until and (d[4] is None or d[4] <= until)]
    elif kind == "cap-habitat":
        scn, vac, des = build_cap_habitat(seed, until)
        # read by `fluxopt convert` only (found by name in the folder; scenario.toml does not name them)
        reservations, history = stock_era(seed, scn, Dialect(fe))
        out.mkdir(parents=True, exist_ok=True)
        header = ["logement", "programme", "nombre", "reservataire", "fin_droit", "contingent"]
        write_csv(out / "reservations.csv", Dialect(fe), header, reservations)
        write_csv(out / "rotation_historique.csv", Dialect(fe), ["programme", "annee", "rotation"], history)
    elif kind == "grand-bailleur":
        scn, vac, des = build_multi(
            seed,
            until,
            "Grand bailleur multi-communes (fictif) — 2026",
            "Seine-Est Habitat (fictif)",
            dwellings or 65000,
            communes or 45,
            departements or 3,
            conventions,
            vacancies,
        )
    else:
        d = dwellings or 10000
        scn, vac, des = build_multi(
            seed,
            until,
            f"Scénario de test — {d} logements — 2026",
            "Bailleur de test (fictif)",
            d,
            communes or 10,
            departements or 1,
            conventions,
            vacancies,
        )
    write_scenario(scn, out, Dialect(fe), vac, des)
    return summary(scn, vac, des, seed, until)


def summary(scn: Scenario, vac, des, seed, until) -> dict:
    dw = sum(p.n for p in scn.programmes)
    exp = expected_vacancies(scn)
    excl = sum(scn.exclusions.values())
    status = {}
    for d in des or []:
        status[d[3]] = status.get(d[3], 0) + 1
    return {
        "seed": seed,
        "dwellings": dw,
        "programmes": len(scn.programmes),
        "communes": len({p.commune for p in scn.programmes}),
        "departements": len({dep_of(p.commune) for p in scn.programmes}),
        "conventions": len(scn.conventions),
        "reservataires": len(scn.reservataires),
        "hors_flux": sum(p.n for p in scn.programmes if p.hors_flux),
        "first_lettings": sum(p.n for p in scn.programmes if p.mise_en_service is not None),
        "qpv_share": round(sum(p.n for p in scn.programmes if p.qpv) / dw, 3),
        "expected_vacancies": round(exp, 1),
        "forecast_exclusions": excl,
        "expected_base": round(exp - excl, 1),
        "actuals_until": until.isoformat() if until else None,
        "vacancies": len(vac or []),
        "excluded_vacancies": sum(1 for v in vac or [] if v[4]),
        "designations": len(des or []),
        "designation_status": dict(sorted(status.items())),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description="Generate a fluxopt scenario folder (seeded, deterministic).")
    ap.add_argument("kind", choices=["mini", "cap-habitat", "grand-bailleur", "custom"])
    ap.add_argument("--out", help="output folder (default: scenarios/<kind> next to this script)")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--dwellings", type=int)
    ap.add_argument("--communes", type=int)
    ap.add_argument("--conventions", type=int)
    ap.add_argument("--departements", type=int)
    ap.add_argument(
        "--vacancies",
        type=int,
        help="custom: target expected vacancies per year, first lettings included (sets the turnover)",
    )
    ap.add_argument(
        "--actuals-until",
        default="default",
        help="YYYY-MM-DD: write actual vacancies/designations up to that date ('none': no actuals)",
    )
    ap.add_argument(
        "--french-excel",
        action="store_true",
        default=None,
        help="write CSVs as French Excel does (';', decimal comma, UTF-8 BOM, dd/mm/yyyy)",
    )
    a = ap.parse_args(argv)
    out = a.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), a.kind)
    s = generate(
        a.kind,
        out,
        a.seed,
        dwellings=a.dwellings,
        communes=a.communes,
        conventions=a.conventions,
        departements=a.departements,
        vacancies=a.vacancies,
        actuals_until=a.actuals_until,
        french_excel=a.french_excel,
    )
    print(json.dumps(s, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
