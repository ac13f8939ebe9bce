"""The Decision Engine's table and the slice-level loop (secmas.analytics.decision)."""

from __future__ import annotations

import pytest

from secmas.analytics.decision import Alert, SliceLoop, decide


def alert(profile: str = "", features=(("cpu", 1.0),), link_over=False, cnf="web", t=10.0):
    return Alert(t, cnf, "pop6", 2.0, 1.0, tuple(features), profile, link_over)


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
        ("traffic_spike", ["cnfScaledOut(web,3)", "cnfGuarded(web)"]),
        ("load_step", ["cnfScaledOut(web,3)", "cnfGuarded(web)"]),
        ("high_memory", ["cnfMigrated(web)"]),
        ("network_latency", ["cnfMigrated(web)"]),
    ],
)
def test_profiled_anomalies_follow_table_4(profile, expected):
    assert labels(decide(alert(profile), None, replicas=2)) == expected


def test_unknown_traffic_led_alert_is_guarded():
    feats = (("connections", 5.0), ("error_rate", 3.0), ("latency_p99", 2.0), ("cpu", 0.1))
    assert labels(decide(alert("unknown", feats))) == ["cnfGuarded(web)"]


def test_unknown_traffic_led_alert_with_busy_cpu_is_guarded_and_scaled():
    # latency's huge errors do not outvote the elevated traffic features
    feats = (("latency_p50", 900.0), ("error_rate", 70.0), ("connections", 16.0))
    feats += (("load", 12.0), ("disk_read", 0.1), ("net_rx", 0.1))
    assert labels(decide(alert("unknown", feats))) == ["cnfGuarded(web)", "cnfScaledOut(web,2)"]


def test_unknown_latency_led_alert_migrates():
    feats = (("latency_p50", 9.0), ("latency_p99", 5.0), ("cpu", 1.5), ("net_rx", 0.5))
    assert labels(decide(alert("unknown", feats))) == ["cnfMigrated(web)"]


def test_unknown_resource_led_alert_isolates_the_instance():
    feats = (("disk_read", 9.0), ("disk_write", 8.0), ("connections", 0.1))
    assert labels(decide(alert("unknown", feats))) == ["cnfIsolated(web)"]


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
    assert labels(decide(alert("high_cpu"), None, replicas=3)) == ["cnfMigrated(web)"]
    assert labels(decide(alert("traffic_spike"), None, replicas=3)) == ["cnfGuarded(web)"]


def test_elevated_features_from_per_feature_limits_take_precedence():
    feats = (("latency_p50", 9.0), ("connections", 0.5), ("error_rate", 0.4), ("cpu", 0.3))
    base = alert("unknown", feats)
    traffic = Alert(**{**base.__dict__, "elevated": ("connections", "error_rate", "latency_p50")})
    assert labels(decide(traffic)) == ["cnfGuarded(web)"]
