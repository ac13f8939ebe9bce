"""The `secmas` command: exit codes and messages for good and bad input."""

from __future__ import annotations

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


def test_demo_prints_auctions() -> None:
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "winner" in result.output and "linkRateLimited" in result.output
