"""CTI hygiene and moving target defence with agents as OS processes (`loops_runs`
says how)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.loops_runs import NEEDS_NATS, in_process, run, same_acceptance

pytestmark = NEEDS_NATS


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
