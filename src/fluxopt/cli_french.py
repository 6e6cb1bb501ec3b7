"""Click's own messages in French: usage errors and help headings (*messages de click en français*).

Why: fluxopt's users read French, and a mistyped option ("No such option '--as-off'") is the first error
most of them meet. Click marks its messages for gettext (each of its modules does `from gettext import
gettext as _`) but ships no French catalogue; `install()` points those module-level names at the small
catalogue below. An English message this catalogue does not know (a click release that rewords one)
stays in English: it never fails. `tests/test_cli_french.py` checks the usual mistakes end to end.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: click's msgid → French; the placeholders ({name!r}, {message}…) are click's and are kept
MESSAGES: dict[str, str] = {
    "Error: {message}": "Erreur : {message}",
    "Usage:": "Utilisation :",
    "Try '{command} {option}' for help.": "Aide : « {command} {option} ».",
    "Options": "Options",
    "Commands": "Commandes",
    "Positional arguments": "Arguments",
    "Show this message and exit.": "Affiche cette aide et quitte.",
    "Show the version and exit.": "Affiche la version et quitte.",
    "required": "obligatoire",
    "default: {default}": "défaut : {default}",
    "env var: {var}": "variable d'environnement : {var}",
    "(dynamic)": "(calculé)",
    "deprecated": "obsolète",
    "Aborted!": "Abandon.",
    "Missing command.": "Commande manquante.",
    "Missing argument": "Argument manquant",
    "Missing option": "Option obligatoire manquante",
    "Missing parameter": "Paramètre manquant",
    "Missing {param_type}": "{param_type} manquant",
    "Missing parameter: {param_name}": "Paramètre manquant : {param_name}",
    "No such option {name!r}.": "Option inconnue : {name!r}.",
    "No such command {name!r}.": "Commande inconnue : {name!r}.",
    "Invalid value for {param_hint}: {message}": "Valeur invalide pour {param_hint} : {message}",
    "Invalid value: {message}": "Valeur invalide : {message}",
    "Option {name!r} does not take a value.": "L'option {name!r} ne prend pas de valeur.",
    "Argument {name!r} takes {nargs} values.": "L'argument {name!r} prend {nargs} valeurs.",
    "{value!r} is not a valid {number_type}.": "{value!r} n'est pas un nombre {number_type} valide.",
    "{value} is not in the range {range}.": "{value} est hors de l'intervalle permis ({range}).",
    "{value!r} is not a valid boolean. Recognized values: {states}": (
        "{value!r} n'est pas un booléen valide. Valeurs reconnues : {states}"
    ),
    "{name} {filename!r} does not exist.": "{name} {filename!r} introuvable.",
    "{name} {filename!r} is a file.": "{name} {filename!r} est un fichier, un dossier est attendu.",
    "{name} {filename!r} is a directory.": "{name} {filename!r} est un dossier, un fichier est attendu.",
    "{name} {filename!r} is not readable.": "{name} {filename!r} n'est pas lisible.",
    "{name} {filename!r} is not writable.": "{name} {filename!r} n'est pas accessible en écriture.",
    "{name} {filename!r} is not executable.": "{name} {filename!r} n'est pas exécutable.",
    "Could not open file {filename!r}: {message}": "Impossible d'ouvrir le fichier {filename!r} : {message}",
    "file": "Fichier",
    "directory": "Dossier",
    "path": "Chemin",
    "Choose from:\n\t{choices}": "Choisir parmi :\n\t{choices}",
}

#: click's (singular, plural) msgids → French (singular, plural)
PLURALS: dict[tuple[str, str], tuple[str, str]] = {
    ("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})"): (
        "Argument en trop : {args}",
        "Arguments en trop : {args}",
    ),
    ("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)"): (
        "Vouliez-vous dire {possibility} ?",
        "(Vouliez-vous dire l'un de : {possibilities} ?)",
    ),
    ("{value!r} is not {choice}.", "{value!r} is not one of {choices}."): (
        "{value!r} n'est pas {choice}.",
        "{value!r} n'est pas l'un de {choices}.",
    ),
    ("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments."): (
        "L'option {name!r} attend une valeur.",
        "L'option {name!r} attend {nargs} valeurs.",
    ),
    ("Takes {nargs} values but 1 was given.", "Takes {nargs} values but {len} were given."): (
        "Attend {nargs} valeurs, 1 donnée.",
        "Attend {nargs} valeurs, {len} données.",
    ),
}

#: click's modules whose messages a fluxopt user can meet
CLICK_MODULES = (
    "click.core",
    "click.decorators",
    "click.exceptions",
    "click.formatting",
    "click.parser",
    "click.types",
    "click.termui",
)


#: click's value types by their French name: it names the value in help (`--runs ENTIER`) and ends the
#: number message above ("n'est pas un nombre entier valide")
TYPE_NAMES = {
    "StringParamType": "texte",
    "IntParamType": "entier",
    "IntRange": "entier",
    "FloatParamType": "décimal",
    "FloatRange": "décimal",
}


def gettext(message: str) -> str:
    """French for a click msgid; the English itself when the catalogue does not know it."""
    return MESSAGES.get(message, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """French for a click plural msgid pair (French uses the singular for 0 and 1)."""
    french = PLURALS.get((singular, plural))
    if french is None:
        return singular if n == 1 else plural
    return french[0] if n <= 1 else french[1]


def install() -> None:
    """Make click speak French (idempotent). Only the names click imported from gettext are replaced."""
    for name in CLICK_MODULES:
        try:
            module: ModuleType = importlib.import_module(name)
        except ImportError:  # a click release without this module: nothing to translate there
            continue
        if hasattr(module, "_"):
            module._ = gettext  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = ngettext  # type: ignore[attr-defined]
    types = importlib.import_module("click.types")
    for class_name, french in TYPE_NAMES.items():
        cls = getattr(types, class_name, None)
        if isinstance(cls, type):
            cls.name = french  # type: ignore[attr-defined]
