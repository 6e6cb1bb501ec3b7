"""Independent checker of a written plan: recomputes everything from the OUTPUT FILES and the scenario.

It deliberately does not use `fluxopt.rows` nor the model: scopes, shares, dates, targets, deviations,
rounding floors and legal rules are recomputed here in plain Python from `plan.csv`, `objectifs.csv`,
`sequence.csv` and the scenario's configuration. The only fluxopt function it calls is the forecast
(`forecast_flux`, tested on its own in test_forecast.py) to know how many dwellings are expected per
segment and month. Other test suites (designate, simulate, fuzzing) reuse `check_plan_dir`.

    problems = check_plan_dir(out_dir, scenario)   # [] when the plan is right
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from fluxopt.domain import Scenario

TOL = 1e-4
BAILLEUR = "BAILLEUR"
SENSES = {"egal": "=", "au moins": ">=", "au plus": "<="}


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV written by fluxopt in either dialect (French Excel or plain)."""
    data = path.read_bytes()
    text = data.decode("utf-8-sig")
    delimiter = ";" if data.startswith(b"\xef\xbb\xbf") else ","
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))


def num(text: str) -> float:
    return float(text.replace(",", "."))


def dep_of(commune: str) -> str:
    return commune[:3] if commune.startswith("97") else commune[:2]


def active_fraction(conv: Any, year: int, month: int) -> float:
    days = calendar.monthrange(year, month)[1]
    first, last = dt.date(year, month, 1), dt.date(year, month, days)
    lo = max(first, conv.start) if conv.start else first
    hi = min(last, conv.end) if conv.end else last
    return max(0, (hi - lo).days + 1) / days


def in_scope(conv: Any, commune: str, programme: str) -> bool:
    scope = conv.scope
    if scope.kind == "departement":
        return dep_of(commune) == scope.departement
    if scope.kind == "communes":
        return commune in scope.communes
    return programme in scope.programmes


def floor_of(target: float, sense: str) -> float:
    if sense != "=":
        return 0.0
    frac = target - math.floor(target)
    return min(frac, 1 - frac)


def dev_of(count: float, target: float, sense: str) -> float:
    if sense == ">=":
        return max(0.0, target - count)
    if sense == "<=":
        return max(0.0, count - target)
    return abs(count - target)


