"""`secmas ledger serve`: bad ports exit 2 with a message; a served ledger answers its
token's holders until Ctrl-C, then removes the key files and the token it wrote."""

from __future__ import annotations

import json
import socket
import stat
import urllib.request
from pathlib import Path

import pytest
import typer
from tests.ledgerserve import ledger_serve
from typer.testing import CliRunner

from secmas.cli.ledger import register
from secmas.ledger.accounts import Account
from secmas.ledger.connection import connect
from secmas.ledger.errors import LedgerUnavailable
from secmas.ledger.keyfile import ACCESS_FILES, new_token, read_key_file
from secmas.transport.tls import write_secret

runner = CliRunner()
app = typer.Typer(pretty_exceptions_enable=False)
register(app)


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


def test_serves_until_interrupted(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    with ledger_serve(keys) as served:
        for name in ACCESS_FILES:
            assert stat.S_IMODE((keys / name).stat().st_mode) == 0o600, name
        token = (keys / "token").read_text().strip()
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"}).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        request = urllib.request.Request(served.url, body, headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["result"] == "0x0"
        mlfo = served.line().split()
        assert mlfo == ["MLFO", read_key_file(keys / "mlfo.key").address]
    assert served.returncode == 0, served.err
    assert "stopped" in served.out
    assert not any((keys / name).exists() for name in ACCESS_FILES)


def test_serves_with_the_keys_and_token_it_is_handed(tmp_path: Path) -> None:
    """What a deployment's ledger pod does (`secmas.deploy.ledger`): its MLFO is the key
    handed in, its clients show the token handed in, and it writes nothing."""
    access = tmp_path / "access"
    access.mkdir()
    mlfo, token = Account.create(), new_token()
    contents = (mlfo.key_hex, Account.create().key_hex, token)
    for name, text in zip(ACCESS_FILES, contents, strict=True):
        write_secret(access / name, f"{text}\n".encode())
    with ledger_serve(access, "--access") as served:
        assert served.line().split() == ["MLFO", mlfo.address]
        ledger = connect(served.url, mlfo_key=mlfo.key_hex, secaas_key=mlfo.key_hex, token=token)
        assert ledger.chain.balance(mlfo.address) > 0
        with pytest.raises(LedgerUnavailable, match="HTTP 401"):
            connect(
                served.url, mlfo_key=mlfo.key_hex, secaas_key=mlfo.key_hex, token="x"
            ).chain.balance(mlfo.address)
    assert served.returncode == 0, served.err
    assert sorted(p.name for p in access.iterdir()) == sorted(ACCESS_FILES)
