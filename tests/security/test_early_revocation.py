"""The repository's agent revoked before its part of the mitigation is done.

pop5 sits at the VNF repository: in the reference run it wins the Rate Limiter, the Anomaly
Detector and the Load Balancer with no download (Table 5.8's T = 0). Caught between about
10 and 28 s (`secmas run … --tamper pop5` with a shorter attestation period), every VNF the
strategy still needs is downloaded elsewhere, one stage after the other (003 §5.1: protect
first; Table 5.5's split only once the Classifier's auction failed; the parts' Classifiers
once the split is in place), over 5-10 MB/s links: at least 23 + 50 (Rate Limiter) + 50
(Anomaly Detector) + 50 (Load Balancer) + 100 (Classifier at pop3/pop4, flowRecord weighs
T at 0) s, past the reference run's 240 s. So the run here lasts long enough for those
downloads; each part must be auctioned by an admitted agent (the split's winner, or the
agent that adopted pop5's goal), and the acceptance figures met at the end.

The attack: caught at 28 s, pop5 had limited the IP and was auctioning flowRecord(ip);
pop6 adopted that goal, but the board's copy did not say who held the IP limit, so once
every flow was blocked nobody asked pop5's stand-in to lift it and legitimate traffic
stayed at 72 % of its level for good.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.e2e.ddos_runs import SCENARIO
from tests.e2e.test_tamper_all import check, report

from secmas.api.scenarios import TAMPER_AT
from secmas.pipeline.operate import operate
from secmas.scenario.model import Scenario

POP = "pop5"
DURATION = 400.0
"""Simulated seconds: the downloads above, and the acceptance's last 20 s after them."""


def caught_every(period: float) -> Scenario:
    """The reference scenario attested every `period` s (no unannounced measurement, so
    pop5, fifth in the plan, is caught at 5 × period), run for DURATION s."""
    security = SCENARIO.security
    attestation = security.attestation.model_copy(update={"period": period, "random": None})
    assert SCENARIO.traffic is not None
    return SCENARIO.model_copy(
        update={
            "security": security.model_copy(update={"attestation": attestation}),
            "traffic": SCENARIO.traffic.model_copy(update={"duration": DURATION}),
        }
    )


def parts_auctioned(run: dict[str, Any]) -> dict[str, str]:
    """Each split part's flowRecord goal achieved → the agent that auctioned it."""
    return {
        a["goal"]: a["initiator"]
        for a in run["auctions"]
        if a["goal_name"] == "flowRecord" and len(a["args"]) == 2 and a["status"] == "done"
    }


@pytest.mark.parametrize(
    ("period", "caught"),
    [(4.0, 20.0), (5.6, 28.0)],
    ids=["before-it-acts", "before-the-split"],
)
def test_the_split_parts_are_auctioned_by_admitted_agents(period: float, caught: float):
    scenario = caught_every(period)
    run = report(asyncio.run(operate(scenario, tamper={POP: TAMPER_AT})))
    [failed] = [e for e in run["trust"]["attestations"] if e["result"] == "fail"]
    assert (failed["measured"], failed["kind"], failed["time"]) == (POP, "mutual", caught)
    check(run, POP)
    assert scenario.defence is not None and scenario.traffic is not None
    parts = scenario.defence.split_parts
    [ip] = [h.ip for h in scenario.hosts if h.id == scenario.traffic.server]
    initiators = parts_auctioned(run)
    assert sorted(initiators) == [f"flowRecord({ip}, {k})" for k in range(parts)]
    trusted = {p for p, agent in run["trust"]["agents"].items() if agent["trusted"]}
    assert set(initiators.values()) <= trusted
