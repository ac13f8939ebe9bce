"""`secmas ledger serve`: the in-process EVM over HTTP JSON-RPC, so that agents and runs in
separate processes share one ledger (`--ledger http://127.0.0.1:8545`) without a node.

Exit codes as for every `secmas` command: 0 after Ctrl-C, 2 bad input (a port out of range,
one in use, an address that cannot be bound), with a one-line message.
"""

from __future__ import annotations

import errno
import ipaddress
import threading
from typing import Annotated

import typer

from secmas.cli.grammar import Typer
from secmas.cli.output import errors, fail, line, say

ledger_app = Typer(help="A shared development ledger for separate processes.")


def register(app: typer.Typer) -> None:
    """Add `ledger serve` to the `secmas` command."""
    app.add_typer(ledger_app, name="ledger")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        return False


@ledger_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(metavar="HOST", help="address to listen on")] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(min=0, max=65535, metavar="PORT", help="TCP port (0: any free port)"),
    ] = 8545,
) -> None:
    """Serve a fresh in-process EVM over HTTP JSON-RPC until Ctrl-C; runs and agents then
    take --ledger http://127.0.0.1:8545.

    Example: secmas ledger serve --port 8545"""
    from secmas.ledger.rpcserver import LedgerServer  # py-evm loads only here

    server = LedgerServer(host, port)
    try:
        server.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise fail(f"port {port} on {host} is already in use") from None
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        for text in (
            f"ledger JSON-RPC at {server.url}",
            f"MLFO    {server.mlfo.address}",
            f"SECaaS  {server.secaas.address}",
            f"clients: --ledger {server.url} (the server signs for the MLFO and the SECaaS)",
            "Ctrl-C stops it",
        ):
            say(text)
        if not _is_loopback(host):
            errors.print(
                line(
                    ("warning", "yellow"),
                    f" listening on {host}: whoever reaches it can act as the MLFO and the "
                    "SECaaS (their keys are public test keys)",
                ),
                soft_wrap=True,
            )
        threading.Event().wait()
    except KeyboardInterrupt:
        say("stopped")
    finally:
        server.stop()
