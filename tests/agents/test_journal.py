"""Journal events relayed by agent processes: a malformed action is refused whole, so a
bad field never reaches the report (the loop's wall times are subtracted there)."""

from __future__ import annotations

import math
from dataclasses import asdict

import pytest

from secmas.agents.journal import ActionEvent, Journal, apply_json


def test_a_relayed_action_keeps_its_wall_time() -> None:
    journal = Journal()
    sent = ActionEvent(23.0, "pop5", "limitLink", "pop6~server", wall=1_700_000_000.25)
    apply_json(journal, {"event": "action", **asdict(sent)})
    [got] = journal.actions
    assert got == sent and got.wall == sent.wall


@pytest.mark.parametrize(
    "field, value", [("wall", "soon"), ("wall", math.inf), ("time", None), ("wall", [1.0])]
)
def test_an_action_with_a_time_that_is_not_a_finite_number_is_refused(
    field: str, value: object
) -> None:
    event = asdict(ActionEvent(23.0, "pop5", "limitLink", "x", wall=1.0)) | {field: value}
    journal = Journal()
    with pytest.raises(ValueError, match="malformed"):
        apply_json(journal, {"event": "action", **event})
    assert journal.actions == []
