"""The run's output folder and ports, checked before any work (`secmas.cli.arguments`);
the bad cases are rows of test_bad_inputs.py, these are the ones that pass."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import typer

from secmas.cli.arguments import check_out, check_port, fresh_folder


def test_a_default_run_folder_is_never_written_over(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "ddos-6pop-20261123-090000"
    assert fresh_folder(folder) == folder
    folder.mkdir()
    (tmp_path / f"{folder.name}-2").mkdir()
    assert fresh_folder(folder) == tmp_path / f"{folder.name}-3"
    assert f"{folder} exists: writing to {folder}-3" in " ".join(capsys.readouterr().out.split())


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
