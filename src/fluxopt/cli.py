"""Command-line interface: parse arguments, call the library, render. No figures are computed here.

stdout carries data (tables, JSON); stderr carries messages for people. Every `FluxoptError` becomes a
French message and its documented exit code; no traceback reaches a user unless `--debug` is given.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

INTERRUPTED = "Interrompu : aucun résultat n'a été écrit ; les sorties précédentes sont intactes."


def _interrupted_while_starting(signum: int, frame: object) -> None:
    """Ctrl-C while the command modules are imported: the same French message and exit code as later."""
    sys.stderr.write(INTERRUPTED + "\n")
    sys.stderr.flush()
    os._exit(130)


# Importing the commands takes about half a second: a Ctrl-C then must not print Python's traceback.
_STARTING = (
    threading.current_thread() is threading.main_thread()
    and signal.getsignal(signal.SIGINT) is signal.default_int_handler
)
if _STARTING:
    signal.signal(signal.SIGINT, _interrupted_while_starting)

import click  # noqa: E402

from fluxopt import __version__  # noqa: E402
from fluxopt.cli_french import install as _click_in_french  # noqa: E402
from fluxopt.errors import ExitCode, FluxoptError  # noqa: E402

F = TypeVar("F", bound=Callable[..., Any])

_click_in_french()  # usage errors and help headings in French (fluxopt/cli_french.py)


def _version_message() -> str:
    from fluxopt.manifest import ortools_version

    return f"fluxopt {__version__} (OR-Tools {ortools_version()}, Python {sys.version.split()[0]})"


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """`--version`, its message made only when asked (click's `version_option` would make it at every
    start)."""
    if value and not ctx.resilient_parsing:
        click.echo(_version_message())
        ctx.exit()


def handle_errors(func: F) -> F:
    """Turn fluxopt's errors into a French message and an exit code; hide tracebacks unless --debug."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        debug = bool(ctx.find_root().params.get("debug"))
        try:
            return func(*args, **kwargs)
        except FluxoptError as error:
            if debug:
                traceback.print_exc()
            click.echo(f"Erreur : {error.render()}", err=True)
            ctx.exit(int(error.exit_code))
        except KeyboardInterrupt:
            click.echo(INTERRUPTED, err=True)
            ctx.exit(int(ExitCode.INTERRUPTED))
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except MemoryError:
            click.echo("Erreur : mémoire insuffisante pour ce scénario.", err=True)
            ctx.exit(int(ExitCode.INTERNAL))
        except Exception as error:  # a defect of fluxopt, never the user's fault
            if debug:
                traceback.print_exc()
            click.echo(
                f"Erreur interne de fluxopt ({type(error).__name__}) : merci de la signaler, "
                "avec la commande et l'option --debug.",
                err=True,
            )
            ctx.exit(int(ExitCode.INTERNAL))

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_print_version,
    help="Affiche la version et quitte.",
)
@click.option(
    "--debug", is_flag=True, help="Affiche la trace complète en cas d'erreur (pour les développeurs)."
)
def cli(debug: bool) -> None:
    """fluxopt — planifie les désignations de logements sociaux en gestion en flux.

    Codes de sortie : 0 succès · 1 données invalides ou objectifs impossibles · 2 mauvaise utilisation ·
    3 aucun plan trouvé dans le temps imparti · 4 sortie impossible à écrire · 70 erreur interne ·
    130 interrompu.
    """


# `bilan`, `compare`, `report`: their own module, registered here (fluxopt/report/commands.py).
from fluxopt.report.commands import register as _register_report_commands  # noqa: E402

_register_report_commands(cli, handle_errors)


# `validate`, `schema`: their own module, registered here (fluxopt/io/commands.py).
from fluxopt.io.commands import register as _register_io_commands  # noqa: E402

_register_io_commands(cli, handle_errors)


# `convert`, `sweep`: their own module, registered here (fluxopt/sweep/commands.py).
from fluxopt.sweep.commands import register as _register_sweep_commands  # noqa: E402

_register_sweep_commands(cli, handle_errors)


# `plan`: its own module, registered here (fluxopt/model/commands.py).
from fluxopt.model.commands import register as _register_plan_commands  # noqa: E402

_register_plan_commands(cli, handle_errors)


# `designate`, `simulate`: their own module, registered here (fluxopt/replan_cli.py).
from fluxopt.replan_cli import register as _register_replan_commands  # noqa: E402

_register_replan_commands(cli, handle_errors)


if _STARTING:  # every command is registered: Ctrl-C is a KeyboardInterrupt again, handled per command
    signal.signal(signal.SIGINT, signal.default_int_handler)


def main() -> None:
    """Console-script entry point."""
    try:
        cli(prog_name="fluxopt")
    except KeyboardInterrupt:  # between the end of the imports and the start of a command
        click.echo(INTERRUPTED, err=True)
        _exit(int(ExitCode.INTERRUPTED))
    except SystemExit as done:
        _exit(done.code)


def _exit(code: int | str | None) -> None:
    """Exit with `code`; at once if a solve was left running after a Ctrl-C (HiGHS cannot be stopped:
    `fluxopt.model.solver._until_interrupted`), whose thread would otherwise meet the interpreter's
    shutdown — the outputs are already written and closed by then."""
    solver = sys.modules.get("fluxopt.model.solver")
    if solver is not None and solver.abandoned_solves():
        if isinstance(code, str):
            sys.stderr.write(code + "\n")
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0 if code is None else int(code))
    sys.exit(code)
