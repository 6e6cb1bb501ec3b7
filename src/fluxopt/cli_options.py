"""Command-line options shared by several commands (one definition, one help text)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

CSV_HELP = "CSV pour Excel français (BOM, « ; », virgule décimale) ou CSV simple (RFC 4180) pour les outils."


def csv_option(*, legacy_flag: bool = False) -> Callable[[F], F]:
    """`--csv fr|plain`, passed to the command as `dialect`. With `legacy_flag`, the older `--csv-plain` flag
    of `plan` and `designate` is still accepted (hidden) and means `--csv plain`."""

    def decorate(func: F) -> F:
        target: Callable[..., Any] = func
        if legacy_flag:

            @functools.wraps(func)
            def with_legacy(*args: Any, csv_plain: bool = False, **kwargs: Any) -> Any:
                if csv_plain:
                    kwargs["dialect"] = "plain"
                return func(*args, **kwargs)

            target = click.option(
                "--csv-plain", is_flag=True, hidden=True, help="Ancien nom de --csv plain."
            )(with_legacy)
        option = click.option(
            "--csv",
            "dialect",
            type=click.Choice(["fr", "plain"]),
            default="fr",
            show_default=True,
            help=CSV_HELP,
        )
        return option(target)  # type: ignore[return-value]

    return decorate
