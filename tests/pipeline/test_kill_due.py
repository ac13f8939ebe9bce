"""When a resilience test's agent process is killed (`processes.kill_due`): at a simulated
second, or `after` seconds past the first time the agent journalled its cue's action."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from secmas.agents.journal import ActionEvent
from secmas.pipeline.processes import KillCue, kill_due

ACTIONS = [
    ActionEvent(27.8, "pop5", "limitIP", "10.0.0.100 to 1.53 MB/s at pop5"),
    ActionEvent(29.5, "pop6", "splitTrafficIP", "10.0.0.100 into 2 at pop6"),
    ActionEvent(30.1, "pop5", "splitTrafficIP", "10.0.0.100 into 2 at pop5"),
    ActionEvent(44.0, "pop5", "splitTrafficIP", "10.0.0.100 into 2 at pop5"),
]


def test_a_second_is_due_as_given():
    assert kill_due("pop5", 34.0, ACTIONS) == 34.0


def test_a_cue_is_due_after_the_agents_own_first_such_action():
    assert kill_due("pop5", KillCue("splitTrafficIP", after=4.5), ACTIONS) == 30.1 + 4.5
    assert kill_due("pop6", KillCue("splitTrafficIP"), ACTIONS) == 29.5


def test_a_cue_not_yet_journalled_is_not_due():
    assert kill_due("pop5", KillCue("blockFlow"), ACTIONS) is None
    assert kill_due("pop4", KillCue("splitTrafficIP"), ACTIONS) is None


@given(st.floats(0, 300), st.floats(0, 60))
def test_the_cue_never_comes_before_its_action(at: float, after: float):
    actions = [ActionEvent(at, "pop1", "blockFlow", "f")]
    due = kill_due("pop1", KillCue("blockFlow", after), actions)
    assert due is not None and due >= at
