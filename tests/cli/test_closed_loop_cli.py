"""`secmas demo/run --detect`: the closed loop from the command line, and its bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from secmas.cli.main import app, default_scenario_path

runner = CliRunner()

SMALL = """
analytics:
  detect: true
  samples: 200
  epochs: 2
  profile_epochs: 1
"""


@pytest.fixture
def small_cnf_scenario(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CNF-attack scenario with small models, 100 s long, caching under tmp_path."""
    monkeypatch.setenv("SECMAS_CACHE", str(tmp_path / "cache"))
    text = default_scenario_path("cnf-attack").read_text()
    text = text.split("\nanalytics:")[0].replace("duration: 300", "duration: 100") + SMALL
    path = tmp_path / "cnf.yaml"
    path.write_text(text)
    return path


def test_run_with_the_closed_loop_reports_alerts_and_writes_metrics(small_cnf_scenario, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(small_cnf_scenario), "--insecure", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "closed loop: training the LSTM autoencoder on 200 windows" in result.output
    assert "closed-loop alerts" in result.output
    report = json.loads((out / "report.json").read_text())
    analytics = report["analytics"]
    assert analytics["alerts"] and analytics["alerts"][0]["time"] >= 60
    assert analytics["detection"]["web"]["per_label"]["http_flood"][1] == 1
    with (out / "metrics-web.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 100 and "latency_p99" in rows[0]
    rerun = ["run", str(small_cnf_scenario), "--insecure", "--out", str(out), "--force"]
    again = runner.invoke(app, rerun)
    assert "detection models loaded" in again.output


NO_CNF = ("cnfs:\n  - {id: web, host: server, pop: pop6}\n", "")
NO_SLICE_CNF = ("cnfs: [web]}", "cnfs: []}")


def test_detect_on_a_scenario_without_cnfs_is_bad_input(tmp_path):
    text = default_scenario_path().read_text().replace(*NO_CNF).replace(*NO_SLICE_CNF)
    path = tmp_path / "no-cnf.yaml"
    path.write_text(text)
    result = runner.invoke(
        app, ["run", str(path), "--detect", "--insecure", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 2
    assert "no CNFs to watch" in result.output and "Traceback" not in result.output


def test_unknown_embedded_scenario_is_bad_input():
    result = runner.invoke(app, ["demo", "--scenario", "nope"])
    assert result.exit_code == 2 and "ddos-6pop, cnf-attack" in result.output


def test_scenario_detect_without_cnfs_names_the_field(tmp_path):
    text = default_scenario_path().read_text().replace(*NO_CNF) + "\nanalytics: {detect: true}\n"
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["scenario", "validate", str(path)])
    assert result.exit_code == 2 and "analytics.detect" in result.output


def test_federated_closed_loop_trains_the_detector_among_the_agents(small_cnf_scenario, tmp_path):
    out = tmp_path / "fed"
    arguments = ["run", str(small_cnf_scenario), "--insecure", "--federated", "--out", str(out)]
    arguments.append("--force")  # the second run writes over the first
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # the console folds long lines
    assert "training the LSTM autoencoder federated: 6 agents" in said
    assert "10 FedAvg rounds × 1 local epochs, every exchange a secure sum" in said
    assert "round 10/10 6 agents" in said and "the secure sums moved 3.6 MB" in said
    report = json.loads((out / "report.json").read_text())
    assert report["analytics"]["detector"]["training"] == "federated"
    assert report["analytics"]["alerts"]
    # cached apart from the centrally trained model, and found again
    again = " ".join(runner.invoke(app, arguments).output.split())
    assert "detection models loaded" in again and "-federated10)" in again
    central = runner.invoke(app, [*arguments[:3], "--out", str(out), "--force"])
    assert "training the LSTM autoencoder on 200 windows" in central.output


def test_federated_without_cnfs_is_bad_input(tmp_path):
    text = default_scenario_path().read_text().replace(*NO_CNF).replace(*NO_SLICE_CNF)
    path = tmp_path / "no-cnf.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["run", str(path), "--federated", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "--federated: scenario" in result.output and "no CNFs to watch" in result.output
