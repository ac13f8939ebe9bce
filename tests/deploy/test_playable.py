"""The manifests for `podman kube play` (`secmas deploy kubernetes --podman`): schema-valid,
the cluster's agent pods changed only where podman 4.3 differs, and the `unpack` script
that works around its Secret volumes, run here on both encodings podman may mount."""

from __future__ import annotations

import base64
import ipaddress
import json
import stat
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from cryptography import x509
from tests.deploy.manifests import Objects, containers, named, of_kind

from secmas.deploy import agents, playable
from secmas.deploy.kubernetes import PODMAN, Bundle, Options, build
from secmas.deploy.naming import DeployInputError
from secmas.scenario.topology import dump_scenario
from secmas.scenario.validation import load_runnable

SCENARIO = Path("scenarios/ddos-6pop.yaml")
IMAGE = "localhost/secmas-agent:t"


@cache
def bundles() -> tuple[Bundle, Bundle]:
    """The same scenario for a cluster and for podman."""
    scenario = load_runnable(SCENARIO)
    text = dump_scenario(scenario)
    return (
        build(scenario, text, Options(image=IMAGE)),
        build(scenario, text, Options(image=IMAGE, target=PODMAN)),
    )


@pytest.fixture(scope="module")
def objects() -> Objects:
    return bundles()[1].objects()


def mounts(container: dict[str, Any]) -> dict[str, str]:
    return {m["mountPath"]: m["name"] for m in container["volumeMounts"]}


def test_every_object_validates_strictly_against_the_schemas(objects: Objects) -> None:
    for obj in objects:
        kubernetes_validate.validate(obj, kubernetes_validate.latest_version(), strict=True)


def test_only_what_podman_runs_is_written(objects: Objects) -> None:
    assert {o["kind"] for o in objects} == {"Secret", "ConfigMap", "Pod"}
    pods = [p["metadata"]["name"] for p in of_kind(objects, "Pod")]
    assert sorted(pods) == [*(f"agent-pop{i}" for i in range(1, 7)), "ledger", "nats"]


def test_nats_is_one_server_published_on_loopback_only(objects: Objects) -> None:
    pod = named(objects, "Pod", "nats")
    config = json.loads(named(objects, "ConfigMap", "nats-config")["data"]["nats.conf"])
    assert "cluster" not in config and config["tls"]["cert_file"] == "/etc/nats/tls/tls.crt"
    assert containers(pod)["nats"]["ports"] == [
        {"name": "client", "containerPort": 4222, "protocol": "TCP", "hostPort": 4222,
         "hostIP": "127.0.0.1"},
    ]  # fmt: skip
    ledger = containers(named(objects, "Pod", "ledger"))["ledger"]["ports"]
    assert [(p["hostIP"], p["hostPort"]) for p in ledger] == [("127.0.0.1", 8545)]
    for server in ("nats", "ledger"):  # podman reruns init containers under Always
        assert named(objects, "Pod", server)["spec"]["restartPolicy"] == "OnFailure"


def test_no_port_of_any_pod_is_open_beyond_loopback(objects: Objects) -> None:
    """podman 4.3 publishes every declared `containerPort` on 0.0.0.0, `hostPort` or not
    (podman 4.7 stopped, with `--publish-all` to keep it): the NATS cluster and
    monitoring ports were reachable from other machines. A pod may declare only what it
    publishes, and only on the loopback address."""
    for pod in of_kind(objects, "Pod"):
        for name, container in containers(pod).items():
            for port in container.get("ports", []):
                assert port.get("hostIP") == "127.0.0.1", (pod["metadata"]["name"], name, port)


def test_the_certificate_names_the_pod_and_the_published_address(objects: Objects) -> None:
    data = named(objects, "Secret", "nats-tls")["data"]
    cert = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["nats"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]


def test_nats_runs_this_machines_server_unless_an_image_is_given(objects: Objects) -> None:
    spec = named(objects, "Pod", "nats")["spec"]
    (host,) = [v["hostPath"] for v in spec["volumes"] if "hostPath" in v]
    assert Path(host["path"]).name == "nats-server" and host["type"] == "File"
    nats = containers(named(objects, "Pod", "nats"))["nats"]
    assert nats["image"] == IMAGE and nats["command"][0] == playable.NATS_BINARY
    assert {"name": "nats-server", "mountPath": playable.NATS_BINARY, "readOnly": True} in (
        nats["volumeMounts"]
    )
    scenario = load_runnable(SCENARIO)
    given = build(scenario, "", Options(image=IMAGE, nats_image="nats:2", target=PODMAN))
    spec = named(given.objects(), "Pod", "nats")["spec"]
    assert not [v for v in spec["volumes"] if "hostPath" in v]
    assert containers(named(given.objects(), "Pod", "nats"))["nats"]["command"][0] == "nats-server"


def test_without_a_nats_server_here_the_option_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(playable, "find_nats_server", lambda: None)
    with pytest.raises(DeployInputError, match="--nats-image"):
        build(load_runnable(SCENARIO), "", Options(image=IMAGE, target=PODMAN))


