"""The `secmas` command: exit codes and messages for good and bad input."""

from __future__ import annotations

import csv
import json
import re
import socket
from pathlib import Path

from typer.testing import CliRunner

from secmas import __version__
from secmas.cli.main import app, default_scenario_path
from secmas.listenport import free_port

runner = CliRunner()


def test_version_prints_the_package_version_and_runs_nothing() -> None:
    result = runner.invoke(app, ["--version", "demo"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"secmas {__version__}"


def test_validate_reference_scenario() -> None:
    result = runner.invoke(app, ["scenario", "validate", str(default_scenario_path())])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output and "6 " in result.output


def test_validate_json_is_one_document_with_the_scenario_as_runs_read_it(tmp_path: Path) -> None:
    result = runner.invoke(app, ["scenario", "validate", str(default_scenario_path()), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["valid"] is True
    assert document["scenario"]["id"] == "ddos-6pop"
    assert [p["id"] for p in document["scenario"]["pops"]][:2] == ["pop1", "pop2"]
    assert document["warnings"] == []
    weak = tmp_path / "weak.yaml"
    text = default_scenario_path().read_text()
    weak.write_text(text.replace("  attackers: 8\n  rate: 0.5\n", "  attackers: 8\n  rate: 0.1\n"))
    result = runner.invoke(app, ["scenario", "validate", str(weak), "--json"])
    (warning,) = json.loads(result.output)["warnings"]
    assert (warning["file"], warning["line"], warning["field"]) == (str(weak), 141, "attack")
    assert "below the Link Monitor's 4 MB/s threshold" in warning["message"]


def test_validate_json_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\npops: 3\n")
    result = runner.invoke(app, ["scenario", "validate", str(bad), "--json"])
    assert result.exit_code == 2
    document = json.loads(result.output)
    assert document["valid"] is False
    assert {
        "file": str(bad),
        "line": 2,
        "field": "pops",
        "message": "Input should be a valid tuple",
    } in document["problems"]
    missing = runner.invoke(app, ["scenario", "validate", str(tmp_path / "none.yaml"), "--json"])
    assert missing.exit_code == 2
    assert json.loads(missing.output)["problems"][0]["field"] is None


def test_validate_reports_file_line_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = default_scenario_path().read_text().replace("{a: pop4, b: pop6", "{a: pop4, b: pop9")
    bad.write_text(text)
    result = runner.invoke(app, ["scenario", "validate", str(bad)])
    assert result.exit_code == 2
    assert "bad.yaml:" in result.output and "links[4].b" in result.output
    assert "pop9" in result.output
    assert "Traceback" not in result.output


def test_validate_missing_file() -> None:
    result = runner.invoke(app, ["scenario", "validate", "/no/such/file.yaml"])
    assert result.exit_code == 2 and "cannot read" in result.output


def test_from_topology_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "abilene.yaml"
    result = runner.invoke(app, ["scenario", "from-topology", "sndlib/abilene", "-o", str(out)])
    assert result.exit_code == 0, result.output
    again = runner.invoke(app, ["scenario", "validate", str(out)])
    assert again.exit_code == 0 and "12 " in again.output


def test_from_topology_unknown_key(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["scenario", "from-topology", "abilene", "-o", str(tmp_path / "x.yaml")]
    )
    assert result.exit_code == 2 and "sndlib/abilene" in result.output


def test_bad_option_exits_2() -> None:
    result = runner.invoke(app, ["scenario", "from-topology"])
    assert result.exit_code == 2


def test_demo_runs_the_scenario_and_writes_files(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "winner" in result.output and "linkRateLimited" in result.output
    assert "acceptance" in result.output and "FAILED" not in result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["scenario"] == "ddos-6pop" and report["acceptance"]["passed"]
    assert report["auctions"][0]["goal_name"] == "linkRateLimited"
    rows = list(csv.DictReader((tmp_path / "auctions.csv").open()))
    assert {"agent", "T", "C", "D", "utility", "winner"} <= set(rows[0])
    assert (tmp_path / "timeline.png").read_bytes()[:4] == b"\x89PNG"
    assert "attestation of pipeline ddos-6pop" in result.output


def test_demo_records_initial_and_mutual_attestation(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    trust = json.loads((tmp_path / "report.json").read_text())["trust"]
    entries = trust["attestations"]
    first = entries[:6]
    assert [(e["kind"], e["measured"], e["verifier"]) for e in first] == [
        ("initial", "pop1", "secaas"),
        *[("mutual", f"pop{i + 1}", f"pop{i}") for i in range(1, 6)],
    ]
    # one background step every 10 simulated seconds during the 240 s of operation, and
    # unannounced measurements by SECaaS between them
    periodic = [e for e in entries if e["kind"] != "random"]
    unannounced = [e for e in entries if e["kind"] == "random"]
    assert len(periodic) == 6 + 24
    assert trust["measurement"]["random"] == len(unannounced) > 0
    assert {e["verifier"] for e in unannounced} == {"secaas"}
    assert all(e["result"] == "pass" for e in entries)
    assert all(re.fullmatch(r"0x[0-9a-f]{64}", e["tx"]) for e in entries)
    assert [e["root_of_trust"] for e in entries[:6]] == [f"pop{i}" for i in range(1, 7)]
    # each record carries the run's simulated time: deployment at 0, then a step per 10 s
    times = [e["time"] for e in entries]
    assert times[:6] == [0.0] * 6
    steps = [e["time"] for e in periodic[6:]]
    assert all(10 * k <= t < 10 * k + 1 for k, t in enumerate(steps, 1)), times
    assert all(a["trusted"] and a["key_epoch"] == 1 for a in trust["agents"].values())
    assert trust["key_epochs"][0]["recipients"] == 6
    rows = list(csv.DictReader((tmp_path / "attestation.csv").open()))
    assert [r["tx"] for r in rows] == [e["tx"] for e in entries]
    assert [float(r["time"]) for r in rows] == times


def test_demo_insecure_is_explicit_and_quiet_keeps_the_summary(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--insecure", "--quiet", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "security is off" in result.output  # warnings stay under --quiet …
    assert "acceptance" in result.output and "simulated s in" in result.output  # … summary
    assert "event to enforced rule: 3 times" in result.output  # the loop, in real time
    assert "step 0" not in result.output and " by pop" not in result.output  # no per-step
    assert json.loads((tmp_path / "report.json").read_text())["trust"] is None
    assert not (tmp_path / "attestation.csv").exists()


def test_bad_ledger_url_is_bad_input(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--ledger", "ftp://x", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--ledger" in result.output


def test_unreachable_ledger_fails_the_run_naming_the_step(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    result = runner.invoke(app, ["demo", "--ledger", url, "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "deployment stopped at step 6-7" in result.output and url in result.output
    assert "Traceback" not in result.output


def test_run_rejects_a_scenario_without_traffic(tmp_path: Path) -> None:
    text = default_scenario_path().read_text()
    cut = text[: text.index("# 50 background hosts")]
    bare = tmp_path / "bare.yaml"
    bare.write_text(cut)
    result = runner.invoke(app, ["run", str(bare), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "traffic" in result.output


def test_run_generated_topology(tmp_path: Path) -> None:
    scenario = tmp_path / "abilene.yaml"
    made = runner.invoke(app, ["scenario", "from-topology", "sndlib/abilene", "-o", str(scenario)])
    assert made.exit_code == 0
    result = runner.invoke(app, ["run", str(scenario), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "report.json").read_text())["acceptance"]["passed"]


def test_agent_for_an_unknown_pop_is_bad_input() -> None:
    result = runner.invoke(app, ["agent", "--pop", "nope", "--bus", "nats://127.0.0.1:1"])
    assert result.exit_code == 2 and "'nope': not a PoP" in result.output


def test_agent_without_a_bus_fails_naming_it() -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["agent", "--pop", "pop1", "--bus", url])
    assert result.exit_code == 1 and url in result.output
    assert "Traceback" not in result.output


def test_processes_with_an_unreachable_bus_fail_the_run(tmp_path: Path) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    args = ["demo", "--processes", "--bus", url, "--out", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "message bus" in result.output and url in result.output


def test_tamper_needs_a_pop_and_attestation(tmp_path: Path) -> None:
    unknown = runner.invoke(app, ["demo", "--tamper", "nope", "--out", str(tmp_path)])
    assert unknown.exit_code == 2 and "'nope': not a PoP" in unknown.output
    blind = runner.invoke(app, ["demo", "--tamper", "pop3", "--insecure", "--out", str(tmp_path)])
    assert blind.exit_code == 2 and "nothing would detect it" in blind.output
