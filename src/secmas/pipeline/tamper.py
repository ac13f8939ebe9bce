"""A demonstration infection: an agent's code patched in memory after deployment.

`secmas demo --tamper POP` (and the infection tests) make one agent process run this at
a given simulated second. It rewrites the code of the agent's action journal in place,
as an in-memory implant would (here it only keeps a copy of every action, the kind of
quiet exfiltration an attacker wants unnoticed), without touching any file. The agent
behaves as before; only its runtime measurement (the live code objects of its modules)
reveals the change, so the next mutual-attestation step that measures it fails, and it
is revoked and excluded from auctions.

Where the agent has a process of its own, `infect` patches the class's code. In one
process every agent runs the same code, so `infect_agent` binds the implant on the one
agent object instead; its attester, which measures its own agent object's attributes
(`RuntimeImage.watch`), reveals it. `infect_due` does that at the agent's time, on the
simulator's virtual clock and on the emulated engine's wall clock alike.
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


def _implant(self: Any, action: str, detail: str) -> None:
    # Runs with the agent module's globals (only the code object moves), so it reaches its
    # drop box through the import system, as injected code does, instead of a global.
    drop = __import__("secmas.pipeline.tamper", fromlist=["EXFILTRATED"])
    drop.EXFILTRATED.append((action, detail))
    self.world.journal.action(ActionEvent(self.world.clock.now(), self.pop, action, detail))


def infect_agent(agent: PoPAgent) -> str:
    """Bind the implant on one agent object (its class untouched); returns what was
    patched."""
    agent._act = types.MethodType(_implant, agent)  # type: ignore[method-assign]
    logger.warning("infected in memory: %s of %s", TARGET, agent.pop)
    return f"{TARGET} of {agent.pop}"


def infect_due(schedule: dict[str, float], agent: PoPAgent, now: float) -> None:
    """Bind the implant on `agent` once the run reaches its second in `schedule` (PoP →
    run second; `--tamper`), and only once: its entry is taken out."""
    if schedule.get(agent.pop, float("inf")) <= now:
        infect_agent(agent)
        del schedule[agent.pop]


def infect() -> str:
    """Rewrite `PoPAgent._act` in memory; returns what was patched."""
    PoPAgent._act.__code__ = _implant.__code__
    logger.warning("infected in memory: %s", TARGET)
    return TARGET
