"""The remedies secmas installs (`secmas.policy.remediation`): the remediation actions of
the SSLA assessment function (`004_…` Figure 3), registered under `secmas.remedies` in
secmas's own `pyproject.toml` as a plug-in's would be.

- REJECT_PACKET: a data-plane rule (`FlowBlock`) drops each offending source's packets where
  they enter the network, installed through the agents' controller within the period;
- NOTIFY: when the target names one of the agents' goals (`cnfScaledOut`), that goal is
  posted to the agent of the PoP that runs the slice's CNF and auctioned like any other;
  otherwise the target (the security orchestrator) gets the notification on the bus
  subject `policy.notify.<target>`; once per breach episode;
- LOG: the manager audits every breach itself (at its start, when new offenders appear,
  and when the term is met again), whichever actions the term names: LOG adds nothing;
- REVOKE: the offending agents are revoked through the trust layer (on chain, re-keyed).
"""

from __future__ import annotations

import json

from secmas.agents.bdi import Belief, Goal, GoalKind
from secmas.agents.ddos.agent import PROTECT
from secmas.network.dataplane import FlowBlock
from secmas.policy.manager import ACTOR
from secmas.policy.remediation import Breach, Enforcer, Remedy

__all__ = ["AGENT_GOALS", "NOTIFY_SUBJECT", "Log", "Notify", "RejectPacket", "Revoke"]

NOTIFY_SUBJECT = "policy.notify"
AGENT_GOALS = frozenset({"cnfScaledOut", "cnfMigrated", "cnfGuarded"})
"""NOTIFY targets the agents have plans for (`secmas.agents.ddos.cnf`)."""


class RejectPacket(Remedy):
    """Block each offending (source, destination) where the source enters the network."""

    name = "reject_packet"

    async def enforce(self, breach: Breach, run: Enforcer) -> None:
        assessment = breach.assessment
        world = run.world()
        tap = run.tap(assessment.slice)
        installed = []
        for record in assessment.offending:
            src, dst = str(record.get("source_ip")), str(record.get("destination_ip"))
            if (src, dst) in run.blocked:
                continue
            node = tap.ingress_of(src)
            if node == "unknown":
                node = next(iter(tap.view.attach.values()))
            rule_id = await world.controller.add_rule(FlowBlock(node, src, dst))
            run.blocked[(src, dst)] = rule_id
            installed.append({"rule": rule_id, "node": node, "source": src, "destination": dst})
            run.enforced(assessment, "REJECT_PACKET", f"{src}>{dst} at {node}", "rule installed")
        if installed:
            nodes = sorted({item["node"] for item in installed})
            run.audit.append(
                assessment.end,
                ACTOR,
                "reject_packet",
                f"{assessment.ssla}/{assessment.term}: {len(installed)} blockFlow rules drop the "
                f"offending sources' packets where they enter ({', '.join(nodes)}), because "
                f"{assessment.kpi} = {assessment.value:g} breached '{assessment.breach}'",
                {"rules": installed},
            )


class Notify(Remedy):
    """Post an agents' goal, or tell the target on the bus; once per breach episode."""

    name = "notify"
    once_per_episode = True

    async def enforce(self, breach: Breach, run: Enforcer) -> None:
        assessment, target, detail = breach.assessment, breach.action.target, breach.action.detail
        if target in AGENT_GOALS:
            outcome = await self._post_goal(breach, run)
        else:
            message = {"ssla": assessment.ssla, "term": assessment.term, "detail": detail}
            message["explanation"] = assessment.explain()
            subject = f"{NOTIFY_SUBJECT}.{target}"
            await run.world().bus.publish(subject, json.dumps(message).encode())
            outcome = f"notified on {subject}"
        run.enforced(assessment, "NOTIFY", target, outcome)
        run.audit.append(
            assessment.end,
            ACTOR,
            "notify",
            f"{assessment.ssla}/{assessment.term}: {outcome}: {detail}",
            {"target": target},
        )

    @staticmethod
    async def _post_goal(breach: Breach, run: Enforcer) -> str:
        """Hand the target goal for the slice's first CNF to the agent of the PoP running
        it."""
        world, goal, assessment = run.world(), breach.action.target, breach.assessment
        plane = world.plane
        assert plane is not None
        view = run.tap(assessment.slice).view
        if not view.pop_of_cnf:
            return f"not posted: slice {assessment.slice} has no CNF for {goal}"
        cnf = next(iter(view.pop_of_cnf))
        placement = plane.cnf_placement(cnf)
        agent = run.agents.get(placement.pop)
        if agent is None:
            return f"not posted: no agent on {placement.pop}"
        args = (cnf, str(len(placement.replicas) + 1)) if goal == "cnfScaledOut" else (cnf, "1")
        spec = next(c for c in world.scenario.cnfs if c.id == cnf)
        ips = {host.id: host.ip for host in world.scenario.hosts}
        payload = {
            "cnf": cnf,
            "host": spec.host,
            "ip": ips.get(spec.host) or plane.server_ip,
            "since": assessment.start,
        }
        await agent.post(Goal(Belief(goal, args), GoalKind.ACHIEVE, PROTECT, payload=payload))
        return f"goal {goal}({','.join(args)}) posted to {agent.pop}"


class Log(Remedy):
    """Record the breach in the audit log: the manager audits every breach already."""

    name = "log"

    async def enforce(self, breach: Breach, run: Enforcer) -> None:
        return None


class Revoke(Remedy):
    """Revoke the offending agents through the trust layer: the new offenders of the
    period, or all of the episode's when none is new."""

    name = "revoke"

    async def enforce(self, breach: Breach, run: Enforcer) -> None:
        assessment = breach.assessment
        senders = breach.new or breach.offenders
        for agent in sorted(senders & set(run.world().directory) - run.revoked):
            reason = f"{assessment.ssla}/{assessment.term} breached: {assessment.kpi} = "
            reason += f"{assessment.value:g}"
            if run.trust_layer is None:
                outcome = "not revoked: the run has no trust layer"
            else:
                await run.trust_layer.remove_agent(agent, reason)
                run.revoked.add(agent)
                outcome = "revoked on chain, its keys withdrawn"
            run.enforced(assessment, "REVOKE", agent, outcome)
            run.audit.append(assessment.end, ACTOR, "revoke", f"{agent}: {outcome} ({reason})", {})
