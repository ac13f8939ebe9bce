"""`secmas run/demo --policy`: bad policies exit 2 before anything runs, naming the problem."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from secmas.cli.main import app, default_scenario_path

runner = CliRunner()
DDOS = str(default_scenario_path())
SPOOFED = str(default_scenario_path("spoofed-injection"))


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_a_policy_on_an_unknown_slice_is_refused(tmp_path: Path) -> None:
    intents = tmp_path / "i.yaml"
    intents.write_text("intents:\n  - {id: e, slice: web, kind: encryption}\n")
    code, output = run("run", DDOS, "--policy", str(intents), "--out", str(tmp_path / "o"))
    assert code == 2
    assert "i.yaml: ssla-e: slice 'web' is not in the scenario (protected-web)" in output
    assert not (tmp_path / "o").exists()
    bare = tmp_path / "bare.yaml"
    text = Path(DDOS).read_text()
    bare.write_text(
        text.replace("slices:\n  - {id: protected-web, hosts: [server], cnfs: [web]}\n", "")
    )
    code, output = run("run", str(bare), "--policy", str(intents))
    assert code == 2 and "(none: add a slices section)" in output


def test_figure_3_without_a_slice_or_whitelist_is_refused_before_the_run(tmp_path: Path) -> None:
    figure = Path(__file__).parents[1] / "policy" / "data" / "figure3-slice-isolation.xml"
    code, output = run("run", SPOOFED, "--policy", str(figure), "--out", str(tmp_path / "o"))
    assert code == 2 and not (tmp_path / "o").exists()
    assert "SLA-Slice-Isolation: the SSLA names no slice: add <slice> (protected-web)" in output
    text = figure.read_text().replace(
        "<guaranteeTerm>", "<slice>protected-web</slice><guaranteeTerm>", 1
    )
    (tmp_path / "f3.xml").write_text(text)
    code, output = run("run", SPOOFED, "--policy", str(tmp_path / "f3.xml"))
    assert code == 2
    assert "the KPI formula uses the named set 'whitelist', which the document does not" in output


def test_a_malformed_intent_file_is_refused_with_its_line(tmp_path: Path) -> None:
    intents = tmp_path / "i.yaml"
    intents.write_text("intents:\n  - {id: e, slice: protected-web, kind: teleport}\n")
    code, output = run("demo", "--scenario", "spoofed-injection", "--policy", str(intents))
    assert code == 2
    assert "i.yaml:2" in output and "unknown intent kind 'teleport'" in output


def test_a_hostile_ssla_is_refused(tmp_path: Path) -> None:
    ssla = tmp_path / "s.xml"
    ssla.write_text('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>')
    code, output = run("run", SPOOFED, "--policy", str(ssla))
    assert code == 2 and "refused" in output


def test_a_missing_policy_file_is_refused(tmp_path: Path) -> None:
    code, output = run("run", SPOOFED, "--policy", str(tmp_path / "none.yaml"))
    assert code == 2 and "cannot read file" in output
