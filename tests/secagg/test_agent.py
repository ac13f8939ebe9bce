"""Secure aggregation among agents over the bus: in one process on the in-memory bus,
and between agent processes (`python -m secmas.secagg.agent`) over a real nats-server,
the server reading the exact sum of the quantised inputs; an agent process that has
left is a dropout the protocol recovers from; and through the secure channel."""

from __future__ import annotations

import asyncio
import json
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tests.transport.channel_members import Clock, Registered, identity

from secmas.secagg.agent import ClientAgent, agent_input, aggregate_over_bus, main
from secmas.secagg.errors import ThresholdError
from secmas.secagg.messages import Config
from secmas.secagg.session import Identities, make_config
from secmas.transport.broker import MISSING_BINARY, NatsServer, find_nats_server
from secmas.transport.channel import SecureBus
from secmas.transport.memory import MemoryBus
from secmas.transport.nats import NatsBus
from secmas.trust.linkkeys import EpochKeyring


def expected(config: Config, seed: int, clients: tuple[int, ...]) -> np.ndarray:
    q = config.quantiser
    return sum(q.quantise(agent_input(seed, c, config)).values for c in clients)  # type: ignore[return-value]


def test_agents_on_the_memory_bus_sum_exactly_and_an_absent_one_is_a_dropout() -> None:
    async def scenario() -> None:
        bus = MemoryBus()
        people = Identities.generate(range(6))
        config, _ = make_config(range(6), 300)
        agents = [
            ClientAgent(
                bus, c, people.keys[c], people.envelopes, lambda k, c=c: agent_input(5, c, k)
            )
            for c in range(5)  # client 5 never shows up
        ]
        for agent in agents:
            await agent.start()
        result = await aggregate_over_bus(
            bus, config, people.server, people.directory, round_timeout=0.5
        )
        assert result.answered == [(0, 1, 2, 3, 4)] * 5
        assert result.aggregate.survivors == (0, 1, 2, 3, 4)
        assert np.array_equal(result.aggregate.integers, expected(config, 5, (0, 1, 2, 3, 4)))
        assert result.refused == [] and all(a.refused == [] for a in agents)
        assert result.bytes_sent > 0 and result.bytes_received > 0
        # below the threshold the server stops with the reason, no sum
        for agent in agents[1:]:
            await agent.stop()
        lonely, _ = make_config(range(6), 300)
        with pytest.raises(ThresholdError, match="fewer than the threshold"):
            await aggregate_over_bus(
                bus, lonely, people.server, people.directory, round_timeout=0.2
            )
        await bus.close()

    asyncio.run(asyncio.wait_for(scenario(), 300))


def _write_identities(people: Identities, where: Path) -> Path:
    for c, key in people.keys.items():
        (where / f"{c}.key").write_text(key.private_bytes_raw().hex())
    directory = where / "directory.json"
    directory.write_text(
        json.dumps(
            {
                "server": people.server.public_key().public_bytes_raw().hex(),
                "clients": {str(c): k.hex() for c, k in people.directory.items()},
            }
        )
    )
    return directory


