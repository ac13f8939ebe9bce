"""The pipeline's NATS cluster on Kubernetes: three servers routed to each other.

A StatefulSet gives the servers stable DNS names under a headless Service
(`nats-0.nats-cluster.<namespace>.svc`, …); each routes to all three (a server ignores the
route to itself). The configuration is the one `secmas.transport.broker.server_config`
writes for a local cluster — clients must speak TLS and authenticate with their nkeys,
each agent held to its subject permissions; routes are mutual TLS with certificates of
the run's CA — with the routes as DNS names, and `no_advertise`, so that clients keep to
the Service name their certificate check expects instead of learning pod addresses.

The server certificate (one for the three servers) names the client Service and every
server's route name, with and without the cluster domain.
"""

from __future__ import annotations

import json
from pathlib import Path

from secmas.deploy.material import BusMaterial
from secmas.deploy.objects import (
    Manifest,
    Place,
    config_map,
    config_volume,
    locked_down,
    mount,
    pod_spec,
    resources,
    secret,
    secret_volume,
    service,
)
from secmas.transport.broker import ClusterPeer, server_config
from secmas.transport.tls import ServerCertificate

COMPONENT = "nats"
REPLICAS = 3
CLIENT_PORT = 4222
CLUSTER_PORT = 6222
MONITOR_PORT = 8222
CLIENT_SERVICE = "nats"
CLUSTER_SERVICE = "nats-cluster"
CONFIG = "nats-config"
TLS_SECRET = "nats-tls"
CONFIG_DIR = "/etc/nats/config"
"""Beside `TLS_DIR`, not above it: a volume cannot be mounted inside a read-only one."""
TLS_DIR = "/etc/nats/tls"
NATS_USER = 1000
CLUSTER_DOMAIN = "cluster.local"


def server_names(namespace: str) -> list[str]:
    """Each server's route name (`nats-<i>.nats-cluster.<namespace>.svc`)."""
    return [f"{COMPONENT}-{i}.{CLUSTER_SERVICE}.{namespace}.svc" for i in range(REPLICAS)]


def client_host(namespace: str) -> str:
    """The name clients dial: the client Service."""
    return f"{CLIENT_SERVICE}.{namespace}.svc"


def bus_url(namespace: str) -> str:
    """The `--bus` of every agent."""
    return f"tls://{client_host(namespace)}:{CLIENT_PORT}"


def certificate_hosts(namespace: str) -> list[str]:
    """What the servers' certificate must name: the client Service and each route, short
    and with the cluster domain."""
    short = [CLIENT_SERVICE, f"{CLIENT_SERVICE}.{namespace}", client_host(namespace)]
    full = [client_host(namespace), *server_names(namespace)]
    return short + server_names(namespace) + [f"{name}.{CLUSTER_DOMAIN}" for name in full]


def server_settings(bus: BusMaterial, cluster: ClusterPeer | None) -> dict[str, object]:
    """What every server of the pipeline runs with: clients over TLS with their nkeys, each
    agent held to its permissions (`secmas.transport.broker.server_config`)."""
    tls = ServerCertificate(
        Path(TLS_DIR) / "tls.crt", Path(TLS_DIR) / "tls.key", Path(TLS_DIR) / "ca.crt"
    )
    return server_config(
        "0.0.0.0",
        CLIENT_PORT,
        name=COMPONENT,
        tls=tls,
        users=bus.users,
        cluster=cluster,
        monitor_port=MONITOR_PORT,
    )


def nats_config(namespace: str, bus: BusMaterial) -> dict[str, object]:
    """`nats.conf` (JSON, which nats-server reads): the local cluster configuration with
    DNS routes (module docstring)."""
    config = server_settings(bus, ClusterPeer(CLUSTER_PORT, ()))
    del config["server_name"]  # one file for three servers: each picks its own id
    config["cluster"]["routes"] = [
        f"nats-route://{name}:{CLUSTER_PORT}" for name in server_names(namespace)
    ]
    config["cluster"]["no_advertise"] = True
    return config


def config_objects(place: Place, config: dict[str, object], bus: BusMaterial) -> list[Manifest]:
    """The servers' configuration (ConfigMap) and TLS certificate and key (Secret)."""
    return [
        config_map(place.metadata(CONFIG, COMPONENT), {"nats.conf": json.dumps(config, indent=1)}),
        secret(
            place.metadata(TLS_SECRET, COMPONENT),
            {"tls.crt": bus.certificate, "tls.key": bus.key, "ca.crt": bus.ca},
            "kubernetes.io/tls",
        ),
    ]


def nats_objects(place: Place, bus: BusMaterial, image: str) -> list[Manifest]:
    """ConfigMap, TLS Secret, headless and client Services, and the StatefulSet."""
    selector = place.selector(COMPONENT)
    return [
        *config_objects(place, nats_config(place.namespace, bus), bus),
        service(
            place.metadata(CLUSTER_SERVICE, COMPONENT),
            selector,
            {"cluster": CLUSTER_PORT},
            headless=True,
        ),
        service(place.metadata(CLIENT_SERVICE, COMPONENT), selector, {"client": CLIENT_PORT}),
        _stateful_set(place, image),
    ]


def nats_container(image: str) -> Manifest:
    """One server: `nats-server` with the configuration and certificate mounted."""
    return {
        "name": "nats",
        "image": image,
        "command": ["nats-server", "--config", f"{CONFIG_DIR}/nats.conf"],
        "ports": [
            {"name": "client", "containerPort": CLIENT_PORT, "protocol": "TCP"},
            {"name": "cluster", "containerPort": CLUSTER_PORT, "protocol": "TCP"},
            {"name": "monitor", "containerPort": MONITOR_PORT, "protocol": "TCP"},
        ],
        "resources": resources("100m", "64Mi", "1", "512Mi"),
        "securityContext": locked_down(),
        "volumeMounts": [mount("config", CONFIG_DIR), mount("tls", TLS_DIR)],
    }


def nats_spec(container: Manifest) -> Manifest:
    """A server's pod spec: `container` as the NATS user, its configuration and certificate."""
    return pod_spec(
        NATS_USER,
        files_group=True,
        containers=[container],
        volumes=[config_volume("config", CONFIG), secret_volume("tls", TLS_SECRET)],
    )


def _stateful_set(place: Place, image: str) -> Manifest:
    health = {"httpGet": {"path": "/healthz", "port": MONITOR_PORT}}
    container = nats_container(image) | {
        "readinessProbe": health,
        "livenessProbe": health | {"initialDelaySeconds": 10},
    }
    pod: Manifest = {
        "metadata": {"labels": place.labels(COMPONENT)},
        "spec": nats_spec(container),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": place.metadata(COMPONENT, COMPONENT),
        "spec": {
            "serviceName": CLUSTER_SERVICE,
            "replicas": REPLICAS,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": place.selector(COMPONENT)},
            "template": pod,
        },
    }
