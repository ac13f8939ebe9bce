"""A verifier's handle on the host measurer (`MeasurerClient`): how long it waits, and
that a measurer that does not answer is reported as down, not as evidence against the
process it was asked about.

The peers here are real Unix sockets that misbehave as a stopped, a dying or a missing
measurer does; the real service stopped with SIGSTOP is in
`tests/security/test_liveness_stops.py`.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secmas.scenario.model import Attestation
from secmas.trust.deadlines import Deadlines
from secmas.trust.measurer import MeasurerError
from secmas.trust.measurer_service import NOT_ANSWERING, MeasurerClient, MeasurerDown

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
NONCE = bytes(32)


@asynccontextmanager
async def peer(handle: Handler) -> AsyncIterator[MeasurerClient]:
    """A client of a Unix socket served by `handle`, waiting 0.2 s at most."""
    with tempfile.TemporaryDirectory(prefix="secmas-client-") as folder:
        socket = Path(folder) / "measurer.sock"
        server = await asyncio.start_unix_server(handle, path=str(socket))
        key = Ed25519PrivateKey.generate().public_key()
        async with server:
            yield MeasurerClient(socket, key, Deadlines.bounded(0.1, 0.2))


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads the request and never answers (a stopped or hung measurer) until the asker
    hangs up."""
    await reader.read()


async def hangs_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads the request and closes without a word (a measurer dying mid-request)."""
    await reader.readline()
    writer.close()


async def refuses(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers with an error, as the service does for a process it cannot read."""
    await reader.readline()
    writer.write(b'{"error": "cannot read process 1"}\n')
    await writer.drain()
    writer.close()


def test_a_measurer_that_does_not_answer_is_down_within_its_wait() -> None:
    async def main() -> None:
        async with peer(silent) as client:
            assert client.deadlines.wait(str(client.socket)) == 0.2
            with pytest.raises(MeasurerDown, match=f"{NOT_ANSWERING} .* in 0.2 s"):
                await client.measure(1, NONCE)

    asyncio.run(main())


def test_a_measurer_that_hangs_up_or_is_gone_is_down() -> None:
    async def main() -> None:
        async with peer(hangs_up) as client:
            with pytest.raises(MeasurerDown, match="closed without an answer"):
                await client.measure(1, NONCE)
        with pytest.raises(MeasurerDown, match="unreachable"):  # its socket is gone
            await client.measure(1, NONCE)

    asyncio.run(main())


def test_an_error_from_the_measurer_is_not_its_being_down() -> None:
    async def main() -> None:
        async with peer(refuses) as client:
            with pytest.raises(MeasurerError, match="cannot read process 1") as raised:
                await client.measure(1, NONCE)
            assert not isinstance(raised.value, MeasurerDown)

    asyncio.run(main())


def test_a_client_waits_one_default_period_before_the_first_answer() -> None:
    key = Ed25519PrivateKey.generate().public_key()
    client = MeasurerClient(Path("measurer.sock"), key)
    assert client.deadlines.wait(str(client.socket)) == Attestation().period


def test_a_measurement_asked_from_a_worker_thread_walks_no_other_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`measure_now` (and `check_now`) serve worker threads of a process whose own loop
    holds every agent's tasks: `asyncio.run`'s end walked all of them at each call, most of
    a check's cost in a process of a thousand agents."""
    served = asyncio.new_event_loop()
    thread = threading.Thread(target=served.run_forever, daemon=True)
    thread.start()
    with tempfile.TemporaryDirectory(prefix="secmas-client-") as folder:
        socket = Path(folder) / "measurer.sock"
        start = asyncio.start_unix_server(refuses, path=str(socket))
        server = asyncio.run_coroutine_threadsafe(start, served).result(5)
        client = MeasurerClient(socket, Ed25519PrivateKey.generate().public_key())

        def walked(loop: object = None) -> set[object]:
            raise AssertionError("walked every task of the process")

        monkeypatch.setattr(asyncio.tasks, "all_tasks", walked)
        try:
            with pytest.raises(MeasurerError, match="cannot read process 1"):
                client.measure_now(1, NONCE)
        finally:
            monkeypatch.undo()
            served.call_soon_threadsafe(server.close)
            served.call_soon_threadsafe(served.stop)
            thread.join(5)
            served.close()
