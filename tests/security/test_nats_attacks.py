"""Attacks on the NATS bus of a multi-process run, by someone who can reach its servers.

The run's server is set up as `secmas run --processes` sets it up
(`secmas.pipeline.busaccess.issue_run_bus`): TLS with a per-run CA, one nkey per client,
agents held to the subjects of their own role. Mallory can open TCP connections to it,
sit in the path between a client and the server, and may hold one agent's key (a
compromised agent). Each test is one of her attempts; each must fail."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from tests.conftest import until

from secmas.agents.board import board_subject
from secmas.agents.nfva.subjects import SPACE
from secmas.listenport import free_port
from secmas.pipeline.agent_process import ready_subject, start_subject, tick_subject
from secmas.pipeline.busaccess import BusAccess, RunBus, issue_run_bus
from secmas.pipeline.membership import rekey_subject, stop_subject, welcome_subject
from secmas.transport.address import BusAddress
from secmas.transport.broker import (
    MISSING_BINARY,
    ClusterPeer,
    NatsCluster,
    NatsServer,
    find_nats_server,
)
from secmas.transport.nats import TLS_NOT_OFFERED, BusUnavailable, NatsBus
from secmas.transport.tls import issue_run_pki
from secmas.trust.chain import attest_subject
from secmas.trust.control import MLFO
from secmas.trust.liveness import heartbeat_subject
from secmas.trust.verification import verify_subject

if find_nats_server() is None:
    pytest.skip(f"NATS attacks need a server: {MISSING_BINARY}", allow_module_level=True)

PIPELINE = "ddos-p"
AGENTS = ["pop1", "pop2", "pop3"]
SECRET = b"the-plaintext-mallory-wants"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 300))


@dataclass
class RunBroker:
    run_bus: RunBus
    server: NatsServer
    access: BusAccess
    folder: Path


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunBroker]:
    folder = tmp_path_factory.mktemp("run") / "bus"
    run_bus = issue_run_bus(folder, PIPELINE, AGENTS)
    with NatsServer(tls=run_bus.certificate, users=run_bus.users) as server:
        access = replace(run_bus.access, address=BusAddress.parse(server.url))
        yield RunBroker(run_bus, server, access, folder)


async def _collect(bus: NatsBus, subject: str) -> list[tuple[str, bytes]]:
    got: list[tuple[str, bytes]] = []

    async def keep(s: str, data: bytes) -> None:
        got.append((s, data))

    await bus.subscribe(subject, keep)
    return got


# -- connecting ---------------------------------------------------------------------------
def test_a_client_without_a_key_is_refused(broker: RunBroker) -> None:
    with pytest.raises(BusUnavailable, match="refused the credentials"):
        run(NatsBus.connect(broker.access.address, ca_file=broker.access.ca_file))


def test_a_key_the_run_did_not_issue_is_refused(broker: RunBroker, tmp_path: Path) -> None:
    stranger = issue_run_bus(tmp_path, PIPELINE, AGENTS).access.nkey("pop1")
    with pytest.raises(BusUnavailable, match="refused the credentials"):
        run(
            NatsBus.connect(
                broker.access.address, ca_file=broker.access.ca_file, nkey_file=stranger
            )
        )


def test_plain_text_to_the_tls_server_gets_nowhere(broker: RunBroker) -> None:
    """Mallory speaks the NATS protocol in clear, ignoring the server's TLS demand."""
    with socket.create_connection(("127.0.0.1", broker.server.port), timeout=5) as raw:
        info = raw.recv(4096)
        assert b'"tls_required":true' in info
        raw.sendall(b'CONNECT {"verbose":false}\r\nPING\r\nSUB > 1\r\n')
        answer = b""
        try:
            while chunk := raw.recv(4096):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    assert b"PONG" not in answer and b"MSG" not in answer


def test_an_impostor_server_with_another_ca_is_refused(broker: RunBroker, tmp_path: Path) -> None:
    """Mallory runs her own server (her own CA) where the clients look for the run's."""
    forged = issue_run_pki(tmp_path, ["nats"])["nats"]
    with NatsServer(tls=forged) as impostor, pytest.raises(BusUnavailable, match="not trusted"):
        run(
            NatsBus.connect(
                impostor.url,
                ca_file=broker.access.ca_file,
                nkey_file=broker.access.nkey(MLFO),
            )
        )


