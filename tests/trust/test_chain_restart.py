"""The chain goes on when the MLFO revokes its root of trust outside a failed verdict (a
removal, or a pass on chain that the MLFO overrules): SECaaS attests the first trusted
member itself, which becomes the new root, and the mutual steps resume."""

from __future__ import annotations

from pathlib import Path

from tests.security.conftest import run
from tests.security.test_verdicts_bus import AGENTS, PIPE, images

from secmas.ledger.ids import pipeline_id
from secmas.network.clock import VirtualClock
from secmas.pipeline.inprocess import bring_up
from secmas.scenario.model import Security
from secmas.transport.memory import MemoryBus


def test_revoking_the_root_of_trust_does_not_stall_the_chain(tmp_path: Path) -> None:
    async def main() -> None:
        bus = MemoryBus()
        pipeline = await bring_up(
            PIPE, AGENTS, bus, VirtualClock(), Security(), images=images(tmp_path)
        )
        try:
            registry, pid = pipeline.mlfo.contracts.registry, pipeline_id(PIPE)
            assert registry.root_of_trust(pid) == pipeline.members["a4"].account.address
            await pipeline.mlfo.remove_agent("a4")
            assert registry.root_of_trust(pid) is None
            entries = await pipeline.mlfo.chain.run(3)
            assert [(e.kind, e.measured, e.verifier) for e in entries] == [
                ("initial", "a1", "secaas"),
                ("mutual", "a2", "a1"),
                ("mutual", "a3", "a2"),
            ]
            assert all(e.passed for e in entries)
            assert registry.root_of_trust(pid) == pipeline.members["a3"].account.address
        finally:
            await pipeline.close()
            await bus.close()

    run(main())
