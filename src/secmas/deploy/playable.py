"""The manifests for `podman kube play` on this machine (`secmas deploy kubernetes --podman`).

The same agent pods, Secrets and ConfigMaps as for a cluster, changed only where podman
4.3 (Debian 12's, the one `scripts/setup --test` installs) runs Kubernetes objects
differently:

* **no StatefulSet, Service, Namespace or NetworkPolicy**: NATS is one Pod `nats` (one
  server, no routes; this machine's nats-server unless `--nats-image` names an image that
  holds one) and the development ledger one Pod `ledger`. The pods share a
  podman network named as the namespace (`secmas.deploy.kubeplay`), whose DNS
  (aardvark-dns) answers pod names, not Service names: the agents dial `tls://nats:4222`
  (a name the bus certificate holds) and `http://ledger:8545`. The MLFO runs on the
  host, which resolves neither: both pods publish their port on 127.0.0.1 only
  (`hostPort`), nothing beyond this machine reaches them, and the certificate also
  names 127.0.0.1. The pods keep their own network namespaces (no `hostNetwork`).
* **native sidecars run to completion**: podman starts an init container with
  `restartPolicy: Always` and waits for it to exit, so the measurer, which never does,
  is an ordinary container of the pod (still in the agent's process namespace).
* **a Secret's `data` is mounted still base64-encoded** and `stringData` is dropped
  (containers/podman#16625, fixed in 4.4). Every Secret therefore carries a marker key,
  `.encoding` = "plain", and an init container (`unpack`, from the agent image) copies
  each Secret volume into a pod-private volume, decoding its files when the marker reads
  back encoded; the containers mount those copies where they mounted the Secret. The
  same manifests thus run on podman 4.4 and later, which decode. A Secret volume also
  says `optional: false` (4.3 dereferences the field unchecked).
* **an `emptyDir` is a named volume** on disk (`medium: Memory` is not honoured), shared by
  every pod that names it alike: each is renamed `<pod>-<name>` (a Secret's copy
  `<pod>-<name>-files`) so that no two agents share their credentials folder. Secret and
  ConfigMap volumes are named volumes too, named as the object, which `podman kube down`
  leaves behind (`secmas.deploy.kubeplay` removes them).
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path

from secmas.deploy import ledger, nats
from secmas.deploy.material import BusMaterial
from secmas.deploy.naming import DeployInputError
from secmas.deploy.objects import SECRET_MOUNTS, Manifest, Place, locked_down, mount
from secmas.deploy.objects import memory_volume as memory
from secmas.transport.broker import MISSING_BINARY, find_nats_server

HOST = "127.0.0.1"
"""Where the host (the MLFO) reaches the published ports."""
BUS_URL = f"tls://{nats.CLIENT_SERVICE}:{nats.CLIENT_PORT}"
LEDGER_URL = f"http://{ledger.NODE}:{ledger.PORT}"
HOST_BUS_URL = f"tls://{HOST}:{nats.CLIENT_PORT}"
HOST_LEDGER_URL = f"http://{HOST}:{ledger.PORT}"
NATS_BINARY = "/usr/local/sbin/nats-server"
"""Where the NATS pod finds this machine's server in the agents' image."""
ENCODING = ".encoding"
PLAIN = b"plain"
PACKED = f"{SECRET_MOUNTS}-packed"
"""Where `unpack` reads the Secret volumes (each under its volume name)."""
UNPACK = """set -eu
umask 0277
while [ $# -gt 0 ]; do
  encoding=$(cat "$1/.encoding")
  for file in "$1"/*; do
    if [ "$encoding" = plain ]; then cat "$file"; else base64 -d "$file"; fi > "$2/${file##*/}"
  done
  shift 2
done"""
"""The `unpack` container's script: its arguments are pairs of Secret and copy folders."""


def certificate_hosts() -> list[str]:
    """What the NATS server's certificate names: the pod (for the agents) and the host's
    published address (for the MLFO)."""
    return [nats.CLIENT_SERVICE, HOST]


def marked(secret: Manifest) -> Manifest:
    """`secret` with the marker that tells `unpack` how podman mounted it."""
    data = {**secret["data"], ENCODING: base64.b64encode(PLAIN).decode("ascii")}
    return secret | {"data": data}


