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

    def admits(self, agent: str) -> bool:
        """Whether `agent` passed attestation and was not revoked since."""
        return agent in self.trusted

    def trust(self, agent: str) -> None:
        """`agent` passed an attestation (unless it was excluded for good)."""
        if agent not in self.excluded:
            self.trusted.add(agent)

    def withdraw(self, agent: str) -> None:
        """`agent`'s last verdict could not be confirmed (its verifier lied or the chain
        disagreed): untrusted until an attestation passes again, without exclusion."""
        self.trusted.discard(agent)

    def exclude(self, agent: str, reason: str) -> None:
        """`agent` failed attestation or was revoked: it takes no further part."""
        self.trusted.discard(agent)
        self.excluded.setdefault(agent, reason)
