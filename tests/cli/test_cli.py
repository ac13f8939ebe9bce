"""The `secmas` command: exit codes and messages for good and bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from secmas.cli.main import app, default_scenario_path

runner = CliRunner()


def test_validate_reference_scenario() -> None:
    result = runner.invoke(app, ["scenario", "validate", str(default_scenario_path())])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output and "6 " in result.output


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
