"""`secmas schema`: the JSON Schema of a scenario, a sweep spec, a host list or report.json,
generated from the models (`secmas.schemas`), for editors and other validators.

Exit codes as for every `secmas` command: 0 success, 2 bad input (an unknown kind, an
--out file that cannot be written), with a one-line message and never a traceback.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from secmas.cli.arguments import ForceFileOption, check_new_files
from secmas.cli.output import fail, say


class SchemaKind(StrEnum):
    """The files with a schema: the keys of `secmas.schemas.KINDS` (a test keeps the two
    lists one)."""

    scenario = "scenario"
    sweep = "sweep"
    hosts = "hosts"
    report = "report"


def register(app: typer.Typer) -> None:
    """Add `schema` to the `secmas` command."""
    app.command("schema")(schema)


def schema(
    kind: Annotated[
        SchemaKind,
        typer.Argument(
            metavar="KIND", help="scenario, sweep (a sweep spec), hosts (a --hosts list) or report"
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", metavar="FILE", help="write it to FILE (default: print it)"),
    ] = None,
    force: ForceFileOption = False,
) -> None:
    """Print the JSON Schema (draft 07) of a scenario, a sweep spec, a host list or
    report.json, generated from the models secmas checks them with.

    The same schemas ship in the package (secmas/data/schemas/); a YAML file names its
    schema on its first line for an editor's completion (docs/reference/schemas.md).

    Example: secmas schema scenario -o scenario.schema.json
    """
    check_new_files(force, ("--out", out))
    # pydantic's schema generation and the models load here, not for every command
    from secmas.schemas import generate, render

    text = render(generate(kind.value))
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {out}: {exc.strerror or exc}") from None
    say(f"wrote {out}", "green")
