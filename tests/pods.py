"""For the tests that play `--podman` manifests (`secmas.deploy.kubeplay`).

A deployment's pod, volume and secret names are the manifests' own and its ports fixed,
so this machine runs one at a time: `one_deployment()` takes turns across test processes
(a lock file). `leftovers` lists whatever of a deployment podman still holds, which every
such test asserts is nothing once it took the deployment down.

Use: `with one_deployment(): …` in a test that takes the `agent_image` fixture
(`tests.containers`). `beyond_loopback` lists which of a deployment's server ports listen
on another address than 127.0.0.1 (podman's conmon holds each published port open on the
host).
"""

from __future__ import annotations

import fcntl
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from secmas.deploy import ledger, nats
from secmas.deploy.kubeplay import PodDeployment
from secmas.deploy.podman import podman

SERVER_PORTS = {nats.CLIENT_PORT, nats.CLUSTER_PORT, nats.MONITOR_PORT, ledger.PORT}

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


def beyond_loopback() -> list[str]:
    """`address:port` of each socket listening on a server port (`SERVER_PORTS`) of this
    host on an address other than 127.0.0.1."""
    lines = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout
    sockets = [line.split()[3] for line in lines.splitlines() if line.strip()]
    return sorted(
        s
        for s in sockets
        if int(s.rpartition(":")[2]) in SERVER_PORTS and s.rpartition(":")[0] != "127.0.0.1"
    )
