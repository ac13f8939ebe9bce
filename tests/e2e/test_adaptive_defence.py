"""Issue 9's acceptance run: `secmas demo --scenario adaptive-defence` shares CTI as a
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
    assert len(moves) >= 2 and all(m["outcome"] == "moved" for m in moves)
    assert all(m["destination"] not in ("pop5", m["source"]) for m in moves)
    for auction in (a for a in report["auctions"] if a["goal_name"] == "cnfMoved"):
        reasons = {r["agent"]: r["reason"] for r in auction["refusals"]}
        assert reasons["pop5"].startswith("CTI: domain core-c")
        assert auction["winner"] not in (None, "pop5")

    # within the quota, and the service's members arrived together
    [unit] = mtd["units"]
    assert mtd["within_quota"]
    assert all(0 < s <= unit["budget_s"] for s in unit["downtime_spent_s"].values())
    assert set(unit["arrival_spread_s"].values()) == {0.0}
    assert "MTD shop: downtime budget 4.80 s per CNF" in result.output
    assert {"liveMigrate", "scheduleMigration"} <= {a["action"] for a in report["actions"]}