class StrippingServer:
    """Mallory in the path: she answers like a NATS server that does not offer TLS (the
    `tls_required` flag removed from INFO) and records whatever the client sends."""

    def __init__(self) -> None:
        self.received = b""
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        info = {"server_id": "x", "version": "2.9.10", "auth_required": True, "nonce": "abc"}
        writer.write(b"INFO " + json.dumps(info).encode() + b"\r\n")
        await writer.drain()
        try:
            while data := await reader.read(4096):
                self.received += data
                if b"PING" in data:
                    writer.write(b"PONG\r\n")
                    await writer.drain()
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


def test_tls_stripping_gets_no_credentials(broker: RunBroker) -> None:
    async def attempt() -> bytes:
        mallory = StrippingServer()
        port = await mallory.start()
        try:
            with pytest.raises(BusUnavailable, match=TLS_NOT_OFFERED):
                await NatsBus.connect(
                    f"tls://agent:hunter2@127.0.0.1:{port}",
                    ca_file=broker.access.ca_file,
                    nkey_file=broker.access.nkey("pop1"),
                )
        finally:
            await mallory.stop()
        return mallory.received

    received = run(attempt())
    assert b"CONNECT" not in received and b"hunter2" not in received and b"sig" not in received


class WireTap:
    """Mallory relays a client's TCP connection to the server and keeps a copy."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.seen = b""
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    self.seen += data
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()


def test_a_wire_tap_sees_neither_messages_nor_keys(broker: RunBroker) -> None:
    async def tapped() -> tuple[bytes, list[tuple[str, bytes]]]:
        tap = WireTap(broker.server.port)
        port = await tap.start()
        access = broker.access
        via_tap = f"tls://127.0.0.1:{port}"
        mlfo = await NatsBus.connect(via_tap, ca_file=access.ca_file, nkey_file=access.nkey(MLFO))
        agent = await access.connect("pop1", "pop1")
        try:
            got = await _collect(agent, start_subject(PIPELINE))
            await mlfo.publish(start_subject(PIPELINE), SECRET)
            await until(lambda: len(got) == 1)
        finally:
            await mlfo.close()
            await agent.close()
            await tap.stop()
        return tap.seen, got

    seen, got = run(tapped())
    seed = broker.access.nkey(MLFO).read_bytes().strip()
    assert got == [(start_subject(PIPELINE), SECRET)]
    assert len(seen) > 1000  # the tap did carry the session
    assert SECRET not in seen and seed not in seen and start_subject(PIPELINE).encode() not in seen


# -- a compromised agent -------------------------------------------------------------------
FORGED = [
    ready_subject(PIPELINE, "pop2"),
    heartbeat_subject(PIPELINE, "pop2"),
    board_subject("pop2", f"{SPACE}.{PIPELINE}"),
    start_subject(PIPELINE),
    tick_subject(PIPELINE),
    welcome_subject(PIPELINE, "pop2"),
    rekey_subject(PIPELINE, "pop2"),
    stop_subject(PIPELINE, "pop2"),
    verify_subject(PIPELINE, "pop2"),
    ready_subject("other-pipeline", "pop1"),
    "secmas.anything.else",
]


def test_an_agent_cannot_publish_as_another_agent_or_as_the_mlfo(broker: RunBroker) -> None:
    """Mallory holds pop1's key: she announces, heartbeats and speaks for pop2 and for the
    MLFO. The server drops every such message: nobody receives it."""

    async def attack() -> tuple[list[tuple[str, bytes]], dict[str, int]]:
        mlfo = await broker.access.connect(MLFO, "mlfo")
        mallory = await broker.access.connect("pop1", "mallory")
        try:
            got = await _collect(mlfo, ">")
            for subject in FORGED:
                await mallory.publish(subject, b"forged")
            await mallory.publish(ready_subject(PIPELINE, "pop1"), b"genuine")
            await mallory.flush()
            await until(lambda: any(d == b"genuine" for _, d in got))
            await mlfo.flush()
            await until(lambda: len(mallory.denied) == len(FORGED))
        finally:
            await mallory.close()
            await mlfo.close()
        return got, mallory.denied

    got, denied = run(attack())
    assert [(s, d) for s, d in got if not s.startswith("_INBOX.")] == [
        (ready_subject(PIPELINE, "pop1"), b"genuine")
    ]
    assert set(denied) == set(FORGED)


STOLEN = [
    welcome_subject(PIPELINE, "pop2"),
    rekey_subject(PIPELINE, "pop2"),
    stop_subject(PIPELINE, "pop2"),
    attest_subject(PIPELINE, "pop2"),
    verify_subject(PIPELINE, "pop2"),
    f"nfva.{PIPELINE}.agent.pop2",
    heartbeat_subject(PIPELINE),
    f"secmas.join.{PIPELINE}",
    "secmas.>",
    ">",
]


@pytest.mark.parametrize("subject", STOLEN)
def test_an_agent_cannot_read_or_answer_what_is_for_another(
    broker: RunBroker, subject: str
) -> None:
    async def attack() -> None:
        mallory = await broker.access.connect("pop1", "mallory")
        try:
            with pytest.raises(PermissionError, match="refuses"):
                await mallory.subscribe(subject, _ignore)
        finally:
            await mallory.close()

    run(attack())


async def _ignore(_subject: str, _data: bytes) -> None:
    return None


# -- the cluster ---------------------------------------------------------------------------
def test_a_rogue_server_cannot_join_the_cluster(tmp_path: Path) -> None:
    """Mallory starts her own nats-server routed to a cluster node's route port, hoping to
    inject the MLFO's broadcasts: without a certificate of the run's CA the route is
    refused, and nothing she publishes reaches the cluster's clients."""
    names = ["n1", "n2", "n3"]
    pki = issue_run_pki(tmp_path / "pki", names)
    run_bus = issue_run_bus(tmp_path / "keys", PIPELINE, AGENTS)
    with NatsCluster(3, tls=pki, users=run_bus.users) as cluster:
        target = cluster.servers[0].cluster
        assert target is not None
        rogue = NatsServer(
            cluster=ClusterPeer(free_port(), (target.port,)), name="rogue", monitor=True
        )
        with rogue:
            ca = pki["n1"].ca_file

            async def inject() -> list[tuple[str, bytes]]:
                agent = await NatsBus.connect(
                    cluster.urls[1], ca_file=ca, nkey_file=run_bus.access.nkey("pop2")
                )
                mallory = await NatsBus.connect(rogue.url)
                try:
                    got = await _collect(agent, start_subject(PIPELINE))
                    deadline = time.monotonic() + 1.0
                    while time.monotonic() < deadline:
                        await mallory.publish(start_subject(PIPELINE), b"forged start")
                        await asyncio.sleep(0.05)
                    await agent.flush()
                finally:
                    await mallory.close()
                    await agent.close()
                return got

            assert run(inject()) == []
            assert NatsCluster.routes(rogue) == 0
            assert all(NatsCluster.routes(s) == 2 for s in cluster.servers)


def test_the_run_ca_key_is_never_on_disk_and_keys_are_owner_only(broker: RunBroker) -> None:
    files = {p.name: p.stat().st_mode & 0o777 for p in broker.folder.iterdir()}
    secrets = {n: m for n, m in files.items() if n.endswith(("-key.pem", ".nk"))}
    assert set(secrets) == {"nats-key.pem", "mlfo.nk", *(f"{a}.nk" for a in AGENTS)}
    assert all(mode == 0o600 for mode in secrets.values())
    assert broker.folder.stat().st_mode & 0o777 == 0o700
    for path in broker.folder.iterdir():  # no private key of the CA among them
        text = path.read_bytes()
        if b"PRIVATE KEY" in text:
            assert path.name == "nats-key.pem"
    ssl.create_default_context(cafile=str(broker.access.ca_file))  # a usable CA file
