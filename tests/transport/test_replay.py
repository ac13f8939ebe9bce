"""The anti-replay window (RFC 4303 §3.4.3) against a model that remembers every number."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.transport.replay import DEFAULT_SIZE, MAX_SEQ, MAX_SIZE, Heard, ReplayWindow


class ModelWindow:
    """The specification, without a bitmap: new, positive, and within `size` of the top."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.seen: set[int] = set()

    def check(self, seq: int) -> bool:
        top = max(self.seen, default=0)
        return 0 < seq <= MAX_SEQ and seq not in self.seen and seq > top - self.size

    def accept(self, seq: int) -> bool:
        ok = self.check(seq)
        if ok:
            self.seen.add(seq)
        return ok


def test_sequence_numbers_start_at_one():
    window = ReplayWindow()
    assert window.size == DEFAULT_SIZE == 64
    assert not window.check(0) and not window.accept(0)
    assert not window.accept(-1)
    assert window.accept(1)
    assert not window.accept(1)


def test_reordered_numbers_inside_the_window_are_accepted_once():
    window = ReplayWindow(8)
    assert window.accept(10)
    assert window.check(3)  # 3..10 is the window
    assert window.accept(5) and window.accept(3)
    assert not window.accept(5) and not window.accept(3)
    assert not window.check(2)  # older than the window: refused, never recorded


def test_check_records_nothing():
    window = ReplayWindow(4)
    assert window.check(7) and window.check(7)
    assert window.top == 0
    window.accept(7)
    assert not window.check(7)


def test_a_jump_past_the_window_forgets_the_bitmap():
    window = ReplayWindow(4)
    for seq in (1, 2, 3, 4):
        window.accept(seq)
    assert window.accept(1000)
    assert not window.check(996) and window.check(997) and window.check(999)


def test_the_last_sequence_number_and_beyond():
    window = ReplayWindow()
    assert window.accept(MAX_SEQ)
    assert not window.accept(MAX_SEQ)
    assert not window.check(MAX_SEQ + 1)
    assert window.accept(MAX_SEQ - 1)


@pytest.mark.parametrize("size", [0, -1, MAX_SIZE + 1, 1.5])
def test_sizes_out_of_range(size):
    with pytest.raises(ValueError):
        ReplayWindow(size)


def seqs(size: int) -> st.SearchStrategy[list[int]]:
    """Numbers around the window: mostly near each other, sometimes a jump, a 0, the end."""
    near = st.integers(0, 4 * size + 8)
    jump = st.integers(0, 10**6)
    edge = st.sampled_from([0, 1, MAX_SEQ - 1, MAX_SEQ, MAX_SEQ + 1])
    return st.lists(st.one_of(near, near, jump, edge), max_size=200)


@settings(max_examples=300)
@given(
    st.sampled_from([1, 2, 3, 8, 64, 65, 1024]).flatmap(lambda n: st.tuples(st.just(n), seqs(n)))
)
def test_agrees_with_a_model_that_remembers_everything(case):
    size, numbers = case
    window, model = ReplayWindow(size), ModelWindow(size)
    for seq in numbers:
        assert window.check(seq) == model.check(seq), seq
        assert window.accept(seq) == model.accept(seq), seq
        assert window.top == max(model.seen, default=0)


# What a receiver accepted, shared by its subscriptions


@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(1, 1000))))
def test_heard_keeps_the_highest_number_accepted_per_link(accepted):
    heard: Heard[str] = Heard()
    for link, seq in accepted:
        heard.record(link, seq, alive=lambda _link: True)
    tops: dict[str, int] = {}
    for link, seq in accepted:
        tops[link] = max(seq, tops.get(link, 0))
    assert heard.floors() == tops


def test_heard_prunes_links_whose_key_is_gone_when_a_new_one_comes():
    heard: Heard[str] = Heard()
    heard.record("epoch 1", 7, alive=lambda _link: True)
    heard.record("epoch 1", 3, alive=lambda _link: False)  # a known link prunes nothing
    floors = heard.floors()
    heard.record("epoch 2", 1, alive=lambda link: link != "epoch 1")
    assert floors == {"epoch 1": 7}  # a snapshot, not a view
    assert heard.floors() == {"epoch 2": 1} and len(heard) == 1
