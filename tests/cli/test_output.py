"""What the `secmas` command prints: user text exactly as given (never read as Rich markup
or emoji codes), readable help for every command, and titles that always say what a table
is."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from secmas.cli import output
from secmas.cli.main import app, default_scenario_path
from secmas.cli.running import ConsoleRun
from secmas.cli.tables import auction_table, compliance_table
from secmas.policy.assessment import TermMonitor

runner = CliRunner()
CLI = Path(output.__file__).parent
HOSTILE = "ddos[v2][red]x[/]:100:.yaml"
"""A path's end that Rich would eat as markup and turn into an emoji ("[/]" spans a folder
"…x[" and a file "]:100:.yaml")."""


def hostile(folder: Path) -> Path:
    path = folder / HOSTILE
    path.parent.mkdir()
    return path


def test_a_file_name_with_markup_and_emoji_codes_prints_as_it_is(tmp_path: Path) -> None:
    scenario = Path(shutil.copy(default_scenario_path(), hostile(tmp_path)))
    result = runner.invoke(app, ["scenario", "validate", str(scenario)])
    assert result.exit_code == 0, result.output
    assert f"{HOSTILE}: valid" in result.output
    assert "💯" not in result.output


def test_an_error_naming_such_a_file_prints_it_as_it_is(tmp_path: Path) -> None:
    missing = hostile(tmp_path)
    result = runner.invoke(app, ["scenario", "validate", str(missing)])
    assert result.exit_code == 2
    assert f"error: {missing}" in result.output and "Traceback" not in result.output


def test_user_text_in_tables_prints_as_it_is() -> None:
    auction = {
        "goal": "flowRateLimited([red]x:100:)",
        "initiator": "pop[1]",
        "sim_start_s": 3.0,
        "traffic_mbps": 0.0,
        "status": "done",
        "preferences": {"T": 1, "C": 1, "D": 1},
        "bids": [],
        "refusals": [{"agent": "pop[2]", "reason": "[bold]no room[/]"}],
        "winner": None,
    }
    table = auction_table(auction)
    assert table.title == "flowRateLimited([red]x:100:) by pop[1] at t=3.0 s — done"
    printed = _render(table)
    assert "flowRateLimited([red]x:100:)" in printed and "[bold]no room[/]" in printed


def test_an_auction_without_traffic_keeps_its_title() -> None:
    """The title used to be multiplied by `traffic > 0`, leaving "— done"."""
    base = {
        "goal": "anomalousUsage(link)",
        "initiator": "pop5",
        "sim_start_s": 20.0,
        "status": "done",
        "preferences": {"T": 1, "C": 1, "D": 1},
        "bids": [],
        "refusals": [],
        "winner": None,
    }
    without = auction_table(base | {"traffic_mbps": 0.0}).title
    assert without == "anomalousUsage(link) by pop5 at t=20.0 s — done"
    loaded = auction_table(base | {"traffic_mbps": 2.5}).title
    assert loaded == "anomalousUsage(link) by pop5 at t=20.0 s (2.50 MB/s) — done"


def _bid(agent: str, utility: float) -> dict[str, Any]:
    return {
        "agent": agent,
        "vnf": "rate_limiter",
        "units": 1,
        "T": 1.0,
        "C": 2.0,
        "D": 3.0,
        "utility": utility,
    }


AUCTION = {
    "goal": "linkRateLimited(pop6~server)",
    "initiator": "pop6",
    "sim_start_s": 23.0,
    "traffic_mbps": 0.0,
    "status": "done",
    "preferences": {"T": 0.8, "C": 0.1, "D": 0.1},
    "bids": [_bid("pop1", 0.57), _bid("pop5", 0.1), _bid("pop2", 0.54)],
    "refusals": [],
    "winner": "pop5",
}


@pytest.mark.parametrize(
    ("changed", "verdict"),
    [
        ({}, "pop5 wins with the lowest utility, 0.10 (next: pop2, 0.54)"),
        ({"bids": [_bid("pop5", 0.0)]}, "pop5 wins with the lowest utility, 0.00"),
        ({"winner": "pop1"}, "pop1 wins with utility, 0.57 (next: pop5, 0.10)"),
        ({"winner": None, "status": "failed"}, "no winner (failed)"),
        (
            {"winner": None, "bids": [], "refusals": [{"agent": "pop1", "reason": "full"}]},
            "no bids: every PoP refused (reasons above)",
        ),
    ],
)
def test_an_auction_table_says_who_won_and_why(changed: dict[str, Any], verdict: str) -> None:
    """The caption names the winner, its utility against the next bid, and the formula with
    the goal's preferences: the console alone tells who won and why."""
    caption = str(auction_table(AUCTION | changed).caption)
    assert caption.splitlines() == [
        verdict,
        "utility (Eq. 3.1) = 0.8·T̂ + 0.1·Ĉ + 0.1·(1 − D̂), with T, C and D normalised over the bids",
    ]


