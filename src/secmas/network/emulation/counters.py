"""Reading a routing namespace's real counters: one snapshot per step (parsing is pure).

`SNAPSHOT` prints the node's nftables table as JSON; `parse_snapshot` turns it into
per-flow bytes, packets, SYNs and completed handshakes (`flows`, `syns`, `acks` sets) and
split-part memberships, kept with the node's interface counters (`linkstats`, read over
rtnetlink at a known instant).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from secmas.network.emulation.firewall import TABLE
from secmas.network.emulation.linkstats import LinkCounters

SNAPSHOT = ["nft", "-j", "list", "table", "inet", TABLE]

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
    """One node's cumulative counters in one step."""

    links: LinkCounters
    """Its interfaces' IP bytes, and the instant they were read."""
    flows: dict[FlowKey, FlowCount] = field(default_factory=dict)
    parts: dict[str, set[str]] = field(default_factory=dict)
    """Split-part set name (`split<rule>p<part>`) → the client addresses hashed into it."""


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


def parse_snapshot(text: str, links: LinkCounters) -> Snapshot:
    """A snapshot from SNAPSHOT's output and the node's `links`; ValueError if the output
    is not an nftables table in JSON."""
    table = json.loads(text)
    if not isinstance(table, dict):
        raise ValueError(f"expected an nftables JSON object, got {type(table).__name__}")
    snapshot = Snapshot(links)
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
    return snapshot


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
