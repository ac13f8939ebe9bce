"""Envelopes between identity keys: they open only for their receiver, from their sender,
on their subject, once; the parser refuses anything else with a reason, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.trust.envelope import EnvelopeError, Envelopes, Header, Kind, pair_key
from secmas.trust.identity import AgentIdentity
from secmas.trust.linkkeys import PeerKeys

A, B, C = (AgentIdentity.generate(n) for n in ("a", "b", "c"))
DIRECTORY = {i.name: PeerKeys.of(i) for i in (A, B, C)}
SUBJECT = "secmas.attest.p.b"


def pair() -> tuple[Envelopes, Envelopes]:
    return Envelopes(A, DIRECTORY), Envelopes(B, DIRECTORY)


def test_a_frame_opens_for_its_receiver_as_from_its_sender() -> None:
    a, b = pair()
    frame = a.seal(Kind.REQUEST, "b", SUBJECT, b"challenge", reply="secmas.reply.p.x.1")
    opened = b.open(SUBJECT, frame)
    assert (opened.sender, opened.payload, opened.authenticated) == ("a", b"challenge", True)
    assert opened.header.reply == "secmas.reply.p.x.1" and opened.header.counter == 1
    assert b"challenge" not in frame


def test_directions_have_their_own_keys() -> None:
    assert pair_key(A, B.sealing_public, outgoing=True) == pair_key(
        B, A.sealing_public, outgoing=False
    )
    assert pair_key(A, B.sealing_public, outgoing=True) != pair_key(
        A, B.sealing_public, outgoing=False
    )


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda f: f[:-1] + bytes([f[-1] ^ 1]), "forged"),
        (lambda f: f[:3] + b"x" + f[4:], "unknown"),  # sender byte changed: a → x
        (lambda f: bytes([2]) + f[1:], "version"),
        (lambda f: f[:20], "truncated"),
        (lambda f: f[:12], "malformed"),
    ],
)
def test_tampered_frames_are_refused(tamper: object, reason: str) -> None:
    a, b = pair()
    frame = a.seal(Kind.MESSAGE, "b", SUBJECT, b"beat")
    with pytest.raises(EnvelopeError) as caught:
        b.open(SUBJECT, tamper(frame))  # type: ignore[operator]
    assert caught.value.reason == reason


def test_a_frame_is_bound_to_its_subject_receiver_and_sender() -> None:
    a, b = pair()
    c = Envelopes(C, DIRECTORY)
    frame = a.seal(Kind.MESSAGE, "b", SUBJECT, b"beat")
    with pytest.raises(EnvelopeError, match="forged"):
        b.open("secmas.attest.p.other", frame)
    with pytest.raises(EnvelopeError, match="misdirected"):
        c.open(SUBJECT, frame)
    impostor = Envelopes(AgentIdentity.generate("a"), DIRECTORY)  # a's name, other keys
    with pytest.raises(EnvelopeError, match="forged"):
        b.open(SUBJECT, impostor.seal(Kind.MESSAGE, "b", SUBJECT, b"beat"))
    stranger = Envelopes(AgentIdentity.generate("z"), {"b": DIRECTORY["b"]})
    with pytest.raises(EnvelopeError, match="unknown"):
        b.open(SUBJECT, stranger.seal(Kind.MESSAGE, "b", SUBJECT, b"beat"))


def test_replays_are_refused_and_reordering_within_the_window_is_not() -> None:
    a, b = pair()
    frames = [a.seal(Kind.MESSAGE, "b", SUBJECT, bytes([i])) for i in range(5)]
    for frame in (frames[1], frames[0], frames[4], frames[2]):
        b.open(SUBJECT, frame)
    for frame in (frames[0], frames[4]):
        with pytest.raises(EnvelopeError, match="replayed"):
            b.open(SUBJECT, frame)
    assert b.open(SUBJECT, frames[3]).payload == bytes([3])


def test_an_enrolment_frame_carries_the_senders_key_sealed() -> None:
    newcomer = AgentIdentity.generate("n")
    frame = Envelopes(newcomer, {}).enrol("b", B.sealing_public, "secmas.join.p", b"join", "r.1")
    assert newcomer.sealing_public not in frame and b"join" not in frame
    opened = Envelopes(B, DIRECTORY).open("secmas.join.p", frame)
    assert (opened.sender, opened.payload, opened.authenticated) == ("n", b"join", False)
    assert opened.sender_key == newcomer.sealing_public
    with pytest.raises(EnvelopeError, match="forged"):
        Envelopes(C, {**DIRECTORY, "b": DIRECTORY["c"]}).open(
            "secmas.join.p", frame.replace(b"\x01b", b"\x01c", 1)
        )


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_parser(data: bytes) -> None:
    try:
        Header.decode(data)
    except EnvelopeError as exc:
        assert exc.reason in {"version", "malformed", "truncated"}


@given(
    st.sampled_from(list(Kind)),
    st.text(min_size=1, max_size=20).filter(lambda s: len(s.encode()) <= 64),
    st.integers(min_value=0, max_value=2**64 - 1),
    st.text(alphabet="abcdefghij.", max_size=40),
)
def test_headers_round_trip(kind: Kind, name: str, counter: int, reply: str) -> None:
    header = Header(kind, name, "mlfo", counter, reply)
    decoded, at = Header.decode(header.encode() + bytes(16))
    assert decoded == header and at == len(header.encode())
