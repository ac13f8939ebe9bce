"""The acceptance run of a slice-isolation intent and a spoofed-source injection.

`secmas demo --scenario spoofed-injection` must show the breach detected within one period,
the offending packets rejected in the data plane, the explanation, the conflict reported,
and an audit log that verifies (and stops verifying once an entry is edited).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from secmas.cli.main import app
from secmas.policy.audit import read_anchors, read_log, verify

runner = CliRunner()


@cache
def demo(folder: Path) -> tuple[str, dict[str, Any]]:
    result = runner.invoke(
        app, ["demo", "--scenario", "spoofed-injection", "--out", str(folder)], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    return result.output, json.loads((folder / "report.json").read_text())


def test_breach_rejection_explanation_and_audit(tmp_path_factory: Any) -> None:
    folder = tmp_path_factory.mktemp("spoofed")
    output, report = demo(folder)
    policy = report["policy"]

    # Detected within one evaluation period of the injection's start (60 s, period 1 s).
    [breach] = [b for b in policy["breaches"] if b["term"] == "SliceIsolation"]
    assert (breach["start"], breach["end"]) == (60.0, 61.0)
    assert breach["offending"] == 6 and breach["value"] > 0
    assert {e["source_ip"] for e in breach["evidence"]} == {f"203.0.113.{i}" for i in range(1, 7)}
    assert "BREACHED: InvalidSourcePackets" in breach["explanation"]
    assert "source_ip NOT IN whitelist" in breach["explanation"]
    assert "entering at pop1" in breach["explanation"]

    # Rejected where they enter, every one of their later packets dropped.
    rejects = [e for e in policy["enforcements"] if e["action"] == "REJECT_PACKET"]
    assert len(rejects) == 6 and all(e["time"] == 61.0 for e in rejects)
    assert {r["source"] for r in policy["rejected_packets"]} == {
        f"203.0.113.{i}" for i in range(1, 7)
    }
    assert all(r["packets"] > 10_000 for r in policy["rejected_packets"])
    isolation = next(c for c in policy["compliance"] if c["term"] == "SliceIsolation")
    assert isolation["breached"] == 1 and isolation["periods"] == 180
    assert report["acceptance"]["passed"]

    # The contradicting partner intent: reported, and only the blocking one enforced.
    [conflict] = policy["conflicts"]
    assert conflict["rule"] == "deny overrides"
    assert conflict["winner"] == ["ssla-web-isolated", "SliceIsolation"]

    # Trust: the PoPs the forged packets entered at carry one bad SSLA period.
    scores = policy["trust"]["scores"]
    assert scores["pop1"]["ssla"][1] == 1 and scores["pop3"]["ssla"][1] == 0

    # The console tells the same story.
    assert "policy conflict" in output and "breach t=61s" in output
    assert "SSLA compliance" in output and "SSLA enforcement" in output

    # The audit trail: conflict, breach, rejection, notification, restoration, intact and
    # anchored on the ledger.
    entries = read_log(folder / "audit.jsonl")
    decisions = [e.decision for e in entries]
    assert decisions[:1] == ["conflict"]
    assert {"breach", "reject_packet", "notify", "restored"} <= set(decisions)
    anchors = read_anchors(folder / "audit-anchors.json")
    assert anchors.anchors[-1].count == len(entries)
    assert verify(entries, anchors.points()).ok
    assert policy["audit"]["head"] == entries[-1].hash

    # Editing one entry is caught, and named.
    log = folder / "audit.jsonl"
    lines = log.read_text().splitlines()
    lines[2] = lines[2].replace("blockFlow", "allowFlow")
    log.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["audit", "verify", str(log)])
    assert result.exit_code == 1
    assert "2" in result.output


def test_an_earlier_audit_log_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "audit.jsonl").write_text("{}\n")
    result = runner.invoke(app, ["demo", "--scenario", "spoofed-injection", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "audit logs are never overwritten" in result.output
