"""The NATS bus against a real nats-server: what only a network bus has (several
clients, big and many messages, restarts, unreachable servers). The contract it shares
with the memory bus is checked on both in `test_bus_contract.py`."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterator

import pytest
from tests.conftest import until

from secmas.listenport import free_port
from secmas.transport import (
    Bus,
    MemoryBus,
    NoResponders,
)
from secmas.transport import broker as broker_module
from secmas.transport.broker import MISSING_BINARY, NatsServer, find_nats_server
from secmas.transport.nats import BusUnavailable, NatsBus

if find_nats_server() is None:
    pytest.skip(f"NATS bus tests need a server: {MISSING_BINARY}", allow_module_level=True)

Connect = Callable[[], Awaitable[Bus]]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 300))


@pytest.fixture(scope="module")
def server() -> Iterator[NatsServer]:
    with NatsServer() as running:
        yield running


@pytest.fixture(params=["memory", "nats"])
def connect(request: pytest.FixtureRequest, server: NatsServer) -> Connect:
    if request.param == "memory":

        async def memory() -> Bus:
            return MemoryBus()

        return memory
    return lambda: NatsBus.connect(server.url, name=request.node.name)


async def nothing(subject: str, data: bytes) -> None:
    return None


def test_clients_are_isolated_in_counters_failures_and_lifetime(server: NatsServer, caplog):
    async def scenario():
        a = await NatsBus.connect(server.url, name="a")
        b = await NatsBus.connect(server.url, name="b")
        got: list[bytes] = []

        async def picky(subject: str, data: bytes) -> bytes:
            if data == b"bad":
                raise ValueError("b's bug")
            got.append(data)
            return b"ok:" + data

        await b.subscribe("iso.svc", picky)
        for data in (b"1", b"bad", b"2"):
            await a.publish("iso.svc", data)
        assert await a.request("iso.svc", b"3", timeout=1) == b"ok:3"
        await a.flush()
        await until(lambda: len(got) == 3)
        await b.close()
        with pytest.raises(NoResponders):  # b's subscription went with b
            await a.request("iso.svc", b"4", timeout=1)
        await a.publish("iso.svc", b"still open")
        await a.close()
        return a.stats, b.stats, got

    with caplog.at_level(logging.ERROR, logger="secmas.transport"):
        a_stats, b_stats, got = run(scenario())
    assert got == [b"1", b"2", b"3"]
    assert (a_stats.messages_published, a_stats.messages_delivered) == (6, 0)
    assert a_stats.handler_errors == 0
    assert (b_stats.messages_delivered, b_stats.handler_errors) == (4, 1)
    assert b_stats.messages_published == 1  # its answer to the one request


def test_one_megabyte_messages_round_trip_and_bigger_ones_are_refused(server: NatsServer):
    async def scenario():
        a = await NatsBus.connect(server.url, name="a")
        b = await NatsBus.connect(server.url, name="b")

        async def reverse(subject: str, data: bytes) -> bytes:
            return data[::-1]

        await b.subscribe("big.reverse", reverse)
        payload = os.urandom(1_000_000)
        answer = await a.request("big.reverse", payload, timeout=5)
        with pytest.raises(ValueError, match="limit"):
            await a.publish("big.reverse", bytes(a.max_payload + 1))
        await a.close()
        await b.close()
        return payload, answer

    payload, answer = run(scenario())
    assert answer == payload[::-1]


def test_ten_thousand_messages_arrive_in_publish_order(server: NatsServer):
    async def scenario():
        a = await NatsBus.connect(server.url, name="a")
        b = await NatsBus.connect(server.url, name="b")
        got: list[int] = []

        async def collect(subject: str, data: bytes) -> None:
            got.append(int(data))

        await b.subscribe("bulk.*", collect)
        for n in range(10_000):
            await a.publish("bulk.seq", b"%d" % n)
        await a.flush()
        await until(lambda: len(got) >= 10_000)
        await a.close()
        await b.close()
        return got, b.dropped

    got, dropped = run(scenario())
    assert got == list(range(10_000)) and dropped == 0


def test_a_flush_cancelled_before_its_pong_leaves_the_connection_reading(
    server: NatsServer, caplog
):
    """A signal or timeout can cancel a flush between its PING and the PONG: the PONG
    must not fail nats-py's reading loop (it would log a traceback and go deaf)."""

    async def scenario():
        a = await NatsBus.connect(server.url, name="a")
        b = await NatsBus.connect(server.url, name="b")
        got: list[bytes] = []

        async def collect(subject: str, data: bytes) -> None:
            got.append(data)

        await b.subscribe("after.cancel", collect)
        await b.flush()
        for turns in range(20):  # cancelled at successive points, some between PING and PONG
            flushing = asyncio.ensure_future(b.flush())
            for _ in range(turns):
                await asyncio.sleep(0)
            flushing.cancel()
            await asyncio.gather(flushing, return_exceptions=True)
        await a.publish("after.cancel", b"heard")
        await a.flush()
        await until(lambda: got == [b"heard"])
        await b.flush()
        await a.close()
        await b.close()

    with caplog.at_level(logging.DEBUG, logger="nats"):
        run(scenario())
    failures = [
        r for r in caplog.records if r.name.startswith("nats") and r.levelno >= logging.ERROR
    ]
    assert failures == []


