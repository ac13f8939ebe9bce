"""A folder of `--podman` manifests as `secmas.deploy.kubeplay` reads it, before anything is
played: what it names (pods, secrets, volumes, network), the MLFO's bus access, and
folders it refuses with the file and the reason. Bringing it up is `tests/e2e/
test_kube_play.py`."""

from __future__ import annotations

import base64
import json
import shutil
import stat
import time
from pathlib import Path

import nkeys
import pytest
import yaml

from secmas.deploy import ledger, playable
from secmas.deploy.kubeplay import KubePlayError, PodAgents, PodDeployment
from secmas.deploy.kubernetes import KUBERNETES, PODMAN, Options, build
from secmas.deploy.writing import SECRETS, write_bundle
from secmas.scenario.topology import dump_scenario
from secmas.scenario.validation import load_runnable

SCENARIO = Path("scenarios/ddos-6pop.yaml")


def written(folder: Path, target: str = KUBERNETES) -> Path:
    scenario = load_runnable(SCENARIO)
    options = Options(image="localhost/a:1", target=target)
    write_bundle(build(scenario, dump_scenario(scenario), options), folder)
    return folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return written(tmp_path_factory.mktemp("pods"), target=PODMAN)


def test_the_folder_names_what_a_deployment_makes(folder: Path) -> None:
    deployment = PodDeployment.load(folder)
    pods = [p["metadata"]["name"] for p in deployment.pods()]
    assert pods == ["nats", "ledger", *(f"agent-pop{i}" for i in range(1, 7))]
    assert (deployment.network, deployment.pipeline) == ("secmas-ddos-6pop", "ddos-6pop")
    assert deployment.image == "localhost/a:1" and deployment.trusted
    assert deployment.ledger_url() == playable.HOST_LEDGER_URL
    assert sorted(deployment.agent_pods()) == [f"pop{i}" for i in range(1, 7)]
    secrets = deployment.secrets()
    assert {"nats-tls", "mlfo-bus", "agent-pop3-bus", "agent-pop3-enrolment"} <= set(secrets)
    volumes = deployment.volumes()
    assert {"scenario", "nats-config", "agent-pop3-bus", "agent-pop3-credentials"} <= set(volumes)
    assert len(volumes) == len(set(volumes)) and "nats-server" not in volumes  # a host path


def test_the_mlfo_reaches_the_published_bus_with_its_own_nkey(folder: Path, tmp_path: Path) -> None:
    access = PodDeployment.load(folder).mlfo_bus(tmp_path / "mlfo")
    assert access.address.redacted == playable.HOST_BUS_URL
    seed = access.nkey("mlfo")
    assert seed is not None and access.ca_file is not None
    for secret in (seed, access.ca_file):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "mlfo").stat().st_mode) == 0o700
    public = nkeys.from_seed(bytearray(seed.read_bytes().strip())).public_key.decode()
    (config, *_) = yaml.safe_load_all((folder / "nats.yaml").read_text())
    users = json.loads(config["data"]["nats.conf"])["authorization"]["users"]
    assert [u for u in users if u["nkey"] == public] == [{"nkey": public}]  # unrestricted


def test_the_mlfo_holds_the_ledger_nodes_keys_and_token(folder: Path, tmp_path: Path) -> None:
    access = PodDeployment.load(folder).ledger_access()
    assert access is not None and access.keys.mlfo is not None and access.keys.secaas is not None
    (*_, token_secret) = [
        s for s in yaml.safe_load_all((folder / SECRETS).read_text())
        if s["metadata"]["name"] == ledger.TOKEN_SECRET
    ]  # fmt: skip
    assert base64.b64decode(token_secret["data"][ledger.TOKEN]).decode() == access.token
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    text = (broken / SECRETS).read_text()
    (broken / SECRETS).write_text(text.replace(token_secret["data"][ledger.TOKEN], "Kg=="))
    with pytest.raises(KubePlayError, match=r"ledger-access/token: not a token"):
        PodDeployment.load(broken).ledger_access()


def test_a_folder_for_a_cluster_is_refused_naming_why(tmp_path: Path) -> None:
    with pytest.raises(KubePlayError, match="StatefulSet, which podman does not run"):
        PodDeployment.load(written(tmp_path / "k8s"))


def test_a_missing_or_foreign_file_is_refused_naming_it(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(KubePlayError, match=r"nowhere/secrets\.yaml: missing"):
        PodDeployment.load(tmp_path / "nowhere")
    broken = written(tmp_path / "broken", target=PODMAN)
    (broken / "agents.yaml").write_text("--- {kind: Pod}\n")
    with pytest.raises(KubePlayError, match=r"agents\.yaml: not the agents"):
        PodDeployment.load(broken)
    (broken / "agents.yaml").write_text("a: [\n")
    with pytest.raises(KubePlayError, match=r"agents\.yaml: cannot read it"):
        PodDeployment.load(broken)


def test_without_the_trust_layer_there_is_no_ledger_to_reach(tmp_path: Path) -> None:
    scenario = load_runnable(SCENARIO)
    insecure = scenario.model_copy(
        update={"security": scenario.security.model_copy(update={"enabled": False})}
    )
    bundle = build(insecure, dump_scenario(insecure), Options(target=PODMAN))
    write_bundle(bundle, tmp_path / "pods")
    deployment = PodDeployment.load(tmp_path / "pods")
    assert not deployment.trusted and deployment.ledger_url() is None
    assert deployment.ledger_access() is None
    assert not [s for s in deployment.secrets() if s.endswith("-enrolment")]


def test_an_agent_whose_container_is_still_starting_is_not_dead(folder: Path) -> None:
    """On a loaded machine `podman ps` shows a pod's agent container "created" or
    "initialized" for a while after `kube play`: the bring-up took it for dead ("agent
    pop1 exited", with an empty log). Only an ended or missing container is dead."""
    agents = PodAgents(PodDeployment.load(folder), folder)
    states = ["created", "initialized", "running", "paused", "exited", "stopped", "removing"]
    agents.pods = {f"pop{i}": f"pod{i}" for i in range(len(states) + 1)}
    agents._states = {f"pod{i}-agent": (state, 0) for i, state in enumerate(states)}
    agents._looked = time.monotonic() + 3600  # this look stands: no podman is asked
    assert agents.dead() == ["pop4", "pop5", "pop6", "pop7"]  # pop7's container is gone
