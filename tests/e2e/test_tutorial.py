"""docs/tutorial.md works as written: its `$ ` commands run in order, in a fresh folder,
each exits 0 and prints the output lines the page shows (`…` elides), and the secure run on
the simulator meets acceptance.

Each block runs with only what the page has installed by then: `.venv/bin/secmas` in the
folder is this environment with every extra hidden (`tests.test_install`'s lean install),
and a block the page says needs a `./scripts/setup` option gets that option's extra alone.
A marker comment right above the block names the option (`<!-- setup: --emulated -->`);
the test checks that the page's prose names the same option, and that every block that
needs an extra has its marker. The UI block serves until Ctrl-C: the test waits for its
page, reads it and stops it. The real-network block holds the machine's one place for a
heavy real-time run (`tests.realtime`): beside another, both miss their bounds. Even
alone it runs in real time beside the suite's other workers, so it may exit 1 as the page
says it can on a busy machine: the attack all removed, only the legitimate traffic short.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.e2e.pages import ELIDED, MARKER, console_blocks, flat, run_as_written
from tests.network.emulation.conftest import needs_emulation
from tests.test_install import lean_command

from secmas.listenport import free_port

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"
NEEDS = {
    "--emulated": re.compile(r"--dataplane emulated"),
    "--ui": re.compile(r"secmas ui\b|--ui\b"),
}
"""The `./scripts/setup` option a command needs beyond the core, by what the command says."""
SERVES = re.compile(r"secmas ui\b")
"""A command that serves until Ctrl-C."""


def test_each_block_that_needs_an_extra_names_its_setup_option() -> None:
    text = TUTORIAL.read_text(encoding="utf-8")
    blocks = console_blocks(text)
    assert sum(len(block.commands) for block in blocks) == sum(
        line.startswith("$ ") for line in text.splitlines()
    )
    assert len(MARKER.findall(text)) == sum(block.setup is not None for block in blocks)
    for block in blocks:
        needed = {
            option
            for command in block.commands
            for option, says in NEEDS.items()
            if says.search(command.line)
        }
        assert needed == ({block.setup} if block.setup else set()), f"line {block.start}"
        if block.setup:
            assert f"./scripts/setup {block.setup}" in text, block.setup
    assert [block.setup for block in blocks if block.setup] == ["--emulated", "--ui"]


def _install(folder: Path, setup: str | None) -> None:
    """`folder/.venv` as `./scripts/setup [SETUP]` leaves it: `secmas` with the core and
    that option's extra only (`python` is this interpreter, for the page's one-liners)."""
    bin_folder = folder / ".venv" / "bin"
    bin_folder.mkdir(parents=True, exist_ok=True)
    extras = (setup.removeprefix("--"),) if setup else ()
    launcher = bin_folder / "secmas"
    launcher.write_text(f'#!/bin/sh\nexec {shlex.join(lean_command(extras=extras))} "$@"\n')
    launcher.chmod(0o755)
    python = bin_folder / "python"
    if not python.exists():
        python.symlink_to(sys.executable)


def _serve_and_read(line: str, folder: Path, env: dict[str, str]) -> str:
    """Start a command that serves until Ctrl-C, read its page, stop it with Ctrl-C."""
    port = free_port()
    line = re.sub(r"--port \d+", f"--port {port}", line)
    server = subprocess.Popen(
        ["bash", "-c", f"exec {line}"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert first.startswith("serving"), first + server.stdout.read()
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/runs", timeout=5) as got:
                    return got.read().decode()
            except OSError:
                assert time.monotonic() < deadline, "the UI never answered"
                time.sleep(0.5)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def _only_legitimate_traffic_short(folder: Path, output: str) -> None:
    """A real-network run that exited 1 as the page says it may on a busy machine: the
    attack all removed, capacity respected, only the legitimate traffic's return short of
    90 % (it runs in real time beside the suite's other workers)."""
    accepted = json.loads((folder / "report.json").read_text())["acceptance"]
    assert accepted["attack_reduction"] >= accepted["required"], output[-3000:]
    assert accepted["capacity_ok"] and not accepted["not_measured"], output[-3000:]
    assert accepted["legit_ratio"] < accepted["required"], output[-3000:]


@needs_emulation
def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    env = os.environ | {"COLUMNS": "80"}  # Rich's tables as the page shows them
    ran: list[tuple[str, float]] = []
    for block in console_blocks(TUTORIAL.read_text(encoding="utf-8")):
        _install(tmp_path, block.setup)
        for command in block.commands:
            began = time.monotonic()
            if SERVES.search(command.line):
                runs = json.loads(_serve_and_read(command.line, tmp_path, env))
                assert {"mine", "mine-emulated"} <= {run["id"] for run in runs}, runs
                ran.append((command.line, time.monotonic() - began))
                continue
            done = run_as_written(command.line, block, tmp_path, env)
            ran.append((command.line, time.monotonic() - began))
            output = done.stdout + done.stderr
            if block.setup == "--emulated" and done.returncode == 1:
                _only_legitimate_traffic_short(tmp_path / "runs" / "mine-emulated", output)
                continue
            assert done.returncode == 0, f"{command.line}\n{output[-3000:]}"
            said = flat(output)
            for line in command.shown:
                if line.strip() != ELIDED:
                    assert flat(line) in said, f"{command.line}: {line!r} not in\n{output[-3000:]}"
    assert len(ran) >= 11
    report = json.loads((tmp_path / "runs" / "mine" / "report.json").read_text())
    assert report["acceptance"]["passed"], report["acceptance"]
    assert report["engine"] == "simulator" and report["trust"] is not None  # the secure run
    assert report["auctions"]
    emulated = json.loads((tmp_path / "runs" / "mine-emulated" / "report.json").read_text())
    assert emulated["engine"] == "emulated" and emulated["acceptance"]["attack_reduction"] >= 0.9
    print("\n".join(f"{seconds:6.1f} s  {line}" for line, seconds in ran))
