"""`secmas deploy kubernetes`: the files it writes, and bad input exiting 2 with one line
naming what is wrong and where, before anything is written."""

from __future__ import annotations

import stat
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from secmas.cli.main import app

runner = CliRunner()
SCENARIO = Path("scenarios/ddos-6pop.yaml")
DEPLOY = ["deploy", "kubernetes", str(SCENARIO)]


def test_writes_schema_valid_files_listed_in_the_kustomization(tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    result = runner.invoke(app, [*DEPLOY, "--out", str(out), "--image", "reg.local:5000/secmas:t"])
    assert result.exit_code == 0, result.output
    assert "kubectl apply -k" in result.output and "development ledger" in result.output
    kustomization = yaml.safe_load((out / "kustomization.yaml").read_text())
    files = kustomization["resources"]
    assert sorted(files) == sorted(p.name for p in out.iterdir() if p.name != "kustomization.yaml")
    kinds = set()
    for name in files:
        for document in yaml.safe_load_all((out / name).read_text()):
            kubernetes_validate.validate(
                document, kubernetes_validate.latest_version(), strict=True
            )
            kinds.add(document["kind"])
    assert kinds >= {"Namespace", "Secret", "StatefulSet", "Pod", "Deployment", "NetworkPolicy"}
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert stat.S_IMODE((out / "secrets.yaml").stat().st_mode) == 0o600
    assert "reg.local:5000/secmas:t" in (out / "agents.yaml").read_text()


def test_a_full_folder_needs_force_and_a_new_deployment_drops_old_files(tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    assert runner.invoke(app, [*DEPLOY, "--out", str(out)]).exit_code == 0
    again = runner.invoke(app, [*DEPLOY, "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output
    ledger = ["--ledger", "http://10.1.2.3:8545", "--force"]
    assert runner.invoke(app, [*DEPLOY, "--out", str(out), *ledger]).exit_code == 0
    assert not (out / "ledger.yaml").exists()
    assert "ledger.yaml" not in (out / "kustomization.yaml").read_text()


def test_a_missing_scenario_file_exits_2_naming_it(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["deploy", "kubernetes", "nowhere.yaml", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "nowhere.yaml" in result.output
    assert not (tmp_path / "o").exists()


def test_an_invalid_scenario_exits_2_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SCENARIO.read_text().replace("cpu: 4, memory: 6", "cpu: -4, memory: 6", 1))
    result = runner.invoke(app, ["deploy", "kubernetes", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "bad.yaml" in result.output and "cpu" in result.output


def test_a_pop_id_that_is_no_kubernetes_name_exits_2_naming_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "edge.yaml"
    bad.write_text(SCENARIO.read_text().replace("pop1", "_pop1"))
    result = runner.invoke(app, ["deploy", "kubernetes", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "edge.yaml: pops[0].id '_pop1' cannot become a Kubernetes name" in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--image", "Secmas:latest"], "--image 'Secmas:latest': not a container image"),
        (["--nats-image", "nats:"], "--nats-image"),
        (["--namespace", "Team_A"], "--namespace 'Team_A': not a Kubernetes name"),
        (["--ledger", "https://u:secret@besu:8545"], "credentials in the URL"),
        (["--ledger-ca", "missing.pem"], "--ledger-ca missing.pem"),
    ],
)
def test_bad_options_exit_2_naming_the_option(tmp_path: Path, extra: list[str], says: str) -> None:
    result = runner.invoke(app, [*DEPLOY, "--out", str(tmp_path / "o"), *extra])
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    assert "secret@" not in result.output


def test_podman_manifests_are_what_podman_plays_and_say_how_to_run_them(tmp_path: Path) -> None:
    out = tmp_path / "pods"
    result = runner.invoke(app, [*DEPLOY, "--podman", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert f"secmas run {SCENARIO} --processes --pods {out}" in result.stdout
    names = sorted(p.name for p in out.iterdir())
    assert names == ["agents.yaml", "ledger.yaml", "nats.yaml", "secrets.yaml"]
    kinds = set()
    for name in names:
        for document in yaml.safe_load_all((out / name).read_text()):
            kubernetes_validate.validate(
                document, kubernetes_validate.latest_version(), strict=True
            )
            kinds.add(document["kind"])
    assert kinds == {"Secret", "ConfigMap", "Pod"}
    assert "localhost/secmas-agent:" in (out / "agents.yaml").read_text()


def test_a_run_on_pods_without_processes_exits_2_naming_the_option(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(SCENARIO), "--pods", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "--pods: the agents run as pods, one process each; add --processes" in result.output


def test_an_empty_image_is_refused_not_taken_for_the_default(tmp_path: Path) -> None:
    result = runner.invoke(app, [*DEPLOY, "--out", str(tmp_path / "k8s"), "--image", ""])
    assert result.exit_code == 2
    assert "--image '': not a container image reference" in " ".join(result.output.split())
    assert not (tmp_path / "k8s").exists()