def test_output_that_is_not_a_terminal_is_printed_full_width() -> None:
    """Piped into a file or a CI log, tables are not squeezed into 80 columns."""
    environment = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    code = "from secmas.cli.output import console, errors; print(console.width, errors.width)"
    widths = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    ).stdout.split()
    assert widths == [str(output.PIPED_WIDTH)] * 2
    environment["COLUMNS"] = "90"
    chosen = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    ).stdout.split()
    assert chosen == ["90", "90"]


def test_a_run_in_a_pipe_prints_a_progress_line_per_tenth() -> None:
    """No bar can draw in a pipe: the run says how far it got, ten times over its length."""
    output.set_quiet(False)  # as a command without --quiet leaves it
    run = ConsoleRun()
    run.duration = 240.0
    with output.console.capture() as captured:
        for now in range(0, 241, 4):
            run.progress(float(now), 240.0)
        run.close()
    lines = [x.split(",")[0] for x in captured.get().splitlines()]
    assert lines == [f"simulated {24 * k}/240 s ({10 * k}%)" for k in range(1, 11)]


def test_a_term_never_measured_is_shown_as_not_measured() -> None:
    from tests.policy.test_assessment import ENCRYPTION, monitor

    term: TermMonitor = monitor(ENCRYPTION)
    term.assess(1.0)
    table = compliance_table({"compliance": [term.compliance()]})
    cells = {column.header: str(next(iter(column.cells))) for column in table.columns}
    assert cells["compliance"] == "not measured" and cells["not measured"] == "1"


def _render(renderable: object) -> str:
    with output.console.capture() as captured:
        output.console.print(renderable, width=200)
    return captured.get()


PRINTABLE = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=60)


@given(PRINTABLE)
def test_any_text_prints_as_it_is(text: str) -> None:
    """Brackets, colons, backslashes: whatever a user names something, it prints unchanged."""
    with output.console.capture() as captured:
        output.say(text)
    with output.errors.capture() as failed:
        output.error(text)
    assert captured.get() == text + "\n" and failed.get() == f"error: {text}\n"


MARKUP = re.compile(r"\[/?(red|green|yellow|dim|bold|blue|cyan|magenta|italic)\b[^\]]*\]|\[/\]")


def _strings(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_no_cli_module_prints_markup_or_escapes_it() -> None:
    """The consoles print text as it is: a `[red]…[/]` literal would show its brackets, and
    `rich.markup.escape` its backslashes. Colour goes through `output.styled`/`line`."""
    found = []
    for path in sorted(CLI.glob("*.py")):
        if "rich.markup" in path.read_text(encoding="utf-8"):
            found.append(f"{path.name}: imports rich.markup")
        for lineno, text in _strings(path):
            if path.name != "output.py" and MARKUP.search(text):
                found.append(f"{path.name}:{lineno}: {text!r}")
    assert found == []


def test_quiet_drops_detail_and_keeps_the_summary() -> None:
    output.set_quiet(True)
    try:
        with output.console.capture() as captured:
            output.detail("step 1: deploy")
            output.say("12 auctions")
        assert captured.get() == "12 auctions\n"
        assert output.progress_console() is not output.console
    finally:
        output.set_quiet(False)
    assert output.progress_console() is output.console


# -- help --------------------------------------------------------------------------------


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and group under `command` (typer's own click types: duck-typed)."""
    yield path, command
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            if not sub.hidden:
                yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def _paragraphs(text: str) -> list[str]:
    """The paragraphs of a help text, each on one line, but those click keeps as written
    (after a `\\b` line), which keep their lines."""
    paragraphs = [p.strip() for p in text.split("\f")[0].split("\n\n") if p.strip()]
    return [p if p.startswith("\b") else " ".join(p.split()) for p in paragraphs]


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "secmas")
def test_every_help_is_readable(path: tuple[str, ...]) -> None:
    """Rendered as wide as it likes, each paragraph of a command's description is one line
    (no docstring line break leaks into it), and no flag shows a `<bool>` metavar."""
    command = dict(COMMANDS)[path]
    result = runner.invoke(
        app, [*path, "--help"], terminal_width=2000, max_content_width=2000, color=False
    )
    assert result.exit_code == 0, result.output
    text = result.output
    assert "<bool>" not in text and "Traceback" not in text
    lines = [" ".join(line.split()) for line in text.splitlines()]
    for paragraph in _paragraphs(command.help or ""):
        if paragraph.startswith("\b"):  # kept as written (an example): each line shows whole
            kept = [" ".join(line.split()) for line in paragraph.split("\n")[1:]]
            assert all(line in lines for line in kept), f"{' '.join(path)}: {kept}"
            continue
        assert paragraph in lines, f"{' '.join(path)}: {paragraph!r} not on one line"
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            if sub.hidden:
                continue
            first = _paragraphs(sub.help or "")[0]
            listed = [line for line in lines if line.startswith(f"{name} ")]
            assert listed and first.split(". ")[0] in listed[0], f"{name}: {listed}"
