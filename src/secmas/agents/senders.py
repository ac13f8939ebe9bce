"""Who may say what in NFV-A: a message counts only from the agent it names, in its role.

The secure channel proves which agent sealed a frame (`secmas.transport.channel`); an ACL
message names a sender of its own (FIPA `sender`), which any member can write. An
attested insider used that gap: over its own authenticated links it sent REJECT-PROPOSAL
and CANCEL in initiators' names, and bids were released before their award, winners gave
their goals up. So a message is taken only when the sender it names is the one the
channel authenticated, and then only in its role in the Contract Net (`003_…` Section
3.3.1): the initiator alone calls, awards, rejects, cancels or confirms a winner's lease
(`INITIATOR_ONLY`), only in a conversation it opened itself (`OWN_CONVERSATION`: its id
is bound to its initiator, `secmas.agents.conversations`), and in a conversation only the
agents it asked answer (the bidders; after the award, the winner alone). What is refused
is journalled as a `RefusedMessage`, which names the agent that sealed it: the insider,
not the agent it spoke for, nor the initiator whose conversation it took up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from secmas.agents.acl import ACLMessage, Performative
from secmas.agents.conversations import opened_by

SPOOFED = "spoofed sender"
"""The message names another sender than the agent that sealed it."""
NOT_INITIATOR = "not the initiator"
"""A call, award, rejection, cancellation or request in a conversation another agent
opened or called."""
NOT_PARTY = "not a party"
"""An answer in a conversation from an agent it did not ask (or, after the award, not
from the winner)."""

INITIATOR_ONLY = frozenset(
    {
        Performative.CFP,
        Performative.ACCEPT_PROPOSAL,
        Performative.REJECT_PROPOSAL,
        Performative.CANCEL,
        Performative.CONFIRM,
    }
)
"""What only the initiator of a conversation sends (FIPA Contract Net): a call under a
conversation id another agent called, whose bid this agent holds, is refused too."""

OWN_CONVERSATION = INITIATOR_ONLY | {Performative.REQUEST}
"""What an agent sends only in a conversation it opened (`opened_by`): an insider's call
under another initiator's next id would otherwise take the bidders' resources, and the
initiator's own call would be refused as not its."""


@dataclass(frozen=True)
class RefusedMessage:
    """An NFV-A message an agent refused: who it names, who sealed it, and why."""

    time: float
    agent: str
    """The agent that refused it (its receiver)."""
    performative: str
    named: str
    """The sender the message names."""
    authenticated: str
    """The agent that sealed it (the named one where the bus authenticates nobody)."""
    conversation: str
    reason: str


Refused = Callable[[RefusedMessage], None]
"""Told of every message refused (the run's journal records it)."""


def misnamed(message: ACLMessage, authenticated: str | None) -> str | None:
    """Why `message` is not from the sender it names (`SPOOFED`, with both names), or
    None when it is, or when the bus authenticates nobody (`authenticated` is None)."""
    if authenticated is None or message.sender == authenticated:
        return None
    return f"{SPOOFED}: sealed by {authenticated}, names {message.sender}"


def out_of_role(message: ACLMessage, initiator: str | None) -> str | None:
    """Why a `message` of `OWN_CONVERSATION` is refused (`NOT_INITIATOR`): its sender did
    not open the conversation, or the conversation's `initiator` is known (None: this
    agent holds nothing of it) and is not its sender."""
    conversation = message.conversation_id
    if not opened_by(conversation, message.sender):
        return f"{NOT_INITIATOR}: {conversation} is not {message.sender}'s"
    if initiator is None or message.sender == initiator:
        return None
    return f"{NOT_INITIATOR}: {conversation} was called by {initiator}"


def not_party(message: ACLMessage, parties: frozenset[str]) -> str | None:
    """Why an answer is refused (`NOT_PARTY`) when its sender is not among the `parties`
    the conversation expects it from."""
    if message.sender in parties:
        return None
    return f"{NOT_PARTY}: {message.conversation_id} expects {', '.join(sorted(parties))}"
