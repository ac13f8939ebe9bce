"""What every `secmas` command prints with: the consoles, exit codes and one-line errors.

Exit codes: 0 success, 2 bad input (files, arguments), 1 a run that failed.

The consoles never read markup or emoji codes in what they print: file names, scenario
and PoP names and error messages come from users, and `ddos[v2].yaml` or `:100:` must
print as they are. Colour is given explicitly instead, with `styled` (a table cell, a piece
of a line) or the line helpers below; a string with `[red]` in it prints those characters.

`--quiet` (`set_quiet`) keeps what a big run's user needs at the end, the summary, the
warnings and the errors, and drops the per-step detail (`detail`, `progress_console`).

`--json` (`json_mode`, `print_json`) keeps stdout for one JSON document: for the command's
length, what the consoles print for people goes to stderr.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from pathlib import PurePath
from typing import Any

import typer
from rich.console import Console, ConsoleDimensions, RenderableType
from rich.text import Text

BAD_INPUT = 2
FAILED_RUN = 1
PIPED_WIDTH = 200
"""Columns of output that is not a terminal (a file, a pipe, a CI log): wide enough that no
table squeezes its cells into wrapped fragments, as Rich's default of 80 would. `COLUMNS`
in the environment overrides it."""


class _Console(Console):
    """A console that prints at `PIPED_WIDTH` where its output is not a terminal."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        if self._width is None and "COLUMNS" not in os.environ and not self.is_terminal:
            return ConsoleDimensions(PIPED_WIDTH, size.height)
        return size


def _console(*, stderr: bool = False) -> Console:
    return _Console(stderr=stderr, markup=False, emoji=False, highlight=False)


console = _console()
errors = _console(stderr=True)
_quiet = Console(file=io.StringIO(), markup=False, emoji=False, highlight=False)
"""Where per-step output goes under --quiet: nowhere."""
_state = {"quiet": False}


def styled(text: object, style: str) -> Text:
    """`text` (user text welcome: never read as markup) in a Rich style, e.g. "red"."""
    return Text(str(text), style=style)


def line(*parts: str | tuple[str, str] | Text) -> Text:
    """One line from plain strings, (text, style) pairs and Texts, none read as markup."""
    return Text.assemble(*parts)


def error(message: str) -> None:
    """Print `error: <message>` on stderr: every error of every command (click's usage
    errors included, `secmas.cli.grammar.UsageError`) starts so, for a script to find."""
    errors.print(line(("error:", "red"), " ", message), soft_wrap=True)


def fail(message: str, code: int = BAD_INPUT) -> typer.Exit:
    """Print `error: <message>` on stderr and return the exit to raise."""
    error(message)
    return typer.Exit(code)


def print_json(document: Mapping[str, Any]) -> None:
    """A command's `--json` answer: one JSON document on stdout, nothing else with it, so a
    script can parse the whole output. Dataclasses become objects, enums their values,
    paths strings."""
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False, default=_plain))


@contextmanager
def json_mode(enabled: bool) -> Iterator[None]:
    """With `--json` (`enabled`): for the block's length, everything the console prints
    (tables, progress, warnings) goes to stderr, so that stdout holds `print_json`'s
    document alone."""
    if not enabled:
        yield
        return
    console.stderr = True
    try:
        yield
    finally:
        console.stderr = False


def _plain(value: object) -> object:
    """What JSON cannot hold as it is, in a form it can."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def say(message: str, style: str = "") -> None:
    """Print one line of text, in `style` if given."""
    console.print(Text(message, style=style), soft_wrap=True)


def warn(message: str) -> None:
    """A warning the user must see even with --quiet (yellow, on stdout)."""
    say(message, "yellow")


def set_quiet(quiet: bool) -> None:
    """With --quiet: `detail` prints nothing and progress bars draw nowhere."""
    _state["quiet"] = quiet


def quiet() -> bool:
    """Whether --quiet is on."""
    return _state["quiet"]


def detail(*renderables: RenderableType, style: str = "") -> None:
    """Per-step output (a step's name, a per-auction table): dropped with --quiet. Strings
    print as they are, in `style`."""
    if quiet():
        return
    for renderable in renderables:
        shown = Text(renderable, style=style) if isinstance(renderable, str) else renderable
        console.print(shown, soft_wrap=isinstance(renderable, str))


def progress_console() -> Console:
    """The console a progress bar draws on: the terminal, or nowhere with --quiet."""
    return _quiet if quiet() else console
