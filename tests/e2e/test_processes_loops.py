"""Every step loop with the agents as OS processes (issue 25 item 2).

The SSLA manager (`spoofed-injection`), the security closed loop (`cnf-attack`, the
cached reference models) and the adaptive defence (`adaptive-defence`: CTI hygiene and
moving target defence) run in the MLFO's process beside a real nats-server and agent
processes; each run must reach the acceptance and the loop outcomes of the same scenario
and seed in one process. The loops are built as `secmas.api` builds them for a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from secmas.api import Distribution, embedded_path
from secmas.api import run as api_run
from secmas.transport.broker import MISSING_BINARY, find_nats_server

if find_nats_server() is None:
    pytest.skip(f"multi-process runs need a server: {MISSING_BINARY}", allow_module_level=True)

SPEED = 10.0
"""Simulated seconds per wall second: 180–300 s scenarios in 18–30 s of operation."""


def run(name: str, folder: Path, processes: bool) -> dict[str, Any]:
    """The embedded scenario run as `secmas demo --scenario NAME [--processes]` runs it:
    the application layer builds its loops (its policy, its closed loop with the cached
    reference models, its CTI and MTD sections) in either mode."""
    distribution = Distribution(processes=processes, speed=SPEED)
    return api_run(embedded_path(name), out=folder, distribution=distribution).report


def in_process(name: str, folder: Path) -> dict[str, Any]:
    return run(name, folder, processes=False)


def same_acceptance(run_: dict[str, Any], reference: dict[str, Any]) -> None:
    accepted, expected = run_["acceptance"], reference["acceptance"]
    assert accepted["passed"] and expected["passed"], (accepted, expected)
    for key, value in expected.items():
        if isinstance(value, float):
            assert accepted[key] == pytest.approx(value, abs=0.03), key


def test_the_ssla_manager_enforces_as_in_one_process(tmp_path: Path) -> None:
    """The injection breaches slice isolation at 60–61 s in both runs; the same six
    sources are blocked where they enter, at the same second, through the controller in
    the MLFO's process; the audit's breach evidence counts against pop1 alone."""
    reference = in_process("spoofed-injection", tmp_path / "one")
    processes = run("spoofed-injection", tmp_path / "processes", processes=True)
    same_acceptance(processes, reference)
    policy, expected = processes["policy"], reference["policy"]

    def breaches(p: dict[str, Any]) -> list[tuple[str, str, float, float, int]]:
        return [(b["ssla"], b["term"], b["start"], b["end"], b["offending"]) for b in p["breaches"]]

    def enforced(p: dict[str, Any]) -> list[tuple[float, str, str, str]]:
        return sorted(
            (e["time"], e["action"], e["target"], e["outcome"]) for e in p["enforcements"]
        )

    assert breaches(policy) == breaches(expected) and breaches(policy)
    assert enforced(policy) == enforced(expected)
    rejected = {r["source"] for r in policy["rejected_packets"]}
    assert (
        rejected
        == {r["source"] for r in expected["rejected_packets"]}
        == {f"203.0.113.{i}" for i in range(1, 7)}
    )
    assert all(r["packets"] > 10_000 for r in policy["rejected_packets"])
    assert [(c["term"], c["breached"]) for c in policy["compliance"]] == [
        (c["term"], c["breached"]) for c in expected["compliance"]
    ]
    assert policy["trust"]["scores"]["pop1"]["ssla"][1] == 1
    assert policy["trust"]["scores"]["pop3"]["ssla"][1] == 0
    assert policy["audit"]["anchors"]["anchored"]  # on the run's ledger


def test_the_closed_loop_detects_and_decides_as_in_one_process(tmp_path: Path) -> None:
    """The same alerts (MS → AE on the MLFO's data plane), the same goals handed to the
    CNF's agent over the bus (DE → ES), each reported back final, the same detection."""
    reference = in_process("cnf-attack", tmp_path / "one")
    processes = run("cnf-attack", tmp_path / "processes", processes=True)
    same_acceptance(processes, reference)
    analytics, expected = processes["analytics"], reference["analytics"]

    def alerts(a: dict[str, Any]) -> list[tuple[str, str, str, str]]:
        return [(x["cnf"], x["pop"], x["source"], x["profile"]) for x in a["alerts"]]

    def decisions(a: dict[str, Any]) -> list[tuple[int, str, str]]:
        return [(d["alert"], d["goal"], d["agent"]) for d in a["decisions"]]

    assert alerts(analytics) == alerts(expected) and alerts(analytics)
    times = [x["time"] for x in analytics["alerts"]]
    assert times == pytest.approx([x["time"] for x in expected["alerts"]], abs=2.0)
    assert decisions(analytics) == decisions(expected) and decisions(analytics)
    final = {"achieved", "delegated", "failed", "already in hand"}
    assert {d["status"] for d in analytics["decisions"]} <= final
    detection, truth = analytics["detection"]["web"], expected["detection"]["web"]
    assert detection["per_label"] == truth["per_label"]
    assert detection["event_recall"] == truth["event_recall"] == 1.0


def test_cti_and_mtd_move_and_exclude_as_in_one_process(tmp_path: Path) -> None:
    """pop5 (core-c, hygiene 0.011) refuses every cnfMoved call for proposals, asked of
    the MLFO's loops over the bus; both CNFs of the service move away from pop6 within
    their downtime quota, as in one process (which PoP wins a contested auction may
    differ across processes: the bids are computed at once there)."""
    reference = in_process("adaptive-defence", tmp_path / "one")
    processes = run("adaptive-defence", tmp_path / "processes", processes=True)
    same_acceptance(processes, reference)
    cti, expected = processes["cti"], reference["cti"]
    assert (
        cti["excluded"]
        == expected["excluded"]
        == {"pop5": "domain core-c hygiene 0.011 is below the threshold 0.300"}
    )
    assert cti["refusals"] == expected["refusals"] and cti["refusals"]
    for auction in (a for a in processes["auctions"] if a["goal_name"] == "cnfMoved"):
        reasons = {r["agent"]: r["reason"] for r in auction["refusals"]}
        assert reasons["pop5"].startswith("CTI: domain core-c")
        assert reasons["pop6"] == f"MTD: {auction['args'][0]} is moving away from pop6"
        assert auction["winner"] not in (None, "pop5", "pop6")

    def moves(m: dict[str, Any]) -> list[tuple[str, int, str, str]]:
        return [(x["cnf"], x["k"], x["outcome"], x["source"]) for x in m["moves"]]

    mtd, planned = processes["mtd"], reference["mtd"]
    assert moves(mtd) == moves(planned)
    moved = [m for m in mtd["moves"] if m["outcome"] == "moved"]
    assert {m["cnf"] for m in moved} == {"web", "api"}
    assert all(m["destination"] not in ("pop5", m["source"]) for m in moved)
    assert mtd["within_quota"] and mtd["cost_usd"] > 0
    # a CNF's earlier home is stopped by its agent: its replica runs where it went last
    homes = {m["cnf"]: m["destination"] for m in sorted(moved, key=lambda m: m["arrived_at"])}
    left = [p["pop"] for p in processes["final_instances"] if p["vnf"] == "web_replica"]
    assert sorted(left) == sorted(homes.values())
