"""Agents as separate OS processes over a real nats-server and a JSON-RPC ledger: one
agent process killed in the middle of the mitigation, one infected in memory. The same
run as in one process is compared in `test_processes_bids.py`.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.ddos_runs import SCENARIO, SCENARIO_FILE

from secmas.pipeline.operate import OperateResult, operate
from secmas.pipeline.outside import operate_processes
from secmas.report.acceptance import Timeline, acceptance
from secmas.report.record import build_report
from secmas.transport.broker import MISSING_BINARY, find_nats_server

if find_nats_server() is None:
    pytest.skip(f"multi-process runs need a server: {MISSING_BINARY}", allow_module_level=True)

SPEED = 10.0


def report(result: OperateResult) -> dict[str, Any]:
    accepted = acceptance(result.telemetry, Timeline.of(result.scenario), result.capacity.ok)
    return build_report(result, accepted, "test")


@functools.cache
def in_process() -> dict[str, Any]:
    """The same scenario in one process: the reference the multi-host run is held to."""
    return report(asyncio.run(operate(SCENARIO)))


def strategy(run: dict[str, Any]) -> list[tuple[str, str]]:
    """Which goals were auctioned and how they ended, in any order."""
    return sorted((a["goal_name"], a["status"]) for a in run["auctions"])


def kinds(run: dict[str, Any]) -> set[str]:
    return {p["vnf"] for p in run["placements"]}


def test_a_killed_agent_process_is_routed_around(tmp_path: Path) -> None:
    """pop4 wins a Classifier at t≈26 s and dies while downloading it: the auction's
    initiator re-auctions the goal, the others carry on and the attack is mitigated."""
    result = asyncio.run(
        operate_processes(
            SCENARIO, SCENARIO_FILE, workdir=tmp_path, speed=SPEED, kill={"pop4": 60.0}
        )
    )
    run = report(result)
    assert run["trust"]["agents"]["pop4"]["killed_at"] == pytest.approx(60.0)
    assert run["acceptance"]["passed"], run["acceptance"]
    retried = [a for a in run["auctions"] if a["attempt"] > 1]
    assert retried and all(a["winner"] != "pop4" for a in retried)
    assert not any(p["pop"] == "pop4" for p in run["final_instances"])


def test_an_agent_infected_in_memory_is_caught_revoked_and_routed_around(
    tmp_path: Path,
) -> None:
    """pop3's live agent object gets the implant bound in place of a method 5 s in (as
    `secmas demo --tamper pop3` does, in one process as here); the next mutual-attestation
    step that measures it fails on the watched objects, it is revoked,
    keys rotate to the five others, and its goal is re-auctioned to a genuine agent."""
    result = asyncio.run(
        operate_processes(
            SCENARIO, SCENARIO_FILE, workdir=tmp_path, speed=SPEED, tamper={"pop3": 5.0}
        )
    )
    run = report(result)
    trust = run["trust"]
    failed = [e for e in trust["attestations"] if e["result"] == "fail"]
    assert [e["measured"] for e in failed] == ["pop3"]
    assert failed[0]["differing"] == ["bind:objects"]
    assert failed[0]["revoke_tx"] is not None
    assert not trust["agents"]["pop3"]["trusted"]
    assert [(k["epoch"], k["recipients"]) for k in trust["key_epochs"]] == [(1, 6), (2, 5)]
    after = [a for a in run["auctions"] if a["sim_start_s"] > 35]
    assert all(a["winner"] != "pop3" for a in after)
    assert run["acceptance"]["passed"], run["acceptance"]
