"""`secmas ui` and `secmas demo --ui` from the command line."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

from typer.testing import CliRunner

from secmas.cli.main import app
from secmas.ui.server import bind

runner = CliRunner()


def test_demo_with_ui_serves_the_live_page_and_stops_with_ui_exit(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "live"
    args = ["demo", "--insecure", "--ui", "--ui-exit", "--ui-port", "0", "--speed", "1000"]
    result = runner.invoke(app, [*args, "--out", str(out)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert re.search(r"live page: http://127\.0\.0\.1:\d+/#live", result.output)
    report = json.loads((out / "report.json").read_text())
    assert report["acceptance"]["passed"] and report["analytics"] is None
    assert (out / "scenario.yaml").is_file()


def test_ui_refuses_a_taken_port_and_a_file_or_missing_folder_for_runs(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        result = runner.invoke(app, ["ui", "--runs", str(tmp_path), "--port", str(port)])
        assert result.exit_code == 2 and "cannot listen" in result.output
        result = runner.invoke(app, ["demo", "--ui", "--ui-port", str(port)])
        assert result.exit_code == 2 and "--ui-port" in result.output
    finally:
        taken.close()
    file = tmp_path / "file"
    file.write_text("")
    result = runner.invoke(app, ["ui", "--runs", str(file)])
    assert result.exit_code == 2 and "not a folder" in result.output
    # a mistyped folder is said, not served as an empty dashboard
    result = runner.invoke(app, ["ui", "--runs", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "no such folder" in result.output


def test_the_default_port_falls_back_to_a_free_one() -> None:
    first = bind("127.0.0.1", None)
    try:
        second = bind("127.0.0.1", None)
        try:
            assert second.getsockname()[1] != first.getsockname()[1]
        finally:
            second.close()
    finally:
        first.close()
