"""For the tests that play `--podman` manifests (`secmas.deploy.kubeplay`).

A deployment's pod, volume and secret names are the manifests' own and its ports fixed,
so this machine runs one at a time: `one_deployment()` takes turns across test processes
(a lock file). `leftovers` lists whatever of a deployment podman still holds, which every
such test asserts is nothing once it took the deployment down.

Use: `with one_deployment(): …` in a test that takes the `agent_image` fixture
(`tests.containers`).
"""

from __future__ import annotations

import fcntl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from secmas.deploy.kubeplay import PodDeployment
from secmas.deploy.podman import podman

LOCK = Path(tempfile.gettempdir()) / "secmas-kube-play.lock"


@contextmanager
def one_deployment() -> Iterator[None]:
    """This test's turn to deploy on this machine."""
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def leftovers(deployment: PodDeployment) -> dict[str, list[str]]:
    """What podman still holds of `deployment`, by kind (empty lists when nothing)."""

    def listed(*what: str) -> set[str]:
        return set(
            podman([*what, "--format", "{{.Names}}" if what[0] == "ps" else "{{.Name}}"]).split()
        )

    containers = listed("ps", "--all")
    pods = [p["metadata"]["name"] for p in deployment.pods()]
    return {
        "pods": sorted(set(pods) & listed("pod", "ps")),
        "containers": sorted(c for c in containers if any(c.startswith(f"{p}-") for p in pods)),
        "secrets": sorted(set(deployment.secrets()) & listed("secret", "ls")),
        "volumes": sorted(set(deployment.volumes()) & listed("volume", "ls")),
        "networks": sorted({deployment.network} & listed("network", "ls")),
    }
