"""Enrolment credentials and joins: the proof binds the credential to the keys and the
account joined with; the MLFO admits each issued name once; malformed inputs are refused
with the field that is wrong."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.trust.enrolment import Credential, Enrolment, EnrolmentError, JoinRequest
from secmas.trust.identity import AgentIdentity

MLFO, SECAAS = AgentIdentity.generate("mlfo"), AgentIdentity.generate("secaas")
ADDRESS = "0x" + "ab" * 20


def desk() -> Enrolment:
    return Enrolment("pipe", MLFO, SECAAS)


def test_a_join_under_the_issued_credential_is_admitted_once() -> None:
    enrolment = desk()
    credential = enrolment.issue("pop1")
    agent = AgentIdentity.generate("pop1")
    join = JoinRequest.make(agent, ADDRESS, credential)
    assert JoinRequest.decode(join.encode()) == join
    assert credential.secret.hex() not in join.encode().decode()
    enrolment.admit(join, "pop1", agent.sealing_public)
    assert set(enrolment.enrolled) == {"pop1"}
    with pytest.raises(EnrolmentError, match="already enrolled"):
        enrolment.admit(join, "pop1", agent.sealing_public)
    with pytest.raises(EnrolmentError, match="already enrolled"):
        enrolment.issue("pop1")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda j: replace(j, address="0x" + "cd" * 20), "proof does not match"),
        (lambda j: replace(j, signing_key=bytes(32)), "proof does not match"),
        (lambda j: replace(j, pipeline="other"), "join for pipeline 'other'"),
        (lambda j: replace(j, signature=bytes(64)), "not signed by the key it registers"),
    ],
)
def test_a_join_changed_on_the_way_is_refused(change: object, reason: str) -> None:
    enrolment = desk()
    agent = AgentIdentity.generate("pop1")
    join = change(JoinRequest.make(agent, ADDRESS, enrolment.issue("pop1")))  # type: ignore[operator]
    with pytest.raises(EnrolmentError, match=reason):
        enrolment.admit(join, "pop1", agent.sealing_public)
    assert enrolment.enrolled == {} and len(enrolment.refused) == 1


def test_the_envelope_must_agree_with_the_join() -> None:
    enrolment = desk()
    agent = AgentIdentity.generate("pop1")
    join = JoinRequest.make(agent, ADDRESS, enrolment.issue("pop1"))
    with pytest.raises(EnrolmentError, match="differ from its envelope"):
        enrolment.admit(join, "pop1", AgentIdentity.generate("pop1").sealing_public)
    with pytest.raises(EnrolmentError, match="differ from its envelope"):
        enrolment.admit(join, "pop2", agent.sealing_public)


def test_a_credential_file_is_owner_only_and_read_once(tmp_path: Path) -> None:
    credential = desk().issue("pop1")
    path = tmp_path / "enrolment-pop1.json"
    credential.write(path)
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        credential.write(path)
    assert Credential.take(path) == credential
    assert not path.exists()
    with pytest.raises(EnrolmentError, match="cannot read"):
        Credential.take(path)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_refused_as_joins_and_credentials(data: bytes) -> None:
    for decode in (JoinRequest.decode, Credential.decode):
        with pytest.raises(EnrolmentError):
            decode(data)


@pytest.mark.parametrize(
    "field", ["pipeline", "agent", "secret", "mlfo_key", "secaas_key", "secaas_signing_key"]
)
def test_a_credential_missing_a_field_names_it(field: str) -> None:
    data = json.loads(desk().issue("pop1").encode())
    del data[field]
    with pytest.raises(EnrolmentError, match=field):
        Credential.decode(json.dumps(data).encode())
