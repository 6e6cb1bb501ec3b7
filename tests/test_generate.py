"""Tests of scenarios/generate.py and of the shipped scenario folders.

Every check recomputes from the written files (csv module + tomllib), never from generator internals.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import importlib.util
import tomllib
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
YEAR = 2026
EXCLUSIONS = {"mutation_interne", "anru", "orcod", "habitat_indigne", "vente"}
STATUSES = {"propose", "refuse", "bail_signe", "carence", "repris"}


def load_generator():
    spec = importlib.util.spec_from_file_location("fluxopt_scenario_generate", SCENARIOS / "generate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GEN = load_generator()


# ----------------------------------------------------------------------------------- readers


def norm(h: str) -> str:
    h = unicodedata.normalize("NFKD", h.strip().lower())
    return "".join(ch for ch in h if not unicodedata.combining(ch)).replace(" ", "_")


def read_table(path: Path) -> list[dict]:
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig")
    first = text.split("\n", 1)[0]
    delim = ";" if first.count(";") > first.count(",") else ","
    rows = list(csv.reader(text.splitlines(), delimiter=delim))
    header = [norm(h) for h in rows[0]]
    return [dict(zip(header, r, strict=False)) for r in rows[1:]]


def parse_date(s: str) -> dt.date | None:
    s = s.strip()
    if not s:
        return None
    if "/" in s:
        d, m, y = s.split("/")
        return dt.date(int(y), int(m), int(d))
    return dt.date.fromisoformat(s)


def parse_rate(s: str) -> float:
    s = s.strip().replace(",", ".")
    if s.endswith("%"):
        return float(s[:-1].strip()) / 100.0
    return float(s)


def dep_of(commune: str) -> str:
    return commune[:3] if commune.startswith("97") else commune[:2]


class Folder:
    def __init__(self, path: Path):
        self.path = path
        with open(path / "scenario.toml", "rb") as f:
            self.toml = tomllib.load(f)
        files = self.toml["files"]
        self.stock = read_table(path / files["stock"])
        self.vac = read_table(path / files["vacancies"]) if "vacancies" in files else []
        self.des = read_table(path / files["designations"]) if "designations" in files else []
        self.rot = (
            {r["programme"]: parse_rate(r["rotation"]) for r in read_table(path / files["turnover"])}
            if "turnover" in files
            else {}
        )

    @property
    def communes(self):
        return sorted({r["commune"] for r in self.stock})

    def covers(self, conv: dict, row: dict) -> bool:
        sc = conv["scope"]
        if sc["kind"] == "departement":
            return dep_of(row["commune"]) == sc["departement"]
        if sc["kind"] == "communes":
            return row["commune"] in sc["communes"]
        assert sc["kind"] == "programmes"
        return row["programme"] in sc["programmes"]

    def expected_vacancies(self) -> float:
        rate = self.toml["forecast"]["turnover_rate"]
        tot = 0.0
        for r in self.stock:
            if r.get("hors_flux"):
                continue
            mes = parse_date(r.get("mise_en_service", ""))
            if mes is not None:
                tot += 1 if mes.year == YEAR else 0
            else:
                tot += self.rot.get(r["programme"], rate)
        return tot


def check_folder(f: Folder):
    t = f.toml
    assert t["scenario"]["year"] == YEAR
    # stock
    ids = [r["logement"] for r in f.stock]
    assert len(ids) == len(set(ids)), "dwelling ids must be unique"
    prog_commune = {}
    for r in f.stock:
        assert len(r["commune"]) == 5 and r["commune"].isdigit()
        assert r["qpv"] in ("oui", "non")
        assert r["typologie"] in ("T1", "T2", "T3", "T4", "T5+")
        assert r["financement"] in ("PLAI", "PLUS", "PLS", "PLI", "AUTRE")
        assert 1900 <= int(r["annee_construction"]) <= YEAR
        assert r.get("hors_flux", "") in ("", "defense", "hopital")
        assert prog_commune.setdefault(r["programme"], r["commune"]) == r["commune"], (
            "programme in one commune"
        )
    for code, x in f.rot.items():
        assert code in prog_commune and 0.03 - 1e-9 <= x <= 0.14 + 1e-9
    # conventions
    res_ids = {r["id"] for r in t["reservataires"]}
    conv_ids = [c["id"] for c in t["conventions"]]
    assert len(conv_ids) == len(set(conv_ids)) and "BAILLEUR" not in conv_ids
    for c in t["conventions"]:
        assert c["reservataire"] in res_ids
        assert 0 < c["share"] <= 100
        assert c["contingent"] in (
            "etat_fonctionnaires",
            "etat_prioritaires",
            "collectivites",
            "employeurs_action_logement",
            "autre",
        )
        if c["scope"]["kind"] == "programmes":
            assert all(p in prog_commune for p in c["scope"]["programmes"])
        if c["scope"]["kind"] == "communes":
            assert all(x in f.communes for x in c["scope"]["communes"])
    # per-commune reserved share <= 100 % (max over the commune's programmes, all conventions in force)
    by_commune = defaultdict(float)
    for code, commune in prog_commune.items():
        row = {"programme": code, "commune": commune}
        s = sum(c["share"] for c in t["conventions"] if f.covers(c, row))
        by_commune[commune] = max(by_commune[commune], s)
    assert by_commune and max(by_commune.values()) <= 100.0
    # préfet share per département: ≤ 30 %, of which ≤ 5 % fonctionnaires
    etat = defaultdict(float)
    for c in t["conventions"]:
        if c["contingent"].startswith("etat_"):
            assert c["scope"]["kind"] == "departement"
            etat[c["scope"]["departement"]] += c["share"]
    assert all(v <= 30.0 for v in etat.values())
    # exclusions forecast
    assert set(t["forecast"]["exclusions"]) <= EXCLUSIONS
    assert len(t["forecast"]["seasonality"]) == 12
    # actuals
    stock_by_id = {r["logement"]: r for r in f.stock}
    vac = {}
    for v in f.vac:
        assert v["logement"] in stock_by_id
        assert not stock_by_id[v["logement"]].get("hors_flux"), "hors-flux dwellings are never in the flux"
        assert v["logement"] not in vac, "one vacancy per dwelling in these scenarios"
        d = parse_date(v["date_liberation"])
        assert d.year == YEAR
        assert v["exclusion"] in EXCLUSIONS | {""}
        vac[v["logement"]] = (d, v["exclusion"])
    seen = set()
    for r in f.des:
        assert r["logement"] in vac, "a designation refers to an actual vacancy"
        vd, exc = vac[r["logement"]]
        assert not exc, "no excluded vacancy is designated"
        assert r["logement"] not in seen, "at most one designation per vacancy"
        seen.add(r["logement"])
        d = parse_date(r["date"])
        assert d.year == YEAR and d >= vd
        assert r["convention"] in conv_ids or r["convention"] == "BAILLEUR"
        assert r["statut"] in STATUSES
        db = parse_date(r.get("date_bail", ""))
        if r["statut"] in ("bail_signe", "repris"):
            assert db is not None and db.year == YEAR and db >= d
        else:
            assert db is None
        if r["statut"] in ("carence", "repris"):
            assert r["convention"] != "BAILLEUR"
        for flag in ("menage_prioritaire", "premier_quartile"):
            assert r.get(flag, "") in ("", "oui", "non")
    return f


# ----------------------------------------------------------------------------------- tests


def digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize(
    "kind, kw",
    [
        ("mini", {}),
        ("custom", dict(dwellings=3000, communes=6, conventions=20, departements=2)),
        (
            "custom",
            dict(dwellings=2500, communes=4, departements=1, french_excel=True, actuals_until="2026-12-31"),
        ),
    ],
)
def test_deterministic(tmp_path, kind, kw):
    a, b = tmp_path / "a", tmp_path / "b"
    GEN.generate(kind, a, seed=7, **kw)
    GEN.generate(kind, b, seed=7, **kw)
    da, db = digest(a), digest(b)
    assert da == db and "scenario.toml" in da and "patrimoine.csv" in da


def test_seed_changes_output(tmp_path):
    GEN.generate("custom", tmp_path / "a", seed=1, dwellings=2000, communes=3)
    GEN.generate("custom", tmp_path / "b", seed=2, dwellings=2000, communes=3)
    assert digest(tmp_path / "a")["patrimoine.csv"] != digest(tmp_path / "b")["patrimoine.csv"]


@pytest.mark.parametrize(
    "dwellings, communes, conventions, departements",
    [
        (3000, 6, 20, 2),
        (6000, 12, 40, 3),
        (1500, 5, 6, 2),
    ],
)
def test_custom_sizes(tmp_path, dwellings, communes, conventions, departements):
    GEN.generate(
        "custom",
        tmp_path,
        seed=3,
        dwellings=dwellings,
        communes=communes,
        conventions=conventions,
        departements=departements,
        actuals_until="2026-12-31",
    )
    f = check_folder(Folder(tmp_path))
    assert len(f.stock) == dwellings
    assert len(f.communes) == communes
    assert len({dep_of(c) for c in f.communes}) == departements
    assert len(f.toml["conventions"]) == conventions
    assert f.vac and f.des
    exp = f.expected_vacancies()
    assert 0.04 * dwellings <= exp <= 0.09 * dwellings


def test_custom_vacancy_target(tmp_path):
    GEN.generate(
        "custom", tmp_path, seed=5, dwellings=20000, communes=8, vacancies=1200, actuals_until="none"
    )
    f = check_folder(Folder(tmp_path))
    assert abs(f.expected_vacancies() - 1200) < 12
    assert not f.vac and not f.des and "vacancies" not in f.toml["files"]


def test_cli_runs(tmp_path):
    GEN.main(
        [
            "custom",
            "--out",
            str(tmp_path),
            "--seed",
            "4",
            "--dwellings",
            "1200",
            "--communes",
            "3",
            "--french-excel",
            "--actuals-until",
            "2026-05-31",
        ]
    )
    raw = (tmp_path / "patrimoine.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b";" in raw.split(b"\n", 1)[0]
    f = check_folder(Folder(tmp_path))
    assert all(parse_date(v["date_liberation"]) <= dt.date(2026, 5, 31) for v in f.vac)


def test_shipped_mini():
    f = check_folder(Folder(SCENARIOS / "mini"))
    assert len(f.stock) == 40 and f.communes == ["92046"]
    assert len({r["programme"] for r in f.stock}) == 3
    assert any(r["qpv"] == "oui" for r in f.stock)
    assert 3 <= len(f.toml["conventions"]) <= 4
    assert abs(f.expected_vacancies() - 10) < 1e-6
    assert Counter(v["exclusion"] for v in f.vac)["mutation_interne"] == 1
    assert Counter(r["statut"] for r in f.des)["carence"] == 1
    assert max(parse_date(v["date_liberation"]) for v in f.vac) <= dt.date(2026, 3, 31)


def test_shipped_cap_habitat():
    path = SCENARIOS / "cap-habitat"
    assert (path / "patrimoine.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    f = check_folder(Folder(path))
    assert 43000 <= len(f.stock) <= 47000
    assert {"92025", "92036", "94041", "92046", "92050"} <= set(f.communes)
    assert 10 <= len(f.communes) <= 14
    assert 2200 <= f.expected_vacancies() <= 2800
    assert 0.2 <= sum(r["qpv"] == "oui" for r in f.stock) / len(f.stock) <= 0.3
    assert {r.get("hors_flux") for r in f.stock} >= {"defense", "hopital"}
    assert any(parse_date(r.get("mise_en_service", "")) for r in f.stock)
    assert min(f.rot.values()) < 0.04 and max(f.rot.values()) > 0.12
    assert f.toml["legal"]["prefet_min_outside_qpv"] == 30.0
    ex = f.toml["forecast"]["exclusions"]
    assert 400 <= ex["mutation_interne"] <= 600
    assert all(parse_date(v["date_liberation"]) <= dt.date(2026, 6, 30) for v in f.vac)
    st = Counter(r["statut"] for r in f.des)
    assert {"bail_signe", "propose", "carence", "refuse", "repris"} <= set(st)
    assert 0.02 <= (st["carence"] + st["repris"]) / len(f.des) <= 0.09
    undesignated = sum(1 for v in f.vac if not v["exclusion"]) - len(f.des)
    assert 0 <= undesignated <= 0.05 * len(f.des)


def test_shipped_grand_bailleur():
    f = check_folder(Folder(SCENARIOS / "grand-bailleur"))
    assert len(f.stock) >= 60000
    assert len(f.communes) >= 40
    assert 2 <= len({dep_of(c) for c in f.communes}) <= 3
    assert f.vac and f.des
    assert all(parse_date(v["date_liberation"]) <= dt.date(2026, 3, 31) for v in f.vac)
    raw = (SCENARIOS / "grand-bailleur" / "patrimoine.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"," in raw.split(b"\n", 1)[0]
