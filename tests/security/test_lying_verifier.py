"""A lying verifier: an attested agent that records and signs FAIL for every agent it
measures.

Found by the red team: a FAIL was never cross-checked (the host measurer was consulted on
a pass only) and the contract kept the verifier as root of trust after it, so once the
liar held the root it failed, and the MLFO revoked, one honest agent per step until it
was the only trusted agent left. Now a FAIL is acted on only once an independent
appraisal agrees (SECaaS challenges the agent itself, beside the host measurer's check of
the step); a verifier whose FAIL is refuted is revoked, and the root of trust goes to the
agent it failed, through SECaaS's recorded pass.

The liar is a genuine agent whose verifier role appraises with a `Verifier` subclass of
the test's: its code is not in the measured image, so it passes every attestation, and it
lies with its real keys and its real ledger account.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.security.conftest import run
from tests.trust.test_chain import agent_image

from secmas.agents.ddos.world import World
from secmas.ledger.ids import pipeline_id
from secmas.network.clock import VirtualClock
from secmas.pipeline.inprocess import InProcessAgents, bring_up
from secmas.pipeline.operate import OperateResult, operate
from secmas.pipeline.orchestrator import Orchestrator
from secmas.report.acceptance import Timeline, acceptance
from secmas.scenario.loader import load_scenario
from secmas.scenario.model import Security
from secmas.transport.memory import MemoryBus
from secmas.trust.attestation import Appraisal, Evidence, Verifier
from secmas.trust.chain import CROSS_CHECK, VerifierRole
from secmas.trust.measurer import MeasurerAppraisal

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = load_scenario(ROOT / "scenarios" / "ddos-6pop.yaml")
PIPE = "liar-pipe"
AGENTS = ["a1", "a2", "a3", "a4", "a5", "a6"]
LIAR = "a1"


class LyingAppraiser(Verifier):
    """Challenges and appraises as a genuine verifier does, then says FAIL."""

    def appraise(self, evidence: Evidence, reference: bytes, signing_key: bytes) -> Appraisal:
        genuine = super().appraise(evidence, reference, signing_key)
        return replace(genuine, passed=False, reasons=("measurement differs from the reference",))


class DeafAppraiser(Verifier):
    """Challenges as a genuine verifier does, then says no evidence came."""

    def appraise(self, evidence: Evidence, reference: bytes, signing_key: bytes) -> Appraisal:
        return Appraisal(evidence.agent, False, (f"no evidence from {evidence.agent}",))


def turn_liar(role: VerifierRole, liar: type[Verifier] = LyingAppraiser) -> None:
    """From now on `role` records and signs FAIL for every agent it measures."""
    genuine = role.verifier
    role.verifier = liar(genuine.name, genuine.max_age, genuine.clock)


async def brought_up(tmp_path: Path) -> tuple[MemoryBus, InProcessAgents]:
    image = agent_image(tmp_path)
    bus = MemoryBus()
    pipeline = await bring_up(
        PIPE, AGENTS, bus, VirtualClock(), Security(), images=dict.fromkeys(AGENTS, image)
    )
    return bus, pipeline


def test_a_verifier_that_fails_everybody_revokes_nobody_honest(tmp_path: Path) -> None:
    """Two rounds with the liar in the plan: before, it revoked the five others in the
    five steps after it became root of trust and ended the only trusted agent."""

    async def main() -> None:
        bus, pipeline = await brought_up(tmp_path)
        try:
            turn_liar(pipeline.members[LIAR].role)
            entries = await pipeline.mlfo.chain.run(2 * len(AGENTS))
            honest = [a for a in AGENTS if a != LIAR]
            assert set(pipeline.mlfo.view.excluded) == {LIAR}, pipeline.mlfo.view.excluded
            assert all(pipeline.mlfo.view.admits(a) for a in honest)
            assert "refuted" in pipeline.mlfo.view.excluded[LIAR]
            pid, registry = pipeline_id(PIPE), pipeline.mlfo.contracts.registry
            liar = pipeline.members[LIAR].account.address
            assert not registry.is_trusted(pid, liar) and not registry.is_active(pid, liar)
            assert registry.root_of_trust(pid) != liar
            for agent in honest:
                assert registry.is_trusted(pid, pipeline.members[agent].account.address)
            # its one lie is on record, overturned by SECaaS's own pass of the agent it
            # failed, which became the root of trust; the liar verified nothing after it
            lies = [e for e in pipeline.mlfo.entries if e.verifier == LIAR and not e.passed]
            [lie] = lies
            assert lie.revoke_tx is None and any("overturned" in r for r in lie.reasons)
            after = pipeline.mlfo.entries[pipeline.mlfo.entries.index(lie) + 1 :]
            assert (after[0].kind, after[0].measured, after[0].passed) == (
                CROSS_CHECK,
                lie.measured,
                True,
            )
            assert after[0].root_of_trust == lie.measured
            assert all(e.verifier != LIAR for e in after)
            assert [e.measured for e in entries if not e.passed] == []
        finally:
            await pipeline.close()
            await bus.close()

    run(main())


def test_a_verifier_that_hears_nobody_is_revoked_on_its_second_refuted_silence(
    tmp_path: Path,
) -> None:
    """A FAIL for evidence that never came may be an honest verifier's report of a busy
    agent: the first refuted one is overturned and its verifier kept; a second costs it
    its trust, and nobody it failed is revoked."""

    async def main() -> None:
        bus, pipeline = await brought_up(tmp_path)
        try:
            turn_liar(pipeline.members[LIAR].role, DeafAppraiser)
            await pipeline.mlfo.chain.run(3 * len(AGENTS))
            assert set(pipeline.mlfo.view.excluded) == {LIAR}, pipeline.mlfo.view.excluded
            lies = [e for e in pipeline.mlfo.entries if e.verifier == LIAR and not e.passed]
            assert len(lies) == 2 and all(e.revoke_tx is None for e in lies)
            first = pipeline.mlfo.entries.index(lies[0])
            assert pipeline.mlfo.entries[first + 1].kind == CROSS_CHECK
            assert "refuted" in pipeline.mlfo.view.excluded[LIAR]
        finally:
            await pipeline.close()
            await bus.close()

    run(main())


def test_a_fail_the_host_measurer_confirms_stands(tmp_path: Path) -> None:
    """The cross-check is not a pardon: when the host measurer also fails the agent,
    the verifier's FAIL is confirmed, the agent revoked and the verifier kept."""

    async def main() -> None:
        bus, pipeline = await brought_up(tmp_path)
        try:
            turn_liar(pipeline.members["a6"].role)  # the root after bring-up: it measures a1

            async def measurer(agent: str) -> MeasurerAppraisal:
                passed = agent != "a1"
                return MeasurerAppraisal(passed, () if passed else ("text of a1 changed",))

            pipeline.mlfo.chain.external = measurer
            [entry] = await pipeline.mlfo.chain.run(1)
            assert (entry.kind, entry.measured, entry.verifier, entry.passed) == (
                "mutual",
                "a1",
                "a6",
                False,
            )
            assert entry.revoke_tx is not None
            assert set(pipeline.mlfo.view.excluded) == {"a1"}
            assert pipeline.mlfo.view.admits("a6")
        finally:
            await pipeline.close()
            await bus.close()

    run(main())


