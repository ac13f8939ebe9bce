"""The verify request a remote verifier is handed: what it must hold, and that nothing
else gets through."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.trust.chain import Ticket, VerifierFailed
from secmas.trust.verification import ticket_from


def _request(**fields: object) -> bytes:
    base: dict[str, object] = {"step": 7, "group": 2, "reference": "ab", "signature": "cd"}
    return json.dumps({**base, **fields}).encode()


def test_a_ticket_names_the_block_secaas_read_the_step_on() -> None:
    assert ticket_from(_request(block=41)) == Ticket(7, b"\xab", b"\xcd", 2, 41)
    assert ticket_from(_request()).block is None  # the latest, as before blocks were named


@pytest.mark.parametrize("block", [-1, True, "41", 4.5])
def test_a_block_that_is_no_block_number_is_refused(block: object) -> None:
    with pytest.raises(VerifierFailed, match="is not a block number"):
        ticket_from(_request(block=block))


@given(st.binary(max_size=200))
def test_garbage_requests_only_raise_verifier_failed(data: bytes) -> None:
    with pytest.raises(VerifierFailed):
        ticket_from(data)
