"""Fixtures for the attacks on the trust layer: agent images of their own (so tampering
touches one agent only and measurements do not depend on the rest of the tree), and the
buses an adversary sits on (in memory, or a real nats-server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from secmas.transport.broker import MISSING_BINARY, NatsServer, find_nats_server
from secmas.transport.bus import Bus
from secmas.transport.memory import MemoryBus
from secmas.transport.nats import NatsBus

BusPair = Callable[[], Any]
"""An async context manager giving (the pipeline's bus, the adversary's bus)."""


def run(coro: Awaitable[Any], timeout: float = 120.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture(scope="module")
def nats_url() -> Iterator[str]:
    if find_nats_server() is None:
        pytest.skip(f"attacks over NATS need a server: {MISSING_BINARY}")
    with NatsServer() as server:
        yield server.url


@asynccontextmanager
async def memory_buses() -> AsyncIterator[tuple[Bus, Bus]]:
    """One in-memory bus: the adversary is another client of it."""
    bus = MemoryBus()
    try:
        yield bus, bus
    finally:
        await bus.close()


def nats_buses(url: str) -> BusPair:
    """Two connections to one nats-server: the pipeline's, and the adversary's."""

    @asynccontextmanager
    async def buses() -> AsyncIterator[tuple[Bus, Bus]]:
        mine = await NatsBus.connect(url, name="pipeline")
        theirs = await NatsBus.connect(url, name="adversary")
        try:
            yield mine, theirs
        finally:
            await theirs.close()
            await mine.close()

    return buses


@pytest.fixture(params=["memory", "nats"])
def buses(request: pytest.FixtureRequest) -> BusPair:
    if request.param == "memory":
        return memory_buses
    return nats_buses(request.getfixturevalue("nats_url"))


@pytest.fixture
def images_dir(tmp_path: Path) -> Path:
    return tmp_path
