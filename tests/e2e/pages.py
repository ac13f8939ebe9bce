"""A docs page's shell commands as written: its ```console blocks, the `$ ` commands in
each and the output lines the page shows after each (`…` elides), and the `./scripts/setup`
option a block needs, from the marker comment right above it
(`<!-- setup: --emulated -->`). The tutorial's test and the strategy guide's run them.
"""

from __future__ import annotations

import re
import subprocess
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from tests.realtime import one_run_at_a_time

MARKER = re.compile(r"<!-- setup: (?P<option>--[a-z]+)[^>]*-->")
ELIDED = "…"


@dataclass
class Command:
    line: str
    shown: list[str] = field(default_factory=list)
    """Output lines the page shows after it."""


@dataclass
class Block:
    start: int
    commands: list[Command]
    setup: str | None
    """The `./scripts/setup` option the block needs beyond the core, from its marker."""


def console_blocks(text: str) -> list[Block]:
    """Every ```console block of `text`, its commands and the output shown for each."""
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        if lines[index].strip() != "```console":
            index += 1
            continue
        before = next((x for x in reversed(lines[:index]) if x.strip()), "")
        marker = MARKER.fullmatch(before.strip())
        start, index = index, index + 1
        commands: list[Command] = []
        while lines[index].strip() != "```":
            line = lines[index]
            if line.startswith("$ "):
                commands.append(Command(line[2:]))
            else:
                assert commands, f"line {index + 1}: output before any command"
                commands[-1].shown.append(line)
            index += 1
        blocks.append(Block(start + 1, commands, marker["option"] if marker else None))
        index += 1
    return blocks


def flat(text: str) -> str:
    """`text` with every run of white space one space (Rich wraps as the width says)."""
    return " ".join(text.split())


def as_root(line: str) -> str:
    """The page's `sudo …`, run as it is by root (the test's user: emulation needs it)."""
    return line.removeprefix("sudo ")


def shows(output: str, line: str) -> bool:
    """Whether `output` holds the page's shown `line`, its `…` eliding any text between
    the parts around it (a line of `…` alone holds anywhere)."""
    said, at = flat(output), 0
    for part in (flat(piece) for piece in line.split(ELIDED)):
        found = said.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return True


def run_as_written(
    line: str, block: Block, folder: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run one of `block`'s commands in `folder` as the page writes it (as root, `sudo`
    left out); a block of the emulated network holds the machine's one place for a
    real-time run (`tests.realtime`) meanwhile."""
    with one_run_at_a_time() if block.setup == "--emulated" else nullcontext():
        return subprocess.run(
            ["bash", "-c", as_root(line)],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
