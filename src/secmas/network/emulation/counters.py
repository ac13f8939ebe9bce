"""Reading a routing namespace's real counters: one snapshot per step (parsing is pure).

`SNAPSHOT` prints the node's nftables table and its interface statistics as two JSON
lines; `parse_snapshot` turns them into per-flow bytes, packets, SYNs and completed
handshakes (`flows`, `syns`, `acks` sets), split-part memberships and per-interface
IP byte counters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from secmas.network.emulation.firewall import TABLE

SNAPSHOT = ["sh", "-c", f"nft -j list table inet {TABLE}; echo; ip -j -s link show"]

FlowKey = tuple[str, str, int]
"""(client address, server address, service port)."""


@dataclass(frozen=True, slots=True)
class FlowCount:
    """Cumulative counts of one flow at one node."""

    bytes: int = 0
    packets: int = 0
    syn: int = 0
    ack: int = 0


@dataclass(slots=True)
class Snapshot:
    """One node's cumulative counters at one instant."""

    flows: dict[FlowKey, FlowCount] = field(default_factory=dict)
    parts: dict[str, set[str]] = field(default_factory=dict)
    """Split-part set name (`split<rule>p<part>`) → the client addresses hashed into it."""
    tx: dict[str, int] = field(default_factory=dict)
    rx: dict[str, int] = field(default_factory=dict)


def _key(value: Any) -> FlowKey | None:
    concat = value.get("concat") if isinstance(value, dict) else None
    if not isinstance(concat, list) or len(concat) != 3:
        return None
    return str(concat[0]), str(concat[1]), int(concat[2])


def _elements(entry: dict[str, Any]) -> list[tuple[Any, dict[str, int]]]:
    rows = []
    for item in entry.get("elem", []):
        if isinstance(item, dict) and "elem" in item:
            rows.append((item["elem"].get("val"), item["elem"].get("counter") or {}))
        else:
            rows.append((item, {}))
    return rows


def parse_snapshot(text: str) -> Snapshot:
    """A snapshot from SNAPSHOT's output; ValueError if it is not that."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != 2:
        raise ValueError(f"expected nft and ip JSON lines, got {len(lines)} lines")
    table, links = json.loads(lines[0]), json.loads(lines[1])
    snapshot = Snapshot()
    counts: dict[str, dict[FlowKey, dict[str, int]]] = {"flows": {}, "syns": {}, "acks": {}}
    for item in table.get("nftables", []):
        entry = item.get("set")
        if not entry:
            continue
        name = entry.get("name", "")
        if name in counts:
            for value, counter in _elements(entry):
                key = _key(value)
                if key is not None:
                    counts[name][key] = counter
        elif name.startswith("split"):
            snapshot.parts[name] = {str(value) for value, _ in _elements(entry)}
    for key, counter in counts["flows"].items():
        snapshot.flows[key] = FlowCount(
            bytes=int(counter.get("bytes", 0)),
            packets=int(counter.get("packets", 0)),
            syn=int(counts["syns"].get(key, {}).get("packets", 0)),
            ack=int(counts["acks"].get(key, {}).get("packets", 0)),
        )
    for link in links:
        name = str(link.get("ifname", ""))
        snapshot.tx[name], snapshot.rx[name] = ip_bytes(link, "tx"), ip_bytes(link, "rx")
    return snapshot


ETHERNET_HEADER = 14


def ip_bytes(link: dict[str, Any], direction: str) -> int:
    """IP bytes an interface sent ("tx") or received ("rx"): its byte counter less the
    Ethernet header of each packet, so link rates count what nftables and the scenario
    count (a SYN is 60 bytes)."""
    stats = (link.get("stats64") or link.get("stats") or {}).get(direction, {})
    return int(stats.get("bytes", 0)) - ETHERNET_HEADER * int(stats.get("packets", 0))


TRUTH = ["nft", "-j", "list", "counters", "table", "inet", TABLE]


def parse_named_counters(text: str) -> dict[str, FlowCount]:
    """Named nftables counters (`nft -j list counters …`) by name: bytes and packets."""
    counters = {}
    for item in json.loads(text).get("nftables", []):
        entry = item.get("counter")
        if entry:
            counters[str(entry["name"])] = FlowCount(
                bytes=int(entry.get("bytes", 0)), packets=int(entry.get("packets", 0))
            )
    return counters
