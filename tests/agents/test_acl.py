"""FIPA-ACL messages: encoding, strict decoding of untrusted frames, replies."""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.agents.acl import MAX_FRAME, ACLMessage, MalformedMessage, Performative


def cfp(**changes) -> ACLMessage:
    fields = {
        "performative": Performative.CFP,
        "sender": "pop1",
        "receivers": ("pop2", "pop3"),
        "conversation_id": "auction-7",
        "content": {"goal": "flowRecord", "args": ["10.0.0.1"], "traffic": 500.0},
        "reply_with": "cfp-7",
        "protocol": "nfv-a",
        "reply_by": 12.5,
        "ontology": "secmas",
    }
    fields.update(changes)
    return ACLMessage(**fields)


def frame(**changes) -> bytes:
    base = {"performative": "cfp", "sender": "a", "receivers": ["b"], "conversation_id": "c"}
    base.update(changes)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()


def test_round_trip_and_compact_encoding():
    message = cfp()
    data = message.encode()
    assert ACLMessage.decode(data) == message
    assert b" " not in data and data.startswith(b'{"performative":"cfp","sender":"pop1"')
    minimal = ACLMessage(Performative.INFORM, "a", ("b",), "c")
    assert minimal.encode() == (
        b'{"performative":"inform","sender":"a","receivers":["b"],"conversation_id":"c"}'
    )
    assert ACLMessage.decode(minimal.encode()) == minimal


def test_every_performative_has_its_fipa_name():
    names = {p.value for p in Performative}
    assert {"cfp", "propose", "refuse", "accept-proposal", "reject-proposal"} <= names
    assert {"inform", "inform-done", "failure", "request", "agree"} <= names
    assert {"not-understood", "cancel", "confirm"} <= names and len(names) == 13


def test_reply_keeps_conversation_and_answers_reply_with():
    message = cfp()
    proposal = message.reply(Performative.PROPOSE, {"T": 1.0}, sender="pop2", reply_with="p-2")
    assert proposal.sender == "pop2" and proposal.receivers == ("pop1",)
    assert proposal.conversation_id == "auction-7" and proposal.in_reply_to == "cfp-7"
    assert proposal.protocol == "nfv-a" and proposal.ontology == "secmas"
    assert proposal.reply_with == "p-2" and proposal.reply_by is None
    accept = proposal.reply(Performative.ACCEPT_PROPOSAL)
    assert accept.sender == "pop1" and accept.receivers == ("pop2",)
    assert accept.in_reply_to == "p-2" and accept.content == {}
    with pytest.raises(ValueError, match="name the sender"):
        message.reply(Performative.REFUSE)


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (b"not json", "frame", "not JSON"),
        (b"\xff\xfe", "frame", "not UTF-8"),
        (b"[1, 2]", "frame", "JSON object"),
        (frame(sender=...), "sender", "missing"),
        (frame(conversation_id=...), "conversation_id", "missing"),
        (frame(performative="bid"), "performative", "unknown performative"),
        (frame(performative=3), "performative", "expected a string"),
        (frame(sender=""), "sender", "non-empty string"),
        (frame(receivers="b"), "receivers", "expected a list"),
        (frame(receivers=[]), "receivers", "non-empty list"),
        (frame(receivers=["b", 7]), "receivers", "non-empty string"),
        (frame(content=[1]), "content", "expected an object"),
        (frame(reply_with=5), "reply_with", "non-empty string"),
        (frame(reply_by="soon"), "reply_by", "finite number"),
        (frame(reply_by=True), "reply_by", "finite number"),
        (frame(reply_by=10**400), "reply_by", "finite number"),
        (frame(price=1), "price", "unknown field"),
        (frame()[:-1] + b',"reply_by":NaN}', "frame", "NaN"),
        (frame()[:-1] + b',"sender":"x"}', "frame", "duplicate key 'sender'"),
        (b"[" * 100_000, "frame", "nested more than 32 levels"),
        (b" " * (MAX_FRAME + 1), "frame", "exceeds"),
    ],
)
def test_bad_frames_name_the_field(data: bytes, field: str, words: str):
    with pytest.raises(MalformedMessage, match=words) as caught:
        ACLMessage.decode(data)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_decode_refuses_text_and_encode_refuses_what_peers_would_refuse():
    with pytest.raises(MalformedMessage, match="expected bytes"):
        ACLMessage.decode('{"performative": "cfp"}')  # type: ignore[arg-type]
    with pytest.raises(MalformedMessage, match="content: not JSON-serialisable"):
        cfp(content={"when": object()}).encode()
    with pytest.raises(MalformedMessage, match="content: not JSON-serialisable"):
        cfp(content={"x": float("nan")}).encode()
    with pytest.raises(MalformedMessage, match=r"frame: .* exceeds"):
        cfp(content={"blob": "x" * MAX_FRAME}).encode()
    with pytest.raises(MalformedMessage, match="unknown performative"):
        cfp(performative="bid")
    assert cfp(performative="propose").performative is Performative.PROPOSE
    assert cfp(receivers=["pop2"]).receivers == ("pop2",)


@settings(max_examples=300)
@given(st.binary(max_size=512))
def test_random_bytes_only_ever_raise_malformed_message(data: bytes):
    with contextlib.suppress(MalformedMessage):
        ACLMessage.decode(data)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


keys = st.sampled_from([*ACLMessage.__dataclass_fields__, "other"])


@settings(max_examples=150)
@given(st.dictionaries(keys, json_values))
def test_random_json_objects_decode_or_raise_malformed_message(changes: dict):
    valid = {"performative": "cfp", "sender": "a", "receivers": ["b"], "conversation_id": "c"}
    try:
        message = ACLMessage.decode(json.dumps({**valid, **changes}).encode())
    except MalformedMessage:
        return
    assert ACLMessage.decode(message.encode()) == message


names = st.text(min_size=1, max_size=12)
optional_names = st.none() | names


@settings(max_examples=300)
@given(
    performative=st.sampled_from(Performative),
    sender=names,
    receivers=st.lists(names, min_size=1, max_size=4).map(tuple),
    conversation_id=names,
    content=st.dictionaries(st.text(), json_values, max_size=5),
    reply_with=optional_names,
    in_reply_to=optional_names,
    protocol=optional_names,
    reply_by=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    ontology=optional_names,
)
def test_encode_decode_round_trip(**fields):
    message = ACLMessage(**fields)
    data = message.encode()
    assert isinstance(data, bytes) and data.decode("ascii")
    assert ACLMessage.decode(data) == message
    kept = {k: v for k, v in fields.items() if v is not None and v != {}}  # the wire format
    assert data == json.dumps(kept, separators=(",", ":")).encode()
    frames = list(message.frames())
    assert [receiver for receiver, _ in frames] == list(message.receivers)
    for receiver, one in frames:  # the body encoded once, spliced per receiver
        assert one == replace(message, receivers=(receiver,)).encode()


def test_frames_per_receiver_refuse_what_encode_refuses():
    with pytest.raises(MalformedMessage, match="not JSON-serialisable"):
        list(cfp(content={"x": {1, 2}}).frames())
    with pytest.raises(MalformedMessage, match="Out of range float"):
        list(cfp(content={"x": float("nan")}).frames())
    long = "p" * (MAX_FRAME // 2)
    big = cfp(receivers=("b", long), content={"pad": "x" * (MAX_FRAME // 2)})
    frames = big.frames()
    assert next(frames)[0] == "b"  # fits; the second, with the long name, does not
    with pytest.raises(MalformedMessage, match="exceeds"):
        next(frames)
