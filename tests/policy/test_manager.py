"""The SSLA manager in a run: a plaintext message gets its sender revoked through the trust
layer; bad policies are refused before the run; the assessment is pure and hand-checked."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from secmas.agents.acl import ACLMessage, Performative
from secmas.agents.ddos.agent import PoPAgent
from secmas.agents.ddos.world import World
from secmas.pipeline.operate import OperateResult, operate
from secmas.policy.assessment import TermMonitor
from secmas.policy.audit import AuditLog, verify
from secmas.policy.intents import parse_intents
from secmas.policy.manager import PolicyError, SSLAManager, check_scenario
from secmas.policy.translate import ssla_for
from secmas.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = load_scenario(ROOT / "scenarios" / "spoofed-injection.yaml")
ROGUE = "pop3"
ROGUE_AT = 30.0


def sslas(text: str) -> list:
    return [ssla_for(i) for i in parse_intents("intents:\n" + text).intents]


class RogueSender:
    """A misbehaving agent: at ROGUE_AT it sends one NFV-A message in clear on the shared
    bus, beside its sealed channel."""

    def attach(
        self, world: World, _attestations: Callable[[], Sequence[Any]], _layer: Any = None
    ) -> None:
        self.world = world
        self.sent = False

    async def start(self, agents: Sequence[PoPAgent]) -> None:
        return None

    async def after_step(self, now: float) -> None:
        if now >= ROGUE_AT and not self.sent:
            message = ACLMessage(Performative.INFORM, ROGUE, ("pop1",), "rogue-1", {"x": 1})
            await self.world.bus.publish(f"{self.world.space}.pop1", message.encode())
            self.sent = True

    def report(self) -> dict[str, Any]:
        return {}


@cache
def encrypted_run() -> tuple[OperateResult, SSLAManager]:
    scenario = SCENARIO.model_copy(update={"attack": None})
    manager = SSLAManager(
        sslas("  - {id: enc, slice: protected-web, kind: encryption}\n"), AuditLog()
    )
    result = asyncio.run(operate(scenario, until=60.0, loops=[RogueSender(), manager]))
    return result, manager


def test_a_plaintext_message_revokes_its_sender() -> None:
    result, manager = encrypted_run()
    policy = (result.analytics or {})["policy"]
    [breach] = policy["breaches"]
    assert breach["end"] == ROGUE_AT + 1 and breach["value"] == 1.0
    assert breach["evidence"][0]["sender"] == ROGUE
    assert breach["evidence"][0]["encrypted"] is False
    [revoke] = [e for e in policy["enforcements"] if e["action"] == "REVOKE"]
    assert revoke["target"] == ROGUE and revoke["outcome"].startswith("revoked on chain")
    assert result.trust is not None
    rogue = result.trust["agents"][ROGUE]
    assert not rogue["trusted"] and "InterAgentEncryption breached" in rogue["excluded"]
    # Every other message of the run travelled sealed: one bad period only.
    [compliance] = policy["compliance"]
    assert compliance["breached"] == 1 and compliance["periods"] == 60
    scores = policy["trust"]["scores"]
    assert scores[ROGUE]["ssla"][1] == 1 and not scores[ROGUE]["admitted"]
    assert verify(manager.audit.entries).ok
    assert "revoke" in [e.decision for e in manager.audit.entries]


def test_policies_on_unknown_slices_are_refused() -> None:
    policies = sslas("  - {id: x, slice: nowhere, kind: encryption}\n")
    [problem] = check_scenario(policies, SCENARIO)
    assert "slice 'nowhere' is not in the scenario (protected-web)" in problem
    manager = SSLAManager(policies, AuditLog())
    with pytest.raises(PolicyError, match="nowhere"):
        asyncio.run(operate(SCENARIO, until=1.0, loops=[manager]))


def test_assessment_is_hand_checked() -> None:
    [ssla] = sslas(
        "  - {id: iso, slice: protected-web, kind: isolation, whitelist: [10.1.0.0/16]}\n"
    )
    [term] = ssla.terms
    monitor = TermMonitor(ssla, term, term.indicator.sets)
    step = {
        "ingress": [
            {"source_ip": "10.1.0.7", "packets": 40.0, "ingress": "pop3"},
            {"source_ip": "198.51.100.9", "packets": 12.5, "ingress": "pop1"},
            {"source_ip": "198.51.100.10", "packets": 7.5, "ingress": "pop2"},
        ]
    }
    monitor.feed(step, {})
    assert monitor.due(1.0) and not monitor.due(0.5)
    assessment = monitor.assess(1.0)
    assert (assessment.status, assessment.value) == ("breached", 20.0)  # 12.5 + 7.5 packets
    assert [r["source_ip"] for r in assessment.offending] == ["198.51.100.9", "198.51.100.10"]
    assert "InvalidSourcePackets = 20 packets in [0, 1) s" in assessment.explain()
    monitor.feed({"ingress": step["ingress"][:1]}, {})
    met = monitor.assess(2.0)
    assert (met.status, met.value, met.start) == ("met", 0.0, 1.0)
    assert monitor.compliance()["compliance"] == 0.5


def test_metric_terms_and_missing_sources() -> None:
    [availability, patching] = sslas(
        "  - {id: ava, slice: s, kind: availability, percent: 99.5}\n"
        "  - {id: pat, slice: s, kind: patching, within_hours: 24}\n"
    )
    monitor = TermMonitor(availability, availability.terms[0], ())
    for value in (100.0, 99.0):
        monitor.feed({}, {"availability": value})
    assessment = monitor.assess(10.0)
    assert (assessment.status, assessment.value) == ("breached", 99.0)
    assert "the metric's last values 100, 99" in assessment.explain()
    patches = TermMonitor(patching, patching.terms[0], ())
    assert not patches.measured
    assert patches.assess(3600.0).status == "not measured"
    assert patches.compliance()["compliance"] is None


def residency_run(region_of_pop6: str) -> dict[str, Any]:
    pops = tuple(
        pop.model_copy(update={"region": region_of_pop6 if pop.id == "pop6" else "eu-west"})
        for pop in SCENARIO.pops
    )
    scenario = SCENARIO.model_copy(update={"pops": pops, "attack": None})
    manager = SSLAManager(
        sslas("  - {id: eu, slice: protected-web, kind: residency, region: eu-west}\n"),
        AuditLog(),
    )
    result = asyncio.run(operate(scenario, until=120.0, loops=[manager]))
    return (result.analytics or {})["policy"]


def test_residency_follows_the_region_of_the_cnf_pop() -> None:
    inside = residency_run("eu-west")
    assert inside["breaches"] == [] and inside["compliance"][0]["periods"] == 2
    outside = residency_run("us-east")
    [first, _second] = outside["breaches"]
    assert first["offending"] == 60  # one record per one-second sample of the period
    assert first["evidence"][0] == {"cnf": "web", "pop": "pop6", "region": "us-east"}
    assert "OutOfRegionPlacements = 60 placements" in first["explanation"]  # 60 one-s samples
    [notify] = outside["enforcements"]
    assert notify["action"] == "NOTIFY" and notify["target"] == "SecurityOrchestrator"


def test_an_availability_breach_hands_the_agents_a_scale_out_goal() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "cnf-attack.yaml")
    scenario = scenario.model_copy(
        update={"security": SCENARIO.security.model_copy(update={"enabled": False})}
    )
    manager = SSLAManager(
        sslas("  - {id: up, slice: protected-web, kind: availability, percent: 99.95}\n"),
        AuditLog(),
    )
    result = asyncio.run(operate(scenario, until=80.0, loops=[manager]))
    policy = (result.analytics or {})["policy"]
    first = policy["breaches"][0]
    assert first["end"] == 70.0 and first["value"] < 99.95
    [notify] = policy["enforcements"]
    assert notify["outcome"] == "goal cnfScaledOut(web,2) posted to pop6"
    scaled = [a for a in result.journal.actions if a.action == "scaleOut"]
    assert scaled and scaled[0].time >= 70.0
