"""Alerts drawn from report records (`secmas.ui.views`)."""

from __future__ import annotations

from secmas.ui.views import attestation_alerts, loop_alerts

FAILED = {
    "step": 7,
    "result": "fail",
    "measured": "pop6",
    "verifier": "pop5",
    "reasons": ["code of the agent changed"],
    "differing": ["secmas.agents.bidding"],
    "revoke_tx": "0xab",
}


def test_a_failed_attestation_is_alerted_at_its_simulated_time() -> None:
    [alert] = attestation_alerts([FAILED | {"time": 30.5}, FAILED | {"result": "pass"}], at=99)
    assert alert.time == 30.5 and alert.title == "attestation step 7 failed: pop6"
    assert "secmas.agents.bidding" in alert.explanation and "0xab" in alert.actions[0]


def test_an_unmeasured_check_is_a_warning_that_revokes_nobody() -> None:
    record = FAILED | {"result": "unmeasured", "revoke_tx": None, "differing": []}
    [alert] = attestation_alerts([record], at=3.0)
    assert alert.severity == "warning" and alert.title == "attestation step 7 unmeasured: pop6"
    assert "measurer did not answer" in alert.explanation
    assert alert.actions == ["withdrawn from auctions until a check passes, not revoked"]


def test_a_record_without_a_time_is_alerted_when_seen() -> None:
    for record in (FAILED, FAILED | {"time": None}):
        [alert] = attestation_alerts([record], at=12.0)
        assert alert.time == 12.0


def test_a_loop_alert_says_which_channels_fired_by_how_much() -> None:
    alert = {
        "time": 30.0,
        "cnf": "web",
        "pop": "pop6",
        "score": 1994.0,
        "threshold": 13.6,
        "severity": [["connections", 170.8]],
        "profile": "",
        "source": "onset",
        "channels": [
            {"alert": "onset:connections", "value": 1025.0, "limit": 11.25, "ratio": 91.1},
            {"alert": "level:connections", "value": 1026.0, "limit": 13.5, "ratio": 76.0},
        ],
    }
    [shown] = loop_alerts([alert], [])
    assert shown.source == "closed loop (onset)"
    assert "fired: onset:connections 1.02e+03 over 11.2 (×91.1)" in shown.explanation
    assert "level:connections" in shown.explanation
