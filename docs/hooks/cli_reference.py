"""mkdocs hook: one reference page per command, generated when the site is built.

Every group and command of the typer app `secmas.cli.main.app` gets a page,
`reference/commands/secmas-detect-fit.md` and so on: the prose written for it by hand in
the file of that name under `docs/reference/commands/` (what it does, examples, exit
codes, links to the guides), then its help exactly as `secmas … --help` prints it, so the
options listed cannot drift from the code. The index page, `reference/commands/index.md`,
is its hand-written introduction followed by a generated table of every command with its
one-line summary. A command without a prose file, or a prose file for a command that no
longer exists, fails the build: the reference is complete or it is not built.

`mkdocs.yml` names this file under `hooks:`; `exclude_docs` keeps it out of the site.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FOLDER = "reference/commands"
"""Where the command pages sit in the site, beside their prose files in `docs/`."""
INDEX = f"{FOLDER}/index.md"
"""The page that lists every command (the nav names it)."""
WIDTH = 100
"""Columns the help is wrapped to, whatever the terminal that builds the site."""
SUMMARY_LIMIT = 150
"""Characters of a command's one-line summary in the index table."""

Node = tuple[list[str], Any, Any]
"""A command as the words that call it, the click command and its click context."""


class MissingProse(Exception):
    """The prose files and the commands of the app do not match one to one."""


def command_tree(root: Any, name: str = "secmas") -> Iterator[Node]:
    """Every command under `root` (itself first), depth first, in the order `--help`
    lists them; each with a context so that its help prints as on a terminal."""

    def walk(command: Any, words: list[str], parent: Any) -> Iterator[Node]:
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


def slug(words: list[str]) -> str:
    """The page name of a command, `secmas-detect-fit`: the words as typed, so a
    reader can guess the page of any command."""
    return "-".join(words)


def page_path(words: list[str]) -> str:
    """Where the command's page sits in the site, relative to `docs/`."""
    return f"{FOLDER}/{slug(words)}.md"


def summary(command: Any) -> str:
    """The command's first help sentence, on one line, safe in a table cell: help text
    names placeholders such as `<pop>.nk`, which Markdown would take for HTML tags."""
    text = command.get_short_help_str(limit=SUMMARY_LIMIT) if command.help else ""
    return html.escape(" ".join(text.split()), quote=False).replace("|", "\\|")


def command_page(words: list[str], command: Any, ctx: Any, prose: str) -> str:
    """A command's page: its title, its hand-written prose, then its `--help`."""
    name = " ".join(words)
    help_text = command.get_help(ctx).rstrip()
    return (
        f"# `{name}`\n\n{prose.strip()}\n\n"
        f"## Help\n\nAs `{name} --help` prints it (generated from the code):\n\n"
        f"```text\n{help_text}\n```\n"
    )


def index_page(tree: list[Node], intro: str) -> str:
    """The index: its hand-written introduction, then every command linked with its
    summary, hidden ones marked so that nobody takes them for everyday commands."""
    rows = ["| command | what it does |", "| --- | --- |"]
    for words, command, _ in tree:
        hidden = " (hidden)" if getattr(command, "hidden", False) else ""
        rows.append(f"| [`{' '.join(words)}`]({slug(words)}.md){hidden} | {summary(command)} |")
    return "\n".join([intro.rstrip(), "", "## Every command", "", *rows, ""])


def pages(root: Any, prose_dir: Path) -> dict[str, str]:
    """Every page of the commands reference by its path in the site, from the click
    command `root` and the prose files in `prose_dir`."""
    tree = list(command_tree(root))
    expected = {f"{slug(words)}.md" for words, _, _ in tree}
    present = {p.name for p in prose_dir.glob("*.md")} - {"index.md"}
    if expected != present:
        raise MissingProse(
            f"prose missing for {sorted(expected - present)}, "
            f"prose for no command {sorted(present - expected)} (in {prose_dir})"
        )
    out = {INDEX: index_page(tree, (prose_dir / "index.md").read_text(encoding="utf-8"))}
    for words, command, ctx in tree:
        prose = (prose_dir / f"{slug(words)}.md").read_text(encoding="utf-8")
        out[page_path(words)] = command_page(words, command, ctx, prose)
    return out


def secmas_pages(docs_dir: Path) -> dict[str, str]:
    """The pages for the installed `secmas` command."""
    import typer.main

    from secmas.cli.main import app

    return pages(typer.main.get_command(app), docs_dir / FOLDER)


def on_files(files: Any, config: Any) -> Any:
    """mkdocs event: the prose files replaced by the full pages built from them."""
    from mkdocs.exceptions import PluginError
    from mkdocs.structure.files import File

    try:
        generated = secmas_pages(Path(config["docs_dir"]))
    except MissingProse as exc:
        raise PluginError(str(exc)) from exc
    for path, content in generated.items():
        existing = files.get_file_from_path(path)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, path, content=content))
    return files
