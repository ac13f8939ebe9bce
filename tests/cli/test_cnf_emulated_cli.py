"""The emulated CNF's command-line checks that need no network: bad options (refused
before any network is built), and the Debian packages named when a tool is missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from secmas.analytics import promserver
from secmas.analytics.promserver import PrometheusUnavailable, prometheus_binary
from secmas.cli.main import app
from secmas.network.emulation import cnfattacks, cnfnginx
from secmas.network.emulation.errors import EmulationUnavailable

runner = CliRunner()


def test_emulated_dataset_rejects_conditions_it_cannot_make(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "detect",
            "dataset",
            "--dataplane",
            "emulated",
            "src/secmas/data/cnf-attack.yaml",
            "--conditions",
            "disk_storm",
            "-o",
            str(tmp_path / "x.csv"),
        ],
    )
    assert result.exit_code == 2
    assert "disk_storm" in result.output and "http_flood" in result.output


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--dataplane", "emulated", "--traffic", "bursty"], "--traffic 'bursty'"),
        (["--traffic", "realistic"], "need --dataplane emulated"),
        (["--attack-size", "0.1"], "need --dataplane emulated"),
        (["--dataplane", "emulated", "--attack-size", "2"], "--attack-size"),
    ],
)
def test_recording_options_are_checked_before_any_network(
    tmp_path: Path, options: list[str], words: str
) -> None:
    scenario = "src/secmas/data/cnf-attack.yaml"
    out = str(tmp_path / "x.csv")
    result = runner.invoke(app, ["detect", "dataset", scenario, "-o", out, *options])
    assert result.exit_code == 2
    assert words in result.output
    assert not (tmp_path / "x.csv").exists()


def test_missing_tools_name_their_debian_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda _name: None)
    monkeypatch.setattr(promserver, "PROMETHEUS", "/nonexistent/prometheus")
    monkeypatch.setattr(cnfnginx, "NGINX", "/nonexistent/nginx")
    monkeypatch.setattr(cnfattacks, "STRESS_NG", "/nonexistent/stress-ng")
    with pytest.raises(PrometheusUnavailable, match="Debian package prometheus"):
        prometheus_binary()
    with pytest.raises(EmulationUnavailable, match="Debian package nginx-light"):
        cnfnginx.nginx_binary()
    with pytest.raises(EmulationUnavailable, match="Debian package stress-ng"):
        cnfattacks.stress_ng()


DEMO = ["demo", "--scenario", "cnf-attack", "--dataplane", "emulated"]


def test_detector_is_a_name_or_a_file() -> None:
    result = runner.invoke(app, [*DEMO, "--detector", "no-such-detector"])
    assert result.exit_code == 2
    assert "--detector no-such-detector" in result.output and "zscore" in result.output


def test_detector_only_for_the_emulated_cnf() -> None:
    result = runner.invoke(app, ["demo", "--detector", "zscore"])
    assert result.exit_code == 2
    assert "--detector: only with --scenario cnf-attack" in result.output


def test_detector_file_must_read_the_cnf_metrics(tmp_path: Path) -> None:
    from secmas.analytics.registry import fit_detector
    from secmas.analytics.scoring import Fitting

    model = tmp_path / "other.model"
    series = np.random.default_rng(0).normal(size=(40, 2))
    fit_detector("zscore", series, ["a", "b"], Fitting(window=4)).save(model)
    result = runner.invoke(app, [*DEMO, "--detector", str(model)])
    assert result.exit_code == 2
    assert "not a model of the CNF's metrics" in result.output and "'cpu'" in result.output
    (tmp_path / "junk.model").write_bytes(b"not a model")
    result = runner.invoke(app, [*DEMO, "--detector", str(tmp_path / "junk.model")])
    assert result.exit_code == 2 and "junk.model" in result.output


def test_recording_must_be_readable(tmp_path: Path) -> None:
    result = runner.invoke(app, [*DEMO, "--recording", str(tmp_path / "none.csv")])
    assert result.exit_code == 2 and "--recording" in result.output
    assert "none.csv" in result.output


def test_unknown_detection_channels_are_refused_before_any_network(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "demo",
            "--scenario",
            "cnf-attack",
            "--dataplane",
            "emulated",
            "--channels",
            "level,spike",
            "-o",
            str(tmp_path / "run"),
        ],
    )
    assert result.exit_code == 2
    assert "unknown detection channel 'spike'" in result.output
    assert "level, onset, model" in result.output


def test_channels_only_with_the_real_cnf_demo() -> None:
    result = runner.invoke(app, ["demo", "--channels", "level"])
    assert result.exit_code == 2
    assert "--channels: only with --scenario cnf-attack --dataplane emulated" in result.output