def test_the_agent_runs_the_clusters_command_line_with_the_pods_names(objects: Objects) -> None:
    cluster = containers(named(bundles()[0].objects(), "Pod", "agent-pop2"))["agent"]
    agent = containers(named(objects, "Pod", "agent-pop2"))["agent"]
    urls = {
        "tls://nats.secmas-ddos-6pop.svc:4222": playable.BUS_URL,
        "http://ledger.secmas-ddos-6pop.svc:8545": playable.LEDGER_URL,
    }
    assert agent["command"] == [urls.get(a, a) for a in cluster["command"]]
    assert playable.BUS_URL == "tls://nats:4222" and agent["env"] == cluster["env"]


def test_the_measurer_runs_beside_the_agent_not_as_an_init_container(objects: Objects) -> None:
    pod = named(objects, "Pod", "agent-pop1")
    spec = pod["spec"]
    assert spec["shareProcessNamespace"] is True
    assert [c["name"] for c in spec["containers"]] == ["measurer", "agent"]
    assert [c["name"] for c in spec["initContainers"]] == ["unpack", "credentials"]
    assert all("restartPolicy" not in c for c in containers(pod).values())
    measurer = containers(pod)["measurer"]
    assert measurer["securityContext"]["capabilities"]["add"] == ["SYS_PTRACE", "DAC_READ_SEARCH"]


def test_secrets_reach_the_containers_only_through_unpack(objects: Objects) -> None:
    for secret in of_kind(objects, "Secret"):
        assert base64.b64decode(secret["data"][playable.ENCODING]) == playable.PLAIN
    cluster = {p["metadata"]["name"]: p for p in of_kind(bundles()[0].objects(), "Pod")}
    for pod in of_kind(objects, "Pod"):
        name = pod["metadata"]["name"]
        secret_volumes = {v["name"] for v in pod["spec"]["volumes"] if "secret" in v}
        assert all(
            v["secret"]["optional"] is False for v in pod["spec"]["volumes"] if "secret" in v
        )
        for container in containers(pod).values():
            mounted = set(mounts(container).values()) & secret_volumes
            assert container["name"] == "unpack" or not mounted, (name, container["name"])
        if name in cluster:  # the agents: each file where the cluster's pod mounts it
            before, after = containers(cluster[name]), containers(pod)
            for container in before:
                assert mounts(after[container]).keys() == mounts(before[container]).keys()


def test_no_two_pods_share_a_volume_of_their_own(objects: Objects) -> None:
    shared = {o["metadata"]["name"] for o in objects if o["kind"] in ("Secret", "ConfigMap")}
    owners: dict[str, str] = {}
    for pod in of_kind(objects, "Pod"):
        name = pod["metadata"]["name"]
        for volume in pod["spec"]["volumes"]:
            if "emptyDir" in volume:
                assert volume["name"].startswith(f"{name}-"), volume
                assert volume["name"] not in shared
                assert owners.setdefault(volume["name"], name) == name


def unpacked(tmp_path: Path, files: dict[str, bytes], encoded: bool) -> Path:
    """`unpack` run on a Secret folder as podman 4.3 (`encoded`) or 4.4+ mounts it."""
    packed, out = tmp_path / "packed", tmp_path / "out"
    packed.mkdir()
    out.mkdir()
    marked = {**files, playable.ENCODING: playable.PLAIN}
    for name, value in marked.items():
        (packed / name).write_bytes(base64.b64encode(value) if encoded else value)
    script = playable.UNPACK
    subprocess.run(["sh", "-c", script, "unpack", str(packed), str(out)], check=True)
    return out


@pytest.mark.parametrize("encoded", [True, False], ids=["podman-4.3", "podman-4.4"])
def test_unpack_gives_the_secrets_bytes_owner_only(tmp_path: Path, encoded: bool) -> None:
    files = {agents.SEED: b"SUAEXAMPLESEED\n", "ca.pem": b"-----BEGIN CERTIFICATE-----\nx\n"}
    out = unpacked(tmp_path, files, encoded)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files  # no marker
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {0o400}


@pytest.mark.parametrize("target", [0, 1], ids=["cluster", "podman"])
def test_no_volume_is_mounted_inside_a_read_only_one(target: int) -> None:
    """A runtime cannot make a mount point in a read-only volume (it failed NATS's TLS
    folder inside its configuration folder, as podman ran it)."""
    objects = bundles()[target].objects()
    pods = [(o["metadata"]["name"], o["spec"]) for o in of_kind(objects, "Pod")]
    pods += [
        (o["metadata"]["name"], o["spec"]["template"]["spec"])
        for o in objects
        if o["kind"] in ("StatefulSet", "Deployment")
    ]
    for name, spec in pods:
        for container in containers({"spec": spec}).values():
            read_only = [m["mountPath"] for m in container["volumeMounts"] if m["readOnly"]]
            for m in container["volumeMounts"]:
                inside = [r for r in read_only if m["mountPath"].startswith(f"{r}/")]
                assert not inside, (name, container["name"], m, inside)
