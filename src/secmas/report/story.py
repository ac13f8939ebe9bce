"""Whether a DDoS run told the reference story of `003_…` Section 5.4.1 (Table 5.8).

The story is an emergent sequence of auctions, not a script: the link is limited; an
Anomaly Detector is placed; the attacked address is limited; the Classifier's auction
finds no PoP with room for it; the traffic towards the address is split; each part gets a
Classifier, on two different PoPs; the malicious flows are limited. On the reference six
PoPs, pop5 (the repository's site) wins the first four and pop3 and pop4 the two
Classifiers. A run that met acceptance by another path (a detector sized for unlimited
traffic on another PoP, a Classifier without the split) defended the server but did not
tell this story; `departures` names where it left it. Pure: it reads report.json's
auctions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

REFERENCE_WINNERS = {
    "linkRateLimited": "pop5",
    "anomalousUsage": "pop5",
    "ipRateLimited": "pop5",
    "splitTrafficTowardsIp": "pop5",
}
"""Table 5.8's winners of the single-auction steps; the parts' Classifiers: pop3, pop4."""
PART_WINNERS = ["pop3", "pop4"]
STEPS = ("linkRateLimited", "anomalousUsage", "ipRateLimited")


def _is_part(auction: Mapping[str, Any]) -> bool:
    """A flowRecord auction of one part of a split (`flowRecord(ip, part)`)."""
    return "," in str(auction["goal"])


def sequence(auctions: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """Each auction as [goal, status, winner, start s]: what `departures` reads, kept
    short, so a benchmark's JSON can be read for the story again."""
    return [[a["goal"], a["status"], a["winner"], round(a["sim_start_s"], 1)] for a in auctions]


def departures(auctions: Sequence[Mapping[str, Any]]) -> list[str]:
    """Where a run's auctions (report.json's, in any order) leave Table 5.8's story, in
    words; empty when they tell it."""
    ordered = sorted(auctions, key=lambda a: float(a["sim_start_s"]))
    found: list[str] = []
    done = [a for a in ordered if a["status"] == "done"]
    first: dict[str, Mapping[str, Any]] = {}
    for auction in done:
        first.setdefault(str(auction["goal_name"]), auction)
    for goal, pop in REFERENCE_WINNERS.items():
        won = first.get(goal)
        if won is None:
            found.append(f"no {goal} auction was won")
        elif won["winner"] != pop:
            found.append(f"{won['goal']} went to {won['winner']}, not {pop}")
    split = first.get("splitTrafficTowardsIp")
    whole = [
        a
        for a in ordered
        if a["goal_name"] == "flowRecord"
        and not _is_part(a)
        # a later episode may auction a Classifier again; the story is the first one's
        and (split is None or float(a["sim_start_s"]) < float(split["sim_start_s"]))
    ]
    if not whole:
        found.append("no Classifier was auctioned for the whole traffic before the split")
    elif any(a["status"] != "no-bids" for a in whole):
        found.append("a Classifier was placed for the whole traffic, without the split")
    parts: dict[str, Mapping[str, Any]] = {}
    for auction in done:
        if auction["goal_name"] == "flowRecord" and _is_part(auction):
            parts.setdefault(str(auction["goal"]), auction)
    winners = sorted(str(a["winner"]) for a in parts.values())
    if winners != PART_WINNERS:
        found.append(f"the parts' Classifiers went to {winners or 'no PoP'}, not {PART_WINNERS}")
    if not any(a["goal_name"] == "flowRateLimited" for a in done):
        found.append("no malicious flow was limited")
    sequence = [first.get(goal) for goal in (*STEPS, "splitTrafficTowardsIp")]
    starts = [float(a["sim_start_s"]) for a in sequence if a is not None]
    if starts != sorted(starts):
        found.append("the link limit, detector, IP limit and split came out of order")
    return found
