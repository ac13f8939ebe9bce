"""Parsing a node's counter snapshot (nft JSON beside its interface counters)."""

from __future__ import annotations

import json

import pytest

from secmas.network.emulation.counters import FlowCount, parse_named_counters, parse_snapshot
from secmas.network.emulation.linkstats import LinkCounters


def _set(name: str, elements: list[object]) -> dict[str, object]:
    return {"set": {"family": "inet", "name": name, "table": "secmas", "elem": elements}}


def _elem(key: list[object], packets: int, size: int) -> dict[str, object]:
    return {"elem": {"val": {"concat": key}, "counter": {"packets": packets, "bytes": size}}}


def test_a_snapshot_joins_flow_syn_and_ack_counts_per_flow() -> None:
    flow = ["10.66.0.1", "10.0.0.100", 8000]
    legit = ["10.1.0.1", "10.0.0.100", 8080]
    table = {
        "nftables": [
            {"metainfo": {"version": "1.0.6"}},
            _set("flows", [_elem(flow, 100, 6000), _elem(legit, 40, 30000)]),
            _set("syns", [_elem(flow, 100, 6000), _elem(legit, 2, 120)]),
            _set("acks", [_elem(legit, 2, 104)]),
            _set("split3p1", ["10.66.0.1", "10.1.0.1"]),
        ]
    }
    links = LinkCounters(1.5, {"sx-eth0": 600}, {"sx-eth0": 9})
    snapshot = parse_snapshot(json.dumps(table), links)
    assert snapshot.flows[("10.66.0.1", "10.0.0.100", 8000)] == FlowCount(6000, 100, 100, 0)
    assert snapshot.flows[("10.1.0.1", "10.0.0.100", 8080)] == FlowCount(30000, 40, 2, 2)
    assert snapshot.parts == {"split3p1": {"10.66.0.1", "10.1.0.1"}}
    assert snapshot.links is links


def test_a_snapshot_that_is_not_an_nftables_object_is_refused() -> None:
    with pytest.raises(ValueError, match="nftables JSON object"):
        parse_snapshot("[]", LinkCounters(0.0))


def test_named_counters_by_name() -> None:
    text = json.dumps(
        {"nftables": [{"counter": {"name": "attack_in", "packets": 3, "bytes": 180}}]}
    )
    assert parse_named_counters(text) == {"attack_in": FlowCount(180, 3)}
