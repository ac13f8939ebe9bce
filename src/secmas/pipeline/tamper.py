"""A demonstration infection: an agent's code patched in memory after deployment.

`secmas demo --tamper POP` (and the infection tests) have one agent run this at a given
simulated second. It binds an implant in place of the agent's action journal method on
the live agent object, as an in-memory implant would (here it only keeps a copy of every
action, the kind of quiet exfiltration an attacker wants unnoticed), without touching any
file or the class. The agent behaves as before; only its attester, which measures its own
agent object and the objects it acts through (`secmas.pipeline.agentwatch`), reveals the
change, so the next mutual-attestation step that measures it fails, and it is revoked and
excluded from auctions. The attack is the same in every placement: in one process (where
all agents share the code, so only their objects tell an infected agent from the others)
and in an agent's own process or container. `infect_due` does it at the agent's time, on
the simulator's virtual clock and on the emulated engine's wall clock alike.
"""

from __future__ import annotations

import logging
import types
from typing import Any

from secmas.agents.ddos.agent import PoPAgent
from secmas.agents.journal import ActionEvent

logger = logging.getLogger(__name__)

EXFILTRATED: list[tuple[str, str]] = []
"""What the implant kept."""

TARGET = f"{PoPAgent.__module__}:PoPAgent._act"
"""The function the implant rewrites (module:qualname, as attestation names it)."""


def implant(self: Any, action: str, detail: str) -> None:
    """The implant: journals the action as the genuine method does, and keeps a copy."""
    # Its code may also be moved into the class's method (an attack test does), where it
    # runs with the agent module's globals: it reaches its drop box through the import
    # system, as injected code does, instead of a global.
    drop = __import__("secmas.pipeline.tamper", fromlist=["EXFILTRATED"])
    drop.EXFILTRATED.append((action, detail))
    self.world.journal.action(ActionEvent(self.world.clock.now(), self.pop, action, detail))


def infect_agent(agent: PoPAgent) -> str:
    """Bind the implant on one agent object (its class untouched); returns what was
    patched."""
    agent._act = types.MethodType(implant, agent)  # type: ignore[method-assign]
    logger.warning("infected in memory: %s of %s", TARGET, agent.pop)
    return f"{TARGET} of {agent.pop}"


def infect_due(schedule: dict[str, float], agent: PoPAgent, now: float) -> None:
    """Bind the implant on `agent` once the run reaches its second in `schedule` (PoP →
    run second; `--tamper`), and only once: its entry is taken out."""
    if schedule.get(agent.pop, float("inf")) <= now:
        infect_agent(agent)
        del schedule[agent.pop]
