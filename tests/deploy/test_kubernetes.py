"""The Kubernetes manifests of a scenario: schema-valid, and meaning what they should.

Every object is validated offline against the Kubernetes OpenAPI schemas that
`kubernetes-validate` ships (strict: unknown fields are errors). The semantics are
checked on the objects themselves: one agent pod per PoP running the IML driver's
command with its measurer beside it, a three-server NATS cluster with TLS routes and
the pipeline's nkeys, NetworkPolicies that let agents reach only NATS, the ledger and
DNS (evaluated as Kubernetes evaluates them), and no secret outside a Secret.
"""

from __future__ import annotations

import base64
import json
import socket
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import nkeys
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st
from tests.deploy.manifests import Objects, containers, named, of_kind

from secmas.deploy import agents, ledger, nats
from secmas.deploy.agents import agent_resources
from secmas.deploy.kubernetes import Bundle, Options, build
from secmas.deploy.naming import (
    AGENT_PREFIX,
    DeployInputError,
    check_image,
    dns_label,
    is_label,
    pop_names,
)
from secmas.deploy.writing import dump
from secmas.ledger.keyfile import access_of
from secmas.pipeline.busaccess import agent_permissions
from secmas.pipeline.iml import AgentLaunch
from secmas.scenario.model import Scenario
from secmas.scenario.topology import dump_scenario
from secmas.scenario.validation import load_runnable

SCENARIO = Path("scenarios/ddos-6pop.yaml")
VERSIONS = ("1.30", kubernetes_validate.latest_version())
"""The oldest release with native sidecars on by default (beta since 1.29), the newest."""


@cache
def reference() -> Scenario:
    return load_runnable(SCENARIO)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return reference()


@pytest.fixture(scope="module")
def bundle(scenario: Scenario) -> Bundle:
    return build(scenario, dump_scenario(scenario), Options())


# -- schemas ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_validates_strictly_against_the_schemas(bundle: Bundle, version: str) -> None:
    for obj in bundle.objects():
        kubernetes_validate.validate(obj, version, strict=True)


def test_validation_needs_no_network(bundle: Bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise OSError("network used during validation")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    for obj in bundle.objects():
        kubernetes_validate.validate(obj, VERSIONS[-1], strict=True)


def test_the_validator_does_catch_a_wrong_field(bundle: Bundle) -> None:
    pod = json.loads(json.dumps(named(bundle.objects(), "Pod", "agent-pop1")))
    pod["spec"]["containers"][0]["envFrom"] = "not a list"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, VERSIONS[-1], strict=True)


# -- agents ----------------------------------------------------------------------------------


def test_one_agent_pod_per_pop_labelled_with_its_pop_and_pipeline(
    bundle: Bundle, scenario: Scenario
) -> None:
    pods = of_kind(bundle.objects(), "Pod")
    assert sorted(p["metadata"]["name"] for p in pods) == [f"agent-{p.id}" for p in scenario.pops]
    for pod in pods:
        labels = pod["metadata"]["labels"]
        pop = pod["metadata"]["annotations"]["secmas.io/pop-id"]
        assert labels["secmas.io/pop"] == pop
        assert labels["secmas.io/pipeline"] == "ddos-6pop"
        assert labels["app.kubernetes.io/component"] == "agent"
        assert pod["metadata"]["namespace"] == "secmas-ddos-6pop"


def test_agent_resources_follow_the_pops_capacity(bundle: Bundle, scenario: Scenario) -> None:
    pods = {
        p["metadata"]["annotations"]["secmas.io/pop-id"]: p
        for p in of_kind(bundle.objects(), "Pod")
    }
    # pop1: 4 cores, 6 GB, 100 GB; the catalogue's smallest VNFs need 1 core, 1 GB, 2 GB
    assert agent_resources(scenario.pops[0], scenario).slots == 4
    assert containers(pods["pop1"])["agent"]["resources"] == {
        "requests": {"cpu": "200m", "memory": "224Mi"},
        "limits": {"cpu": "400m", "memory": "448Mi"},
    }
    small = containers(pods["pop3"])["agent"]["resources"]["requests"]  # 2 cores, 4 GB
    assert small == {"cpu": "150m", "memory": "208Mi"}


@given(st.integers(1, 10_000), st.integers(1, 10_000))
def test_resources_never_shrink_as_a_pop_grows_and_stay_bounded(cpu: int, memory: int) -> None:
    scenario = reference()
    pop = scenario.pops[0]
    smaller = agent_resources(pop.model_copy(update={"cpu": cpu, "memory": memory}), scenario)
    bigger = agent_resources(
        pop.model_copy(update={"cpu": cpu + 1, "memory": memory + 1, "disk": 10_000}), scenario
    )
    assert bigger.cpu_m >= smaller.cpu_m and bigger.memory_mi >= smaller.memory_mi
    assert bigger.slots <= agents.MAX_SLOTS


