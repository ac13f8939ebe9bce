"""The shape every `secmas` command shares: how its help prints, and the few constants its
options need before anything runs.

Every command group is a `Typer` of this module, whose commands are `Command`s: an
argument's help row shows its metavar alone (`SCENARIO`, not `scenario <path>`), as the
options' rows do (`--out DIR`). The rules the commands follow (one spelling per option,
metavars, an example per command, `--json`) are in `secmas.cli.main`'s docstring; a test
walks the command tree and checks them.

This module, like every module the command line imports to build itself, imports nothing
heavy: `secmas --help` loads no scenario model, runtime, ledger or web stack. Constants
that options show in their help are repeated here from the layer that owns them
(`secmas.api`), and a test keeps the copies equal.
"""

from __future__ import annotations

from typing import Any

import typer
from typer import _click
from typer.core import TyperCommand

EMBEDDED = (
    "ddos-6pop",
    "cnf-attack",
    "spoofed-injection",
    "adaptive-defence",
    "ddos-emulated",
)
"""The embedded scenarios `secmas demo --scenario NAME` runs (`secmas.api.EMBEDDED`)."""
ENGINES = ("simulator", "emulated")
"""The data-plane engines `--dataplane` names (`secmas.api.scenarios.ENGINES`)."""
SPEED = 10.0
"""Simulated seconds per wall second of a paced run (`secmas.api.placement.SPEED`)."""
TAXII_PASSWORD_VARIABLE = "SECMAS_TAXII_PASSWORD"
"""Where a TAXII server's password is read from (`secmas.api.defence.PASSWORD_VARIABLE`)."""
TAXII_USER_VARIABLE = "SECMAS_TAXII_USER"
"""Where a run's TAXII user is read from (`secmas.api.defence.USER_VARIABLE`)."""
CTI_KEYS_VARIABLE = "SECMAS_CTI_KEYS"
"""The CTI domains' key file (`secmas.api.defence.KEYS_VARIABLE`)."""


class Command(TyperCommand):
    """A command whose help lists each argument by its metavar alone, without typer's
    `<path>`-style type: the metavar says what to give (SCENARIO, FILE, REPORT)."""

    def format_options(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((argument_name(param), record[1]))
            elif param.param_type_name == "option":
                options.append(record)
        if arguments:
            with formatter.section("Arguments"):
                formatter.write_dl(arguments)
        if options:
            with formatter.section("Options"):
                formatter.write_dl(options)


def argument_name(param: _click.Parameter) -> str:
    """How an argument shows in help: its metavar, else its name in capitals; `...` after
    one that takes many values."""
    name = param.metavar or (param.name or "").upper()
    return name + ("..." if param.nargs != 1 and not name.endswith("...") else "")


class Typer(typer.Typer):
    """A command group whose commands are `Command`s, with plain (click) help."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("rich_markup_mode", None)
        kwargs.setdefault("pretty_exceptions_enable", False)
        super().__init__(**kwargs)

    def command(self, name: str | None = None, *, cls: Any = None, **kwargs: Any) -> Any:
        return super().command(name, cls=cls or Command, **kwargs)
