"""Who may say what in NFV-A (`secmas.agents.senders`): the rules, and their journal.

The attacks they stop, over the real secure channel and in a whole run, are in
tests/security/test_nfva_senders.py."""

from __future__ import annotations

import json
from dataclasses import asdict

from hypothesis import given
from hypothesis import strategies as st

from secmas.agents.acl import ACLMessage, Performative
from secmas.agents.journal import Journal, apply_json
from secmas.agents.senders import (
    NOT_INITIATOR,
    NOT_PARTY,
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
    reject = said(Performative.REJECT_PROPOSAL, "pop1")
    assert out_of_role(reject, "pop2") == f"{NOT_INITIATOR}: pop2.7 was called by pop2"
    assert out_of_role(reject, "pop1") is None
    assert out_of_role(reject, None) is None  # nothing held in that conversation


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
