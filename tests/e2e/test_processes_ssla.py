"""The SSLA manager with agents as OS processes (`loops_runs` says how)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.loops_runs import NEEDS_NATS, in_process, run, same_acceptance

pytestmark = NEEDS_NATS


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
