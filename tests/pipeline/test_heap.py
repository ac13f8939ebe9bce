"""The run's long-lived objects are out of the collector's scans while it runs, and given
back after it, even when it fails."""

from __future__ import annotations

import gc

import pytest

from secmas.pipeline.heap import long_lived


def test_what_lives_before_the_run_is_frozen_during_it_and_given_back_after() -> None:
    before = gc.get_freeze_count()
    with long_lived():
        assert gc.get_freeze_count() > max(before, 1000)
    assert gc.get_freeze_count() == 0


def test_a_failed_run_gives_the_objects_back() -> None:
    with pytest.raises(RuntimeError), long_lived():
        raise RuntimeError("run failed")
    assert gc.get_freeze_count() == 0


def test_cycles_made_during_the_run_are_still_collected() -> None:
    class Node:
        peer: object

    with long_lived():
        node = Node()
        node.peer = node
        del node
        assert gc.collect() >= 1
