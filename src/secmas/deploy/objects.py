"""Small builders of Kubernetes objects as plain dicts (what `kubectl` reads as YAML).

The labels follow Kubernetes' recommended `app.kubernetes.io/*` keys; `secmas.io/pipeline`
and `secmas.io/pop` say which pipeline and PoP an object belongs to, and the
NetworkPolicies select pods by `app.kubernetes.io/component` within the namespace.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Manifest = dict[str, Any]
"""One Kubernetes object."""

APP = "secmas"
COMPONENT = "app.kubernetes.io/component"
PIPELINE = "secmas.io/pipeline"
POP = "secmas.io/pop"
POP_ID = "secmas.io/pop-id"
"""Annotation: the PoP's id as the scenario writes it (the label holds its DNS form)."""
SECRET_MODE = 0o400
"""Files of a mounted Secret: readable by the owner (and, with fsGroup, its group)."""
SECRET_MOUNTS = "/var/run/secrets/secmas"


@dataclass(frozen=True)
class Place:
    """Where the objects go: the namespace, the pipeline (label value) and the version."""

    namespace: str
    pipeline: str
    version: str

    def labels(self, component: str, **extra: str) -> dict[str, str]:
        """The labels of an object of `component` (agent, nats, ledger, …)."""
        return {
            "app.kubernetes.io/name": APP,
            "app.kubernetes.io/part-of": APP,
            "app.kubernetes.io/version": self.version,
            COMPONENT: component,
            PIPELINE: self.pipeline,
            **extra,
        }

    def selector(self, component: str) -> dict[str, str]:
        """What selects the pods of `component` of this pipeline."""
        return {COMPONENT: component, PIPELINE: self.pipeline}

    def metadata(
        self, name: str, component: str, annotations: Mapping[str, str] | None = None, **extra: str
    ) -> Manifest:
        meta: Manifest = {
            "name": name,
            "namespace": self.namespace,
            "labels": self.labels(component, **extra),
        }
        if annotations:
            meta["annotations"] = dict(annotations)
        return meta


def secret(meta: Manifest, files: Mapping[str, bytes], kind: str = "Opaque") -> Manifest:
    """A Secret holding `files` (base64, as the API stores them)."""
    data = {name: base64.b64encode(value).decode("ascii") for name, value in files.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": kind, "data": data}


def config_map(meta: Manifest, data: Mapping[str, str]) -> Manifest:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": dict(data)}


def secret_volume(name: str, secret_name: str) -> Manifest:
    """A Secret mounted as owner-only files (never environment variables)."""
    return {"name": name, "secret": {"secretName": secret_name, "defaultMode": SECRET_MODE}}


def config_volume(name: str, config_name: str) -> Manifest:
    return {"name": name, "configMap": {"name": config_name}}


def memory_volume(name: str, size: str = "1Mi") -> Manifest:
    """An in-memory scratch folder (tmpfs): what is written there never reaches a disk."""
    return {"name": name, "emptyDir": {"medium": "Memory", "sizeLimit": size}}


def mount(name: str, path: str, read_only: bool = True) -> Manifest:
    return {"name": name, "mountPath": path, "readOnly": read_only}


def copier(image: str, copies: list[tuple[str, str]], mounts: list[Manifest]) -> Manifest:
    """An init container that copies each (Secret file, private copy) pair, the copy
    readable by the pod's user alone: a mounted Secret is read-only and, with `fsGroup`,
    group-readable, and a private key or token open to the group is refused."""
    return {
        "name": "credentials",
        "image": image,
        "command": ["sh", "-c", " && ".join(f"install -m 0400 {a} {b}" for a, b in copies)],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}},
        "securityContext": locked_down(),
        "volumeMounts": mounts,
    }


def locked_down(**extra: Any) -> Manifest:
    """A container's security context: no privilege escalation, a read-only root file
    system, every capability dropped (`extra` overrides, e.g. for the measurer)."""
    context: Manifest = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    return context | extra


def pod_spec(user: int, *, files_group: bool = False, **fields: Any) -> Manifest:
    """A pod's spec that runs as `user` (never root) under the runtime's seccomp profile,
    with no service-account token and no service links; `files_group`: mounted volumes
    are owned by the user's group. `fields` are the rest of the spec (containers,
    volumes, …)."""
    context: Manifest = {"runAsNonRoot": True, "runAsUser": user, "runAsGroup": user}
    if files_group:
        context["fsGroup"] = user
    context["seccompProfile"] = {"type": "RuntimeDefault"}
    return {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": context,
        **fields,
    }


def resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> Manifest:
    return {
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"cpu": cpu_limit, "memory": memory_limit},
    }


def service(
    meta: Manifest, selector: Mapping[str, str], ports: Mapping[str, int], headless: bool = False
) -> Manifest:
    """A Service on TCP `ports` (by name) of the selected pods; `headless`: DNS names per
    pod (a StatefulSet's), published before the pods are ready so a cluster can form."""
    spec: Manifest = {
        "selector": dict(selector),
        "ports": [
            {"name": name, "port": port, "targetPort": port, "protocol": "TCP"}
            for name, port in ports.items()
        ],
    }
    if headless:
        spec |= {"clusterIP": "None", "publishNotReadyAddresses": True}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}
