"""`secmas detect train`: the scenario's detector trained centrally or federated (FedAvg
over one agent per PoP, every exchange a secure sum), F1 compared, model file written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from secmas.analytics.autoencoder import Detector
from secmas.cli.detect import detect_app
from secmas.transport.broker import MISSING_BINARY, find_nats_server

runner = CliRunner()
app = typer.Typer(pretty_exceptions_enable=False)
app.add_typer(detect_app, name="detect")

SCENARIO = Path(__file__).parents[2] / "scenarios" / "cnf-attack.yaml"
SMALL = ["--seconds", "60", "--rounds", "2", "--local-epochs", "1"]


@pytest.fixture(scope="module")
def federated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    folder = tmp_path_factory.mktemp("train")
    model, report = folder / "fed.pt", folder / "fed.json"
    arguments = [str(SCENARIO), "-o", str(model), "--report", str(report)]
    result = runner.invoke(
        app, ["detect", "train", *arguments, "--federated", *SMALL, "--test-runs", "1"]
    )
    assert result.exit_code == 0, result.output
    return model, report, result.output


def test_federated_training_prints_rounds_and_compares_f1(
    federated: tuple[Path, Path, str],
) -> None:
    model, report, output = federated
    assert "6 agents (pop1, pop2, pop3, pop4, pop5, pop6)" in output
    assert "60 steps of its own telemetry of CNF web (14 metrics)" in output
    assert "every exchange a secure sum" in output and "threshold t = 4 of 6" in output
    assert "round   1/2  6 agents" in output and "round   2/2  6 agents" in output
    assert "each update clipped to L2 norm 3" in output
    assert "F1 after each round on 1 attack runs" in output
    assert sum("  F1 " in line for line in output.splitlines() if "round " in line) == 2
    assert "central training on the pooled telemetry: 2 epochs (the baseline)" in output
    assert "F1 federated − central:" in output and f"wrote {model}" in output
    data = json.loads(report.read_text())
    assert data["agents"] == [f"pop{i}" for i in range(1, 7)]
    rounds = data["federated"]["rounds"]
    assert [r["round"] for r in rounds] == [1, 2]
    assert all(len(r["agents"]) == 6 and r["bytes"] > 0 for r in rounds)
    assert data["federated"]["secure_sum_bytes"] > sum(r["bytes"] for r in rounds)
    per_round = data["federated"]["f1_per_round"]
    assert len(per_round) == 2 and per_round == [r["f1"] for r in rounds]
    assert not any(r["rejected"] for r in rounds) and data["federated"]["processes"] is False
    for name in ("federated", "central"):
        assert 0.0 <= data[name]["f1"] <= 1.0
        assert data[name]["precision"] > 0.5 and data[name]["recall"] > 0.5
    # the federated model is the file written, a detector like any other
    detector = Detector.load(model)
    assert len(detector.features) == 14 and detector.window == 10
    assert detector.static.value == pytest.approx(data["federated"]["threshold"])
    assert detector.static.value != pytest.approx(data["central"]["threshold"])


def test_the_federated_model_scores_a_csv(
    federated: tuple[Path, Path, str], tmp_path: Path
) -> None:
    model, _, _ = federated
    csv = tmp_path / "attack.csv"
    arguments = [str(SCENARIO), "-o", str(csv), "--seconds", "200"]
    made = runner.invoke(app, ["detect", "dataset", *arguments, "--conditions", "http_flood"])
    assert made.exit_code == 0, made.output
    scored = runner.invoke(app, ["detect", "score", "--csv", str(csv), "--model", str(model)])
    assert scored.exit_code == 0, scored.output
    assert "191 windows" in scored.output and "flagged" in scored.output


def test_central_training_writes_the_model_without_rounds(tmp_path: Path) -> None:
    model = tmp_path / "central.pt"
    arguments = [str(SCENARIO), "-o", str(model), *SMALL, "--test-runs", "0"]
    result = runner.invoke(app, ["detect", "train", *arguments])
    assert result.exit_code == 0, result.output
    assert "round" not in result.output and "secure sum" not in result.output
    assert "central training on the pooled telemetry: 2 epochs" in result.output
    assert Detector.load(model).window == 10


def bad_inputs(tmp_path: Path) -> list[tuple[list[str], str]]:
    plain = yaml.safe_load(SCENARIO.read_text())
    for key in ("cnfs", "slices", "incidents", "analytics"):
        plain.pop(key, None)
    no_cnf = tmp_path / "no-cnf.yaml"
    no_cnf.write_text(yaml.safe_dump(plain))
    model = str(tmp_path / "m.pt")
    scenario = [str(SCENARIO)]
    return [
        ([str(no_cnf), "-o", model], "has no CNF whose telemetry to learn"),
        ([str(tmp_path / "none.yaml"), "-o", model], "none.yaml"),
        ([*scenario, "-o", str(tmp_path / "no" / "m.pt")], "no folder"),
        ([*scenario, "-o", model, "--seconds", "5"], "shorter than one window of 10 steps"),
        ([*scenario, "-o", model, "--seconds", "20000"], "--seconds: at most 10000 s"),
        (
            [*scenario, "-o", model, "--federated", "--corrupt", "0.5", "--dropout", "0.45"],
            "--corrupt/--dropout: no threshold fits 6 clients",
        ),
        ([*scenario, "-o", model, "--processes"], "--processes and --norm-bound go with"),
        ([*scenario, "-o", model, "--norm-bound", "1"], "--processes and --norm-bound go with"),
    ]


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    for arguments, message in bad_inputs(tmp_path):
        result = runner.invoke(app, ["detect", "train", *arguments, "--test-runs", "0"])
        assert result.exit_code == 2, (arguments, result.output)
        assert message in result.output, (arguments, result.output)
        assert "Traceback" not in result.output
        assert sum(line.startswith("error: ") for line in result.output.splitlines()) == 1
    assert not (tmp_path / "m.pt").exists()
    result = runner.invoke(app, ["detect", "train", str(SCENARIO), "-o", "m.pt", "--rounds", "0"])
    assert result.exit_code == 2 and "--rounds" in result.output


@pytest.mark.skipif(find_nats_server() is None, reason=MISSING_BINARY)
def test_federated_training_among_agent_processes_reports_f1_per_round(tmp_path: Path) -> None:
    """`--processes`: one agent process per PoP over a nats-server, attested, the secure
    sums over their secure channel; the global model's F1 printed after each round."""
    model, report = tmp_path / "fed.pt", tmp_path / "fed.json"
    arguments = [str(SCENARIO), "-o", str(model), "--report", str(report), *SMALL]
    result = runner.invoke(
        app,
        ["detect", "train", *arguments, "--federated", "--processes", "--no-compare",
         "--test-runs", "1", "--norm-bound", "2.5"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "starting 6 agent processes over a nats-server" in result.output
    assert "each update clipped to L2 norm 2.5" in result.output
    data = json.loads(report.read_text())["federated"]
    assert data["processes"] is True and data["norm_bound"] == 2.5
    assert len(data["f1_per_round"]) == 2
    assert [len(r["agents"]) for r in data["rounds"]] == [6, 6]
    assert Detector.load(model).static.value == pytest.approx(data["threshold"])
