"""Who may say what in NFV-A (`secmas.agents.senders`): the rules, and their journal.

The attacks they stop, over the real secure channel and in a whole run, are in
tests/security/test_nfva_senders.py."""

from __future__ import annotations

import json
from dataclasses import asdict

from hypothesis import given
from hypothesis import strategies as st

from secmas.agents.acl import ACLMessage, Performative
from secmas.agents.conversations import Conversations, opened_by
from secmas.agents.journal import Journal, apply_json
from secmas.agents.senders import (
    NOT_INITIATOR,
    NOT_PARTY,
    OWN_CONVERSATION,
    SPOOFED,
    RefusedMessage,
    misnamed,
    not_party,
    out_of_role,
)

names = st.sampled_from(["pop1", "pop2", "pop3"])


def said(performative: Performative, sender: str) -> ACLMessage:
    return ACLMessage(performative, sender, ("pop9",), "pop2.7")


@given(performative=st.sampled_from(Performative), named=names, sealer=names)
def test_a_message_is_misnamed_exactly_when_it_names_another_sender_than_its_sealer(
    performative: Performative, named: str, sealer: str
) -> None:
    why = misnamed(said(performative, named), sealer)
    assert (why is None) == (named == sealer)
    if why is not None:
        assert why == f"{SPOOFED}: sealed by {sealer}, names {named}"


def test_on_a_bus_that_authenticates_nobody_the_named_sender_stands():
    assert misnamed(said(Performative.CANCEL, "pop1"), None) is None


def test_awards_rejections_and_cancellations_are_the_initiators_alone():
    reject = said(Performative.REJECT_PROPOSAL, "pop2")
    assert out_of_role(reject, "pop2") is None
    assert out_of_role(reject, None) is None  # nothing held in that conversation
    assert out_of_role(reject, "pop3") == f"{NOT_INITIATOR}: pop2.7 was called by pop3"


@given(performative=st.sampled_from(sorted(OWN_CONVERSATION)), sender=names)
def test_only_in_a_conversation_its_sender_opened(performative: Performative, sender: str):
    """A call, an award or a request under another agent's id is refused, even where
    this agent holds nothing of that conversation (a call before its initiator's)."""
    why = out_of_role(said(performative, sender), None)
    assert (why is None) == (sender == "pop2")
    if why is not None:
        assert why == f"{NOT_INITIATOR}: pop2.7 is not {sender}'s"


def test_conversation_ids_are_their_initiators_and_unpredictable():
    """Two mailboxes of one name (one agent in two runs) make other ids; each id begins
    with its initiator's name, which no other agent's does."""
    first, again = Conversations("pop2"), Conversations("pop2")
    ids = [first.open() for _ in range(3)]
    assert [again.open() for _ in range(3)] != ids
    assert len({i.split(".")[1] for i in ids}) == 3  # a token each, not one per run
    assert [i.split(".")[2] for i in ids] == ["1", "2", "3"]
    assert all(opened_by(i, "pop2") and not opened_by(i, "pop") for i in ids)


def test_answers_only_from_the_agents_the_conversation_asked():
    report = said(Performative.INFORM, "pop1")
    assert not_party(report, frozenset({"pop1", "pop3"})) is None
    assert not_party(report, frozenset({"pop3", "pop2"})) == (
        f"{NOT_PARTY}: pop2.7 expects pop2, pop3"
    )


def test_a_refusal_relayed_from_an_agent_process_is_journalled_alike():
    journal, merged = Journal(), Journal()
    journal.refused(
        RefusedMessage(3.5, "pop3", "cancel", "pop2", "pop1", "pop2.7", f"{SPOOFED}: x")
    )
    [refusal] = journal.refusals
    apply_json(merged, json.loads(json.dumps({"event": "refused", **asdict(refusal)})))
    assert merged.refusals == journal.refusals
