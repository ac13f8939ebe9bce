"""Faults in a multi-process run, each in the middle of the DDoS mitigation: two servers of
the run's three-server NATS cluster killed one after the other, and an agent process
SIGKILLed while it runs auctions. Each run must end with the attack mitigated (the
acceptance figures), no agent revoked but the one killed, and every goal executed exactly
once (report.json's `executions`).

Real parts throughout: one `secmas agent` process per PoP, real nats-servers with TLS and
per-agent nkeys (set up as `operate_processes` sets up its own), the JSON-RPC ledger.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.ddos_runs import SCENARIO, SCENARIO_FILE

from secmas.pipeline.busaccess import BUS_FOLDER, BusAccess, issue_pipeline_users
from secmas.pipeline.mlfo import pipeline_name
from secmas.pipeline.operate import OperateResult
from secmas.pipeline.outside import operate_processes
from secmas.pipeline.processes import KillCue
from secmas.report.acceptance import Timeline, acceptance
from secmas.report.record import build_report
from secmas.transport.address import BusAddress
from secmas.transport.broker import MISSING_BINARY, NatsCluster, NatsServer, find_nats_server
from secmas.transport.tls import CA_FILE, ServerCertificate, issue_run_pki

if find_nats_server() is None:
    pytest.skip(f"multi-process runs need a server: {MISSING_BINARY}", allow_module_level=True)

SPEED = 3.0
"""A third of the demo's 10×: the seconds of wall time a silent agent's detection takes
stay few simulated ones (at 10× on a loaded machine the Link Monitor's goal was auctioned
50 simulated s late). Bids are due 1 simulated s (0.33 s of wall time) after a call
(`auction.paced`)."""
FAILOVER_SPEED = 2.0
"""The NATS fail-overs' run, slower still: a client that fails over misses what is
published meanwhile and answers late, and a call for proposals in that gap goes to
another bidder. Beside `stress-ng --cpu 2` in a full suite the fail-overs held the split's
auction back 26 simulated s at 5× (mitigation ended at 235 s of 240), and 17 s at 3× in
one suite of seven, where pop1 won the split and split only at 95 s (flow blocks from
224 s: acceptance missed). At 2× bids are due 0.5 s of wall time after
a call."""
KILL = KillCue("splitTrafficIP", after=4.5)
"""When pop5 is SIGKILLed: while it auctions the parts of the traffic it split (in a
quiet run it splits at about 29.5 s; a fixed second missed that stage under load, and
the successor had to split again, too late for acceptance)."""
assert SCENARIO.traffic is not None
STEP = SCENARIO.traffic.step
"""The scenario's data-plane step: a kill is carried out at the first step past its cue."""
KILLS_AT = (24.0, 30.0)
"""When the run's first and second NATS servers are killed (simulated seconds): the Link
Monitor's goals auctioned, the Anomaly Detector's follow-ups starting."""


def report(result: OperateResult) -> dict[str, Any]:
    accepted = acceptance(result.telemetry, Timeline.of(result.scenario), result.capacity.ok)
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


