"""`report.json`'s `bus_messages` with processes counts every agent's publishes besides
the MLFO's (the MLFO's own were 620 of at least 2 279 on the bus)."""

from __future__ import annotations

from secmas.pipeline.processes import bus_messages


def test_the_agents_counts_are_added_to_the_mlfos():
    states = [{"published": 400}, {"published": 1259}, {"instances": []}]
    assert bus_messages(620, states) == 2279


def test_without_agents_only_the_mlfos_count():
    assert bus_messages(620, []) == 620
