"""The run's output folder and ports, checked before any work (`secmas.cli.arguments`);
the bad cases are rows of test_bad_inputs.py, these are the ones that pass."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import typer

from secmas.cli.arguments import check_out, check_port


def test_new_empty_and_forced_folders_are_accepted(tmp_path: Path) -> None:
    check_out(tmp_path / "new" / "deeper", force=False)
    check_out(tmp_path, force=False)
    (tmp_path / "report.json").write_text("{}")
    check_out(tmp_path, force=True)
    with pytest.raises(typer.Exit):
        check_out(tmp_path, force=False)
    assert not list(tmp_path.glob(".secmas-probe-*")), "the write probe is left behind"


def test_a_free_port_and_port_zero_are_accepted() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    check_port("--metrics-port", port, "127.0.0.1")
    check_port("--metrics-port", 0, "127.0.0.1")
    check_port("--metrics-port", None, "127.0.0.1")
