"""How long a verifier waits, and on which clock (`secmas.trust.deadlines`)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secmas.scenario.model import Attestation
from secmas.trust.attestation import Measurement, Verifier, produce_evidence
from secmas.trust.deadlines import (
    HANDLING_CAP,
    Deadlines,
    RoundTrips,
    round_trip_summary,
    silence_window,
)
from secmas.trust.identity import AgentIdentity


def test_round_trips_follow_rfc_6298_by_hand() -> None:
    trips = RoundTrips()
    assert trips.timeout("a") is None
    trips.observe("a", 0.2)  # 2.2: SRTT = R, RTTVAR = R/2
    assert trips.srtt["a"] == pytest.approx(0.2)
    assert trips.rttvar["a"] == pytest.approx(0.1)
    assert trips.timeout("a") == pytest.approx(0.2 + 4 * 0.1)
    trips.observe("a", 1.0)  # 2.3: RTTVAR = 3/4·0.1 + 1/4·|0.2 − 1.0|; SRTT = 7/8·0.2 + 1/8·1.0
    assert trips.rttvar["a"] == pytest.approx(0.075 + 0.2)
    assert trips.srtt["a"] == pytest.approx(0.175 + 0.125)
    assert trips.timeout("a") == pytest.approx(0.3 + 4 * 0.275)
    assert trips.timeout("b") is None  # per attester


@given(st.lists(st.floats(min_value=0.0, max_value=100.0), min_size=1, max_size=50))
def test_a_measured_wait_is_never_below_the_declared_bound(samples: list[float]) -> None:
    deadlines = Deadlines.measured(5.0)
    for sample in samples:
        deadlines.answered("a", sample)
    assert deadlines.wait("a") >= 5.0


def test_a_slow_attester_gets_a_longer_wait_in_real_time() -> None:
    deadlines = Deadlines.measured(1.0)
    assert deadlines.wait("busy") == 1.0
    for _ in range(5):
        deadlines.answered("busy", 3.0)  # an honest host, answering slowly
    assert deadlines.wait("busy") > 3.0
    assert deadlines.wait("idle") == 1.0


def test_on_the_run_clock_waits_stay_declared_and_handling_is_not_wall_bounded() -> None:
    now = [0.0]
    deadlines = Deadlines.run_clock(5.0, lambda: now[0])
    deadlines.answered("a", 60.0)
    assert deadlines.wait("a") == 5.0
    assert deadlines.handling == HANDLING_CAP
    assert deadlines.clock() == 0.0


def test_freshness_is_judged_per_challenge_on_the_verifiers_clock() -> None:
    now = [0.0]
    identity = AgentIdentity.generate("a")
    measurement = Measurement.of({"code:x": bytes(32)})
    verifier = Verifier("v", max_age=10.0, clock=lambda: now[0])
    short = verifier.challenge("a", bytes(32), lifetime=1.0)
    usual = verifier.challenge("a", bytes([1]) * 32)
    now[0] = 5.0  # five seconds of the verifier's clock, whatever the wall clock did
    late = verifier.appraise(
        produce_evidence(identity, short, measurement), measurement.root, identity.signing_public
    )
    fresh = verifier.appraise(
        produce_evidence(identity, usual, measurement), measurement.root, identity.signing_public
    )
    assert late.reasons == ("stale evidence (older than 1 s)",)
    assert fresh.passed


def test_round_trips_are_summarised_by_nearest_rank() -> None:
    # 1..100 ms: median is the 50th value, p99 the 99th (nearest rank), max the last.
    summary = round_trip_summary([i / 1000 for i in range(100, 0, -1)])
    assert summary == {"count": 100, "p50_ms": 50.0, "p99_ms": 99.0, "max_ms": 100.0}
    assert round_trip_summary([0.004]) == {
        "count": 1, "p50_ms": 4.0, "p99_ms": 4.0, "max_ms": 4.0
    }  # fmt: skip
    assert round_trip_summary([])["p99_ms"] is None


def test_every_answer_is_kept_on_either_clock() -> None:
    for deadlines in (Deadlines.run_clock(5.0, lambda: 0.0), Deadlines.measured(5.0)):
        deadlines.answered("pop1", 0.01)
        deadlines.answered("pop2", 0.03)
        assert deadlines.answers == [0.01, 0.03]


@given(st.lists(st.floats(min_value=0.0, max_value=100.0), max_size=50))
def test_a_bounded_wait_stays_within_the_declared_wait_and_one_period(
    samples: list[float],
) -> None:
    deadlines = Deadlines.bounded(2.0, 10.0)
    for sample in samples:
        deadlines.answered("measurer", sample)
    assert 2.0 <= deadlines.wait("measurer") <= 10.0


def test_a_bounded_wait_is_the_period_until_the_first_answer_then_measured() -> None:
    deadlines = Deadlines.bounded(1.0, 10.0)
    assert deadlines.wait("measurer") == 10.0  # nothing measured yet: the whole period
    deadlines.answered("measurer", 0.03)
    assert deadlines.wait("measurer") == 1.0  # fast answers: the declared wait
    for _ in range(8):
        deadlines.answered("measurer", 4.0)  # a busy host: longer, up to the period
    assert 4.0 < deadlines.wait("measurer") <= 10.0


def test_the_bounded_defaults_are_the_scenarios() -> None:
    defaults = Attestation()
    deadlines = Deadlines.bounded()
    assert (deadlines.declared, deadlines.longest) == (defaults.challenge_timeout, defaults.period)


def test_the_silence_window_is_a_period_and_a_margin_up_to_the_longest() -> None:
    assert silence_window(5.0, None, 10.0) == 10.0  # one beat may be lost or late
    assert silence_window(5.0, 1.0, 10.0) == 10.0  # small lateness: the same
    assert silence_window(5.0, 8.0, 10.0) == 13.0  # a loaded member: a longer margin
    assert silence_window(5.0, 60.0, 10.0) == 15.0  # never beyond one attestation period