def test_the_agent_runs_the_local_iml_command_line(bundle: Bundle) -> None:
    pod = named(bundle.objects(), "Pod", "agent-pop2")
    agent = containers(pod)["agent"]
    expected = AgentLaunch(
        "pop2",
        Path(agents.SCENARIO_DIR) / "scenario.yaml",
        "tls://nats.secmas-ddos-6pop.svc:4222",
        "ddos-6pop",
        "http://ledger.secmas-ddos-6pop.svc:8545",
        bus_ca=Path(agents.BUS_DIR) / "ca.pem",
        bus_nkey=Path(agents.RUN_DIR) / agents.SEED,
        enrolment=Path(agents.RUN_DIR) / agents.CREDENTIAL,
        ledger_token_file=Path(agents.RUN_DIR) / ledger.TOKEN,
    )
    assert agent["command"] == expected.argv("python")
    assert {e["name"]: e["value"] for e in agent["env"]} == {**expected.env(), "HOME": "/tmp"}


def test_the_measurer_is_a_sidecar_that_can_read_the_agents_memory(bundle: Bundle) -> None:
    pod = named(bundle.objects(), "Pod", "agent-pop1")
    spec = pod["spec"]
    assert spec["shareProcessNamespace"] is True
    measurer = containers(pod)["measurer"]
    assert measurer["restartPolicy"] == "Always"  # native sidecar: up before the agent
    assert measurer["command"][:3] == ["python", "-m", "secmas.trust.measurer_service"]
    context = measurer["securityContext"]
    assert context["capabilities"] == {"drop": ["ALL"], "add": ["SYS_PTRACE", "DAC_READ_SEARCH"]}
    assert context["runAsUser"] != spec["securityContext"]["runAsUser"]  # not the agent's user
    agent = containers(pod)["agent"]["securityContext"]
    assert agent["capabilities"] == {"drop": ["ALL"]} and not agent["allowPrivilegeEscalation"]
    key_mounts = {
        name
        for name, c in containers(pod).items()
        for m in c["volumeMounts"]
        if m["name"] == "measurer-key"
    }
    assert key_mounts == {"measurer"}  # the agent never sees its measurer's key


def test_agents_wait_for_the_enrolment_secret_the_mlfo_issues(bundle: Bundle) -> None:
    pod = named(bundle.objects(), "Pod", "agent-pop1")
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["enrolment"]["secret"]["secretName"] == "agent-pop1-enrolment"
    secrets = {s["metadata"]["name"] for s in of_kind(bundle.objects(), "Secret")}
    assert "agent-pop1-enrolment" not in secrets  # one-time, issued at step 8


def test_without_the_trust_layer_there_is_no_ledger_and_no_enrolment(scenario: Scenario) -> None:
    insecure = scenario.model_copy(
        update={"security": scenario.security.model_copy(update={"enabled": False})}
    )
    bundle = build(insecure, dump_scenario(insecure), Options())
    assert bundle.ledger is None and "ledger.yaml" not in bundle.files
    pod = named(bundle.objects(), "Pod", "agent-pop1")
    assert "--ledger" not in containers(pod)["agent"]["command"]
    assert "enrolment" not in {v["name"] for v in pod["spec"]["volumes"]}
    with pytest.raises(DeployInputError, match="security is off"):
        build(insecure, "", Options(ledger="http://10.0.0.9:8545"))


def test_an_external_ledger_replaces_the_node_and_its_ca_is_a_secret(scenario: Scenario) -> None:
    ca = b"-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n"
    bundle = build(scenario, "", Options(ledger="https://besu.example.org:8545", ledger_ca=ca))
    objects = bundle.objects()
    assert not of_kind(objects, "Deployment")
    assert base64.b64decode(named(objects, "Secret", "ledger-ca")["data"]["ca.pem"]) == ca
    command = containers(named(objects, "Pod", "agent-pop1"))["agent"]["command"]
    assert command[command.index("--ledger") + 1] == "https://besu.example.org:8545"
    assert command[command.index("--ledger-ca") + 1] == f"{agents.LEDGER_DIR}/ca.pem"
    for obj in objects:
        kubernetes_validate.validate(obj, VERSIONS[-1], strict=True)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (Options(ledger="https://u:pw@besu:8545"), "credentials in the URL"),
        (Options(ledger="ftp://besu:8545"), "http://HOST:PORT"),
        (Options(ledger="http://127.0.0.1:8545"), "loopback"),
        (Options(ledger="http://besu:8545", ledger_ca=b"x"), "only for an https://"),
        (Options(ledger_ca=b"x"), "only with an external"),
        (Options(namespace="Not_A_Name"), "--namespace"),
    ],
)
def test_unusable_ledger_or_namespace_options_are_refused(
    scenario: Scenario, options: Options, says: str
) -> None:
    with pytest.raises(DeployInputError, match=says):
        build(scenario, "", options)