class Kills:
    """Kills the cluster's servers one after another once the run reaches each time (in a
    thread: the driver's loop goes on meanwhile); the last server stands."""

    def __init__(self, cluster: NatsCluster, at: tuple[float, ...]) -> None:
        self.due = list(zip(at, cluster.servers, strict=False))
        self.killed: list[str] = []
        self._threads: list[threading.Thread] = []

    def progress(self, now: float, _duration: float) -> None:
        while self.due and now >= self.due[0][0]:
            _, server = self.due.pop(0)
            thread = threading.Thread(target=self._kill, args=(server,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _kill(self, server: NatsServer) -> None:
        server.stop()
        self.killed.append(server.url)

    def join(self) -> None:
        for thread in self._threads:
            thread.join()


def cluster_bus(folder: Path) -> tuple[BusAccess, dict[str, ServerCertificate], Any]:
    """The run's bus on three servers: one CA, a certificate per server and the
    pipeline's users, as `issue_run_bus` makes them for one server."""
    certificates = issue_run_pki(folder, ["n1", "n2", "n3"])
    pops = [p.id for p in SCENARIO.pops]
    users = issue_pipeline_users(folder, pipeline_name(SCENARIO.id), pops)
    return BusAccess(BusAddress(()), folder / CA_FILE, folder), certificates, users


def test_two_nats_servers_killed_in_a_row_lose_no_goal_and_make_nobody_gone(tmp_path: Path):
    """The agents are spread over a three-server cluster; at 24 s and 30 s two servers are
    killed, one after the other, and the clients fail over to the one that stands (issue
    37 item 4: after such a fail-over a live agent was taken for gone, its Link Monitor
    duty auctioned again, and two Link Monitors ran to the end). Nobody is taken for gone
    (no goal or rule adopted), no VNF is started twice, every goal acts once, nobody is
    revoked and every attestation passes."""
    access, certificates, users = cluster_bus(tmp_path / BUS_FOLDER)
    with NatsCluster(3, tls=certificates, users=users) as cluster:
        kills = Kills(cluster, KILLS_AT)
        try:
            result = asyncio.run(
                operate_processes(
                    SCENARIO,
                    SCENARIO_FILE,
                    workdir=tmp_path,
                    bus=replace(access, address=BusAddress.parse(cluster.bus)),
                    speed=FAILOVER_SPEED,
                    progress=kills.progress,
                )
            )
        finally:
            kills.join()
    assert len(kills.killed) == 2
    run = report(result)
    assert run["acceptance"]["passed"], outcome(run)
    assert revoked(run) == {}
    assert all(e["result"] == "pass" for e in run["trust"]["attestations"])
    assert not [a for a in run["actions"] if a["action"] in ("adoptGoal", "adoptRule")]
    executed_once(run)
    started = [(p["vnf"], p["goal"]) for p in run["placements"] if p["kind"] == "start"]
    assert len(started) == len(set(started)), started
    # the one Link Monitor is pop6's, deployed with it: a duty taken for orphaned would
    # have been auctioned and started a second
    assert not [vnf for vnf, _ in started if vnf == "link_monitor"], started


def test_an_agent_sigkilled_mid_auction_has_its_goals_re_auctioned(tmp_path: Path):
    """pop5 won the Anomaly Detector, limited the server's IP (a limit only it lifts),
    split its traffic and is auctioning the two parts of flowRecord when it is SIGKILLed,
    `KILL.after` s after its split: its successor pop6 adopts those goals and the limits
    it held, and lifts the IP limit once the malicious flows are blocked. Only pop5 may be
    revoked (it is gone for good)."""
    result = asyncio.run(
        operate_processes(
            SCENARIO, SCENARIO_FILE, workdir=tmp_path, speed=SPEED, kill={"pop5": KILL}
        )
    )
    run = report(result)
    [split] = [a["time"] for a in run["actions"] if a["action"] == KILL.action]
    killed = run["trust"]["agents"]["pop5"]["killed_at"]
    assert split + KILL.after <= killed <= split + KILL.after + STEP, (split, killed)
    assert run["acceptance"]["passed"], outcome(run)
    assert set(revoked(run)) <= {"pop5"}
    adopted = [a for a in run["actions"] if a["action"] in ("adoptGoal", "adoptRule")]
    assert adopted and all(a["agent"] == "pop6" and "from pop5" in a["detail"] for a in adopted)
    # dead once killed: no action of pop5's after it, whenever the cue came
    assert not any(a["agent"] == "pop5" and a["time"] > killed for a in run["actions"])
    executed_once(run)
    # the Classifiers of the two flowRecord parts were started once each, by their winners
    classifiers = [p for p in run["placements"] if p["vnf"] == "classifier"]
    assert sorted(p["goal"] for p in classifiers if p["kind"] == "start") == [
        "flowRecord(10.0.0.100,0)",
        "flowRecord(10.0.0.100,1)",
    ]
