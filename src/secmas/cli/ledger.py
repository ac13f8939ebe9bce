"""`secmas ledger serve`: the in-process EVM over HTTP JSON-RPC, so that agents and runs in
separate processes share one ledger (`--ledger http://127.0.0.1:8545`) without a node.

The chain's MLFO and SECaaS have fresh random keys, and the server answers only clients
showing its random bearer token: both are written, readable by their owner only, into
the `--out` folder for the run that uses the ledger (`--mlfo-key`, `--secaas-key`,
`SECMAS_LEDGER_TOKEN`), and removed when the server stops. With `--access DIR` the
server takes them from that folder instead (a deployment drew them and hands them to
its clients itself) and writes nothing.

Exit codes as for every `secmas` command: 0 after Ctrl-C, 2 bad input (a port out of range,
one in use, an address that cannot be bound, an `--out` folder holding files without
`--force`, an `--access` folder whose files are missing or not private keys and a token),
with a one-line message.
"""

from __future__ import annotations

import errno
import ipaddress
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from secmas.cli.arguments import ForceFileOption, check_folder, check_new_folder
from secmas.cli.grammar import Typer
from secmas.cli.output import errors, fail, line, say

if TYPE_CHECKING:
    from secmas.ledger.keyfile import LedgerAccess
    from secmas.ledger.rpcserver import LedgerServer

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


def _write_client_files(server: LedgerServer, folder: Path) -> tuple[Path, Path, Path]:
    """The MLFO's and SECaaS's key files and the token file in `folder` (made 0700), each
    0600; exit 2 naming the folder when it cannot be written."""
    from secmas.ledger.keyfile import ACCESS_FILES
    from secmas.transport.tls import write_secret

    paths = tuple(folder / name for name in ACCESS_FILES)
    secrets = (server.mlfo_key, server.secaas_key, server.token)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for path, secret in zip(paths, secrets, strict=True):
            write_secret(path, secret.encode("ascii") + b"\n")
    except OSError as exc:
        raise fail(f"--out {folder}: cannot write the client files ({exc.strerror})") from None
    return paths[0], paths[1], paths[2]


@ledger_app.command("serve")
def serve(
    host: Annotated[
        str,
        typer.Option(
            metavar="HOST",
            help="address to listen on (default loopback only; any other is reached over "
            "plain HTTP, the token in the clear)",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(min=0, max=65535, metavar="PORT", help="TCP port (0: any free port)"),
    ] = 8545,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="folder for the MLFO's and SECaaS's key files and the bearer token, "
            "removed at stop (default $SECMAS_HOME/ledger)",
        ),
    ] = None,
    force: ForceFileOption = False,
    access: Annotated[
        Path | None,
        typer.Option(
            "--access",
            metavar="DIR",
            help="serve with the MLFO's and SECaaS's keys and the token in this folder "
            "(mlfo.key, secaas.key, token; each mode 0600) instead of fresh ones; "
            "nothing is written",
        ),
    ] = None,
) -> None:
    """Serve a fresh in-process EVM over HTTP JSON-RPC until Ctrl-C, to clients showing
    its bearer token; runs then take --ledger http://127.0.0.1:8545 with the key files
    and the token it writes.

    Example: secmas ledger serve --port 8545"""
    from secmas.ledger.rpcserver import LedgerServer  # py-evm loads only here
    from secmas.trust.keys import secmas_home

    given = _given_access(access, out, force)
    folder = secmas_home() / "ledger" if out is None else out
    if given is None:
        check_new_folder(force, "--out", folder)  # another server's files, left by a crash
    server = LedgerServer(host, port, access=given)
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
            *_clients(server, folder if given is None else None),
        ):
            say(text)
        if not _is_loopback(host):
            errors.print(
                line(
                    ("warning", "yellow"),
                    f" listening on {host} over plain HTTP: the bearer token and the "
                    "requests cross the network in the clear",
                ),
                soft_wrap=True,
            )
        threading.Event().wait()
    except KeyboardInterrupt:
        say("stopped")
    finally:
        server.stop()
        if given is None:
            _remove_client_files(folder)


def _given_access(access: Path | None, out: Path | None, force: bool) -> LedgerAccess | None:
    """The keys and token of `--access`, read and checked (exit 2 naming the file), or
    None: the server draws its own."""
    if access is None:
        return None
    if out is not None or force:
        raise fail("--access: the server writes no files then; drop --out and --force")
    check_folder(access, "--access")
    from secmas.ledger.keyfile import KeyFileError, read_access

    try:
        return read_access(access)
    except KeyFileError as exc:
        raise fail(f"--access: {exc}") from None


def _clients(server: LedgerServer, folder: Path | None) -> tuple[str, str]:
    """How clients reach the server, after writing their files into `folder` (None: they
    were handed theirs by whoever drew them)."""
    from secmas.ledger.rpcnode import LEDGER_TOKEN_ENV  # web3's helpers load only here

    if folder is None:
        return (
            f"clients: --ledger {server.url} with the keys and token of --access",
            "Ctrl-C stops it",
        )
    mlfo_file, secaas_file, token_file = _write_client_files(server, folder)
    return (
        f'clients: {LEDGER_TOKEN_ENV}="$(cat {token_file})" … --ledger {server.url} '
        f"--mlfo-key {mlfo_file} --secaas-key {secaas_file}",
        "Ctrl-C stops it (and removes the key files and the token)",
    )


def _remove_client_files(folder: Path) -> None:
    from secmas.ledger.keyfile import ACCESS_FILES

    for name in ACCESS_FILES:
        (folder / name).unlink(missing_ok=True)