# -- NATS ------------------------------------------------------------------------------------


def test_three_nats_servers_routed_to_each_other_over_mutual_tls(bundle: Bundle) -> None:
    objects = bundle.objects()
    stateful = named(objects, "StatefulSet", "nats")
    assert stateful["spec"]["replicas"] == 3
    assert stateful["spec"]["serviceName"] == "nats-cluster"
    headless = named(objects, "Service", "nats-cluster")["spec"]
    assert headless["clusterIP"] == "None" and headless["ports"][0]["port"] == 6222
    config = json.loads(named(objects, "ConfigMap", "nats-config")["data"]["nats.conf"])
    routes = [f"nats-route://nats-{i}.nats-cluster.secmas-ddos-6pop.svc:6222" for i in range(3)]
    assert config["cluster"]["routes"] == routes
    assert config["cluster"]["tls"]["verify"] is True  # routes show a certificate of the CA
    assert config["tls"]["cert_file"] == "/etc/nats/tls/tls.crt"
    assert config["cluster"]["no_advertise"] is True


def test_the_server_certificate_names_every_route_and_the_client_service(bundle: Bundle) -> None:
    data = named(bundle.objects(), "Secret", "nats-tls")["data"]
    cert = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
    ca = x509.load_pem_x509_certificate(base64.b64decode(data["ca.crt"]))
    cert.verify_directly_issued_by(ca)
    names = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                .get_values_for_type(x509.DNSName))  # fmt: skip
    assert set(nats.server_names("secmas-ddos-6pop")) <= names
    assert "nats.secmas-ddos-6pop.svc" in names
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)


def test_the_servers_admit_exactly_the_pipelines_nkeys(bundle: Bundle, scenario: Scenario) -> None:
    objects = bundle.objects()
    config = json.loads(named(objects, "ConfigMap", "nats-config")["data"]["nats.conf"])
    users = {u["nkey"]: u.get("permissions") for u in config["authorization"]["users"]}
    for pop in (p.id for p in scenario.pops):
        seed = base64.b64decode(named(objects, "Secret", f"agent-{pop}-bus")["data"]["seed.nk"])
        public = nkeys.from_seed(bytearray(seed.strip())).public_key.decode()
        assert users.pop(public)["publish"]["allow"] == list(
            agent_permissions("ddos-6pop", pop).publish
        )
    mlfo = base64.b64decode(named(objects, "Secret", "mlfo-bus")["data"]["seed.nk"])
    assert users == {nkeys.from_seed(bytearray(mlfo.strip())).public_key.decode(): None}


# -- secrets ---------------------------------------------------------------------------------


def test_no_secret_value_appears_outside_a_secret(bundle: Bundle) -> None:
    objects = bundle.objects()
    values = []
    for secret in of_kind(objects, "Secret"):
        for encoded in secret["data"].values():
            raw = base64.b64decode(encoded)
            values.append(encoded)
            values += [line for line in raw.decode().splitlines() if len(line) >= 16]
    private = [v for v in values if "CERTIFICATE" not in v]
    elsewhere = dump([o for o in objects if o["kind"] != "Secret"])
    assert private and not [v for v in private if v in elsewhere]
    assert "PRIVATE KEY" not in elsewhere


def test_secrets_are_files_owner_only_never_environment(bundle: Bundle) -> None:
    for pod in of_kind(bundle.objects(), "Pod"):
        for volume in pod["spec"]["volumes"]:
            if "secret" in volume:
                assert volume["secret"]["defaultMode"] == 0o400
        for container in containers(pod).values():
            assert "envFrom" not in container
            assert all("valueFrom" not in e for e in container.get("env", []))


def pod_specs(objects: Objects) -> dict[str, dict[str, Any]]:
    """Every pod's spec, a Deployment's or StatefulSet's template too, by name."""
    specs = {o["metadata"]["name"]: o["spec"] for o in of_kind(objects, "Pod")}
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet"):
            specs[obj["metadata"]["name"]] = obj["spec"]["template"]["spec"]
    return specs


