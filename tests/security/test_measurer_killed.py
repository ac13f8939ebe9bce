"""The host's measurer killed mid-run, agents as processes.

Found by the red team: SIGKILL the measurer of a `--processes` run and every agent the
chain checked from then on was taken out (none of its passes could be confirmed), until
none was left and acceptance failed: nothing told "measurer down" from "agent bad", and
nothing started it again. Now the driver notices a measurer that no longer answers and
starts a fresh one (new key, same host); meanwhile its absence is the host's state: the
agents checked then are withdrawn from auctions, never revoked, and trusted again once
the new measurer confirms them.

The reference DDoS scenario with `secmas agent` processes over a real nats-server; the
measurer is found as any process of this host is (its command line) and SIGKILLed twice,
before the attack and during its mitigation.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from tests.children import children_running
from tests.e2e.ddos_runs import SCENARIO, SCENARIO_FILE

from secmas.pipeline.outside import operate_processes
from secmas.report.acceptance import Timeline, acceptance
from secmas.transport.broker import find_nats_server

NEEDS_NATS = pytest.mark.skipif(find_nats_server() is None, reason="needs nats-server")
SPEED = 5.0
"""Half the demo's 10×: the wall time a successor measurer takes to start, and every other
delay of a loaded machine, count half as many simulated seconds. At 10× beside
`stress-ng --cpu 2` in a full suite, one run's mitigation came too late for acceptance
(37 % of the legitimate traffic served in its last 20 s)."""
KILLS = (30.0, 70.0)
"""When the measurer is killed: before the attack (60 s) and during its mitigation."""


def measurers() -> list[int]:
    """This process's measurer children."""
    return children_running(b"secmas.trust.measurer_service")


class MeasurerKiller:
    """A step loop that SIGKILLs the host's measurer at each of `KILLS` (if there is one
    then: on HEAD, nothing started one again after the first kill)."""

    def __init__(self) -> None:
        self.killed: list[list[int]] = []
        """At each of `KILLS`, the measurer processes found and killed (a successor still
        starting may show as two)."""
        self.due = list(KILLS)

    def attach(self, *_: Any) -> None:
        return None

    async def start(self, _agents: Any) -> None:
        return None

    async def after_step(self, now: float) -> None:
        if self.due and now >= self.due[0]:
            del self.due[0]
            found = measurers()
            for pid in found:
                os.kill(pid, signal.SIGKILL)
            self.killed.append(found)

    def report(self) -> dict[str, Any]:
        return {}


@NEEDS_NATS
def test_killing_the_measurer_mid_run_revokes_nobody_and_the_run_meets_acceptance(
    tmp_path: Path,
) -> None:
    killer = MeasurerKiller()
    result = asyncio.run(
        operate_processes(SCENARIO, SCENARIO_FILE, workdir=tmp_path, speed=SPEED, loops=[killer])
    )
    trust = result.trust
    assert trust is not None
    assert not [e for e in trust["attestations"] if e["revoke_tx"]], trust["attestations"]
    assert all(a["excluded"] is None for a in trust["agents"].values()), trust["agents"]
    assert all(a["trusted"] for a in trust["agents"].values()), trust["agents"]
    assert len(killer.killed) == len(KILLS) and all(killer.killed)  # one there each time
    measurement = trust["external_measurement"]
    assert len(measurement["restarts"]) >= len(KILLS), measurement
    assert measurement["measurer_pid"] not in killer.killed
    restarted = [a for a in result.journal.actions if a.action == "restartMeasurer"]
    assert len(restarted) == len(measurement["restarts"])
    accepted = acceptance(result.telemetry, Timeline.of(result.scenario), result.capacity.ok)
    auctions = [(r.outcome.label, r.status) for _, r in result.journal.auctions]
    assert accepted.passed, (accepted, auctions, result.journal.actions)
