"""The walk-through of `secmas demo` says what a fresh run of the demo says.

docs/getting-started.md follows the demo auction by auction, quoting its times, winners,
paths, traffic, latency and acceptance figures; the README names the files it writes.
Each `Quote` below finds its figures in the page's text (whitespace collapsed) and
computes the same figures from the report.json of a fresh `secmas demo`: the UI tests'
session run `secure` (tests/ui/demo_runs.py), made once per session. The page is the
single place the figures live, so when the demo's figures change the update is one edit
of the page; a failure names the figure and says what the run says.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from statistics import mean
from typing import Any

import pytest
from tests.ui.demo_runs import make_runs

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "getting-started.md"
README = ROOT / "README.md"
SECTION = ("## What `secmas demo` shows", "## Where next")

Report = dict[str, Any]
Figure = float | str


def _collapsed(text: str) -> str:
    """`text` with every run of whitespace one space: figures split over lines still match."""
    return " ".join(text.split())


LINK = re.compile(r"\[([^\]]+)\]\([^)]+\)")
"""A Markdown link, whose text alone is what a reader reads (glossary links sit in figures'
sentences)."""


def walkthrough() -> str:
    """The page's section on the demo, collapsed, its links read as their text."""
    text = PAGE.read_text(encoding="utf-8")
    start, end = text.index(SECTION[0]), text.index(SECTION[1])
    return _collapsed(LINK.sub(r"\1", text[start:end]))


def _pop(agent: str) -> str:
    """The number the page gives a PoP ("PoP 5" for pop5)."""
    return agent.removeprefix("pop")


def _auctions(report: Report, goal: str) -> list[dict[str, Any]]:
    return [a for a in report["auctions"] if a["goal_name"] == goal]


def _auction(report: Report, goal: str, status: str = "done") -> dict[str, Any]:
    """The one auction for `goal` that ended with `status`."""
    (found,) = [a for a in _auctions(report, goal) if a["status"] == status]
    return found


def _winning_bid(auction: dict[str, Any]) -> dict[str, Any]:
    (bid,) = [b for b in auction["bids"] if b["agent"] == auction["winner"]]
    return bid


def _actions(report: Report, action: str) -> list[dict[str, Any]]:
    return [a for a in report["actions"] if a["action"] == action]


def _path(action: dict[str, Any]) -> str:
    """The path of a steer action ("... over pop5→pop2→pop3")."""
    return str(action["detail"]).rsplit(" over ", 1)[1]


def _part_steers(report: Report) -> list[dict[str, Any]]:
    """The steers of the split traffic's parts to their Classifiers, part 0 first."""
    return sorted(
        (a for a in _actions(report, "steer") if " part " in a["detail"]),
        key=lambda a: str(a["detail"]),
    )


def _latency(report: Report, start: float, end: float) -> list[float]:
    return [s["latency"] for s in report["telemetry"] if start <= s["t"] < end]


def _times(values: Sequence[float]) -> str:
    """Distinct whole seconds, as the page lists them ("133" or "130 and 148")."""
    return " and ".join(dict.fromkeys(f"{v:.0f}" for v in values))


def _link_limit(report: Report) -> tuple[Figure, ...]:
    auction = _auction(report, "linkRateLimited")
    (detected,) = _actions(report, "overUsage")
    first_steer = _actions(report, "steer")[0]
    return (
        detected["time"],
        _pop(auction["initiator"]),
        _pop(auction["winner"]),
        _winning_bid(auction)["T"],
        _path(first_steer),
    )


def _anomaly(report: Report) -> tuple[Figure, ...]:
    auction = _auction(report, "anomalousUsage")
    (found,) = _actions(report, "detectIntrusion")
    return (
        auction["traffic_mbps"],
        _winning_bid(auction)["units"],
        " and ".join(_pop(r["agent"]) for r in auction["refusals"]),
        _pop(auction["winner"]),
        found["time"] - auction["sim_start_s"],
        found["time"],
    )


def _ip_limit(report: Report) -> tuple[Figure, ...]:
    auction = _auction(report, "ipRateLimited")
    bid = _winning_bid(auction)
    tcd = {bid["T"], bid["C"], bid["D"]}
    return _pop(auction["winner"]), tcd.pop() if len(tcd) == 1 else f"T, C, D = {sorted(tcd)}"


