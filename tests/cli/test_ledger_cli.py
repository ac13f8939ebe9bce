"""`secmas ledger serve`: bad ports exit 2 with a message; a served ledger answers until
Ctrl-C."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest
import typer
from typer.testing import CliRunner

from secmas.cli.ledger import register

runner = CliRunner()
app = typer.Typer(pretty_exceptions_enable=False)
register(app)
SERVE = (
    "import typer; from secmas.cli import ledger; app = typer.Typer(); ledger.register(app); app()"
)


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_bad_port_exits_2(port: str) -> None:
    result = runner.invoke(app, ["ledger", "serve", "--port", port])
    assert result.exit_code == 2
    assert "--port" in result.output and "Traceback" not in result.output


def test_port_in_use_exits_2_naming_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["ledger", "serve", "--port", str(port)])
    assert result.exit_code == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.output


def test_unknown_host_exits_2() -> None:
    result = runner.invoke(app, ["ledger", "serve", "--host", "no-such-host.invalid"])
    assert result.exit_code == 2 and "cannot listen on no-such-host.invalid" in result.output


def test_serves_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, "ledger", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("ledger JSON-RPC at http://127.0.0.1:"), first
        url = first.split()[-1]
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_accounts"}).encode()
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            accounts = json.load(response)["result"]
        mlfo = process.stdout.readline().split()
        assert mlfo == ["MLFO", accounts[0]]
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0, err
    assert "stopped" in out
