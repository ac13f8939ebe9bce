"""Downtime and total time of a move from the probe's log (pure; hand-computed values)."""

from __future__ import annotations

import json

import pytest

from secmas.network.emulation.outage import (
    Outage,
    ProbeRecord,
    downtime,
    first_answer,
    outages,
    parse_probe_log,
)


def log(*rows: tuple[float, bool, str]) -> list[ProbeRecord]:
    """Records every 0.1 s-ish: (sent, ok, instance); each answered in 0.01 s."""
    return [ProbeRecord("web", t, 0.01, ok, by if ok else "") for t, ok, by in rows]


# the move starts at 10.0; the source answers until 10.2, requests at 10.3–10.6 fail,
# the destination answers from 10.7; a second, shorter outage at 10.9–10.9
RECORDS = log(
    (10.0, True, "web@A#1"),
    (10.1, True, "web@A#1"),
    (10.2, True, "web@A#1"),
    (10.3, False, ""),
    (10.4, False, ""),
    (10.5, False, ""),
    (10.6, False, ""),
    (10.7, True, "web@D#2"),
    (10.8, True, "web@D#2"),
    (10.9, False, ""),
    (11.0, True, "web@D#2"),
)


def test_an_outage_runs_from_the_first_failure_to_the_next_success() -> None:
    assert outages(RECORDS, 10.0, 11.0) == [
        Outage(10.3, 10.7),
        Outage(10.9, 11.0),
    ]
    assert downtime(RECORDS, 10.0, 11.0) == pytest.approx(0.4)


def test_failures_before_the_move_started_count_from_its_start() -> None:
    records = log((9.8, True, "a"), (9.9, False, ""), (10.0, False, ""), (10.1, True, "b"))
    assert outages(records, 9.95, 10.1) == [Outage(9.95, 10.1)]
    assert downtime(records, 9.95, 10.1) == pytest.approx(0.15)


def test_an_outage_not_over_by_until_ends_there() -> None:
    records = log((1.0, True, "a"), (1.1, False, ""), (1.2, False, ""))
    assert downtime(records, 1.0, 1.5) == pytest.approx(0.4)


def test_an_outage_over_before_the_move_is_not_the_moves() -> None:
    records = log((1.0, False, ""), (1.1, True, "a"), (2.0, True, "a"))
    assert downtime(records, 1.5, 2.0) == 0.0


def test_every_request_answered_is_no_downtime() -> None:
    assert downtime(log((1.0, True, "a"), (1.1, True, "b")), 0.0, 2.0) == 0.0


def test_records_are_taken_in_send_order_whatever_the_log_order() -> None:
    assert downtime(list(reversed(RECORDS)), 10.0, 11.0) == pytest.approx(0.4)


def test_total_time_ends_with_the_destinations_first_answer() -> None:
    served = first_answer(RECORDS, "web@D#2", 10.0)
    assert served is not None and served.t == 10.7
    assert served.answered - 10.0 == pytest.approx(0.71)
    assert first_answer(RECORDS, "web@X#9", 10.0) is None


def test_the_log_parser_skips_a_line_cut_short() -> None:
    full = {"cnf": "api", "t": 5.0, "s": 0.02, "ok": True, "op": "put", "by": "api@B#3"}
    lines = [json.dumps(full), '{"cnf": "api", "t": 5.1, "s"']
    assert parse_probe_log(lines) == [ProbeRecord("api", 5.0, 0.02, True, "api@B#3", "put", "")]
