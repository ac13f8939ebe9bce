"""Steered paths and blocked flows (`secmas.ui.network`), key figures (`secmas.ui.figures`)
and their endpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from secmas.scenario.loader import load_scenario
from secmas.ui.network import network_view


def act(time: float, agent: str, action: str, detail: str) -> dict[str, Any]:
    return {"time": time, "agent": agent, "action": action, "detail": detail}


# the reference demo's journal, shortened: a limit's steering reused by a second limit, a
# split's parts steered to two Classifiers, a flow steered to its block
JOURNAL = [
    act(23, "pop6", "overUsage", "pop6~server"),
    act(23, "pop5", "steer", "10.0.0.100 at pop6 over pop6→pop5"),
    act(23, "pop5", "limitLink", "pop6~server to 3.08 MB/s at pop5"),
    act(27, "pop5", "limitIP", "10.0.0.100 to 1.53 MB/s at pop5"),
    act(27, "pop5", "unlinkRateLimited", "pop6~server"),
    act(130, "pop3", "steer", "10.0.0.100 part 0 at pop5 over pop5→pop2→pop3"),
    act(130, "pop4", "steer", "10.0.0.100 part 1 at pop5 over pop5→pop6→pop4"),
    act(133, "pop3", "classifyFlows", "10.0.0.100 part 0: 4 malicious at pop3"),
    act(133, "pop5", "steer", "10.0.0.100 from 10.66.0.1 at pop1 over pop1→pop5"),
    act(133, "pop5", "blockFlow", "10.66.0.1>10.0.0.100 at pop5"),
    act(133.35, "pop5", "unipRateLimited", "10.0.0.100"),
]


def test_steerings_end_as_their_agent_lets_them_go() -> None:
    view = network_view(JOURNAL)
    limit, part0, part1, flow = view.steerings
    # the limit's steering is reused by the IP limit: let go once that one is lifted too
    assert (limit.purpose, limit.path, limit.until) == ("limit", ["pop6", "pop5"], 133.35)
    assert "unipRateLimited" in limit.ended
    assert (part0.part, part0.until, part0.purpose) == (0, 133, "analysis")
    assert "analysis" in part0.ended
    assert (part1.part, part1.until, part1.purpose) == (1, None, "unknown")  # not in this journal
    assert (flow.src, flow.purpose, flow.until) == ("10.66.0.1", "block", None)
    [block] = view.blocks
    assert (block.src, block.dst, block.at) == ("10.66.0.1", "10.0.0.100", "pop5")
    assert block.ingress == "pop1"
    assert block.path == ["pop1", "pop5"] and block.by == "pop5"
    assert view.ends_journalled is False


def test_journalled_unsteer_ends_a_steering_exactly() -> None:
    """With `unsteer` actions in the journal, a steering ends at its own `unsteer` (the
    same agent and detail), whatever the inference would say; what it fed is still read
    from the agent's actions."""
    journal = [
        *JOURNAL[:4],
        # the agent lets the link limit's steering go later than the lift would suggest
        act(27, "pop5", "unlinkRateLimited", "pop6~server"),
        act(60, "pop5", "unsteer", "10.0.0.100 at pop6 over pop6→pop5"),
        *JOURNAL[5:7],
        act(133, "pop3", "unsteer", "10.0.0.100 part 0 at pop5 over pop5→pop2→pop3"),
        *JOURNAL[7:10],
        # steered again over the same path: a new steering, never let go
        act(140, "pop5", "steer", "10.0.0.100 at pop6 over pop6→pop5"),
        act(140, "pop5", "limitIP", "10.0.0.100 to 1.50 MB/s at pop5"),
    ]
    view = network_view(journal)
    assert view.ends_journalled is True
    limit, part0, part1, flow, again = view.steerings
    assert (limit.purpose, limit.until, limit.ended) == (
        "limit",
        60,
        "unsteer: its agent let it go",
    )
    assert (part0.purpose, part0.until) == ("analysis", 133)
    assert (part1.until, flow.until, again.until) == (None, None, None)
    assert "no unsteer" in part1.ended and "never lifted" in flow.ended
    assert (again.time, again.purpose) == (140, "limit")


