"""The NATS bus on the command line: `--bus`, `--bus-ca`, `--bus-keys` of `run`/`demo`,
and `secmas bus keys` / `secmas bus certs`, which make what an external server or cluster
needs to hold a pipeline's agents to their subjects.

Credentials never go on a command line that secmas writes: a `user:password@` or token
in `--bus` (better: in the environment variable SECMAS_BUS_AUTH) reaches the agent
processes through their environment, and report.json shows `***@` in their place.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from secmas.cli.arguments import (
    ForceFileOption,
    JsonOption,
    check_folder,
    check_new_folder,
    check_readable,
)
from secmas.cli.grammar import Typer
from secmas.cli.output import console, errors, fail, line, print_json, say

if TYPE_CHECKING:
    from secmas.pipeline.busaccess import BusAccess
    from secmas.transport.address import BusAddress

BUS_AUTH_ENV = "SECMAS_BUS_AUTH"
"""Where bus credentials may come from instead of `--bus` (`secmas.pipeline.iml`'s, repeated
so that checking `--bus` loads no pipeline; a test keeps the two equal)."""

BusOption = Annotated[
    str | None,
    typer.Option(
        "--bus",
        metavar="URL",
        help="with --processes: a running NATS server or cluster, one URL or a comma-separated "
        "list (nats://HOST:PORT, tls://HOST:PORT; default: start a local one with TLS and nkeys)",
    ),
]
BusCAOption = Annotated[
    Path | None,
    typer.Option(
        "--bus-ca",
        metavar="FILE",
        help="with --bus: the CA (PEM) the servers' certificates chain to (TLS)",
    ),
]
BusKeysOption = Annotated[
    Path | None,
    typer.Option(
        "--bus-keys",
        metavar="DIR",
        help="with --bus: folder of nkey seeds, mlfo.nk and <pop>.nk (see `secmas bus keys`)",
    ),
]
AUTHORIZATION_FILE = "authorization.conf"

bus_app = Typer(help="Keys and certificates for an external NATS server or cluster.")


def register(app: typer.Typer) -> None:
    """Add `bus keys` and `bus certs` to the `secmas` command."""
    app.add_typer(bus_app, name="bus")


def parse_bus(bus: str) -> BusAddress:
    """`--bus` (credentials from SECMAS_BUS_AUTH when the URLs carry none), or exit 2."""
    from secmas.transport.address import BusAddress, BusAddressError

    try:
        address = BusAddress.parse(bus, userinfo=os.environ.get(BUS_AUTH_ENV) or None)
    except BusAddressError as exc:
        raise fail(str(exc)) from None
    if BusAddress.parse(bus).has_credentials:
        errors.print(
            line(
                ("warning", "yellow"),
                " --bus: credentials on a command line are visible to every local user (ps); "
                f"give them in the environment variable {BUS_AUTH_ENV} instead",
            ),
            soft_wrap=True,
        )
    return address


def check_ca(ca: Path | None, option: str = "--bus-ca") -> None:
    """Exit 2 unless `ca` is a readable PEM certificate file."""
    if ca is None:
        return
    from secmas.transport.tls import client_context

    try:
        client_context(ca)
    except ValueError:
        raise fail(f"{option} {ca}: not a readable PEM certificate file") from None


def check_seed(seed: Path | None) -> None:
    """Exit 2 unless `seed` is a usable nkey seed file (present, 0600, a user seed)."""
    if seed is None:
        return
    from secmas.transport.credentials import CredentialError, read_seed

    try:
        read_seed(seed)
    except CredentialError as exc:
        raise fail(f"--bus-key: {exc}") from None


def bus_access(bus: str | None, ca: Path | None, keys: Path | None) -> BusAccess | None:
    """What `run`/`demo` were told about the bus, checked (exit 2 on bad input); None:
    the run starts its own server."""
    if bus is None:
        if ca is not None or keys is not None:
            raise fail("--bus-ca and --bus-keys need --bus (a run's own server needs neither)")
        return None
    address = parse_bus(bus)
    check_ca(ca)
    check_folder(keys, "--bus-keys")
    from secmas.pipeline.busaccess import BusAccess  # the runtime loads with the run

    return BusAccess(address, ca, keys)


OutDirOption = Annotated[
    Path,
    typer.Option("--out", "-o", metavar="DIR", help="folder for the files (created, 0700)"),
]


@bus_app.command("keys")
def keys(
    scenario: Annotated[
        Path, typer.Argument(metavar="SCENARIO", help="the scenario the pipeline runs")
    ],
    out: OutDirOption,
    force: ForceFileOption = False,
    as_json: JsonOption = False,
) -> None:
    """An nkey per client of the scenario's pipeline (mlfo.nk, <pop>.nk, mode 0600) and
    authorization.conf, the users block with each agent's subject permissions, to
    `include` in the servers' configuration; run with --bus ... --bus-keys OUT.

    Example: secmas bus keys scenarios/ddos-6pop.yaml -o nats-keys"""
    check_readable(scenario)
    check_new_folder(force, "--out", out)
    from secmas.pipeline.busaccess import issue_pipeline_users
    from secmas.pipeline.mlfo import pipeline_name
    from secmas.scenario.loader import ScenarioError, load_scenario
    from secmas.transport.broker import authorization

    try:
        loaded = load_scenario(scenario)
    except ScenarioError as exc:
        raise fail(str(exc)) from None
    try:
        users = issue_pipeline_users(out, pipeline_name(loaded.id), [p.id for p in loaded.pops])
        block = json.dumps(authorization(users), indent=1)
        (out / AUTHORIZATION_FILE).write_text(f"authorization: {block}\n", encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write to {out}: {exc.strerror}") from None
    if as_json:
        print_json(
            {
                "folder": out,
                "nkeys": len(users),
                "seeds": sorted(str(p) for p in out.glob("*.nk")),
                "authorization": out / AUTHORIZATION_FILE,
            }
        )
        return
    say(f"{len(users)} nkeys in {out}; server configuration: include {out / AUTHORIZATION_FILE}")


@bus_app.command("certs")
def certs(
    out: OutDirOption,
    server: Annotated[
        list[str],
        typer.Option("--server", metavar="NAME", help="a server's name (repeat for a cluster)"),
    ],
    host: Annotated[
        list[str],
        typer.Option("--host", metavar="HOST", help="an address or DNS name the servers answer on"),
    ],
    force: ForceFileOption = False,
    as_json: JsonOption = False,
) -> None:
    """A new CA and a certificate per server for `host`s (ca.pem, NAME.pem, NAME-key.pem);
    the CA's key is not kept. Clients then run with --bus-ca OUT/ca.pem.

    Example: secmas bus certs -o pki --server n1 --host nats.example"""
    check_new_folder(force, "--out", out)
    from secmas.transport.tls import check_host, check_server_names, issue_run_pki

    try:
        check_server_names(server)
    except ValueError as exc:
        raise fail(f"--server {exc}") from None
    for name in host:
        try:
            check_host(name)
        except ValueError as exc:
            raise fail(f"--host {exc}") from None
    try:
        issued = issue_run_pki(out, server, host)
    except (OSError, ValueError) as exc:
        raise fail(f"cannot issue certificates in {out}: {exc}") from None
    if as_json:
        servers: dict[str, Any] = {
            name: {"cert_file": files.cert_file, "key_file": files.key_file}
            for name, files in issued.items()
        }
        print_json({"folder": out, "ca": out / "ca.pem", "servers": servers})
        return
    for name, files in issued.items():
        console.print(f"{name}: cert_file {files.cert_file}, key_file {files.key_file}")
    say(f"clients: --bus-ca {out / 'ca.pem'}")
