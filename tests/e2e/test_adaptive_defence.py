"""Acceptance run: `secmas demo --scenario adaptive-defence` shares CTI as a
STIX bundle with anonymised fields, keeps the low-hygiene domain out of the CNFs'
placement, and moves the vulnerable CNFs proactively within their quota."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from secmas.cli.main import app

runner = CliRunner()


def test_cti_sharing_hygienic_placement_and_moves_within_quota(tmp_path_factory: Any) -> None:
    folder: Path = tmp_path_factory.mktemp("adaptive")
    result = runner.invoke(
        app, ["demo", "--scenario", "adaptive-defence", "--out", str(folder)], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    report = json.loads((folder / "report.json").read_text())

    # CTI shared before the run: a STIX bundle whose hidden fields are marked
    bundle = json.loads((folder / "cti-bundle.json").read_text())
    marked = [o for o in bundle["objects"] if o.get("granular_markings")]
    assert bundle["type"] == "bundle" and marked
    cti = report["cti"]
    assert cti["excluded"] == {"pop5": "domain core-c hygiene 0.011 is below the threshold 0.300"}
    assert "│ core-c │ 0.011   │ pop5             │ refused" in result.output

    # every move avoided core-c and the PoP it left, and each auction says why
    mtd = report["mtd"]
    moves = mtd["moves"]
    moved = [m for m in moves if m["outcome"] == "moved"]
    assert len(moved) >= 2 and {m["cnf"] for m in moved} == {"web", "api"}
    assert all(m["destination"] not in ("pop5", m["source"]) for m in moved)
    # charged on the path to the PoP the auction chose; not measured on the simulator
    assert all(m["bandwidth_mbps"] in (5.0, 8.0) and m["cost_usd"] > 0 for m in moved)
    assert all(m["measured_downtime_s"] is None for m in moves)
    assert mtd["vulnerabilities"]["web"]["source"] == "cti" and mtd["cost_usd"] > 0
    for auction in (a for a in report["auctions"] if a["goal_name"] == "cnfMoved"):
        reasons = {r["agent"]: r["reason"] for r in auction["refusals"]}
        assert reasons["pop5"].startswith("CTI: domain core-c")
        assert auction["winner"] not in (None, "pop5")

    # within the quota
    [unit] = mtd["units"]
    assert mtd["within_quota"]
    assert all(0 < s <= unit["budget_s"] for s in unit["downtime_spent_s"].values())
    assert "MTD shop: downtime budget 4.80 s per CNF" in result.output
    assert {"liveMigrate", "scheduleMigration"} <= {a["action"] for a in report["actions"]}
