"""The `secmas` console script and `python -m secmas`: the command line (`secmas.cli`), with
an import that fails for want of an extra turned into one line naming the extra, exit 2
(bad input: the installation lacks what the command asks for), never a traceback. Every
command stops on SIGTERM as on Ctrl-C (`secmas.interrupt`): a run takes down what it
started, in whatever placement, before the command exits."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from secmas.extras import MissingExtra, missing_extra
from secmas.interrupt import terminate_as_interrupt

BAD_INPUT = 2


def run() -> None:
    """Console-script entry point."""
    try:
        from secmas.cli.main import run as cli

        with terminate_as_interrupt():
            cli()
    except ModuleNotFoundError as exc:
        missing = missing_extra(exc)
        if missing is None:
            raise
        _error(message(missing, command_path(sys.argv[1:])))
        raise SystemExit(BAD_INPUT) from None


def message(missing: MissingExtra, command: str) -> str:
    """`secmas detect fit needs the 'ml' extra (…)`, or, when a feature of the command
    needs it, `secmas demo: the closed loop needs the 'ml' extra (…)`."""
    if missing.purpose:
        return f"{command}: {missing.describe(missing.purpose)}"
    return missing.describe(command)


def command_path(args: Sequence[str]) -> str:
    """The command `args` name (`secmas detect fit`): the leading words that are
    subcommands of the `secmas` app; `secmas` when the app itself did not load."""
    words = ["secmas"]
    try:
        import typer.main

        from secmas.cli.main import app

        command = typer.main.get_command(app)
    except ImportError:
        return "secmas"
    for arg in args:
        commands = getattr(command, "commands", None) or {}
        if arg not in commands:
            break
        words.append(arg)
        command = commands[arg]
    return " ".join(words)


def _error(text: str) -> None:
    try:
        from secmas.cli.output import error
    except ImportError:
        sys.stderr.write(f"error: {text}\n")
    else:
        error(text)
