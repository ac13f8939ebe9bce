"""Attacks on agents as pods of `podman kube play` (`secmas deploy kubernetes --podman`).

Before, the cluster's agent pods played by podman 4.3 shared their credentials folder:
podman makes an `emptyDir` a named volume, named as the pod spec names it, so every agent
pod mounted the one volume `credentials` at /run/secmas, and pop2's pod held pop1's nkey
seed and one-time enrolment credential (and overwrote them with its own). Now each pod's
own volumes are named after it. An agent pod whose enrolment Secret was not issued is not
started at all (on a cluster it waits for the Secret). The NATS pod published its cluster
and monitoring ports (6222, 8222) on 0.0.0.0: podman 4.3 publishes every declared
container port. Now the servers listen on this host's 127.0.0.1 alone. The development
ledger's pod answers only who shows the token drawn for the deployment, on its published
port too; an agent pod holds that token, never the MLFO's or SECaaS's keys. Skipped only where
podman, mmdebstrap or root is missing.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from tests.pods import beyond_loopback, leftovers, one_deployment

from secmas.deploy import playable
from secmas.deploy.image import AgentImage
from secmas.deploy.kubeplay import PodDeployment
from secmas.deploy.kubernetes import PODMAN, Options, build
from secmas.deploy.podman import PodmanError, podman_json
from secmas.deploy.writing import write_bundle
from secmas.scenario.topology import dump_scenario
from secmas.scenario.validation import load_runnable

ROOT = Path(__file__).resolve().parents[2]
NOTHING = {"pods": [], "containers": [], "secrets": [], "volumes": [], "networks": []}


@pytest.fixture
def deployment(tmp_path: Path, agent_image: AgentImage) -> PodDeployment:
    scenario = load_runnable(ROOT / "scenarios" / "ddos-6pop.yaml")
    options = Options(image=agent_image.tag, target=PODMAN)
    write_bundle(build(scenario, dump_scenario(scenario), options), tmp_path / "pods")
    return PodDeployment.load(tmp_path / "pods")


def seed(deployment: PodDeployment, pop: str) -> bytes:
    (secret,) = [o for o in deployment.objects() if o["metadata"]["name"] == f"agent-{pop}-bus"]
    return base64.b64decode(secret["data"]["seed.nk"])


def mounted_files(container: str) -> dict[str, dict[str, bytes]]:
    """Each volume the container mounts (by its path there): its files, read on the host."""
    (inspected,) = podman_json(["inspect", container])
    mounts: list[dict[str, Any]] = inspected["Mounts"]
    return {
        m["Destination"]: {p.name: p.read_bytes() for p in Path(m["Source"]).iterdir()}
        for m in mounts
        if m["Type"] == "volume"
    }


def ledger_status(token: str | None) -> int:
    """The HTTP status the published ledger port answers a JSON-RPC call with."""
    call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(playable.HOST_LEDGER_URL, call.encode(), headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_an_agent_pod_holds_no_other_agents_credentials(deployment: PodDeployment) -> None:
    credentials = {"pop1": b'{"for": "pop1"}', "pop2": b'{"for": "pop2"}'}
    with one_deployment():
        try:
            deployment.up()
            for pop, credential in credentials.items():
                deployment.play_agent(pop, credential)
            seen = {pop: mounted_files(f"agent-{pop}-agent") for pop in credentials}
            access = deployment.ledger_access()
            assert access is not None
            answers = {
                who: ledger_status(t) for who, t in (("stranger", None), ("mlfo", access.token))
            }
        finally:
            problems = deployment.down()
            left = leftovers(deployment)
    assert not problems and left == NOTHING
    assert seen["pop1"]["/run/secmas"]["seed.nk"] == seed(deployment, "pop1")
    assert seen["pop2"]["/run/secmas"]["seed.nk"] == seed(deployment, "pop2")
    assert answers == {"stranger": 401, "mlfo": 200}
    keys = [k.key_hex.encode() for k in (access.keys.mlfo, access.keys.secaas) if k is not None]
    for pop in credentials:
        assert seen[pop]["/run/secmas"]["token"].strip() == access.token.encode()
        held = b"".join(v for files in seen[pop].values() for v in files.values())
        assert not [k for k in keys if k in held], f"{pop}'s pod holds the ledger's keys"
    for pop, other in (("pop1", "pop2"), ("pop2", "pop1")):
        held = [value for files in seen[pop].values() for value in files.values()]
        assert seed(deployment, other) not in held, f"{pop}'s pod holds {other}'s nkey seed"
        assert credentials[other] not in held, f"{pop}'s pod holds {other}'s credential"


def test_an_agent_pod_without_its_enrolment_secret_is_not_started(
    deployment: PodDeployment,
) -> None:
    with one_deployment():
        try:
            deployment.up()
            with pytest.raises(PodmanError, match="agent-pop3-enrolment"):
                deployment.play_agent("pop3", None)
            running = leftovers(deployment)["containers"]
        finally:
            deployment.down()
            left = leftovers(deployment)
    assert not [c for c in running if c.startswith("agent-pop3-")]
    assert left == NOTHING


def test_the_servers_are_reached_from_this_host_alone(deployment: PodDeployment) -> None:
    with one_deployment():
        try:
            deployment.up()
            exposed = beyond_loopback()
        finally:
            deployment.down()
            left = leftovers(deployment)
    assert exposed == [], f"published beyond 127.0.0.1: {exposed}"
    assert left == NOTHING