def playable(pod: Manifest, image: str) -> Manifest:
    """`pod` as podman 4.3 runs it (module docstring); `image` holds `sh` and `base64`."""
    pod = copy.deepcopy(pod)
    spec = pod["spec"]
    name = pod["metadata"]["name"]
    inits = spec.pop("initContainers", [])
    sidecars = [c for c in inits if c.pop("restartPolicy", None) == "Always"]
    inits = [c for c in inits if c not in sidecars]
    spec["containers"] = sidecars + spec["containers"]
    everyone = inits + spec["containers"]
    renamed = {v["name"]: f"{name}-{v['name']}" for v in spec["volumes"] if "emptyDir" in v}
    volumes, pairs, mounts = [], [], []
    for volume in spec["volumes"]:
        if "secret" not in volume:
            volumes.append(volume | {"name": renamed.get(volume["name"], volume["name"])})
            continue
        secret_name = volume["name"]
        unpacked = renamed[secret_name] = f"{name}-{secret_name}-files"
        volumes += [
            volume | {"secret": volume["secret"] | {"optional": False}},
            memory(unpacked),
        ]
        pairs += [f"{PACKED}/{secret_name}", f"/run/{secret_name}"]
        mounts += [
            mount(secret_name, f"{PACKED}/{secret_name}"),
            mount(unpacked, f"/run/{secret_name}", read_only=False),
        ]
    for container in everyone:
        container["volumeMounts"] = [
            m | {"name": renamed.get(m["name"], m["name"])} for m in container["volumeMounts"]
        ]
    if pairs:
        inits.insert(0, _unpack(image, pairs, mounts))
    spec["volumes"] = volumes
    if inits:
        spec["initContainers"] = inits
    return pod


def _unpack(image: str, pairs: list[str], mounts: list[Manifest]) -> Manifest:
    return {
        "name": "unpack",
        "image": image,
        "command": ["sh", "-c", UNPACK, "unpack", *pairs],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}},
        "securityContext": locked_down(),
        "volumeMounts": mounts,
    }


def published(container: Manifest, port: int) -> Manifest:
    """`container` with `port` published on the host's loopback address only, and no
    other port declared: podman 4.3 publishes every declared `containerPort` on 0.0.0.0,
    `hostPort` or not (4.7 stopped, keeping the old way behind `--publish-all`). Pods on
    the podman network reach each other's ports undeclared."""
    ports = [
        p | {"hostPort": port, "hostIP": HOST}
        for p in container["ports"]
        if p["containerPort"] == port
    ]
    return container | {"ports": ports}


def _server(meta: Manifest, spec: Manifest) -> Manifest:
    """A server's Pod, restarted only when it fails: podman 4.3 applies a pod's
    `restartPolicy` to its init containers too, and would rerun `unpack` forever."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": spec | {"restartPolicy": "OnFailure"},
    }


def nats_objects(
    place: Place, bus: BusMaterial, image: str | None, agents_image: str
) -> list[Manifest]:
    """One NATS server as the Pod `nats`, its configuration and certificate. `image`
    None: no NATS image can be pulled here and the agents' image holds no server, so the
    pod runs this machine's `nats-server` (Debian's, linked to libc alone) mounted
    read-only into the agents' image; DeployInputError when there is none. `unpack` runs
    from the agents' image, since a NATS image need hold no shell."""
    config = nats.server_settings(bus, None)
    container = published(nats.nats_container(image or agents_image), nats.CLIENT_PORT)
    spec = nats.nats_spec(container)
    if image is None:
        spec = _host_server(spec)
    pod = _server(place.metadata(nats.COMPONENT, nats.COMPONENT), spec)
    return [*nats.config_objects(place, config, bus), playable(pod, agents_image)]


def _host_server(spec: Manifest) -> Manifest:
    binary = find_nats_server()
    if binary is None:
        raise DeployInputError(f"--podman: {MISSING_BINARY}, or give --nats-image")
    (container,) = spec["containers"]
    command = [NATS_BINARY, *container["command"][1:]]
    mounts = [*container["volumeMounts"], mount("nats-server", NATS_BINARY)]
    server = {"path": str(Path(binary).resolve()), "type": "File"}
    return spec | {
        "containers": [container | {"command": command, "volumeMounts": mounts}],
        "volumes": [*spec["volumes"], {"name": "nats-server", "hostPath": server}],
    }


def ledger_objects(place: Place, target: ledger.LedgerTarget, image: str) -> list[Manifest]:
    """The development node as the Pod `ledger` with its Secrets, or the external node's CA
    Secret."""
    if not target.node:
        return ledger.ledger_objects(place, target, image)
    container = published(ledger.node_container(image), ledger.PORT)
    spec = ledger.node_spec(container, image)
    pod = playable(_server(place.metadata(ledger.NODE, ledger.COMPONENT), spec), image)
    return [*ledger.access_secrets(place), pod]
