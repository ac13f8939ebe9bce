"""An agent's side of its membership: the key service's messages, whatever arrives."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from secmas.pipeline.membership import is_refresh, pushed_in, recipient, switch_epoch

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=10,
)


def test_the_key_service_s_messages_are_told_apart() -> None:
    assert switch_epoch(b'{"switch": 3}') == 3
    assert switch_epoch(b'{"epoch": 3}') is None  # an install
    assert switch_epoch(b'{"switch": true}') is None  # a bool is no epoch
    assert is_refresh(b'{"members": true}')
    assert not is_refresh(b'{"members": 1}') and not is_refresh(b'{"switch": 3}')
    assert pushed_in(b'{"epoch": 3, "block": 41}') == (3, 41)
    assert pushed_in(b'{"epoch": 3}') is None  # no block named: the member asks the store
    assert pushed_in(b'{"epoch": 3, "block": -1}') is None
    assert pushed_in(b'{"epoch": true, "block": 4}') is None


@given(st.binary(max_size=200))
def test_any_bytes_are_an_install_at_worst(data: bytes) -> None:
    epoch = switch_epoch(data)
    assert epoch is None or (isinstance(epoch, int) and not isinstance(epoch, bool))
    assert is_refresh(data) in (True, False)
    pushed = pushed_in(data)
    assert pushed is None or all(type(n) is int and n >= 0 for n in pushed)


@given(JSON)
def test_any_json_is_read_without_an_error(message: object) -> None:
    data = json.dumps(message).encode()
    switch_epoch(data)
    is_refresh(data)
    pushed_in(data)


def test_a_subject_names_whom_it_is_sealed_to() -> None:
    assert recipient("secmas.stop.p.pop2") == "pop2"
    assert recipient("secmas.journal.p") == "mlfo"
    assert recipient("secmas.controller.p") == "mlfo"
    assert recipient("secmas.work.p.pop3") == "pop3"
    assert recipient("secmas.tick.p") is None  # every member
