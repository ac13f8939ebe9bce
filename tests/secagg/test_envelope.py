"""Signed envelopes: what a party's Inbox takes, and that no bytes make it fail in any
other way than a refusal with a reason."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.secagg import wire
from secmas.secagg.envelope import _DOMAIN, _HEADER, MAGIC, SERVER, Inbox, round_of, seal
from secmas.secagg.errors import ImpersonationError, ReplayError, WireError
from secmas.secagg.messages import MaskedInput, MpcShare, Survivors
from secmas.secagg.session import Identities, make_config

PEOPLE = Identities.generate(range(4))
CONFIG, _ = make_config(range(4), 8)


def test_a_genuine_envelope_opens_once_in_its_round() -> None:
    message = MaskedInput(2, CONFIG.ring.encode(np.arange(CONFIG.width)))
    envelope = seal(PEOPLE.keys[2], CONFIG.session, 2, SERVER, message)
    inbox = Inbox(CONFIG.session, SERVER, PEOPLE.envelopes, round=2)
    sender, opened = inbox.open(envelope)
    assert sender == 2 and isinstance(opened, MaskedInput)
    assert np.array_equal(opened.vector, message.vector)
    with pytest.raises(ReplayError, match="a second round-2 MaskedInput"):
        inbox.open(envelope)
    request = seal(PEOPLE.server, CONFIG.session, SERVER, 1, Survivors((0, 1, 2)))
    assert Inbox(CONFIG.session, 1, PEOPLE.envelopes, round=3).open(request)[0] == SERVER
    assert round_of(Survivors(())) == 3


def test_a_signed_frame_of_another_protocol_is_refused_not_raised() -> None:
    """An enrolled client wraps an MPC message in a genuinely signed envelope."""
    share = MpcShare(1, 0, bytes(32), bytes(64), b"")
    frame = wire.encode(share, CONFIG.session)
    body = _HEADER.pack(MAGIC, 1, 2, 0, CONFIG.session, 1, SERVER, len(frame)) + frame
    envelope = body + PEOPLE.keys[1].sign(_DOMAIN + body)
    inbox = Inbox(CONFIG.session, SERVER, PEOPLE.envelopes, round=2)
    with pytest.raises(WireError, match="sent a MpcShare, not a message of the aggregation"):
        inbox.open(envelope)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.integers(0, 4))
def test_arbitrary_bytes_are_refused_with_a_reason(data: bytes, number: int) -> None:
    inbox = Inbox(CONFIG.session, SERVER, PEOPLE.envelopes, round=number)
    with pytest.raises((WireError, ImpersonationError, ReplayError)):
        inbox.open(data)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 300), st.integers(1, 255))
def test_any_flipped_byte_of_a_genuine_envelope_is_refused(where: int, flip: int) -> None:
    message = MaskedInput(1, CONFIG.ring.encode(np.zeros(CONFIG.width, np.int64)))
    envelope = bytearray(seal(PEOPLE.keys[1], CONFIG.session, 1, SERVER, message))
    envelope[where % len(envelope)] ^= flip
    inbox = Inbox(CONFIG.session, SERVER, PEOPLE.envelopes, round=2)
    with pytest.raises((WireError, ImpersonationError)):
        inbox.open(bytes(envelope))
