"""Unannounced checks on the chain: SECaaS measures a trusted agent picked at random,
records it on the ledger as its own attestation, and the periodic steps go on from the
agent it passed (the new root of trust)."""

from __future__ import annotations

from pathlib import Path

from tests.security.conftest import run
from tests.trust.test_chain import agent_image

from secmas.ledger.ids import pipeline_id
from secmas.network.clock import VirtualClock
from secmas.pipeline.inprocess import bring_up
from secmas.scenario.model import Security
from secmas.transport.memory import MemoryBus
from secmas.trust.schedule import Due

PIPE = "unannounced"
AGENTS = ["a1", "a2", "a3", "a4"]


def test_a_check_picks_a_trusted_agent_and_the_chain_goes_on_from_it(tmp_path: Path) -> None:
    image = agent_image(tmp_path)

    async def main() -> None:
        bus = MemoryBus()
        pipeline = await bring_up(
            PIPE, AGENTS, bus, VirtualClock(), Security(), images=dict.fromkeys(AGENTS, image)
        )
        try:
            await pipeline.mlfo.remove_agent("a3")
            chain, registry, pid = (
                pipeline.mlfo.chain,
                pipeline.mlfo.contracts.registry,
                pipeline_id(PIPE),
            )
            checked = [await chain.attest(Due(1.0, draw)) for draw in (0.0, 0.5, 0.9)]
            assert [(e.kind, e.measured, e.verifier, e.passed) for e in checked if e] == [
                ("random", "a1", "secaas", True),
                ("random", "a2", "secaas", True),
                ("random", "a4", "secaas", True),
            ]
            records = registry.records(pid)[-3:]
            secaas = registry.secaas()
            assert [(r.step, r.verifier) for r in records] == [(0, secaas)] * 3
            assert [r.tx_hash for r in records] == [e.tx for e in checked if e]
            assert registry.root_of_trust(pid) == pipeline.members["a4"].account.address
            step = await chain.attest(Due(2.0))
            assert step is not None and (step.kind, step.verifier, step.passed) == (
                "mutual",
                "a4",
                True,
            )
        finally:
            await pipeline.close()
            await bus.close()

    run(main())
