"""The subjects of the run's work (`secmas.pipeline.work`): whom each addresses on the
secure channel, and what the bus lets an agent do with them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from secmas.pipeline.busaccess import agent_permissions
from secmas.pipeline.membership import recipient
from secmas.pipeline.membership import recipient as agent_recipient
from secmas.pipeline.work import sum_prefix, work_recipient, work_subject
from secmas.trust.control import MLFO

SESSION = "ab" * 16


def test_work_and_sum_subjects_address_one_agent_or_the_mlfo() -> None:
    prefix = sum_prefix("p")
    assert work_recipient(work_subject("p", "pop2")) == "pop2"
    assert work_recipient(f"{prefix}.{SESSION}.pop2") == "pop2"
    assert work_recipient(f"{prefix}.{SESSION}.server") == MLFO
    for choose in (recipient, agent_recipient):  # agents as processes, and in one process
        assert choose(f"{prefix}.{SESSION}.server") == MLFO
        assert choose(work_subject("p", "pop1")) == "pop1"


@given(st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz.", max_size=8), max_size=6))
def test_other_subjects_are_no_work(tokens: list[str]) -> None:
    subject = ".".join(tokens)
    if not subject.startswith(("secmas.work.", "secmas.sum.")):
        assert work_recipient(subject) is None


def test_an_agent_may_only_answer_the_sums_and_hear_its_own_work() -> None:
    rules = agent_permissions("p", "pop1")
    assert f"{sum_prefix('p')}.*.server" in rules.publish
    assert f"{sum_prefix('p')}.*.pop1" in rules.subscribe
    assert work_subject("p", "pop1") in rules.subscribe
    assert not any("pop2" in s for s in (*rules.publish, *rules.subscribe))
    assert not any(s.startswith("secmas.work") for s in rules.publish)