def _whole_flow_record(report: Report) -> tuple[Figure, ...]:
    """The first `flowRecord`, refused by every agent: its traffic and what it needed."""
    auction = _auction(report, "flowRecord", status="no-bids")
    needs = [
        re.search(r"(\d+)×classifier: needs \d+c/(\d+)G/", r["reason"]) for r in auction["refusals"]
    ]
    ((units, memory),) = {m.groups() for m in needs if m is not None}
    refusers = {r["agent"] for r in auction["refusals"]}
    every = "every agent" if len(refusers) == report["pops"] else f"{len(refusers)} agents"
    return auction["traffic_mbps"], units, every, memory


def _split(report: Report) -> tuple[Figure, ...]:
    (split,) = _actions(report, "splitTrafficIP")
    parts = re.search(r"into (\d+) at", split["detail"])
    assert parts is not None, split
    return _pop(split["agent"]), parts.group(1), split["time"]


def _classifiers(report: Report) -> tuple[Figure, ...]:
    auctions = [a for a in _auctions(report, "flowRecord") if a["status"] == "done"]
    starts = sorted(
        (p["time"], _pop(p["pop"]))
        for p in report["placements"]
        if p["kind"] == "start" and p["vnf"] == "classifier"
    )
    (pf_d,) = {a["preferences"]["D"] for a in auctions}
    steers = _part_steers(report)
    return (
        _times([a["sim_start_s"] for a in auctions]),
        starts[0][1],
        starts[0][0],
        starts[1][1],
        starts[1][0],
        pf_d,
        _pop(_path(steers[0]).split("→")[0]),
        *(_path(s) for s in steers),
    )


def _blocked(report: Report) -> tuple[Figure, ...]:
    auctions = _auctions(report, "flowRateLimited")
    winners = " and ".join(sorted({_pop(a["winner"]) for a in auctions}))
    blocks = [a["time"] for a in _actions(report, "blockFlow")]
    return len(auctions), winners, _times(blocks)


def _ended(report: Report) -> tuple[Figure, ...]:
    (lifted,) = _actions(report, "unipRateLimited")
    ended = [p["time"] for p in report["placements"] if p["kind"] == "terminate"]
    return lifted["time"], _times(ended)


def _acceptance(report: Report) -> tuple[Figure, ...]:
    accepted = report["acceptance"]
    return 100 * accepted["attack_reduction"], 100 * accepted["legit_ratio"]


def _latencies(report: Report) -> tuple[Figure, ...]:
    """Before the first steer, during the detour (until the Classifiers' steers), the
    peak while they analyse (until the last flow is blocked), and after."""
    detour = _actions(report, "steer")[0]["time"]
    analyse = _part_steers(report)[0]["time"]
    blocked = _actions(report, "blockFlow")[-1]["time"]
    end = report["simulated_seconds"]
    return (
        mean(_latency(report, 0, detour)),
        mean(_latency(report, detour, analyse)),
        detour,
        analyse,
        max(_latency(report, 0, end)),
        analyse,
        blocked,
        mean(_latency(report, blocked, end)),
    )


def _attack(report: Report) -> tuple[Figure, ...]:
    start = min(s["t"] for s in report["telemetry"] if s["offered_attack"] > 0)
    return len(_actions(report, "blockFlow")), start


def _attestation_period(report: Report) -> tuple[Figure, ...]:
    times = [
        a["time"]
        for a in report["trust"]["attestations"]
        if a["kind"] == "mutual" and a["time"] > 0
    ]
    (period,) = {later - earlier for earlier, later in pairwise(times)}
    return (period,)


@dataclass(frozen=True)
class Quote:
    """Figures the walk-through quotes: `pattern` finds them in its text (one group per
    figure) and `measure` computes them from the run's report, in the same order."""

    name: str
    pattern: str
    measure: Callable[[Report], tuple[Figure, ...]]