def _wait_ready(processes: list[subprocess.Popen[str]], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    for process in processes:
        assert process.stdout is not None
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([process.stdout], [], [], max(left, 0))
            if not ready:
                pytest.fail("an agent process did not get ready within a minute")
            line = process.stdout.readline()
            if line.strip() == "ready" or not line:
                break
        assert process.poll() is None, "an agent process exited before it was ready"


def test_agent_processes_aggregate_over_nats(tmp_path: Path) -> None:
    if find_nats_server() is None:
        pytest.skip(MISSING_BINARY)
    n, seed = 5, 9
    people = Identities.generate(range(n))
    directory = _write_identities(people, tmp_path)
    with NatsServer() as broker:
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "secmas.secagg.agent",
                    *("--bus", broker.url, "--id", str(c), "--seed", str(seed)),
                    *("--key", str(tmp_path / f"{c}.key"), "--directory", str(directory)),
                    *("--sessions", "1" if c == n - 1 else "2", "--timeout", "60"),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for c in range(n)
        ]
        try:
            _wait_ready(processes)

            async def sessions() -> tuple[object, object]:
                bus = await NatsBus.connect(broker.url, name="secagg-server")
                try:
                    first, _ = make_config(range(n), 1000)
                    one = await aggregate_over_bus(bus, first, people.server, people.directory)
                    assert processes[-1].wait(30) == 0  # the last agent leaves
                    second, _ = make_config(range(n), 1000)
                    two = await aggregate_over_bus(
                        bus, second, people.server, people.directory, round_timeout=3.0
                    )
                finally:
                    await bus.close()
                return (first, one), (second, two)

            (first, one), (second, two) = asyncio.run(asyncio.wait_for(sessions(), 300))
            assert one.aggregate.survivors == tuple(range(n))  # type: ignore[attr-defined]
            assert np.array_equal(
                one.aggregate.integers,  # type: ignore[attr-defined]
                expected(first, seed, tuple(range(n))),  # type: ignore[arg-type]
            )
            assert two.aggregate.survivors == tuple(range(n - 1))  # type: ignore[attr-defined]
            assert np.array_equal(
                two.aggregate.integers,  # type: ignore[attr-defined]
                expected(second, seed, tuple(range(n - 1))),  # type: ignore[arg-type]
            )
            for process in processes:
                assert process.wait(30) == 0
                assert process.stdout is not None
                assert "refused" not in process.stdout.read()
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                process.wait()
                if process.stdout is not None:
                    process.stdout.close()


def test_an_agent_process_with_unusable_keys_says_which(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "k").write_text("not hex")
    paths = ["--key", str(tmp_path / "k"), "--directory", str(tmp_path / "missing.json")]
    with pytest.raises(SystemExit) as stopped:
        main(["--bus", "nats://127.0.0.1:1", "--id", "0", *paths])
    assert stopped.value.code == 2
    assert "unusable --key or --directory" in capsys.readouterr().err


def _party(subject: str) -> str | None:
    """`secagg.<session>.<party>` addresses one agent of the pipeline (or the server)."""
    tokens = subject.split(".")
    return f"secagg-{tokens[2]}" if len(tokens) == 3 and tokens[0] == "secagg" else None


def test_agents_aggregate_through_the_secure_channel() -> None:
    """Each agent and the server behind its own SecureBus (pairwise link keys, one
    pipeline segment) over one in-memory bus: the wire carries only sealed frames, and the
    sum is exact."""

    async def scenario() -> None:
        inner, clock = MemoryBus(), Clock()

        def secure(name: str) -> SecureBus:
            keys = EpochKeyring(identity(name), "secagg", 7, Registered(), clock=clock)
            keys.install(1, bytes(range(32)))
            return SecureBus(inner, name, 7, keys, _party)

        seen: list[bytes] = []

        async def tap(subject: str, data: bytes) -> None:
            seen.append(data)

        await inner.subscribe("secagg.>", tap)
        people = Identities.generate(range(4))
        config, _ = make_config(range(4), 200)
        buses = [secure(f"secagg-{c}") for c in range(4)]
        agents = [
            ClientAgent(
                buses[c], c, people.keys[c], people.envelopes, lambda k, c=c: agent_input(2, c, k)
            )
            for c in range(4)
        ]
        for agent in agents:
            await agent.start()
        server = secure("secagg-server")
        result = await aggregate_over_bus(server, config, people.server, people.directory)
        assert np.array_equal(result.aggregate.integers, expected(config, 2, (0, 1, 2, 3)))
        assert result.refused == []
        # nothing on the wire is a readable envelope: every frame is sealed by the channel
        assert seen and not any(b"SAGE" in frame for frame in seen)
        for bus in (*buses, server):
            await bus.close()
        await inner.close()

    asyncio.run(asyncio.wait_for(scenario(), 300))
