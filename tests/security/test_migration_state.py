"""Attacks on a migrating CNF's state transfer (`kvcnf`): a peer without the run's token
gets nothing, and a forged source cannot make a destination take a malformed state.

The instances run in this process on loopback (no emulated network needed): the transfer
endpoint and the pull are the same code a move uses between PoP namespaces."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from secmas.network.emulation.kvcnf import Instance, InstanceConfig
from secmas.network.emulation.kvstate import StateError

LOOPBACK = "127.0.0.1"


def config(tmp_path: Path, name: str, token: str, sessions: int) -> InstanceConfig:
    return InstanceConfig(
        name=name,
        address=LOOPBACK,
        pop_address=LOOPBACK,
        control=str(tmp_path / f"{name}.sock"),
        token=token,
        sessions=sessions,
        value_bytes=64,
    )


async def raw_request(port: int, line: bytes) -> bytes:
    """What the transfer endpoint answers an adversary's request line."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    writer.write(line)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_a_peer_without_the_token_gets_no_state(tmp_path: Path) -> None:
    async def attack() -> tuple[bytes, bytes, bytes]:
        source = Instance(config(tmp_path, "src", "the-run-token", sessions=5))
        await source.open_transfer()
        port = source.transfer_port
        wrong = await raw_request(port, json.dumps({"token": "guess", "since": 0}).encode() + b"\n")
        empty = await raw_request(port, json.dumps({"token": "", "since": 0}).encode() + b"\n")
        garbage = await raw_request(port, b"\x00\xff not json\n")
        return wrong, empty, garbage

    assert run(attack()) == (b"", b"", b"")


def test_the_rightful_destination_gets_the_whole_state(tmp_path: Path) -> None:
    async def pull() -> tuple[str, str]:
        source = Instance(config(tmp_path, "src", "t0k3n", sessions=20))
        await source.open_transfer()
        destination = Instance(config(tmp_path, "dst", "t0k3n", sessions=0))
        await destination.pull(f"{LOOPBACK}:{source.transfer_port}", 0)
        return source.store.digest(), destination.store.digest()

    source, destination = run(pull())
    assert source == destination


ForgedSource = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def forged(frame: bytes) -> ForgedSource:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(frame)
        await writer.drain()
        writer.close()

    return answer


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (
            b'{"since": 0, "version": 1, "entries": 1, "deleted": []}\n'
            + (1 << 30).to_bytes(4, "big")
            + (0).to_bytes(4, "big"),
            StateError,
        ),
        (b'{"since": 9, "version": 1, "entries": 0, "deleted": []}\n', StateError),
        (b'{"since": 0, "version": 1, "entries": 3, "deleted": []}\n', asyncio.IncompleteReadError),
    ],
    ids=["oversized record", "version going back", "fewer records than announced"],
)
def test_a_forged_source_cannot_plant_a_malformed_state(
    tmp_path: Path, frame: bytes, error: type[BaseException]
) -> None:
    async def pull() -> dict[str, bytes]:
        server = await asyncio.start_server(forged(frame), LOOPBACK, 0)
        port = server.sockets[0].getsockname()[1]
        destination = Instance(config(tmp_path, "dst", "t", sessions=0))
        with pytest.raises(error):
            await destination.pull(f"{LOOPBACK}:{port}", 0)
        server.close()
        return destination.store.values

    assert run(pull()) == {}


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b'{"version": 3}\n', StateError),
        (b'{"version": 3, "changed": 7, "deleted": []}\n', StateError),
        (b"not json\n", ValueError),
    ],
    ids=["names missing", "names not a list", "not json"],
)
def test_a_forged_source_cannot_start_a_post_copy_with_bad_metadata(
    tmp_path: Path, line: bytes, error: type[BaseException]
) -> None:
    async def lazy() -> tuple[bool, dict[str, bytes]]:
        server = await asyncio.start_server(forged(line), LOOPBACK, 0)
        port = server.sockets[0].getsockname()[1]
        destination = Instance(config(tmp_path, "dst", "t", sessions=0))
        with pytest.raises(error):
            await destination.serve_lazy(f"{LOOPBACK}:{port}", 0, 0)
        server.close()
        return destination.service is not None, destination.store.values

    assert run(lazy()) == (False, {})  # it never started serving
