"""Faults in a multi-process run, each in the middle of the DDoS mitigation: the NATS
server stopped for 1.5 s and started again on the same port, and an agent process
SIGKILLed while it runs auctions. Each run must end with the attack mitigated (the
acceptance figures), no agent revoked but the one killed, and every goal executed exactly
once (report.json's `executions`).

Real parts throughout: one `secmas agent` process per PoP, a real nats-server with TLS and
per-agent nkeys (set up as `operate_processes` sets up its own), the JSON-RPC ledger.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.ddos_runs import SCENARIO, SCENARIO_FILE

from secmas.pipeline.busaccess import BUS_FOLDER, issue_run_bus
from secmas.pipeline.mlfo import pipeline_name
from secmas.pipeline.operate import OperateResult
from secmas.pipeline.processes import operate_processes
from secmas.report.acceptance import acceptance
from secmas.report.record import build_report
from secmas.transport.address import BusAddress
from secmas.transport.broker import MISSING_BINARY, NatsServer, find_nats_server

if find_nats_server() is None:
    pytest.skip(f"multi-process runs need a server: {MISSING_BINARY}", allow_module_level=True)

SPEED = 5.0
"""Half the demo's 10×: a bid deadline of 1 simulated second is then 0.2 s of wall time, so
answers are not lost to a busy two-core machine instead of to the fault under test."""
OUTAGE_S = 1.5
"""1.5 wall s at `SPEED`: 7.5 simulated seconds in which nothing crosses the bus, half a
silence window (a watcher back from an outage counts silence over: `GoalBoard`)."""


def report(result: OperateResult) -> dict[str, Any]:
    attack = SCENARIO.attack
    assert attack is not None
    accepted = acceptance(result.telemetry, attack.start, result.capacity.ok)
    return build_report(result, accepted, "test")


def outcome(run: dict[str, Any]) -> str:
    """What a failed run did, for the assertion's message: the acceptance figures, then each
    auction (time, goal, status, winner) and action, so that a rare failure under load can
    be read from the log alone."""
    lines = [json.dumps(run["acceptance"], sort_keys=True)]
    lines += [
        f"auction t={a['sim_start_s']} {a['goal_name']} {a['status']} -> {a['winner']}"
        for a in run["auctions"]
    ]
    lines += [f"action {json.dumps(a, sort_keys=True)}" for a in run.get("actions", [])]
    return "\n".join(lines)


def executed_once(run: dict[str, Any]) -> None:
    """Every goal whose plan acted acted exactly once (report.json's `executions`)."""
    counts = {e["goal"]: e["count"] for e in run["executions"]}
    assert counts, "no plan acted"
    assert counts == {goal: 1 for goal in counts}, counts


def revoked(run: dict[str, Any]) -> dict[str, str]:
    return {
        pop: agent["excluded"]
        for pop, agent in run["trust"]["agents"].items()
        if not agent["trusted"]
    }


class Outage:
    """Stops the server once the run reaches `at` simulated seconds, starts it again on
    the same port `seconds` later (in a thread: the driver's loop goes on meanwhile)."""

    def __init__(self, server: NatsServer, at: float, seconds: float) -> None:
        self.server, self.at, self.seconds = server, at, seconds
        self.window: tuple[float, float] | None = None
        self._thread: threading.Thread | None = None

    def progress(self, now: float, _duration: float) -> None:
        if now >= self.at and self._thread is None:
            self._thread = threading.Thread(target=self._restart, daemon=True)
            self._thread.start()

    def _restart(self) -> None:
        self.server.stop()
        stopped = time.monotonic()
        time.sleep(self.seconds)
        self.server.start()
        self.window = (stopped, time.monotonic())

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()


def test_nats_restarted_mid_run_loses_no_goal_and_revokes_nobody(tmp_path: Path):
    """At t = 24 s (the Link Monitor's goals auctioned, the Anomaly Detector's follow-ups
    starting), the server stops for 1.5 s: 7.5 simulated seconds at 5× in which nothing
    crosses the bus. Calls for proposals nobody answered are repeated with a back-off,
    challenges that found nobody are sent again, and nobody is taken for gone."""
    pops = [p.id for p in SCENARIO.pops]
    run_bus = issue_run_bus(tmp_path / BUS_FOLDER, pipeline_name(SCENARIO.id), pops)
    server = NatsServer(tls=run_bus.certificate, users=run_bus.users)
    server.start()
    outage = Outage(server, at=24.0, seconds=OUTAGE_S)
    try:
        access = replace(run_bus.access, address=BusAddress.parse(server.url))
        result = asyncio.run(
            operate_processes(
                SCENARIO,
                SCENARIO_FILE,
                workdir=tmp_path,
                bus=access,
                speed=SPEED,
                progress=outage.progress,
            )
        )
    finally:
        outage.join()
        server.stop()
    assert outage.window is not None and outage.window[1] - outage.window[0] >= OUTAGE_S
    run = report(result)
    assert run["acceptance"]["passed"], outcome(run)
    assert revoked(run) == {}
    assert all(e["result"] == "pass" for e in run["trust"]["attestations"])
    goals = {a["goal_name"] for a in run["auctions"] if a["status"] == "done"}
    assert {"linkRateLimited", "ipRateLimited", "flowRateLimited"} <= goals
    executed_once(run)


def test_an_agent_sigkilled_mid_auction_has_its_goals_re_auctioned(tmp_path: Path):
    """pop5 won the Anomaly Detector, limited the server's IP (a limit only it lifts) and
    is auctioning the two parts of flowRecord when it is SIGKILLed at t = 34 s: its
    successor pop6 adopts those goals and the limits it held, and lifts the IP limit once
    the malicious flows are blocked. Only pop5 may be revoked (it is gone for good)."""
    result = asyncio.run(
        operate_processes(
            SCENARIO, SCENARIO_FILE, workdir=tmp_path, speed=SPEED, kill={"pop5": 34.0}
        )
    )
    run = report(result)
    assert run["trust"]["agents"]["pop5"]["killed_at"] == pytest.approx(34.0)
    assert run["acceptance"]["passed"], outcome(run)
    assert set(revoked(run)) <= {"pop5"}
    adopted = [a for a in run["actions"] if a["action"] in ("adoptGoal", "adoptRule")]
    assert adopted and all(a["agent"] == "pop6" and "from pop5" in a["detail"] for a in adopted)
    assert not any(a["agent"] == "pop5" and a["time"] > 35 for a in run["actions"])
    executed_once(run)
    # the Classifiers of the two flowRecord parts were started once each, by their winners
    classifiers = [p for p in run["placements"] if p["vnf"] == "classifier"]
    assert sorted(p["goal"] for p in classifiers if p["kind"] == "start") == [
        "flowRecord(10.0.0.100,0)",
        "flowRecord(10.0.0.100,1)",
    ]
