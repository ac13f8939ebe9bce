"""A measurer or an agent that stops answering: noticed within one attestation period
plus a small margin, not a fixed minute; the agent is withdrawn from auctions until it
answers again, and nothing is revoked for the stop alone.

The measurer is the real service process (`python -m secmas.trust.measurer_service`),
stopped with SIGSTOP; before, a check of it waited a fixed 60 s. The agent runs on the
virtual clock in this process, with the real trust layer (ledger, heartbeats sealed to
the MLFO, the attestation chain) and real NFV-A endpoints on one bus: it stops answering
as a hung one does (its heartbeat, its attester and its NFV-A endpoint fall silent), and
answers again later. Every time asserted is the run's clock or a derived deadline, never
a measured wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.agents.test_auction import FIVE, Spy, request, star

from secmas.agents.acl import Performative
from secmas.agents.auction import Mailbox
from secmas.agents.bidding import Bid, GoalRequest
from secmas.agents.nfva.hooks import Hooks
from secmas.agents.nfva.settings import AuctionSettings
from secmas.ledger.ids import pipeline_id
from secmas.network.clock import VirtualClock, drive_clock
from secmas.network.infrastructure import Infrastructure
from secmas.pipeline.inprocess import InProcessAgents, bring_up
from secmas.pipeline.orchestrator import measurer_deadlines
from secmas.scenario.model import Attestation, Security
from secmas.transport.memory import MemoryBus
from secmas.trust.liveness import READMITTED, WITHDRAWN
from secmas.trust.measurer import MeasurerAppraisal
from secmas.trust.measurer_service import (
    NOT_ANSWERING,
    ExternalAttestation,
    HostMeasurer,
    MeasurerDown,
)
from secmas.trust.wrap import wrap

QUICK = Security(attestation=Attestation(period=2.0, challenge_timeout=1.0))
"""A short attestation period, so that the stopped measurer's check ends soon."""
SHARED = Security(attestation=Attestation(period=6.0, challenge_timeout=2.0))
"""For a run whose agents share this (big) process: its first measurement fits in."""


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 300))


@pytest.fixture
def victim() -> Iterator[subprocess.Popen[bytes]]:
    """A process for the measurer to measure (it answers only this test's process)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    yield process
    process.kill()
    process.wait()


@pytest.fixture
def stopped() -> Iterator[list[int]]:
    """Processes the test SIGSTOPped, continued whatever happens (then stopped for good)."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # gone with the run
            os.kill(pid, signal.SIGCONT)


async def measured_pipeline(name: str, bus: MemoryBus) -> InProcessAgents:
    """Three agents in this process, measured by a measurer process of the run's own."""
    return await bring_up(
        name, ["a1", "a2", "a3"], bus, VirtualClock(), SHARED, measure_from_outside=True
    )


def test_a_stopped_measurer_is_noticed_within_one_attestation_period(
    victim: subprocess.Popen[bytes], stopped: list[int]
) -> None:
    root = Path(__file__).resolve().parents[2] / "src" / "secmas"
    manifest = wrap(root, Ed25519PrivateKey.generate())
    host = HostMeasurer.start()  # its own private folder (a socket path stays short)
    external = ExternalAttestation.start(
        None,
        Ed25519PrivateKey.generate(),
        manifest,
        host=host,
        deadlines=measurer_deadlines(QUICK),
    )
    try:
        external.pids["a1"] = victim.pid
        client = host.client
        evidence = client.measure_now(victim.pid, secrets.token_bytes(32))
        assert evidence.pid == victim.pid  # it answers while it runs
        wait = client.deadlines.wait(str(client.socket))
        assert QUICK.attestation.challenge_timeout <= wait <= QUICK.attestation.period

        os.kill(host.process.pid, signal.SIGSTOP)
        stopped.append(host.process.pid)
        with pytest.raises(MeasurerDown, match=NOT_ANSWERING):
            client.measure_now(victim.pid, secrets.token_bytes(32))
        appraisal = external.check_now("a1")
        assert not appraisal.passed and appraisal.measurer_down
        assert NOT_ANSWERING in appraisal.reasons[0]
        assert external.report()["unanswered"] == 1

        os.kill(host.process.pid, signal.SIGCONT)
        assert not external.check_now("a1").measurer_down  # answering again
    finally:
        external.stop()


def test_a_stopped_measurer_leaves_the_agents_unmeasured_not_revoked(
    stopped: list[int],
) -> None:
    """The run's own measurer stops: the agent checked meanwhile is withdrawn (its pass
    is not acted on), never revoked, and trusted again once the measurer answers."""

    async def main() -> None:
        bus = MemoryBus()
        pipeline = await measured_pipeline("measurer-stop", bus)
        try:
            assert pipeline.mlfo.external is not None
            measurer = pipeline.mlfo.external.host.process.pid
            os.kill(measurer, signal.SIGSTOP)
            stopped.append(measurer)
            unmeasured = await pipeline.mlfo.chain.step()
            assert unmeasured is not None and not unmeasured.passed
            assert unmeasured.revoke_tx is None
            assert unmeasured.to_json()["result"] == "unmeasured"  # the report says no verdict
            assert unmeasured.reasons[0].startswith(f"external measurement: {NOT_ANSWERING}")
            assert not pipeline.mlfo.view.admits(unmeasured.measured)
            assert pipeline.mlfo.view.excluded == {}
            os.kill(measurer, signal.SIGCONT)
            for _ in pipeline.mlfo.plan:  # its turn comes again, the measurer answering
                entry = await pipeline.mlfo.chain.step()
                assert entry is not None and entry.passed
            assert pipeline.mlfo.view.admits(unmeasured.measured)
            assert _all_trusted_on_chain(pipeline)
        finally:
            await pipeline.close()
            await bus.close()

    run(main())


