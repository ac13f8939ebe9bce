"""The bus subjects of NFV-A: each agent's inbox, in the space of its pipeline."""

from __future__ import annotations

PROTOCOL = "nfv-a"
SPACE = "nfva"
"""The subject space of NFV-A; a pipeline sharing a server with others uses its own,
e.g. `nfva.<pipeline>`."""


def inbox(agent: str, space: str = SPACE) -> str:
    """The bus subject an agent receives NFV-A messages on."""
    return f"{space}.agent.{agent}"


def inbox_owner(subject: str) -> str | None:
    """The agent an NFV-A inbox subject belongs to (any space); None for other subjects."""
    tokens = subject.split(".")
    if len(tokens) >= 3 and tokens[0] == SPACE and tokens[-2] == "agent":
        return tokens[-1]
    return None
