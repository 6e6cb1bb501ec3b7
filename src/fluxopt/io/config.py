"""`scenario.toml`: read with stdlib tomllib, validate with pydantic, report errors at TOML line numbers.

pydantic locates an error by a path such as `('conventions', 2, 'share')`; a small scanner of the TOML
text maps such paths back to the line where the key (or its table header) is written, so a message reads
`scenario.toml:57:conventions[3].share: …` and the user goes straight to the line.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fluxopt.domain.scenario import ScenarioConfig
from fluxopt.errors import InputError, Problem, ProblemList
from fluxopt.io.table import read_limited

#: scenario.toml is a small hand-written file; anything larger is a mistake (or a hostile "TOML bomb").
MAX_TOML_BYTES = 2 * 1024 * 1024

Path_ = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"^\s*((?:[A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*'))*)\s*="
)


def _split_key(text: str) -> list[str]:
    parts = re.findall(r"\"([^\"]*)\"|'([^']*)'|([A-Za-z0-9_\-]+)", text)
    return [a or b or c for a, b, c in parts]


def key_lines(text: str) -> dict[Path_, int]:
    """Map each key path written in the TOML text (tables, array-of-tables elements, keys) to its line."""
    lines: dict[Path_, int] = {}
    counters: dict[Path_, int] = {}
    current: Path_ = ()
    in_multiline: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if line.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        header = _HEADER.match(line)
        if header:
            names = _split_key(header.group(2))
            if header.group(1) == "[[":
                # element of an array of tables: index it under its parent element
                parent = _resolve(names[:-1], counters)
                base = (*parent, names[-1])
                index = counters.get(base, 0)
                counters[base] = index + 1
                current = (*base, index)
            else:
                current = (*_resolve(names[:-1], counters), names[-1])
            lines.setdefault(current, number)
            continue
        key = _KEY.match(line)
        if key:
            path = (*current, *_split_key(key.group(1)))
            lines.setdefault(path, number)
            rest = line[key.end() :]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    in_multiline = quote
    return lines


def _resolve(names: list[str], counters: dict[Path_, int]) -> Path_:
    """A dotted table name inside the last element of any array of tables it passes through."""
    path: Path_ = ()
    for name in names:
        path = (*path, name)
        if path in counters:
            path = (*path, counters[path] - 1)
    return path


def line_of(loc: Path_, lines: dict[Path_, int]) -> int | None:
    """Line of the longest prefix of `loc` written in the file."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def render_loc(loc: Path_) -> str:
    """`('conventions', 2, 'share')` → `conventions[3].share` (1-based, as people count)."""
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for a bad dict key: the key itself is already in the path
            continue
        if isinstance(part, int):
            out += f"[{part + 1}]"
        else:
            out += ("." if out else "") + str(part)
    return out


_FRENCH: dict[str, str] = {
    "missing": "champ obligatoire manquant",
    "extra_forbidden": "clé inconnue (faute de frappe ?)",
    "string_type": "texte attendu",
    "int_type": "nombre entier attendu",
    "int_parsing": "nombre entier attendu",
    "int_from_float": "nombre entier attendu",
    "float_type": "nombre attendu",
    "float_parsing": "nombre attendu",
    "bool_type": "booléen attendu (true ou false)",
    "bool_parsing": "booléen attendu (true ou false)",
    "date_type": "date attendue (aaaa-mm-jj, sans guillemets)",
    "date_parsing": "date attendue (aaaa-mm-jj)",
    "date_from_datetime_parsing": "date attendue (aaaa-mm-jj)",
    "date_from_datetime_inexact": "date sans heure attendue (aaaa-mm-jj)",
    "tuple_type": 'liste attendue, par exemple ["a", "b"]',
    "list_type": 'liste attendue, par exemple ["a", "b"]',
    "model_type": "table attendue",
    "model_attributes_type": "table attendue",
    "dict_type": "table attendue",
    "finite_number": "nombre fini attendu",
}


def french_message(error: Any) -> str:
    """French text for one pydantic error item (shared by every TOML reader: scenario, model, sweep)."""
    kind = error.get("type", "")
    loc = error.get("loc", ())
    ctx = error.get("ctx") or {}
    if kind == "value_error":
        message = str(ctx.get("error", error.get("msg", "")))
        return message.removeprefix("Value error, ")
    if kind in ("enum", "literal_error"):
        return f"valeur inconnue : {ctx.get('expected', '')} attendu".replace(" or ", " ou ")
    if kind == "string_pattern_mismatch" and loc and loc[-1] == "departement":
        return 'code de département attendu : 2 chiffres, 2A, 2B ou 97x (par exemple "92")'
    if kind == "string_pattern_mismatch":
        return "identifiant invalide (lettres sans accent, chiffres, « _ », « - » ou « . », sans espace)"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {"greater_than_equal": "≥", "greater_than": ">", "less_than_equal": "≤", "less_than": "<"}[
            kind
        ]
        bound = next(iter(ctx.values()), "")
        return f"valeur hors limites : doit être {sign} {bound}"
    if kind in ("too_short", "string_too_short"):
        return "valeur vide ou liste trop courte"
    if kind in ("too_long", "string_too_long"):
        return "valeur ou liste trop longue"
    return _FRENCH.get(kind, str(error.get("msg", "valeur invalide")))


