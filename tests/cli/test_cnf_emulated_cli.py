"""The emulated CNF's command-line checks that need no network: bad options, and the
Debian packages named when a tool is missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from secmas.analytics import promserver
from secmas.analytics.promserver import PrometheusUnavailable, prometheus_binary
from secmas.cli.main import app
from secmas.network.emulation import cnfattacks, cnfnginx
from secmas.network.emulation.errors import EmulationUnavailable

runner = CliRunner()


def test_prometheus_url_must_be_http() -> None:
    args = ["demo", "--scenario", "cnf-attack", "--dataplane", "emulated"]
    result = runner.invoke(app, [*args, "--prometheus", "localhost:9090"])
    assert result.exit_code == 2
    assert "--prometheus" in result.output and "not an http" in result.output


def test_prometheus_only_for_the_emulated_cnf() -> None:
    result = runner.invoke(app, ["demo", "--prometheus", "http://127.0.0.1:9090"])
    assert result.exit_code == 2
    assert "only with --scenario cnf-attack --dataplane emulated" in result.output


def test_emulated_dataset_rejects_conditions_it_cannot_make(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "detect",
            "dataset",
            "--dataplane",
            "emulated",
            "--scenario",
            "src/secmas/data/cnf-attack.yaml",
            "--conditions",
            "disk_storm",
            "-o",
            str(tmp_path / "x.csv"),
        ],
    )
    assert result.exit_code == 2
    assert "disk_storm" in result.output and "http_flood" in result.output


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