# --- the server goes away ------------------------------------------------------------------


def test_a_restarted_server_is_reconnected_to_and_traffic_resumes(caplog):
    async def scenario():
        async with NatsServer() as broker:
            fast = {"reconnect_wait": 0.05}
            responder = await NatsBus.connect(broker.url, name="responder", **fast)
            client = await NatsBus.connect(broker.url, name="client", **fast)
            mine: list[bytes] = []

            async def echo(subject: str, data: bytes) -> bytes:
                return data

            async def own(subject: str, data: bytes) -> None:
                mine.append(data)

            await responder.subscribe("svc.echo", echo)
            await client.subscribe("own.box", own)
            before = await client.request("svc.echo", b"before", timeout=1)
            await asyncio.to_thread(broker.stop)
            await until(lambda: client.disconnects == 1 and responder.disconnects == 1)
            await client.publish("own.box", b"buffered while down")
            await asyncio.to_thread(broker.start)  # same port
            await until(lambda: client.reconnects == 1 and responder.reconnects == 1)
            after = await client.request("svc.echo", b"after", timeout=1)
            await until(lambda: mine == [b"buffered while down"])
            counts = (client.disconnects, client.reconnects, client.connected)
            await client.close()
            await responder.close()
            return before, after, counts

    with caplog.at_level(logging.WARNING, logger="secmas.transport"):
        before, after, counts = run(scenario())
    assert (before, after) == (b"before", b"after")
    assert counts == (1, 1, True)
    assert "lost; reconnecting" in caplog.text and "restored after" in caplog.text


def test_a_server_that_stays_away_makes_the_bus_unavailable():
    async def scenario():
        async with NatsServer() as broker:
            bus = await NatsBus.connect(broker.url, reconnect_wait=0.05, max_reconnects=2)
            await bus.subscribe("svc", nothing)  # a responder that never answers
            pending = asyncio.ensure_future(bus.request("svc", b"?", timeout=5))
            await asyncio.sleep(0.05)
        # the request fails as the bus gives up, not as its own 5 s timeout (TimeoutError)
        with pytest.raises(BusUnavailable, match="while waiting for a reply"):
            await pending
        with pytest.raises(BusUnavailable, match=r"gave up after 2 reconnect attempts"):
            await bus.publish("svc", b"x")
        await bus.close()

    run(scenario())


def test_connecting_where_no_server_listens_fails_naming_the_url():
    url = f"nats://127.0.0.1:{free_port()}"
    with pytest.raises(BusUnavailable, match=url):
        run(NatsBus.connect(url))


def test_the_server_process_is_reaped_and_a_missing_binary_is_explained():
    broker = NatsServer().start()
    pid = broker.pid
    assert pid is not None and broker.url == f"nats://127.0.0.1:{broker.port}"
    broker.stop()
    broker.stop()  # twice is harmless
    assert not broker.running
    with pytest.raises(ProcessLookupError):  # reaped: not even a zombie is left
        os.kill(pid, 0)
    with pytest.raises(FileNotFoundError, match="apt-get install nats-server"):
        NatsServer(binary="nats-server-that-is-not-installed").start()


@pytest.mark.parametrize("port", ["client", "monitor"])
def test_a_port_taken_between_pick_and_bind_is_picked_again(
    port: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process binds the port the server picked before the server does: the
    server starts on a port picked again. A port the caller gave is not changed."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        picks = iter([taken] if port == "client" else [free_port(), taken])  # client first
        monkeypatch.setattr(broker_module, "free_port", lambda host: next(picks, free_port(host)))
        with NatsServer(monitor=True) as server:
            used = server.port if port == "client" else server.monitor_port
            assert used != taken and server.running
        with pytest.raises(RuntimeError, match="address already in use"):
            NatsServer(port=taken).start()
