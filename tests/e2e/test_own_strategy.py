"""docs/guides/own-strategy.md works as written: its commands run in order in a fresh
folder, each exits 0 and prints the output lines the page shows, the example's scenario
meets its acceptance, the sweep compares it with the built-in strategy, and the YAML-only
VNF, merged into the starter scenario, validates and wins its auction.

The page installs the example into the environment with pip; here the same command runs
with `PIP_TARGET` and `PIP_NO_DEPS` set, so pip puts it into a folder of the test's, on
PYTHONPATH for every command, and the shared environment is left as it was. The SECaaS
home and release store are the test's own. The emulated block runs where the machine can
emulate (`needs_emulation`), holding the machine's one place for a real-time run.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.e2e.pages import Block, console_blocks, run_as_written, shows
from tests.network.emulation.conftest import LACKING

from secmas import plugins
from secmas.scenario.starter import starter_scenario, starter_yaml
from secmas.scenario.validation import load_with_warnings

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guides" / "own-strategy.md"
LIGHT = "light_classifier"


def yaml_blocks(text: str) -> list[dict[str, Any]]:
    """The ```yaml blocks of `text`, loaded."""
    found = re.findall(r"^```yaml\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)
    return [yaml.safe_load(block) for block in found]


def merged(scenario: dict[str, Any], fragment: dict[str, Any]) -> dict[str, Any]:
    """`scenario` with the fragment's VNFs added and its goals added or replaced by name."""
    vnfs = [v for v in scenario["vnfs"] if v["id"] not in {f["id"] for f in fragment["vnfs"]}]
    goals = {goal["name"]: goal for goal in scenario["goals"]}
    goals.update({goal["name"]: goal for goal in fragment["goals"]})
    return scenario | {"vnfs": vnfs + fragment["vnfs"], "goals": list(goals.values())}


def folder_of_the_page(tmp_path: Path) -> dict[str, str]:
    """The folder the page's commands run in, as a checkout with `./scripts/setup` run;
    the environment they run with."""
    (tmp_path / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    for name in ("examples", "scenarios"):
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    site, home = tmp_path / "site", tmp_path / "home"
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    env = os.environ | {
        "PIP_TARGET": str(site),
        "PIP_NO_DEPS": "1",
        "PYTHONPATH": path,
        "SECMAS_HOME": str(home),
        "SECMAS_RELEASES": str(home / "releases.db"),
        "COLUMNS": "80",
    }
    env.pop("SECMAS_TRUST_WORKING_TREE", None)
    return env


def run_block(block: Block, folder: Path, env: dict[str, str]) -> None:
    """Each command of `block`, as written: it exits 0 and prints what the page shows."""
    for command in block.commands:
        done = run_as_written(command.line, block, folder, env)
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{command.line}\n{output[-3000:]}"
        for line in command.shown:
            assert shows(output, line), f"{command.line}: {line!r} not in\n{output[-3000:]}"


def test_the_guide_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = folder_of_the_page(tmp_path)
    text = GUIDE.read_text(encoding="utf-8")
    (light,) = [block for block in yaml_blocks(text) if LIGHT in str(block.get("vnfs"))]
    starter = yaml.safe_load(starter_yaml(starter_scenario(), "The guide's starting point."))
    strategy = tmp_path / "strategy.yaml"
    strategy.write_text(yaml.safe_dump(merged(starter, light), sort_keys=False))
    blocks = console_blocks(text)
    assert [block.setup for block in blocks] == [None, "--emulated", None, None]
    for block in blocks:
        if block.setup == "--emulated" and LACKING:
            continue  # the machine cannot emulate: the other blocks still run
        run_block(block, tmp_path, env)
    example = json.loads((tmp_path / "runs" / "pulse-guard" / "report.json").read_text())
    assert example["acceptance"]["passed"] and example["trust"] is not None
    if not LACKING:
        emulated = tmp_path / "runs" / "pulse-guard-emulated" / "report.json"
        assert json.loads(emulated.read_text())["acceptance"]["passed"]
    summary = tmp_path / "sweeps" / "pulse-guard" / "sweep-builtin-vs-pulse-guard-summary.csv"
    with summary.open() as rows:
        passed = {
            r["scenario"]: float(r["mean"])
            for r in csv.DictReader(rows)
            if r["measure"] == "passed"
        }
    assert passed == {"ddos-6pop": 0.0, "pulse-guard": 1.0}
    monkeypatch.syspath_prepend(env["PIP_TARGET"])
    plugins.rescan()
    try:
        check_light_classifier_wins(tmp_path, strategy)
    finally:
        monkeypatch.undo()
        plugins.rescan()


def check_light_classifier_wins(folder: Path, strategy: Path) -> None:
    """The YAML-only VNF validated without a caveat and won flowRecord's auction."""
    assert load_with_warnings(strategy)[1] == []
    report = json.loads((folder / "runs" / "strategy" / "report.json").read_text())
    assert report["acceptance"]["passed"]
    (record,) = [a for a in report["auctions"] if a["goal_name"] == "flowRecord"]
    assert (record["winner"], record["winner_vnf"]) == ("pop2", LIGHT)
    offered = {bid["agent"]: (bid["vnf"], bid["units"]) for bid in record["bids"]}
    assert offered == {"pop1": ("classifier", 2), "pop2": (LIGHT, 3), "pop3": (LIGHT, 3)}