def shown_value(value: object) -> str | None:
    if isinstance(value, dict | list | tuple):
        return None
    return str(value)


def parse_toml(path: Path, display: str) -> tuple[dict[str, Any], str]:
    """Parsed TOML and its text; syntax errors, encodings and bombs become an `InputError`."""
    problems = ProblemList()
    data = read_limited(path, display, MAX_TOML_BYTES, problems)
    problems.raise_if_any("Fichier de scénario illisible.")
    assert data is not None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _single(
            display,
            None,
            f"encodage invalide : {display} doit être enregistré en UTF-8 (octet {error.start})",
        ) from error
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        match = re.search(r"\(at line (\d+), column (\d+)\)", message)
        line = int(match.group(1)) if match else None
        detail = re.sub(r"\s*\(at .*\)$", "", message)
        raise _single(display, line, f"syntaxe TOML invalide : {_toml_french(detail)}") from error
    except RecursionError as error:
        raise _single(display, None, "structure TOML trop profondément imbriquée") from error
    except MemoryError as error:  # pragma: no cover - guarded by the size limit
        raise _single(display, None, "fichier TOML trop gros") from error
    return parsed, text


def _toml_french(detail: str) -> str:
    table = {
        "Invalid value": "valeur invalide (texte sans guillemets ?)",
        "Expected '=' after a key in a key/value pair": "« = » attendu après la clé",
        "Cannot declare": "table ou clé déclarée deux fois",
        "Cannot overwrite a value": "clé définie deux fois",
        "Unclosed array": "liste non fermée (« ] » manquant)",
        "Unterminated string": "texte non fermé (guillemet manquant)",
        "Illegal character": "caractère interdit",
        "Invalid statement": "instruction invalide",
        "Expected newline or end of document after a statement": "fin de ligne attendue après la valeur",
    }
    for english, french in table.items():
        if detail.startswith(english):
            return f"{french} ({detail})"
    return detail


def _single(display: str, line: int | None, message: str) -> InputError:
    problems = ProblemList()
    problems.add(display, line, None, message)
    return InputError("Fichier de scénario invalide.", problems.problems)


def load_config(path: Path, display: str = "scenario.toml") -> ScenarioConfig:
    """Read and validate `scenario.toml`; every schema error is reported with its line."""
    parsed, text = parse_toml(path, display)
    try:
        return ScenarioConfig.model_validate(parsed)
    except ValidationError as error:
        lines = key_lines(text)
        problems = ProblemList()
        for item in error.errors(include_url=False):
            loc = tuple(p for p in item.get("loc", ()) if isinstance(p, str | int))
            problems.add(
                display,
                line_of(loc, lines),
                render_loc(loc) or None,
                french_message(item),
                shown_value(item.get("input")) if item.get("type") != "missing" else None,
            )
        raise InputError("Fichier de scénario invalide.", problems.problems) from None
    except RecursionError:
        raise _single(display, None, "structure TOML trop profondément imbriquée") from None


def config_schema() -> dict[str, Any]:
    """JSON Schema of `scenario.toml` (what `fluxopt schema` prints), with a title editors show."""
    schema = ScenarioConfig.model_json_schema()
    schema["title"] = "Scénario fluxopt (scenario.toml)"
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def model_file_problems(path: Path) -> tuple[Any, list[Problem]]:
    """Read a model file (`models/*.toml`) with the scenario's TOML guards and check it against `ModelSpec`.

    Returns the spec (None when invalid) and the problems, located at their lines, in French. Both
    `fluxopt validate` and the planner read model files through here, so they can never disagree.
    """
    from fluxopt.domain.model_spec import ModelSpec

    display = path.name
    try:
        raw, text = parse_toml(path, display)
    except InputError as error:
        return None, list(error.problems)
    prefix: tuple[str | int, ...] = ()
    if isinstance(raw.get("model"), dict) and len(raw) == 1:
        raw, prefix = raw["model"], ("model",)  # the shipped files put everything under [model]
    try:
        return ModelSpec.model_validate(raw), []
    except ValidationError as error:
        lines = key_lines(text)
        out: list[Problem] = []
        for item in error.errors(include_url=False):
            loc = (*prefix, *(p for p in item.get("loc", ()) if isinstance(p, str | int)))
            out.append(
                Problem(
                    display,
                    line_of(loc, lines),
                    render_loc(loc) or None,
                    f"modèle d'optimisation : {french_message(item)}",
                    shown_value(item.get("input")) if item.get("type") != "missing" else None,
                )
            )
        return None, out
    except RecursionError:
        return None, [Problem(display, None, None, "structure TOML trop profondément imbriquée")]
