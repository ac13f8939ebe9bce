"""A revocation in a running pipeline rotates the key epoch without dropping a frame.

`InProcessAgents.remove_agent` revokes an agent on chain, which starts a new key epoch:
the MLFO pushes its secret to the remaining agents, each fetches and installs it from
the ledger (one after another), and only then do they switch. Meanwhile every agent keeps
publishing to the group and to its peers' inboxes through its SecureBus; the revoked
agent too, as an attacker would."""

from __future__ import annotations

import asyncio
from collections import Counter

from secmas.agents.nfva.subjects import inbox
from secmas.ledger.ids import pipeline_id
from secmas.network.clock import ScaledClock
from secmas.pipeline.inprocess import bring_up
from secmas.scenario.model import Security
from secmas.transport import MemoryBus
from secmas.transport.channel import Drop

AGENTS = ("pop1", "pop2", "pop3", "pop4")
REVOKED = "pop3"
GROUP = "secmas.links.rotation"


def test_removing_an_agent_under_load_rotates_without_dropping_a_frame() -> None:
    async def main() -> None:
        bus = MemoryBus()
        pipeline = await bring_up("rotation", AGENTS, bus, ScaledClock(), Security())
        buses = {a: pipeline.bus_for(a) for a in AGENTS}
        received: Counter[tuple[str, str, str]] = Counter()  # (receiver, sender, kind)
        sent: Counter[tuple[str, str, str]] = Counter()
        for agent, agent_bus in buses.items():

            async def on_group(_subject: str, data: bytes, me: str = agent) -> None:
                received[me, data.decode(), "group"] += 1

            async def on_inbox(_subject: str, data: bytes, me: str = agent) -> None:
                received[me, data.decode(), "inbox"] += 1

            await agent_bus.subscribe(GROUP, on_group)
            await agent_bus.subscribe(inbox(agent), on_inbox)
        stop = asyncio.Event()

        async def stream(agent: str) -> None:
            i = 0
            while not stop.is_set():
                i += 1
                await buses[agent].publish(GROUP, agent.encode())
                sent["*", agent, "group"] += 1
                peers = [a for a in AGENTS if a != agent and pipeline.mlfo.view.admits(a)]
                peer = peers[i % len(peers)]
                await buses[agent].publish(inbox(peer), agent.encode())
                sent[peer, agent, "inbox"] += 1
                await asyncio.sleep(0.002)

        senders = [asyncio.ensure_future(stream(a)) for a in AGENTS]
        try:
            await asyncio.sleep(0.1)
            await pipeline.mlfo.remove_agent(REVOKED, "test: revoked under load")
            await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.gather(*senders)
        await bus.flush()

        pid = pipeline_id("rotation")
        assert pipeline.mlfo.contracts.registry.key_epoch(pid) == 2
        honest = [a for a in AGENTS if a != REVOKED]
        rotation = pipeline.mlfo.rotations[-1]
        assert rotation.epoch == 2 and rotation.missing == {}
        assert sorted(rotation.acknowledged) == honest
        for me in honest:
            assert pipeline.members[me].keyring.sending == 2
            dropped = buses[me].channel_stats.dropped  # type: ignore[attr-defined]
            assert set(dropped) == {Drop.REVOKED}, (me, dropped)  # the revoked one's frames
            for sender in honest:
                assert received[me, sender, "group"] == sent["*", sender, "group"]
                assert received[me, sender, "inbox"] == sent[me, sender, "inbox"]
        await pipeline.close()
        await bus.close()

    asyncio.run(asyncio.wait_for(main(), 300))


def test_a_key_push_skips_an_agent_a_verdict_untrusted_before_the_mlfo_settled_it() -> None:
    """A verifier's FAIL untrusts its agent on chain a moment before the MLFO acts on it;
    a rekey in that moment (another agent's revocation: groups make them overlap) used
    to put that agent among the recipients, and the contract refused the whole push
    (`SecretStore: agent not trusted`). The push goes to who is trusted on chain then."""

    async def main() -> None:
        bus = MemoryBus()
        pipeline = await bring_up("untrusted-push", AGENTS, bus, ScaledClock(), Security())
        mlfo = pipeline.mlfo
        try:
            assert mlfo.contracts is not None and mlfo.ledger is not None
            secaas = mlfo.contracts.registry.as_(mlfo.ledger.secaas)
            failed = pipeline.members[REVOKED].account.address
            secaas.record_initial(
                pipeline_id("untrusted-push"), failed, b"\x01" * 32, False, bytes(32)
            )
            assert mlfo.view.admits(REVOKED)  # not settled by the MLFO yet
            await mlfo.remove_agent("pop4", "revoked meanwhile")  # a rekey now
            push = mlfo.pushes[-1]
            assert push.epoch == 2
            assert failed not in push.recipients
            assert len(push.recipients) == len(AGENTS) - 2
        finally:
            await pipeline.close()
            await bus.close()

    asyncio.run(asyncio.wait_for(main(), 120))
