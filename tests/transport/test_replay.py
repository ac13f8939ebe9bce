"""The anti-replay window (RFC 4303 §3.4.3) against a model that remembers every number."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secmas.transport.replay import DEFAULT_SIZE, MAX_SEQ, MAX_SIZE, ReplayWindow


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
