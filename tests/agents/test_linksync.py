"""Agents' copies of the network kept in step over a real (in-memory) bus: the initiator
counts its winner's announced path in its own copy too, and a proposal's hold stays
with its holder until the acceptance commits it."""

from __future__ import annotations

import asyncio

from tests.conftest import make_scenario

from secmas.agents.linksync import LinkSync
from secmas.network.infrastructure import Infrastructure
from secmas.network.resources import Amount
from secmas.scenario.model import Scenario
from secmas.transport.memory import MemoryBus


def line() -> Scenario:
    """A — B — C, 10 MB/s each; the repository at A."""
    return make_scenario(
        pops=[("A", 8, 16, 500), ("B", 8, 16, 500), ("C", 8, 16, 500)],
        links=[("A", "B", 10, 5, 0), ("B", "C", 10, 5, 0)],
        repository="A",
    )


def test_every_copy_counts_an_announced_path_once_and_only_commits_of_pops() -> None:
    async def main() -> None:
        bus = MemoryBus()
        copies = {name: Infrastructure.from_scenario(line()) for name in "ABC"}
        syncs = {name: LinkSync(infra, bus, "p", name) for name, infra in copies.items()}
        for sync in syncs.values():
            await sync.start()
        # A's auction is won by C: A announces C's path, C reserves it itself
        await syncs["A"].announce("reserve", "C", ["C", "B", "A"], 4.0)
        copies["C"].reserve_path(["C", "B", "A"], 4.0, tell=False)
        # C proposes elsewhere: a hold, then its commit
        copies["C"].hold("C", Amount(1, 1, 2))
        await asyncio.sleep(0.05)
        for infra in copies.values():
            assert [link.reserved for link in infra.links] == [4.0, 4.0]
            assert infra.free("C") == infra.total("C")
        copies["C"].commit("C", Amount(1, 1, 2))
        copies["C"].release_path(["C", "B", "A"], 4.0)  # C's plan is done
        await asyncio.sleep(0.05)
        for infra in copies.values():
            assert [link.reserved for link in infra.links] == [0.0, 0.0]
            assert infra.free("C") == infra.total("C") - Amount(1, 1, 2)
        for sync in syncs.values():
            await sync.stop()
        await bus.close()

    asyncio.run(asyncio.wait_for(main(), 30))
