"""fluxopt's error types and exit codes.

Every problem a user can cause is a `FluxoptError` carrying French messages that name the file, the line
and the field. The CLI turns them into a clean message and an exit code; nothing else should ever reach a
user as a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """Documented exit codes of every `fluxopt` command (also listed in the README)."""

    OK = 0
    INVALID_INPUT = 1  # données invalides / objectifs impossibles / écart au-delà du seuil
    USAGE = 2  # mauvaise utilisation de la ligne de commande (click)
    NO_SOLUTION = 3  # aucun plan réalisable trouvé dans le temps imparti
    OUTPUT = 4  # sortie impossible à écrire (lecture seule, fichier verrouillé, disque plein)
    INTERNAL = 70  # erreur interne de fluxopt (un défaut à signaler, jamais une erreur de saisie)
    INTERRUPTED = 130  # interrompu par l'utilisateur avant qu'un résultat ne soit disponible


@dataclass(frozen=True, order=True)
class Problem:
    """One problem found in the inputs, located as precisely as possible.

    `line` is 1-based as an editor shows it (the header of a CSV is line 1); `column` is the field name.
    """

    file: str
    line: int | None
    column: str | None
    message: str
    received: str | None = None

    def render(self) -> str:
        """`file:line:column: message (reçu : 'x')`, the format editors and people both read."""
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.column:
            where += f":{self.column}"
        text = f"{where}: {self.message}"
        if self.received is not None:
            shown = self.received if len(self.received) <= 60 else self.received[:57] + "..."
            text += f" (reçu : {shown!r})"
        return text

    def as_dict(self) -> dict[str, object]:
        return {
            "fichier": self.file,
            "ligne": self.line,
            "champ": self.column,
            "message": self.message,
            "recu": self.received,
        }


class FluxoptError(Exception):
    """Base class: a failure explained to the user in French, with an exit code."""

    exit_code: ExitCode = ExitCode.INVALID_INPUT

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems: list[Problem] = list(problems or [])

    def render(self) -> str:
        lines = [self.message]
        lines.extend(p.render() for p in self.problems)
        return "\n".join(lines)


class InputError(FluxoptError):
    """The inputs are malformed or break a rule: every problem is listed at once."""

    exit_code = ExitCode.INVALID_INPUT


class ExclusionsError(InputError):
    """The forecast exclusions leave no flux base for the year (`fluxopt validate` reports it as a rule)."""


class InfeasibleError(FluxoptError):
    """The targets cannot all be met; the message says why in plain French."""

    exit_code = ExitCode.INVALID_INPUT


class NoSolutionError(FluxoptError):
    """The solver found no feasible plan within its limits."""

    exit_code = ExitCode.NO_SOLUTION


class OutputError(FluxoptError):
    """An output could not be written; earlier outputs are left intact."""

    exit_code = ExitCode.OUTPUT


class GapError(FluxoptError):
    """`--fail-on-gap`: a gap exceeds the threshold the user set."""

    exit_code = ExitCode.INVALID_INPUT


@dataclass
class ProblemList:
    """Collects problems while reading so that all of them are reported at once."""

    problems: list[Problem] = field(default_factory=list)

    def add(
        self,
        file: str | Path,
        line: int | None,
        column: str | None,
        message: str,
        received: object | None = None,
    ) -> None:
        self.problems.append(
            Problem(
                str(file) if isinstance(file, str) else file.name,
                line,
                column,
                message,
                None if received is None else str(received),
            )
        )

    def extend(self, other: list[Problem]) -> None:
        self.problems.extend(other)

    def __bool__(self) -> bool:
        return bool(self.problems)

    def __len__(self) -> int:
        return len(self.problems)

    def raise_if_any(self, message: str) -> None:
        """Raise one `InputError` carrying every problem collected so far."""
        if self.problems:
            raise InputError(message, self.problems)