QUOTES = (
    Quote("duration", r"\((\d+) simulated seconds in", lambda r: (r["simulated_seconds"],)),
    Quote("seed", r"those of `secmas demo` \(seed (\d+)\)", lambda r: (r["seed"],)),
    Quote("attack", r"(\d+) SYN-flood attackers from t = (\d+) s", _attack),
    Quote(
        "link limit",
        r"t = (\d+) s: the Link Monitor \(PoP (\d+)\) detects over-usage and auctions "
        r"`linkRateLimited`: PoP (\d+) \(next to the repository, T = ([\d.]+)\) wins; .*? "
        r"so it steers the rest over (\S+) and limits the link there",
        _link_limit,
    ),
    Quote(
        "anomaly detector",
        r"needs an Anomaly Detector for ≈([\d.]+) MB/s, scaled to (\d+) units; PoP (\d+) "
        r"refuses \(no room\), PoP (\d+) wins and, once the steered traffic has filled its "
        r"counters \((\d+) steps\), finds the server's address \(t = (\d+) s\)",
        _anomaly,
    ),
    Quote(
        "IP limit",
        r"`ipRateLimited` goes to PoP (\d+)'s idle Rate Limiter \(T = C = D = ([\d.]+)\)",
        _ip_limit,
    ),
    Quote(
        "whole flow record",
        r"`flowRecord` for ≈([\d.]+) MB/s needs a (\d+)-unit Classifier: (every agent) "
        r"refuses \(no PoP has (\d+) GB free\)",
        _whole_flow_record,
    ),
    Quote(
        "split",
        r"a Load Balancer on PoP (\d+) splits the traffic in (\d+) \(t = (\d+) s\)",
        _split,
    ),
    Quote(
        "classifiers",
        r"two `flowRecord` auctions for half the traffic each \(t = (.+?) s\) place "
        r"Classifiers on two different PoPs, PoP (\d+) \(t = (\d+) s\) and PoP (\d+) "
        r"\(t = (\d+) s\), .*?pf_D = ([\d.]+) decides\); PoP (\d+) steers each part over the "
        r"winner's bid path \((\S+), (\S+)\)",
        _classifiers,
    ),
    Quote(
        "flows blocked",
        r"\((\d+) × `flowRateLimited`, all won by PoP (.+?)'s Rate Limiter, at t = (.+?) s\)",
        _blocked,
    ),
    Quote(
        "limits ended",
        r"the IP limit is lifted \(t = (\d+) s\) and scale-in terminates the Anomaly "
        r"Detector, the Load Balancer and both Classifiers \(t = (.+?) s\)",
        _ended,
    ),
    Quote(
        "acceptance",
        r"\((\d+) % of the attack removed, legitimate traffic ([\d.]+) % of before",
        _acceptance,
    ),
    Quote(
        "latency",
        r"mean latency goes from (\d+) ms to (\d+) ms while the limits and the split need "
        r"the detour \(t = (\d+)–(\d+) s\), peaks at (\d+) ms while the Classifiers analyse "
        r"\(t = (\d+)–(\d+) s\), and is back to (\d+) ms once the attack is blocked",
        _latencies,
    ),
    Quote(
        "attestation period",
        r"one more mutual attestation step runs every (\d+) simulated seconds",
        _attestation_period,
    ),
)


def said_as(measured: Figure, said: str) -> str:
    """`measured` written as the page writes `said`: a number to as many decimals."""
    if isinstance(measured, str):
        return measured
    decimals = len(said.split(".")[1]) if re.fullmatch(r"\d+\.\d+", said) else 0
    return f"{measured:.{decimals}f}"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the session's `secmas demo` run."""
    return make_runs(tmp_path_factory) / "secure"


@pytest.fixture(scope="module")
def report(run: Path) -> Report:
    return json.loads((run / "report.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("quote", QUOTES, ids=lambda q: q.name)
def test_the_walkthrough_quotes_a_fresh_demo(quote: Quote, report: Report) -> None:
    found = re.findall(quote.pattern, walkthrough())
    assert len(found) == 1, f"{quote.name}: the walk-through should say /{quote.pattern}/ once"
    said = found[0] if isinstance(found[0], tuple) else (found[0],)
    measured = quote.measure(report)
    assert len(said) == len(measured), quote.name
    run_says = tuple(said_as(m, s) for m, s in zip(measured, said, strict=True))
    assert said == run_says, f"{quote.name}: the walk-through says {said}, the run {run_says}"


def test_the_readme_names_the_files_the_demo_writes(run: Path) -> None:
    readme = _collapsed(README.read_text(encoding="utf-8"))
    listed = re.search(r"writes `runs/<id>/` \(([^)]*)\)", readme)
    assert listed is not None, "the README's quick start names the demo's files"
    assert set(listed.group(1).split(", ")) == {p.name for p in run.iterdir()}


def test_a_figure_is_compared_to_the_precision_the_page_gives() -> None:
    """A stale figure fails (the audit's 87 ms for a 68.4 ms peak); ≈1.5 and ≈3 MB/s hold."""
    assert said_as(68.40628859294766, "87") != "87"
    assert said_as(1.524644136276228, "1.5") == "1.5"
    assert said_as(3.064611329198449, "3") == "3"
