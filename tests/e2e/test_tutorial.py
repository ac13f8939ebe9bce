"""docs/tutorial.md works as written: its `$ ` commands run in order, in a fresh folder
whose `.venv` is this environment, each exits 0 and prints the output lines the page shows
(`…` elides), and the secure run on the simulator meets acceptance.

A console block is left out only when a marker comment right above it says why
(`<!-- not run by the test: needs root … -->`); the test checks that the marked blocks are
exactly those that need root, the emulated network or a served UI, and that every `$ `
line of the page is in a console block, so nothing else is silently skipped.

docs/guides/own-strategy.md too: its YAML fragments, merged into the starter scenario,
validate without a warning, and its commands run the new VNF to a won auction.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from secmas.scenario.starter import starter_scenario, starter_yaml
from secmas.scenario.validation import load_with_warnings

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"
MARKER = re.compile(r"<!-- not run by the test: (?P<why>[^>]+) -->")
SKIPPABLE = ("root", "emulated", "UI")
"""What a marker may give as the reason: only these blocks are not run."""
NEEDS = re.compile(r"^sudo |secmas ui\b|--dataplane emulated|--ui\b")
"""Commands the test cannot run: root, the real network, a page served until Ctrl-C."""
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
    skip: str | None
    """The marker's reason, for a block the test does not run."""


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
        blocks.append(Block(start + 1, commands, marker["why"] if marker else None))
        index += 1
    return blocks


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_the_marked_blocks_are_the_only_ones_left_out() -> None:
    text = TUTORIAL.read_text(encoding="utf-8")
    blocks = console_blocks(text)
    in_blocks = sum(len(block.commands) for block in blocks)
    assert in_blocks == sum(line.startswith("$ ") for line in text.splitlines())
    assert len(MARKER.findall(text)) == sum(block.skip is not None for block in blocks)
    for block in blocks:
        needs = [c.line for c in block.commands if NEEDS.search(c.line)]
        if block.skip is None:
            assert not needs, f"line {block.start}: {needs} cannot run here: mark the block"
        else:
            assert any(word in block.skip for word in SKIPPABLE), block.skip
            assert needs == [c.line for c in block.commands], f"line {block.start}: {needs}"
    skipped = [block.skip for block in blocks if block.skip]
    assert len(skipped) == 2 and "root" in skipped[0] and "UI" in skipped[1]
    assert len(blocks) - len(skipped) >= 6


def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    (tmp_path / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    assert (tmp_path / ".venv" / "bin" / "secmas").exists()
    env = os.environ | {"COLUMNS": "80"}  # Rich's tables as the page shows them
    ran: list[tuple[str, float]] = []
    for block in console_blocks(TUTORIAL.read_text(encoding="utf-8")):
        if block.skip is not None:
            continue
        for command in block.commands:
            began = time.monotonic()
            done = subprocess.run(
                ["bash", "-c", command.line],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            ran.append((command.line, time.monotonic() - began))
            output = done.stdout + done.stderr
            assert done.returncode == 0, f"{command.line}\n{output[-3000:]}"
            said = _flat(output)
            for line in command.shown:
                if line.strip() != ELIDED:
                    assert _flat(line) in said, f"{command.line}: {line!r} not in\n{output[-3000:]}"
    assert len(ran) >= 9
    report = json.loads((tmp_path / "runs" / "mine" / "report.json").read_text())
    assert report["acceptance"]["passed"], report["acceptance"]
    assert report["engine"] == "simulator" and report["trust"] is not None  # the secure run
    assert report["auctions"]
    print("\n".join(f"{seconds:6.1f} s  {line}" for line, seconds in ran))


GUIDE = ROOT / "docs" / "guides" / "own-strategy.md"


def yaml_blocks(text: str) -> list[dict[str, list[dict[str, object]]]]:
    """The ```yaml blocks of `text`, loaded."""
    found = re.findall(r"^```yaml\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)
    return [yaml.safe_load(block) for block in found]


def merged(scenario: dict, fragment: dict) -> dict:
    """`scenario` with the fragment's VNFs added and its goals added or replaced by name."""
    vnfs = [v for v in scenario["vnfs"] if v["id"] not in {f["id"] for f in fragment["vnfs"]}]
    goals = {goal["name"]: goal for goal in scenario["goals"]}
    goals.update({goal["name"]: goal for goal in fragment["goals"]})
    return scenario | {"vnfs": vnfs + fragment["vnfs"], "goals": list(goals.values())}


def test_the_strategy_guide_fragments_validate_and_the_new_vnf_wins(tmp_path: Path) -> None:
    (tmp_path / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    text = GUIDE.read_text(encoding="utf-8")
    new_vnf, new_goal = yaml_blocks(text)
    starter = yaml.safe_load(starter_yaml(starter_scenario(), "The guide's starting point."))
    for fragment in (new_vnf, new_goal):
        scenario, caveats = load_with_warnings(_written(tmp_path, merged(starter, fragment)))
        assert caveats == []
    assert [goal.name for goal in scenario.goals][-1] == "flowLogged"  # valid, if unposted
    _written(tmp_path, merged(starter, new_vnf))
    env = os.environ | {"COLUMNS": "80"}
    (block,) = console_blocks(text)
    for command in block.commands:
        done = subprocess.run(
            ["bash", "-c", command.line], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        for line in command.shown:
            assert line.strip() == ELIDED or _flat(line) in _flat(done.stdout)
    report = json.loads((tmp_path / "runs" / "strategy" / "report.json").read_text())
    assert report["acceptance"]["passed"]
    (record,) = [a for a in report["auctions"] if a["goal_name"] == "flowRecord"]
    assert (record["winner"], record["winner_vnf"]) == ("pop2", "light_classifier")
    offered = {bid["agent"]: (bid["vnf"], bid["units"]) for bid in record["bids"]}
    assert offered == {
        "pop1": ("classifier", 2),
        "pop2": ("light_classifier", 3),
        "pop3": ("light_classifier", 3),
    }


def _written(folder: Path, scenario: dict) -> Path:
    path = folder / "strategy.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")
    return path
