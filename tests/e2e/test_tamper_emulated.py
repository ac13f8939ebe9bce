"""`--tamper POP` on the emulated engine: the agent is patched in memory at its time on
the wall clock, its next mutual attestation fails, it is revoked, and the other agents
cut a real SYN flood without it.

One short run (the line network A—B—C—server with D beside the path, four attackers at
A, the trust layer on with a mutual attestation step every 2 s, 40 s) through
`secmas.api.run` as `secmas run --dataplane emulated --tamper D` makes it; every test
reads its report. D is the PoP whose Classifier sees the attack only when the traffic
is steered through it, the one the agents pick without the implant: revoked, it must be
replaced by a PoP on the attack's path.

Needs root, network namespaces, Mininet and nftables (skipped otherwise, with what is
missing); the run takes its network down even when it fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.e2e.line_runs import ATTACK_START, short_line_scenario
from tests.network.emulation.conftest import leftovers, needs_emulation

from secmas.api import run
from secmas.api.scenarios import TAMPER_AT

pytestmark = [needs_emulation, pytest.mark.usefixtures("alone")]

TAMPERED = "D"
PERIOD = 2.0
WITHDRAWAL = {"unsteer", "cancelGoal"}
"""What a revoked agent's halt journals, when its plans are cancelled: the steering it
held let go (real rules taken out, which takes a while on a loaded machine) and the goals
it worked on given up."""


@pytest.fixture(scope="module")
def tampered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The report of the run, and what the machine held of secmas runs before and after."""
    before = set(leftovers())
    out: Path = tmp_path_factory.mktemp("tamper-emulated")
    scenario = short_line_scenario(
        40, security={"enabled": True, "attestation": {"period": PERIOD}}
    )
    try:
        result = run(scenario, out=out, engine="emulated", tamper=TAMPERED)
    finally:
        after = set(leftovers())
    return {"report": result.report, "left": after - before}


def caught_at(report: dict[str, Any]) -> float:
    """When the mutual attestation step that failed the tampered agent ran."""
    [failed] = [e for e in report["trust"]["attestations"] if e["result"] == "fail"]
    return failed["time"]


def test_the_tampered_agent_fails_its_next_attestation_and_is_revoked(tampered):
    trust = tampered["report"]["trust"]
    failed = [e for e in trust["attestations"] if e["result"] == "fail"]
    assert [e["measured"] for e in failed] == [TAMPERED], trust["attestations"]
    [caught] = failed
    assert caught["differing"] == ["bind:objects"]  # its object, not the code all share
    assert caught["revoke_tx"] is not None
    assert caught["time"] >= TAMPER_AT
    assert {p for p, a in trust["agents"].items() if not a["trusted"]} == {TAMPERED}


def test_once_revoked_it_wins_no_auction_and_acts_on_no_packet(tampered):
    """From its verdict on, the revoked agent only withdraws (its halt); a period later
    every agent knows of it, and it takes part in no auction."""
    report = tampered["report"]
    caught = caught_at(report)
    own = [a for a in report["actions"] if a["time"] > caught and a["agent"] == TAMPERED]
    assert all(a["action"] in WITHDRAWAL for a in own), own
    assert all("revoked" in a["detail"] for a in own if a["action"] == "cancelGoal"), own
    heard = caught + PERIOD
    after = [a for a in report["auctions"] if a["sim_start_s"] > heard]
    assert after and all(a["winner"] != TAMPERED for a in after), after
    assert all(b["agent"] != TAMPERED for a in after for b in a["bids"])
    assert [a for a in report["actions"] if a["time"] > heard and a["agent"] != TAMPERED]


def test_the_others_still_cut_the_real_flood(tampered):
    report = tampered["report"]
    # the attackers found on real counters by a Classifier on another PoP, then blocked
    classified = [a for a in report["actions"] if a["action"] == "classifyFlows"]
    assert classified and all(a["agent"] != TAMPERED for a in classified), classified
    assert "blockFlow" in {a["action"] for a in report["actions"]}
    server = report["emulation"]["server_packets"]
    peak = max(s["attack_pps"] for s in server if s["t"] >= ATTACK_START)
    end = [s["attack_pps"] for s in server if s["t"] >= server[-1]["t"] - 10]
    assert sum(end) / len(end) <= 0.1 * peak  # attack packets at the server fell ≥ 90 %
    [window] = [w for w in report["emulation"]["requests"] if w["phase"] == "end window"]
    assert window["requests"] > 0 and window["success"] >= 0.9


def test_nothing_is_left_behind(tampered):
    assert not tampered["left"]
