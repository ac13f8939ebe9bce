"""Looking into the objects of a manifest bundle, for the tests of the Kubernetes
manifests (`test_kubernetes.py`) and of those `podman kube play` runs (`test_playable.py`):
the objects of a kind, one by kind and name, a pod's containers by name."""

from __future__ import annotations

from typing import Any

Objects = list[dict[str, Any]]


def of_kind(objects: Objects, kind: str) -> Objects:
    return [o for o in objects if o["kind"] == kind]


def named(objects: Objects, kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    return found


def containers(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Init containers (the native sidecars among them) and containers, by name."""
    spec = pod["spec"]
    return {c["name"]: c for c in [*spec.get("initContainers", []), *spec["containers"]]}
