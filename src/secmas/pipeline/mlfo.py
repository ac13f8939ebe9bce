"""The MLFO's part of step 1: the MAS pipeline a network service needs.

Given the network service (its VNFs and their sites) and the network, the MLFO decides
which agents to deploy, where, with which boot image and connectivity, and returns a
descriptor (`001_…` step 1). DESIRE6G runs one agent per NFVI site: every PoP gets an
agent, so that each site can bid for the goals the service raises, and all agents share
one overlay segment (VNI). The pipeline is valid when every agent reaches every VNF of
the service within the service's latency bound (any agent may win a goal that acts on
any VNF); otherwise the MLFO refuses it, naming the agent and the VNF.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import secmas
from secmas.pipeline.workflow import Workflow
from secmas.scenario.model import NetworkService, Scenario, ServiceVNF

AGENT_IMAGE = "secmas-agent"


def pipeline_name(scenario_id: str) -> str:
    """A pipeline name for the ledger and bus subjects: one token of at most 32 bytes."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in scenario_id)[:32]


class PipelineRefused(ValueError):
    """The service cannot be served within its latency bound by any MAS pipeline."""


@dataclass(frozen=True)
class AgentSpec:
    """One agent of the pipeline: where it runs, what it boots, which VNFs sit with it."""

    name: str
    pop: str
    image: str
    colocated: tuple[str, ...]


@dataclass(frozen=True)
class MasDescriptor:
    """What the MLFO returns to the SO: agents, image, overlay segment, reach."""

    pipeline: str
    service: str
    image: str
    vni: int
    agents: tuple[AgentSpec, ...]
    worst_reach_ms: float
    """The largest latency from an agent to a VNF of the service."""

    def to_json(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "service": self.service,
            "image": self.image,
            "vni": self.vni,
            "agents": [
                {"name": a.name, "pop": a.pop, "image": a.image, "colocated": list(a.colocated)}
                for a in self.agents
            ],
            "worst_reach_ms": round(self.worst_reach_ms, 3),
        }


def default_service(scenario: Scenario) -> NetworkService:
    """The service of a scenario without one: its initially placed VNFs."""
    vnfs = tuple(
        ServiceVNF(id=f"{p.vnf}-{i}", vnfd=p.vnf, pop=p.pop)
        for i, p in enumerate(scenario.placements)
    ) or (ServiceVNF(id="agent-site", vnfd=scenario.vnfs[0].id, pop=scenario.pops[0].id),)
    return NetworkService(id=f"{scenario.id}-service", vnfs=vnfs, max_latency=math.inf)


def latencies_from(scenario: Scenario, source: str) -> dict[str, float]:
    """Lowest accumulated link latency (ms) from `source` to every node (Dijkstra)."""
    graph: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for link in scenario.links:
        graph[link.a].append((link.b, link.latency))
        graph[link.b].append((link.a, link.latency))
    best = {source: 0.0}
    queue = [(0.0, source)]
    while queue:
        dist, node = heapq.heappop(queue)
        if dist > best.get(node, math.inf):
            continue
        for nxt, latency in graph[node]:
            candidate = dist + latency
            if candidate < best.get(nxt, math.inf):
                best[nxt] = candidate
                heapq.heappush(queue, (candidate, nxt))
    return best


def compute_pipeline(
    scenario: Scenario, service: NetworkService, pipeline: str, image: str, vni: int
) -> MasDescriptor:
    """Step 1: one agent per PoP, checked against the service's latency bound."""
    agents = tuple(
        AgentSpec(
            name=pop.id,
            pop=pop.id,
            image=image,
            colocated=tuple(v.id for v in service.vnfs if v.pop == pop.id),
        )
        for pop in scenario.pops
    )
    # Links are undirected, so agent → VNF equals VNF → agent: one Dijkstra per VNF site
    # (O(k (N + E) log N) for k sites) instead of one per agent.
    reach = {site: latencies_from(scenario, site) for site in {v.pop for v in service.vnfs}}
    worst = 0.0
    for agent in agents:
        for vnf in service.vnfs:
            latency = reach[vnf.pop].get(agent.pop, math.inf)
            if latency > service.max_latency:
                raise PipelineRefused(
                    f"agent {agent.name} reaches VNF {vnf.id} at {vnf.pop} in {latency:g} ms, "
                    f"beyond the service's {service.max_latency:g} ms"
                )
            worst = max(worst, latency)
    return MasDescriptor(pipeline, service.id, image, vni, agents, worst)


async def plan_service(
    flow: Workflow, scenario: Scenario, pipeline: str, vni: int
) -> MasDescriptor:
    """Steps 0–1, the same for every driver: the SO takes the scenario's network service
    (or the default one), the MLFO computes the MAS pipeline for it."""
    service = await flow.step(
        "0",
        lambda: scenario.service or default_service(scenario),
        {"scenario": scenario.id},
        lambda nsd: {
            "service": nsd.id,
            "vnfs": [f"{v.id}={v.vnfd}@{v.pop}" for v in nsd.vnfs],
            "max_latency_ms": nsd.max_latency,
        },
    )
    image = f"{AGENT_IMAGE}:secmas@{secmas.__version__}"
    return await flow.step(
        "1",
        lambda: compute_pipeline(scenario, service, pipeline, image, vni),
        {"service": service.id, "pops": len(scenario.pops)},
        lambda descriptor: descriptor.to_json(),
    )
