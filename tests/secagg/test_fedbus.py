"""Enrolment and welcome of federated agent processes, and the channel's addressing."""

from __future__ import annotations

import os

import pytest

from secmas.secagg.envelope import SERVER
from secmas.secagg.fedagent import main
from secmas.secagg.fedbus import (
    COORDINATOR,
    JOIN_CONTEXT,
    Welcome,
    join_box,
    member_name,
    open_welcome,
    recipient,
)
from secmas.trust.enrolment import CREDENTIAL_ENV, Enrolment, EnrolmentError, JoinRequest
from secmas.trust.identity import AgentIdentity
from secmas.trust.linkkeys import PeerKeys
from secmas.trust.sealing import open_sealed


def setting() -> tuple[AgentIdentity, Enrolment, AgentIdentity, Welcome]:
    coordinator = AgentIdentity.generate(COORDINATOR)
    enrolment = Enrolment("fedavg", coordinator, coordinator)
    agent = AgentIdentity.generate(member_name(0))
    roster = {member_name(0): PeerKeys.of(agent), COORDINATOR: PeerKeys.of(coordinator)}
    return coordinator, enrolment, agent, Welcome("fedavg", roster, os.urandom(32))


def test_a_join_opens_for_the_coordinator_and_spends_the_credential() -> None:
    coordinator, enrolment, agent, _ = setting()
    credential = enrolment.issue(member_name(0))
    box = join_box(JoinRequest.make(agent, "0x" + "11" * 20, credential), credential)
    join = JoinRequest.decode(open_sealed(box, coordinator.sealing, JOIN_CONTEXT))
    assert enrolment.admit(join, join.agent, join.sealing_key).signing_key == agent.signing_public
    with pytest.raises(EnrolmentError, match="already enrolled"):
        enrolment.admit(join, join.agent, join.sealing_key)


def test_only_the_coordinator_of_the_credential_can_welcome() -> None:
    coordinator, enrolment, agent, welcome = setting()
    credential = enrolment.issue(member_name(0))
    opened = open_welcome(welcome.sealed_to(coordinator, agent.sealing_public), agent, credential)
    assert opened == welcome
    assert opened.directory == {0: agent.signing_public, SERVER: coordinator.signing_public}
    impostor = AgentIdentity.generate(COORDINATOR)
    forged = welcome.sealed_to(impostor, agent.sealing_public)
    with pytest.raises(EnrolmentError, match="not signed by the coordinator"):
        open_welcome(forged, agent, credential)
    other = AgentIdentity.generate(member_name(1))
    with pytest.raises(EnrolmentError, match="welcome: not sealed to this key"):
        open_welcome(welcome.sealed_to(coordinator, other.sealing_public), agent, credential)


def test_channel_subjects_address_one_member() -> None:
    session = "ab" * 16
    assert recipient(f"secagg.{session}.3") == member_name(3)
    assert recipient(f"secagg.{session}.server") == COORDINATOR
    assert recipient(f"fedavg.task.{session}.2") == member_name(2)
    assert recipient("fedavg.ready.2") == COORDINATOR
    assert recipient("fedavg.task.x.y") is None and recipient("other.subject") is None


def test_an_agent_process_without_a_credential_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["--bus", "nats://127.0.0.1:1", "--index", "0", "--scenario", "s.yaml"]
    monkeypatch.delenv(CREDENTIAL_ENV, raising=False)
    assert main([*arguments, "--seconds", "60"]) == 2
    assert f"set {CREDENTIAL_ENV}" in capsys.readouterr().err
    monkeypatch.setenv(CREDENTIAL_ENV, "/nonexistent/credential")
    assert main([*arguments, "--seconds", "60"]) == 2
    assert "enrolment credential: /nonexistent/credential: cannot read" in capsys.readouterr().err