def check_plan_dir(out_dir: str | Path, scenario: Scenario, *, as_of: dt.date | None = None) -> list[str]:
    """Every problem found in the plan written in `out_dir` (empty list: the plan is right)."""
    from fluxopt.forecast import forecast_flux

    out = Path(out_dir)
    problems: list[str] = []
    year = scenario.year
    convs = {c.id: c for c in scenario.conventions}
    kinds = {r.id: r.kind.value for r in scenario.reservataires}
    contingent = {c.id: scenario.contingent_of(c).value for c in scenario.conventions}
    legal = scenario.config.legal

    # expected dwellings per (segment, month) from the forecast
    fc = forecast_flux(scenario, as_of=as_of)
    expected: dict[tuple[str, ...], int] = {}
    for i in range(len(fc.cells)):
        label = fc.cells.label(i)
        for m in range(12):
            if fc.counts[i, m]:
                expected[(*label, f"{year}-{m + 1:02d}")] = int(fc.counts[i, m])

    plan = read_csv(out / "plan.csv")
    got: dict[tuple[str, ...], int] = defaultdict(int)
    # counts[(segment+month)][convention]
    by_unit: dict[tuple[str, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for line in plan:
        seg = (
            line["commune"], line["typologie"], line["qpv"], line["financement"],
            line["periode_construction"], line["programme"], line["mois"],
        )  # fmt: skip
        n = int(line["logements"])
        if n <= 0:
            problems.append(f"plan.csv : nombre non positif {seg} {line['convention']}")
        got[seg] += n
        by_unit[seg][line["convention"]] += n
        col = line["convention"]
        if col != BAILLEUR:
            conv = convs.get(col)
            if conv is None:
                problems.append(f"plan.csv : convention inconnue {col}")
                continue
            month = int(seg[6][-2:])
            if not in_scope(conv, seg[0], seg[5]):
                problems.append(f"plan.csv : {col} reçoit un logement hors de sa portée {seg}")
            if active_fraction(conv, year, month) <= 0:
                problems.append(f"plan.csv : {col} reçoit un logement hors de sa période {seg}")
            if line["reservataire"] != conv.reservataire:
                problems.append(f"plan.csv : réservataire erroné pour {col}")
    for seg, n in expected.items():
        if got.get(seg, 0) != n:
            problems.append(f"plan.csv : {seg} désigné {got.get(seg, 0)} fois au lieu de {n}")
    for seg in got:
        if seg not in expected:
            problems.append(f"plan.csv : segment non prévu {seg}")

    # shares per (unit, column) recomputed independently
    def shares(seg: tuple[str, ...]) -> dict[str, float]:
        month = int(seg[6][-2:])
        sh = {}
        for cid, conv in convs.items():
            if in_scope(conv, seg[0], seg[5]):
                frac = active_fraction(conv, year, month)
                if frac > 0:
                    sh[cid] = conv.share / 100 * frac
        sh[BAILLEUR] = max(0.0, 1 - sum(sh.values()))
        return sh

    unit_shares = {seg: shares(seg) for seg in expected}

    def row(cols: set[str], select: Any, rate: float | None = None) -> tuple[float, float, float]:
        """(base, target, count) over units `select` accepts, counting columns `cols`."""
        base = target = count = 0.0
        for seg, n in expected.items():
            sh = unit_shares[seg]
            if not any(sh.get(c, 0) > 0 for c in cols):
                continue
            if not select(seg):
                continue
            base += n
            target += n * (rate if rate is not None else sum(sh.get(c, 0) for c in cols))
            count += sum(by_unit[seg].get(c, 0) for c in cols)
        return base, target, count

    recomputed: dict[tuple[str, ...], tuple[float, float, float, str, bool]] = {}
    dim_index = {"commune": 0, "typologie": 1, "qpv": 2, "financement": 3, "periode_construction": 4}
    for cid, conv in sorted(convs.items()):
        recomputed[(cid, "total", "", "", "", "=")] = (*row({cid}, lambda s: True), "=", False)
        for dim in conv.balance:
            d = dim.value
            values = {seg[dim_index[d]] for seg in expected if unit_shares[seg].get(cid, 0) > 0}
            if d == "commune" and len(values) <= 1:
                continue
            for v in sorted(values):
                recomputed[(cid, "representativite", "", d, v, "=")] = (
                    *row({cid}, lambda s, d=d, v=v: s[dim_index[d]] == v), "=", False,
                )  # fmt: skip
        months = sorted({int(s[6][-2:]) for s in expected})
        eligible_months = sorted({int(s[6][-2:]) for s in expected if unit_shares[s].get(cid, 0) > 0})
        if eligible_months:
            for m in range(eligible_months[0], months[-1]):
                base, target, count = row({cid}, lambda s, m=m: int(s[6][-2:]) <= m)
                if base > 0:
                    recomputed[(cid, "rythme", "", "mois", f"{year}-{m:02d}", "=")] = (
                        base,
                        target,
                        count,
                        "=",
                        False,
                    )
        _, total_target, _ = row({cid}, lambda s: True)
        for w, wish in enumerate(conv.wishes):
            d = wish.dimension.value
            base, _, count = row({cid}, lambda s, d=d, vals=wish.values: s[dim_index[d]] in vals)
            for sense, pct in ((">=", wish.min_share), ("<=", wish.max_share)):
                if pct is None:
                    continue
                text = f"souhait {w + 1} : {'au moins' if sense == '>=' else 'au plus'} {pct:g} %"
                key = (cid, "souhait", text, d, "/".join(wish.values), sense)
                recomputed[key] = (base, pct / 100 * total_target, count, sense, False)
    base_all = sum(expected.values())
    landlord_target = sum(n * unit_shares[s][BAILLEUR] for s, n in expected.items())
    landlord_count = sum(by_unit[s].get(BAILLEUR, 0) for s in expected)
    recomputed[(BAILLEUR, "total", "", "", "", "=")] = (base_all, landlord_target, landlord_count, "=", False)
    # legal rows
    prefets = sorted({c.reservataire for c in convs.values() if kinds[c.reservataire] == "etat"})
    communes = sorted({s[0] for s in expected})
    deps = sorted({dep_of(c) for c in communes})
    for pref in prefets:
        pcols = {cid for cid, c in convs.items() if c.reservataire == pref}
        if legal.prefet_uniform_per_commune:
            for com in communes:
                base, target, count = row(pcols, lambda s, com=com: s[0] == com)
                if base > 0:
                    recomputed[(pref, "legal", "prefet_uniforme", "commune", com, "=")] = (
                        base,
                        target,
                        count,
                        "=",
                        True,
                    )
        if legal.prefet_min_outside_qpv is not None:
            rate = legal.prefet_min_outside_qpv / 100
            areas = communes if legal.prefet_uniform_per_commune else deps
            dim = "commune" if legal.prefet_uniform_per_commune else "departement"
            for area in areas:

                def sel(s: tuple[str, ...], area: str = area) -> bool:
                    where = s[0] if legal.prefet_uniform_per_commune else dep_of(s[0])
                    return where == area and s[2] == "hors QPV"

                base, target, count = row(pcols, sel, rate)
                if base > 0:
                    key = (pref, "legal", "prefet_hors_qpv", dim, f"{area} hors QPV", ">=")
                    recomputed[key] = (base, target, count, ">=", True)
        fcols = {cid for cid in pcols if contingent[cid] == "etat_fonctionnaires"}
        if fcols:
            for dep in deps:
                base, target, count = row(fcols, lambda s, dep=dep: dep_of(s[0]) == dep, 0.05)
                if base > 0:
                    recomputed[(pref, "legal", "fonctionnaires", "departement", dep, "<=")] = (
                        base,
                        target,
                        count,
                        "<=",
                        True,
                    )

    objectives = read_csv(out / "objectifs.csv")
    seen = set()
    for line in objectives:
        sense = SENSES.get(line["sens"], line["sens"])
        key = (line["convention"], line["type"], line["regle"], line["dimension"], line["valeur"], sense)
        seen.add(key)
        if key not in recomputed:
            problems.append(f"objectifs.csv : ligne inattendue {key}")
            continue
        base, target, count, _, hard = recomputed[key]
        reported = {k: num(line[k]) for k in ("base", "cible", "prevu", "ecart", "plancher_arrondi")}
        if abs(reported["base"] - base) > TOL:
            problems.append(f"objectifs.csv : base {reported['base']} ≠ {base} pour {key}")
        if abs(reported["cible"] - target) > TOL:
            problems.append(f"objectifs.csv : cible {reported['cible']} ≠ {target:.6f} pour {key}")
        if abs(reported["prevu"] - count) > TOL:
            problems.append(f"objectifs.csv : prévu {reported['prevu']} ≠ {count} pour {key}")
        if abs(reported["ecart"] - dev_of(count, target, sense)) > TOL:
            problems.append(
                f"objectifs.csv : écart {reported['ecart']} ≠ {dev_of(count, target, sense):.6f} pour {key}"
            )
        if abs(reported["plancher_arrondi"] - floor_of(target, sense)) > TOL:
            problems.append(f"objectifs.csv : plancher {reported['plancher_arrondi']} faux pour {key}")
        if hard:
            lo = math.floor(target + 1e-9) if sense != ">=" else math.ceil(target - 1e-9)
            hi = (
                math.ceil(target - 1e-9)
                if sense == "="
                else (math.floor(target + 1e-9) if sense == "<=" else 10**9)
            )
            if sense == "<=":
                lo = 0
            if not lo <= count <= hi:
                problems.append(f"règle légale non respectée {key} : {count} hors de [{lo}, {hi}]")
    for key in recomputed:
        if key not in seen:
            problems.append(f"objectifs.csv : ligne manquante {key}")

    # sequence: per commune and month, the same counts as the plan, ranks 1..n
    seq = read_csv(out / "sequence.csv")
    seq_counts: dict[tuple[str, str, str], int] = defaultdict(int)
    ranks: dict[str, list[int]] = defaultdict(list)
    for line in seq:
        seq_counts[(line["commune"], line["mois"], line["convention"])] += 1
        ranks[line["commune"]].append(int(line["rang"]))
    plan_counts: dict[tuple[str, str, str], int] = defaultdict(int)
    for seg, cols in by_unit.items():
        for col, n in cols.items():
            plan_counts[(seg[0], seg[6], col)] += n
    if dict(seq_counts) != {k: v for k, v in plan_counts.items() if v}:
        problems.append("sequence.csv : les effectifs par commune et par mois diffèrent du plan")
    for commune, rk in ranks.items():
        if rk != list(range(1, len(rk) + 1)):
            problems.append(f"sequence.csv : rangs non consécutifs pour {commune}")

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("commande") != "plan" or "statut" not in manifest:
        problems.append("manifest.json : commande ou statut absent")
    return problems


def assert_plan_ok(out_dir: str | Path, scenario: Scenario, **kwargs: Any) -> None:
    problems = check_plan_dir(out_dir, scenario, **kwargs)
    assert not problems, "\n".join(problems[:30])