def mounted_by(objects: Objects, secret_name: str) -> set[str]:
    """The pods that mount the Secret `secret_name`."""
    return {
        name
        for name, spec in pod_specs(objects).items()
        if any(v.get("secret", {}).get("secretName") == secret_name for v in spec["volumes"])
    }


def test_the_ledger_node_alone_holds_its_keys_and_the_agents_only_its_token(
    bundle: Bundle,
) -> None:
    objects = bundle.objects()
    files = named(objects, "Secret", ledger.ACCESS_SECRET)["data"]
    access = access_of({k: base64.b64decode(v) for k, v in files.items()}, "access")
    token = named(objects, "Secret", ledger.TOKEN_SECRET)["data"][ledger.TOKEN]
    assert base64.b64decode(token).decode() == access.token
    assert mounted_by(objects, ledger.ACCESS_SECRET) == {ledger.NODE}
    assert mounted_by(objects, ledger.TOKEN_SECRET) == {f"agent-pop{i}" for i in range(1, 7)}
    node = containers({"spec": pod_specs(objects)[ledger.NODE]})
    serve = node["ledger"]["command"] + node["ledger"]["args"]
    assert serve[serve.index("--access") + 1] == ledger.ACCESS_DIR
    copied = node["credentials"]["command"][-1]
    assert copied.count("install -m 0400") == 3 and ledger.ACCESS_DIR in copied


def test_every_deployment_draws_its_own_ledger_keys_and_token(scenario: Scenario) -> None:
    drawn = [
        named(build(scenario, "", Options()).objects(), "Secret", ledger.ACCESS_SECRET)["data"]
        for _ in range(2)
    ]
    assert all(drawn[0][name] != drawn[1][name] for name in drawn[0])


def test_an_external_ledger_gets_no_access_secret_and_agents_no_token(scenario: Scenario) -> None:
    objects = build(scenario, "", Options(ledger="http://10.0.0.9:8545")).objects()
    names = {s["metadata"]["name"] for s in of_kind(objects, "Secret")}
    assert not names & {ledger.ACCESS_SECRET, ledger.TOKEN_SECRET}
    assert (
        "--ledger-token" not in containers(named(objects, "Pod", "agent-pop1"))["agent"]["command"]
    )


# -- network policies ------------------------------------------------------------------------

DNS = {"namespace": {"kubernetes.io/metadata.name": "kube-system"}, "pod": {"k8s-app": "kube-dns"}}


