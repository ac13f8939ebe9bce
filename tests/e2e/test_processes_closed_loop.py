"""The security closed loop with agents as OS processes (`loops_runs` says how)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.loops_runs import NEEDS_NATS, in_process, run, same_acceptance

pytestmark = NEEDS_NATS

SPEED = 10.0
"""Bids are due 2.5 simulated s after the call here: a real-time run keeps a call open 250 ms
of wall time at least (`auction.paced`). At the seed's 1 s (100 ms at 10x) an agent process
busy a moment (answering an attestation challenge, on a loaded two-core machine) missed the
deadline of the conn guard's auction at 61 s; another PoP then won it, the CNF's profiles and
goals came out differently, and the test failed (two of seven full-suite runs)."""


def test_the_closed_loop_detects_and_decides_as_in_one_process(tmp_path: Path) -> None:
    """The same anomalous profiles (MS → AE on the MLFO's data plane), the same goals
    handed to the CNF's agent over the bus (DE → ES), each reported back final, the same
    detection."""
    reference = in_process("cnf-attack", tmp_path / "one")
    processes = run("cnf-attack", tmp_path / "processes", processes=True, speed=SPEED)
    same_acceptance(processes, reference)
    analytics, expected = processes["analytics"], reference["analytics"]

    def anomalous(a: dict[str, Any]) -> list[tuple[str, str, str]]:
        """Each known anomalous profile, in the order it first shows. A window that
        straddles the start of an attack on the wall clock may read `unknown` (the
        processes run did so once beside `stress-ng --cpu 2`), so that label is left out."""
        seen = [
            (x["cnf"], x["source"], x["profile"])
            for x in a["alerts"]
            if x["profile"] not in ("normal", "unknown")
        ]
        return list(dict.fromkeys(seen))

    def goals(a: dict[str, Any]) -> list[str]:
        """Each kind of goal for each CNF, in the order it is first handed out: how many
        of a kind depends on how many windows the profile spans on the wall clock (beside
        `stress-ng --cpu 2` the processes run once scaled the CNF out three times, not
        two), its `web,N` argument with it."""
        kinds = [d["goal"].split(",")[0] for d in a["decisions"]]
        return list(dict.fromkeys(kinds))

    # Agents as processes run on a shared wall clock, so the CNF's profiles may come a
    # window or two apart from one process's. What must hold: every known anomalous
    # profile, in order; the same kinds of goal, in order, each handed to the agent of the
    # PoP the CNF was on; every attack detected.
    assert anomalous(analytics) == anomalous(expected) and anomalous(analytics)
    assert goals(analytics) == goals(expected) and goals(analytics)
    for report in (analytics, expected):
        for decision in report["decisions"]:
            assert decision["agent"] == report["alerts"][decision["alert"]]["pop"]
    final = {"achieved", "delegated", "failed", "already in hand"}
    assert {d["status"] for d in analytics["decisions"]} <= final
    detection, truth = analytics["detection"]["web"], expected["detection"]["web"]
    assert detection["per_label"] == truth["per_label"]
    assert detection["event_recall"] == truth["event_recall"] == 1.0
