"""What every `secmas` command prints with: the consoles, exit codes and one-line errors.

Exit codes: 0 success, 2 bad input (files, arguments), 1 a run that failed.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

BAD_INPUT = 2
FAILED_RUN = 1

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = BAD_INPUT) -> typer.Exit:
    """Print `error <message>` on stderr (as plain text) and return the exit to raise."""
    errors.print(f"[red]error[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def say(message: str) -> None:
    """Print one line of plain text (no markup, no highlighting)."""
    console.print(escape(message), highlight=False, soft_wrap=True)
