"""Fuzzing with hypothesis: only fluxopt's own errors come out, and every valid scenario gets a correct plan.

1. Mutated input files (bit flips, cuts, inserted separators/quotes/NUL/BOM, random bytes) of every kind,
   fed to every command: exit code 0 or 1 only (never 70, never a traceback); a failure writes nothing.
2. Arbitrary but well-typed small scenarios written as files: 5-60 dwellings in 1-3 communes, 1-5 conventions
   with random shares, scopes and dates that respect or break the legal ceilings, optional actuals. Invalid
   ones are refused with exit 1 and a located message; valid ones are planned, and the plan passes the
   independent checker (tests/checker.py: every expected dwelling designated once, scopes, dates, targets,
   legal rules); the same scenario with its rows shuffled gives the same plan; compare, bilan and designate
   run on it without an internal error.

CI budget: `FLUXOPT_FUZZ_EXAMPLES` examples per test (25 by default, derandomized so CI is stable);
`bench/fuzz.py` runs the long profile with fresh random examples.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from relsupport import (
    BASE,
    SCENARIO_COMMANDS,
    Workspace,
    build_template,
    copy_workspace,
    run_cli,
)

from checker import check_plan_dir
from fluxopt.io.scenario import load_scenario

EXAMPLES = int(os.environ.get("FLUXOPT_FUZZ_EXAMPLES", "25"))
LONG = "FLUXOPT_FUZZ_EXAMPLES" in os.environ
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ------------------------------------------------------------------------------- 1. mutated files, every command

_TEMPLATE: list[Workspace] = []


def _template() -> Workspace:
    if not _TEMPLATE:
        _TEMPLATE.append(build_template(Path(tempfile.mkdtemp(prefix="fluxopt-fuzz-")) / "modele"))
    return _TEMPLATE[0]


FILES = [
    "scenario.toml",
    "patrimoine.csv",
    "vacances.csv",
    "designations.csv",
    "modele.toml",
    "reservations.csv",
]
INSERTS = [
    b",",
    b";",
    b'"',
    b"\n",
    b"\r",
    b"\x00",
    b"\xef\xbb\xbf",
    b"\xff",
    b"=",
    b"[",
    b"]",
    b"'",
    b"\t",
    b"9",
]


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, list[tuple[str, int, bytes]]]:
    name = draw(st.sampled_from(FILES))
    steps = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["flip", "cut", "insert", "delete", "replace"]),
                st.integers(min_value=0, max_value=10_000),
                st.one_of(st.sampled_from(INSERTS), st.binary(min_size=1, max_size=12)),
            ),
            min_size=1,
            max_size=6,
        )
    )
    return name, steps


def _mutate(data: bytes, steps: list[tuple[str, int, bytes]]) -> bytes:
    out = bytearray(data)
    for kind, where, chunk in steps:
        at = where % (len(out) + 1)
        if kind == "flip" and out:
            out[at % len(out)] ^= 1 << (where % 8)
        elif kind == "cut":
            del out[at:]
        elif kind == "insert":
            out[at:at] = chunk
        elif kind == "delete":
            del out[at : at + len(chunk)]
        else:
            out[at : at + len(chunk)] = chunk
    return bytes(out)


def _check_outcome(ws: Workspace, command: str, before: dict[str, str]) -> int:
    outcome = ws.run(command)
    assert outcome.code in (0, 1), (
        f"fluxopt {command} : code {outcome.code}\n{outcome.err}\n{outcome.exception!r}"
    )
    assert outcome.exception is None and "Traceback" not in outcome.text
    assert "Erreur interne" not in outcome.err
    if outcome.code == 1:
        assert any(line.startswith("Erreur : ") for line in outcome.err.splitlines()), outcome.err
        assert ws.digest() == before, f"fluxopt {command} a échoué mais a écrit des fichiers"
    return outcome.code


@FUZZ
@given(mutation=mutations(), command=st.sampled_from(SCENARIO_COMMANDS))
def test_mutated_inputs_give_only_fluxopts_errors(
    mutation: tuple[str, list[tuple[str, int, bytes]]], command: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ws = copy_workspace(_template(), Path(tmp) / "ws")
        name, steps = mutation
        path = ws.scenario / name
        path.write_bytes(_mutate(path.read_bytes(), steps))
        _check_outcome(ws, command, ws.digest())


@FUZZ
@given(data=st.binary(max_size=3000), name=st.sampled_from(FILES), command=st.sampled_from(SCENARIO_COMMANDS))
def test_random_bytes_as_any_input(data: bytes, name: str, command: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ws = copy_workspace(_template(), Path(tmp) / "ws")
        (ws.scenario / name).write_bytes(data)
        _check_outcome(ws, command, ws.digest())


# ----------------------------------------------------------------------------- 2. arbitrary small scenarios

COMMUNES = ["92046", "92025", "93066", "2A004"]
TYPOLOGIES = ["T1", "T2", "T3", "T4", "T5+"]
FINANCINGS = ["PLAI", "PLUS", "PLS", "PLI"]
DIMENSIONS = ["typologie", "financement", "qpv", "commune", "periode_construction"]
RESERVATAIRES = [
    ("ETAT", "Préfet", "etat"),
    ("AL", "Action Logement Services", "action_logement"),
    ("VILLE", "Ville", "collectivite"),
    ("EMP", "Employeur", "employeur"),
]


@dataclass
class Spec:
    """A small scenario as plain values, written to files by `write`."""

    communes: list[str]
    programmes: dict[str, tuple[str, bool, str, int]]  # code → commune, qpv, financing, year
    dwellings: list[tuple[str, str, str, str]]  # id, programme, typology, hors_flux
    turnover: float
    conventions: list[dict[str, Any]]
    legal: dict[str, Any]
    vacancies: list[tuple[str, dt.date, str]] = field(default_factory=list)
    designations: list[tuple[str, dt.date, str]] = field(default_factory=list)
    model: str = "minimum-legal"


def _dep(commune: str) -> str:
    return commune[:2]


@st.composite
def scenarios(draw: st.DrawFn) -> Spec:
    communes = draw(st.lists(st.sampled_from(COMMUNES), min_size=1, max_size=3, unique=True))
    programmes: dict[str, tuple[str, bool, str, int]] = {}
    for i in range(draw(st.integers(1, 6))):
        programmes[f"P{i + 1}"] = (
            communes[i % len(communes)],
            draw(st.booleans()),
            draw(st.sampled_from(FINANCINGS)),
            draw(st.integers(1930, 2024)),
        )
    n = draw(st.integers(5, 60))
    codes = sorted(programmes)
    dwellings = []
    for k in range(n):
        out_of_flux = draw(st.sampled_from(["", "", "", "", "", "", "", "", "", "defense"]))
        dwellings.append(
            (f"L{k + 1:03d}", draw(st.sampled_from(codes)), draw(st.sampled_from(TYPOLOGIES)), out_of_flux)
        )
    # enough turnover that a forecast is never empty (an empty forecast is its own test below)
    turnover = draw(st.floats(0.3, 0.9))
    deps = sorted({_dep(c) for c in communes})
    conventions: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 5))):
        rid, _, kind = draw(st.sampled_from(RESERVATAIRES))
        contingent = {
            "etat": draw(st.sampled_from(["etat_prioritaires", "etat_prioritaires", "etat_fonctionnaires"])),
            "action_logement": "employeurs_action_logement",
            "collectivite": "collectivites",
            "employeur": "employeurs_action_logement",
        }[kind]
        scope_kind = draw(st.sampled_from(["departement", "communes", "programmes"]))
        if scope_kind == "departement":
            scope = {"kind": "departement", "departement": draw(st.sampled_from(deps))}
        elif scope_kind == "communes":
            scope = {
                "kind": "communes",
                "communes": draw(st.lists(st.sampled_from(communes), min_size=1, unique=True)),
            }
        else:
            scope = {
                "kind": "programmes",
                "programmes": draw(st.lists(st.sampled_from(codes), min_size=1, unique=True)),
            }
        convention: dict[str, Any] = {
            "id": f"C{i + 1}-{rid}",
            "reservataire": rid,
            "share": draw(st.sampled_from([0.5, 1, 2.5, 5, 7.5, 10, 12, 15, 20, 25, 28, 30, 33, 40])),
            "contingent": contingent,
            "scope": scope,
            "counts_no_candidate": draw(st.booleans()),
            "balance": draw(st.lists(st.sampled_from(DIMENSIONS), max_size=2, unique=True)),
        }
        if draw(st.integers(0, 3)) == 0:
            convention["start"] = dt.date(2026, draw(st.integers(1, 6)), 1)
        if draw(st.integers(0, 3)) == 0:
            convention["end"] = dt.date(2026, draw(st.integers(7, 12)), 28)
        conventions.append(convention)
    legal = {
        "prefet_uniform_per_commune": draw(st.booleans()),
        "prefet_min_outside_qpv": draw(st.sampled_from([None, 30.0, 25.0])),
    }
    in_flux = [d for d in dwellings if not d[3]]
    vacancies: list[tuple[str, dt.date, str]] = []
    designations: list[tuple[str, dt.date, str]] = []
    chosen = (
        draw(st.lists(st.sampled_from([d[0] for d in in_flux]), max_size=4, unique=True)) if in_flux else []
    )
    for j, dwelling in enumerate(chosen):
        day = dt.date(2026, 1 + j, 5)
        exclusion = draw(st.sampled_from(["", "", "", "mutation_interne"]))
        vacancies.append((dwelling, day, exclusion))
        if not exclusion and draw(st.booleans()):
            designations.append(
                (dwelling, day + dt.timedelta(days=3), draw(st.sampled_from(["propose", "carence"])))
            )
    model = draw(st.sampled_from(["minimum-legal", "minimum-legal", "equilibre"]))
    return Spec(communes, programmes, dwellings, turnover, conventions, legal, vacancies, designations, model)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return repr(value)


def write(spec: Spec, folder: Path, *, shuffle: int | None = None) -> Path:
    folder.mkdir(parents=True)
    rng = random.Random(shuffle)

    def rows(header: list[str], body: list[list[str]]) -> str:
        order = list(range(len(header)))
        if shuffle is not None:
            rng.shuffle(order)
            body = body[:]
            rng.shuffle(body)
        lines = [",".join(header[i] for i in order)] + [",".join(r[i] for i in order) for r in body]
        return "\n".join(lines) + "\n"

    stock = [
        [d, p, spec.programmes[p][0], "oui" if spec.programmes[p][1] else "non", t, spec.programmes[p][2],
         str(spec.programmes[p][3]), h]
        for d, p, t, h in spec.dwellings
    ]  # fmt: skip
    header = [
        "logement",
        "programme",
        "commune",
        "qpv",
        "typologie",
        "financement",
        "annee_construction",
        "hors_flux",
    ]
    (folder / "patrimoine.csv").write_text(rows(header, stock), encoding="utf-8")
    (folder / "vacances.csv").write_text(
        rows(
            ["logement", "date_liberation", "exclusion"],
            [[d, day.isoformat(), e] for d, day, e in spec.vacancies],
        ),
        encoding="utf-8",
    )
    (folder / "designations.csv").write_text(
        rows(
            ["logement", "date", "convention", "statut"],
            [[d, day.isoformat(), "BAILLEUR", s] for d, day, s in spec.designations],
        ),
        encoding="utf-8",
    )
    used = sorted({c["reservataire"] for c in spec.conventions})
    toml = [
        "[scenario]", 'name = "Scénario tiré au hasard"', "year = 2026", 'bailleur = "Office"',
        f'model = "{spec.model}"', "", "[files]", 'stock = "patrimoine.csv"', 'vacancies = "vacances.csv"',
        'designations = "designations.csv"', "", "[forecast]", f"turnover_rate = {spec.turnover!r}", "", "[legal]",
        f"prefet_uniform_per_commune = {_toml_value(spec.legal['prefet_uniform_per_commune'])}",
    ]  # fmt: skip
    if spec.legal["prefet_min_outside_qpv"] is not None:
        toml.append(f"prefet_min_outside_qpv = {spec.legal['prefet_min_outside_qpv']!r}")
    for rid, name, kind in RESERVATAIRES:
        if rid in used:
            toml += ["", "[[reservataires]]", f'id = "{rid}"', f'name = "{name}"', f'kind = "{kind}"']
    for convention in spec.conventions:
        toml += ["", "[[conventions]]"] + [f"{k} = {_toml_value(v)}" for k, v in convention.items()]
    (folder / "scenario.toml").write_text("\n".join(toml) + "\n", encoding="utf-8")
    return folder


def _plan_files(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in ("plan.csv", "objectifs.csv", "sequence.csv")}


@FUZZ
@given(spec=scenarios(), shuffle=st.integers(0, 10**6))
def test_arbitrary_scenarios_are_refused_cleanly_or_planned_correctly(spec: Spec, shuffle: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = write(spec, root / "scenario")
        checked = run_cli(["validate", folder], cwd=root)
        assert checked.code in (0, 1) and checked.exception is None, checked.err
        if checked.code == 1:
            lines = checked.err.splitlines()
            first = next(i for i, line in enumerate(lines) if line.startswith("Erreur : "))
            assert "Traceback" not in checked.err
            assert ":" in lines[first + 1], checked.err  # file:line:field of the first problem
            planned = run_cli(["plan", folder, "-o", root / "plan"], cwd=root)
            assert planned.code == 1 and not (root / "plan").exists()
            return
        planned = run_cli(["plan", folder, "-o", root / "plan"], cwd=root)
        assert planned.code in (0, 1, 3) and planned.exception is None, planned.err
        assert "Erreur interne" not in planned.err
        if planned.code != 0:  # objectives impossible (a legal floor no convention can reach): said in French
            assert "Erreur : " in planned.err and not (root / "plan").exists()
            return
        scenario = load_scenario(folder, warn=lambda _: None)
        problems = check_plan_dir(root / "plan", scenario)
        assert problems == [], "\n".join(problems[:20])
        # the same facts with rows and columns in another order: the same plan
        other = write(spec, root / "melange", shuffle=shuffle)
        again = run_cli(["plan", other, "-o", root / "plan-melange"], cwd=root)
        assert again.code == 0, again.err
        assert _plan_files(root / "plan-melange") == _plan_files(root / "plan")
        for args in (
            ["compare", folder, "--plan", root / "plan", "--format", "json"],
            ["bilan", folder, "--year", "2026"],
            ["designate", folder, "--as-of", "30/06/2026", "-o", root / "designations"],
        ):
            outcome = run_cli(args, cwd=root)
            assert outcome.code in (0, 1) and outcome.exception is None, f"{args[0]} : {outcome.err}"
            assert "Erreur interne" not in outcome.err and "Traceback" not in outcome.text


def test_plan_of_an_empty_forecast(tmp_path: Path) -> None:
    """5 dwellings in the flux at 6 % turnover: no vacancy expected. An empty plan is written (it crashed)."""
    folder = tmp_path / "scenario"
    shutil.copytree(BASE, folder)
    outcome = run_cli(["plan", folder, "-o", tmp_path / "plan"], cwd=tmp_path)
    assert outcome.code == 0 and outcome.exception is None, outcome.err
    assert "0 logements prévus" in outcome.err
    assert check_plan_dir(tmp_path / "plan", load_scenario(folder, warn=lambda _: None)) == []


# ------------------------------------------------------------------ 3. the scenario model, value by value

_TOML_LEAF = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.booleans(),
    st.dates(),
    st.sampled_from(["30 %", "30,5", "0.3", "", "nan", "inf", "-0", "1e400", "T3", "92046", "2A", "97"]),
)
#: the values that break numeric code: TOML has nan and inf, and Excel users type text where numbers go
_SPECIAL = st.sampled_from(
    [float("nan"), float("inf"), float("-inf"), -1, 0, -0.0, 1e308, 2**63 - 1, "", "nan", "30 %", None]
).filter(lambda v: v is not None)
_TOML_VALUE = st.one_of(
    _SPECIAL,
    _TOML_LEAF,
    st.recursive(
        _TOML_LEAF,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=8,
    ),
)


MINI_TOML = BASE.parents[2] / "scenarios" / "mini" / "scenario.toml"


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path of a parsed TOML document (tables, arrays and leaves)."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*prefix, index))
    return out


def _get(document: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        document = document[key]
    return document


def _replace(document: Any, path: tuple[Any, ...], new: Any) -> None:
    for key in path[:-1]:
        document = document[key]
    document[path[-1]] = new


def _floats(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [f for item in value.values() for f in _floats(item)]
    if isinstance(value, list | tuple):
        return [f for item in value for f in _floats(item)]
    return []


@settings(FUZZ, max_examples=EXAMPLES * 6)  # in-process and fast: six times the budget of the CLI fuzzers
@given(data=st.data())
def test_scenario_model_refuses_cleanly_and_keeps_numbers_finite(data: st.DataObject) -> None:
    """Any value of any TOML type at any key of a valid scenario.toml: a pydantic error rendered in French
    (never another exception), or a configuration whose every number is finite."""
    import copy
    import math
    import tomllib

    from pydantic import ValidationError

    from fluxopt.domain import ScenarioConfig
    from fluxopt.io.config import french_message, render_loc, shown_value

    base = tomllib.loads((MINI_TOML).read_text(encoding="utf-8"))  # every section, seasonality, exclusions…
    document = copy.deepcopy(base)
    paths = _paths(document)
    numbers = [
        p
        for p in paths
        if isinstance(_get(document, p), int | float) and not isinstance(_get(document, p), bool)
    ]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(numbers) if data.draw(st.booleans()) else st.sampled_from(paths))
        try:
            _replace(document, path, data.draw(_TOML_VALUE))
        except (KeyError, IndexError, TypeError):  # an earlier replacement removed that path
            continue
    try:
        config = ScenarioConfig.model_validate(document)
    except ValidationError as error:
        for item in error.errors(include_url=False):
            loc = tuple(p for p in item.get("loc", ()) if isinstance(p, str | int))
            assert french_message(item)
            render_loc(loc)
            shown_value(item.get("input"))
        return
    assert all(math.isfinite(x) for x in _floats(config.model_dump())), config.model_dump()
