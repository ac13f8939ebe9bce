"""`secmas cti share`: the bundle, the decision table, hygiene; bad files exit 2."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from secmas.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
CTI = ROOT / "scenarios" / "cti"
runner = CliRunner()


def maps() -> list[str]:
    return [
        "--sensitivity",
        str(CTI / "sensitivity.yaml"),
        "--necessity",
        str(CTI / "necessity.yaml"),
    ]


def test_share_writes_the_bundle_and_decisions(tmp_path: Path) -> None:
    bundle, table = tmp_path / "bundle.json", tmp_path / "decisions.csv"
    reports = [str(CTI / "edge-a.json"), str(CTI / "edge-b.csv"), str(CTI / "core-c.json")]
    result = runner.invoke(
        app,
        ["cti", "share", *reports, *maps(), "--out", str(bundle), "--decisions", str(table)],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    assert "hygiene core-c: 0.011  below 0.5" in result.output
    assert "hygiene edge-a: 0.738\n" in result.output
    objects = json.loads(bundle.read_text())["objects"]
    assert sum(o["type"] == "report" for o in objects) == 3
    assert any("anonymised" in e for o in objects for e in o.get("extensions", {}).values())
    assert table.read_text().startswith("domain,")


def test_without_out_the_bundle_is_printed() -> None:
    result = runner.invoke(app, ["cti", "share", str(CTI / "edge-a.json"), *maps()])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["type"] == "bundle"


def test_bad_files_exit_2_naming_each(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "secmas-scan/1", "hosts": [}')
    result = runner.invoke(app, ["cti", "share", str(broken), str(tmp_path / "gone.csv"), *maps()])
    assert result.exit_code == 2
    assert "broken.json" in result.output and "gone.csv" in result.output
    assert "Traceback" not in result.output


def test_adaptive_defence_refuses_processes() -> None:
    result = runner.invoke(app, ["demo", "--scenario", "adaptive-defence", "--processes"])
    assert result.exit_code == 2
    assert "drop --processes" in result.output