def test_an_initial_attestation_the_measurer_left_unanswered_is_made_again(
    stopped: list[int],
) -> None:
    """A measurer that does not answer SECaaS's initial attestation (busy, here stopped)
    failed the bring-up: "initial attestation of pop1 failed". The agent is unmeasured,
    not failed, so the attestation is made again; the measurer is continued once the
    first try has given up on it (the chain's own check, wrapped, says when)."""

    async def main() -> None:
        bus = MemoryBus()
        pipeline = await measured_pipeline("measurer-initial", bus)
        try:
            external, chain = pipeline.mlfo.external, pipeline.mlfo.chain
            assert external is not None and chain.external is not None
            measurer = external.host.process.pid
            check, tries = chain.external, []

            async def continued_after_the_first(agent: str) -> MeasurerAppraisal:
                appraisal = await check(agent)
                tries.append(appraisal)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(measurer, signal.SIGCONT)
                return appraisal

            chain.external = continued_after_the_first
            os.kill(measurer, signal.SIGSTOP)
            stopped.append(measurer)
            entry = await chain.initial("a2")
            assert tries[0].measurer_down and not tries[-1].measurer_down
            assert entry.passed and entry.kind == "initial" and entry.revoke_tx is None
            unmeasured = [e for e in chain.entries if e.kind == "initial" and not e.passed]
            assert [e.measured for e in unmeasured][-1:] == ["a2"]
            assert pipeline.mlfo.view.admits("a2") and pipeline.mlfo.view.excluded == {}
        finally:
            await pipeline.close()
            await bus.close()

    run(main())


def _all_trusted_on_chain(pipeline: InProcessAgents) -> bool:
    registry, pid = pipeline.mlfo.contracts.registry, pipeline_id(pipeline.mlfo.name)
    return all(registry.is_trusted(pid, m.account.address) for m in pipeline.members.values())


async def _execute(_request: GoalRequest, bid: Bid, _payload: dict[str, Any]) -> dict[str, Any]:
    return {"by": bid.bidder}


def test_an_agent_that_stops_answering_is_withdrawn_then_readmitted_not_revoked() -> None:
    async def main() -> None:
        bus, clock = MemoryBus(), VirtualClock()
        names = ["A", "B", "C", "D", "E"]
        security = Security(encrypt=False)  # the spy reads the calls for proposals
        pipeline = await bring_up("hung-pipe", names, bus, clock, security)
        infra = Infrastructure.from_scenario(star(FIVE))
        spy = Spy(clock)
        await bus.subscribe("nfva.agent.*", spy.handle)
        boxes = {
            n: Mailbox(
                n,
                infra,
                pipeline.bus_for(n),
                clock,
                _execute,
                seed=3,
                hooks=Hooks(admits=pipeline.mlfo.admits),
            )
            for n in names
        }
        for box in boxes.values():
            await box.start()

        auctions: list[asyncio.Task[Any]] = []

        async def call(at: float) -> set[str]:
            """A calls for proposals at `at`: whom it asked. Every bid it waits for comes
            at once (a hung agent's would not), so it awards at `at` too."""
            await drive_clock(clock, at)
            goal = request("linkRateLimited", "A", 0.0, "pop6~server")
            auctions.append(asyncio.ensure_future(boxes["A"].auction(goal, {}, names)))
            await drive_clock(clock, at + 2 * AuctionSettings().bid_deadline)
            accepted = [s.time for s in spy.of(Performative.ACCEPT_PROPOSAL) if s.time >= at]
            assert accepted == [at]
            return {s.receiver for s in spy.of(Performative.CFP) if s.time >= at}

        try:
            assert "C" in await call(1.0)
            await drive_clock(clock, 12.0)  # C's last beat was at t = 10
            c = pipeline.members["C"]
            await c.heartbeat.stop()  # C hangs: nothing of it answers any more
            await c.endpoint.stop()
            await boxes["C"].stop()
            window = pipeline.mlfo.liveness.window("C")  # a beat period, and one more
            assert window == 2 * security.heartbeat <= security.attestation.period

            assert "C" not in await call(12.0 + window)  # withdrawn: not asked, not awaited
            withdrawn = pipeline.mlfo.liveness.changes[0]
            assert (withdrawn.agent, withdrawn.state) == ("C", WITHDRAWN)
            assert withdrawn.time <= 10.0 + window
            # The chain's steps go on; the one that would challenge C waits for it.
            measured = [e.measured for e in await pipeline.mlfo.chain.run(len(names))]
            assert "C" not in measured and pipeline.mlfo.chain.held[0] >= 1

            await drive_clock(clock, 40.0)
            c.heartbeat.start()  # C answers again
            await c.endpoint.start()
            await boxes["C"].start()
            assert "C" in await call(41.0)  # re-admitted at its first beat
            readmitted = pipeline.mlfo.liveness.changes[1]
            assert (readmitted.agent, readmitted.state, readmitted.time) == ("C", READMITTED, 40.0)
            entry = await pipeline.mlfo.chain.step()  # the step that waited for C measures it now
            assert entry is not None and (entry.measured, entry.passed) == ("C", True)

            assert pipeline.mlfo.view.excluded == {}  # nothing revoked for the stop
            assert _all_trusted_on_chain(pipeline)
        finally:
            for task in auctions:
                task.cancel()
            for box in boxes.values():
                await box.stop()
            await pipeline.close()
            await bus.close()

    run(main())
