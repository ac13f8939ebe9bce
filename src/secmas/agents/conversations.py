"""NFV-A conversation ids, bound to their initiator and unpredictable to the other agents.

An id was `<initiator>.<n>`: an attested insider, sealing in its own name, called for
proposals under another initiator's next ids before it did; the best bidder held its
resources for the insider's call, refused the initiator's own call as "not the
initiator" (journalled against the initiator), and the auction went to a worse bid.

Now an initiator's id is `<initiator>.<token>.<n>`, the token an HMAC of `n` under a key
the initiator alone holds, drawn anew for each mailbox: no other agent can tell the next
id from those it saw. And a message only an initiator sends counts only in a
conversation its sender opened (`opened_by`, checked in `secmas.agents.senders`): one
agent's call can never take up another initiator's conversation, whatever it guesses.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets

TOKEN_HEX = 16
"""Hex digits of an id's token (64 bits of the HMAC)."""


class Conversations:
    """The ids of the conversations one initiator opens, in order."""

    def __init__(self, initiator: str) -> None:
        self.initiator = initiator
        self._key = secrets.token_bytes(32)
        self._seq = itertools.count(1)

    def open(self) -> str:
        """The next conversation's id: `<initiator>.<token>.<n>`."""
        n = next(self._seq)
        token = hmac.new(self._key, str(n).encode(), hashlib.sha256).hexdigest()[:TOKEN_HEX]
        return f"{self.initiator}.{token}.{n}"


def opened_by(conversation: str, agent: str) -> bool:
    """Whether `conversation` is one `agent` opened: its id begins with the agent's name
    (an agent's name, a PoP id, holds no dot: `secmas.scenario.base.PoPId`)."""
    return conversation.startswith(f"{agent}.")
