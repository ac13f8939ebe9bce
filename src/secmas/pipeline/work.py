"""Work a run gives its attested agents between bring-up and operation.

Once the secure pipeline is up (steps 0–14 of `001_…`: agents measured, attested on the
ledger, enrolled, keyed), a run may set its agents to work before the data plane starts:
federated training of the closed loop's detector (`secmas.secagg.fedrun`), in which each
agent learns from its own PoP's telemetry and only secure sums leave it. The pipeline
knows nothing of the work itself. It hands the work the `Cohort` (the agents the trust
layer admits, their Ed25519 keys as registered on chain, the MLFO's identity and its end
of the secure channel) and, wherever an agent runs, the agent's `Seat` (its identity and
its own end of the channel), for the work's `SeatService` in that agent.

Subjects (`<p>` the pipeline, `<a>` an agent), all on the secure channel and sealed with
the pairwise link key of their two ends: `secmas.work.<p>.<a>` from the MLFO to agent
`<a>` (what to do), `secmas.sum.<p>.<session>.<a>` the MLFO's requests in a secure sum,
`secmas.sum.<p>.<session>.server` the agents' answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from secmas.transport.bus import Bus
from secmas.trust.control import MLFO
from secmas.trust.identity import AgentIdentity

__all__ = [
    "AgentWork",
    "Cohort",
    "Seat",
    "SeatService",
    "sum_prefix",
    "work_recipient",
    "work_subject",
]


def work_subject(pipeline: str, agent: str) -> str:
    """Where the MLFO tells agent `agent` what to do."""
    return f"secmas.work.{pipeline}.{agent}"


def sum_prefix(pipeline: str) -> str:
    """The subjects of the pipeline's secure sums start with this."""
    return f"secmas.sum.{pipeline}"


def work_recipient(subject: str) -> str | None:
    """Whom a work or secure-sum subject addresses (None: not such a subject)."""
    tokens = subject.split(".")
    if tokens[:2] == ["secmas", "work"] and len(tokens) == 4:
        return tokens[3]
    if tokens[:2] == ["secmas", "sum"] and len(tokens) == 5:
        return MLFO if tokens[4] == "server" else tokens[4]
    return None


@dataclass(frozen=True)
class Seat:
    """One attested agent's side of the work: its name, the pipeline's agents in the
    scenario's order (its index is its place there), its identity (the private keys it
    made itself), its end of the secure channel, and the Ed25519 keys registered on
    chain of the members, by name, and of the MLFO (the only one it takes work from)."""

    pipeline: str
    agent: str
    agents: tuple[str, ...]
    identity: AgentIdentity
    bus: Bus
    registered: Mapping[str, bytes]
    mlfo: bytes

    @property
    def index(self) -> int:
        return self.agents.index(self.agent)


@dataclass(frozen=True)
class Cohort:
    """The run's attested agents as the MLFO reaches them after bring-up: the pipeline's
    agents in the scenario's order, those the trust layer admits now, every member's
    Ed25519 key as registered on chain (read back from the registry), the MLFO's identity
    and its end of the secure channel. `seats` holds the agents' own sides where they run
    in this process; with agents as processes each serves its seat there."""

    pipeline: str
    agents: tuple[str, ...]
    admitted: tuple[str, ...]
    registered: Mapping[str, bytes]
    identity: AgentIdentity
    bus: Bus
    seats: Mapping[str, Seat] = field(default_factory=dict)


class SeatService(Protocol):
    """The agent's part of some work, served from its seat from bring-up until the end
    of the run."""

    async def start(self, seat: Seat) -> None: ...

    async def stop(self) -> None: ...


class AgentWork(Protocol):
    """Work the MLFO gives the cohort after bring-up, before the data plane starts."""

    async def run(self, cohort: Cohort) -> None: ...
