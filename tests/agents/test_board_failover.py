"""The goal board across a broker fail-over: six agents' boards on a real 3-server NATS
cluster, spread over its servers, two of which are killed in a row mid-run. Every agent
reconnects to a survivor, and no watcher takes a live agent for gone or adopts its duty
(which ran a second Link Monitor to the end).

Real parts: `nats-server` ×3 in a full mesh (`NatsCluster`, stopped on the way out even
when the test fails), one `NatsBus` client per agent, the run's scaled wall clock
(`ScaledClock`), real GoalBoards with the run's silence window and nothing added to it.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from secmas.agents.board import GoalBoard, OpenGoal
from secmas.network.clock import ScaledClock
from secmas.transport.broker import MISSING_BINARY, NatsCluster, find_nats_server
from secmas.transport.nats import NatsBus

if find_nats_server() is None:
    pytest.skip(f"the fail-over test needs a server: {MISSING_BINARY}", allow_module_level=True)

AGENTS = tuple(f"pop{i}" for i in range(1, 7))
SPEED = 10.0
"""As the demo: one 5-s announcement period is 0.5 s of wall time."""
KILLS_S = (2.0, 4.0)
"""Wall seconds after start at which the first and the second server are killed."""
RUN_S = 8.0


async def fail_over(cluster: NatsCluster) -> dict[str, GoalBoard]:
    clock = ScaledClock(SPEED, time.time())
    urls = cluster.urls
    buses: list[NatsBus] = []
    boards: dict[str, GoalBoard] = {}
    try:
        for i, name in enumerate(AGENTS):
            url = ",".join(urls[i % 3 :] + urls[: i % 3])
            buses.append(await NatsBus.connect(url, reconnect_wait=0.1))
            boards[name] = GoalBoard(name, AGENTS, buses[-1], clock)
        for board in boards.values():
            await board.start()
        boards["pop3"].hold(OpenGoal("linkMonitored", ("s2", "s3")))
        started = time.monotonic()
        for at, server in zip(KILLS_S, cluster.servers, strict=False):
            await asyncio.sleep(max(0.0, started + at - time.monotonic()))
            await asyncio.to_thread(server.stop)
        await asyncio.sleep(max(0.0, started + RUN_S - time.monotonic()))
    finally:
        for board in boards.values():
            await board.stop()
        for bus in buses:
            await bus.close()
    assert sum(bus.reconnects for bus in buses) >= 4  # two thirds of the clients, then more
    return boards


def test_two_servers_killed_in_a_row_make_nobody_gone():
    with NatsCluster(3) as cluster:
        boards = asyncio.run(fail_over(cluster))
    for name, board in boards.items():
        assert board.gone == {}, name
        assert board.adopted == [], name
        assert board.rounds >= 10, name  # its own announcements kept coming back
