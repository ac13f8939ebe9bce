"""mkdocs hook: the CLI reference page, generated when the site is built.

The page (`reference/cli.md`, never a file in the tree) walks the command tree of the
typer app `secmas.cli.main.app` and gives every group and command its help exactly as
`secmas … --help` prints it, so it cannot drift from the code. `mkdocs.yml` names this
file under `hooks:`; `exclude_docs` keeps it out of the site.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

PAGE = "reference/cli.md"
"""Where the generated page sits in the site (the nav names it)."""
WIDTH = 100
"""Columns the help is wrapped to, whatever the terminal that builds the site."""

INTRO = """\
# CLI reference

Generated from the `secmas` command itself (`secmas.cli.main.app`) each time the site is
built: every group and command with its help as `secmas … --help` prints it.
[Commands](commands.md) explains what they do, with examples and exit codes.
"""


def command_tree(root: Any, name: str = "secmas") -> Iterator[tuple[list[str], Any, Any]]:
    """Every command under `root` (itself first) as (words, command, click context),
    depth first, in the order `--help` lists them."""

    def walk(command: Any, words: list[str], parent: Any) -> Iterator[tuple[list[str], Any, Any]]:
        ctx = command.context_class(
            command,
            info_name=words[-1],
            parent=parent,
            terminal_width=WIDTH,
            max_content_width=WIDTH,
        )
        yield words, command, ctx
        if hasattr(command, "list_commands"):
            for sub in command.list_commands(ctx):
                yield from walk(command.get_command(ctx, sub), [*words, sub], ctx)

    yield from walk(root, [name], None)


def anchor(words: list[str]) -> str:
    """The heading id of a command's section: `secmas-detect-fit`."""
    return "-".join(words)


def _cell(text: str) -> str:
    """`text` safe in a Markdown table cell."""
    return html.escape(" ".join(text.split())).replace("|", "\\|")


def markdown(root: Any) -> str:
    """The whole page for the click command `root`."""
    tree = list(command_tree(root))
    rows = ["| command | what it does |", "| --- | --- |"]
    sections = []
    for words, command, ctx in tree:
        name = " ".join(words)
        summary = command.get_short_help_str(limit=150) if command.help else ""
        hidden = " (hidden)" if getattr(command, "hidden", False) else ""
        rows.append(f"| [`{name}`](#{anchor(words)}){hidden} | {_cell(summary)} |")
        text = command.get_help(ctx).rstrip()
        sections.append(f"## `{name}` {{#{anchor(words)}}}\n\n```text\n{text}\n```\n")
    return "\n".join([INTRO, *rows, "", *sections])


def cli_markdown() -> str:
    """The page for the installed `secmas` command."""
    import typer.main

    from secmas.cli.main import app

    return markdown(typer.main.get_command(app))


def on_files(files: Any, config: Any) -> Any:
    """mkdocs event: add the generated page to the site's files."""
    from mkdocs.structure.files import File

    existing = files.get_file_from_path(PAGE)
    if existing is not None:
        files.remove(existing)
    files.append(File.generated(config, PAGE, content=cli_markdown()))
    return files
