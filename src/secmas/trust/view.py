"""Which agents currently take part: the relying party's view of attestation results.

Agents consult this view (as `World.admits`) before they answer a CFP or accept a bid:
an agent that never passed attestation, failed it or was revoked is ignored, so a
compromised agent can neither win goals nor steer auctions (`001_…`, step 12 onwards).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrustView:
    """Trusted agent names, with the reason each excluded agent left."""

    trusted: set[str] = field(default_factory=set)
    excluded: dict[str, str] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    """Every agent whose admission changed, in order (append-only; the liveness monitor
    writes its withdrawals here too): the goal board reads it from where it left off
    rather than asking about every agent at every round (`secmas.agents.board`)."""

    def admits(self, agent: str) -> bool:
        """Whether `agent` passed attestation and was not revoked since."""
        return agent in self.trusted

    def trust(self, agent: str) -> None:
        """`agent` passed an attestation (unless it was excluded for good)."""
        if agent not in self.excluded and agent not in self.trusted:
            self.trusted.add(agent)
            self.changed.append(agent)

    def withdraw(self, agent: str) -> None:
        """`agent`'s last verdict could not be confirmed (its verifier lied or the chain
        disagreed): untrusted until an attestation passes again, without exclusion."""
        self._distrust(agent)

    def exclude(self, agent: str, reason: str) -> None:
        """`agent` failed attestation or was revoked: it takes no further part."""
        self._distrust(agent)
        self.excluded.setdefault(agent, reason)

    def _distrust(self, agent: str) -> None:
        if agent in self.trusted:
            self.trusted.discard(agent)
            self.changed.append(agent)
