"""Real MTD moves on a built network: a CNF with real state moves cold and by pre-copy,
its state arrives whole, and the probe's requests measure each move."""

from __future__ import annotations

import asyncio

from tests.network.emulation.conftest import line_scenario, needs_emulation

from secmas.network.dataplane.routing import Network
from secmas.network.emulation.migration import (
    COLD,
    HYBRID,
    POSTCOPY,
    PRECOPY,
    MobileCNF,
    MobileCNFs,
)
from secmas.network.emulation.mobility import state_shape
from secmas.network.emulation.network import EmulatedNetwork
from secmas.network.emulation.plan import emulation_plan

pytestmark = needs_emulation


def test_a_cnf_moves_by_every_method_with_its_state(no_leftovers: None) -> None:
    scenario = line_scenario(attack=None)
    # 10 MB resident at scale 0.02: 49 sessions of 4 KiB (200 kB) over 0.2 MB/s links,
    # its working set rewritten at 0.3 MB/s (6 kB/s real) and a log at 0.1 MB/s (2 kB/s)
    shape = state_shape(10, 0.3, 0.1, 0.02)

    async def scenario_run(network: EmulatedNetwork) -> list:
        cnfs = MobileCNFs(network, Network.from_scenario(scenario))
        try:
            await cnfs.start([MobileCNF("web", "C", shape)])
            await asyncio.sleep(0.5)
            cold = await cnfs.move("web", "D", COLD)
            assert cnfs.where("web") == "D"
            precopy = await cnfs.move("web", "B", PRECOPY)
            postcopy = await cnfs.move("web", "A", POSTCOPY)
            hybrid = await cnfs.move("web", "C", HYBRID)
            await asyncio.sleep(0.3)
            return [cold, precopy, postcopy, hybrid, cnfs.records("web")]
        finally:
            cnfs.stop()
            assert not cnfs.workdir.exists()

    with EmulatedNetwork(emulation_plan(scenario)) as network:
        cold, precopy, postcopy, hybrid, records = asyncio.run(scenario_run(network))

    moves = (cold, precopy, postcopy, hybrid)
    assert [(m.source, m.destination) for m in moves] == [
        ("C", "D"),
        ("D", "B"),
        ("B", "A"),
        ("A", "C"),
    ]
    for move in moves:
        assert move.state_verified
        assert move.state_bytes >= shape.state_bytes  # the sessions, and the log since
        assert 0.0 <= move.downtime_s <= move.total_s
        assert 0.0 < move.frozen_s <= move.total_s
    # cold: the source stops before the copy, so the clients see the copy's time
    assert cold.downtime_s > 0.0
    assert [r["serving"] for r in cold.rounds] == [False]
    # pre-copy: at least one round while serving, then the stop-and-copy
    assert precopy.rounds[0]["serving"] and not precopy.rounds[-1]["serving"]
    assert precopy.rounds[0]["bytes"] >= shape.state_bytes
    # post-copy: the names first (every key missing), then the values while serving
    assert postcopy.rounds[0]["missing"] >= shape.sessions and not postcopy.rounds[0]["serving"]
    assert postcopy.rounds[-1]["serving"] and postcopy.rounds[-1]["bytes"] >= shape.state_bytes
    # hybrid: one round while the source serves, then post-copy of what changed during it
    assert [r["serving"] for r in hybrid.rounds] == [True, False, True]
    assert hybrid.rounds[1]["missing"] < postcopy.rounds[0]["missing"]  # only what changed
    # after the moves the probe's reads still see what it wrote before them
    last = [r for r in records if r.op == "get" and r.t > hybrid.switched + 0.05]
    assert last and all(r.ok for r in last)
    assert {r.by.split("#")[0] for r in last} == {"web@C"}