def pod_of(component: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/component": component, "secmas.io/pipeline": "ddos-6pop"}
    return {"namespace": {"kubernetes.io/metadata.name": "secmas-ddos-6pop"}, "pod": labels}


def outside(ip: str) -> dict[str, Any]:
    return {"ip": ip}


def _selects(selector: dict[str, Any], labels: dict[str, str] | None) -> bool:
    if labels is None:
        return False
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer_matches(peer: dict[str, Any], who: dict[str, Any], own: str) -> bool:
    """NetworkPolicyPeer semantics: a podSelector alone means this namespace."""
    if "ipBlock" in peer:
        return who.get("ip") == peer["ipBlock"]["cidr"].split("/")[0]
    if "pod" not in who:
        return False
    if "namespaceSelector" in peer:
        namespace_ok = _selects(peer["namespaceSelector"], who["namespace"])
    else:
        namespace_ok = who["namespace"]["kubernetes.io/metadata.name"] == own
    return namespace_ok and _selects(peer.get("podSelector", {}), who["pod"])


def allowed(
    policies: Objects, src: dict[str, Any], dst: dict[str, Any], port: int, protocol: str = "TCP"
) -> bool:
    """Whether Kubernetes lets `src` open `port` on `dst`: egress allowed by the policies
    selecting `src` (if any select it) and ingress by those selecting `dst`."""

    def direction(
        subject: dict[str, Any], peer: dict[str, Any], kind: str, key: str, field: str
    ) -> bool:
        if "pod" not in subject:
            return True  # outside the cluster: not ours to police
        own = subject["namespace"]["kubernetes.io/metadata.name"]
        chosen = [
            p for p in policies
            if p["metadata"]["namespace"] == own
            and kind in p["spec"]["policyTypes"]
            and _selects(p["spec"]["podSelector"], subject["pod"])
        ]  # fmt: skip
        if not chosen:
            return True
        for policy in chosen:
            for rule in policy["spec"].get(key, []):
                peers_ok = field not in rule or any(
                    _peer_matches(x, peer, own) for x in rule[field]
                )
                ports = rule.get("ports")
                port_ok = ports is None or any(
                    p["port"] == port and p.get("protocol", "TCP") == protocol for p in ports
                )
                if peers_ok and port_ok:
                    return True
        return False

    return direction(src, dst, "Egress", "egress", "to") and direction(
        dst, src, "Ingress", "ingress", "from"
    )


def test_agents_reach_only_nats_the_ledger_and_dns(bundle: Bundle) -> None:
    policies = of_kind(bundle.objects(), "NetworkPolicy")
    agent, nats_pod, ledger = pod_of("agent"), pod_of("nats"), pod_of("ledger")
    assert allowed(policies, agent, nats_pod, 4222)
    assert allowed(policies, agent, ledger, 8545)
    assert allowed(policies, agent, DNS, 53, "UDP") and allowed(policies, agent, DNS, 53)
    assert not allowed(policies, agent, nats_pod, 6222)  # not a route
    assert not allowed(policies, agent, nats_pod, 8222)  # not the monitoring page
    assert not allowed(policies, agent, agent, 8080)  # agents talk only through the bus
    assert not allowed(policies, agent, outside("203.0.113.9"), 443)
    assert not allowed(policies, agent, pod_of("other"), 4222)
    assert not allowed(policies, pod_of("other"), nats_pod, 4222)
    assert not allowed(policies, pod_of("other"), ledger, 8545)
    assert allowed(policies, pod_of("mlfo"), nats_pod, 4222)


def test_nats_servers_reach_each_other_on_the_cluster_port_only(bundle: Bundle) -> None:
    policies = of_kind(bundle.objects(), "NetworkPolicy")
    nats_pod = pod_of("nats")
    assert allowed(policies, nats_pod, nats_pod, 6222)
    assert not allowed(policies, nats_pod, nats_pod, 4222)
    assert not allowed(policies, nats_pod, pod_of("ledger"), 8545)
    assert not allowed(policies, nats_pod, outside("198.51.100.1"), 6222)


def test_an_external_ledger_by_address_is_the_only_outside_destination(scenario: Scenario) -> None:
    bundle = build(scenario, "", Options(ledger="http://192.0.2.7:8545"))
    policies = of_kind(bundle.objects(), "NetworkPolicy")
    agent = pod_of("agent")
    assert allowed(policies, agent, outside("192.0.2.7"), 8545)
    assert not allowed(policies, agent, outside("192.0.2.8"), 8545)
    assert not allowed(policies, agent, pod_of("ledger"), 8545)


# -- names -----------------------------------------------------------------------------------

ID_TEXT = st.text(
    st.sampled_from("abcXYZ019_.:-"), min_size=1, max_size=70
)  # the scenario's id alphabet


@given(st.text(max_size=80))
def test_a_name_maps_to_a_dns_label_or_is_refused_by_name(text: str) -> None:
    try:
        label = dns_label(text, "pops[0].id")
    except DeployInputError as exc:
        assert "pops[0].id" in str(exc)
    else:
        assert is_label(label)


@given(st.lists(ID_TEXT, min_size=1, max_size=8, unique=True))
def test_pop_names_are_distinct_labels_or_the_clash_is_named(pops: list[str]) -> None:
    try:
        names = pop_names(pops)
    except DeployInputError as exc:
        assert "pops[" in str(exc)
    else:
        assert len(set(names.values())) == len(pops)
        assert all(is_label(n) and is_label(AGENT_PREFIX + n) for n in names.values())


@given(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?", fullmatch=True))
def test_a_name_that_is_already_a_label_is_kept(label: str) -> None:
    assert dns_label(label, "id") == label


def test_clashing_and_unmappable_pop_ids_are_named() -> None:
    with pytest.raises(DeployInputError, match=r"pops\[1\]\.id 'PoP1' and PoP 'pop1'"):
        pop_names(["pop1", "PoP1"])
    with pytest.raises(DeployInputError, match=r"pops\[0\]\.id '_edge'"):
        pop_names(["_edge"])
    with pytest.raises(DeployInputError, match="too long"):
        pop_names(["p" * 60])


@pytest.mark.parametrize(
    "image",
    ["secmas:0.1.0", "registry.local:5000/team/secmas:v1", "nats", f"secmas@sha256:{'a' * 64}"],
)
def test_image_references_are_accepted(image: str) -> None:
    assert check_image(image) == image


@pytest.mark.parametrize("image", ["", "Secmas:1", "secmas:", "a b", "secmas:1;rm -rf /", "-x"])
def test_malformed_images_are_refused(image: str) -> None:
    with pytest.raises(DeployInputError, match="--image"):
        check_image(image)
