"""The Decision Engine's table and the slice-level loop (secmas.analytics.decision)."""

from __future__ import annotations

import pytest

from secmas.analytics.decision import Alert, SliceLoop, decide


def alert(
    profile: str = "", features=(("cpu", 1.0),), link_over=False, cnf="web", t=10.0, severity=()
):
    return Alert(t, cnf, "pop6", 2.0, 1.0, tuple(features), profile, link_over, tuple(severity))


def labels(mitigations) -> list[str]:
    return [m.label for m in mitigations]


def test_flood_on_the_watched_link_starts_the_ddos_strategy():
    decided = decide(alert("unknown", link_over=True), "pop6~server")
    assert labels(decided) == ["linkRateLimited(pop6~server)", "?anomalousUsage(pop6~server)"]


def test_link_over_without_a_monitor_falls_back_to_the_profile():
    assert labels(decide(alert("high_cpu", link_over=True), None)) == ["cnfScaledOut(web,2)"]


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("normal", []),
        ("high_cpu", ["cnfScaledOut(web,3)"]),
        ("traffic_spike", ["cnfScaledOut(web,3)", "cnfGuarded(web,1)"]),
        ("load_step", ["cnfScaledOut(web,3)", "cnfGuarded(web,1)"]),
        ("high_memory", ["cnfMigrated(web,1)"]),
        ("network_latency", ["cnfMigrated(web,1)"]),
    ],
)
def test_profiled_anomalies_follow_table_4(profile, expected):
    assert labels(decide(alert(profile), None, replicas=2)) == expected


def test_unknown_alert_with_a_strong_traffic_feature_is_guarded_first():
    # latency is far worse, but a traffic feature is strongly elevated: guard (harmless)
    sev = (("latency_p50", 209.0), ("error_rate", 47.0), ("load", 4.0), ("cpu", 1.0))
    assert labels(decide(alert("unknown", severity=sev))) == ["cnfGuarded(web,1)"]


def test_unknown_traffic_alert_with_busy_cpu_is_guarded_and_scaled():
    sev = (("connections", 256.0), ("cpu", 5.7), ("load", 5.4))
    labelled = labels(decide(alert("unknown", severity=sev)))
    assert labelled == ["cnfGuarded(web,1)", "cnfScaledOut(web,2)"]


def test_unknown_latency_alert_migrates():
    sev = (("latency_p90", 9.0), ("memory_vsize", 6.3), ("net_rx", 1.1))
    assert labels(decide(alert("unknown", severity=sev))) == ["cnfMigrated(web,1)"]


def test_unknown_resource_alert_isolates_the_instance():
    sev = (("disk_read", 30.0), ("load", 8.0), ("connections", 0.4))
    assert labels(decide(alert("unknown", severity=sev))) == ["cnfIsolated(web,1)"]


def test_without_per_feature_limits_errors_are_compared_with_the_threshold():
    feats = (("connections", 9.0), ("latency_p50", 30.0))  # threshold 1.0: both strong
    assert labels(decide(alert("unknown", feats))) == ["cnfGuarded(web,1)"]


def test_repeated_goals_are_numbered_by_what_was_done():
    done = {"cnfMigrated": 2}
    assert labels(decide(alert("high_memory"), done=done)) == ["cnfMigrated(web,3)"]


def test_every_mitigation_says_why():
    for profile in ("high_cpu", "traffic_spike", "high_memory", "unknown"):
        assert all(m.reason for m in decide(alert(profile)))


def test_slice_loop_scales_the_quiet_cnfs_once_two_cnfs_alert():
    loop = SliceLoop(("a", "b", "c"), window=30.0)
    replicas = {"a": 1, "b": 1, "c": 2}
    assert loop.insight(alert(cnf="a", t=0.0), replicas) == []
    assert loop.insight(alert(cnf="a", t=5.0), replicas) == []
    decided = loop.insight(alert(cnf="b", t=20.0), replicas)
    assert labels(decided) == ["cnfScaledOut(c,3)"]
    assert loop.insight(alert(cnf="c", t=21.0), replicas) == []  # once per incident


def test_slice_loop_forgets_alerts_older_than_its_window():
    loop = SliceLoop(("a", "b"), window=10.0)
    assert loop.insight(alert(cnf="a", t=0.0), {}) == []
    assert loop.insight(alert(cnf="b", t=50.0), {}) == []


def test_slice_loop_settings_are_checked():
    with pytest.raises(ValueError, match="two CNFs"):
        SliceLoop(("a",), min_cnfs=1)
    with pytest.raises(ValueError, match="positive"):
        SliceLoop(("a", "b"), window=0)


def test_alert_json_rounds_feature_errors():
    data = alert(features=(("cpu", 1.234567),)).to_json()
    assert data["features"] == [["cpu", 1.2346]]


def test_scaling_stops_at_the_autoscaler_ceiling():
    assert labels(decide(alert("high_cpu"), None, replicas=3)) == ["cnfMigrated(web,1)"]
    assert labels(decide(alert("traffic_spike"), None, replicas=3)) == ["cnfGuarded(web,1)"]
