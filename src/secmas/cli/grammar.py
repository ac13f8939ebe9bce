"""The shape every `secmas` command shares: how its help prints, and the few constants its
options need before anything runs.

Every command group is a `Typer` of this module, whose commands are `Command`s: an
argument's help row shows its metavar alone (`SCENARIO`, not `scenario <path>`), as the
options' rows do (`--out DIR`). Its groups are `Group`s: they list their commands in the
order a user needs them (`BY_USE`) and tell click's own errors as every other error is
told, `error: <message>`. The rules the commands follow (one spelling per option,
metavars, an example per command, `--json`) are in `secmas.cli.main`'s docstring; a test
walks the command tree and checks them.

This module, like every module the command line imports to build itself, imports nothing
heavy: `secmas --help` loads no scenario model, runtime, ledger or web stack. Constants
that options show in their help are repeated here from the layer that owns them
(`secmas.api`), and a test keeps the copies equal.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import typer
from typer import _click
from typer.core import TyperCommand, TyperGroup

from secmas.cli.output import error

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
BY_USE = (
    "demo",
    "run",
    "scenario",
    "ui",
    "detect",
    "policy",
    "audit",
    "cti",
    "sweep",
    "agent",
    "bus",
    "ledger",
    "deploy",
    "image",
    "dataplane",
    "wrap",
    "verify",
    "schema",
)
"""The order `secmas --help` lists the commands in, the order a new user needs them: see a
run, run one's own scenario, write one, watch the runs; then the closed loop, the policies
and the evidence a run leaves, CTI and sweeps; then agents on other hosts and what
deploying them takes; last the tools underneath (wrapping, schemas)."""


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


class UsageError(_click.exceptions.ClickException):
    """One of click's own errors (an unknown option, a missing argument, a value its type
    refuses) told as every `secmas` error is, `error: <message>`, so that a script or a
    person reading stderr finds one shape; the usage and the hint stay above it."""

    def __init__(self, cause: _click.exceptions.ClickException) -> None:
        super().__init__(cause.format_message())
        self.exit_code = cause.exit_code
        self.context = cause.ctx if isinstance(cause, _click.exceptions.UsageError) else None

    def show(self, file: IO[Any] | None = None) -> None:
        if self.context is not None:
            hint = f"Try '{self.context.command_path} --help' for help."
            typer.echo(f"{self.context.get_usage()}\n{hint}\n", file=file, err=True)
        error(self.message)


@contextmanager
def _told_as_ours() -> Iterator[None]:
    """Click's errors raised in the block, re-raised as `UsageError`s."""
    try:
        yield
    except UsageError:
        raise
    except _click.exceptions.ClickException as exc:
        raise UsageError(exc) from exc


class Group(TyperGroup):
    """A command group that lists its commands in the order of `BY_USE` (others after,
    as registered) and tells click's errors as `UsageError`s: parsing a command line
    happens in `make_context` (this group's options) and `invoke` (its commands')."""

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return sorted(super().list_commands(ctx), key=_rank_by_use)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: _click.Context | None = None,
        **extra: Any,
    ) -> _click.Context:
        with _told_as_ours():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: _click.Context) -> Any:
        with _told_as_ours():
            return super().invoke(ctx)


def _rank_by_use(name: str) -> int:
    """Where `name` comes in `BY_USE`; after all of them when not there."""
    return BY_USE.index(name) if name in BY_USE else len(BY_USE)


class Typer(typer.Typer):
    """A command group whose commands are `Command`s, with plain (click) help, listed by
    use, and click's errors told as ours (`Group`)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", Group)
        kwargs.setdefault("rich_markup_mode", None)
        kwargs.setdefault("pretty_exceptions_enable", False)
        super().__init__(**kwargs)

    def command(self, name: str | None = None, *, cls: Any = None, **kwargs: Any) -> Any:
        return super().command(name, cls=cls or Command, **kwargs)
