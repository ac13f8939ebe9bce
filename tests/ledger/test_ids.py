"""bytes32 ids: UTF-8 names, zero-padded, readable back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.ledger import agent_id, id_name, pipeline_id

names = st.text(
    st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), min_size=1
).filter(lambda s: len(s.encode()) <= 32)


@given(names)
def test_names_round_trip(name: str) -> None:
    encoded = agent_id(name)
    assert len(encoded) == 32
    assert encoded == pipeline_id(name)
    assert id_name(encoded) == name


@pytest.mark.parametrize("name", ["", "x" * 33, "é" * 17, "a\x00b", "\ud800"])
def test_names_that_do_not_fit_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="1 to 32 UTF-8 bytes"):
        agent_id(name)


def test_ids_without_a_name_display_as_hex() -> None:
    assert id_name(bytes(32)) == "0x" + "00" * 32
    assert id_name(b"\xff" * 32) == "0x" + "ff" * 32
    with pytest.raises(ValueError, match="32 bytes"):
        id_name(b"short")
