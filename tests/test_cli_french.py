"""Command-line misuse is explained in French (users read French), with exit code 2 and no traceback.

Click's own messages (unknown option, missing argument, bad number…) go through `fluxopt.cli_french`'s
catalogue; these tests run the usual mistakes end to end and check that no English is left.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from fluxopt.cli import cli
from fluxopt.cli_french import MESSAGES, PLURALS, gettext, ngettext

ROOT = Path(__file__).resolve().parents[1]
CAP = str(ROOT / "scenarios" / "cap-habitat")

#: English that must never reach a user of fluxopt's command line
ENGLISH = ("Error:", "Usage:", "Try '", "No such", "Invalid value", "Missing", "is not", "requires", "Got ")

MISUSES = [
    (["designat"], ["Commande inconnue : 'designat'.", "Vouliez-vous dire 'designate' ?"]),
    (["designate", CAP, "--as-of", "2026-06-30", "--bogus"], ["Option inconnue : '--bogus'."]),
    (["designate", CAP], ["Option obligatoire manquante '--as-of'."]),
    (["designate"], ["Argument manquant 'SCENARIO'."]),
    (["designate", CAP, "--as-of"], ["L'option '--as-of' attend une valeur."]),
    (["designate", CAP, "--as-of", "30/02/2026"], ["Valeur invalide pour '--as-of' : date impossible"]),
    (["designate", CAP, "extra", "--as-of", "2026-06-30"], ["Argument en trop : extra"]),
    (
        ["designate", CAP, "--as-of", "2026-06-30", "--csv", "xls"],
        ["Valeur invalide pour '--csv' : 'xls' n'est pas l'un de 'fr', 'plain'."],
    ),
    (
        ["designate", CAP, "--as-of", "2026-06-30", "--time-limit", "vite"],
        ["'vite' n'est pas un nombre décimal valide."],
    ),
    (["simulate", CAP, "--runs", "2.5"], ["'2.5' n'est pas un nombre entier valide."]),
    (["simulate", CAP, "--runs", "0"], ["0 est hors de l'intervalle permis (x>=1)."]),
    (["plan", CAP, "--seed", "-1"], ["Valeur invalide pour '--seed'"]),
]


@pytest.mark.parametrize("args,fragments", MISUSES, ids=[" ".join(a[:1] + a[2:]) for a, _ in MISUSES])
def test_misuse_is_explained_in_french(args: list[str], fragments: list[str]) -> None:
    result = CliRunner().invoke(cli, args, prog_name="fluxopt")
    assert result.exit_code == 2, result.output
    err = result.stderr
    assert "Traceback" not in err
    assert "Erreur : " in err
    for fragment in fragments:
        assert fragment in err
    for english in ENGLISH:
        assert english not in err, (english, err)


def test_usage_line_and_help_hint_are_french() -> None:
    err = CliRunner().invoke(cli, ["designate"], prog_name="fluxopt").stderr
    assert err.startswith("Utilisation : fluxopt designate [OPTIONS] SCENARIO\n")
    assert "Aide : « fluxopt designate --help »." in err


def test_help_headings_and_value_names_are_french() -> None:
    out = CliRunner().invoke(cli, ["simulate", "--help"], prog_name="fluxopt").stdout
    assert out.startswith("Utilisation : fluxopt simulate")
    assert "--runs ENTIER" in out and "--turnover-factor DÉCIMAL" in out and "--model TEXTE" in out
    assert "[défaut : table]" in out
    assert "Affiche cette aide et quitte." in out
    assert "Show this message" not in out and "default:" not in out
    top = CliRunner().invoke(cli, ["--help"], prog_name="fluxopt").stdout
    assert "Commandes:" in top and "Affiche la version et quitte." in top


def test_the_installed_command_speaks_french_too() -> None:
    """The console entry point (not only CliRunner) installs the catalogue before parsing."""
    done = subprocess.run(
        [sys.executable, "-m", "fluxopt", "designate", CAP, "--bogus"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Option inconnue : '--bogus'." in done.stderr
    assert "Error" not in done.stderr and "Traceback" not in done.stderr


def test_catalogue_matches_clicks_messages() -> None:
    """Every msgid of the catalogue is a message of the installed click: a reworded one would silently
    fall back to English, so a click release that rewords it makes this test fail first."""
    source = "".join(p.read_text(encoding="utf-8") for p in sorted(Path(click.__file__).parent.glob("*.py")))
    for msgid in list(MESSAGES) + [m for pair in PLURALS for m in pair]:
        literal = msgid.replace("\n", "\\n").replace("\t", "\\t")
        assert f'"{literal}"' in source or f"'{literal}'" in source, msgid


def test_placeholders_are_kept() -> None:
    """A French message keeps exactly click's placeholders, or `.format` would fail or drop a value."""
    import string

    def fields(text: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(text) if f}

    for msgid, french in MESSAGES.items():
        assert fields(french) == fields(msgid), msgid
    for (one, many), (un, plusieurs) in PLURALS.items():
        assert fields(un) <= fields(one) | fields(many) and fields(plusieurs) == fields(many), one


def test_unknown_messages_stay_english_and_plurals_follow_french_rules() -> None:
    assert gettext("Some future click message") == "Some future click message"
    assert ngettext("one {x}", "many {x}", 1) == "one {x}"
    assert ngettext("one {x}", "many {x}", 2) == "many {x}"
    pair = ("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})")
    assert ngettext(*pair, 0) == "Argument en trop : {args}"  # French: 0 takes the singular
    assert ngettext(*pair, 3) == "Arguments en trop : {args}"


def test_version_names_fluxopt_ortools_and_python() -> None:
    """`fluxopt --version` says which fluxopt, OR-Tools and Python made a plan (a manifest's reader asks)."""
    from importlib.metadata import version

    import fluxopt

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    python = sys.version.split()[0]
    assert (
        result.output == f"fluxopt {fluxopt.__version__} (OR-Tools {version('ortools')}, Python {python})\n"
    )