def test_ssla_rejections_are_blocked_flows_and_odd_details_are_skipped() -> None:
    enforcements = [
        {"time": 61.0, "action": "REJECT_PACKET", "target": "203.0.113.1>10.0.0.100 at pop1"},
        {"time": 61.0, "action": "NOTIFY", "target": "SecurityOrchestrator"},
    ]
    odd = [act(1, "pop1", "steer", "something else"), act(2, "pop1", "blockFlow", "?")]
    view = network_view(odd, enforcements)
    assert view.steerings == []
    [block] = view.blocks
    assert (block.by, block.src, block.at) == ("SSLA manager", "203.0.113.1", "pop1")
    assert block.ingress == "pop1"


def test_the_run_serves_its_steerings_blocks_and_key_figures(
    client: TestClient, reports: dict[str, dict[str, Any]]
) -> None:
    report = reports["secure"]
    network = client.get("/api/runs/secure/network").json()
    steers = [a for a in report["actions"] if a["action"] == "steer"]
    blocks = [a for a in report["actions"] if a["action"] == "blockFlow"]
    assert len(network["steerings"]) == len(steers) and len(network["blocks"]) == len(blocks)
    assert all(s["until"] is None or s["until"] >= s["time"] for s in network["steerings"])
    figures = {f["key"]: f for f in client.get("/api/runs/secure/figures").json()}
    assert figures["auctions"]["value"] == len(report["auctions"])
    assert figures["attack_reduction"]["value"] == round(
        report["acceptance"]["attack_reduction"] * 100, 2
    )
    assert figures["attack_reduction"]["unit"] == "%" and figures["wall"]["better"] == "lower"
    assert figures["blocks"]["value"] == len(blocks) and figures["passed"]["value"] is True
    detail = client.get("/api/runs/secure").json()
    assert detail["network"] == network and detail["figures"] == list(figures.values())
    policy = {f["key"]: f for f in client.get("/api/runs/policy/figures").json()}
    unmeasured = sum(t["not_measured"] for t in reports["policy"]["policy"]["compliance"])
    assert policy["ssla_unmeasured"]["value"] == unmeasured > 0
    units = client.get("/api/runs/loop/metrics").json()["cnfs"]["web"]["units"]
    assert units["cpu"] == "cores" and units["latency_p50"] == "ms" and units["net_rx"] == "MB/s"


def test_a_fresh_report_records_link_loads_steering_ends_and_unmeasured_periods(
    runs: Path, reports: dict[str, dict[str, Any]]
) -> None:
    """What the page draws exactly, as a run writes it: every link's load per step, each
    steering's end (`unsteer`, with its `steer`'s detail), the periods not measured."""
    secure = reports["secure"]
    scenario = load_scenario(runs / "secure" / "scenario.yaml")
    links = {f"{link.a}~{link.b}" for link in scenario.links}
    for point in secure["telemetry"]:
        assert set(point["links"]) <= links  # the links that carried traffic in the step
        assert all(v > 0 for v in point["links"].values())
    assert all(point["links"]["pop6~server"] > 0 for point in secure["telemetry"])
    steers = [(a["agent"], a["detail"]) for a in secure["actions"] if a["action"] == "steer"]
    unsteers = [(a["agent"], a["detail"]) for a in secure["actions"] if a["action"] == "unsteer"]
    assert unsteers and set(unsteers) <= set(steers)
    view = network_view(secure["actions"])
    assert view.ends_journalled
    ended = [s for s in view.steerings if s.until is not None]
    assert len(ended) == len(unsteers) and all(s.until >= s.time for s in ended)
    for term in reports["policy"]["policy"]["compliance"]:
        gaps = term["not_measured_intervals"]
        assert sum(g["periods"] for g in gaps) == term["not_measured"]
        assert all(g["start"] < g["end"] for g in gaps)