class LyingVerifierLoop:
    """A step loop that turns the run's `pop1` agent into a lying verifier as soon as the
    run is brought up (it passed every attestation until then)."""

    def __init__(self, pop: str) -> None:
        self.pop = pop

    def attach(self, world: World, attestations: Any, trust_layer: Any = None) -> None:
        del world, attestations
        assert isinstance(trust_layer, Orchestrator)  # the run's MLFO: its agents here
        assert isinstance(trust_layer.iml, InProcessAgents)
        turn_liar(trust_layer.iml.members[self.pop].role)

    async def start(self, agents: Any) -> None:
        del agents

    async def after_step(self, now: float) -> None:
        del now

    def report(self) -> dict[str, Any]:
        return {}


def test_a_run_with_a_lying_verifier_revokes_nobody_honest_and_meets_acceptance() -> None:
    """The reference DDoS run, pop1 lying from its first step as root of trust (about
    20 s in, before the attack at 60 s): before, every other agent was revoked by 60 s
    and nothing mitigated the attack."""
    result: OperateResult = asyncio.run(
        asyncio.wait_for(operate(SCENARIO, loops=[LyingVerifierLoop("pop1")]), 300)
    )
    assert result.trust is not None
    agents = result.trust["agents"]
    assert {p for p, a in agents.items() if a["excluded"]} == {"pop1"}, agents
    assert "refuted" in agents["pop1"]["excluded"]
    assert all(a["trusted"] for p, a in agents.items() if p != "pop1")
    kinds = [(e["kind"], e["verifier"], e["result"]) for e in result.trust["attestations"]]
    assert ("mutual", "pop1", "fail") in kinds and (CROSS_CHECK, "secaas", "pass") in kinds
    assert SCENARIO.attack is not None
    verdict = acceptance(result.telemetry, Timeline.of(result.scenario), result.capacity.ok)
    assert verdict.passed, verdict
